//! Front matter: the `+++` TOML or `---` YAML block at the top of a post.
//!
//! This module owns splitting a Markdown file into front matter and body and reading the keys
//! that Hugo, Zola and Jekyll sites already carry (plus masthead's own) into a [`FrontMatter`].
//! Every problem comes back as one [`Diagnostic`] naming the file and the line in that file
//! (the opening delimiter is line 1). Unknown keys are ignored on purpose: existing sites carry
//! `layout`, `weight`, `categories` and many more that mean nothing to the fediverse.
//!
//! Both formats are first read into one small value model ([`Val`]) so that each key is checked
//! once, with one set of messages, whichever format the author chose. Keys match
//! case-insensitively because Hugo does (`lastMod`, `Title`).

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use url::Url;

use super::Visibility;
use crate::config::ObjectTypePolicy;
use crate::diagnostics::{line_of, Diagnostic};

/// Appended to every error that keeps a post from being published.
pub const NOT_PUBLISHED: &str = "this post is not published until it is fixed";

/// The keys masthead reads from a post's front matter.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontMatter {
    pub title: Option<String>,
    pub date: Option<PostDate>,
    /// `updated`, else `lastmod`.
    pub updated: Option<PostDate>,
    /// `draft`, or Jekyll's `published = false`.
    pub draft: bool,
    /// `slug`, as written (the scan normalizes it).
    pub slug: Option<String>,
    /// `tags`, then Zola's `[taxonomies] tags`, as written.
    pub tags: Vec<String>,
    /// `summary`, else `description`.
    pub summary: Option<String>,
    pub lang: Option<String>,
    pub aliases: Vec<String>,
    pub content_warning: Option<String>,
    pub sensitive: bool,
    /// `visibility`: public, unlisted or followers.
    pub visibility: Visibility,
    pub pinned: bool,
    /// `object_type`: note, article or auto.
    pub object_type: Option<ObjectTypePolicy>,
    /// `federate`, true unless set to false.
    pub federate: bool,
    /// `in_reply_to`: an http(s) URL.
    pub in_reply_to: Option<String>,
    /// `url`: an absolute http(s) URL or a path on the brand's site.
    pub url: Option<String>,
}

impl Default for FrontMatter {
    fn default() -> Self {
        FrontMatter {
            title: None,
            date: None,
            updated: None,
            draft: false,
            slug: None,
            tags: Vec::new(),
            summary: None,
            lang: None,
            aliases: Vec::new(),
            content_warning: None,
            sensitive: false,
            visibility: Visibility::Public,
            pinned: false,
            object_type: None,
            federate: true,
            in_reply_to: None,
            url: None,
        }
    }
}

/// A date as front matter writes it; what instant it is depends on the site's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostDate {
    /// With an offset or `Z` (`2026-11-20T09:00:00Z`, `2026-11-20 09:00:00 +0100`).
    At(DateTime<Utc>),
    /// A time without an offset (`2026-11-20T09:00:00`): in the site's time zone, as Hugo reads it.
    Local(NaiveDateTime),
    /// A day without a time (`2026-11-20`, Hugo's `date = 2026-11-20`).
    Day(NaiveDate),
}

impl PostDate {
    /// The instant this date names in `tz`: a local time there, or the start of the day there.
    pub fn resolve(self, tz: Tz) -> DateTime<Utc> {
        match self {
            PostDate::At(t) => t,
            PostDate::Local(t) => local(tz, t),
            PostDate::Day(d) => local(tz, d.and_time(chrono::NaiveTime::MIN)),
        }
    }

    /// For a day without a time, when that day ends in `tz` (the next day's start).
    pub fn day_end(self, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            PostDate::Day(d) => d.succ_opt().map(|next| PostDate::Day(next).resolve(tz)),
            _ => None,
        }
    }
}

/// The instant of local time `t` in `tz`. A time that occurs twice (clocks set back) is the
/// first; one that never occurs (clocks set forward) is read an hour later, as the wall clock
/// would show it.
fn local(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&t)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(t + TimeDelta::hours(1)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| t.and_utc())
}

/// A Markdown file split into its front matter and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Document<'a> {
    /// The keys read from the front matter.
    pub front: FrontMatter,
    /// The Markdown after the closing delimiter.
    pub body: &'a str,
    /// 1-based line of the file on which `body` starts (for diagnostics inside the body).
    pub body_line: usize,
}

/// Which syntax the front matter is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Toml,
    Yaml,
}

impl Format {
    fn delimiter(self) -> &'static str {
        match self {
            Format::Toml => "+++",
            Format::Yaml => "---",
        }
    }
}

/// Splits `text` (the contents of `file`, a path relative to the site root) into front matter
/// and body, and reads the front matter.
pub fn parse<'a>(file: &Path, text: &'a str) -> Result<Document<'a>, Diagnostic> {
    let error = |line: usize, msg: String| Diagnostic::error(file, Some(line), msg);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = LineIter { text, pos: 0 };
    let format = match lines.next().map(|(_, l)| l.trim_end()) {
        Some("+++") => Format::Toml,
        Some("---") => Format::Yaml,
        _ => {
            return Err(error(
                1,
                format!(
                    "no front matter: a post starts with +++ (TOML) or --- (YAML) on its first line; {NOT_PUBLISHED}"
                ),
            ))
        }
    };
    let inner_start = lines.pos;
    let mut closing = None;
    let mut line_no = 1;
    for (start, line) in lines.by_ref() {
        line_no += 1;
        let line = line.trim_end();
        // YAML also allows `...` to end a document; Jekyll accepts it.
        if line == format.delimiter() || (format == Format::Yaml && line == "...") {
            closing = Some(start);
            break;
        }
    }
    let Some(inner_end) = closing else {
        let d = format.delimiter();
        return Err(error(
            1,
            format!(
                "front matter opened with {d} is never closed (end it with a line holding only {d}); {NOT_PUBLISHED}"
            ),
        ));
    };
    let inner = &text[inner_start..inner_end];
    let body = &text[lines.pos..];
    let table = match format {
        Format::Toml => read_toml(inner),
        Format::Yaml => read_yaml(inner),
    }
    .map_err(|(line, msg)| error(line, format!("front matter: {msg}; {NOT_PUBLISHED}")))?;
    let front = Reader { table, inner }
        .front_matter()
        .map_err(|(line, msg)| error(line, format!("front matter: {msg}; {NOT_PUBLISHED}")))?;
    Ok(Document {
        front,
        body,
        body_line: line_no + 1,
    })
}

/// Lines of a text with the byte offset where each starts; the offset after the last line read
/// is kept in `pos`.
struct LineIter<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.text[start..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        Some((start, line))
    }
}

/// One front matter value, whichever format it came from.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A TOML datetime, in its RFC 3339 spelling.
    Date(String),
    List(Vec<Val>),
    Map(Vec<(String, Val)>),
}

impl Val {
    /// How the value reads in a message: strings quoted, containers named.
    fn describe(&self) -> String {
        match self {
            Val::Null => "nothing".into(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => f.to_string(),
            Val::Str(s) | Val::Date(s) => format!("{s:?}"),
            Val::List(_) => "a list".into(),
            Val::Map(_) => "a table".into(),
        }
    }
}

/// A syntax problem: 1-based line in the file and the parser's message.
type SyntaxError = (usize, String);

fn read_toml(inner: &str) -> Result<Vec<(String, Val)>, SyntaxError> {
    let table: toml::Table = toml::from_str(inner).map_err(|e| {
        // The first line of `inner` is line 2 of the file (line 1 holds `+++`).
        let line = e.span().map(|s| line_of(inner, s.start) + 1).unwrap_or(1);
        (line, e.message().trim().to_string())
    })?;
    Ok(table.into_iter().map(|(k, v)| (k, from_toml(v))).collect())
}

fn from_toml(v: toml::Value) -> Val {
    match v {
        toml::Value::String(s) => Val::Str(s),
        toml::Value::Integer(i) => Val::Int(i),
        toml::Value::Float(f) => Val::Float(f),
        toml::Value::Boolean(b) => Val::Bool(b),
        toml::Value::Datetime(d) => Val::Date(d.to_string()),
        toml::Value::Array(a) => Val::List(a.into_iter().map(from_toml).collect()),
        toml::Value::Table(t) => Val::Map(t.into_iter().map(|(k, v)| (k, from_toml(v))).collect()),
    }
}

fn read_yaml(inner: &str) -> Result<Vec<(String, Val)>, SyntaxError> {
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(inner).map_err(|e| {
        let line = e.location().map(|l| l.line() + 1).unwrap_or(1);
        (line, strip_yaml_positions(&e.to_string()))
    })?;
    match from_yaml(value) {
        Val::Map(m) => Ok(m),
        Val::Null => Ok(Vec::new()),
        other => Err((
            2,
            format!("expected `key: value` lines, got {}", other.describe()),
        )),
    }
}

fn from_yaml(v: serde_yaml_ng::Value) -> Val {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Val::Null,
        Y::Bool(b) => Val::Bool(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Val::Int(i),
            None => n.as_f64().map(Val::Float).unwrap_or(Val::Null),
        },
        Y::String(s) => Val::Str(s),
        Y::Sequence(s) => Val::List(s.into_iter().map(from_yaml).collect()),
        Y::Mapping(m) => Val::Map(
            m.into_iter()
                .filter_map(|(k, v)| {
                    let key = match from_yaml(k) {
                        Val::Str(s) => s,
                        Val::Bool(b) => b.to_string(),
                        Val::Int(i) => i.to_string(),
                        Val::Float(f) => f.to_string(),
                        _ => return None,
                    };
                    Some((key, from_yaml(v)))
                })
                .collect(),
        ),
        Y::Tagged(t) => from_yaml(t.value),
    }
}

/// libyaml's messages carry `at line N column M` counted from the front matter, not the file;
/// the diagnostic already names the file's line, so those positions are dropped.
fn strip_yaml_positions(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" at ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        match position_len(after) {
            Some(n) => rest = &after[n..],
            None => {
                out.push_str(" at ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// Length of a leading `line N column M` or `position N`, if `s` starts with one.
fn position_len(s: &str) -> Option<usize> {
    fn digits(s: &str) -> usize {
        s.bytes().take_while(u8::is_ascii_digit).count()
    }
    if let Some(r) = s.strip_prefix("line ") {
        let n = digits(r);
        let r2 = r[n..].strip_prefix(" column ")?;
        let m = digits(r2);
        (n > 0 && m > 0).then(|| "line ".len() + n + " column ".len() + m)
    } else if let Some(r) = s.strip_prefix("position ") {
        let n = digits(r);
        (n > 0).then(|| "position ".len() + n)
    } else {
        None
    }
}

/// A semantic problem: 1-based line in the file and what is wrong.
type KeyError = (usize, String);

/// Reads typed keys out of a parsed front matter table.
struct Reader<'a> {
    table: Vec<(String, Val)>,
    /// The front matter text, to find the line of a key.
    inner: &'a str,
}

impl Reader<'_> {
    fn front_matter(&self) -> Result<FrontMatter, KeyError> {
        let mut tags = self.list("tags")?;
        if let Some(Val::Map(tax)) = self.get("taxonomies") {
            if let Some((_, v)) = tax.iter().find(|(k, _)| k.eq_ignore_ascii_case("tags")) {
                tags.extend(self.list_of("tags", v)?);
            }
        }
        let published = self.boolean("published", true)?;
        Ok(FrontMatter {
            title: self.string("title")?,
            date: self.date("date")?,
            updated: match self.date("updated")? {
                Some(d) => Some(d),
                None => self.date("lastmod")?,
            },
            draft: self.boolean("draft", false)? || !published,
            slug: self.string("slug")?,
            tags,
            summary: match self.string("summary")? {
                Some(s) => Some(s),
                None => self.string("description")?,
            },
            lang: self.string("lang")?,
            aliases: self.list("aliases")?,
            content_warning: self.string("content_warning")?,
            sensitive: self.boolean("sensitive", false)?,
            visibility: self
                .choice(
                    "visibility",
                    "public, unlisted or followers",
                    &[
                        ("public", Visibility::Public),
                        ("unlisted", Visibility::Unlisted),
                        ("followers", Visibility::Followers),
                    ],
                )?
                .unwrap_or_default(),
            pinned: self.boolean("pinned", false)?,
            object_type: self.choice(
                "object_type",
                "note, article or auto",
                &[
                    ("note", ObjectTypePolicy::Note),
                    ("article", ObjectTypePolicy::Article),
                    ("auto", ObjectTypePolicy::Auto),
                ],
            )?,
            federate: self.boolean("federate", true)?,
            in_reply_to: self.reply_url()?,
            url: self.page_url()?,
        })
    }

    fn get(&self, key: &str) -> Option<&Val> {
        self.table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    fn fail(&self, key: &str, expected: &str, got: &Val) -> KeyError {
        (
            key_line(self.inner, key),
            format!("expected {expected} for `{key}`, got {}", got.describe()),
        )
    }

    /// Text; numbers and booleans are taken as written (`title = 2026` is a fine title).
    fn string(&self, key: &str) -> Result<Option<String>, KeyError> {
        match self.get(key) {
            None | Some(Val::Null) => Ok(None),
            Some(Val::Str(s) | Val::Date(s)) => Ok(Some(s.clone())),
            Some(Val::Int(i)) => Ok(Some(i.to_string())),
            Some(Val::Float(f)) => Ok(Some(f.to_string())),
            Some(Val::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => Err(self.fail(key, "text", v)),
        }
    }

    /// A boolean; Jekyll's YAML 1.1 spellings (`yes`, `off`) are accepted too.
    fn boolean(&self, key: &str, default: bool) -> Result<bool, KeyError> {
        match self.get(key) {
            None | Some(Val::Null) => Ok(default),
            Some(Val::Bool(b)) => Ok(*b),
            Some(v @ Val::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Ok(true),
                "false" | "no" | "off" => Ok(false),
                _ => Err(self.fail(key, "true or false", v)),
            },
            Some(v) => Err(self.fail(key, "true or false", v)),
        }
    }

    fn date(&self, key: &str) -> Result<Option<PostDate>, KeyError> {
        match self.get(key) {
            None | Some(Val::Null) => Ok(None),
            Some(v @ (Val::Str(s) | Val::Date(s))) => match parse_post_date(s) {
                Some(d) => Ok(Some(d)),
                None => Err(self.fail(key, DATE_EXPECTED, v)),
            },
            Some(v) => Err(self.fail(key, DATE_EXPECTED, v)),
        }
    }

    /// A list of text; a single string is split on commas, or on spaces as Jekyll does.
    fn list(&self, key: &str) -> Result<Vec<String>, KeyError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(v) => self.list_of(key, v),
        }
    }

    fn list_of(&self, key: &str, v: &Val) -> Result<Vec<String>, KeyError> {
        let scalar = |v: &Val| match v {
            Val::Str(s) | Val::Date(s) => Some(s.trim().to_string()),
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(f.to_string()),
            Val::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let items: Vec<String> = match v {
            Val::Null => Vec::new(),
            Val::Str(s) if s.contains(',') => s.split(',').map(|t| t.trim().to_string()).collect(),
            Val::Str(s) => s.split_whitespace().map(str::to_string).collect(),
            Val::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match scalar(item) {
                        Some(s) => out.push(s),
                        None => return Err(self.fail(key, "a list of text", v)),
                    }
                }
                out
            }
            other => match scalar(other) {
                Some(s) => vec![s],
                None => return Err(self.fail(key, "a list of text", v)),
            },
        };
        Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
    }

    fn choice<T: Copy>(
        &self,
        key: &str,
        expected: &str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, KeyError> {
        match self.get(key) {
            None | Some(Val::Null) => Ok(None),
            Some(v @ Val::Str(s)) => options
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(s.trim()))
                .map(|(_, t)| Some(*t))
                .ok_or_else(|| self.fail(key, expected, v)),
            Some(v) => Err(self.fail(key, expected, v)),
        }
    }

    fn reply_url(&self) -> Result<Option<String>, KeyError> {
        const EXPECTED: &str = "an http(s) URL like https://mastodon.example/@user/123";
        let Some(s) = self.string("in_reply_to")? else {
            return Ok(None);
        };
        match Url::parse(s.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(u.to_string())),
            _ => Err(self.fail("in_reply_to", EXPECTED, &Val::Str(s))),
        }
    }

    /// `url` is an absolute http(s) URL or a path on the brand's own site.
    fn page_url(&self) -> Result<Option<String>, KeyError> {
        const EXPECTED: &str = "an http(s) URL or a path like /news/budget/";
        let Some(s) = self.string("url")? else {
            return Ok(None);
        };
        let s = s.trim().to_string();
        match Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Some(s)),
            Ok(_) => Err(self.fail("url", EXPECTED, &Val::Str(s))),
            Err(_) if s.is_empty() => Ok(None),
            Err(_) => Ok(Some(s)),
        }
    }
}

const DATE_EXPECTED: &str = "a date like 2026-11-20 or 2026-11-20T09:00:00Z";

/// The line of the file where `key` is set, found by reading the front matter's lines
/// (`key =`, `key:`, `"key" =`); line 1 (the opening delimiter) when it cannot be found.
fn key_line(inner: &str, key: &str) -> usize {
    for (i, line) in inner.lines().enumerate() {
        let t = line.trim_start();
        let (t, quote) = match t.chars().next() {
            Some(q @ ('"' | '\'')) => (&t[1..], Some(q)),
            _ => (t, None),
        };
        let Some(head) = t.get(..key.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(key) {
            continue;
        }
        let mut rest = &t[key.len()..];
        if let Some(q) = quote {
            match rest.strip_prefix(q) {
                Some(r) => rest = r,
                None => continue,
            }
        }
        if rest.trim_start().starts_with(['=', ':']) {
            return i + 2;
        }
    }
    1
}

/// Reads the date spellings static site generators use: RFC 3339 (`2026-11-20T09:00:00Z`,
/// `+01:00` offsets), Jekyll's `2026-11-20 09:00:00 +0100`, local times without an offset, and
/// a bare day.
pub fn parse_post_date(s: &str) -> Option<PostDate> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(PostDate::At(d.with_timezone(&Utc)));
    }
    // Tried in order: first those with an offset (`%z`), then local times.
    const FORMATS: [&str; 8] = [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    let with_format = |fmt: &str| {
        if fmt.contains("%z") {
            DateTime::parse_from_str(s, fmt)
                .ok()
                .map(|d| PostDate::At(d.with_timezone(&Utc)))
        } else {
            NaiveDateTime::parse_from_str(s, fmt)
                .ok()
                .map(PostDate::Local)
        }
    };
    if let Some(d) = FORMATS.into_iter().find_map(with_format) {
        return Some(d);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(PostDate::Day)
}

/// [`parse_post_date`] read in UTC: local times as UTC, a bare day as its midnight UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    parse_post_date(s).map(|d| d.resolve(Tz::UTC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn file() -> &'static Path {
        Path::new("content/news/x.md")
    }

    fn front(text: &str) -> FrontMatter {
        match parse(file(), text) {
            Ok(doc) => doc.front,
            Err(d) => panic!("unexpected error: {d}"),
        }
    }

    fn error(text: &str) -> String {
        match parse(file(), text) {
            Ok(doc) => panic!("expected an error, got {doc:?}"),
            Err(d) => d.to_string(),
        }
    }

    fn utc_of(d: Option<PostDate>) -> Option<DateTime<Utc>> {
        d.map(|d| d.resolve(Tz::UTC))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn can_read_every_key_from_toml() {
        let doc = parse(
            file(),
            r#"+++
title = "Budget 2027"
date = 2026-11-20T09:00:00Z
updated = 2026-11-21
draft = true
slug = "budget"
tags = ["Budget", "city"]
summary = "The council voted."
lang = "fr"
aliases = ["/old/budget/"]
content_warning = "politics"
sensitive = true
visibility = "unlisted"
pinned = true
object_type = "article"
federate = false
in_reply_to = "https://mastodon.example/@ann/1"
url = "/news/budget/"
layout = "post"
weight = 3
+++
Body here.
"#,
        )
        .unwrap();
        let f = doc.front;
        assert_eq!(f.title.as_deref(), Some("Budget 2027"));
        assert_eq!(utc_of(f.date), Some(utc(2026, 11, 20, 9, 0, 0)));
        assert_eq!(utc_of(f.updated), Some(utc(2026, 11, 21, 0, 0, 0)));
        assert!(f.draft);
        assert_eq!(f.slug.as_deref(), Some("budget"));
        assert_eq!(f.tags, vec!["Budget", "city"]);
        assert_eq!(f.summary.as_deref(), Some("The council voted."));
        assert_eq!(f.lang.as_deref(), Some("fr"));
        assert_eq!(f.aliases, vec!["/old/budget/"]);
        assert_eq!(f.content_warning.as_deref(), Some("politics"));
        assert!(f.sensitive);
        assert_eq!(f.visibility, Visibility::Unlisted);
        assert!(f.pinned);
        assert_eq!(f.object_type, Some(ObjectTypePolicy::Article));
        assert!(!f.federate);
        assert_eq!(
            f.in_reply_to.as_deref(),
            Some("https://mastodon.example/@ann/1")
        );
        assert_eq!(f.url.as_deref(), Some("/news/budget/"));
        assert_eq!(doc.body, "Body here.\n");
        assert_eq!(doc.body_line, 22);
    }

    #[test]
    fn can_read_every_key_from_yaml() {
        let f = front(
            "---\ntitle: Budget 2027\ndate: 2026-11-20 09:00:00 +0100\nlastmod: 2026-11-22T10:00:00+02:00\n\
             draft: false\nslug: budget\ntags: [Budget, city]\ndescription: The council voted.\nlang: fr\n\
             aliases:\n  - /old/\ncontent_warning: politics\nsensitive: yes\nvisibility: followers\n\
             pinned: true\nobject_type: auto\nfederate: true\nin_reply_to: https://m.example/@a/2\n\
             url: https://city.example/b/\ncategories: [x]\n---\nBody\n",
        );
        assert_eq!(f.title.as_deref(), Some("Budget 2027"));
        assert_eq!(utc_of(f.date), Some(utc(2026, 11, 20, 8, 0, 0)));
        assert_eq!(utc_of(f.updated), Some(utc(2026, 11, 22, 8, 0, 0)));
        assert!(!f.draft);
        assert_eq!(f.tags, vec!["Budget", "city"]);
        assert_eq!(f.summary.as_deref(), Some("The council voted."));
        assert_eq!(f.aliases, vec!["/old/"]);
        assert!(f.sensitive);
        assert_eq!(f.visibility, Visibility::Followers);
        assert_eq!(f.object_type, Some(ObjectTypePolicy::Auto));
        assert!(f.federate);
        assert_eq!(f.url.as_deref(), Some("https://city.example/b/"));
    }

    #[test]
    fn can_default_every_key() {
        let f = front("+++\n+++\n");
        assert_eq!(f, FrontMatter::default());
        assert!(f.federate);
        assert_eq!(front("---\n---\n"), FrontMatter::default());
        assert_eq!(
            front("---\n# only a comment\n---\n"),
            FrontMatter::default()
        );
    }

    #[test]
    fn can_read_zola_taxonomies_tags() {
        let f = front("+++\ntitle = \"x\"\n[taxonomies]\ntags = [\"rust\", \"web\"]\ncategories = [\"a\"]\n+++\n");
        assert_eq!(f.tags, vec!["rust", "web"]);
    }

    #[test]
    fn can_read_jekyll_space_separated_tags_and_published_false() {
        let f = front("---\ntags: city budget\npublished: false\n---\n");
        assert_eq!(f.tags, vec!["city", "budget"]);
        assert!(f.draft);
    }

    #[test]
    fn can_match_hugo_keys_case_insensitively() {
        let f = front("+++\nTitle = \"T\"\nlastMod = 2026-01-02\n+++\n");
        assert_eq!(f.title.as_deref(), Some("T"));
        assert_eq!(utc_of(f.updated), Some(utc(2026, 1, 2, 0, 0, 0)));
    }

    #[test]
    fn can_parse_every_date_spelling() {
        let nine = utc(2026, 11, 20, 9, 0, 0);
        let cases = [
            ("2026-11-20", utc(2026, 11, 20, 0, 0, 0)),
            ("2026-11-20T09:00:00Z", nine),
            ("2026-11-20T10:00:00+01:00", nine),
            ("2026-11-20 10:00:00 +0100", nine),
            ("2026-11-20 10:00:00 +01:00", nine),
            ("2026-11-20T09:00:00", nine),
            ("2026-11-20 09:00", nine),
            (
                "2026-11-20T09:00:00.250Z",
                nine + chrono::Duration::milliseconds(250),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(parse_date(s), Some(want), "{s}");
        }
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2026-13-01"), None);
    }

    #[test]
    fn can_read_toml_datetimes_of_every_kind() {
        let f = front("+++\ndate = 2026-11-20\nupdated = 2026-11-20T10:00:00+01:00\n+++\n");
        assert_eq!(utc_of(f.date), Some(utc(2026, 11, 20, 0, 0, 0)));
        assert_eq!(utc_of(f.updated), Some(utc(2026, 11, 20, 9, 0, 0)));
        let f = front("+++\ndate = 2026-11-20T09:00:00\n+++\n");
        assert_eq!(utc_of(f.date), Some(utc(2026, 11, 20, 9, 0, 0)));
    }

    #[test]
    fn can_strip_a_byte_order_mark_and_crlf() {
        let doc = parse(file(), "\u{feff}+++\r\ntitle = \"a\"\r\n+++\r\nBody\r\n").unwrap();
        assert_eq!(doc.front.title.as_deref(), Some("a"));
        assert_eq!(doc.body, "Body\r\n");
        assert_eq!(doc.body_line, 4);
    }

    #[test]
    fn errors_when_there_is_no_front_matter() {
        assert_eq!(
            error("# Hello\n"),
            "content/news/x.md:1: no front matter: a post starts with +++ (TOML) or --- (YAML) on its first line; this post is not published until it is fixed"
        );
        assert!(error("").contains("no front matter"));
    }

    #[test]
    fn errors_when_front_matter_is_never_closed() {
        assert_eq!(
            error("+++\ntitle = \"a\"\nBody\n"),
            "content/news/x.md:1: front matter opened with +++ is never closed (end it with a line holding only +++); this post is not published until it is fixed"
        );
        assert_eq!(
            error("---\ntitle: a\n"),
            "content/news/x.md:1: front matter opened with --- is never closed (end it with a line holding only ---); this post is not published until it is fixed"
        );
    }

    #[test]
    fn errors_when_a_date_is_not_a_date() {
        assert_eq!(
            error("+++\ntitle = \"a\"\ndate = \"yesterday\"\n+++\n"),
            "content/news/x.md:3: front matter: expected a date like 2026-11-20 or 2026-11-20T09:00:00Z for `date`, got \"yesterday\"; this post is not published until it is fixed"
        );
        assert_eq!(
            error("---\ntitle: a\n\nlastmod: soon\n---\n"),
            "content/news/x.md:4: front matter: expected a date like 2026-11-20 or 2026-11-20T09:00:00Z for `lastmod`, got \"soon\"; this post is not published until it is fixed"
        );
    }

    #[test]
    fn errors_when_visibility_or_object_type_is_unknown() {
        assert_eq!(
            error("+++\nvisibility = \"secret\"\n+++\n"),
            "content/news/x.md:2: front matter: expected public, unlisted or followers for `visibility`, got \"secret\"; this post is not published until it is fixed"
        );
        assert_eq!(
            error("---\ntitle: a\nobject_type: essay\n---\n"),
            "content/news/x.md:3: front matter: expected note, article or auto for `object_type`, got \"essay\"; this post is not published until it is fixed"
        );
    }

    #[test]
    fn errors_when_a_key_has_the_wrong_type() {
        assert_eq!(
            error("+++\ndraft = \"maybe\"\n+++\n"),
            "content/news/x.md:2: front matter: expected true or false for `draft`, got \"maybe\"; this post is not published until it is fixed"
        );
        assert!(error("+++\ntitle = [1]\n+++\n")
            .contains(":2: front matter: expected text for `title`, got a list;"));
        assert!(error("---\nin_reply_to: not a url\n---\n")
            .contains(":2: front matter: expected an http(s) URL"));
        assert!(error("---\nurl: javascript:alert(1)\n---\n").contains("for `url`"));
    }

    #[test]
    fn errors_with_the_toml_parser_message_and_file_line() {
        assert_eq!(
            error("+++\ntitle = \"a\"\ndate = \n+++\n"),
            "content/news/x.md:3: front matter: string values must be quoted, expected literal string; this post is not published until it is fixed"
        );
    }

    #[test]
    fn errors_with_the_yaml_parser_message_and_file_line() {
        let e = error("---\ntitle: a\ntags: [a, b\n---\n");
        assert!(e.starts_with("content/news/x.md:"), "{e}");
        assert!(e.contains(": front matter: "), "{e}");
        assert!(!e.contains("line 2 column"), "{e}");
        assert!(
            e.ends_with("; this post is not published until it is fixed"),
            "{e}"
        );
        assert_eq!(
            error("---\ntitle: a\n  bad: indent\n---\n"),
            "content/news/x.md:3: front matter: mapping values are not allowed in this context; this post is not published until it is fixed"
        );
    }

    #[test]
    fn errors_when_yaml_front_matter_is_not_a_mapping() {
        assert!(error("---\n- a\n- b\n---\n").contains("expected `key: value` lines, got a list"));
    }

    #[test]
    fn can_read_days_and_local_times_in_the_site_time_zone() {
        let paris = chrono_tz::Europe::Paris;
        let f = front("+++\ndate = 2026-11-20\nupdated = 2026-11-20T10:00:00\n+++\n");
        let day = f.date.unwrap();
        assert_eq!(
            day,
            PostDate::Day(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
        );
        // Midnight in Paris (UTC+1 in November) is 23:00 UTC the day before.
        assert_eq!(day.resolve(paris), utc(2026, 11, 19, 23, 0, 0));
        assert_eq!(day.day_end(paris), Some(utc(2026, 11, 20, 23, 0, 0)));
        assert_eq!(
            f.updated.unwrap().resolve(paris),
            utc(2026, 11, 20, 9, 0, 0)
        );
        assert_eq!(f.updated.unwrap().day_end(paris), None);
        // A time with an offset is the same instant anywhere.
        let at = parse_post_date("2026-11-20T10:00:00+01:00").unwrap();
        assert_eq!(at.resolve(paris), at.resolve(Tz::UTC));
        // The day the clocks go forward is 23 hours long.
        let spring = PostDate::Day(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        let hours = spring.day_end(paris).unwrap() - spring.resolve(paris);
        assert_eq!(hours, TimeDelta::hours(23));
        // 02:30 does not exist that day in Paris: read as 03:30 local.
        let gap = parse_post_date("2026-03-29T02:30:00").unwrap();
        assert_eq!(gap.resolve(paris), utc(2026, 3, 29, 1, 30, 0));
    }
}
