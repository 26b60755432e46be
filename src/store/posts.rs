//! `posts`: the index of every post ever published, so that restarts re-render nothing that did
//! not change, dateless posts keep the time they were first seen, and removed posts answer 410.
//!
//! A post's rendering is kept as the opaque string the caller gives (the catalog stores
//! `content::Post` as JSON); the store never looks inside it.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{execute, query_all, query_opt, Store, StoreError};

/// A servable post to record.
#[derive(Clone, Copy, Debug)]
pub struct NewPost<'a> {
    pub actor: &'a str,
    pub slug: &'a str,
    /// The file it was rendered from.
    pub source: &'a Path,
    /// The hash of everything its rendering depends on: unchanged hash, unchanged post.
    pub hash: &'a str,
    /// The rendering, returned as is by [`Store::cached_post`] and [`Store::last_renderings`].
    pub rendered: &'a str,
    /// `Note` or `Article`, remembered for the tombstone.
    pub object_type: &'a str,
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
    /// Content changed.
    Updated { actor: String, slug: String },
    /// Was published, is gone (file removed, made a draft, or `federate = false`).
    Removed {
        actor: String,
        slug: String,
        /// `Note` or `Article`.
        former_type: String,
    },
}

/// The outcome of [`Store::sync_posts`].
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Every post now servable, with first-seen times, in the order given.
    pub records: Vec<PostRow>,
    pub changes: Vec<PostChange>,
    /// Actors that had no post rows at all before this sync (their first scan).
    pub first_scan: Vec<String>,
}

/// A post that was published and is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// `Note` or `Article`.
    pub former_type: String,
    /// When masthead noticed it was gone.
    pub deleted: DateTime<Utc>,
}

impl Store {
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

    /// Records the set of servable posts, all in one transaction: new rows get a first-seen time
    /// of `now`, changed ones are updated, and published posts missing from `posts` become
    /// tombstones. What followers are owed for each change is recorded in the same transaction.
    pub fn sync_posts(
        &self,
        posts: &[NewPost<'_>],
        now: DateTime<Utc>,
    ) -> Result<SyncReport, StoreError> {
        self.transaction(|tx| {
            let mut report = SyncReport::default();
            let known_actors: HashSet<String> =
                query_all(tx, "SELECT DISTINCT actor FROM posts", [], |r| r.get(0))
                    .map_err(self.err())?;
            let mut seen_actors = HashSet::new();
            for post in posts {
                if !known_actors.contains(post.actor) && seen_actors.insert(post.actor) {
                    report.first_scan.push(post.actor.to_string());
                }
                let first_seen = self.sync_post(tx, post, now, &mut report.changes)?;
                report.records.push(PostRow {
                    actor: post.actor.to_string(),
                    slug: post.slug.to_string(),
                    first_seen,
                });
            }
            let present: HashSet<(&str, &str)> = posts.iter().map(|p| (p.actor, p.slug)).collect();
            let live: Vec<(String, String, String)> = query_all(
                tx,
                "SELECT actor, slug, object_type FROM posts WHERE deleted_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())?;
            for (actor, slug, former_type) in live {
                if present.contains(&(actor.as_str(), slug.as_str())) {
                    continue;
                }
                execute(
                    tx,
                    "UPDATE posts SET deleted_at = ?3 WHERE actor = ?1 AND slug = ?2",
                    (&actor, &slug, now.to_rfc3339()),
                )
                .map_err(self.err())?;
                report.changes.push(PostChange::Removed {
                    actor,
                    slug,
                    former_type,
                });
            }
            self.owe_publications(tx, &report, now)?;
            Ok(report)
        })
    }

    /// Inserts or updates the row of `post`, noting a change in `changes`; returns its first-seen
    /// time.
    fn sync_post(
        &self,
        tx: &rusqlite::Transaction<'_>,
        post: &NewPost<'_>,
        now: DateTime<Utc>,
        changes: &mut Vec<PostChange>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let existing: Option<(String, String, Option<String>)> = query_opt(
            tx,
            "SELECT hash, first_seen, deleted_at FROM posts WHERE actor = ?1 AND slug = ?2",
            (post.actor, post.slug),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(self.err())?;
        let (actor, slug) = (post.actor.to_string(), post.slug.to_string());
        let (change, first_seen) = match existing {
            None => (Some(PostChange::Created { actor, slug }), now),
            Some((hash, first_seen, deleted_at)) => {
                let change = if deleted_at.is_some() {
                    Some(PostChange::Created { actor, slug })
                } else if hash != post.hash {
                    Some(PostChange::Updated { actor, slug })
                } else {
                    None
                };
                (change, self.parse_time(&first_seen)?)
            }
        };
        if let Some(change) = change {
            // A new row is first seen now; a known one keeps its first-seen time.
            execute(
                tx,
                "INSERT INTO posts (actor, slug, source, hash, rendered, object_type, first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (actor, slug) DO UPDATE SET source = excluded.source,
                   hash = excluded.hash, rendered = excluded.rendered,
                   object_type = excluded.object_type, deleted_at = NULL",
                (
                    post.actor,
                    post.slug,
                    post.source.to_string_lossy(),
                    post.hash,
                    post.rendered,
                    post.object_type,
                    now.to_rfc3339(),
                ),
            )
            .map_err(self.err())?;
            changes.push(change);
        }
        Ok(first_seen)
    }

    /// Records what followers are owed for `report`'s changes, in the sync's transaction: a crash
    /// after this commit and before the activities are queued still leaves the publications to
    /// make at the next start. First scans owe nothing (the back catalogue is not pushed).
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
            if report.first_scan.contains(actor) {
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
        source: PathBuf,
        rendered: String,
    }

    fn post(slug: &'static str, hash: &'static str) -> P {
        P {
            slug,
            hash,
            source: PathBuf::from(format!("news/{slug}.md")),
            rendered: format!("rendered-{hash}"),
        }
    }

    fn sync(store: &Store, posts: &[(P, &str)], now: DateTime<Utc>) -> SyncReport {
        let rows: Vec<NewPost<'_>> = posts
            .iter()
            .map(|(p, object_type)| NewPost {
                actor: "news",
                slug: p.slug,
                source: &p.source,
                hash: p.hash,
                rendered: &p.rendered,
                object_type,
            })
            .collect();
        store.sync_posts(&rows, now).unwrap()
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
                PostChange::Updated {
                    actor: "news".into(),
                    slug: "a".into()
                },
                PostChange::Created {
                    actor: "news".into(),
                    slug: "c".into()
                },
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
        assert_eq!(
            r.changes,
            vec![PostChange::Created {
                actor: "news".into(),
                slug: "a".into()
            }]
        );
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
}
