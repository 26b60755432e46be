//! The part of RFC 8941 Structured Field Values that RFC 9421 (`Signature-Input`, `Signature`) and
//! RFC 9530 (`Content-Digest`) headers use: dictionaries whose members are items or inner lists,
//! with parameters. Inner lists keep their raw text, which RFC 9421's `@signature-params` line
//! repeats.
//!
//! It does not own what the members mean (the RFC 9421 module reads them), lists at the top level,
//! or serializing.

use base64::Engine as _;

use super::{is_tchar, LENIENT_BASE64};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum BareItem {
    Integer(i64),
    /// Kept as text: nothing we verify uses decimals.
    Decimal(String),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

pub(super) type Params = Vec<(String, BareItem)>;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Item {
    pub bare: BareItem,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Member {
    Item(Item),
    InnerList {
        items: Vec<Item>,
        params: Params,
        /// The inner list and its parameters exactly as received.
        raw: String,
    },
}

/// RFC 8941 §4.2.2. A repeated key replaces the earlier member, as the RFC says.
pub(super) fn parse_dictionary(input: &str) -> Result<Vec<(String, Member)>, String> {
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
    };
    let mut members: Vec<(String, Member)> = Vec::new();
    p.skip_spaces();
    if p.at_end() {
        return Ok(members);
    }
    loop {
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: p.params()?,
            })
        };
        match members.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = member,
            None => members.push((key, member)),
        }
        p.skip_ows();
        if p.at_end() {
            return Ok(members);
        }
        if !p.eat(b',') {
            return Err(p.error("expected `,` between members"));
        }
        p.skip_ows();
        if p.at_end() {
            return Err(p.error("a trailing comma"));
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn text(&self, start: usize) -> String {
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
    }

    fn key(&mut self) -> Result<String, String> {
        if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
            return Err(self.error("expected a key (a lowercase letter or *)"));
        }
        let start = self.pos;
        self.take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c));
        Ok(self.text(start))
    }

    fn member(&mut self) -> Result<Member, String> {
        if self.peek() != Some(b'(') {
            return Ok(Member::Item(self.item()?));
        }
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                break;
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(self.error("expected a space or `)` in an inner list"));
            }
        }
        let params = self.params()?;
        Ok(Member::InnerList {
            items,
            params,
            raw: self.text(start),
        })
    }

    fn item(&mut self) -> Result<Item, String> {
        let bare = self.bare_item()?;
        let params = self.params()?;
        Ok(Item { bare, params })
    }

    fn params(&mut self) -> Result<Params, String> {
        let mut params: Params = Vec::new();
        while self.eat(b';') {
            self.skip_spaces();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            match params.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => params.push((key, value)),
            }
        }
        Ok(params)
    }

    fn bare_item(&mut self) -> Result<BareItem, String> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => self.boolean(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                let start = self.pos;
                self.take_while(|c| is_tchar(c) || c == b':' || c == b'/');
                Ok(BareItem::Token(self.text(start)))
            }
            _ => Err(self.error("expected an item")),
        }
    }

    fn number(&mut self) -> Result<BareItem, String> {
        let start = self.pos;
        self.eat(b'-');
        let digits_start = self.pos;
        self.take_while(|c| c.is_ascii_digit());
        let whole = self.pos - digits_start;
        if whole == 0 {
            return Err(self.error("expected a digit"));
        }
        if self.eat(b'.') {
            let fraction_start = self.pos;
            self.take_while(|c| c.is_ascii_digit());
            let fraction = self.pos - fraction_start;
            if whole > 12 || !(1..=3).contains(&fraction) {
                return Err(self.error("a decimal out of range"));
            }
            return Ok(BareItem::Decimal(self.text(start)));
        }
        if whole > 15 {
            return Err(self.error("an integer out of range"));
        }
        self.text(start)
            .parse()
            .map(BareItem::Integer)
            .map_err(|_| self.error("an integer out of range"))
    }

    fn string(&mut self) -> Result<BareItem, String> {
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("a string without its closing quote"));
            };
            self.pos += 1;
            match c {
                b'\\' => match self.peek() {
                    Some(escaped @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        value.push(char::from(escaped));
                    }
                    _ => return Err(self.error("a backslash escaping neither \" nor \\")),
                },
                b'"' => return Ok(BareItem::String(value)),
                0x20..=0x7e => value.push(char::from(c)),
                _ => return Err(self.error("a control or non-ASCII character in a string")),
            }
        }
    }

    fn bytes(&mut self) -> Result<BareItem, String> {
        self.pos += 1;
        let start = self.pos;
        self.take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
        let encoded = self.text(start);
        if !self.eat(b':') {
            return Err(self.error("a byte sequence without its closing `:`"));
        }
        LENIENT_BASE64
            .decode(encoded)
            .map(BareItem::Bytes)
            .map_err(|e| self.error(&format!("a byte sequence that is not base64 ({e})")))
    }

    fn boolean(&mut self) -> Result<BareItem, String> {
        self.pos += 1;
        if self.eat(b'1') {
            Ok(BareItem::Boolean(true))
        } else if self.eat(b'0') {
            Ok(BareItem::Boolean(false))
        } else {
            Err(self.error("a boolean that is neither ?1 nor ?0"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_parse_structured_field_dictionaries() {
        let members = parse_dictionary(
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\",  sig2=:AAEC:;x, ok",
        )
        .unwrap();
        assert_eq!(members.len(), 3);
        let Member::InnerList { items, params, raw } = &members[0].1 else {
            panic!("sig1 should be an inner list");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(
            raw,
            "(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\""
        );
        assert_eq!(
            params[0],
            ("created".to_owned(), BareItem::Integer(1_767_225_600))
        );
        let Member::Item(sig2) = &members[1].1 else {
            panic!("sig2 should be an item");
        };
        assert_eq!(sig2.bare, BareItem::Bytes(vec![0, 1, 2]));
        assert_eq!(sig2.params, [("x".to_owned(), BareItem::Boolean(true))]);
        assert_eq!(members[2].0, "ok");
    }

    #[test]
    fn rejects_malformed_structured_fields() {
        for bad in [
            "sig1=(\"@method\"",
            "sig1=:AAEC",
            "Sig1=?1",
            "a=1,",
            "a=\"unterminated",
            "a=(\"x\"\"y\")",
            "a=1234567890123456",
        ] {
            assert!(parse_dictionary(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
