//! `posts`: the index of every post ever published, so that restarts re-render nothing that did
//! not change, dateless posts keep the time they were first seen, and removed posts answer 410.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::content::Post;

/// A servable post with what the store remembers of it.
#[derive(Clone, Debug)]
pub struct PostRecord {
    /// The rendered post.
    pub post: Post,
    /// When masthead first saw it (its `published` when it has no date).
    pub first_seen: DateTime<Utc>,
    /// The remote actors its mentions and `in_reply_to` resolved to, in order, each once: tagged,
    /// in `cc` and delivered to. Filled by the catalog from `remote_refs`; empty from the store.
    pub addressees: Vec<super::Addressee>,
}

/// What a sync found changed since the last one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostChange {
    /// First seen, or back after being removed.
    Created {
        /// Actor handle.
        actor: String,
        /// Post slug.
        slug: String,
    },
    /// Content changed.
    Updated {
        /// Actor handle.
        actor: String,
        /// Post slug.
        slug: String,
    },
    /// Was published, is gone (file removed, made a draft, or `federate = false`).
    Removed {
        /// Actor handle.
        actor: String,
        /// Post slug.
        slug: String,
        /// `Note` or `Article`.
        former_type: String,
    },
}

/// The outcome of [`Store::sync_posts`].
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Every post now servable, with first-seen times, in the order given.
    pub records: Vec<PostRecord>,
    /// What changed.
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
    /// The stored rendering of `source` if its inputs still hash to `hash`.
    pub fn cached_post(&self, source: &Path, hash: &str) -> Option<Post> {
        let conn = self.conn();
        let rendered: Option<String> = conn
            .query_row(
                "SELECT rendered FROM posts WHERE source = ?1 AND hash = ?2",
                (source.to_string_lossy(), hash),
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        rendered.and_then(|json| serde_json::from_str(&json).ok())
    }

    /// The last good rendering of every live post from `source`, whatever the file holds now.
    /// Used when a published post's file turns broken: the post stays served as it was.
    pub fn last_renderings(&self, source: &Path) -> Result<Vec<Post>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT rendered FROM posts WHERE source = ?1 AND deleted_at IS NULL")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([source.to_string_lossy()], |r| r.get::<_, String>(0))
            .map_err(self.err())?;
        let mut posts = Vec::new();
        for json in rows {
            let json = json.map_err(self.err())?;
            posts.push(
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    message: format!("rendered post of {}: {e}", source.display()),
                })?,
            );
        }
        Ok(posts)
    }

    /// Records the set of servable posts (each with its object type), all in one transaction:
    /// new rows get a first-seen time of `now`, changed ones are updated, and published posts
    /// missing from `posts` become tombstones.
    pub fn sync_posts(
        &self,
        posts: &[(Post, &str)],
        now: DateTime<Utc>,
    ) -> Result<SyncReport, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let mut report = SyncReport::default();
        let known_actors: HashSet<String> = {
            let mut stmt = tx
                .prepare("SELECT DISTINCT actor FROM posts")
                .map_err(self.err())?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(self.err())?;
            rows.collect::<Result<_, _>>().map_err(self.err())?
        };
        let mut seen_actors = HashSet::new();
        for (post, object_type) in posts {
            if !known_actors.contains(&post.actor) && seen_actors.insert(post.actor.clone()) {
                report.first_scan.push(post.actor.clone());
            }
            let existing: Option<(String, String, Option<String>)> = tx
                .query_row(
                    "SELECT hash, first_seen, deleted_at FROM posts WHERE actor = ?1 AND slug = ?2",
                    (&post.actor, &post.slug),
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(self.err())?;
            let rendered = serde_json::to_string(post).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                message: format!("cannot encode post {}/{}: {e}", post.actor, post.slug),
            })?;
            let source = post.source.to_string_lossy();
            let ids = (post.actor.clone(), post.slug.clone());
            let first_seen = match existing {
                None => {
                    tx.execute(
                        "INSERT INTO posts (actor, slug, source, hash, rendered, object_type, first_seen)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        (&post.actor, &post.slug, &source, &post.hash, &rendered, object_type, now.to_rfc3339()),
                    )
                    .map_err(self.err())?;
                    report.changes.push(PostChange::Created {
                        actor: ids.0,
                        slug: ids.1,
                    });
                    now
                }
                Some((hash, first_seen, deleted_at)) => {
                    if deleted_at.is_some() || hash != post.hash {
                        tx.execute(
                            "UPDATE posts SET source = ?3, hash = ?4, rendered = ?5, object_type = ?6,
                             deleted_at = NULL WHERE actor = ?1 AND slug = ?2",
                            (&post.actor, &post.slug, &source, &post.hash, &rendered, object_type),
                        )
                        .map_err(self.err())?;
                        report.changes.push(if deleted_at.is_some() {
                            PostChange::Created {
                                actor: ids.0,
                                slug: ids.1,
                            }
                        } else {
                            PostChange::Updated {
                                actor: ids.0,
                                slug: ids.1,
                            }
                        });
                    }
                    self.parse_time(&first_seen)?
                }
            };
            report.records.push(PostRecord {
                post: post.clone(),
                first_seen,
                addressees: Vec::new(),
            });
        }
        let present: HashSet<(&str, &str)> = posts
            .iter()
            .map(|(p, _)| (p.actor.as_str(), p.slug.as_str()))
            .collect();
        let live: Vec<(String, String, String)> = {
            let mut stmt = tx
                .prepare("SELECT actor, slug, object_type FROM posts WHERE deleted_at IS NULL")
                .map_err(self.err())?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.err())?;
            rows.collect::<Result<_, _>>().map_err(self.err())?
        };
        for (actor, slug, former_type) in live {
            if present.contains(&(actor.as_str(), slug.as_str())) {
                continue;
            }
            tx.execute(
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
        // What followers are owed, in the same transaction: a crash after this commit and before
        // the activities are queued still leaves the publications to make at the next start.
        // First scans owe nothing (the back catalogue is not pushed).
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
            tx.execute(
                &format!(
                    "DELETE FROM pending_publications WHERE actor = ?1 AND slug = ?2 AND {moot}"
                ),
                (actor, slug),
            )
            .map_err(self.err())?;
            tx.execute(
                "INSERT OR IGNORE INTO pending_publications (actor, slug, change, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                (actor, slug, kind, now.timestamp_millis()),
            )
            .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())?;
        Ok(report)
    }

    /// The tombstone of a post that was published and is gone.
    pub fn tombstone(&self, actor: &str, slug: &str) -> Result<Option<Tombstone>, StoreError> {
        let row: Option<(String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT object_type, deleted_at FROM posts WHERE actor = ?1 AND slug = ?2",
                (actor, slug),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
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
            .map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                message: format!("time {s:?}: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn post(slug: &str, hash: &str) -> Post {
        Post {
            hash: hash.into(),
            ..crate::content::test_support::post("news", slug)
        }
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn can_keep_first_seen_times_across_syncs() {
        let store = Store::open_in_memory().unwrap();
        let r = store
            .sync_posts(&[(post("a", "h1"), "Note")], t(1))
            .unwrap();
        assert_eq!(r.first_scan, vec!["news".to_string()]);
        let r = store
            .sync_posts(&[(post("a", "h1"), "Note")], t(5))
            .unwrap();
        assert!(r.changes.is_empty());
        assert!(r.first_scan.is_empty());
        assert_eq!(r.records[0].first_seen, t(1));
    }

    #[test]
    fn can_report_created_updated_and_removed_posts() {
        let store = Store::open_in_memory().unwrap();
        store
            .sync_posts(
                &[(post("a", "h1"), "Note"), (post("b", "h1"), "Article")],
                t(1),
            )
            .unwrap();
        let r = store
            .sync_posts(
                &[(post("a", "h2"), "Note"), (post("c", "h1"), "Note")],
                t(2),
            )
            .unwrap();
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
        store
            .sync_posts(&[(post("a", "h1"), "Note")], t(1))
            .unwrap();
        store.sync_posts(&[], t(2)).unwrap();
        let r = store
            .sync_posts(&[(post("a", "h1"), "Note")], t(3))
            .unwrap();
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
        store.sync_posts(&[(p.clone(), "Note")], t(1)).unwrap();
        assert_eq!(store.cached_post(&p.source, "h1"), Some(p.clone()));
        assert_eq!(store.cached_post(&p.source, "h2"), None);
    }
}
