//! `inbox_activities`: every verified incoming activity, once. The id is the dedupe key and the row
//! is the durable job: the inbox answers 202 after the insert, and the inbox worker processes
//! queued rows (also those left queued by a crash, at the next start).

use super::{execute, Store, StoreError};

/// A verified activity to record.
#[derive(Clone, Debug)]
pub struct NewInboxActivity<'a> {
    pub id: &'a str,
    /// The verified remote actor that signed it.
    pub signer: &'a str,
    /// Our handle for a personal inbox; `None` for the shared inbox.
    pub recipient: Option<&'a str>,
    /// The activity `type`.
    pub kind: &'a str,
    /// The JSON body as received.
    pub body: &'a str,
    /// The signature scheme that verified it (`rfc9421` or `draft-cavage-12`).
    pub signature: &'a str,
}

/// A queued activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxActivity {
    pub id: String,
    /// The verified signer.
    pub signer: String,
    /// Our handle, for a personal inbox.
    pub recipient: Option<String>,
    /// The activity `type`.
    pub kind: String,
    /// The JSON as received.
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
}

/// What came of one attempt at a queued activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Processed.
    Done,
    /// Failed: queued again at `retry_at` (unix ms), or failed for good when `None`.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

const FINISH: &str =
    "UPDATE inbox_activities SET state = 'done', attempts = attempts + 1, error = NULL
     WHERE id = ?1";

const FAIL: &str = "UPDATE inbox_activities SET attempts = attempts + 1, error = ?2,
       state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'queued' END,
       next_attempt_at = COALESCE(?3, next_attempt_at)
     WHERE id = ?1";

impl InboxActivity {
    /// A row of `SELECT id, signer, recipient, type, body, attempts ...`.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxActivity> {
        Ok(InboxActivity {
            id: r.get(0)?,
            signer: r.get(1)?,
            recipient: r.get(2)?,
            kind: r.get(3)?,
            body: r.get(4)?,
            attempts: r.get(5)?,
        })
    }
}

impl Store {
    /// Records a verified activity as queued. False when its id was seen before (then nothing
    /// changes: each activity id is processed once).
    pub fn record_inbox_activity(
        &self,
        a: &NewInboxActivity<'_>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "INSERT OR IGNORE INTO inbox_activities
               (id, signer, recipient, type, body, signature, received_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            (
                a.id,
                a.signer,
                a.recipient,
                a.kind,
                a.body,
                a.signature,
                now_ms,
            ),
        )?;
        Ok(n > 0)
    }

    /// The signature scheme an activity was received with, if it was received.
    pub fn inbox_activity_signature(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "SELECT signature FROM inbox_activities WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
    }

    /// Up to `limit` queued activities due at `now_ms`, oldest first.
    pub fn due_inbox_activities(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<InboxActivity>, StoreError> {
        self.query_all(
            "SELECT id, signer, recipient, type, body, attempts FROM inbox_activities
             WHERE state = 'queued' AND next_attempt_at <= ?1
             ORDER BY received_at, id LIMIT ?2",
            (now_ms, limit as i64),
            InboxActivity::from_row,
        )
    }

    /// Up to `limit` queued activities due at `now_ms` that arrived after `after` (a
    /// `(received_at, id)` position; `None` for the start), in arrival order: the inbox
    /// dispatcher pages through the queue with this, so a row is read once per pass.
    pub fn due_inbox_activities_after(
        &self,
        now_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<(i64, InboxActivity)>, StoreError> {
        let (at, id) = after.unwrap_or((i64::MIN, ""));
        // A row arrived after `at` is due no earlier than it arrived (next_attempt_at >=
        // received_at), which lets the (state, next_attempt_at) index narrow the scan.
        self.query_all(
            "SELECT id, signer, recipient, type, body, attempts, received_at FROM inbox_activities
             WHERE state = 'queued' AND next_attempt_at <= ?1 AND next_attempt_at >= ?2
               AND (received_at > ?2 OR (received_at = ?2 AND id > ?3))
             ORDER BY received_at, id LIMIT ?4",
            (now_ms, at, id, limit as i64),
            |r| Ok((r.get(6)?, InboxActivity::from_row(r)?)),
        )
    }

    /// Records what came of several jobs (by id) at once, in one transaction.
    pub fn settle_inbox_activities(
        &self,
        outcomes: &[(String, JobOutcome)],
    ) -> Result<(), StoreError> {
        self.transaction(|tx| {
            for (id, outcome) in outcomes {
                match outcome {
                    JobOutcome::Done => execute(tx, FINISH, [id]),
                    JobOutcome::Failed { error, retry_at } => {
                        execute(tx, FAIL, (id, error, retry_at))
                    }
                }
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    /// Marks an activity processed.
    pub fn finish_inbox_activity(&self, id: &str) -> Result<(), StoreError> {
        self.execute(FINISH, [id])?;
        Ok(())
    }

    /// Records a failed attempt: queued again at `retry_at`, or failed for good when `None`.
    pub fn fail_inbox_activity(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.execute(FAIL, (id, error, retry_at))?;
        Ok(())
    }

    /// Forgets processed (done or failed) activities received before `before_ms`; queued ones
    /// are kept whatever their age. Returns how many went. An id is remembered only to refuse a
    /// repeat, and no sender retries for longer than a few days (Mastodon gives up after about
    /// two), so a week of ids is enough.
    pub fn prune_inbox_activities(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.execute(
            "DELETE FROM inbox_activities WHERE state IN ('done', 'failed') AND received_at < ?1",
            [before_ms],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str) -> NewInboxActivity<'_> {
        NewInboxActivity {
            id,
            signer: "https://r.example/u/a",
            recipient: None,
            kind: "Like",
            body: "{}",
            signature: "draft-cavage-12",
        }
    }

    #[test]
    fn can_record_an_activity_id_only_once() {
        let s = Store::open_in_memory().unwrap();
        assert!(s
            .record_inbox_activity(&new("https://r.example/1"), 10)
            .unwrap());
        assert!(!s
            .record_inbox_activity(&new("https://r.example/1"), 20)
            .unwrap());
        assert_eq!(s.due_inbox_activities(20, 10).unwrap().len(), 1);
        s.finish_inbox_activity("https://r.example/1").unwrap();
        assert!(s.due_inbox_activities(20, 10).unwrap().is_empty());
        assert!(!s
            .record_inbox_activity(&new("https://r.example/1"), 30)
            .unwrap());
    }

    #[test]
    fn can_retry_a_failed_activity_later_then_give_up() {
        let s = Store::open_in_memory().unwrap();
        s.record_inbox_activity(&new("https://r.example/1"), 10)
            .unwrap();
        s.fail_inbox_activity("https://r.example/1", "down", Some(100))
            .unwrap();
        assert!(s.due_inbox_activities(99, 10).unwrap().is_empty());
        let due = s.due_inbox_activities(100, 10).unwrap();
        assert_eq!(due[0].attempts, 1);
        s.fail_inbox_activity("https://r.example/1", "down", None)
            .unwrap();
        assert!(s.due_inbox_activities(i64::MAX, 10).unwrap().is_empty());
    }

    #[test]
    fn can_prune_processed_activities_and_keep_queued_ones() {
        let s = Store::open_in_memory().unwrap();
        for (id, at) in [
            ("https://r.example/old", 10),
            ("https://r.example/new", 100),
        ] {
            s.record_inbox_activity(&new(id), at).unwrap();
            s.finish_inbox_activity(id).unwrap();
        }
        s.record_inbox_activity(&new("https://r.example/failed"), 10)
            .unwrap();
        s.fail_inbox_activity("https://r.example/failed", "bad", None)
            .unwrap();
        s.record_inbox_activity(&new("https://r.example/queued"), 10)
            .unwrap();
        assert_eq!(s.prune_inbox_activities(50).unwrap(), 2);
        // The pruned id is forgotten; the recent one and the queued one are still known.
        assert!(s
            .record_inbox_activity(&new("https://r.example/old"), 200)
            .unwrap());
        assert!(!s
            .record_inbox_activity(&new("https://r.example/new"), 200)
            .unwrap());
        assert_eq!(s.due_inbox_activities(200, 10).unwrap().len(), 2);
    }
}
