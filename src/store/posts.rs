//! `posts`: the index of every post ever published, so that restarts re-render nothing that did
//! not change, dateless posts keep the time they were first seen, and removed posts answer 410.
//!
//! A post's rendering is kept as the opaque string the caller gives (the catalog stores
//! `content::Post` as JSON); the store never looks inside it. Two hashes are kept per post: the
//! render cache key (`hash`, which changes when masthead renders differently) decides whether a
//! stored rendering can be reused; the source hash decides whether followers get an Update, so
//! an upgrade of masthead never sends anything by itself.
//!
//! A removal is not final at once, because a Delete is final on every receiving server: a post
//! whose file is gone is marked missing and stays served; its Delete is owed only when the grace
//! period has passed ([`SyncPolicy::delete_grace`]), and not at all if the file comes back. When
//! one sync finds more removals than [`SyncPolicy::mass_delete_threshold`] (a branch switch, a
//! botched `git pull`), they are held until the operator confirms them
//! ([`Store::confirm_held_removals`]). The due times are rows, so they survive restarts.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use rusqlite::Connection;

use super::{execute, query_all, query_opt, sqlite, Store, StoreError};

/// A post's rendering as the caller encodes it, produced only when the store writes the row.
pub trait Rendering {
    /// The opaque string kept, or why it cannot be made.
    fn render(&self) -> Result<String, String>;
}

impl Rendering for &str {
    fn render(&self) -> Result<String, String> {
        Ok(self.to_string())
    }
}

impl Rendering for String {
    fn render(&self) -> Result<String, String> {
        Ok(self.clone())
    }
}

/// A servable post to record.
#[derive(Clone, Copy)]
pub struct NewPost<'a> {
    pub actor: &'a str,
    pub slug: &'a str,
    /// The file it was rendered from.
    pub source: &'a Path,
    /// The render cache key: the hash of everything its rendering depends on.
    pub hash: &'a str,
    /// The hash of its source alone (front matter and body): a change sends an Update.
    pub source_hash: &'a str,
    /// The rendering, returned as is by [`Store::cached_post`] and [`Store::last_renderings`];
    /// asked for only when the row is written.
    pub rendered: &'a dyn Rendering,
    /// `Note` or `Article`, remembered for the tombstone.
    pub object_type: &'a str,
    /// Its `published` time if it is first seen now; a new post published before
    /// [`SyncPolicy::push_after`] is recorded without being pushed to followers.
    pub published: DateTime<Utc>,
}

/// Which posts a sync looked at: the rest are left as they are.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every post: one missing from the sync is gone.
    All,
    /// Only the posts of these sources (relative to the site root as [`NewPost::source`]); a
    /// folder stands for everything below it.
    Sources(&'a [PathBuf]),
}

/// The rules a sync records changes by.
#[derive(Clone, Copy, Debug)]
pub struct SyncPolicy {
    /// The time of the sync.
    pub now: DateTime<Utc>,
    /// A new post published before this is served and listed in the outbox, but not pushed.
    pub push_after: DateTime<Utc>,
    /// How long a removed post stays served before its Delete is owed.
    pub delete_grace: TimeDelta,
    /// More removals than this waiting at once are held for confirmation.
    pub mass_delete_threshold: usize,
}

impl SyncPolicy {
    /// Everything pushed, removals final at once, nothing held.
    pub fn immediate(now: DateTime<Utc>) -> SyncPolicy {
        SyncPolicy {
            now,
            push_after: DateTime::<Utc>::MIN_UTC,
            delete_grace: TimeDelta::zero(),
            mass_delete_threshold: usize::MAX,
        }
    }
}

/// A post recorded by [`Store::sync_posts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRow {
    pub actor: String,
    pub slug: String,
    /// When masthead first saw it (its `published` when it has no date).
    pub first_seen: DateTime<Utc>,
}

/// What a sync found changed since the last one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostChange {
    /// First seen, or back after being removed.
    Created { actor: String, slug: String },
    /// Its source changed.
    Updated { actor: String, slug: String },
    /// Was published, is gone (file removed, made a draft, or `federate = false`) and its grace
    /// period is over: it is a tombstone now.
    Removed {
        actor: String,
        slug: String,
        /// `Note` or `Article`.
        former_type: String,
    },
}

#[cfg(test)]
impl PostChange {
    /// `Created` of `actor`/`slug`, as tests expect it.
    pub(crate) fn created(actor: &str, slug: &str) -> PostChange {
        PostChange::Created {
            actor: actor.into(),
            slug: slug.into(),
        }
    }

    /// `Updated` of `actor`/`slug`, as tests expect it.
    pub(crate) fn updated(actor: &str, slug: &str) -> PostChange {
        PostChange::Updated {
            actor: actor.into(),
            slug: slug.into(),
        }
    }
}

/// The outcome of [`Store::sync_posts`].
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Every post given, with first-seen times, in the order given.
    pub records: Vec<PostRow>,
    pub changes: Vec<PostChange>,
    /// Actors that had no post rows at all before this sync (their first scan).
    pub first_scan: Vec<String>,
    /// New posts published before the push window: served and in the outbox, not pushed.
    pub quiet: Vec<(String, String)>,
    /// Posts found gone by this sync, still served while their Delete waits.
    pub missing: Vec<(String, String)>,
    /// Removals held by this sync for `masthead publish --confirm` (a mass removal).
    pub held: Vec<(String, String)>,
    /// Missing posts whose file came back: served on, nothing sent.
    pub restored: Vec<(String, String)>,
}

/// A post that was published and is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// `Note` or `Article`.
    pub former_type: String,
    /// When masthead noticed it was gone.
    pub deleted: DateTime<Utc>,
}

/// A published post whose file is gone and whose Delete has not been owed yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRemoval {
    pub actor: String,
    pub slug: String,
    /// The file that is gone.
    pub source: PathBuf,
    /// When masthead found it gone (unix ms).
    pub missing_since: i64,
    /// When its Delete is owed (unix ms); `None` while held for `masthead publish --confirm`.
    pub due_at: Option<i64>,
}

impl HeldRemoval {
    /// Held for confirmation, not just waiting out its grace period.
    pub fn is_held(&self) -> bool {
        self.due_at.is_none()
    }
}

/// The columns of [`Known`], in its order.
const KNOWN: &str = "hash, source_hash, source, first_seen, deleted_at IS NOT NULL,
                     missing_since IS NOT NULL";

/// Reads a [`Known`] from the columns [`KNOWN`] starting at `at`.
fn known(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Known> {
    Ok(Known {
        hash: r.get(at)?,
        source_hash: r.get(at + 1)?,
        source: r.get(at + 2)?,
        first_seen: r.get(at + 3)?,
        deleted: r.get(at + 4)?,
        missing: r.get(at + 5)?,
    })
}

/// An existing row, as [`Store::sync_posts`] compares it.
struct Known {
    hash: String,
    source_hash: String,
    source: String,
    first_seen: String,
    deleted: bool,
    missing: bool,
}

/// A connection of its own that reads served posts' renderings back while the server runs
/// (the catalog keeps the small fields of 10,000 posts in memory and reads a post's body when
/// it is served); read-only, with a small page cache, and never waiting on the writer (WAL).
pub struct Renderings {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Its page cache, in KiB: one read touches a few pages of the `posts` table's B-tree.
const RENDERINGS_CACHE_KIB: i64 = 256;

impl Renderings {
    /// The render cache key and the rendering of the live or missing post `actor`/`slug`, as
    /// [`Store::sync_posts`] last wrote them.
    pub fn rendered(
        &self,
        actor: &str,
        slug: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        query_opt(
            &conn,
            "SELECT hash, rendered FROM posts
             WHERE actor = ?1 AND slug = ?2 AND deleted_at IS NULL",
            (actor, slug),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sqlite(&self.path))
    }
}

impl std::fmt::Debug for Renderings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderings")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The Markdown file (relative to the site root) of the post `actor`/`slug`, if it is known.
    pub fn post_source(&self, actor: &str, slug: &str) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "SELECT source FROM posts WHERE actor = ?1 AND slug = ?2",
            (actor, slug),
            |r| r.get(0),
        )
    }

    /// A [`Renderings`] reader of this database; `None` for a store in memory, which no other
    /// connection can open (its caller keeps the renderings itself).
    pub fn renderings(&self) -> Result<Option<Renderings>, StoreError> {
        if self.path == Path::new(":memory:") {
            return Ok(None);
        }
        let err = sqlite(&self.path);
        let conn = Connection::open(&self.path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(&err)?;
        conn.pragma_update(None, "query_only", "ON").map_err(&err)?;
        conn.pragma_update(None, "cache_size", -RENDERINGS_CACHE_KIB)
            .map_err(&err)?;
        Ok(Some(Renderings {
            conn: Mutex::new(conn),
            path: self.path.clone(),
        }))
    }

    /// The stored rendering of `source` if its inputs still hash to `hash`. A failed read is a
    /// miss: the post is rendered again.
    pub fn cached_post(&self, source: &Path, hash: &str) -> Option<String> {
        self.query_opt(
            "SELECT rendered FROM posts WHERE source = ?1 AND hash = ?2",
            (source.to_string_lossy(), hash),
            |r| r.get(0),
        )
        .ok()
        .flatten()
    }

    /// The last good rendering of every live post from `source`, whatever the file holds now.
    /// Used when a published post's file turns broken: the post stays served as it was.
    pub fn last_renderings(&self, source: &Path) -> Result<Vec<String>, StoreError> {
        self.query_all(
            "SELECT rendered FROM posts WHERE source = ?1 AND deleted_at IS NULL",
            [source.to_string_lossy()],
            |r| r.get(0),
        )
    }

    /// The rendering and first-seen time of every post whose file is gone but whose Delete has
    /// not been owed yet: they stay served meanwhile.
    pub fn missing_posts(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        // No ORDER BY: sorting would tempt SQLite to walk the whole table in key order
        // instead of the few rows of the partial index.
        let rows: Vec<(String, String)> = self.query_all(
            "SELECT rendered, first_seen FROM posts
             WHERE missing_since IS NOT NULL AND deleted_at IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        rows.into_iter()
            .map(|(rendered, seen)| Ok((rendered, self.parse_time(&seen)?)))
            .collect()
    }

    /// The file `actor`'s post `slug` is served from, when it is published.
    pub fn live_source(&self, actor: &str, slug: &str) -> Result<Option<PathBuf>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT source FROM posts WHERE actor = ?1 AND slug = ?2 AND deleted_at IS NULL",
                (actor, slug),
                |r| r.get::<_, String>(0),
            )?
            .map(PathBuf::from))
    }

    /// The stored rendering, render cache key and source hash of `actor`'s post `slug` when it
    /// is published: the version followers have.
    pub fn published_post(
        &self,
        actor: &str,
        slug: &str,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        self.query_opt(
            "SELECT rendered, hash, source_hash FROM posts
             WHERE actor = ?1 AND slug = ?2 AND deleted_at IS NULL",
            (actor, slug),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// True when `actor`'s post `slug` is published (served, not a tombstone).
    pub fn is_published(&self, actor: &str, slug: &str) -> Result<bool, StoreError> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM posts WHERE actor = ?1 AND slug = ?2 AND deleted_at IS NULL",
                (actor, slug),
                |_| Ok(()),
            )?
            .is_some())
    }

    /// True when `actor`'s post `slug` was ever recorded, or when `actor` has no post at all
    /// yet (its first scan pushes nothing): a post for which this is false is new to followers.
    pub fn knows_post(&self, actor: &str, slug: &str) -> Result<bool, StoreError> {
        Ok(self
            .query_opt(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM posts WHERE actor = ?1 AND slug = ?2)
                    OR NOT EXISTS (SELECT 1 FROM posts WHERE actor = ?1)",
                (actor, slug),
                |_| Ok(()),
            )?
            .is_some())
    }

    /// Every removal waiting for its Delete (held ones, then by due time): what
    /// `masthead status` and `masthead publish` show.
    pub fn held_removals(&self) -> Result<Vec<HeldRemoval>, StoreError> {
        let mut out: Vec<HeldRemoval> = self.query_all(
            "SELECT actor, slug, source, missing_since, delete_due_at FROM posts
             WHERE missing_since IS NOT NULL AND deleted_at IS NULL",
            [],
            |r| {
                Ok(HeldRemoval {
                    actor: r.get(0)?,
                    slug: r.get(1)?,
                    source: PathBuf::from(r.get::<_, String>(2)?),
                    missing_since: r.get(3)?,
                    due_at: r.get(4)?,
                })
            },
        )?;
        out.sort_by(|a, b| {
            (a.due_at.is_some(), a.due_at, &a.actor, &a.slug).cmp(&(
                b.due_at.is_some(),
                b.due_at,
                &b.actor,
                &b.slug,
            ))
        });
        Ok(out)
    }

    /// Makes every held removal due at `now_ms`: the next build sends their Deletes. Returns
    /// how many there were.
    pub fn confirm_held_removals(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE posts SET delete_due_at = ?1
             WHERE missing_since IS NOT NULL AND delete_due_at IS NULL AND deleted_at IS NULL",
            [now_ms],
        )
    }

    /// The earliest time (unix ms) a waiting removal is owed its Delete, held ones aside.
    pub fn next_removal_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT MIN(delete_due_at) FROM posts WHERE missing_since IS NOT NULL",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )?
            .flatten())
    }

    /// Records the servable `posts` found in `scope`, all in one transaction: new rows get a
    /// first-seen time of `now`, changed ones are updated (an Update is owed only when the
    /// source changed), and published posts of the scope missing from `posts` start waiting for
    /// their Delete (see the module doc); removals whose wait is over become tombstones. What
    /// followers are owed for each change is recorded in the same transaction.
    pub fn sync_posts(
        &self,
        posts: &[NewPost<'_>],
        scope: Scope<'_>,
        policy: &SyncPolicy,
    ) -> Result<SyncReport, StoreError> {
        let now = policy.now;
        self.transaction(|tx| {
            let mut report = SyncReport::default();
            let mut actors: Vec<&str> = posts.iter().map(|p| p.actor).collect();
            actors.sort_unstable();
            actors.dedup();
            for actor in actors {
                let known = query_opt(tx, "SELECT 1 FROM posts WHERE actor = ?1", [actor], |_| {
                    Ok(())
                })
                .map_err(self.err())?;
                if known.is_none() {
                    report.first_scan.push(actor.to_string());
                }
            }
            // A whole-site sync reads every row at once; a few changed files look theirs up.
            let mut all: Option<HashMap<(String, String), Known>> = match scope {
                Scope::All => Some(
                    query_all(
                        tx,
                        &format!("SELECT actor, slug, {KNOWN} FROM posts"),
                        [],
                        |r| Ok(((r.get(0)?, r.get(1)?), known(r, 2)?)),
                    )
                    .map_err(self.err())?,
                ),
                Scope::Sources(_) => None,
            };
            let mut quiet: HashSet<(String, String)> = HashSet::new();
            for post in posts {
                let existing = match &mut all {
                    Some(all) => all.remove(&(post.actor.to_string(), post.slug.to_string())),
                    None => query_opt(
                        tx,
                        &format!("SELECT {KNOWN} FROM posts WHERE actor = ?1 AND slug = ?2"),
                        (post.actor, post.slug),
                        |r| known(r, 0),
                    )
                    .map_err(self.err())?,
                };
                let (first_seen, new) = self.sync_post(tx, post, existing, now, &mut report)?;
                if new && post.published < policy.push_after {
                    quiet.insert((post.actor.to_string(), post.slug.to_string()));
                }
                report.records.push(PostRow {
                    actor: post.actor.to_string(),
                    slug: post.slug.to_string(),
                    first_seen,
                });
            }
            self.mark_missing(tx, posts, scope, policy, &mut report)?;
            let gone: Vec<(String, String, String)> = query_all(
                tx,
                "UPDATE posts SET deleted_at = ?1, missing_since = NULL, delete_due_at = NULL
                 WHERE missing_since IS NOT NULL AND delete_due_at <= ?2
                 RETURNING actor, slug, object_type",
                (now.to_rfc3339(), now.timestamp_millis()),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())?;
            let mut gone = gone;
            gone.sort();
            for (actor, slug, former_type) in gone {
                report.changes.push(PostChange::Removed {
                    actor,
                    slug,
                    former_type,
                });
            }
            report.quiet = report
                .changes
                .iter()
                .filter_map(|c| match c {
                    PostChange::Created { actor, slug }
                        if quiet.contains(&(actor.clone(), slug.clone())) =>
                    {
                        Some((actor.clone(), slug.clone()))
                    }
                    _ => None,
                })
                .collect();
            self.owe_publications(tx, &report, now)?;
            Ok(report)
        })
    }

    /// Inserts or updates the row of `post`, noting a change in `report`; returns its
    /// first-seen time and whether the row is new.
    fn sync_post(
        &self,
        tx: &rusqlite::Transaction<'_>,
        post: &NewPost<'_>,
        existing: Option<Known>,
        now: DateTime<Utc>,
        report: &mut SyncReport,
    ) -> Result<(DateTime<Utc>, bool), StoreError> {
        let (actor, slug) = (post.actor.to_string(), post.slug.to_string());
        let source = post.source.to_string_lossy();
        let (change, write, first_seen, new) = match &existing {
            None => (Some(PostChange::Created { actor, slug }), true, now, true),
            Some(known) => {
                let change = if known.deleted {
                    Some(PostChange::Created { actor, slug })
                } else if !known.source_hash.is_empty() && known.source_hash != post.source_hash {
                    Some(PostChange::Updated { actor, slug })
                } else {
                    None
                };
                // A new rendering of the same source (masthead renders differently, the file
                // moved, or the row predates source hashes) is kept without telling anyone.
                let write = change.is_some()
                    || known.hash != post.hash
                    || known.source_hash != post.source_hash
                    || known.source != source;
                (change, write, self.parse_time(&known.first_seen)?, false)
            }
        };
        if existing.as_ref().is_some_and(|k| k.missing && !k.deleted) {
            // The file is back before its Delete went out: nothing is sent about it.
            execute(
                tx,
                "UPDATE posts SET missing_since = NULL, delete_due_at = NULL
                 WHERE actor = ?1 AND slug = ?2",
                (post.actor, post.slug),
            )
            .map_err(self.err())?;
            report
                .restored
                .push((post.actor.to_string(), post.slug.to_string()));
        }
        if write {
            let rendered = post.rendered.render().map_err(|e| self.corrupt(e))?;
            // A new row is first seen now; a known one keeps its first-seen time.
            execute(
                tx,
                "INSERT INTO posts (actor, slug, source, hash, source_hash, rendered, object_type,
                                    first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (actor, slug) DO UPDATE SET source = excluded.source,
                   hash = excluded.hash, source_hash = excluded.source_hash,
                   rendered = excluded.rendered, object_type = excluded.object_type,
                   deleted_at = NULL, missing_since = NULL, delete_due_at = NULL",
                (
                    post.actor,
                    post.slug,
                    &source,
                    post.hash,
                    post.source_hash,
                    rendered,
                    post.object_type,
                    now.to_rfc3339(),
                ),
            )
            .map_err(self.err())?;
        }
        if let Some(change) = change {
            report.changes.push(change);
        }
        Ok((first_seen, new))
    }

    /// Marks the published posts of `scope` that are not in `posts` as missing: due after the
    /// grace period, or held (with every removal still waiting) when there are too many at once.
    fn mark_missing(
        &self,
        tx: &rusqlite::Transaction<'_>,
        posts: &[NewPost<'_>],
        scope: Scope<'_>,
        policy: &SyncPolicy,
        report: &mut SyncReport,
    ) -> Result<(), StoreError> {
        const LIVE: &str = "SELECT actor, slug FROM posts
                            WHERE deleted_at IS NULL AND missing_since IS NULL";
        let live = || -> rusqlite::Result<Vec<(String, String)>> {
            let Scope::Sources(paths) = scope else {
                return query_all(tx, LIVE, [], |r| Ok((r.get(0)?, r.get(1)?)));
            };
            {
                let mut out = Vec::new();
                for path in paths {
                    let path = path.to_string_lossy();
                    // The file itself, or anything below the folder of that name: the range
                    // from `dir/` up to `dir0` ('0' follows '/'), which the index on source serves.
                    let rows: Vec<(String, String)> = query_all(
                        tx,
                        &format!(
                            "{LIVE} AND (source = ?1 OR (source >= ?1 || '/' AND source < ?1 || '0'))"
                        ),
                        [path.trim_end_matches('/')],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    out.extend(rows);
                }
                out.sort();
                out.dedup();
                Ok(out)
            }
        };
        let live = live().map_err(self.err())?;
        let present: HashSet<(&str, &str)> = posts.iter().map(|p| (p.actor, p.slug)).collect();
        let gone: Vec<(String, String)> = live
            .into_iter()
            .filter(|(a, s)| !present.contains(&(a.as_str(), s.as_str())))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let now_ms = policy.now.timestamp_millis();
        let waiting: usize = query_opt(
            tx,
            "SELECT COUNT(*) FROM posts
             WHERE missing_since IS NOT NULL AND delete_due_at > ?1 AND deleted_at IS NULL",
            [now_ms],
            |r| r.get::<_, i64>(0),
        )
        .map_err(self.err())?
        .unwrap_or(0) as usize;
        let hold = gone.len() + waiting > policy.mass_delete_threshold;
        let due = (!hold).then(|| (policy.now + policy.delete_grace).timestamp_millis());
        for (actor, slug) in &gone {
            execute(
                tx,
                "UPDATE posts SET missing_since = ?3, delete_due_at = ?4
                 WHERE actor = ?1 AND slug = ?2",
                (actor, slug, now_ms, due),
            )
            .map_err(self.err())?;
        }
        if hold {
            // The removals already waiting out their grace period are part of the same batch.
            let more: Vec<(String, String)> = query_all(
                tx,
                "UPDATE posts SET delete_due_at = NULL
                 WHERE missing_since IS NOT NULL AND delete_due_at > ?1 AND deleted_at IS NULL
                 RETURNING actor, slug",
                [now_ms],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
            report.held.extend(gone.iter().cloned().chain(more));
            report.held.sort();
        }
        report.missing = gone;
        Ok(())
    }

    /// Records what followers are owed for `report`'s changes, in the sync's transaction: a crash
    /// after this commit and before the activities are queued still leaves the publications to
    /// make at the next start. First scans owe nothing (the back catalogue is not pushed), and
    /// neither do new posts older than the push window (`report.quiet`).
    fn owe_publications(
        &self,
        tx: &rusqlite::Transaction<'_>,
        report: &SyncReport,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for change in &report.changes {
            let (actor, slug, kind) = match change {
                PostChange::Created { actor, slug } => (actor, slug, "create"),
                PostChange::Updated { actor, slug } => (actor, slug, "update"),
                PostChange::Removed { actor, slug, .. } => (actor, slug, "delete"),
            };
            if report.first_scan.contains(actor)
                || report.quiet.iter().any(|(a, s)| a == actor && s == slug)
            {
                continue;
            }
            // A Delete makes a waiting Create or Update moot; a post back after a removal
            // makes the waiting Delete moot.
            let moot = match kind {
                "delete" => "change IN ('create', 'update')",
                "create" => "change = 'delete'",
                _ => "0",
            };
            execute(
                tx,
                &format!(
                    "DELETE FROM pending_publications WHERE actor = ?1 AND slug = ?2 AND {moot}"
                ),
                (actor, slug),
            )
            .map_err(self.err())?;
            execute(
                tx,
                "INSERT OR IGNORE INTO pending_publications (actor, slug, change, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                (actor, slug, kind, now.timestamp_millis()),
            )
            .map_err(self.err())?;
        }
        Ok(())
    }

    /// The tombstone of a post that was published and is gone.
    pub fn tombstone(&self, actor: &str, slug: &str) -> Result<Option<Tombstone>, StoreError> {
        let row: Option<(String, Option<String>)> = self.query_opt(
            "SELECT object_type, deleted_at FROM posts WHERE actor = ?1 AND slug = ?2",
            (actor, slug),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        match row {
            Some((former_type, Some(deleted))) => Ok(Some(Tombstone {
                former_type,
                deleted: self.parse_time(&deleted)?,
            })),
            _ => Ok(None),
        }
    }

    fn parse_time(&self, s: &str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(format!("time {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::PendingChange;
    use super::*;

    use chrono::TimeZone;

    /// A post of `news` from `news/{slug}.md`, rendered as `rendered-{hash}`.
    #[derive(Clone)]
    struct P {
        slug: &'static str,
        hash: &'static str,
        source_hash: &'static str,
        source: PathBuf,
        rendered: String,
    }

    fn post(slug: &'static str, hash: &'static str) -> P {
        P {
            slug,
            hash,
            source_hash: hash,
            source: PathBuf::from(format!("news/{slug}.md")),
            rendered: format!("rendered-{hash}"),
        }
    }

    fn rows<'a>(posts: &'a [(P, &'a str)]) -> Vec<NewPost<'a>> {
        posts
            .iter()
            .map(|(p, object_type)| NewPost {
                actor: "news",
                slug: p.slug,
                source: &p.source,
                hash: p.hash,
                source_hash: p.source_hash,
                rendered: &p.rendered,
                object_type,
                published: t(1),
            })
            .collect()
    }

    fn sync(store: &Store, posts: &[(P, &str)], now: DateTime<Utc>) -> SyncReport {
        store
            .sync_posts(&rows(posts), Scope::All, &SyncPolicy::immediate(now))
            .unwrap()
    }

    /// A sync by `policy`: removals wait 60 s, more than 2 at once are held.
    fn policy(now: DateTime<Utc>) -> SyncPolicy {
        SyncPolicy {
            now,
            push_after: DateTime::<Utc>::MIN_UTC,
            delete_grace: TimeDelta::seconds(60),
            mass_delete_threshold: 2,
        }
    }

    fn key(slug: &str) -> (String, String) {
        ("news".to_string(), slug.to_string())
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn can_keep_first_seen_times_across_syncs() {
        let store = Store::open_in_memory().unwrap();
        let r = sync(&store, &[(post("a", "h1"), "Note")], t(1));
        assert_eq!(r.first_scan, vec!["news".to_string()]);
        let r = sync(&store, &[(post("a", "h1"), "Note")], t(5));
        assert!(r.changes.is_empty());
        assert!(r.first_scan.is_empty());
        assert_eq!(r.records[0].first_seen, t(1));
    }

    #[test]
    fn can_report_created_updated_and_removed_posts() {
        let store = Store::open_in_memory().unwrap();
        sync(
            &store,
            &[(post("a", "h1"), "Note"), (post("b", "h1"), "Article")],
            t(1),
        );
        let r = sync(
            &store,
            &[(post("a", "h2"), "Note"), (post("c", "h1"), "Note")],
            t(2),
        );
        assert_eq!(
            r.changes,
            vec![
                PostChange::updated("news", "a"),
                PostChange::created("news", "c"),
                PostChange::Removed {
                    actor: "news".into(),
                    slug: "b".into(),
                    former_type: "Article".into()
                },
            ]
        );
        let tomb = store.tombstone("news", "b").unwrap().unwrap();
        assert_eq!(
            tomb,
            Tombstone {
                former_type: "Article".into(),
                deleted: t(2)
            }
        );
        assert_eq!(store.tombstone("news", "a").unwrap(), None);
    }

    #[test]
    fn can_bring_a_removed_post_back() {
        let store = Store::open_in_memory().unwrap();
        sync(&store, &[(post("a", "h1"), "Note")], t(1));
        sync(&store, &[], t(2));
        let r = sync(&store, &[(post("a", "h1"), "Note")], t(3));
        assert_eq!(r.changes, vec![PostChange::created("news", "a")]);
        assert_eq!(r.records[0].first_seen, t(1));
        assert_eq!(store.tombstone("news", "a").unwrap(), None);
    }

    #[test]
    fn can_return_a_cached_rendering_only_for_the_same_hash() {
        let store = Store::open_in_memory().unwrap();
        let p = post("a", "h1");
        sync(&store, &[(p.clone(), "Note")], t(1));
        assert_eq!(store.cached_post(&p.source, "h1"), Some(p.rendered.clone()));
        assert_eq!(store.cached_post(&p.source, "h2"), None);
    }

    #[test]
    fn can_owe_one_publication_per_post_and_change_but_none_for_a_first_scan() {
        let store = Store::open_in_memory().unwrap();
        let a = (post("a", "h1"), "Note");
        sync(&store, std::slice::from_ref(&a), t(1));
        assert!(store.pending_publications().unwrap().is_empty());
        sync(&store, &[a.clone(), (post("b", "h1"), "Note")], t(2));
        sync(&store, &[a.clone(), (post("b", "h2"), "Note")], t(3));
        sync(&store, &[a.clone(), (post("b", "h3"), "Note")], t(4));
        let owed: Vec<(String, PendingChange, i64)> = store
            .pending_publications()
            .unwrap()
            .into_iter()
            .map(|p| (p.slug, p.change, p.created_at))
            .collect();
        assert_eq!(
            owed,
            [
                ("b".into(), PendingChange::Create, t(2).timestamp_millis()),
                ("b".into(), PendingChange::Update, t(3).timestamp_millis()),
            ]
        );
        // The Delete supersedes both.
        sync(&store, &[a], t(5));
        let owed = store.pending_publications().unwrap();
        assert_eq!((owed.len(), owed[0].change), (1, PendingChange::Delete));
    }

    #[test]
    fn can_keep_a_new_rendering_of_the_same_source_without_an_update() {
        let store = Store::open_in_memory().unwrap();
        sync(&store, &[(post("a", "r1"), "Note")], t(1));
        // masthead renders differently (a new RENDER_VERSION): the source is the same.
        let rerendered = P {
            hash: "r2",
            source_hash: "r1",
            rendered: "rendered-r2".into(),
            ..post("a", "r1")
        };
        let r = sync(&store, &[(rerendered.clone(), "Note")], t(2));
        assert!(r.changes.is_empty(), "{:?}", r.changes);
        assert_eq!(
            store.cached_post(&rerendered.source, "r2").as_deref(),
            Some("rendered-r2")
        );
        // The source changed: an Update.
        let edited = P {
            hash: "r3",
            source_hash: "s3",
            ..rerendered
        };
        let r = sync(&store, &[(edited, "Note")], t(3));
        assert_eq!(r.changes, vec![PostChange::updated("news", "a")]);
    }

    #[test]
    fn can_adopt_source_hashes_for_rows_written_before_them() {
        let store = Store::open_in_memory().unwrap();
        sync(&store, &[(post("a", "h1"), "Note")], t(1));
        store
            .execute("UPDATE posts SET source_hash = ''", [])
            .unwrap();
        let upgraded = P {
            source_hash: "s1",
            ..post("a", "h1")
        };
        assert!(sync(&store, &[(upgraded.clone(), "Note")], t(2))
            .changes
            .is_empty());
        let edited = P {
            source_hash: "s2",
            ..upgraded
        };
        assert_eq!(sync(&store, &[(edited, "Note")], t(3)).changes.len(), 1);
    }

    #[test]
    fn can_serve_a_removed_post_through_its_grace_period_and_bring_it_back_silently() {
        let store = Store::open_in_memory().unwrap();
        let a = (post("a", "h1"), "Note");
        let b = (post("b", "h1"), "Note");
        sync(&store, &[a.clone(), b.clone()], t(1));
        let all = |now| policy(now);
        let r = store
            .sync_posts(&rows(std::slice::from_ref(&a)), Scope::All, &all(t(2)))
            .unwrap();
        assert!(r.changes.is_empty(), "nothing final yet: {:?}", r.changes);
        assert_eq!(r.missing, vec![key("b")]);
        assert_eq!(store.tombstone("news", "b").unwrap(), None);
        assert_eq!(store.missing_posts().unwrap().len(), 1);
        let due = t(2).timestamp_millis() + 60_000;
        assert_eq!(store.next_removal_due().unwrap(), Some(due));

        // Back within the grace period: nothing owed, nothing waiting.
        let r = store
            .sync_posts(&rows(&[a.clone(), b.clone()]), Scope::All, &all(t(2)))
            .unwrap();
        assert_eq!((r.changes.len(), r.restored.clone()), (0, vec![key("b")]));
        assert!(store.held_removals().unwrap().is_empty());
        assert_eq!(store.next_removal_due().unwrap(), None);

        // Gone again, and the grace period passes: a tombstone and a Delete owed.
        store
            .sync_posts(&rows(std::slice::from_ref(&a)), Scope::All, &all(t(3)))
            .unwrap();
        let later = t(3) + TimeDelta::seconds(59);
        let r = store
            .sync_posts(&rows(std::slice::from_ref(&a)), Scope::All, &all(later))
            .unwrap();
        assert!(r.changes.is_empty());
        let r = store
            .sync_posts(
                &rows(std::slice::from_ref(&a)),
                Scope::All,
                &all(later + TimeDelta::seconds(1)),
            )
            .unwrap();
        assert_eq!(
            r.changes,
            vec![PostChange::Removed {
                actor: "news".into(),
                slug: "b".into(),
                former_type: "Note".into()
            }]
        );
        assert!(store.tombstone("news", "b").unwrap().is_some());
        assert!(store.missing_posts().unwrap().is_empty());
        let owed = store.pending_publications().unwrap();
        assert_eq!(owed.last().unwrap().change, PendingChange::Delete);
    }

    #[test]
    fn can_hold_a_mass_removal_until_it_is_confirmed() {
        let store = Store::open_in_memory().unwrap();
        let posts: Vec<(P, &str)> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|s| (post(s, "h1"), "Note"))
            .collect();
        sync(&store, &posts, t(1));
        // One removal waits out its grace period; two more come: three at once, over the
        // threshold of two, so all three are held.
        store
            .sync_posts(&rows(&posts[1..]), Scope::All, &policy(t(2)))
            .unwrap();
        let r = store
            .sync_posts(&rows(&posts[3..]), Scope::All, &policy(t(2)))
            .unwrap();
        assert_eq!(r.held, vec![key("a"), key("b"), key("c")]);
        let held = store.held_removals().unwrap();
        assert!(held.iter().all(HeldRemoval::is_held), "{held:?}");
        assert_eq!(store.next_removal_due().unwrap(), None);
        // Held for a day: still served, nothing owed.
        let r = store
            .sync_posts(&rows(&posts[3..]), Scope::All, &policy(t(23)))
            .unwrap();
        assert!(r.changes.is_empty());
        assert_eq!(store.missing_posts().unwrap().len(), 3);
        assert!(store.pending_publications().unwrap().is_empty());

        assert_eq!(
            store
                .confirm_held_removals(t(23).timestamp_millis())
                .unwrap(),
            3
        );
        let r = store
            .sync_posts(&rows(&posts[3..]), Scope::All, &policy(t(23)))
            .unwrap();
        assert_eq!(r.changes.len(), 3);
        assert_eq!(store.pending_publications().unwrap().len(), 3);
    }

    #[test]
    fn can_sync_only_the_changed_sources() {
        let store = Store::open_in_memory().unwrap();
        let mut nested = post("n", "h1");
        nested.source = PathBuf::from("news/2026/n.md");
        let posts = [
            (post("a", "h1"), "Note"),
            (post("b", "h1"), "Note"),
            (nested, "Note"),
        ];
        sync(&store, &posts, t(1));
        // Only a.md changed and is given; b and the folder news/2026 are untouched.
        let edited = [(post("a", "h2"), "Note")];
        let changed = [PathBuf::from("news/a.md")];
        let r = store
            .sync_posts(
                &rows(&edited),
                Scope::Sources(&changed),
                &SyncPolicy::immediate(t(2)),
            )
            .unwrap();
        assert_eq!(r.changes.len(), 1);
        assert_eq!(store.tombstone("news", "b").unwrap(), None);
        // The folder news/2026 is gone: everything below it, and nothing beside it.
        let changed = [PathBuf::from("news/2026")];
        let r = store
            .sync_posts(&[], Scope::Sources(&changed), &SyncPolicy::immediate(t(3)))
            .unwrap();
        assert_eq!(
            r.changes,
            vec![PostChange::Removed {
                actor: "news".into(),
                slug: "n".into(),
                former_type: "Note".into()
            }]
        );
        assert_eq!(store.tombstone("news", "a").unwrap(), None);
    }

    #[test]
    fn can_record_a_new_post_older_than_the_push_window_without_owing_it() {
        let store = Store::open_in_memory().unwrap();
        sync(&store, &[(post("a", "h1"), "Note")], t(1));
        let policy = SyncPolicy {
            push_after: t(4),
            ..SyncPolicy::immediate(t(10))
        };
        // `published` of rows() is t(1): before the window.
        let old = [(post("a", "h1"), "Note"), (post("old", "h1"), "Note")];
        let r = store.sync_posts(&rows(&old), Scope::All, &policy).unwrap();
        assert_eq!(r.quiet, vec![key("old")]);
        assert!(store.pending_publications().unwrap().is_empty());
        let new = [(post("fresh", "h1"), "Note")];
        let mut fresh = rows(&new);
        fresh[0].published = t(9);
        let mut all = rows(&old);
        all.extend(fresh);
        let r = store.sync_posts(&all, Scope::All, &policy).unwrap();
        assert!(r.quiet.is_empty());
        assert_eq!(store.pending_publications().unwrap().len(), 1);
    }
}
