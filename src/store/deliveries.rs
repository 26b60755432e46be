//! `deliveries`: the one durable outgoing queue. Every activity masthead sends (Accept, Reject,
//! Create, Update, Delete, ...) is a row per inbox here before anything goes on the wire, so a
//! crash or `kill -9` loses nothing: a row is only marked done after the inbox answered 2xx.
//!
//! This module owns the rows and their states; when to retry, what a status means and how many
//! requests run at once is the delivery worker's policy (`federation::delivery`). A row being sent
//! is *leased*: its `next_attempt_at` is moved past the longest a send can take, so if the process
//! dies mid-send the row simply comes due again later (at-least-once; receivers dedupe by id).

use super::{execute, query_opt, Store, StoreError};

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

/// Where a row is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for `next_attempt_at` (or leased and being sent).
    Pending,
    /// The inbox answered 2xx.
    Done,
    /// Given up: a permanent refusal, retries exhausted, or the host is unavailable.
    Failed,
}

impl DeliveryState {
    fn parse(s: &str) -> DeliveryState {
        match s {
            "done" => DeliveryState::Done,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One queued activity for one inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub activity_id: String,
    /// The post it is about, if any.
    pub object_id: Option<String>,
    /// The activity's `type`.
    pub kind: String,
    /// Our handle that signs it.
    pub actor: String,
    pub inbox: String,
    /// The inbox's `host[:port]`.
    pub host: String,
    /// The JSON body as it is sent.
    pub body: String,
    pub state: DeliveryState,
    /// Attempts that had an outcome.
    pub attempts: u32,
    /// Unix ms when it is due (or when its lease ends).
    pub next_attempt_at: i64,
    /// Unix ms when it was queued.
    pub created_at: i64,
    /// HTTP status of the last attempt, if one was received.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The queue as the operator sees it, per host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostQueue {
    /// `host[:port]`.
    pub host: String,
    /// Rows waiting.
    pub pending: usize,
    /// Rows given up.
    pub failed: usize,
    /// Rows delivered (until pruned).
    pub done: usize,
    /// Earliest `next_attempt_at` of a pending row (unix ms).
    pub next_attempt_at: Option<i64>,
    /// The error of the most recently tried row that has one.
    pub last_error: Option<String>,
    /// Unix ms since when the host is skipped, if it is.
    pub unavailable_since: Option<i64>,
}

const COLUMNS: &str = "id, activity_id, object_id, kind, actor, inbox, host, body, state, attempts,
                       next_attempt_at, created_at, last_status, last_error";

impl Delivery {
    /// A row selected as [`COLUMNS`].
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
        Ok(Delivery {
            id: r.get(0)?,
            activity_id: r.get(1)?,
            object_id: r.get(2)?,
            kind: r.get(3)?,
            actor: r.get(4)?,
            inbox: r.get(5)?,
            host: r.get(6)?,
            body: r.get(7)?,
            state: DeliveryState::parse(&r.get::<_, String>(8)?),
            attempts: r.get(9)?,
            next_attempt_at: r.get(10)?,
            created_at: r.get(11)?,
            last_status: r.get(12)?,
            last_error: r.get(13)?,
        })
    }
}

/// `host[:port]` of an inbox URL (the port only when it is not the scheme's default), or `""`
/// for a URL that does not parse (its delivery then fails on the first attempt).
pub fn inbox_host(inbox: &str) -> String {
    let Ok(url) = url::Url::parse(inbox) else {
        return String::new();
    };
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

impl Store {
    /// Queues `delivery` to every inbox in `inboxes`, due at `now_ms`, in one transaction.
    /// An (activity, inbox) pair still pending is left as it is; one already done or failed is
    /// queued again from scratch (sending an activity again is what enqueueing it means).
    /// Returns the rows added or queued again.
    pub fn enqueue_delivery(
        &self,
        delivery: &NewDelivery<'_>,
        inboxes: &[String],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.transaction(|tx| self.insert_deliveries(tx, delivery, inboxes, now_ms))
    }

    /// The rows of [`Store::enqueue_delivery`], inside the caller's transaction `tx`.
    pub(super) fn insert_deliveries(
        &self,
        tx: &rusqlite::Transaction<'_>,
        delivery: &NewDelivery<'_>,
        inboxes: &[String],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let kind = serde_json::from_str::<serde_json::Value>(delivery.body)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        let mut added = 0;
        for inbox in inboxes {
            added += execute(
                tx,
                "INSERT INTO deliveries
                   (activity_id, object_id, kind, actor, inbox, host, body, next_attempt_at,
                    created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT (activity_id, inbox) DO UPDATE SET
                   object_id = excluded.object_id, kind = excluded.kind,
                   actor = excluded.actor, host = excluded.host, body = excluded.body,
                   state = 'pending', attempts = 0,
                   next_attempt_at = excluded.next_attempt_at,
                   created_at = excluded.created_at, last_status = NULL, last_error = NULL
                 WHERE deliveries.state <> 'pending'",
                (
                    delivery.activity_id,
                    delivery.object_id,
                    &kind,
                    delivery.actor,
                    inbox,
                    inbox_host(inbox),
                    delivery.body,
                    now_ms,
                ),
            )
            .map_err(self.err())?;
        }
        Ok(added)
    }

    /// Pending rows due at `now_ms`, oldest due first, at most `per_host` of any one host and
    /// `limit` in all (so one host with a long backlog cannot hide every other host's rows).
    pub fn due_deliveries(
        &self,
        now_ms: i64,
        per_host: usize,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &format!(
                "SELECT {COLUMNS} FROM (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY host ORDER BY next_attempt_at, id) AS rn
                   FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?1)
                 WHERE rn <= ?2 ORDER BY next_attempt_at, id LIMIT ?3"
            ),
            (now_ms, per_host as i64, limit as i64),
            Delivery::from_row,
        )
    }

    /// Leases a due row until `until_ms`; false if it is no longer pending and due (dropped by a
    /// Delete, or leased already).
    pub fn lease_delivery(&self, id: i64, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE deliveries SET next_attempt_at = ?3, leased = 1
             WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?2",
            (id, now_ms, until_ms),
        )?;
        Ok(n == 1)
    }

    /// The inbox answered 2xx with `status`.
    pub fn complete_delivery(&self, id: i64, status: u16) -> Result<(), StoreError> {
        self.execute(
            "UPDATE deliveries SET state = 'done', leased = 0, attempts = attempts + 1, last_status = ?2,
             last_error = NULL WHERE id = ?1 AND state = 'pending'",
            (id, status),
        )?;
        Ok(())
    }

    /// An attempt failed for now: try again at `at_ms`.
    pub fn reschedule_delivery(
        &self,
        id: i64,
        at_ms: i64,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE deliveries SET leased = 0, attempts = attempts + 1, next_attempt_at = ?2,
             last_status = ?3, last_error = ?4 WHERE id = ?1 AND state = 'pending'",
            (id, at_ms, status, error),
        )?;
        Ok(())
    }

    /// An attempt failed for good (a permanent refusal, or the last retry).
    pub fn fail_delivery(
        &self,
        id: i64,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE deliveries SET state = 'failed', leased = 0, attempts = attempts + 1,
             last_status = ?2, last_error = ?3 WHERE id = ?1 AND state = 'pending'",
            (id, status, error),
        )?;
        Ok(())
    }

    /// Ends the lease of rows whose send was abandoned (shutdown): they are due again at `now_ms`.
    pub fn release_deliveries(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.transaction(|tx| {
            for id in ids {
                execute(
                    tx,
                    "UPDATE deliveries SET next_attempt_at = MIN(next_attempt_at, ?2), leased = 0
                     WHERE id = ?1 AND state = 'pending'",
                    (id, now_ms),
                )
                .map_err(self.err())?;
            }
            Ok(())
        })
    }

    /// Makes rows leased by a process that is gone due at `now_ms`. Called when the delivery
    /// workers start: `serve` holds the data dir's lock, so no other live process can hold a
    /// lease, and a send cut off by `kill -9` goes out again at once instead of after its lease.
    /// Returns how many were released.
    pub fn release_stale_leases(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE deliveries SET next_attempt_at = ?1, leased = 0
             WHERE state = 'pending' AND leased = 1",
            [now_ms],
        )
    }

    /// Fails, without sending, the due rows of hosts marked unavailable. Returns how many.
    pub fn fail_deliveries_to_unavailable_hosts(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE deliveries SET state = 'failed',
               last_error = 'not sent: the host failed on 7 different days and is skipped until it answers again'
             WHERE state = 'pending' AND next_attempt_at <= ?1
               AND host IN (SELECT host FROM hosts WHERE unavailable_since IS NOT NULL)",
            [now_ms],
        )
    }

    /// Drops pending rows about `object_id` whose activity type is one of `kinds` (a Delete
    /// supersedes a Create or Update still waiting). Returns how many.
    pub fn drop_pending_deliveries(
        &self,
        object_id: &str,
        kinds: &[&str],
    ) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            let mut n = 0;
            for kind in kinds {
                n += execute(
                    tx,
                    "DELETE FROM deliveries WHERE object_id = ?1 AND kind = ?2 AND state = 'pending'",
                    (object_id, kind),
                )
                .map_err(self.err())?;
            }
            Ok(n)
        })
    }

    /// The body of the most recently queued activity about `object_id` of one of `kinds`,
    /// whatever its state.
    pub fn latest_delivery_body(
        &self,
        object_id: &str,
        kinds: &[&str],
    ) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        let mut best: Option<(i64, String)> = None;
        for kind in kinds {
            let row: Option<(i64, String)> = query_opt(
                &conn,
                "SELECT id, body FROM deliveries WHERE object_id = ?1 AND kind = ?2
                 ORDER BY id DESC LIMIT 1",
                (object_id, kind),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
            if let Some(row) = row {
                if best.as_ref().is_none_or(|b| row.0 > b.0) {
                    best = Some(row);
                }
            }
        }
        Ok(best.map(|(_, body)| body))
    }

    /// The earliest `next_attempt_at` of any pending row (leased ones included).
    pub fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        // An aggregate: always one row, NULL when nothing is pending.
        let min = self.query_opt(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(min.flatten())
    }

    /// One row.
    pub fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"),
            [id],
            Delivery::from_row,
        )
    }

    /// Every row of `activity_id`, by inbox.
    pub fn deliveries_of_activity(&self, activity_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE activity_id = ?1 ORDER BY inbox"),
            [activity_id],
            Delivery::from_row,
        )
    }

    /// Every row about `object_id`, oldest first.
    pub fn deliveries_of_object(&self, object_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE object_id = ?1 ORDER BY id"),
            [object_id],
            Delivery::from_row,
        )
    }

    /// The queue per host, hosts with pending rows first, then by host.
    pub fn delivery_queue(&self) -> Result<Vec<HostQueue>, StoreError> {
        self.query_all(
            "SELECT d.host,
               SUM(d.state = 'pending'), SUM(d.state = 'failed'), SUM(d.state = 'done'),
               MIN(CASE WHEN d.state = 'pending' THEN d.next_attempt_at END),
               (SELECT last_error FROM deliveries e WHERE e.host = d.host
                  AND e.last_error IS NOT NULL ORDER BY e.attempts > 0 DESC, e.id DESC LIMIT 1),
               h.unavailable_since
             FROM deliveries d LEFT JOIN hosts h ON h.host = d.host
             GROUP BY d.host
             ORDER BY SUM(d.state = 'pending') = 0, d.host",
            [],
            |r| {
                Ok(HostQueue {
                    host: r.get(0)?,
                    pending: r.get::<_, i64>(1)? as usize,
                    failed: r.get::<_, i64>(2)? as usize,
                    done: r.get::<_, i64>(3)? as usize,
                    next_attempt_at: r.get(4)?,
                    last_error: r.get(5)?,
                    unavailable_since: r.get(6)?,
                })
            },
        )
    }

    /// Forgets rows delivered before `done_before_ms` and rows given up before
    /// `failed_before_ms` (by when they were queued). Returns how many.
    pub fn prune_deliveries(
        &self,
        done_before_ms: i64,
        failed_before_ms: i64,
    ) -> Result<usize, StoreError> {
        self.execute(
            "DELETE FROM deliveries WHERE (state = 'done' AND created_at < ?1)
               OR (state = 'failed' AND created_at < ?2)",
            (done_before_ms, failed_before_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enqueue(s: &Store, activity: &str, kind: &str, inboxes: &[&str], now: i64) -> usize {
        let body = format!(r#"{{"id":"{activity}","type":"{kind}"}}"#);
        let inboxes: Vec<String> = inboxes.iter().map(|i| i.to_string()).collect();
        s.enqueue_delivery(
            &NewDelivery {
                activity_id: activity,
                object_id: Some("https://x.example/users/news/posts/a"),
                actor: "news",
                body: &body,
            },
            &inboxes,
            now,
        )
        .unwrap()
    }

    #[test]
    fn can_enqueue_once_per_inbox_and_record_host_and_kind() {
        let s = Store::open_in_memory().unwrap();
        let n = enqueue(
            &s,
            "a1",
            "Create",
            &["https://a.example/inbox", "http://127.0.0.1:8080/inbox"],
            1000,
        );
        assert_eq!(n, 2);
        assert_eq!(
            enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 2000),
            0
        );
        let rows = s.deliveries_of_activity("a1").unwrap();
        assert_eq!(rows[0].host, "127.0.0.1:8080");
        assert_eq!(rows[1].host, "a.example");
        assert_eq!(rows[1].kind, "Create");
        assert_eq!(rows[1].next_attempt_at, 1000);
    }

    #[test]
    fn can_queue_a_finished_activity_again() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Accept", &["https://a.example/inbox"], 1000);
        let id = s.deliveries_of_activity("a1").unwrap()[0].id;
        s.fail_delivery(id, Some(404), "404 Not Found").unwrap();
        assert_eq!(
            enqueue(&s, "a1", "Accept", &["https://a.example/inbox"], 5000),
            1
        );
        let row = s.delivery(id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.attempts, row.next_attempt_at),
            (DeliveryState::Pending, 0, 5000)
        );
    }

    #[test]
    fn can_lease_a_due_row_once_so_a_crash_only_delays_it() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 1000);
        let due = s.due_deliveries(1000, 2, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert!(s.lease_delivery(due[0].id, 1000, 301_000).unwrap());
        assert!(!s.lease_delivery(due[0].id, 1000, 301_000).unwrap());
        assert!(s.due_deliveries(300_999, 2, 10).unwrap().is_empty());
        // Nothing recorded the attempt: after the lease it is due again, attempts untouched.
        let again = s.due_deliveries(301_000, 2, 10).unwrap();
        assert_eq!((again[0].id, again[0].attempts), (due[0].id, 0));
    }

    #[test]
    fn can_limit_due_rows_per_host() {
        let s = Store::open_in_memory().unwrap();
        for i in 0..5 {
            enqueue(
                &s,
                &format!("big{i}"),
                "Create",
                &["https://big.example/inbox"],
                i,
            );
        }
        enqueue(&s, "small", "Create", &["https://small.example/inbox"], 10);
        let due = s.due_deliveries(100, 2, 3).unwrap();
        let hosts: Vec<&str> = due.iter().map(|d| d.host.as_str()).collect();
        assert_eq!(hosts, ["big.example", "big.example", "small.example"]);
    }

    #[test]
    fn can_drop_pending_creates_of_a_deleted_object() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &["https://a.example/inbox"], 1);
        enqueue(&s, "u", "Update", &["https://a.example/inbox"], 2);
        enqueue(&s, "c", "Create", &["https://b.example/inbox"], 1);
        let done = s.deliveries_of_activity("c").unwrap()[0].id;
        s.complete_delivery(done, 202).unwrap();
        let n = s
            .drop_pending_deliveries(
                "https://x.example/users/news/posts/a",
                &["Create", "Update"],
            )
            .unwrap();
        assert_eq!(n, 2);
        let left = s
            .deliveries_of_object("https://x.example/users/news/posts/a")
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].state, DeliveryState::Done);
        assert_eq!(
            s.latest_delivery_body("https://x.example/users/news/posts/a", &["Create"])
                .unwrap()
                .unwrap(),
            r#"{"id":"c","type":"Create"}"#
        );
    }

    #[test]
    fn can_fail_due_rows_of_unavailable_hosts_without_sending() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Create", &["https://down.example/inbox"], 1000);
        enqueue(&s, "a2", "Create", &["https://down.example/inbox"], 9000);
        enqueue(&s, "a1", "Create", &["https://up.example/inbox"], 1000);
        for day in 0..7 {
            s.record_delivery_failure("down.example", day * 86_400_000, 7)
                .unwrap();
        }
        assert_eq!(s.fail_deliveries_to_unavailable_hosts(5000).unwrap(), 1);
        let row = &s.deliveries_of_activity("a1").unwrap()[0];
        assert_eq!(
            (row.host.as_str(), row.state, row.attempts),
            ("down.example", DeliveryState::Failed, 0)
        );
        assert_eq!(
            s.due_deliveries(5000, 2, 10).unwrap().len(),
            1,
            "up.example only"
        );
        // Once the host answers again, its later rows go out.
        s.record_delivery_success("down.example").unwrap();
        assert_eq!(s.fail_deliveries_to_unavailable_hosts(9000).unwrap(), 0);
        assert_eq!(s.due_deliveries(9000, 2, 10).unwrap().len(), 2);
    }

    #[test]
    fn can_summarize_the_queue_per_host() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 5000);
        enqueue(&s, "a2", "Create", &["https://a.example/inbox"], 7000);
        enqueue(&s, "a1", "Create", &["https://b.example/inbox"], 5000);
        let b = s.deliveries_of_activity("a1").unwrap()[1].id;
        s.fail_delivery(b, Some(403), "403 Forbidden").unwrap();
        let a = s.deliveries_of_activity("a2").unwrap()[0].id;
        s.reschedule_delivery(a, 9000, Some(503), "503 Service Unavailable")
            .unwrap();
        let q = s.delivery_queue().unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            (
                q[0].host.as_str(),
                q[0].pending,
                q[0].failed,
                q[0].next_attempt_at
            ),
            ("a.example", 2, 0, Some(5000))
        );
        assert_eq!(q[0].last_error.as_deref(), Some("503 Service Unavailable"));
        assert_eq!(
            (q[1].host.as_str(), q[1].pending, q[1].failed),
            ("b.example", 0, 1)
        );
    }
}
