//! `deliveries`: the one durable outgoing queue. Every activity masthead sends (Accept, Reject,
//! Create, Update, Delete, ...) is a row per inbox here before anything goes on the wire, so a
//! crash or `kill -9` loses nothing: a row is only marked done after the inbox answered 2xx.
//!
//! This module owns the rows, their states and their order; when to retry, what a status means
//! and how many requests run at once is the delivery worker's policy (`federation::delivery`). A
//! row being sent is *leased*: its `next_attempt_at` is moved past the longest a send can take, so
//! if the process dies mid-send the row simply comes due again later (at-least-once; receivers
//! dedupe by id).
//!
//! # Order
//!
//! For one inbox, the activities about one object arrive in the order they were queued: a row is
//! due only while no older pending row has the same inbox and `object_id` (the id is the queue
//! order; a row queued again gets a new one). A retried Create is therefore never overtaken by
//! its Update, nor a Create by its Delete. Queueing also drops (as `cancelled`) what a newer
//! activity makes moot before it is sent, inbox by inbox:
//! - an Update cancels the older Updates of its object still waiting (the newest carries the
//!   whole object);
//! - a Create cancels a Delete of its object still waiting (the post is back);
//! - a Delete cancels the Create and Updates still waiting, and is itself not queued for an inbox
//!   that was going to get the Create and never got the post: neither goes there.
//!
//! A row being sent (leased) is never cancelled: it may arrive, so what follows waits for it.
//! Rows without an `object_id` (Accept, Reject, ...) are not ordered.

use std::collections::HashSet;

#[cfg(test)]
use super::query_all;
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
    /// Made moot before it was sent by a later activity about the same object (see the module
    /// docs, "Order"); `last_error` says which.
    Cancelled,
}

impl DeliveryState {
    fn parse(s: &str) -> DeliveryState {
        match s {
            "done" => DeliveryState::Done,
            "failed" => DeliveryState::Failed,
            "cancelled" => DeliveryState::Cancelled,
            _ => DeliveryState::Pending,
        }
    }
}

impl rusqlite::types::FromSql for DeliveryState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_str().map(DeliveryState::parse)
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
    /// Why the last attempt failed (or why the row was cancelled).
    pub last_error: Option<String>,
    /// Unix ms when the inbox last answered 2xx (kept when the activity is queued again).
    pub delivered_at: Option<i64>,
}

/// The rows with their bodies: select [`COLUMNS`] from this.
pub(super) const ROWS: &str = "deliveries JOIN delivery_bodies USING (body_id)";

pub(super) const COLUMNS: &str =
    "id, activity_id, object_id, kind, actor, inbox, host, body, state, attempts,
                       next_attempt_at, created_at, last_status, last_error, delivered_at";

/// The order rule (module docs): a pending row `d` is in turn when no older row of its inbox
/// about its object is still pending. Rows without an object are always in turn.
const IN_TURN: &str = "NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.state = 'pending'
                        AND o.inbox = d.inbox AND o.object_id = d.object_id AND o.id < d.id)";

/// Marks row ?1 answered with status ?2 at ?3.
const COMPLETE: &str = "UPDATE deliveries SET state = 'done', leased = 0, attempts = attempts + 1,
    last_status = ?2, last_error = NULL, delivered_at = ?3 WHERE id = ?1 AND state = 'pending'";

/// Leases row ?1, if it is still pending and due at ?2, until ?3.
const LEASE: &str = "UPDATE deliveries SET next_attempt_at = ?3, leased = 1
    WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?2";

/// Pending rows due at ?1 and in turn, oldest due first, at most ?2 of a host and ?3 in all.
/// The rows are chosen on the `deliveries_claim` index alone (ids, hosts, inboxes, objects) and
/// only the chosen ones are read whole: a claim costs the same whatever the bodies weigh.
fn due_sql(select: &str) -> String {
    format!(
        "SELECT {select} WHERE id IN (
           SELECT id FROM (
             SELECT d.id, d.next_attempt_at,
                    ROW_NUMBER() OVER (PARTITION BY d.host ORDER BY d.next_attempt_at, d.id) AS rn
             FROM deliveries d INDEXED BY deliveries_claim
             WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND {IN_TURN})
           WHERE rn <= ?2 ORDER BY next_attempt_at, id LIMIT ?3)
         ORDER BY next_attempt_at, id"
    )
}

/// The first ?2 rows due at ?1 and in turn, as the `deliveries_claim` index holds them (due
/// order; rows due at the same ms by host): ids and hosts, read from the index alone.
static HEAD_OF_QUEUE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT d.id, d.host FROM deliveries d INDEXED BY deliveries_claim
         WHERE d.state = 'pending' AND d.next_attempt_at <= ?1 AND {IN_TURN}
         ORDER BY d.next_attempt_at LIMIT ?2"
    )
});

/// One row, with its body, by id.
static BY_ID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {COLUMNS} FROM {ROWS} WHERE id = ?1"));

fn id_and_host(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String)> {
    Ok((r.get(0)?, r.get(1)?))
}

impl Delivery {
    /// A row selected as [`COLUMNS`].
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
        from_row!(r => Delivery { id, activity_id, object_id, kind, actor, inbox, host, body, state,
            attempts, next_attempt_at, created_at, last_status, last_error, delivered_at })
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
    /// Queues `delivery` to every inbox in `inboxes`, due at `now_ms`, in one transaction,
    /// applying the order rules of the module docs (what it makes moot is cancelled; a Delete is
    /// not queued where the post never arrived). An (activity, inbox) pair still pending is left
    /// as it is; one already done, failed or cancelled is queued again as a new row at the back of
    /// the order (sending an activity again is what enqueueing it means). Returns the rows added.
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
        // The body, stored once for every row of this call, when the first row is added.
        let mut body_id: Option<i64> = None;
        for inbox in inboxes {
            let waiting = query_opt(
                tx,
                "SELECT 1 FROM deliveries WHERE activity_id = ?1 AND inbox = ?2 AND state = 'pending'",
                (delivery.activity_id, inbox),
                |_| Ok(()),
            )
            .map_err(self.err())?;
            if waiting.is_some() {
                continue;
            }
            if let Some(object) = delivery.object_id {
                if !settle_order(tx, &kind, delivery.activity_id, object, inbox)
                    .map_err(self.err())?
                {
                    continue;
                }
            }
            let delivered_at: Option<i64> = query_opt(
                tx,
                "SELECT delivered_at FROM deliveries WHERE activity_id = ?1 AND inbox = ?2",
                (delivery.activity_id, inbox),
                |r| r.get(0),
            )
            .map_err(self.err())?
            .flatten();
            execute(
                tx,
                "DELETE FROM deliveries WHERE activity_id = ?1 AND inbox = ?2",
                (delivery.activity_id, inbox),
            )
            .map_err(self.err())?;
            let body_id = match body_id {
                Some(id) => id,
                None => {
                    execute(
                        tx,
                        "INSERT INTO delivery_bodies (body) VALUES (?1)",
                        [delivery.body],
                    )
                    .map_err(self.err())?;
                    *body_id.insert(tx.last_insert_rowid())
                }
            };
            added += execute(
                tx,
                "INSERT INTO deliveries
                   (activity_id, object_id, kind, actor, inbox, host, body_id, next_attempt_at,
                    created_at, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
                (
                    delivery.activity_id,
                    delivery.object_id,
                    &kind,
                    delivery.actor,
                    inbox,
                    inbox_host(inbox),
                    body_id,
                    now_ms,
                    delivered_at,
                ),
            )
            .map_err(self.err())?;
        }
        Ok(added)
    }

    /// Pending rows due at `now_ms` and in turn (module docs, "Order"), oldest due first, at most
    /// `per_host` of any one host and `limit` in all (so one host with a long backlog cannot hide
    /// every other host's rows).
    pub fn due_deliveries(
        &self,
        now_ms: i64,
        per_host: usize,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &due_sql(&format!("{COLUMNS} FROM {ROWS}")),
            (now_ms, per_host as i64, limit as i64),
            Delivery::from_row,
        )
    }

    /// Leases a due row until `until_ms`; false if it is no longer pending and due (dropped by a
    /// Delete, or leased already).
    pub fn lease_delivery(&self, id: i64, now_ms: i64, until_ms: i64) -> Result<bool, StoreError> {
        let n = self.execute(LEASE, (id, now_ms, until_ms))?;
        Ok(n == 1)
    }

    /// Claims up to `room` due rows in one transaction and leases them until `until_ms`. Rows
    /// are offered in due order (at most `per_host` of a host) by their host to `take`, which
    /// turns down hosts the caller has no room for. Returns the leased rows and whether a due row
    /// was left (turned down, or beyond `room`), so the caller knows to claim again when it has
    /// room.
    ///
    /// The rows are chosen on the `deliveries_claim` index, reading at most `scan` entries
    /// (ids and hosts) from the head of the queue, so a claim costs what it takes, not what is
    /// due: a fan-out to thousands of inboxes is claimed a slice at a time. Only when that head
    /// is all hosts at their limit (one host's backlog) does the claim look past it, with the
    /// per-host limit applied in SQL as [`Store::due_deliveries`] does, so one host cannot hide
    /// every other host's rows. One transaction keeps SQLite off the critical path, and nothing
    /// can slip in between the read and the lease.
    pub fn claim_deliveries(
        &self,
        now_ms: i64,
        until_ms: i64,
        per_host: usize,
        room: usize,
        scan: usize,
        mut take: impl FnMut(&str) -> bool,
    ) -> Result<(Vec<Delivery>, bool), StoreError> {
        self.transaction(|tx| {
            let head: Vec<(i64, String)> =
                super::query_all(tx, &HEAD_OF_QUEUE, (now_ms, scan as i64), id_and_host)
                    .map_err(self.err())?;
            let mut chosen = Vec::new();
            // Whether a due row is left for a later claim.
            let mut left = false;
            for (id, host) in &head {
                if chosen.len() < room && take(host) {
                    chosen.push(*id);
                } else {
                    left = true;
                }
            }
            if head.len() >= scan {
                left = true;
                if chosen.len() < room {
                    // The head was full of busy hosts: look past it, fairly.
                    let seen: HashSet<i64> = head.iter().map(|(id, _)| *id).collect();
                    let limit = scan + room;
                    let fair: Vec<(i64, String)> = super::query_all(
                        tx,
                        &due_sql("id, host FROM deliveries"),
                        (now_ms, per_host as i64, limit as i64),
                        id_and_host,
                    )
                    .map_err(self.err())?;
                    for (id, host) in fair.iter().filter(|(id, _)| !seen.contains(id)) {
                        if chosen.len() < room && take(host) {
                            chosen.push(*id);
                        }
                    }
                }
            }
            let mut taken = Vec::with_capacity(chosen.len());
            for id in chosen {
                if execute(tx, LEASE, (id, now_ms, until_ms)).map_err(self.err())? == 1 {
                    if let Some(row) =
                        query_opt(tx, &BY_ID, [id], Delivery::from_row).map_err(self.err())?
                    {
                        taken.push(row);
                    }
                }
            }
            Ok((taken, left))
        })
    }

    /// Marks rows answered 2xx, each `(id, status)`, at `now_ms`, in one transaction (see
    /// [`Store::complete_delivery`]).
    pub fn complete_deliveries(&self, done: &[(i64, u16)], now_ms: i64) -> Result<(), StoreError> {
        self.transaction(|tx| {
            for (id, status) in done {
                execute(tx, COMPLETE, (id, status, now_ms)).map_err(self.err())?;
            }
            Ok(())
        })
    }

    /// The inbox answered 2xx with `status` at `now_ms`.
    pub fn complete_delivery(&self, id: i64, status: u16, now_ms: i64) -> Result<(), StoreError> {
        self.execute(COMPLETE, (id, status, now_ms))?;
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

    /// Cancels the pending rows about `object_id`, to every inbox, whose activity type is one of
    /// `kinds` (a Delete supersedes a Create or Update still waiting). Rows being sent are left
    /// to arrive; cancelled rows stay, so a later Delete knows which inboxes never got the post.
    /// Returns how many.
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
                    "UPDATE deliveries SET state = 'cancelled',
                       last_error = 'cancelled: a newer activity about the object was queued'
                     WHERE object_id = ?1 AND kind = ?2 AND state = 'pending' AND leased = 0",
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
                &format!(
                    "SELECT id, body FROM {ROWS} WHERE object_id = ?1 AND kind = ?2
                     ORDER BY id DESC LIMIT 1"
                ),
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

    /// The earliest `next_attempt_at` of any pending row in turn (leased ones included). A row
    /// waiting for an older one comes in turn only when that one is answered, which wakes the
    /// workers anyway.
    pub fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        // The index in due order: the first row in turn ends the scan.
        self.query_opt(
            &format!(
                "SELECT d.next_attempt_at FROM deliveries d INDEXED BY deliveries_claim
                 WHERE d.state = 'pending' AND {IN_TURN} ORDER BY d.next_attempt_at LIMIT 1"
            ),
            [],
            |r| r.get(0),
        )
    }

    /// One row.
    pub fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        self.query_opt(&BY_ID, [id], Delivery::from_row)
    }

    /// Every row of `activity_id`, by inbox.
    pub fn deliveries_of_activity(&self, activity_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM {ROWS} WHERE activity_id = ?1 ORDER BY inbox"),
            [activity_id],
            Delivery::from_row,
        )
    }

    /// Every row about `object_id`, oldest first.
    pub fn deliveries_of_object(&self, object_id: &str) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM {ROWS} WHERE object_id = ?1 ORDER BY id"),
            [object_id],
            Delivery::from_row,
        )
    }

    /// Forgets rows delivered (or cancelled) before `done_before_ms` and rows given up before
    /// `failed_before_ms` (by when they were queued), and the bodies no row uses any more.
    /// Returns how many rows.
    pub fn prune_deliveries(
        &self,
        done_before_ms: i64,
        failed_before_ms: i64,
    ) -> Result<usize, StoreError> {
        self.transaction(|tx| {
            let pruned = execute(
                tx,
                "DELETE FROM deliveries WHERE (state IN ('done', 'cancelled') AND created_at < ?1)
                   OR (state = 'failed' AND created_at < ?2)",
                (done_before_ms, failed_before_ms),
            )
            .map_err(self.err())?;
            drop_unused_bodies(tx).map_err(self.err())?;
            Ok(pruned)
        })
    }
}

/// Forgets the activity bodies no delivery row points to any more, once rows are deleted.
pub(super) fn drop_unused_bodies(tx: &rusqlite::Connection) -> rusqlite::Result<usize> {
    execute(
        tx,
        "DELETE FROM delivery_bodies WHERE body_id NOT IN (SELECT body_id FROM deliveries)",
        [],
    )
}

/// Applies the order rules of the module docs for an activity of type `kind` (`activity_id`)
/// about `object` about to be queued for `inbox`: cancels what it makes moot there. Returns
/// whether it is still to be queued (false: a Delete for an inbox that never got the post).
fn settle_order(
    tx: &rusqlite::Transaction<'_>,
    kind: &str,
    activity_id: &str,
    object: &str,
    inbox: &str,
) -> rusqlite::Result<bool> {
    // Only rows not being sent: one on the wire may arrive, so what follows waits for it.
    let cancel = |kinds: &str| {
        execute(
            tx,
            &format!(
                "UPDATE deliveries SET state = 'cancelled', last_error = 'cancelled by ' || ?4
                 WHERE inbox = ?1 AND object_id = ?2 AND activity_id <> ?3
                   AND state = 'pending' AND leased = 0 AND kind IN ({kinds})"
            ),
            (inbox, object, activity_id, activity_id),
        )
    };
    match kind {
        "Update" => {
            cancel("'Update'")?;
            Ok(true)
        }
        "Create" => {
            cancel("'Delete'")?;
            Ok(true)
        }
        "Delete" => {
            // The inbox was to get the Create (it is waiting, or a Delete cancelled it) and has
            // nothing of the post: no 2xx for a Create or Update, none on the wire.
            let never_got_it = query_opt(
                tx,
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM deliveries
                     WHERE inbox = ?1 AND object_id = ?2 AND kind = 'Create'
                       AND (state = 'cancelled' OR (state = 'pending' AND leased = 0)))
                   AND NOT EXISTS (SELECT 1 FROM deliveries
                     WHERE inbox = ?1 AND object_id = ?2 AND kind IN ('Create', 'Update')
                       AND (delivered_at IS NOT NULL OR (state = 'pending' AND leased = 1)))",
                (inbox, object),
                |_| Ok(()),
            )?
            .is_some();
            cancel("'Create', 'Update'")?;
            Ok(!never_got_it)
        }
        _ => Ok(true),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The post the rows `enqueue` queues are about.
    const POST: &str = "https://x.example/users/news/posts/a";

    /// Each row about the post `enqueue` queues, oldest first, as ("activity host", state).
    fn states(s: &Store) -> Vec<(String, DeliveryState)> {
        s.deliveries_of_object(POST)
            .unwrap()
            .into_iter()
            .map(|d| (format!("{} {}", d.activity_id, d.host), d.state))
            .collect()
    }

    pub(in crate::store) fn enqueue(
        s: &Store,
        activity: &str,
        kind: &str,
        inboxes: &[&str],
        now: i64,
    ) -> usize {
        let body = format!(r#"{{"id":"{activity}","type":"{kind}"}}"#);
        let inboxes: Vec<String> = inboxes.iter().map(|i| i.to_string()).collect();
        s.enqueue_delivery(
            &NewDelivery {
                activity_id: activity,
                object_id: Some(POST),
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
    fn can_queue_a_finished_activity_again_at_the_back_of_the_order() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 1000);
        let first = s.deliveries_of_activity("a1").unwrap()[0].id;
        s.complete_delivery(first, 202, 1500).unwrap();
        enqueue(&s, "u1", "Update", &["https://a.example/inbox"], 2000);
        assert_eq!(
            enqueue(&s, "a1", "Create", &["https://a.example/inbox"], 5000),
            1
        );
        assert!(s.delivery(first).unwrap().is_none(), "replaced, not reset");
        let row = s.deliveries_of_activity("a1").unwrap().remove(0);
        assert!(row.id > first);
        assert_eq!(
            (
                row.state,
                row.attempts,
                row.next_attempt_at,
                row.delivered_at
            ),
            (DeliveryState::Pending, 0, 5000, Some(1500))
        );
        // The Update queued before it goes first.
        let due: Vec<String> = s
            .due_deliveries(9000, 2, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.activity_id)
            .collect();
        assert_eq!(due, ["u1"]);
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
            // Accepts: about no object, so not ordered.
            s.enqueue_delivery(
                &NewDelivery {
                    activity_id: &format!("big{i}"),
                    object_id: None,
                    actor: "news",
                    body: r#"{"type":"Accept"}"#,
                },
                &["https://big.example/inbox".to_string()],
                i,
            )
            .unwrap();
        }
        enqueue(&s, "small", "Create", &["https://small.example/inbox"], 10);
        let due = s.due_deliveries(100, 2, 3).unwrap();
        let hosts: Vec<&str> = due.iter().map(|d| d.host.as_str()).collect();
        assert_eq!(hosts, ["big.example", "big.example", "small.example"]);
    }

    #[test]
    fn can_cancel_pending_creates_of_a_deleted_object_but_not_one_being_sent() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &["https://a.example/inbox"], 1);
        enqueue(&s, "u", "Update", &["https://a.example/inbox"], 2);
        enqueue(&s, "c", "Create", &["https://b.example/inbox"], 1);
        enqueue(&s, "c", "Create", &["https://c.example/inbox"], 1);
        let rows = s.deliveries_of_activity("c").unwrap();
        s.complete_delivery(rows[0].id, 202, 3).unwrap();
        assert!(s.lease_delivery(rows[2].id, 3, 300_000).unwrap());
        let n = s
            .drop_pending_deliveries(POST, &["Create", "Update"])
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            states(&s),
            [
                ("c a.example".into(), DeliveryState::Done),
                ("u a.example".into(), DeliveryState::Cancelled),
                ("c b.example".into(), DeliveryState::Cancelled),
                ("c c.example".into(), DeliveryState::Pending),
            ]
        );
        assert_eq!(
            s.latest_delivery_body(POST, &["Create"]).unwrap().unwrap(),
            r#"{"id":"c","type":"Create"}"#
        );
    }

    pub(in crate::store) const A: &str = "https://a.example/inbox";
    pub(in crate::store) const B: &str = "https://b.example/inbox";
    pub(in crate::store) const C: &str = "https://c.example/inbox";

    /// The activity ids due at `now`, in the order they would be claimed.
    fn due(s: &Store, now: i64) -> Vec<String> {
        s.due_deliveries(now, 10, 100)
            .unwrap()
            .into_iter()
            .map(|d| format!("{} {}", d.activity_id, d.host))
            .collect()
    }

    pub(in crate::store) fn row(s: &Store, activity: &str, inbox: &str) -> Delivery {
        s.deliveries_of_activity(activity)
            .unwrap()
            .into_iter()
            .find(|d| d.inbox == inbox)
            .unwrap()
    }

    #[test]
    fn can_hold_a_row_until_the_older_one_of_its_inbox_and_object_is_answered() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A, B], 1000);
        // The Create to A failed and is retried at 20 000; B got it.
        s.reschedule_delivery(row(&s, "c", A).id, 20_000, Some(503), "503")
            .unwrap();
        s.complete_delivery(row(&s, "c", B).id, 202, 1000).unwrap();
        enqueue(&s, "u", "Update", &[A, B], 2000);
        // Another object to the same inbox is not held up.
        s.enqueue_delivery(
            &NewDelivery {
                activity_id: "other",
                object_id: Some("https://x.example/users/news/posts/b"),
                actor: "news",
                body: r#"{"type":"Create"}"#,
            },
            &[A.to_string()],
            2000,
        )
        .unwrap();
        assert_eq!(due(&s, 3000), ["u b.example", "other a.example"]);
        // The worker sleeps until the retry, not until the Update held behind it.
        s.complete_delivery(row(&s, "u", B).id, 202, 3000).unwrap();
        s.complete_delivery(row(&s, "other", A).id, 202, 3000)
            .unwrap();
        assert_eq!(s.next_delivery_due().unwrap(), Some(20_000));
        assert_eq!(due(&s, 20_000), ["c a.example"]);
        // Being sent still holds the Update; answered, it lets it go.
        let id = row(&s, "c", A).id;
        assert!(s.lease_delivery(id, 20_000, 320_000).unwrap());
        assert!(due(&s, 30_000).is_empty());
        s.complete_delivery(id, 202, 21_000).unwrap();
        assert_eq!(due(&s, 21_000), ["u a.example"]);
        // A failed row holds nothing up.
        enqueue(&s, "u2", "Update", &[B], 22_000);
        enqueue(&s, "u3", "Update", &[B], 22_000);
        assert_eq!(due(&s, 22_000), ["u a.example", "u3 b.example"]);
    }

    #[test]
    fn can_claim_and_complete_in_batches_keeping_the_order() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A, B, C], 1000);
        enqueue(&s, "u", "Update", &[A, B, C], 1000);
        // Only the Creates are in turn; C is turned down by the caller (its host is busy).
        let (taken, left) = s
            .claim_deliveries(2000, 302_000, 10, 100, 100, |host| host != "c.example")
            .unwrap();
        let names: Vec<String> = taken
            .iter()
            .map(|d| format!("{} {}", d.activity_id, d.host))
            .collect();
        assert_eq!(names, ["c a.example", "c b.example"]);
        assert!(left, "c c.example was due and not taken");
        assert!(taken.iter().all(|d| d.next_attempt_at == 302_000));
        // Leased: neither they nor the Updates behind them are claimed again.
        let (again, _) = s
            .claim_deliveries(3000, 303_000, 10, 100, 100, |_| true)
            .unwrap();
        let names: Vec<String> = again
            .iter()
            .map(|d| format!("{} {}", d.activity_id, d.host))
            .collect();
        assert_eq!(names, ["c c.example"]);
        let done: Vec<(i64, u16)> = taken.iter().map(|d| (d.id, 202)).collect();
        s.complete_deliveries(&done, 4000).unwrap();
        assert_eq!(row(&s, "c", A).state, DeliveryState::Done);
        assert_eq!(row(&s, "c", B).delivered_at, Some(4000));
        // Answered, they let their Updates go; C's still waits for its Create on the wire.
        assert_eq!(due(&s, 5000), ["u a.example", "u b.example"]);
    }

    /// Queues the Create `c` at 1000 to `n` inboxes, the `i`-th at `inbox(i)`.
    fn create_for_many(s: &Store, n: usize, inbox: impl Fn(usize) -> String) {
        let inboxes: Vec<String> = (0..n).map(inbox).collect();
        let inboxes: Vec<&str> = inboxes.iter().map(String::as_str).collect();
        enqueue(s, "c", "Create", &inboxes, 1000);
    }

    #[test]
    fn can_claim_past_one_hosts_backlog_at_the_head_of_the_queue() {
        let s = Store::open_in_memory().unwrap();
        // 600 inboxes of one host are due first; two other hosts' rows wait behind them.
        create_for_many(&s, 600, |i| format!("https://big.example/users/u{i}/inbox"));
        enqueue(&s, "c2", "Create", &[B, C], 1001);
        // The caller allows 8 per host; the head (512 rows) is all the big host's.
        let mut per_host: HashMap<String, usize> = HashMap::new();
        let (taken, left) = s
            .claim_deliveries(2000, 302_000, 8, 100, 512, |host| {
                let n = per_host.entry(host.to_string()).or_default();
                *n += 1;
                *n <= 8
            })
            .unwrap();
        let hosts: Vec<&str> = taken.iter().map(|d| d.host.as_str()).collect();
        assert_eq!(hosts.iter().filter(|h| **h == "big.example").count(), 8);
        assert!(hosts.contains(&"b.example") && hosts.contains(&"c.example"));
        assert_eq!(taken.len(), 10);
        assert!(left, "the big host's other rows are still due");
        assert!(taken
            .iter()
            .all(|d| d.next_attempt_at == 302_000 && !d.body.is_empty()));
    }

    #[test]
    fn can_claim_a_slice_of_a_fan_out_and_leave_the_rest_due() {
        let s = Store::open_in_memory().unwrap();
        create_for_many(&s, 300, |i| format!("https://h{i}.example/inbox"));
        let (first, left) = s
            .claim_deliveries(2000, 302_000, 8, 64, 128, |_| true)
            .unwrap();
        assert_eq!(first.len(), 64);
        assert!(left);
        let (rest, left) = s
            .claim_deliveries(2000, 302_000, 8, 1000, 2000, |_| true)
            .unwrap();
        assert_eq!(rest.len(), 236);
        assert!(!left, "nothing due is left");
        let mut ids: Vec<i64> = first.iter().chain(&rest).map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 300, "no row is claimed twice");
        assert_eq!(s.next_delivery_due().unwrap(), Some(302_000));
    }

    #[test]
    fn can_choose_due_rows_without_reading_their_bodies() {
        let s = Store::open_in_memory().unwrap();
        let conn = s.conn();
        let plan: Vec<String> = query_all(
            &conn,
            &format!(
                "EXPLAIN QUERY PLAN {}",
                due_sql(&format!("{COLUMNS} FROM {ROWS}"))
            ),
            (0, 8, 512),
            |r| r.get(3),
        )
        .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("COVERING INDEX deliveries_claim"), "{plan}");
        assert!(
            plan.contains("COVERING INDEX deliveries_in_order"),
            "{plan}"
        );
        // Only the chosen ids are read from the table.
        assert!(
            plan.contains("SEARCH deliveries USING INTEGER PRIMARY KEY"),
            "{plan}"
        );
    }

    #[test]
    fn can_keep_only_the_newest_pending_update_per_inbox() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "u1", "Update", &[A, B], 1000);
        let sending = row(&s, "u1", B).id;
        assert!(s.lease_delivery(sending, 1000, 301_000).unwrap());
        enqueue(&s, "u2", "Update", &[A, B], 2000);
        enqueue(&s, "u3", "Update", &[A], 3000);
        let states = |activity: &str| -> Vec<DeliveryState> {
            s.deliveries_of_activity(activity)
                .unwrap()
                .iter()
                .map(|d| d.state)
                .collect()
        };
        use DeliveryState::{Cancelled, Pending};
        // u1 to B is on the wire: it stays, and u2 waits for it.
        assert_eq!(states("u1"), [Cancelled, Pending]);
        assert_eq!(states("u2"), [Cancelled, Pending]);
        assert_eq!(states("u3"), [Pending]);
        assert_eq!(
            row(&s, "u2", A).last_error.as_deref(),
            Some("cancelled by u3")
        );
        assert_eq!(due(&s, 200_000), ["u3 a.example"]);
        // Queueing the same Update again changes nothing.
        assert_eq!(enqueue(&s, "u3", "Update", &[A], 4000), 0);
        assert_eq!(states("u3"), [Pending]);
    }

    #[test]
    fn can_cancel_a_create_and_its_delete_for_an_inbox_that_never_got_the_post() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A, B, C], 1000);
        enqueue(&s, "u", "Update", &[A, B], 1500);
        // A is retrying the Create, B got it, C is being sent it.
        s.reschedule_delivery(row(&s, "c", A).id, 20_000, Some(503), "503")
            .unwrap();
        s.complete_delivery(row(&s, "c", B).id, 202, 1000).unwrap();
        assert!(s.lease_delivery(row(&s, "c", C).id, 1000, 301_000).unwrap());
        assert_eq!(enqueue(&s, "d", "Delete", &[A, B, C], 2000), 2);
        use DeliveryState::{Cancelled, Done, Pending};
        assert_eq!(
            states(&s),
            [
                ("c a.example".into(), Cancelled),
                ("c b.example".into(), Done),
                ("c c.example".into(), Pending),
                ("u a.example".into(), Cancelled),
                ("u b.example".into(), Cancelled),
                ("d b.example".into(), Pending),
                ("d c.example".into(), Pending),
            ]
        );
        // The Delete to C waits for the Create on the wire.
        assert_eq!(due(&s, 2000), ["d b.example"]);
        // The same holds when the Creates were cancelled first (by the outbox).
        enqueue(&s, "c2", "Create", &[A], 3000);
        s.drop_pending_deliveries(POST, &["Create", "Update"])
            .unwrap();
        assert_eq!(enqueue(&s, "d2", "Delete", &[A], 3000), 0);
        // An inbox that had the post once still hears of its removal, whatever came since.
        enqueue(&s, "c", "Create", &[B], 4000);
        s.drop_pending_deliveries(POST, &["Create"]).unwrap();
        assert_eq!(enqueue(&s, "d3", "Delete", &[B], 4000), 1);
        // So does an inbox the queue knows nothing about (a follower since).
        assert_eq!(
            enqueue(&s, "d3", "Delete", &["https://new.example/inbox"], 4000),
            1
        );
    }

    #[test]
    fn can_drop_a_pending_delete_when_the_post_comes_back() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A], 1000);
        s.complete_delivery(row(&s, "c", A).id, 202, 1000).unwrap();
        enqueue(&s, "d", "Delete", &[A], 2000);
        enqueue(&s, "c", "Create", &[A], 3000);
        assert_eq!(row(&s, "d", A).state, DeliveryState::Cancelled);
        assert_eq!(due(&s, 3000), ["c a.example"]);
    }

    #[test]
    fn can_migrate_an_older_queue_keeping_rows_and_ids() {
        let conn = crate::store::tests::db_at_version(
            3,
            "INSERT INTO deliveries (activity_id, object_id, kind, actor, inbox, body, state,
                next_attempt_at, created_at) VALUES
               ('c', 'p', 'Create', 'news', 'https://a.example/inbox', '{}', 'done', 5, 5),
               ('u', 'p', 'Update', 'news', 'https://a.example/inbox', '{}', 'pending', 6, 6),
               ('x', 'p', 'Update', 'news', 'https://b.example/inbox', '{}', 'pending', 7, 7);
             DELETE FROM deliveries WHERE activity_id = 'x';",
        );
        conn.execute_batch(super::super::MIGRATIONS[3]).unwrap();
        let rows: Vec<(i64, String, String, Option<i64>)> = query_all(
            &conn,
            "SELECT id, activity_id, state, delivered_at FROM deliveries ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
        assert_eq!(
            rows,
            [
                (1, "c".into(), "done".into(), Some(5)),
                (2, "u".into(), "pending".into(), None)
            ]
        );
        // Ids are never handed out twice, even that of a row deleted before the migration.
        conn.execute(
            "INSERT INTO deliveries (activity_id, actor, inbox, body, next_attempt_at, created_at)
             VALUES ('y', 'news', 'https://a.example/inbox', '{}', 8, 8)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 4);
    }

    #[test]
    fn can_migrate_a_queue_of_copied_bodies_to_one_body_per_activity() {
        let conn = crate::store::tests::db_at_version(
            8,
            "INSERT INTO deliveries (activity_id, object_id, kind, actor, inbox, host, body, state,
                next_attempt_at, created_at) VALUES
               ('c', 'p', 'Create', 'news', 'https://a.example/inbox', 'a.example', '{\"c\":1}', 'done', 5, 5),
               ('c', 'p', 'Create', 'news', 'https://b.example/inbox', 'b.example', '{\"c\":1}', 'pending', 5, 5),
               ('u', 'p', 'Update', 'news', 'https://a.example/inbox', 'a.example', '{\"u\":1}', 'pending', 6, 6);",
        );
        conn.execute_batch(super::super::MIGRATIONS[8]).unwrap();
        let rows: Vec<(i64, String, i64, String)> = query_all(
            &conn,
            "SELECT id, activity_id, body_id, body FROM deliveries
             JOIN delivery_bodies USING (body_id) ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
        assert_eq!(
            rows,
            [
                (1, "c".into(), 1, r#"{"c":1}"#.into()),
                (2, "c".into(), 1, r#"{"c":1}"#.into()),
                (3, "u".into(), 3, r#"{"u":1}"#.into()),
            ]
        );
        let bodies: i64 = conn
            .query_row("SELECT COUNT(*) FROM delivery_bodies", [], |r| r.get(0))
            .unwrap();
        assert_eq!(bodies, 2);
    }

    #[test]
    fn can_store_a_fan_outs_body_once_and_forget_it_with_its_rows() {
        let s = Store::open_in_memory().unwrap();
        enqueue(&s, "c", "Create", &[A, B, C], 1000);
        enqueue(&s, "u", "Update", &[A, B, C], 2000);
        let bodies = |s: &Store| -> i64 {
            s.query_opt("SELECT COUNT(*) FROM delivery_bodies", [], |r| r.get(0))
                .unwrap()
                .unwrap()
        };
        assert_eq!(bodies(&s), 2);
        assert_eq!(row(&s, "u", C).body, r#"{"id":"u","type":"Update"}"#);
        let done: Vec<(i64, u16)> = [A, B, C]
            .iter()
            .map(|i| (row(&s, "c", i).id, 202))
            .collect();
        s.complete_deliveries(&done, 3000).unwrap();
        // The Create's rows are pruned, and with them its body; the Update's stays.
        assert_eq!(s.prune_deliveries(1500, 0).unwrap(), 3);
        assert_eq!(bodies(&s), 1);
        assert_eq!(row(&s, "u", A).body, r#"{"id":"u","type":"Update"}"#);
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
}
