//! `deliveries`: the one durable outgoing queue. Every activity masthead sends (Accept, Reject,
//! Create, Update, Delete, ...) is a row per inbox here before anything goes on the wire, so a
//! crash or `kill -9` loses nothing: a row is only marked done after the inbox answered 2xx.

use super::{Store, StoreError};

/// A new delivery: one activity to one or more inboxes, signed by one of our actors.
#[derive(Clone, Debug)]
pub struct NewDelivery<'a> {
    /// The activity id (with the inbox, the dedupe key).
    pub activity_id: &'a str,
    /// The post the activity is about, if any (a Delete drops pending Creates of it).
    pub object_id: Option<&'a str>,
    /// Our handle that signs it (`~instance` for the instance actor).
    pub actor: &'a str,
    /// The JSON body, exactly as it will be sent.
    pub body: &'a str,
}

impl Store {
    /// Queues `delivery` to every inbox in `inboxes`, due at `now_ms`, in one transaction.
    /// An (activity, inbox) pair already queued is left as it is. Returns rows added.
    pub fn enqueue_delivery(
        &self,
        delivery: &NewDelivery<'_>,
        inboxes: &[String],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let mut added = 0;
        for inbox in inboxes {
            added += tx
                .execute(
                    "INSERT OR IGNORE INTO deliveries
                       (activity_id, object_id, actor, inbox, body, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    (
                        delivery.activity_id,
                        delivery.object_id,
                        delivery.actor,
                        inbox,
                        delivery.body,
                        now_ms,
                    ),
                )
                .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())?;
        Ok(added)
    }
}

/// Milliseconds since the Unix epoch, the unit of every scheduled time in the store.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
