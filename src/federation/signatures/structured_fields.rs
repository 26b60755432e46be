//! The part of RFC 8941 Structured Field Values that RFC 9421 (`Signature-Input`, `Signature`) and
//! RFC 9530 (`Content-Digest`) headers use: dictionaries whose members are items or inner lists,
//! with parameters. Inner lists keep their raw text, which RFC 9421's `@signature-params` line
//! repeats.
//!
//! The parser is linear in its input and bounded whatever it is fed: one pass over the bytes, a
//! hash lookup per key, and [`Limits`] on dictionary members, parameters and inner-list items
//! (checked before each is parsed). A key given twice in a dictionary or in one parameter list is
//! refused, although RFC 8941 §4.2.2 and §4.2.3.2 let the last one win: no signer serializes a
//! key twice, and a verifier that picks another occurrence than a proxy or a second verifier would
//! (first or last `sig1`, first or last `keyid`) is how signature confusion starts. Refusing also
//! means there is nothing to replace, so a duplicate costs no more than any other key.
//!
//! It does not own what the members mean (the RFC 9421 module reads them), lists at the top level,
//! or serializing. The length of the whole field is bounded by the caller, before parsing.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use base64::Engine as _;

use super::{is_tchar, LENIENT_BASE64, MAX_COVERED};

/// How much one field may hold. Signatures use [`Limits::SIGNATURES`]; tests may raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// Members of the dictionary (signature labels, digest algorithms).
    pub members: usize,
    /// Parameters after one item or inner list (`keyid`, `created`, `expires`, `alg`, `nonce`,
    /// `tag` are all RFC 9421 defines).
    pub params: usize,
    /// Items of one inner list (the covered components of one signature).
    pub items: usize,
}

impl Limits {
    /// Mastodon and Fedify send one signature of at most a dozen components with four parameters;
    /// these leave ample room for any honest sender.
    pub const SIGNATURES: Self = Self {
        members: 16,
        params: 16,
        items: MAX_COVERED,
    };
}

/// Why a field was refused: its syntax, or one of the [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SfError {
    Syntax(String),
    TooMany { what: &'static str, max: usize },
}

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

/// Keys in the order received, each given once, with a hash index for lookups.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Keyed<V> {
    entries: Vec<(String, V)>,
    index: HashMap<String, usize>,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<V> Keyed<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

pub(super) type Params = Keyed<BareItem>;
pub(super) type Dictionary = Keyed<Member>;

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

/// RFC 8941 §4.2.2 under [`Limits::SIGNATURES`].
pub(super) fn parse_dictionary(input: &str) -> Result<Dictionary, SfError> {
    parse_dictionary_with(input, Limits::SIGNATURES)
}

/// RFC 8941 §4.2.2, refusing a repeated key (see the module doc) and anything past `limits`.
pub(super) fn parse_dictionary_with(input: &str, limits: Limits) -> Result<Dictionary, SfError> {
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
        limits,
    };
    let mut members = Dictionary::default();
    p.skip_spaces();
    if p.at_end() {
        return Ok(members);
    }
    loop {
        if members.len() == limits.members {
            return Err(SfError::TooMany {
                what: "dictionary members",
                max: limits.members,
            });
        }
        let key = p.key()?;
        let member = if p.eat(b'=') {
            p.member()?
        } else {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: p.params()?,
            })
        };
        p.put(&mut members, key, member)?;
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
    limits: Limits,
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

    fn error(&self, what: &str) -> SfError {
        SfError::Syntax(format!("{what} at byte {}", self.pos))
    }

    /// Adds `key` to `map`, refusing a key given twice (see the module doc).
    fn put<V>(&self, map: &mut Keyed<V>, key: String, value: V) -> Result<(), SfError> {
        let next = map.entries.len();
        match map.index.entry(key) {
            Entry::Occupied(taken) => Err(self.error(&format!("`{}` is given twice", taken.key()))),
            Entry::Vacant(free) => {
                map.entries.push((free.key().clone(), value));
                free.insert(next);
                Ok(())
            }
        }
    }

    fn text(&self, start: usize) -> String {
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
    }

    fn key(&mut self) -> Result<String, SfError> {
        if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
            return Err(self.error("expected a key (a lowercase letter or *)"));
        }
        let start = self.pos;
        self.take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c));
        Ok(self.text(start))
    }

    fn member(&mut self) -> Result<Member, SfError> {
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
            if items.len() == self.limits.items {
                return Err(SfError::TooMany {
                    what: "inner list items",
                    max: self.limits.items,
                });
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

    fn item(&mut self) -> Result<Item, SfError> {
        let bare = self.bare_item()?;
        let params = self.params()?;
        Ok(Item { bare, params })
    }

    fn params(&mut self) -> Result<Params, SfError> {
        let mut params = Params::default();
        while self.eat(b';') {
            if params.len() == self.limits.params {
                return Err(SfError::TooMany {
                    what: "parameters",
                    max: self.limits.params,
                });
            }
            self.skip_spaces();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            self.put(&mut params, key, value)?;
        }
        Ok(params)
    }

    fn bare_item(&mut self) -> Result<BareItem, SfError> {
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

    fn number(&mut self) -> Result<BareItem, SfError> {
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

    fn string(&mut self) -> Result<BareItem, SfError> {
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

    fn bytes(&mut self) -> Result<BareItem, SfError> {
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

    fn boolean(&mut self) -> Result<BareItem, SfError> {
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

    /// `n` members `k0=(\"a\");p=1, k1=...`.
    fn dictionary_of(n: usize) -> String {
        (0..n)
            .map(|i| format!("k{i}=(\"a\");p=1"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn syntax_error(input: &str) -> String {
        match parse_dictionary(input) {
            Err(SfError::Syntax(why)) => why,
            other => panic!("{input:?} should be refused as malformed, got {other:?}"),
        }
    }

    #[test]
    fn can_parse_structured_field_dictionaries() {
        let members = parse_dictionary(
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\",  sig2=:AAEC:;x, ok",
        )
        .unwrap();
        assert_eq!(members.keys().collect::<Vec<_>>(), ["sig1", "sig2", "ok"]);
        let Some(Member::InnerList { items, params, raw }) = members.get("sig1") else {
            panic!("sig1 should be an inner list");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(
            raw,
            "(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\""
        );
        assert_eq!(
            params.iter().next(),
            Some(("created", &BareItem::Integer(1_767_225_600)))
        );
        assert_eq!(params.get("keyid"), Some(&BareItem::String("a".to_owned())));
        let Some(Member::Item(sig2)) = members.get("sig2") else {
            panic!("sig2 should be an item");
        };
        assert_eq!(sig2.bare, BareItem::Bytes(vec![0, 1, 2]));
        assert_eq!(sig2.params.get("x"), Some(&BareItem::Boolean(true)));
        assert!(members.get("sig3").is_none());
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

    #[test]
    fn rejects_a_key_given_twice_where_rfc_8941_would_keep_the_last() {
        assert_eq!(
            syntax_error("a=1, b=2, a=3"),
            "`a` is given twice at byte 13"
        );
        assert_eq!(
            syntax_error("sig1=(\"@method\");keyid=\"a\";keyid=\"b\""),
            "`keyid` is given twice at byte 36"
        );
        assert_eq!(
            syntax_error("sha-256=:AAEC:, sha-256=:AAED:"),
            "`sha-256` is given twice at byte 30"
        );
    }

    #[test]
    fn rejects_more_members_params_or_items_than_the_limits() {
        let members = Limits::SIGNATURES.members;
        assert_eq!(
            parse_dictionary(&dictionary_of(members)).unwrap().len(),
            members
        );
        assert_eq!(
            parse_dictionary(&dictionary_of(members + 1)),
            Err(SfError::TooMany {
                what: "dictionary members",
                max: members
            })
        );
        // The 400 KB, 60,000-member Signature-Input that once took 6.6 s of CPU is refused at
        // the 17th member, whatever comes after.
        assert_eq!(
            parse_dictionary(&dictionary_of(60_000)),
            Err(SfError::TooMany {
                what: "dictionary members",
                max: members
            })
        );

        let params: String = (0..=Limits::SIGNATURES.params)
            .map(|i| format!(";p{i}=1"))
            .collect();
        assert_eq!(
            parse_dictionary(&format!("sig1=(){params}")),
            Err(SfError::TooMany {
                what: "parameters",
                max: Limits::SIGNATURES.params
            })
        );

        let items = vec!["\"x\""; MAX_COVERED + 1].join(" ");
        assert_eq!(
            parse_dictionary(&format!("sig1=({items})")),
            Err(SfError::TooMany {
                what: "inner list items",
                max: MAX_COVERED
            })
        );
    }

    #[test]
    fn can_parse_a_large_dictionary_under_raised_limits_with_one_lookup_per_key() {
        // Linear: each key is one hash insert, and a lookup finds any member without a scan. The
        // parse must not be the quadratic one that took seconds on 60,000 members; no timing is
        // asserted, the structure is (see `Keyed`).
        let limits = Limits {
            members: 10_000,
            ..Limits::SIGNATURES
        };
        let members = parse_dictionary_with(&dictionary_of(10_000), limits).unwrap();
        assert_eq!(members.len(), 10_000);
        assert_eq!(members.index.len(), 10_000);
        assert!(matches!(
            members.get("k9999"),
            Some(Member::InnerList { items, .. }) if items.len() == 1
        ));
        assert_eq!(
            parse_dictionary_with(&dictionary_of(10_001), limits),
            Err(SfError::TooMany {
                what: "dictionary members",
                max: 10_000
            })
        );
    }
}
