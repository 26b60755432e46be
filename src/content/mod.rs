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
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ObjectTypePolicy;
use crate::diagnostics::Diagnostic;

/// One published (or publishable) post, rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// Handle of the actor that publishes it.
    pub actor: String,
    /// Stable id within the actor: front matter `slug`, else derived from the file path.
    pub slug: String,
    /// The Markdown file, relative to the site root.
    pub source: PathBuf,
    /// Hex SHA-256 over everything the rendering depends on; unchanged hash = nothing to redo.
    pub hash: String,
    /// Hex SHA-256 over the file's text with whitespace runs read as one space: changes only
    /// when the author changed the post (see [`source_hash`]). Set at every scan, also for a
    /// cached post.
    #[serde(default)]
    pub source_hash: String,
    pub title: Option<String>,
    /// `date`, in the site's time zone (the day's start for a day without a time); `None`
    /// means "first seen", which the store remembers.
    pub date: Option<DateTime<Utc>>,
    /// Set when `date` names a day without a time: when that day ends in the site's time zone.
    /// The post's `published` is then the moment masthead first published it if that falls on
    /// the day, else the day's start.
    #[serde(default)]
    pub day_end: Option<DateTime<Utc>>,
    /// `updated` or `lastmod`.
    pub updated: Option<DateTime<Utc>>,
    /// `draft = true` posts are never served.
    pub draft: bool,
    /// Hashtags without `#`: front matter tags first, then inline ones, first spelling kept.
    pub tags: Vec<String>,
    /// `summary` or `description`, plain text.
    pub summary: Option<String>,
    pub lang: Option<String>,
    /// `aliases`: old paths of this post on the brand's site.
    pub aliases: Vec<String>,
    /// `content_warning`: shown before the text, which is hidden behind it.
    pub content_warning: Option<String>,
    /// `sensitive`: media hidden by default.
    pub sensitive: bool,
    pub visibility: Visibility,
    /// `pinned`: in the actor's featured collection.
    pub pinned: bool,
    /// Per-post override of the actor's object type policy.
    pub object_type: Option<ObjectTypePolicy>,
    /// `federate = false` keeps the post off the fediverse.
    pub federate: bool,
    /// The fediverse URL this post answers.
    pub in_reply_to: Option<String>,
    /// Front matter `url` (static-site mode): absolute or a path on `html_base_url`.
    pub url: Option<String>,
    /// Path of the post on a static site, derived from the content path (`news/budget/`).
    pub page_path: String,
    /// Sanitized HTML with Mastodon's allowlist, absolute links, hashtag and mention links.
    /// Empty in a catalog built over a store on disk, which lets bodies go once stored: read a
    /// served post's body with `catalog::PostRecord::html`, never this field.
    pub html: String,
    /// Length in characters of the text (for the `auto` object type).
    pub text_len: usize,
    /// Images, in order (at most four).
    pub attachments: Vec<Attachment>,
    /// `@user@host` mentions found in the text, in order, without duplicates.
    pub mentions: Vec<Mention>,
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
