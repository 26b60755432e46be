//! `pending_publications`: Creates and Updates held back until the mentions and replies of their
//! post are resolved. Each row is a durable job of `federation::addressing`; it is deleted in the
//! same transaction that queues the activity ([`Store::enqueue_delivery_for`]), so a crash can
//! neither lose nor repeat the publication.

use super::{NewDelivery, Store, StoreError};

/// What a held-back publication will send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingChange {
    /// A `Create` of a new post.
    Create,
    /// An `Update` of an edited post.
    Update,
    /// A `Delete` of a removed post.
    Delete,
}

impl PendingChange {
    fn as_str(self) -> &'static str {
        match self {
            PendingChange::Create => "create",
            PendingChange::Update => "update",
            PendingChange::Delete => "delete",
        }
    }
}

/// One held-back publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPublication {
    /// Row id.
    pub id: i64,
    /// Our handle.
    pub actor: String,
    /// The post's slug.
    pub slug: String,
    /// What to send.
    pub change: PendingChange,
    /// When it was held back (unix ms).
    pub created_at: i64,
}

impl Store {
    /// Holds back `change` of the post `actor`/`slug`. One row per post and kind of change is
    /// enough: the activity is built from the post as it is when the row is processed.
    pub fn add_pending_publication(
        &self,
        actor: &str,
        slug: &str,
        change: PendingChange,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO pending_publications (actor, slug, change, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                (actor, slug, change.as_str(), now_ms),
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Whether a publication of the post `actor`/`slug` is held back.
    pub fn has_pending_publication(&self, actor: &str, slug: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM pending_publications WHERE actor = ?1 AND slug = ?2)",
                (actor, slug),
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// Every held-back publication, oldest first.
    pub fn pending_publications(&self) -> Result<Vec<PendingPublication>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, actor, slug, change, created_at FROM pending_publications ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                let change: String = r.get(3)?;
                Ok(PendingPublication {
                    id: r.get(0)?,
                    actor: r.get(1)?,
                    slug: r.get(2)?,
                    change: match change.as_str() {
                        "update" => PendingChange::Update,
                        "delete" => PendingChange::Delete,
                        _ => PendingChange::Create,
                    },
                    created_at: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// [`Store::enqueue_delivery`] of the publication `pending` (when it is one), deleting its row
    /// in the same transaction: queued and no longer pending, or neither.
    pub fn enqueue_delivery_for(
        &self,
        delivery: &NewDelivery<'_>,
        inboxes: &[String],
        now_ms: i64,
        pending: Option<i64>,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        if let Some(id) = pending {
            let owned = tx
                .execute("DELETE FROM pending_publications WHERE id = ?1", [id])
                .map_err(self.err())?;
            if owned == 0 {
                // Another pass (a rebuild racing the addressing worker) published it already.
                return Ok(0);
            }
        }
        let added = self.insert_deliveries(&tx, delivery, inboxes, now_ms)?;
        tx.commit().map_err(self.err())?;
        Ok(added)
    }

    /// Drops one held-back publication (its post is gone, or it was published).
    pub fn delete_pending_publication(&self, id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM pending_publications WHERE id = ?1", [id])
            .map_err(self.err())?;
        Ok(())
    }

    /// Drops every held-back publication of a post (it was removed: its Delete supersedes them).
    pub fn forget_pending_publications(&self, actor: &str, slug: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM pending_publications WHERE actor = ?1 AND slug = ?2",
                (actor, slug),
            )
            .map_err(self.err())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_hold_one_publication_per_post_and_change() {
        let store = Store::open_in_memory().unwrap();
        store
            .add_pending_publication("news", "a", PendingChange::Create, 1)
            .unwrap();
        store
            .add_pending_publication("news", "a", PendingChange::Create, 2)
            .unwrap();
        store
            .add_pending_publication("news", "a", PendingChange::Update, 3)
            .unwrap();
        let rows = store.pending_publications().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(store.has_pending_publication("news", "a").unwrap());
        assert!(!store.has_pending_publication("news", "b").unwrap());
        assert_eq!(
            (rows[0].change, rows[0].created_at),
            (PendingChange::Create, 1)
        );
        store.forget_pending_publications("news", "a").unwrap();
        assert!(store.pending_publications().unwrap().is_empty());
    }

    #[test]
    fn can_queue_a_publication_and_drop_its_row_at_once() {
        let store = Store::open_in_memory().unwrap();
        store
            .add_pending_publication("news", "a", PendingChange::Create, 1)
            .unwrap();
        let row = &store.pending_publications().unwrap()[0];
        let delivery = NewDelivery {
            activity_id: "https://x.example/users/news/posts/a/activity",
            object_id: Some("https://x.example/users/news/posts/a"),
            actor: "news",
            body: "{\"type\":\"Create\"}",
        };
        let n = store
            .enqueue_delivery_for(
                &delivery,
                &["https://r.example/inbox".to_string()],
                5,
                Some(row.id),
            )
            .unwrap();
        assert_eq!(n, 1);
        assert!(store.pending_publications().unwrap().is_empty());
    }
}
