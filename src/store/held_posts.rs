//! `held_posts`: our posts an outgoing-post plugin vetoed. The catalog rewrites the rows of the
//! files it read at each build ([`Store::sync_held_posts`]), so a post no plugin vetoes any
//! more leaves the table (and is published by the same build); `masthead status` and
//! `/metrics` read them through [`Store::publications_on_hold`].

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
            let rows: Vec<(String, String, String, i64)> = query_all(
                tx,
                "SELECT actor, slug, source, since FROM held_posts",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(self.err())?;
            let mut since: HashMap<(String, String), i64> = HashMap::new();
            for (actor, slug, source, at) in rows {
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
                    since.insert((actor, slug), at);
                }
            }
            for h in held {
                let at = since
                    .get(&(h.actor.clone(), h.slug.clone()))
                    .copied()
                    .unwrap_or(now_ms);
                execute(
                    tx,
                    "INSERT INTO held_posts (actor, slug, source, change, plugin, reason, since,
                       failed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (actor, slug) DO UPDATE SET source = excluded.source,
                       change = excluded.change, plugin = excluded.plugin,
                       reason = excluded.reason, failed = excluded.failed",
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
                    ),
                )
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    /// Every post a plugin holds back, oldest hold first.
    pub fn held_posts(&self) -> Result<Vec<HeldPost>, StoreError> {
        self.query_all(
            "SELECT actor, slug, source, change, plugin, reason, since, failed FROM held_posts
             ORDER BY since, actor, slug",
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
                })
            },
        )
    }
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
}
