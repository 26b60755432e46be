//! `[[actor]]`: the accounts a site publishes. This file owns the actor's types, its keys and
//! the rules on them (handle, profile text and images, fields, content folder, aliases); it does
//! not read the posts in the content folder.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;
use url::Url;

use super::validate::{a_type, Checker};
use crate::diagnostics::line_of;

/// One published account.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `news` in `@news@city.example`: a-z, 0-9 and `_`.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// ActivityStreams actor type.
    pub kind: ActorKind,
    /// Profile text, Markdown.
    pub summary: String,
    /// Avatar image, relative to the site root.
    pub avatar: Option<PathBuf>,
    /// Header image, relative to the site root.
    pub header: Option<PathBuf>,
    /// Profile fields (name/value); URL values become `rel="me"` links.
    pub fields: Vec<Field>,
    /// The folder of this actor's posts, relative to the site root.
    pub content: PathBuf,
    /// How posts become objects unless a post says otherwise.
    pub object_type: ObjectTypePolicy,
    /// Follows wait for `masthead follows approve`.
    pub manually_approves_followers: bool,
    /// May appear in directories and recommendations.
    pub discoverable: bool,
    /// Posts may be indexed by full-text search.
    pub indexable: bool,
    /// Former accounts this one is also known as (actor URLs).
    pub also_known_as: Vec<Url>,
    /// Default language of this actor's posts, overriding the site's.
    pub language: Option<String>,
}

/// A profile field.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Label, e.g. "Website".
    pub name: String,
    /// Value; an http(s) URL becomes a link with `rel="me"`.
    pub value: String,
}

/// The ActivityStreams actor types a brand may choose.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum ActorKind {
    /// A company, council, ministry or museum (the default).
    #[default]
    Organization,
    /// An automated account.
    Service,
    /// A piece of software.
    Application,
    /// A group (Lemmy and other threadiverse servers treat it as a community).
    Group,
    /// A person.
    Person,
}

impl ActorKind {
    /// The `type` written in the actor document.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Organization => "Organization",
            ActorKind::Service => "Service",
            ActorKind::Application => "Application",
            ActorKind::Group => "Group",
            ActorKind::Person => "Person",
        }
    }
}

/// Which ActivityStreams type a post is published as.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectTypePolicy {
    /// `Note`: full text on every server (the default).
    #[default]
    Note,
    /// `Article`: title + summary + link on Mastodon, full text elsewhere.
    Article,
    /// `Article` when the post has a title and is longer than a Mastodon post, else `Note`.
    Auto,
}

/// The keys `[[actor]]` accepts.
pub(super) const ACTOR_KEYS: &[&str] = &[
    "handle",
    "name",
    "type",
    "summary",
    "avatar",
    "header",
    "fields",
    "content",
    "object_type",
    "manually_approves_followers",
    "discoverable",
    "indexable",
    "also_known_as",
    "language",
];

/// The keys of one `[[actor.fields]]` entry.
const FIELD_KEYS: &[&str] = &["name", "value"];

/// Handles an actor may not take. They are the first path segments of masthead's own routes
/// (`/actor` is the instance actor, `/inbox` the shared inbox, then `/users/`, `/tags/`, `/media/`,
/// `/nodeinfo/`; see `crate::urls`). Actor ids live under `/users/` so no path collides
/// today, but `@inbox@city.example` or `@actor@city.example` would read as the server itself in
/// WebFinger answers and logs, and keeping these free leaves room for `/{handle}` shortcuts.
/// `well-known` needs no entry: `-` is never valid in a handle.
pub const RESERVED_HANDLES: &[&str] = &["actor", "inbox", "users", "tags", "media", "nodeinfo"];

/// Longest handle, in characters (Mastodon's limit for usernames).
const MAX_HANDLE_CHARS: usize = 30;
/// Longest display name, in characters (what Mastodon keeps of a remote display name).
const MAX_NAME_CHARS: usize = 100;
/// Longest summary, in characters. Mastodon stores remote bios up to about 20 kB but lets its own
/// users write 500; above 500 is a warning, above 5000 an error.
const MAX_SUMMARY_CHARS: usize = 5000;
/// Longest summary every app shows whole.
const SHOWN_SUMMARY_CHARS: usize = 500;
/// Most profile fields Mastodon keeps of a remote actor.
const MAX_FIELDS: usize = 50;
/// Most profile fields Mastodon shows.
const SHOWN_FIELDS: usize = 4;
/// Image types fediverse servers accept for avatars and headers, by file extension.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    handle: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    #[serde(rename = "type", default)]
    kind: ActorKind,
    summary: Option<Spanned<String>>,
    avatar: Option<Spanned<PathBuf>>,
    header: Option<Spanned<PathBuf>>,
    fields: Option<Spanned<Vec<Spanned<RawField>>>>,
    content: Option<Spanned<PathBuf>>,
    #[serde(default)]
    object_type: ObjectTypePolicy,
    #[serde(default)]
    manually_approves_followers: bool,
    discoverable: Option<bool>,
    indexable: Option<bool>,
    #[serde(default)]
    also_known_as: Vec<Spanned<String>>,
    language: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Option<String>,
    value: Option<String>,
}

/// One `[[actor]]` table as read, before its values are checked.
pub(super) struct ActorEntry {
    /// `actor "news"`, or `actor #2` when the handle is missing or empty.
    label: String,
    /// The table, for problems that have no key of their own (a missing content folder).
    span: Range<usize>,
    /// `None` when a value had the wrong type (already reported).
    raw: Option<RawActor>,
}

impl Checker<'_> {
    /// Reads `actor`, which should be an array of tables (`[[actor]]`).
    pub(super) fn actor_entries(&mut self, value: Spanned<DeValue<'_>>) -> Vec<ActorEntry> {
        let span = value.span();
        let items: Vec<Spanned<DeValue<'_>>> = match value.into_inner() {
            DeValue::Array(items) => items.iter().cloned().collect(),
            table @ DeValue::Table(_) => {
                self.error(
                    span.clone(),
                    "`actor` must be a list of tables, got a single [actor] table (write [[actor]], with double brackets)",
                );
                vec![Spanned::new(span, table)]
            }
            other => {
                self.error(
                    span,
                    format!(
                        "`actor` must be a list of tables, got {} (write each actor as an [[actor]] section)",
                        a_type(&other)
                    ),
                );
                self.mistyped.push("actor".to_string());
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for (i, mut item) in items.into_iter().enumerate() {
            let span = item.span();
            let DeValue::Table(table) = item.get_mut() else {
                let got = a_type(item.get_ref());
                self.error(
                    span.clone(),
                    format!("actor #{}: must be a table, got {got} (write each actor as an [[actor]] section)", i + 1),
                );
                entries.push(ActorEntry {
                    label: format!("actor #{}", i + 1),
                    span,
                    raw: None,
                });
                continue;
            };
            let label = match table.get("handle").and_then(|h| h.get_ref().as_str()) {
                Some(h) if !h.is_empty() => format!("actor {h:?}"),
                _ => format!("actor #{}", i + 1),
            };
            self.prune(table, ACTOR_KEYS, "in [[actor]]");
            if let Some(fields) = table.get_mut("fields") {
                if let DeValue::Array(fields) = fields.get_mut() {
                    for field in fields.iter_mut() {
                        if let DeValue::Table(field) = field.get_mut() {
                            self.prune(field, FIELD_KEYS, "in [[actor.fields]]");
                        }
                    }
                }
            }
            let raw = self.deserialize(item, &format!("{label}: "));
            entries.push(ActorEntry { label, span, raw });
        }
        entries
    }

    /// Checks every actor read, and that there is one.
    pub(super) fn actors(&mut self, entries: Vec<ActorEntry>) -> Vec<Actor> {
        // An `actor` that is not a list was reported already; "none defined" would repeat it.
        if entries.is_empty() && !self.mistyped.iter().any(|k| k == "actor") {
            self.error(
                None,
                "no [[actor]] defined (add one: an [[actor]] section with handle = \"news\")",
            );
        }
        let mut seen: Vec<(String, Range<usize>)> = Vec::new();
        let mut actors = Vec::new();
        for entry in entries {
            let Some(raw) = entry.raw else { continue };
            if let Some(actor) = self.actor(&entry.label, entry.span, raw, &mut seen) {
                actors.push(actor);
            }
        }
        actors
    }

    /// Checks one actor; `None` when a required value is missing (reported).
    fn actor(
        &mut self,
        who: &str,
        span: Range<usize>,
        raw: RawActor,
        seen: &mut Vec<(String, Range<usize>)>,
    ) -> Option<Actor> {
        let mut handle_ok = false;
        let handle = match &raw.handle {
            Some(h) => {
                handle_ok = self.handle(who, h, seen);
                h.get_ref().clone()
            }
            None if self.mistyped.contains(&format!("{who}: handle")) => String::new(),
            None => {
                self.error(
                    span.clone(),
                    format!("{who}: has no handle (add handle = \"news\", the name in @news@your.domain)"),
                );
                String::new()
            }
        };
        if let Some(name) = &raw.name {
            let chars = name.get_ref().chars().count();
            if chars > MAX_NAME_CHARS {
                self.error(
                    name.span(),
                    format!("{who}: name must be at most {MAX_NAME_CHARS} characters, got {chars} (shorten it)"),
                );
            }
        }
        if let Some(summary) = &raw.summary {
            let chars = summary.get_ref().chars().count();
            if chars > MAX_SUMMARY_CHARS {
                self.error(
                    summary.span(),
                    format!("{who}: summary must be at most {MAX_SUMMARY_CHARS} characters, got {chars} (shorten it)"),
                );
            } else if chars > SHOWN_SUMMARY_CHARS {
                self.warning(
                    summary.span(),
                    format!("{who}: summary is {chars} characters, more than the {SHOWN_SUMMARY_CHARS} Mastodon allows its own users, and some apps cut it short (shorten it to keep it whole)"),
                );
            }
        }
        for (key, image) in [("avatar", &raw.avatar), ("header", &raw.header)] {
            if let Some(image) = image {
                self.image(who, key, image);
            }
        }
        let mut fields = Vec::new();
        if let Some(list) = &raw.fields {
            let n = list.get_ref().len();
            if n > MAX_FIELDS {
                self.error(
                    list.span(),
                    format!("{who}: fields may hold at most {MAX_FIELDS} entries, got {n} (remove some)"),
                );
            } else if n > SHOWN_FIELDS {
                self.warning(
                    list.span(),
                    format!("{who}: {n} fields, but Mastodon shows only the first {SHOWN_FIELDS} (put the important ones first)"),
                );
            }
            for (i, field) in list.get_ref().iter().enumerate() {
                let f = field.get_ref();
                let name = f.name.as_deref().unwrap_or("").trim();
                let value = f.value.as_deref().unwrap_or("").trim();
                for (part, text) in [("name", name), ("value", value)] {
                    if text.is_empty() {
                        self.error(
                            field.span(),
                            format!("{who}: field {} has an empty {part} (fill it in or remove the field)", i + 1),
                        );
                    }
                }
                fields.push(Field {
                    name: name.to_string(),
                    value: value.to_string(),
                });
            }
        }
        let content = match &raw.content {
            Some(c) => {
                self.content(who, c.get_ref(), c.span());
                c.get_ref().clone()
            }
            None => {
                let c = PathBuf::from("content").join(&handle);
                // A bad handle makes a bad default folder; that is reported once, as the handle.
                if handle_ok {
                    self.content(who, &c, span);
                }
                c
            }
        };
        let mut also_known_as = Vec::new();
        for aka in &raw.also_known_as {
            match Url::parse(aka.get_ref()) {
                Ok(url) if url.scheme() == "https" && url.has_host() => also_known_as.push(url),
                _ => self.error(
                    aka.span(),
                    format!(
                        "{who}: also_known_as entries must be https URLs, got {:?} (give the old account's actor URL, like https://old.example/users/news)",
                        aka.get_ref()
                    ),
                ),
            }
        }
        if let Some(language) = &raw.language {
            self.language(&format!("{who}: language"), language);
        }
        raw.handle.as_ref()?;
        Some(Actor {
            name: raw
                .name
                .map(Spanned::into_inner)
                .unwrap_or_else(|| handle.clone()),
            handle,
            kind: raw.kind,
            summary: raw.summary.map(Spanned::into_inner).unwrap_or_default(),
            avatar: raw.avatar.map(Spanned::into_inner),
            header: raw.header.map(Spanned::into_inner),
            fields,
            content,
            object_type: raw.object_type,
            manually_approves_followers: raw.manually_approves_followers,
            discoverable: raw.discoverable.unwrap_or(true),
            indexable: raw.indexable.unwrap_or(true),
            also_known_as,
            language: raw.language.map(Spanned::into_inner),
        })
    }

    /// A handle's characters, length, reservation and uniqueness; true when it is usable as a
    /// folder name (non-empty, allowed characters, not too long).
    fn handle(
        &mut self,
        who: &str,
        raw: &Spanned<String>,
        seen: &mut Vec<(String, Range<usize>)>,
    ) -> bool {
        let handle = raw.get_ref();
        if handle.is_empty() {
            self.error(
                raw.span(),
                format!("{who}: handle must not be empty (write the name in @name@your.domain, e.g. \"news\")"),
            );
            return false;
        }
        let mut usable = true;
        if let Some(c) = handle
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            usable = false;
            self.error(
                raw.span(),
                format!(
                    "{who}: handle may only contain a-z, 0-9 and _ (got {})",
                    describe_char(c)
                ),
            );
        }
        let chars = handle.chars().count();
        if chars > MAX_HANDLE_CHARS {
            usable = false;
            self.error(
                raw.span(),
                format!("{who}: handle must be at most {MAX_HANDLE_CHARS} characters, got {chars} (shorten it)"),
            );
        }
        if RESERVED_HANDLES.contains(&handle.as_str()) {
            self.error(
                raw.span(),
                format!(
                    "{who}: handle {handle:?} is reserved for masthead's own routes ({}) (choose another handle)",
                    RESERVED_HANDLES.join(", ")
                ),
            );
        }
        if let Some((_, first)) = seen.iter().find(|(h, _)| h == handle) {
            let line = line_of(self.text, first.start);
            self.error(
                raw.span(),
                format!("{who}: handle {handle:?} is already used by the actor on line {line} (give each actor its own handle)"),
            );
        } else {
            seen.push((handle.clone(), raw.span()));
        }
        usable
    }

    /// An avatar or header image: inside the site folder, an image type, present.
    fn image(&mut self, who: &str, key: &str, raw: &Spanned<PathBuf>) {
        let rel = raw.get_ref();
        let shown = rel.display();
        if !stays_inside(self.root, rel) {
            self.error(
                raw.span(),
                format!("{who}: {key} must be inside the site folder, got \"{shown}\" (copy the image into the site folder and give its path from there)"),
            );
            return;
        }
        let ext = rel
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            self.error(
                raw.span(),
                format!("{who}: {key} must be a .png, .jpg, .jpeg, .gif or .webp image, got \"{shown}\" (convert it to PNG)"),
            );
            return;
        }
        let full = self.root.join(rel);
        if full.is_dir() {
            self.error(
                raw.span(),
                format!("{who}: {key} \"{shown}\" is a folder, not an image (point {key} at the image file)"),
            );
        } else if !full.exists() {
            self.error(
                raw.span(),
                format!("{who}: {key} \"{shown}\" does not exist (add the image to the site folder or fix the path)"),
            );
        }
    }

    /// The content folder: inside the site folder, present.
    fn content(&mut self, who: &str, rel: &Path, span: Range<usize>) {
        let shown = rel.display();
        if !stays_inside(self.root, rel) {
            self.error(
                span,
                format!("{who}: content must be a folder inside the site folder, got \"{shown}\" (move the posts into the site folder)"),
            );
            return;
        }
        let full = self.root.join(rel);
        if full.is_file() {
            self.error(
                span,
                format!("{who}: content \"{shown}\" is a file, not a folder (point content at a folder of Markdown files)"),
            );
        } else if !full.is_dir() {
            self.error(
                span,
                format!(
                    "{who}: content folder \"{shown}\" does not exist (create it in the site folder: mkdir -p {})",
                    shell_word(&shown.to_string())
                ),
            );
        }
    }
}

/// How a person would name a character that is not allowed: "a space", "an uppercase letter 'N'".
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        c if c.is_uppercase() => format!("an uppercase letter '{c}'"),
        c if c.is_control() || c.is_whitespace() => format!("{c:?}"),
        c => format!("'{c}'"),
    }
}

/// `word` as one shell word: quoted when it holds anything but plain path characters.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-');
    if word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether `rel`, a path from site.toml, names something inside the site folder: relative, never
/// climbing above the root, and, when it exists, not leading out through a symlink.
fn stays_inside(root: &Path, rel: &Path) -> bool {
    let mut depth = 0usize;
    for part in rel.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    match (root.canonicalize(), root.join(rel).canonicalize()) {
        (Ok(root), Ok(full)) => full.starts_with(root),
        // A missing file is reported by the existence check.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use std::fs;

    #[test]
    fn errors_when_no_actor_is_defined() {
        assert_eq!(
            errors("[site]\nbase_url = \"https://social.city.example\"\n"),
            ["site.toml: no [[actor]] defined (add one: an [[actor]] section with handle = \"news\")"]
        );
    }

    #[test]
    fn errors_when_actor_is_a_single_table() {
        let text = GOOD.replace("[[actor]]", "[actor]");
        assert_eq!(
            errors(&text),
            ["site.toml:4: `actor` must be a list of tables, got a single [actor] table (write [[actor]], with double brackets)"]
        );
    }

    #[test]
    fn rejects_each_bad_handle() {
        let long = "a".repeat(31);
        // (text in GOOD, replaced by, the one error it gives)
        let cases = [
            (
                "\"news\"",
                "\"news desk\"".to_string(),
                "site.toml:5: actor \"news desk\": handle may only contain a-z, 0-9 and _ (got a space)".to_string(),
            ),
            (
                "\"news\"",
                "\"News Desk\"".to_string(),
                "site.toml:5: actor \"News Desk\": handle may only contain a-z, 0-9 and _ (got an uppercase letter 'N')".to_string(),
            ),
            (
                "\"news\"",
                "\"city-news\"".to_string(),
                "site.toml:5: actor \"city-news\": handle may only contain a-z, 0-9 and _ (got '-')".to_string(),
            ),
            (
                "\"news\"",
                "\"\"".to_string(),
                "site.toml:5: actor #1: handle must not be empty (write the name in @name@your.domain, e.g. \"news\")".to_string(),
            ),
            (
                "handle = \"news\"",
                "name = \"News\"".to_string(),
                "site.toml:4: actor #1: has no handle (add handle = \"news\", the name in @news@your.domain)".to_string(),
            ),
            (
                "\"news\"",
                format!("\"{long}\""),
                format!("site.toml:5: actor \"{long}\": handle must be at most 30 characters, got 31 (shorten it)"),
            ),
        ];
        for (from, to, want) in cases {
            assert_eq!(bare_errors(&GOOD.replace(from, &to)), [want], "{to}");
        }
    }

    #[test]
    fn rejects_a_reserved_handle() {
        let dir = site_dir();
        fs::create_dir_all(dir.path().join("content/inbox")).unwrap();
        let text = GOOD.replace("\"news\"", "\"inbox\"");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:5: actor \"inbox\": handle \"inbox\" is reserved for masthead's own routes (actor, inbox, users, tags, media, nodeinfo) (choose another handle)"]
        );
    }

    #[test]
    fn rejects_each_bad_actor_value() {
        let fields = vec!["{ name = \"a\", value = \"b\" }"; 51].join(", ");
        // (lines added to GOOD's actor, the errors they give)
        let cases: [(String, &[&str]); 7] = [
            (
                "\n[[actor]]\nhandle = \"news\"\n".to_string(),
                &["site.toml:8: actor \"news\": handle \"news\" is already used by the actor on line 5 (give each actor its own handle)"],
            ),
            (
                format!("name = \"{}\"\n", "é".repeat(101)),
                &["site.toml:6: actor \"news\": name must be at most 100 characters, got 101 (shorten it)"],
            ),
            (
                format!("summary = \"{}\"\n", "a".repeat(5001)),
                &["site.toml:6: actor \"news\": summary must be at most 5000 characters, got 5001 (shorten it)"],
            ),
            (
                "avatar = \"../logo.png\"\nheader = \"/etc/header.png\"\n".to_string(),
                &[
                    "site.toml:6: actor \"news\": avatar must be inside the site folder, got \"../logo.png\" (copy the image into the site folder and give its path from there)",
                    "site.toml:7: actor \"news\": header must be inside the site folder, got \"/etc/header.png\" (copy the image into the site folder and give its path from there)",
                ],
            ),
            (
                format!("fields = [{fields}]\n"),
                &["site.toml:6: actor \"news\": fields may hold at most 50 entries, got 51 (remove some)"],
            ),
            (
                "content = \"content/../../posts\"\n".to_string(),
                &["site.toml:6: actor \"news\": content must be a folder inside the site folder, got \"content/../../posts\" (move the posts into the site folder)"],
            ),
            (
                "also_known_as = [\"https://ok.example/users/a\", \"old.example\"]\n".to_string(),
                &["site.toml:6: actor \"news\": also_known_as entries must be https URLs, got \"old.example\" (give the old account's actor URL, like https://old.example/users/news)"],
            ),
        ];
        for (added, want) in cases {
            assert_eq!(errors(&format!("{GOOD}{added}")), want, "{added}");
        }
    }

    #[test]
    fn warns_about_a_long_summary_and_many_fields() {
        let fields = ["{ name = \"a\", value = \"b\" }"; 5].join(", ");
        // (lines added to GOOD's actor, the warning they give)
        let cases = [
            (
                format!("summary = \"{}\"\n", "a".repeat(501)),
                "site.toml:6: actor \"news\": summary is 501 characters, more than the 500 Mastodon allows its own users, and some apps cut it short (shorten it to keep it whole)",
            ),
            (
                format!("fields = [{fields}]\n"),
                "site.toml:6: actor \"news\": 5 fields, but Mastodon shows only the first 4 (put the important ones first)",
            ),
        ];
        for (added, want) in cases {
            assert_eq!(warnings(&format!("{GOOD}{added}")), [want], "{added}");
        }
        let text = format!("{GOOD}summary = \"{}\"\n", "a".repeat(500));
        assert!(warnings(&text).is_empty());
    }

    #[test]
    fn rejects_each_bad_file_in_the_site_folder() {
        // (file written in the site folder, lines added to GOOD's actor, the one error)
        let cases = [
            (
                "logo.svg",
                "avatar = \"logo.svg\"\n",
                "site.toml:6: actor \"news\": avatar must be a .png, .jpg, .jpeg, .gif or .webp image, got \"logo.svg\" (convert it to PNG)",
            ),
            (
                "avatar.JPG",
                "avatar = \"avatar.JPG\"\nheader = \"header.gif\"\n",
                "site.toml:7: actor \"news\": header \"header.gif\" does not exist (add the image to the site folder or fix the path)",
            ),
            (
                "posts.md",
                "content = \"posts.md\"\n",
                "site.toml:6: actor \"news\": content \"posts.md\" is a file, not a folder (point content at a folder of Markdown files)",
            ),
        ];
        for (file, added, want) in cases {
            let dir = site_dir();
            fs::write(dir.path().join(file), b"bytes").unwrap();
            assert_eq!(errors_in(&dir, &format!("{GOOD}{added}")), [want], "{file}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn rejects_an_avatar_that_leaves_through_a_symlink() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("logo.png"), b"png").unwrap();
        let dir = site_dir();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("img")).unwrap();
        let text = format!("{GOOD}avatar = \"img/logo.png\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": avatar must be inside the site folder, got \"img/logo.png\" (copy the image into the site folder and give its path from there)"]
        );
    }

    #[test]
    fn rejects_a_field_with_an_empty_name_or_value() {
        let text = format!(
            "{GOOD}\n[[actor.fields]]\nname = \" \"\nvalue = \"x\"\n\n[[actor.fields]]\nname = \"Web\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                "site.toml:7: actor \"news\": field 1 has an empty name (fill it in or remove the field)",
                "site.toml:11: actor \"news\": field 2 has an empty value (fill it in or remove the field)",
            ]
        );
    }

    #[test]
    fn errors_when_the_content_folder_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            errors_in(&dir, GOOD),
            ["site.toml:4: actor \"news\": content folder \"content/news\" does not exist (create it in the site folder: mkdir -p content/news)"]
        );
        let text = format!("{GOOD}content = \"my posts\"\n");
        assert_eq!(
            errors_in(&dir, &text),
            ["site.toml:6: actor \"news\": content folder \"my posts\" does not exist (create it in the site folder: mkdir -p 'my posts')"]
        );
    }

    #[test]
    fn can_describe_a_bad_character() {
        assert_eq!(describe_char(' '), "a space");
        assert_eq!(describe_char('N'), "an uppercase letter 'N'");
        assert_eq!(describe_char('-'), "'-'");
        assert_eq!(describe_char('\t'), "a tab");
        assert_eq!(describe_char('é'), "'é'");
    }
}
