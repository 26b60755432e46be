//! The published state of the site: what the HTTP handlers serve, rebuilt from content + store.
//!
//! A [`Catalog`] is an immutable snapshot: the posts each actor serves (newest first), the local
//! media that may be served, the rendered profiles, and the problems found. Building one scans the
//! content folders (reusing stored renderings whose inputs did not change), then records the
//! result in the store, which reports what was created, changed or removed since the last build.
//! Each post carries the addressees its mentions and reply resolved to so far (`remote_refs`, filled
//! by `federation::addressing`), so what GET serves and what is delivered name the same people.
//! A post whose file turns broken keeps its last good rendering: bad input never unpublishes.
//!
//! This module also owns what a post *is* before any protocol sees it: its object type, its
//! `published` time, the remote [`Ref`]s it names and a profile [`Image`]; federation turns these
//! into documents. It knows content and the store, nothing above them. Rebuilding a snapshot
//! while the server runs goes through one task ([`rebuild::Rebuilds`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use url::Url;

use crate::config::{host_with_port, Actor, ObjectTypePolicy, Site};
use crate::content::render::escape;
use crate::content::{self, Post, Visibility};
use crate::diagnostics::Diagnostic;
use crate::store::{Addressee, NewPost, Store, StoreError, SyncReport};
use crate::urls::Urls;

pub mod rebuild;

/// Mastodon shows posts up to 500 characters; the `auto` policy makes longer titled posts Articles.
pub const AUTO_ARTICLE_MIN_CHARS: usize = 500;

/// An image served from the site folder, as an actor's avatar or header.
#[derive(Clone, Debug)]
pub struct Image {
    /// Absolute URL.
    pub url: String,
    /// e.g. `image/png`.
    pub media_type: String,
}

/// A servable post with what the store remembers of it.
#[derive(Clone, Debug)]
pub struct PostRecord {
    pub post: Post,
    /// When masthead first saw it (its `published` when it has no date).
    pub first_seen: DateTime<Utc>,
    /// The remote actors its mentions and `in_reply_to` resolved to, in order, each once: tagged,
    /// in `cc` and delivered to. Filled from `remote_refs` at each build.
    pub addressees: Vec<Addressee>,
}

/// A rendered profile.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Summary as sanitized HTML.
    pub summary_html: String,
    /// Fields (name, value HTML).
    pub fields_html: Vec<(String, String)>,
    /// Avatar.
    pub icon: Option<Image>,
    /// Header.
    pub image: Option<Image>,
}

/// One snapshot of everything served.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Servable posts of each actor, newest first (drafts and `federate = false` left out).
    posts: HashMap<String, Vec<PostRecord>>,
    /// Local files that may be served, by path below `/media/`.
    pub media: BTreeMap<String, PathBuf>,
    /// Rendered profiles by handle.
    pub profiles: HashMap<String, Profile>,
    /// Problems found while building.
    pub diagnostics: Vec<Diagnostic>,
}

/// The current snapshot, shared by every reader; a rebuild swaps in a new one whole, so a reader
/// never sees half a build.
#[derive(Clone, Debug, Default)]
pub struct SharedCatalog(Arc<RwLock<Arc<Catalog>>>);

impl SharedCatalog {
    /// Shares `catalog` as the current snapshot.
    pub fn new(catalog: Catalog) -> SharedCatalog {
        SharedCatalog(Arc::new(RwLock::new(Arc::new(catalog))))
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Catalog> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes `catalog` the current snapshot.
    pub fn replace(&self, catalog: Catalog) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
    }
}

impl Catalog {
    /// Scans the content, records it in `store`, and returns the snapshot with what changed.
    pub fn build(
        site: &Site,
        urls: &Urls,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<(Catalog, SyncReport), StoreError> {
        // The store keeps a rendered post as opaque JSON; it is encoded and decoded here.
        let library = content::scan(site, urls, &|source: &Path, hash: &str| {
            let json = store.cached_post(source, hash)?;
            serde_json::from_str(&json).ok()
        });
        let mut posts: Vec<Post> = library.posts;
        // A file with an error keeps the posts it had; never turn a typo into a Delete.
        let fresh: HashSet<PathBuf> = posts.iter().map(|p| p.source.clone()).collect();
        let broken: HashSet<&Path> = library
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && !fresh.contains(&d.file))
            .map(|d| d.file.as_path())
            .collect();
        for source in broken {
            for json in store.last_renderings(source)? {
                let post: Post = serde_json::from_str(&json).map_err(|e| {
                    store.corrupt(format!("rendered post of {}: {e}", source.display()))
                })?;
                tracing::warn!(source = %source.display(), slug = %post.slug, "serving the last good version of a broken post");
                posts.push(post);
            }
        }
        let mut servable: Vec<(Post, &str, String)> = Vec::new();
        for post in posts.into_iter().filter(|p| !p.draft && p.federate) {
            let Some(actor) = site.actor(&post.actor) else {
                continue;
            };
            let kind = object_type(actor, &post);
            let rendered = serde_json::to_string(&post).map_err(|e| {
                store.corrupt(format!(
                    "cannot encode post {}/{}: {e}",
                    post.actor, post.slug
                ))
            })?;
            servable.push((post, kind, rendered));
        }
        let rows: Vec<NewPost<'_>> = servable
            .iter()
            .map(|(post, kind, rendered)| NewPost {
                actor: &post.actor,
                slug: &post.slug,
                source: &post.source,
                hash: &post.hash,
                rendered,
                object_type: kind,
            })
            .collect();
        let report = store.sync_posts(&rows, now)?;
        // Read once per build, so GET of a post and the activity delivering it name the same
        // people: whatever resolved by now (federation::addressing fills the table).
        let resolved = store.resolved_refs()?;
        let mut by_actor: HashMap<String, Vec<PostRecord>> = HashMap::new();
        for ((post, _, _), row) in servable.into_iter().zip(&report.records) {
            let addressees = addressees(site, &post, &resolved);
            by_actor
                .entry(post.actor.clone())
                .or_default()
                .push(PostRecord {
                    post,
                    first_seen: row.first_seen,
                    addressees,
                });
        }
        for list in by_actor.values_mut() {
            list.sort_by(|a, b| {
                published(b)
                    .cmp(&published(a))
                    .then_with(|| a.post.slug.cmp(&b.post.slug))
            });
        }
        let profiles = site
            .actors
            .iter()
            .map(|a| (a.handle.clone(), profile(site, urls, a)))
            .collect();
        let catalog = Catalog {
            posts: by_actor,
            media: library.media,
            profiles,
            diagnostics: library.diagnostics,
        };
        Ok((catalog, report))
    }

    /// Every servable post of `handle`, newest first, whatever its visibility.
    pub fn posts_of(&self, handle: &str) -> &[PostRecord] {
        self.posts
            .get(handle)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Posts of `handle` anyone may read (public and unlisted), newest first.
    pub fn public_posts_of(&self, handle: &str) -> impl Iterator<Item = &PostRecord> {
        self.posts_of(handle)
            .iter()
            .filter(|r| r.post.visibility != Visibility::Followers)
    }

    /// A post anyone may read.
    pub fn public_post(&self, handle: &str, slug: &str) -> Option<&PostRecord> {
        self.public_posts_of(handle).find(|r| r.post.slug == slug)
    }

    /// Public posts of every actor carrying `tag` (case-insensitive), newest first.
    pub fn tagged(&self, tag: &str) -> Vec<&PostRecord> {
        let mut out: Vec<&PostRecord> =
            self.posts
                .values()
                .flatten()
                .filter(|r| r.post.visibility != Visibility::Followers)
                .filter(|r| {
                    r.post.tags.iter().any(|t| {
                        t.eq_ignore_ascii_case(tag) || t.to_lowercase() == tag.to_lowercase()
                    })
                })
                .collect();
        out.sort_by_key(|r| std::cmp::Reverse(published(r)));
        out
    }

    /// Number of public posts of all actors.
    pub fn public_post_count(&self) -> usize {
        self.posts
            .keys()
            .map(|h| self.public_posts_of(h).count())
            .sum()
    }
}

/// `Note` or `Article` for a post, from its own `object_type` or else its actor's policy.
pub fn object_type(actor: &Actor, post: &Post) -> &'static str {
    match post.object_type.unwrap_or(actor.object_type) {
        ObjectTypePolicy::Note => "Note",
        ObjectTypePolicy::Article => "Article",
        ObjectTypePolicy::Auto
            if post.title.is_some() && post.text_len > AUTO_ARTICLE_MIN_CHARS =>
        {
            "Article"
        }
        ObjectTypePolicy::Auto => "Note",
    }
}

/// `published` of a post: its date, or when masthead first saw it.
pub fn published(record: &PostRecord) -> DateTime<Utc> {
    record.post.date.unwrap_or(record.first_seen)
}

/// Something remote a post names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ref {
    /// `@user@host` in the text.
    Mention {
        /// The user part, as written.
        user: String,
        /// The host (with a port, if written), lowercase.
        host: String,
    },
    /// The `in_reply_to` URL: its author is addressed.
    Reply(String),
}

impl Ref {
    /// The `remote_refs` key: `acct:user@host` (lowercase, as servers treat handles) or the URL.
    pub fn key(&self) -> String {
        match self {
            Ref::Mention { user, host } => {
                format!("acct:{}@{}", user.to_lowercase(), host.to_lowercase())
            }
            Ref::Reply(url) => url.clone(),
        }
    }
}

/// What `post` names that is not on our own host, mentions first, each once.
pub fn refs(site: &Site, post: &Post) -> Vec<Ref> {
    let own_host = host_with_port(&site.base_url).to_lowercase();
    let own_domain = site.domain.to_lowercase();
    let mut out: Vec<Ref> = Vec::new();
    for m in &post.mentions {
        let host = m.host.to_lowercase();
        if host == own_host || host == own_domain {
            continue;
        }
        let r = Ref::Mention {
            user: m.user.clone(),
            host,
        };
        if !out.iter().any(|x| x.key() == r.key()) {
            out.push(r);
        }
    }
    if let Some(url) = &post.in_reply_to {
        let host = Url::parse(url)
            .ok()
            .filter(|u| u.host_str().is_some())
            .map(|u| host_with_port(&u).to_ascii_lowercase());
        if host.is_some_and(|a| a != own_host) {
            out.push(Ref::Reply(url.clone()));
        }
    }
    out
}

/// The addressees of `post` among the `resolved` refs, in the order of [`refs`], each actor once.
pub fn addressees(
    site: &Site,
    post: &Post,
    resolved: &HashMap<String, Addressee>,
) -> Vec<Addressee> {
    let mut out: Vec<Addressee> = Vec::new();
    for r in refs(site, post) {
        if let Some(a) = resolved.get(&r.key()) {
            if !out.iter().any(|x| x.actor_id == a.actor_id) {
                out.push(a.clone());
            }
        }
    }
    out
}

/// The media type of an image file, by extension.
pub fn image_media_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn profile(site: &Site, urls: &Urls, actor: &Actor) -> Profile {
    let image = |p: &Option<PathBuf>| {
        p.as_ref().map(|p| Image {
            url: urls.media(&slash_path(p)),
            media_type: image_media_type(p).to_string(),
        })
    };
    Profile {
        summary_html: content::render_profile_summary(
            urls,
            &site.root,
            &actor.summary,
            &urls.actor_html(&actor.handle),
        ),
        fields_html: actor
            .fields
            .iter()
            .map(|f| (f.name.clone(), field_value_html(&f.value)))
            .collect(),
        icon: image(&actor.avatar),
        image: image(&actor.header),
    }
}

/// A field value as HTML: an http(s) URL becomes a `rel="me"` link (Mastodon verifies it by
/// looking for a link back to the actor's `url` on that page), anything else is text.
pub fn field_value_html(value: &str) -> String {
    let v = value.trim();
    if (v.starts_with("https://") || v.starts_with("http://")) && !v.contains(char::is_whitespace) {
        let shown = v
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        format!(
            "<a href=\"{}\" rel=\"me nofollow noopener\" target=\"_blank\">{}</a>",
            escape(v),
            escape(shown)
        )
    } else {
        escape(v)
    }
}

/// A relative path with `/` separators.
pub fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_list_what_a_post_names_but_our_own_host() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("content/news")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\ndomain = \"city.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        let site = Site::parse(&dir.path().join("site.toml"), text)
            .unwrap()
            .site;
        let mut post = crate::content::test_support::post("news", "a");
        let m = |user: &str, host: &str| crate::content::Mention {
            user: user.into(),
            host: host.into(),
        };
        post.mentions = vec![
            m("ann", "m.example"),
            m("desk", "city.example"),
            m("desk", "s.example"),
            m("Ann", "M.example"),
        ];
        post.in_reply_to = Some("https://m.example/@ann/1".into());
        let keys: Vec<String> = refs(&site, &post).iter().map(Ref::key).collect();
        assert_eq!(keys, ["acct:ann@m.example", "https://m.example/@ann/1"]);
        post.in_reply_to = Some("https://s.example/users/news/posts/b".into());
        assert_eq!(refs(&site, &post).len(), 1);

        // Both refs name ann: she is addressed once.
        post.in_reply_to = Some("https://m.example/@ann/1".into());
        let ann = Addressee {
            actor_id: "https://m.example/users/ann".into(),
            inbox: "https://m.example/inbox".into(),
            name: "@ann@m.example".into(),
        };
        let resolved: HashMap<String, Addressee> = [
            ("acct:ann@m.example".to_string(), ann.clone()),
            ("https://m.example/@ann/1".to_string(), ann.clone()),
        ]
        .into();
        assert_eq!(addressees(&site, &post, &resolved), vec![ann]);
    }

    #[test]
    fn can_key_mentions_and_replies() {
        let m = Ref::Mention {
            user: "Ann".into(),
            host: "M.example:8080".into(),
        };
        assert_eq!(m.key(), "acct:ann@m.example:8080");
        let r = Ref::Reply("https://m.example/@ann/1".into());
        assert_eq!(r.key(), "https://m.example/@ann/1");
    }
}
