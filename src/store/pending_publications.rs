//! `pending_publications`: Creates and Updates held back until the mentions and replies of their
//! post are resolved. Each row is a durable job of `federation::addressing`; it is deleted in the
//! same transaction that queues the activity ([`Store::enqueue_delivery_for`]), so a crash can
//! neither lose nor repeat the publication.

use super::{execute, NewDelivery, Store, StoreError};

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

/// One held-back publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPublication {
    pub id: i64,
    /// Our handle.
    pub actor: String,
    pub slug: String,
    pub change: PendingChange,
    /// When it was held back (unix ms).
    pub created_at: i64,
}

impl Store {
    /// Every held-back publication, oldest first. The rows are written by
    /// [`Store::sync_posts`], in the transaction that records the post change.
    pub fn pending_publications(&self) -> Result<Vec<PendingPublication>, StoreError> {
        self.query_all(
            "SELECT id, actor, slug, change, created_at FROM pending_publications ORDER BY id",
            [],
            |r| {
                Ok(PendingPublication {
                    id: r.get(0)?,
                    actor: r.get(1)?,
                    slug: r.get(2)?,
                    change: match r.get::<_, String>(3)?.as_str() {
                        "update" => PendingChange::Update,
                        "delete" => PendingChange::Delete,
                        _ => PendingChange::Create,
                    },
                    created_at: r.get(4)?,
                })
            },
        )
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
        self.transaction(|tx| {
            if let Some(id) = pending {
                let owned = execute(tx, DELETE_BY_ID, [id]).map_err(self.err())?;
                if owned == 0 {
                    // Another pass (a rebuild racing the addressing worker) published it already.
                    return Ok(0);
                }
            }
            self.insert_deliveries(tx, delivery, inboxes, now_ms)
        })
    }

    /// Drops one held-back publication (its post is gone, or it was published).
    pub fn delete_pending_publication(&self, id: i64) -> Result<(), StoreError> {
        self.execute(DELETE_BY_ID, [id])?;
        Ok(())
    }
}

const DELETE_BY_ID: &str = "DELETE FROM pending_publications WHERE id = ?1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_queue_a_publication_and_drop_its_row_at_once() {
        let store = Store::open_in_memory().unwrap();
        store
            .execute(
                "INSERT INTO pending_publications (actor, slug, change, created_at)
                 VALUES ('news', 'a', 'create', 1)",
                [],
            )
            .unwrap();
        let row = &store.pending_publications().unwrap()[0];
        let delivery = NewDelivery {
            activity_id: "https://x.example/users/news/posts/a/activity",
            object_id: Some("https://x.example/users/news/posts/a"),
            actor: "news",
            body: "{\"type\":\"Create\"}",
        };
        let inboxes = ["https://r.example/inbox".to_string()];
        let n = store
            .enqueue_delivery_for(&delivery, &inboxes, 5, Some(row.id))
            .unwrap();
        assert_eq!(n, 1);
        assert!(store.pending_publications().unwrap().is_empty());
        // Published already (by a racing pass): nothing is queued, not even to another inbox.
        let other = ["https://other.example/inbox".to_string()];
        let n = store
            .enqueue_delivery_for(&delivery, &other, 6, Some(row.id))
            .unwrap();
        assert_eq!(n, 0);
    }
}
