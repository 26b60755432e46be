//! The published state of the site: what the HTTP handlers serve, rebuilt from content + store.
//!
//! A [`Catalog`] is an immutable snapshot: the posts each actor serves (newest first), the local
//! media that may be served, the rendered profiles, and the problems found. Building one scans the
//! content folders (reusing stored renderings whose inputs did not change), then records the
//! result in the store, which reports what was created, changed or removed since the last build.
//! [`Catalog::build`] reads everything (start, site.toml changed); [`Catalog::build_changed_with`]
//! reads only the files below the paths the watcher found dirty and takes every other post from
//! the previous snapshot, so a save costs the same in a site of ten posts or ten thousand.
//! Each post carries the addressees its mentions and reply resolved to so far (`remote_refs`, filled
//! by `federation::addressing`), so what GET serves and what is delivered name the same people.
//! Over a store on disk a snapshot does not hold its posts' HTML: [`PostRecord::html`] reads a
//! served post's body back from the store's rendering of it ([`bodies`]).
//! A post whose file turns broken keeps its last good rendering: bad input never unpublishes.
//! A post whose file is gone stays served until its Delete is owed (the store's grace period, or
//! `masthead publish --confirm` for a mass removal).
//!
//! Time: a post dated in the future is scheduled, invisible until then ([`Catalog::next_scheduled`]
//! says when a rebuild must run, [`run_timer`] runs it); a date without a time means that day in
//! the site's time zone ([`published`]); a new post published before the push window is served
//! and in the outbox but not pushed (the store records it so).
//!
//! This module also owns what a post *is* before any protocol sees it: its object type, its
//! `published` time, the remote [`Ref`]s it names and a profile [`Image`]; federation turns these
//! into documents. It knows content and the store, nothing above them. Rebuilding a snapshot
//! while the server runs goes through one task ([`rebuild::Rebuilds`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use url::Url;

use crate::clock::Clock;
use crate::config::{host_with_port, Actor, ObjectTypePolicy, Site};
use crate::content::render::escape;
use crate::content::{self, Library, Place, Post, Visibility};
use crate::diagnostics::Diagnostic;
use crate::store::{
    Addressee, NewPost, PostChange, Scope, Store, StoreError, SyncPolicy, SyncReport,
};
use crate::urls::Urls;

use bodies::Bodies;
use outgoing::{Review, Unreviewed};

pub mod bodies;
pub mod outgoing;
pub mod rebuild;

/// Mastodon shows posts up to 500 characters; the `auto` policy makes longer titled posts Articles.
pub const AUTO_ARTICLE_MIN_CHARS: usize = 500;

/// How often [`run_timer`] looks at the store even when nothing is due sooner: a removal that
/// `masthead publish --confirm` (another process) made due is sent within this.
pub const TIMER_POLL: Duration = Duration::from_secs(5);

/// An image served from the site folder, as an actor's avatar or header.
#[derive(Clone, Debug)]
pub struct Image {
    /// Absolute URL.
    pub url: String,
    /// e.g. `image/png`.
    pub media_type: String,
}

/// A servable post with what the store remembers of it. The post is shared between snapshots:
/// an incremental build copies ten thousand records without copying a post.
#[derive(Clone, Debug)]
pub struct PostRecord {
    /// The post; read its HTML with [`PostRecord::html`], not `post.html`.
    pub post: Arc<Post>,
    /// When masthead first saw it (its `published` when it has no date).
    pub first_seen: DateTime<Utc>,
    /// The remote actors its mentions and `in_reply_to` resolved to, in order, each once: tagged,
    /// in `cc` and delivered to. Filled from `remote_refs` at each build.
    pub addressees: Vec<Addressee>,
    /// Set when `post.html` was let go, to be read back from the store ([`bodies`]); `None`
    /// holds it in `post.html`.
    pub bodies: Option<Arc<Bodies>>,
}

impl PostRecord {
    /// The post's sanitized HTML.
    pub fn html(&self) -> std::borrow::Cow<'_, str> {
        match &self.bodies {
            None => (&*self.post.html).into(),
            Some(bodies) => bodies.html(&self.post).to_string().into(),
        }
    }
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
    /// What the scan read, for the next [`Catalog::build_changed_with`].
    read: Read,
    /// The public posts by their URLs, made at the first [`Catalog::public_post_by_url`] of this
    /// snapshot.
    by_url: OnceLock<UrlIndex>,
    /// Where the posts' HTML is read back from; `None` (a store in memory) holds it.
    bodies: Option<Arc<Bodies>>,
}

/// Every URL naming a public post (its id, masthead's page, its public `url`), as its hash with
/// the post's place: the hashes sorted, 16 bytes a URL. A hit is checked against the post's
/// URLs, so two URLs with one hash cost a comparison, never a wrong post.
#[derive(Debug, Default)]
struct UrlIndex {
    handles: Vec<String>,
    /// (hash of a URL, index in `handles`, index in that actor's posts).
    entries: Vec<(u64, u32, u32)>,
}

fn url_hash(url: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    url.hash(&mut h);
    h.finish()
}

/// The URLs an inbox activity may name a post by: its id, masthead's page, its public `url`.
fn post_urls(urls: &Urls, handle: &str, post: &Post) -> [String; 3] {
    [
        urls.post(handle, &post.slug),
        urls.post_html(handle, &post.slug),
        urls.post_url(
            handle,
            &post.slug,
            &post.page_path,
            post.more().url.as_deref(),
        ),
    ]
}

/// What a build read besides the servable posts, kept so that the next incremental build can
/// replace the part of a few files.
#[derive(Clone, Debug, Default)]
struct Read {
    /// Avatars and headers (site.toml's, not a post's).
    profile_media: BTreeMap<String, PathBuf>,
    /// The media each post file brought, by source.
    media_of: BTreeMap<PathBuf, Vec<(String, PathBuf)>>,
    /// Posts read but not served (drafts, `federate = false`, scheduled), by actor and slug, to
    /// their file. With the store's served posts, they tell when a changed file claims a slug
    /// an unchanged one holds: which file wins depends on every file, so that takes a full read.
    unserved: HashMap<(String, String), PathBuf>,
    /// Posts dated in the future and never published, by source: when they go out.
    scheduled: BTreeMap<PathBuf, DateTime<Utc>>,
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

/// The stored rendering of a file, if its inputs still hash the same. The store keeps a
/// rendered post as opaque JSON; it is encoded and decoded here.
fn cache(store: &Store) -> impl Fn(&Path, &str) -> Option<Post> + '_ {
    |source: &Path, hash: &str| {
        let json = store.cached_post(source, hash)?;
        serde_json::from_str(&json).ok()
    }
}

/// Hands the heap pages freed so far back to the OS. glibc's malloc keeps freed memory for
/// reuse, and a full build frees the scan of every file and the decoding of every stored
/// rendering; about 1 MiB of a 10,000-post site's idle resident memory (the `memory` benchmark).
fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only walks the allocator's own free lists,
    // under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// True when `source` is `dirty` or below it.
fn under(source: &Path, dirty: &[PathBuf]) -> bool {
    dirty.iter().any(|d| source.starts_with(d))
}

impl Catalog {
    /// Scans all the content, records it in `store`, and returns the snapshot with what changed.
    pub fn build(
        site: &Site,
        urls: &Urls,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<(Catalog, SyncReport), StoreError> {
        Catalog::build_with(site, urls, store, now, &Unreviewed)
    }

    /// [`Catalog::build`] with every post read put through `review` first
    /// ([`outgoing`]).
    pub fn build_with(
        site: &Site,
        urls: &Urls,
        store: &Store,
        now: DateTime<Utc>,
        review: &dyn Review,
    ) -> Result<(Catalog, SyncReport), StoreError> {
        let library = content::scan(site, urls, &cache(store));
        let profile_media = library.profile_media.clone();
        let base = Catalog {
            read: Read {
                profile_media,
                ..Read::default()
            },
            bodies: store.renderings()?.map(|r| Arc::new(Bodies::new(r))),
            ..Catalog::default()
        };
        let built = assemble(site, urls, store, now, base, library, Scope::All, review)?;
        // A full build read every post (or its stored rendering) once: what it needed only
        // while building is garbage now, in SQLite's page caches and in the heap.
        store.release_memory()?;
        release_freed_heap();
        Ok(built)
    }

    /// Like [`Catalog::build_with`], reading only what is below the `changed` paths (absolute, or
    /// relative to the site root; a folder means everything below it) and taking every other
    /// post from `previous`; every post read is put through `review` first ([`Unreviewed`] for
    /// none). Scheduled posts whose time has come are read too. A changed path outside the
    /// content folders is ignored unless it is site.toml, a served media file or a folder
    /// holding a content folder, which make it a full build.
    pub fn build_changed_with(
        site: &Site,
        urls: &Urls,
        store: &Store,
        now: DateTime<Utc>,
        previous: &Catalog,
        changed: &BTreeSet<PathBuf>,
        review: &dyn Review,
    ) -> Result<(Catalog, SyncReport), StoreError> {
        let mut dirty: Vec<PathBuf> = Vec::new();
        let mut media_files: Option<Vec<PathBuf>> = None;
        for path in changed {
            match content::locate(site, path) {
                Place::Content(source) => dirty.push(source),
                Place::AboveContent => return Catalog::build_with(site, urls, store, now, review),
                Place::Elsewhere(canon) => {
                    let config = site.config_path.canonicalize().ok();
                    // Media are few next to posts: canonical paths only when something outside
                    // the content folders changed.
                    let media = media_files.get_or_insert_with(|| {
                        previous
                            .media
                            .values()
                            .filter_map(|f| f.canonicalize().ok())
                            .collect()
                    });
                    if config.as_ref() == Some(&canon)
                        || media.iter().any(|m| m.starts_with(&canon))
                    {
                        return Catalog::build_with(site, urls, store, now, review);
                    }
                }
            }
        }
        dirty.extend(
            previous
                .read
                .scheduled
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(source, _)| source.clone()),
        );
        dirty.sort();
        dirty.dedup();
        let library = content::scan_paths(site, urls, &dirty, &cache(store));
        let mut read = previous.read.clone();
        read.unserved.retain(|_, source| !under(source, &dirty));
        for post in &library.posts {
            let key = (post.actor.to_string(), post.slug.to_string());
            let other = match read.unserved.get(&key) {
                Some(source) => Some(source.clone()),
                None => store.live_source(&post.actor, &post.slug)?,
            };
            if other.is_some_and(|o| *o != *post.source && !under(&o, &dirty)) {
                return Catalog::build_with(site, urls, store, now, review);
            }
        }
        read.media_of.retain(|source, _| !under(source, &dirty));
        read.scheduled.retain(|source, _| !under(source, &dirty));
        let base = Catalog {
            posts: previous
                .posts
                .iter()
                .map(|(actor, list)| {
                    let kept = list
                        .iter()
                        .filter(|r| !under(&r.post.source, &dirty))
                        .cloned()
                        .collect();
                    (actor.clone(), kept)
                })
                .collect(),
            media: BTreeMap::new(),
            profiles: HashMap::new(),
            diagnostics: previous
                .diagnostics
                .iter()
                .filter(|d| !under(&d.file, &dirty))
                .cloned()
                .collect(),
            read,
            by_url: OnceLock::new(),
            bodies: previous.bodies.clone(),
        };
        assemble(
            site,
            urls,
            store,
            now,
            base,
            library,
            Scope::Sources(&dirty),
            review,
        )
    }

    /// The files of posts dated in the future, with when they go out.
    pub fn scheduled(&self) -> impl Iterator<Item = (&Path, DateTime<Utc>)> {
        self.read.scheduled.iter().map(|(s, t)| (s.as_path(), *t))
    }

    /// Every servable post of every actor.
    pub fn all_posts(&self) -> impl Iterator<Item = &PostRecord> {
        self.posts.values().flatten()
    }

    /// When the next scheduled post goes out: a rebuild must run then.
    pub fn next_scheduled(&self) -> Option<DateTime<Utc>> {
        self.read.scheduled.values().min().copied()
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
        self.public_posts_of(handle).find(|r| *r.post.slug == *slug)
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

    /// The public post whose id, page on masthead or public `url` is `url`, with its actor's
    /// handle: a look-up in an index of this snapshot (made at the first call), so an inbox
    /// asking about a post costs the same in a site of ten posts or ten thousand. `urls` must be
    /// the ones this snapshot was built with.
    pub fn public_post_by_url(&self, urls: &Urls, url: &str) -> Option<(&str, &PostRecord)> {
        let index = self.by_url.get_or_init(|| {
            let mut index = UrlIndex::default();
            for (h, (handle, list)) in self.posts.iter().enumerate() {
                index.handles.push(handle.clone());
                for (p, rec) in list.iter().enumerate() {
                    if rec.post.visibility == Visibility::Followers {
                        continue;
                    }
                    for u in post_urls(urls, handle, &rec.post) {
                        index.entries.push((url_hash(&u), h as u32, p as u32));
                    }
                }
            }
            index.entries.sort_unstable();
            index.entries.dedup();
            index.entries.shrink_to_fit();
            index
        });
        let hash = url_hash(url);
        let first = index.entries.partition_point(|e| e.0 < hash);
        index.entries[first..]
            .iter()
            .take_while(|e| e.0 == hash)
            .find_map(|&(_, h, p)| {
                let handle = index.handles[h as usize].as_str();
                let rec = self.posts_of(handle).get(p as usize)?;
                post_urls(urls, handle, &rec.post)
                    .iter()
                    .any(|u| u == url)
                    .then_some((handle, rec))
            })
    }
}

/// Finishes a build: `base` holds what is kept from before (posts, diagnostics, what was read),
/// `library` what was just read for `scope`. Records the new posts in the store, adds back what
/// it still serves (broken files, removals waiting for their Delete), and logs what followers
/// will not be sent at once. Every post read from its file goes through `review`.
#[allow(clippy::too_many_arguments)]
fn assemble(
    site: &Site,
    urls: &Urls,
    store: &Store,
    now: DateTime<Utc>,
    base: Catalog,
    library: Library,
    scope: Scope<'_>,
    review: &dyn Review,
) -> Result<(Catalog, SyncReport), StoreError> {
    let Catalog {
        posts: kept,
        mut diagnostics,
        mut read,
        bodies,
        ..
    } = base;
    let Library {
        posts: mut scanned,
        diagnostics: found,
        media_of,
        ..
    } = library;
    // A file with an error keeps the posts it had; never turn a typo into a Delete.
    let broken: BTreeSet<&Path> = {
        let fresh: HashSet<&Path> = scanned.iter().map(|p| &*p.source).collect();
        found
            .iter()
            .filter(|d| d.is_error() && !fresh.contains(d.file.as_path()))
            .map(|d| d.file.as_path())
            .collect()
    };
    for source in broken.iter().copied() {
        for json in store.last_renderings(source)? {
            let post: Post = serde_json::from_str(&json).map_err(|e| {
                store.corrupt(format!("rendered post of {}: {e}", source.display()))
            })?;
            tracing::warn!(source = %source.display(), slug = %post.slug, "serving the last good version of a broken post");
            scanned.push(post);
        }
    }
    read.media_of.extend(media_of);
    // The last good versions of broken files come from the store, reviewed already.
    let reviewed_before: HashSet<PathBuf> = if review.active() {
        broken.iter().map(|p| p.to_path_buf()).collect()
    } else {
        HashSet::new()
    };
    let mut held = Vec::new();
    let mut servable: Vec<(Post, &str)> = Vec::new();
    for post in scanned {
        let actor = site
            .actor(&post.actor)
            .filter(|_| !post.draft && post.federate);
        let Some(actor) = actor else {
            read.unserved.insert(
                (post.actor.to_string(), post.slug.to_string()),
                post.source.to_path_buf(),
            );
            continue;
        };
        if let Some(at) = post.date.filter(|at| *at > now) {
            // Scheduled, unless it went out already (its date moved later since).
            if !store.is_published(&post.actor, &post.slug)? {
                tracing::info!(actor = %post.actor, slug = %post.slug, at = %at, "scheduled");
                let due = read
                    .scheduled
                    .entry(post.source.to_path_buf())
                    .or_insert(at);
                *due = (*due).min(at);
                read.unserved.insert(
                    (post.actor.to_string(), post.slug.to_string()),
                    post.source.to_path_buf(),
                );
                continue;
            }
        }
        let post = if review.active() && !reviewed_before.contains(&*post.source) {
            let (actor, slug, source) = (
                post.actor.to_string(),
                post.slug.to_string(),
                post.source.to_path_buf(),
            );
            let out = outgoing::review(site, urls, store, review, post)?;
            held.extend(out.held);
            if let Some(media) = out.media {
                read.media_of.remove(&source);
                if !media.is_empty() {
                    read.media_of.insert(source.clone(), media);
                }
            }
            match out.post {
                Some(post) => post,
                None => {
                    read.unserved.insert((actor, slug), source);
                    continue;
                }
            }
        } else {
            post
        };
        let kind = object_type(actor, &post);
        servable.push((post, kind));
    }
    // The store asks for a rendering only for the rows it writes: a restart over unchanged
    // content encodes nothing.
    let encoders: Vec<Encoder<'_>> = servable.iter().map(|(post, _)| Encoder(post)).collect();
    let hashes: Vec<[String; 2]> = servable
        .iter()
        .map(|(post, _)| [post.hash.to_hex(), post.source_hash.to_hex()])
        .collect();
    let rows: Vec<NewPost<'_>> = servable
        .iter()
        .zip(&encoders)
        .zip(&hashes)
        .map(|(((post, kind), encoder), [hash, source_hash])| NewPost {
            actor: &post.actor,
            slug: &post.slug,
            source: &post.source,
            hash,
            source_hash,
            rendered: encoder,
            object_type: kind,
            published: published_at(post, now),
        })
        .collect();
    let policy = SyncPolicy {
        now,
        push_after: now - delta(site.push_window),
        delete_grace: delta(site.delete_grace),
        mass_delete_threshold: site.mass_delete_threshold,
    };
    let report = store.sync_posts(&rows, scope, &policy)?;
    store.sync_held_posts(scope, &held, now.timestamp_millis())?;
    log_report(site, &report);
    drop(rows);
    drop(encoders);
    drop(hashes);
    // The store holds every servable post's rendering now: a catalog over a store on disk lets
    // go of their bodies.
    let record = |mut post: Post, first_seen| {
        if bodies.is_some() {
            post.html = Box::default();
        }
        PostRecord {
            post: Arc::new(post),
            first_seen,
            addressees: Vec::new(),
            bodies: bodies.clone(),
        }
    };
    let mut fresh: Vec<PostRecord> = servable
        .into_iter()
        .zip(&report.records)
        .map(|((post, _), row)| record(post, row.first_seen))
        .collect();
    // The kept lists are in order already: what is gone leaves them, what is new is put in.
    let mut by_actor: HashMap<String, Vec<PostRecord>> = kept;
    let removed: HashSet<(&str, &str)> = report
        .changes
        .iter()
        .filter_map(|c| match c {
            PostChange::Removed { actor, slug, .. } => Some((actor.as_str(), slug.as_str())),
            _ => None,
        })
        .collect();
    if !removed.is_empty() {
        for list in by_actor.values_mut() {
            list.retain(|r| !removed.contains(&(&*r.post.actor, &*r.post.slug)));
        }
    }
    // Posts whose file is gone stay served until their Delete goes out.
    let rows = store.missing_posts()?;
    if !rows.is_empty() {
        let mut back: Vec<PostRecord> = Vec::new();
        let present: HashSet<(&str, &str)> = by_actor
            .values()
            .flatten()
            .chain(&fresh)
            .map(|r| (&*r.post.actor, &*r.post.slug))
            .collect();
        for (json, first_seen) in rows {
            let post: Post = serde_json::from_str(&json)
                .map_err(|e| store.corrupt(format!("rendered post: {e}")))?;
            if site.actor(&post.actor).is_some() && !present.contains(&(&*post.actor, &*post.slug))
            {
                back.push(record(post, first_seen));
            }
        }
        fresh.extend(back);
    }
    // Read once per build, so GET of a post and the activity delivering it name the same
    // people: whatever resolved by now (federation::addressing fills the table).
    let resolved = store.resolved_refs()?;
    for record in by_actor.values_mut().flatten().chain(fresh.iter_mut()) {
        record.addressees = addressees(site, &record.post, &resolved);
    }
    let mut new_of: HashMap<String, Vec<PostRecord>> = HashMap::new();
    for record in fresh {
        match new_of.get_mut(&*record.post.actor) {
            Some(list) => list.push(record),
            None => {
                new_of.insert(record.post.actor.to_string(), vec![record]);
            }
        }
    }
    for (actor, new) in new_of {
        let list = by_actor.entry(actor).or_default();
        if new.len() > list.len() / 8 {
            list.extend(new);
            list.sort_by(newest_first);
        } else {
            for record in new {
                let at = list.partition_point(|r| newest_first(r, &record).is_lt());
                list.insert(at, record);
            }
        }
    }
    let profiles = site
        .actors
        .iter()
        .map(|a| (a.handle.clone(), profile(site, urls, a)))
        .collect();
    let mut media = read.profile_media.clone();
    for list in read.media_of.values() {
        media.extend(list.iter().cloned());
    }
    diagnostics.extend(found);
    let catalog = Catalog {
        posts: by_actor,
        media,
        profiles,
        diagnostics,
        read,
        by_url: OnceLock::new(),
        bodies,
    };
    Ok((catalog, report))
}

/// The order of an actor's posts: newest first, then by slug.
fn newest_first(a: &PostRecord, b: &PostRecord) -> std::cmp::Ordering {
    published(b)
        .cmp(&published(a))
        .then_with(|| a.post.slug.cmp(&b.post.slug))
}

/// Encodes a post as the JSON the store keeps, when the store asks for it.
struct Encoder<'a>(&'a Post);

impl crate::store::Rendering for Encoder<'_> {
    fn render(&self) -> Result<String, String> {
        serde_json::to_string(self.0)
            .map_err(|e| format!("cannot encode post {}/{}: {e}", self.0.actor, self.0.slug))
    }
}

/// What followers will not be sent at once, said in the log with what to do about it.
fn log_report(site: &Site, report: &SyncReport) {
    let names = |posts: &[(String, String)]| {
        let mut shown: Vec<String> = posts
            .iter()
            .take(5)
            .map(|(a, s)| format!("{a}/{s}"))
            .collect();
        if posts.len() > 5 {
            shown.push(format!("and {} more", posts.len() - 5));
        }
        shown.join(", ")
    };
    if !report.quiet.is_empty() {
        tracing::warn!(
            count = report.quiet.len(),
            posts = %names(&report.quiet),
            push_window_hours = site.push_window.as_secs() / 3600,
            "new posts dated before the push window are in the outbox but not pushed to followers (give a post a later `date`, or raise push_window_hours under [site])"
        );
    }
    if !report.held.is_empty() {
        tracing::warn!(
            count = report.held.len(),
            posts = %names(&report.held),
            "MASS REMOVAL HELD: these posts' files are gone; they stay served and no Delete is sent until you run `masthead publish --confirm` (or restore the files, e.g. switch the branch back)"
        );
    } else if !report.missing.is_empty() {
        tracing::info!(
            count = report.missing.len(),
            posts = %names(&report.missing),
            grace_secs = site.delete_grace.as_secs(),
            "post files gone: served until their Delete goes out after the grace period, unless they come back"
        );
    }
    if !report.restored.is_empty() {
        tracing::info!(posts = %names(&report.restored), "post files back before their Delete went out: nothing sent");
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Asks `rebuilds` for a rebuild whenever a scheduled post's time comes or a removal's Delete is
/// due, by `clock`, until `shutdown` turns true. The due times live in the snapshot and in the
/// store, so they hold across restarts; the store is looked at every [`TIMER_POLL`] at least.
pub async fn run_timer(
    catalog: SharedCatalog,
    store: Arc<Store>,
    clock: Clock,
    rebuilds: rebuild::Rebuilds,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = clock.now_ms();
        let removal = store.next_removal_due().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read when the next removal is due");
            None
        });
        let next = catalog
            .current()
            .next_scheduled()
            .map(|t| t.timestamp_millis())
            .into_iter()
            .chain(removal)
            .min();
        let mut wait = TIMER_POLL;
        if let Some(next) = next {
            if next <= now {
                if let Err(e) = rebuilds.request().await {
                    tracing::warn!(error = %e, "scheduled rebuild failed");
                }
                // A due time that the rebuild did not clear (it failed) is tried again later,
                // not in a loop.
                if catalog
                    .current()
                    .next_scheduled()
                    .map(|t| t.timestamp_millis())
                    != Some(next)
                    && store.next_removal_due().ok().flatten() != Some(next)
                {
                    continue;
                }
            } else {
                wait = wait.min(Duration::from_millis((next - now) as u64));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// `Note` or `Article` for a post, from its own `object_type` or else its actor's policy.
pub fn object_type(actor: &Actor, post: &Post) -> &'static str {
    match post.object_type.unwrap_or(actor.object_type) {
        ObjectTypePolicy::Note => "Note",
        ObjectTypePolicy::Article => "Article",
        ObjectTypePolicy::Auto
            if post.title.is_some() && post.text_len as usize > AUTO_ARTICLE_MIN_CHARS =>
        {
            "Article"
        }
        ObjectTypePolicy::Auto => "Note",
    }
}

/// `published` of a post: its date, or when masthead first saw it. For a date without a time
/// (a day), the moment masthead first published it when that falls on the day, else the day's
/// start (an old post imported, or one scheduled for that day).
pub fn published(record: &PostRecord) -> DateTime<Utc> {
    published_at(&record.post, record.first_seen)
}

/// `published` of `post` if masthead first saw it at `first_seen`.
pub fn published_at(post: &Post, first_seen: DateTime<Utc>) -> DateTime<Utc> {
    match (post.date, post.more().day_end) {
        (Some(start), Some(end)) if start <= first_seen && first_seen < end => first_seen,
        (Some(date), _) => date,
        (None, _) => first_seen,
    }
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
    for m in &post.more().mentions {
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
    if let Some(url) = &post.more().in_reply_to {
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
    if post.more().mentions.is_empty() && post.more().in_reply_to.is_none() {
        return out;
    }
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
    use chrono::TimeZone;

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
        post.more_mut().mentions = vec![
            m("ann", "m.example"),
            m("desk", "city.example"),
            m("desk", "s.example"),
            m("Ann", "M.example"),
        ];
        post.more_mut().in_reply_to = Some("https://m.example/@ann/1".into());
        let keys: Vec<String> = refs(&site, &post).iter().map(Ref::key).collect();
        assert_eq!(keys, ["acct:ann@m.example", "https://m.example/@ann/1"]);
        post.more_mut().in_reply_to = Some("https://s.example/users/news/posts/b".into());
        assert_eq!(refs(&site, &post).len(), 1);

        // Both refs name ann: she is addressed once.
        post.more_mut().in_reply_to = Some("https://m.example/@ann/1".into());
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

    /// A site with `news` posts a, b and c in a temp folder, and its store.
    fn live_site() -> (tempfile::TempDir, Site, Store) {
        let dir = tempfile::tempdir().unwrap();
        let news = dir.path().join("content/news");
        std::fs::create_dir_all(news.join("2026")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        std::fs::write(dir.path().join("site.toml"), text).unwrap();
        for (file, body) in [("a.md", "A"), ("b.md", "B"), ("2026/c.md", "C")] {
            std::fs::write(
                news.join(file),
                format!("+++\ndate = 2026-11-20T09:00:00Z\n+++\n{body}\n"),
            )
            .unwrap();
        }
        let site = Site::load(&dir.path().join("site.toml")).unwrap().site;
        (dir, site, Store::open_in_memory().unwrap())
    }

    /// 2026-11-21 at `h` o'clock (UTC): the live site's clock.
    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0).unwrap()
    }

    /// [`live_site`] with its URLs and its first full build, at 01:00.
    fn live_site_built() -> (tempfile::TempDir, Site, Store, Urls, Catalog) {
        let (dir, site, store) = live_site();
        let urls = Urls::new(&site);
        let (first, _) = Catalog::build(&site, &urls, &store, at(1)).unwrap();
        (dir, site, store, urls, first)
    }

    /// The posts of `news` in the order served, with their HTML.
    fn slugs(catalog: &Catalog) -> Vec<(String, String)> {
        catalog
            .posts_of("news")
            .iter()
            .map(|r| (r.post.slug.to_string(), r.html().into_owned()))
            .collect()
    }

    #[test]
    fn can_find_each_of_many_public_posts_by_any_of_its_urls() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\nhtml_base_url = \"https://www.s.example\"\n\n[[actor]]\nhandle = \"news\"\n\n[[actor]]\nhandle = \"desk\"\n";
        std::fs::write(dir.path().join("site.toml"), text).unwrap();
        for handle in ["news", "desk"] {
            let folder = dir.path().join("content").join(handle);
            std::fs::create_dir_all(&folder).unwrap();
            for n in 0..1500 {
                let extra = match n % 500 {
                    7 => "visibility = \"followers\"\n".to_string(),
                    8 => format!("url = \"https://elsewhere.example/{handle}/{n}\"\n"),
                    _ => String::new(),
                };
                std::fs::write(
                    folder.join(format!("p{n}.md")),
                    format!("+++\ndate = 2026-11-20T09:00:00Z\n{extra}+++\n{n}\n"),
                )
                .unwrap();
            }
        }
        let site = Site::load(&dir.path().join("site.toml")).unwrap().site;
        let store = Store::open_in_memory().unwrap();
        let urls = Urls::new(&site);
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let (catalog, _) = Catalog::build(&site, &urls, &store, now).unwrap();
        assert_eq!(catalog.public_post_count(), 2 * (1500 - 3));
        let found = |url: &str| {
            catalog
                .public_post_by_url(&urls, url)
                .map(|(h, r)| format!("{h}/{}", r.post.slug))
        };
        for handle in ["news", "desk"] {
            for n in (0..1500).filter(|n| n % 500 != 7) {
                let slug = format!("p{n}");
                let want = Some(format!("{handle}/{slug}"));
                let rec = catalog.public_post(handle, &slug).unwrap();
                let [id, page, url] = post_urls(&urls, handle, &rec.post);
                assert_eq!(found(&id), want, "{id}");
                assert_eq!(found(&page), want, "{page}");
                assert_eq!(found(&url), want, "{url}");
            }
        }
        assert_eq!(
            found("https://elsewhere.example/desk/508"),
            Some("desk/p508".into())
        );
        assert_eq!(
            found("https://www.s.example/news/p9/"),
            Some("news/p9".into())
        );
        // Followers-only posts, unknown slugs and other hosts are not found.
        assert_eq!(found("https://s.example/users/news/posts/p7"), None);
        assert_eq!(found("https://s.example/users/news/posts/p1500"), None);
        assert_eq!(found("https://s.example/users/news/posts/p1/"), None);
        assert_eq!(found("https://t.example/users/news/posts/p1"), None);
        assert_eq!(found(""), None);
    }

    #[test]
    fn can_build_only_what_changed_and_serve_what_a_full_build_serves() {
        let (dir, site, store, urls, first) = live_site_built();
        let news = dir.path().join("content/news");
        std::fs::write(
            news.join("a.md"),
            "+++\ndate = 2026-11-20T09:00:00Z\n+++\nA, edited\n",
        )
        .unwrap();
        std::fs::write(
            news.join("d.md"),
            "+++\ndate = 2026-11-21T01:30:00Z\n+++\nD\n",
        )
        .unwrap();
        std::fs::write(news.join(".d.md.swp"), "not a post").unwrap();
        // c.md breaks, but it is not among the changed paths: it is not read again.
        std::fs::write(news.join("2026/c.md"), "no front matter").unwrap();
        let changed: BTreeSet<PathBuf> = [
            news.join("a.md"),
            news.join("d.md"),
            news.join(".d.md.swp"),
            dir.path().join("README.md"),
        ]
        .into();
        let (second, report) =
            Catalog::build_changed_with(&site, &urls, &store, at(2), &first, &changed, &Unreviewed)
                .unwrap();
        assert_eq!(
            report.changes,
            vec![
                PostChange::updated("news", "a"),
                PostChange::created("news", "d"),
            ]
        );
        assert_eq!(
            report.records.len(),
            2,
            "only the changed files were synced"
        );
        assert!(second.diagnostics.is_empty(), "{:?}", second.diagnostics);
        let served = slugs(&second);
        assert_eq!(
            served.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
            ["d", "a", "b", "c"]
        );
        // Once c.md is fixed, a full build serves exactly what the incremental one did.
        std::fs::write(
            news.join("2026/c.md"),
            "+++\ndate = 2026-11-20T09:00:00Z\n+++\nC\n",
        )
        .unwrap();
        let (full, report) = Catalog::build(&site, &urls, &store, at(2)).unwrap();
        assert!(report.changes.is_empty(), "{:?}", report.changes);
        assert_eq!(slugs(&full), served);

        // A folder removed: everything below it goes missing (served during the grace period).
        std::fs::remove_dir_all(news.join("2026")).unwrap();
        let changed: BTreeSet<PathBuf> = [news.join("2026")].into();
        let (third, report) =
            Catalog::build_changed_with(&site, &urls, &store, at(3), &full, &changed, &Unreviewed)
                .unwrap();
        assert_eq!(report.missing, vec![("news".to_string(), "c".to_string())]);
        assert!(third.public_post("news", "c").is_some());
        // After the grace period any build (nothing changed) makes it final.
        let later = at(3) + TimeDelta::seconds(60);
        let (fourth, report) = Catalog::build_changed_with(
            &site,
            &urls,
            &store,
            later,
            &third,
            &BTreeSet::new(),
            &Unreviewed,
        )
        .unwrap();
        assert_eq!(report.changes.len(), 1);
        assert!(fourth.public_post("news", "c").is_none());
        assert_eq!(fourth.posts_of("news").len(), 3);
    }

    #[test]
    fn can_serve_bodies_read_back_from_a_store_on_disk_as_a_store_in_memory_holds_them() {
        let (dir, site, memory) = live_site();
        let disk = Store::open(&dir.path().join("data")).unwrap();
        let urls = Urls::new(&site);
        let t = at(1);
        let (held, _) = Catalog::build(&site, &urls, &memory, t).unwrap();
        let (read_back, _) = Catalog::build(&site, &urls, &disk, t).unwrap();
        assert!(held.all_posts().all(|r| r.bodies.is_none()));
        assert!(read_back
            .all_posts()
            .all(|r| r.bodies.is_some() && r.post.html.is_empty()));
        assert_eq!(slugs(&read_back), slugs(&held));
        assert_eq!(slugs(&read_back)[0], ("a".into(), "<p>A</p>".into()));

        // A restart (every post from the render cache) and an edit serve the new body; the
        // posts kept from before still read theirs.
        let (restart, _) = Catalog::build(&site, &urls, &disk, t).unwrap();
        assert_eq!(slugs(&restart), slugs(&held));
        let a = dir.path().join("content/news/a.md");
        std::fs::write(&a, "+++\ndate = 2026-11-20T09:00:00Z\n+++\nA, edited\n").unwrap();
        let changed: BTreeSet<PathBuf> = [a].into();
        let (edited, _) =
            Catalog::build_changed_with(&site, &urls, &disk, t, &restart, &changed, &Unreviewed)
                .unwrap();
        let bodies: Vec<String> = slugs(&edited).into_iter().map(|(_, html)| html).collect();
        assert_eq!(bodies, ["<p>A, edited</p>", "<p>B</p>", "<p>C</p>"]);
        // Read twice, a body comes from the recent ones the second time: the same text.
        assert_eq!(slugs(&edited), slugs(&edited));
    }

    #[test]
    fn can_settle_a_slug_claimed_by_a_changed_file_as_a_full_build_does() {
        let (dir, site, store, urls, first) = live_site_built();
        // e.md claims b.md's slug: b.md sorts first, so it keeps it, as a full scan decides.
        let e = dir.path().join("content/news/e.md");
        std::fs::write(
            &e,
            "+++\nslug = \"b\"\ndate = 2026-11-21T01:00:00Z\n+++\nE\n",
        )
        .unwrap();
        let changed: BTreeSet<PathBuf> = [e].into();
        let (second, report) =
            Catalog::build_changed_with(&site, &urls, &store, at(2), &first, &changed, &Unreviewed)
                .unwrap();
        assert!(report.changes.is_empty(), "{:?}", report.changes);
        let b = second.public_post("news", "b").unwrap();
        assert_eq!(&*b.post.source, Path::new("content/news/b.md"));
        let warned: Vec<String> = second.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].starts_with("content/news/e.md:1: slug \"b\""),
            "{warned:?}"
        );
    }

    #[test]
    fn can_schedule_a_future_post_and_publish_it_when_its_time_comes() {
        let (dir, site, store, urls, first) = live_site_built();
        let later = dir.path().join("content/news/later.md");
        std::fs::write(&later, "+++\ndate = 2026-11-21T12:00:00Z\n+++\nAt noon.\n").unwrap();
        let changed: BTreeSet<PathBuf> = [later].into();
        let (second, report) =
            Catalog::build_changed_with(&site, &urls, &store, at(2), &first, &changed, &Unreviewed)
                .unwrap();
        assert!(report.changes.is_empty());
        assert!(second.public_post("news", "later").is_none());
        assert_eq!(second.next_scheduled(), Some(at(12)));
        // Noon: a rebuild with nothing changed reads it and publishes it.
        let (third, report) = Catalog::build_changed_with(
            &site,
            &urls,
            &store,
            at(12),
            &second,
            &BTreeSet::new(),
            &Unreviewed,
        )
        .unwrap();
        assert_eq!(report.changes, vec![PostChange::created("news", "later")]);
        assert!(third.public_post("news", "later").is_some());
        assert_eq!(third.next_scheduled(), None);
    }

    #[test]
    fn can_give_a_day_its_first_publication_time_or_else_its_start() {
        let mut post = crate::content::test_support::post("news", "a");
        let day = |h: u32| Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap();
        post.date = Some(day(0));
        post.more_mut().day_end = Some(day(0) + TimeDelta::days(1));
        assert_eq!(published_at(&post, day(15)), day(15));
        assert_eq!(published_at(&post, day(0) + TimeDelta::days(3)), day(0));
        assert_eq!(published_at(&post, day(0) - TimeDelta::hours(5)), day(0));
        post.more_mut().day_end = None;
        assert_eq!(published_at(&post, day(15)), day(0));
        post.date = None;
        assert_eq!(published_at(&post, day(15)), day(15));
    }
}
