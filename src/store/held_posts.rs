//! `held_posts`: our posts an outgoing-post plugin vetoed. The catalog rewrites the rows of the
//! files it read at each build ([`Store::sync_held_posts`]), so a post no plugin vetoes any
//! more leaves the table (and is published by the same build); `masthead status` and
//! `/metrics` read them through [`Store::publications_on_hold`]. The rebuild task records on
//! the rows held by a plugin's *failure* when it reviews them next
//! ([`Store::schedule_held_reviews`]), for `masthead status` in another process to show.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{execute, query_all, PendingChange, Scope, Store, StoreError};

/// One of our posts held back by a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPost {
    /// Our handle.
    pub actor: String,
    pub slug: String,
    /// The Markdown file, relative to the site root.
    pub source: PathBuf,
    /// `Create` for a post never published (it is not served), `Update` for an edit (the
    /// version followers have stays served).
    pub change: PendingChange,
    /// The plugin that vetoed it.
    pub plugin: String,
    pub reason: String,
    /// The plugin failed (its `on_error` holds the post), rather than decided to hold it:
    /// the rebuild task reviews the post again by itself.
    pub failed: bool,
    /// Since when it is held (unix ms); kept across builds while it stays held.
    pub since: i64,
    /// When masthead reviews a post held by a failure next, as the rebuild task last recorded
    /// it; `None` for a veto, or before the task scheduled one. [`Store::sync_held_posts`]
    /// ignores it (a build does not schedule) and keeps it while the post stays failure-held.
    pub next_review: Option<NextReview>,
}

/// The next review of the posts a failing plugin held back, as the rebuild task scheduled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextReview {
    /// When it is due (unix ms, by the server's clock).
    pub at: i64,
    /// Reviews this run of failures has had already (0 before the first).
    pub reviews: u32,
}

impl Store {
    /// Records the holds a build found in `scope` (the files it read): the rows of that scope
    /// become `held`, in one transaction; the rows of other files are kept. A post held before
    /// keeps its `since`.
    pub fn sync_held_posts(
        &self,
        scope: Scope<'_>,
        held: &[HeldPost],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.transaction(|tx| {
            type Row = (String, String, String, i64, Option<NextReview>);
            let rows: Vec<Row> = query_all(
                tx,
                "SELECT actor, slug, source, since, review_at, reviews FROM held_posts",
                [],
                |r| {
                    let review = review_of(r.get(4)?, r.get(5)?);
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, review))
                },
            )
            .map_err(self.err())?;
            let mut before: HashMap<(String, String), (i64, Option<NextReview>)> = HashMap::new();
            for (actor, slug, source, at, review) in rows {
                let in_scope = match scope {
                    Scope::All => true,
                    Scope::Sources(paths) => {
                        let source = PathBuf::from(source);
                        paths.iter().any(|p| source.starts_with(p))
                    }
                };
                if in_scope {
                    execute(
                        tx,
                        "DELETE FROM held_posts WHERE actor = ?1 AND slug = ?2",
                        (&actor, &slug),
                    )
                    .map_err(self.err())?;
                    before.insert((actor, slug), (at, review));
                }
            }
            for h in held {
                let (at, review) = before
                    .get(&(h.actor.clone(), h.slug.clone()))
                    .copied()
                    .unwrap_or((now_ms, None));
                // A post the plugin now decides on is not reviewed by the schedule.
                let review = review.filter(|_| h.failed);
                execute(
                    tx,
                    "INSERT INTO held_posts (actor, slug, source, change, plugin, reason, since,
                       failed, review_at, reviews)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (actor, slug) DO UPDATE SET source = excluded.source,
                       change = excluded.change, plugin = excluded.plugin,
                       reason = excluded.reason, failed = excluded.failed,
                       review_at = excluded.review_at, reviews = excluded.reviews",
                    (
                        &h.actor,
                        &h.slug,
                        h.source.to_string_lossy(),
                        match h.change {
                            PendingChange::Update => "update",
                            _ => "create",
                        },
                        &h.plugin,
                        &h.reason,
                        at,
                        h.failed,
                        review.map(|r| r.at),
                        review.map_or(0, |r| r.reviews),
                    ),
                )
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    /// Records when the posts held back by a plugin's failure are reviewed next (`None`: no
    /// review is scheduled, as when nothing is held by a failure any more), on every such row;
    /// a decided veto never has one. Written by the rebuild task after each rebuild.
    pub fn schedule_held_reviews(&self, next: Option<NextReview>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE held_posts SET
               review_at = CASE WHEN failed THEN ?1 END,
               reviews = CASE WHEN failed THEN ?2 ELSE 0 END",
            (next.map(|n| n.at), next.map_or(0, |n| n.reviews)),
        )
        .map(|_| ())
    }

    /// Every post a plugin holds back, oldest hold first.
    pub fn held_posts(&self) -> Result<Vec<HeldPost>, StoreError> {
        self.query_all(
            "SELECT actor, slug, source, change, plugin, reason, since, failed, review_at,
               reviews
             FROM held_posts ORDER BY since, actor, slug",
            [],
            |r| {
                Ok(HeldPost {
                    actor: r.get(0)?,
                    slug: r.get(1)?,
                    source: PathBuf::from(r.get::<_, String>(2)?),
                    change: match r.get::<_, String>(3)?.as_str() {
                        "update" => PendingChange::Update,
                        _ => PendingChange::Create,
                    },
                    plugin: r.get(4)?,
                    reason: r.get(5)?,
                    since: r.get(6)?,
                    failed: r.get(7)?,
                    next_review: review_of(r.get(8)?, r.get(9)?),
                })
            },
        )
    }
}

fn review_of(at: Option<i64>, reviews: u32) -> Option<NextReview> {
    at.map(|at| NextReview { at, reviews })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(slug: &str, source: &str, reason: &str) -> HeldPost {
        HeldPost {
            actor: "news".into(),
            slug: slug.into(),
            source: PathBuf::from(source),
            change: PendingChange::Create,
            plugin: "cw".into(),
            reason: reason.into(),
            failed: false,
            since: 0,
            next_review: None,
        }
    }

    #[test]
    fn can_replace_the_holds_of_the_files_read_and_keep_the_others() {
        let store = Store::open_in_memory().unwrap();
        let a = held("a", "content/news/a.md", "no");
        let b = held("b", "content/news/b.md", "no");
        store.sync_held_posts(Scope::All, &[a, b], 10).unwrap();
        // Only a.md was read again, and it is still held (for another reason): its `since`
        // stays, b.md's hold is untouched.
        let a2 = held("a", "content/news/a.md", "still no");
        let read = [PathBuf::from("content/news/a.md")];
        store
            .sync_held_posts(Scope::Sources(&read), &[a2], 20)
            .unwrap();
        let rows = store.held_posts().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].slug.as_str(), rows[0].since), ("a", 10));
        assert_eq!(rows[0].reason, "still no");
        // The folder is read and nothing in it is held any more.
        let read = [PathBuf::from("content/news")];
        store
            .sync_held_posts(Scope::Sources(&read), &[], 30)
            .unwrap();
        assert!(store.held_posts().unwrap().is_empty());
    }

    #[test]
    fn can_tell_a_plugins_failure_from_its_veto_across_a_migration() {
        // A hold recorded before v10 reads as a decided veto.
        let conn = crate::store::tests::db_at_version(
            9,
            "INSERT INTO held_posts (actor, slug, source, change, plugin, reason, since)
             VALUES ('news', 'a', 'content/news/a.md', 'create', 'cw', 'no', 5)",
        );
        conn.execute_batch(super::super::MIGRATIONS[9]).unwrap();
        let failed: bool = conn
            .query_row("SELECT failed FROM held_posts", [], |r| r.get(0))
            .unwrap();
        assert!(!failed);

        let store = Store::open_in_memory().unwrap();
        let mut b = held("b", "content/news/b.md", "plugin cw failed: trapped");
        b.failed = true;
        let a = held("a", "content/news/a.md", "no");
        store.sync_held_posts(Scope::All, &[a, b], 10).unwrap();
        let rows = store.held_posts().unwrap();
        let failed: Vec<_> = rows.iter().map(|h| (&*h.slug, h.failed)).collect();
        assert_eq!(failed, [("a", false), ("b", true)]);
        let on_hold = store.publications_on_hold().unwrap();
        assert!(
            on_hold[1]
                .reason
                .starts_with("held back: plugin cw failed: trapped")
                && on_hold[1]
                    .reason
                    .contains("masthead reviews it again by itself"),
            "{}",
            on_hold[1].reason
        );
        assert!(
            on_hold[0].reason.starts_with("held back by plugin cw: no"),
            "{}",
            on_hold[0].reason
        );
    }

    #[test]
    fn can_keep_when_a_failure_hold_is_reviewed_next_across_a_migration_and_rebuilds() {
        // A failure-hold recorded before v11 has no review scheduled (the server schedules one
        // when it starts).
        let conn = crate::store::tests::db_at_version(
            10,
            "INSERT INTO held_posts (actor, slug, source, change, plugin, reason, since, failed)
             VALUES ('news', 'a', 'content/news/a.md', 'create', 'cw', 'trapped', 5, 1)",
        );
        conn.execute_batch(super::super::MIGRATIONS[10]).unwrap();
        let (at, reviews): (Option<i64>, u32) = conn
            .query_row("SELECT review_at, reviews FROM held_posts", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((at, reviews), (None, 0));

        let store = Store::open_in_memory().unwrap();
        let mut a = held("a", "content/news/a.md", "plugin cw failed: trapped");
        a.failed = true;
        let b = held("b", "content/news/b.md", "no");
        store
            .sync_held_posts(Scope::All, &[a.clone(), b.clone()], 10)
            .unwrap();
        let next = NextReview {
            at: 30_010,
            reviews: 2,
        };
        store.schedule_held_reviews(Some(next)).unwrap();
        let reviews = |store: &Store| -> Vec<(String, Option<NextReview>)> {
            let rows = store.held_posts().unwrap();
            rows.into_iter().map(|h| (h.slug, h.next_review)).collect()
        };
        // Only the failure-hold is reviewed; a veto never is.
        assert_eq!(
            reviews(&store),
            [("a".into(), Some(next)), ("b".into(), None)]
        );
        let on_hold = store.publications_on_hold().unwrap();
        assert_eq!(on_hold[0].next_review, Some(next));
        // A rebuild that finds it still failing keeps the schedule (the rebuild task moves it);
        // one where the plugin now decides to hold it drops it.
        store
            .sync_held_posts(Scope::All, &[a.clone(), b.clone()], 20)
            .unwrap();
        assert_eq!(reviews(&store)[0], ("a".into(), Some(next)));
        let mut vetoed = a.clone();
        vetoed.failed = false;
        store
            .sync_held_posts(Scope::All, &[vetoed, b.clone()], 30)
            .unwrap();
        assert_eq!(reviews(&store)[0], ("a".into(), None));
        // The rebuild task clears the schedule: no row keeps a review.
        store.sync_held_posts(Scope::All, &[a, b], 40).unwrap();
        store.schedule_held_reviews(Some(next)).unwrap();
        store.schedule_held_reviews(None).unwrap();
        assert_eq!(reviews(&store), [("a".into(), None), ("b".into(), None)]);
    }
}
