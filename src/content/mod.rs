//! The content folder: finding posts, reading their front matter, rendering Markdown to the HTML
//! the fediverse keeps.
//!
//! This module owns turning files into [`Post`]s and reporting what is wrong with them as
//! [`Diagnostic`]s; a broken file is reported and skipped, never fatal. It does not know about
//! storage (the caller supplies a render cache) or about ActivityPub documents (see `federation`).

pub mod front_matter;
mod inline;
mod media;
#[cfg(test)]
mod proptests;
pub mod render;
pub mod revise;
mod scan;
#[cfg(test)]
pub(crate) mod test_support;
pub mod watch;

pub use media::{sniffed_image_type, MediaRules};
pub use scan::{
    content_hash, derive_slug, locate, scan, scan_paths, slugify, source_hash, Place,
    RENDER_VERSION,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ObjectTypePolicy;
use crate::diagnostics::Diagnostic;

/// One published (or publishable) post, rendered.
///
/// A catalog holds one for every post of a site, so it is laid out to be small (the memory
/// benchmark's 10,000 posts; PERFORMANCE.md, "Memory figures"): strings are boxed without spare
/// capacity, the two hashes are 32 bytes each (hex only where written or compared to the store),
/// and the fields most posts leave unset live together in one optional box, [`More`], read with
/// [`Post::more`]. Its JSON (the store's render cache) is flat, one key per field, as before.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "wire::PostIn")]
pub struct Post {
    /// Handle of the actor that publishes it.
    pub actor: Box<str>,
    /// Stable id within the actor: front matter `slug`, else derived from the file path.
    pub slug: Box<str>,
    /// The Markdown file, relative to the site root.
    pub source: Box<Path>,
    /// SHA-256 over everything the rendering depends on; unchanged hash = nothing to redo.
    pub hash: Hash,
    /// SHA-256 over the file's text with whitespace runs read as one space: changes only
    /// when the author changed the post (see [`source_hash`]). Set at every scan, also for a
    /// cached post.
    pub source_hash: Hash,
    pub title: Option<Box<str>>,
    /// `date`, in the site's time zone (the day's start for a day without a time); `None`
    /// means "first seen", which the store remembers.
    pub date: Option<DateTime<Utc>>,
    /// Hashtags without `#`: front matter tags first, then inline ones, first spelling kept.
    pub tags: Box<[Box<str>]>,
    /// Path of the post on a static site, derived from the content path (`news/budget/`).
    pub page_path: Box<str>,
    /// Sanitized HTML with Mastodon's allowlist, absolute links, hashtag and mention links.
    /// Empty in a catalog built over a store on disk, which lets bodies go once stored: read a
    /// served post's body with `catalog::PostRecord::html`, never this field.
    pub html: Box<str>,
    /// Length in characters of the text (for the `auto` object type), at most `u32::MAX`.
    pub text_len: u32,
    pub visibility: Visibility,
    /// Per-post override of the actor's object type policy.
    pub object_type: Option<ObjectTypePolicy>,
    /// `draft = true` posts are never served.
    pub draft: bool,
    /// `sensitive`: media hidden by default.
    pub sensitive: bool,
    /// `pinned`: in the actor's featured collection.
    pub pinned: bool,
    /// `federate = false` keeps the post off the fediverse.
    pub federate: bool,
    /// The rarely set fields; `None` when every one is unset (see [`Post::more`]).
    pub more: Option<Box<More>>,
}

/// The fields of a [`Post`] that most posts leave unset, boxed together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct More {
    /// Set when `date` names a day without a time: when that day ends in the site's time zone.
    /// The post's `published` is then the moment masthead first published it if that falls on
    /// the day, else the day's start.
    pub day_end: Option<DateTime<Utc>>,
    /// `updated` or `lastmod`.
    pub updated: Option<DateTime<Utc>>,
    /// `summary` or `description`, plain text.
    pub summary: Option<String>,
    pub lang: Option<String>,
    /// `aliases`: old paths of this post on the brand's site.
    pub aliases: Vec<String>,
    /// `content_warning`: shown before the text, which is hidden behind it.
    pub content_warning: Option<String>,
    /// The fediverse URL this post answers.
    pub in_reply_to: Option<String>,
    /// Front matter `url` (static-site mode): absolute or a path on `html_base_url`.
    pub url: Option<String>,
    /// Images, in order (at most four).
    pub attachments: Vec<Attachment>,
    /// `@user@host` mentions found in the text, in order, without duplicates.
    pub mentions: Vec<Mention>,
}

/// What [`Post::more`] reads for a post that sets none of them.
static NO_MORE: More = More {
    day_end: None,
    updated: None,
    summary: None,
    lang: None,
    aliases: Vec::new(),
    content_warning: None,
    in_reply_to: None,
    url: None,
    attachments: Vec::new(),
    mentions: Vec::new(),
};

impl More {
    /// `self` boxed for a [`Post`], without spare capacity; `None` when nothing is set.
    pub fn boxed(mut self) -> Option<Box<More>> {
        if self == NO_MORE {
            return None;
        }
        for s in [
            &mut self.summary,
            &mut self.lang,
            &mut self.content_warning,
            &mut self.in_reply_to,
            &mut self.url,
        ]
        .into_iter()
        .flatten()
        {
            s.shrink_to_fit();
        }
        self.aliases.iter_mut().for_each(String::shrink_to_fit);
        self.aliases.shrink_to_fit();
        self.attachments.shrink_to_fit();
        self.mentions.shrink_to_fit();
        Some(Box::new(self))
    }
}

impl Post {
    /// A rendering's text length as [`Post::text_len`] holds it.
    pub fn text_len_of(chars: usize) -> u32 {
        u32::try_from(chars).unwrap_or(u32::MAX)
    }

    /// The rarely set fields (all unset when the post has none).
    pub fn more(&self) -> &More {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }

    /// The rarely set fields, to change; [`Post::tidy`] afterwards drops the box if they are
    /// all unset again.
    pub fn more_mut(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Drops [`Post::more`]'s box when it holds nothing, so equal posts compare equal.
    pub fn tidy(&mut self) {
        if let Some(more) = self.more.take() {
            self.more = More::boxed(*more);
        }
    }
}

/// A SHA-256, written and compared to the store as 64 lowercase hex digits. All zeros (the
/// default) stands for no hash, written as the empty string: a row older than source hashes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// 64 lowercase hex digits; the empty string for no hash.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        if *self == Hash::default() {
            return String::new();
        }
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
        out
    }

    /// The hash `hex` spells (64 hex digits, either case; the empty string for no hash);
    /// `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Hash> {
        let hex = hex.as_bytes();
        if hex.is_empty() {
            return Some(Hash::default());
        }
        if hex.len() != 64 {
            return None;
        }
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut out = [0; 32];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *o = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Hash(out))
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl PartialEq<str> for Hash {
    fn eq(&self, hex: &str) -> bool {
        Hash::from_hex(hex) == Some(*self)
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    /// 64 hex digits, or the empty string for no hash (a row older than source hashes).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let hex = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Hash::from_hex(&hex).ok_or_else(|| {
            serde::de::Error::custom(format!("not a SHA-256 in hex (64 digits): {hex:?}"))
        })
    }
}

impl Serialize for Post {
    /// Flat, one key per field, in the order a post's JSON always had.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let more = self.more();
        wire::PostOut {
            actor: &self.actor,
            slug: &self.slug,
            source: &self.source,
            hash: &self.hash,
            source_hash: &self.source_hash,
            title: self.title.as_deref(),
            date: &self.date,
            day_end: &more.day_end,
            updated: &more.updated,
            draft: self.draft,
            tags: &self.tags,
            summary: more.summary.as_deref(),
            lang: more.lang.as_deref(),
            aliases: &more.aliases,
            content_warning: more.content_warning.as_deref(),
            sensitive: self.sensitive,
            visibility: self.visibility,
            pinned: self.pinned,
            object_type: &self.object_type,
            federate: self.federate,
            in_reply_to: more.in_reply_to.as_deref(),
            url: more.url.as_deref(),
            page_path: &self.page_path,
            html: &self.html,
            text_len: self.text_len,
            attachments: &more.attachments,
            mentions: &more.mentions,
        }
        .serialize(s)
    }
}

/// A post's JSON, flat: what [`Post`] writes and reads.
mod wire {
    use super::*;

    #[derive(Serialize)]
    pub(super) struct PostOut<'a> {
        pub actor: &'a str,
        pub slug: &'a str,
        pub source: &'a Path,
        pub hash: &'a Hash,
        pub source_hash: &'a Hash,
        pub title: Option<&'a str>,
        pub date: &'a Option<DateTime<Utc>>,
        pub day_end: &'a Option<DateTime<Utc>>,
        pub updated: &'a Option<DateTime<Utc>>,
        pub draft: bool,
        pub tags: &'a [Box<str>],
        pub summary: Option<&'a str>,
        pub lang: Option<&'a str>,
        pub aliases: &'a [String],
        pub content_warning: Option<&'a str>,
        pub sensitive: bool,
        pub visibility: Visibility,
        pub pinned: bool,
        pub object_type: &'a Option<ObjectTypePolicy>,
        pub federate: bool,
        pub in_reply_to: Option<&'a str>,
        pub url: Option<&'a str>,
        pub page_path: &'a str,
        pub html: &'a str,
        pub text_len: u32,
        pub attachments: &'a [Attachment],
        pub mentions: &'a [Mention],
    }

    #[derive(Deserialize)]
    pub(super) struct PostIn {
        actor: Box<str>,
        slug: Box<str>,
        source: PathBuf,
        hash: Hash,
        #[serde(default)]
        source_hash: Hash,
        title: Option<Box<str>>,
        date: Option<DateTime<Utc>>,
        #[serde(default)]
        day_end: Option<DateTime<Utc>>,
        updated: Option<DateTime<Utc>>,
        draft: bool,
        tags: Box<[Box<str>]>,
        summary: Option<String>,
        lang: Option<String>,
        aliases: Vec<String>,
        content_warning: Option<String>,
        sensitive: bool,
        visibility: Visibility,
        pinned: bool,
        object_type: Option<ObjectTypePolicy>,
        federate: bool,
        in_reply_to: Option<String>,
        url: Option<String>,
        page_path: Box<str>,
        html: Box<str>,
        text_len: u32,
        attachments: Vec<Attachment>,
        mentions: Vec<Mention>,
    }

    impl From<PostIn> for Post {
        fn from(p: PostIn) -> Post {
            Post {
                actor: p.actor,
                slug: p.slug,
                source: p.source.into_boxed_path(),
                hash: p.hash,
                source_hash: p.source_hash,
                title: p.title,
                date: p.date,
                tags: p.tags,
                page_path: p.page_path,
                html: p.html,
                text_len: p.text_len,
                visibility: p.visibility,
                object_type: p.object_type,
                draft: p.draft,
                sensitive: p.sensitive,
                pinned: p.pinned,
                federate: p.federate,
                more: More {
                    day_end: p.day_end,
                    updated: p.updated,
                    summary: p.summary,
                    lang: p.lang,
                    aliases: p.aliases,
                    content_warning: p.content_warning,
                    in_reply_to: p.in_reply_to,
                    url: p.url,
                    attachments: p.attachments,
                    mentions: p.mentions,
                }
                .boxed(),
            }
        }
    }
}

/// An image that travels as an `attachment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Absolute URL.
    pub url: String,
    pub media_type: String,
    pub alt: String,
    /// Pixel width, when known.
    pub width: Option<u32>,
    /// Pixel height, when known.
    pub height: Option<u32>,
}

/// A mention of a remote account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// As written.
    pub user: String,
    /// Lowercased; with `:port` when the text gave one (`@ann@10.0.0.5:3000`).
    pub host: String,
}

/// Who a post is addressed to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, in public timelines.
    #[default]
    Public,
    /// Everyone, but not in public timelines.
    Unlisted,
    /// Followers only.
    Followers,
}

/// Everything found in the content folders of a site (or in the files of [`scan_paths`]).
#[derive(Debug, Default)]
pub struct Library {
    /// Every post that rendered, drafts included, sorted by actor then source path.
    pub posts: Vec<Post>,
    /// Problems found, errors (file skipped) and warnings (file served).
    pub diagnostics: Vec<Diagnostic>,
    /// Local files that may be served, by URL path below `/media/` (their path relative to the
    /// site root, `/`-separated) to the file on disk.
    pub media: BTreeMap<String, PathBuf>,
    /// The part of `media` that profiles (avatars, headers) brought.
    pub profile_media: BTreeMap<String, PathBuf>,
    /// The part of `media` each post file brought, by source (files that brought none are
    /// left out), so that a rescan of one file can replace what it brought.
    pub media_of: BTreeMap<PathBuf, Vec<(String, PathBuf)>>,
}

/// Profile text (Markdown from site.toml) as the HTML the fediverse keeps: the same renderer
/// and sanitizer as posts, with relative links resolved against the profile page.
pub fn render_profile_summary(
    urls: &crate::urls::Urls,
    site_root: &std::path::Path,
    markdown: &str,
    profile_url: &str,
) -> String {
    // Images in profile text are not attachments: nothing local is published from it.
    let media = MediaRules::nothing(site_root);
    let ctx = render::RenderContext {
        urls,
        media: &media,
        source: std::path::Path::new("site.toml"),
        body_line: 1,
        post_url: profile_url,
    };
    render::render(markdown, &ctx).html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_keep_a_post_small() {
        // A catalog holds one per post: 480 bytes before it was compacted (README, "Memory").
        assert!(
            std::mem::size_of::<Post>() <= 208,
            "{}",
            std::mem::size_of::<Post>()
        );
    }

    #[test]
    fn can_write_a_post_as_flat_json_and_read_it_back() {
        let mut post = test_support::post("news", "a");
        post.title = Some("Budget".into());
        post.more_mut().content_warning = Some("politics".into());
        let text = serde_json::to_string(&post).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut keys: Vec<(usize, &str)> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.as_str()))
            .collect();
        keys.sort();
        assert_eq!(
            keys.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
            [
                "actor",
                "slug",
                "source",
                "hash",
                "source_hash",
                "title",
                "date",
                "day_end",
                "updated",
                "draft",
                "tags",
                "summary",
                "lang",
                "aliases",
                "content_warning",
                "sensitive",
                "visibility",
                "pinned",
                "object_type",
                "federate",
                "in_reply_to",
                "url",
                "page_path",
                "html",
                "text_len",
                "attachments",
                "mentions"
            ]
        );
        assert_eq!(json["hash"], "01".repeat(32));
        assert_eq!(json["content_warning"], "politics");
        let back: Post = serde_json::from_value(json).unwrap();
        assert_eq!(back, post);
        // Nothing rare set: no box.
        let plain: Post =
            serde_json::from_value(serde_json::to_value(test_support::post("news", "b")).unwrap())
                .unwrap();
        assert!(plain.more.is_none());
    }

    #[test]
    fn can_read_and_write_no_hash_as_the_empty_string() {
        // A row older than source hashes: written back exactly as it was read.
        assert_eq!(Hash::from_hex(""), Some(Hash::default()));
        assert_eq!(Hash::default().to_hex(), "");
        assert_eq!(serde_json::to_string(&Hash::default()).unwrap(), "\"\"");
    }

    #[test]
    fn can_read_a_hash_in_hex_and_an_empty_one_as_zeros() {
        let hex = "00ff".repeat(16);
        let hash = Hash::from_hex(&hex).unwrap();
        assert_eq!(hash.to_hex(), hex);
        assert_eq!(Hash::from_hex(&hex.to_uppercase()), Some(hash));
        assert_eq!(hash, *hex.as_str());
        let read: Hash = serde_json::from_str("\"\"").unwrap();
        assert_eq!(read, Hash::default());
    }

    #[test]
    fn rejects_a_hash_that_is_not_64_hex_digits() {
        assert_eq!(Hash::from_hex("abc"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
        let err = serde_json::from_str::<Hash>("\"h\"").unwrap_err();
        assert!(err.to_string().contains("not a SHA-256 in hex"), "{err}");
    }
}
