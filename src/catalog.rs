//! The published state of the site: what the HTTP handlers serve, rebuilt from content + store.
//!
//! A [`Catalog`] is an immutable snapshot: the posts each actor serves (newest first), the local
//! media that may be served, the rendered profiles, and the problems found. Building one scans the
//! content folders (reusing stored renderings whose inputs did not change), then records the
//! result in the store, which reports what was created, changed or removed since the last build.
//! Each post carries the addressees its mentions and reply resolved to so far (`remote_refs`, filled
//! by `federation::addressing`), so what GET serves and what is delivered name the same people.
//! A post whose file turns broken keeps its last good rendering: bad input never unpublishes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::config::{Actor, Site};
use crate::content::{self, Post, Visibility};
use crate::diagnostics::Diagnostic;
use crate::federation::addressing;
use crate::federation::objects::{self, escape, Image};
use crate::store::{Addressee, NewPost, Store, StoreError, SyncReport};
use crate::urls::Urls;

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
            let kind = objects::object_type(actor, &post);
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
            let addressees = addressing::addressees(site, &post, &resolved);
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
                objects::published(b)
                    .cmp(&objects::published(a))
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
        out.sort_by_key(|r| std::cmp::Reverse(objects::published(r)));
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
