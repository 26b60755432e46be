//! `inbox_activities`: every verified incoming activity, once. The id is the dedupe key and the row
//! is the durable job: the inbox answers 202 after the insert, and the inbox worker processes
//! queued rows (also those left queued by a crash, at the next start).
//!
//! Under load the inserts are committed in groups ([`Store::record_inbox_activity_grouped`]):
//! each request waits for the commit that holds its row, so a 202 still means "on disk", while
//! one transaction carries every activity that arrived during the previous commit. The inbox
//! workers' outcomes join the same groups ([`Store::settle_inbox_activities_grouped`]), so under
//! load the queue's inserts and updates share one commit.
//!
//! Every row committed here is also kept in memory, in commit order, for the inbox dispatcher
//! ([`Store::take_committed_inbox_activities`]): under load it hands the rows to the workers
//! from there instead of reading each row and its body back. The table stays the truth: what is
//! not kept (too many waiting, a restart) is read from it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{execute, InteractionChange, Store, StoreError};

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

/// A verified activity to record, owned: what waits for a group commit.
#[derive(Clone, Debug)]
pub struct ArrivedActivity {
    pub id: String,
    /// The verified remote actor that signed it.
    pub signer: String,
    /// Our handle for a personal inbox; `None` for the shared inbox.
    pub recipient: Option<String>,
    /// The activity `type`.
    pub kind: String,
    /// The JSON body as received.
    pub body: String,
    /// The signature scheme that verified it.
    pub signature: &'static str,
}

impl ArrivedActivity {
    fn as_new(&self) -> NewInboxActivity<'_> {
        NewInboxActivity {
            id: &self.id,
            signer: &self.signer,
            recipient: self.recipient.as_deref(),
            kind: &self.kind,
            body: &self.body,
            signature: self.signature,
        }
    }
}

/// Activities waiting for the next group commit, and whether a committer is at work; and the
/// rows committed, kept for the dispatcher.
#[derive(Default)]
pub(super) struct GroupCommit {
    state: Mutex<Waiting>,
    committed: Mutex<Committed>,
}

/// Rows committed to `inbox_activities`, by rowid, not yet taken by the dispatcher.
#[derive(Default)]
struct Committed {
    rows: VecDeque<(i64, InboxActivity)>,
    /// The bytes of the bodies in `rows`.
    bytes: usize,
    /// Every row committed since the first one kept with a larger rowid than this is in `rows`
    /// or was taken; `None` before the first row is kept.
    complete_after: Option<i64>,
}

/// The most committed rows kept for the dispatcher, and the most bytes of their bodies; beyond
/// either the oldest are let go (the dispatcher then reads the queue).
const KEPT_ROWS: usize = 2048;
const KEPT_BYTES: usize = 4 << 20;

impl Committed {
    /// Keeps a row just committed, under the writer's lock (so rows come in rowid order).
    fn keep(&mut self, rowid: i64, row: InboxActivity) {
        self.complete_after.get_or_insert(rowid - 1);
        self.bytes += row.body.len();
        self.rows.push_back((rowid, row));
        while self.rows.len() > KEPT_ROWS || self.bytes > KEPT_BYTES {
            // Let go: the table is the only place to find it, and what follows it.
            let Some((gone, row)) = self.rows.pop_front() else {
                break;
            };
            self.bytes -= row.body.len();
            self.complete_after = self.complete_after.max(Some(gone));
        }
    }
}

#[derive(Default)]
struct Waiting {
    rows: Vec<Entry>,
    committing: bool,
    /// Rows that ever joined, and groups committed (or tried): what a test counts.
    arrived: u64,
    groups: u64,
}

/// A write waiting for its commit, and who waits for the answer.
struct Entry {
    write: Write,
    done: oneshot::Sender<Result<bool, StoreError>>,
}

/// What one waiting caller writes.
enum Write {
    /// A row received at `now_ms` (answered whether it was new).
    Record {
        activity: ArrivedActivity,
        now_ms: i64,
    },
    /// The outcomes of a worker's jobs with the interactions they made (see
    /// [`Store::settle_inbox_activities`]).
    Settle {
        interactions: Vec<InteractionChange>,
        outcomes: Vec<(String, JobOutcome)>,
    },
}

/// The most rows one group commit holds (bodies are up to 1 MiB each).
const GROUP: usize = 256;

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

const RECORD: &str = "INSERT OR IGNORE INTO inbox_activities
       (id, signer, recipient, type, body, signature, received_at, next_attempt_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";

/// The due rows after a position, read along the rowid (see
/// [`Store::due_inbox_activities_after`]).
const DUE_AFTER_POSITION: &str =
    "SELECT id, signer, recipient, type, body, attempts, rowid FROM inbox_activities
     WHERE rowid > ?2 AND +state = 'queued' AND +next_attempt_at <= ?1
     ORDER BY rowid LIMIT ?3";

const FINISH: &str =
    "UPDATE inbox_activities SET state = 'done', attempts = attempts + 1, error = NULL
     WHERE id = ?1";

const FAIL: &str = "UPDATE inbox_activities SET attempts = attempts + 1, error = ?2,
       state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'queued' END,
       next_attempt_at = COALESCE(?3, next_attempt_at)
     WHERE id = ?1";

impl GroupCommit {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn committed(&self) -> std::sync::MutexGuard<'_, Committed> {
        self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn record_params<'a>(a: &'a NewInboxActivity<'a>, now_ms: i64) -> impl rusqlite::Params + 'a {
    (
        a.id,
        a.signer,
        a.recipient,
        a.kind,
        a.body,
        a.signature,
        now_ms,
    )
}

impl NewInboxActivity<'_> {
    /// The queued row this becomes.
    fn queued(&self) -> InboxActivity {
        InboxActivity {
            id: self.id.to_string(),
            signer: self.signer.to_string(),
            recipient: self.recipient.map(str::to_string),
            kind: self.kind.to_string(),
            body: self.body.to_string(),
            attempts: 0,
        }
    }
}

impl InboxActivity {
    /// A row of `SELECT id, signer, recipient, type, body, attempts ...`.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxActivity> {
        from_row!(r => InboxActivity { id, signer, recipient, kind, body, attempts })
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
        let conn = self.conn();
        let n = execute(&conn, RECORD, record_params(a, now_ms)).map_err(self.err())?;
        if n > 0 {
            let rowid = conn.last_insert_rowid();
            self.group_commit.committed().keep(rowid, a.queued());
        }
        Ok(n > 0)
    }

    /// [`Store::record_inbox_activity`], committed with whatever else arrived meanwhile: the row
    /// joins the waiting group, and the caller is answered once the transaction holding it has
    /// committed (so a 202 sent after this still means the activity survives a crash). When no
    /// commit is running, this call starts a committer on a blocking thread; it commits group
    /// after group until nobody waits, so under load one transaction carries many activities,
    /// and alone an activity waits for nothing but its own commit.
    pub async fn record_inbox_activity_grouped(
        self: &Arc<Self>,
        a: ArrivedActivity,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let write = Write::Record {
            activity: a,
            now_ms,
        };
        self.join_group_commit(write).await
    }

    /// [`Store::settle_inbox_activities`] in the next group commit, with the activities being
    /// received and the outcomes of the other workers: under load the queue's writes share one
    /// commit. Answered once it has committed.
    pub async fn settle_inbox_activities_grouped(
        self: &Arc<Self>,
        interactions: Vec<InteractionChange>,
        outcomes: Vec<(String, JobOutcome)>,
    ) -> Result<(), StoreError> {
        let write = Write::Settle {
            interactions,
            outcomes,
        };
        self.join_group_commit(write).await.map(|_| ())
    }

    /// Waits for the commit that holds `write`, starting a committer when none is at work.
    async fn join_group_commit(self: &Arc<Self>, write: Write) -> Result<bool, StoreError> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut waiting = self.group_commit.lock();
            waiting.rows.push(Entry { write, done });
            waiting.arrived += 1;
            !std::mem::replace(&mut waiting.committing, true)
        };
        if start {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.commit_groups());
        }
        answer.await.unwrap_or_else(|_| {
            Err(self.corrupt("the inbox group commit stopped before recording".into()))
        })
    }

    /// Commits waiting groups until none is left, then lets the next arrival start a committer.
    fn commit_groups(&self) {
        // Should a commit panic, every waiting row is answered with an error (its sender is
        // dropped: the request fails, the sender retries) and the next arrival starts anew.
        struct Release<'a>(&'a GroupCommit);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut waiting = self.0.lock();
                waiting.committing = false;
                waiting.rows.clear();
            }
        }
        let release = Release(&self.group_commit);
        loop {
            let group: Vec<_> = {
                let mut waiting = self.group_commit.lock();
                if waiting.rows.is_empty() {
                    waiting.committing = false;
                    std::mem::forget(release);
                    return;
                }
                let n = waiting.rows.len().min(GROUP);
                waiting.groups += 1;
                tracing::trace!(
                    rows = n,
                    group = waiting.groups,
                    of = waiting.arrived,
                    "inbox group commit"
                );
                waiting.rows.drain(..n).collect()
            };
            match self.commit_group(&group) {
                Ok(rowids) => {
                    for (e, rowid) in group.into_iter().zip(rowids) {
                        let settled = matches!(e.write, Write::Settle { .. });
                        let _ = e.done.send(Ok(settled || rowid.is_some()));
                    }
                }
                // One bad row must not fail the others: each is recorded alone, with its own
                // answer.
                Err(e) => {
                    tracing::warn!(rows = group.len(), error = %e, "inbox group commit failed; recording each alone");
                    for e in group {
                        let alone = match &e.write {
                            Write::Record { activity, now_ms } => {
                                self.record_inbox_activity(&activity.as_new(), *now_ms)
                            }
                            Write::Settle {
                                interactions,
                                outcomes,
                            } => self
                                .settle_inbox_activities(interactions, outcomes)
                                .map(|()| true),
                        };
                        let _ = e.done.send(alone);
                    }
                }
            }
        }
    }

    /// Records `group` in one transaction and keeps the new rows for the dispatcher (under the
    /// writer's lock, so in rowid order). The rowid of each row, `None` for a repeat.
    fn commit_group(&self, group: &[Entry]) -> Result<Vec<Option<i64>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let rowids = group
            .iter()
            .map(|e| match &e.write {
                Write::Record { activity, now_ms } => {
                    let n = execute(&tx, RECORD, record_params(&activity.as_new(), *now_ms))?;
                    Ok((n > 0).then(|| tx.last_insert_rowid()))
                }
                Write::Settle {
                    interactions,
                    outcomes,
                } => settle(&tx, interactions, outcomes).map(|()| None),
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        let mut committed = self.group_commit.committed();
        for (e, rowid) in group.iter().zip(&rowids) {
            if let (Write::Record { activity, .. }, Some(rowid)) = (&e.write, rowid) {
                committed.keep(*rowid, activity.as_new().queued());
            }
        }
        Ok(rowids)
    }

    /// The rows committed after the one numbered `after` (see
    /// [`Store::due_inbox_activities_after`]), in commit order, as kept in memory since the
    /// last call: what `due_inbox_activities_after(now, after, ..)` would read, without reading
    /// it, for rows just committed are due and queued. `None` when memory does not hold every
    /// one of them (too many came since the last call, or `after` is older than what is kept);
    /// then the caller reads the table. Either way what was kept is let go.
    pub fn take_committed_inbox_activities(
        &self,
        after: Option<i64>,
    ) -> Option<Vec<(i64, InboxActivity)>> {
        let mut committed = self.group_commit.committed();
        let complete = match (after, committed.complete_after) {
            (Some(after), Some(from)) => from <= after,
            // Nothing committed since this store was opened.
            (_, None) => committed.rows.is_empty(),
            (None, Some(_)) => false,
        };
        let rows = std::mem::take(&mut committed.rows);
        committed.bytes = 0;
        if let Some((last, _)) = rows.back() {
            committed.complete_after = committed.complete_after.max(Some(*last));
        }
        complete.then(|| {
            rows.into_iter()
                .filter(|(rowid, _)| Some(*rowid) > after)
                .collect()
        })
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

    /// Up to `limit` queued activities due at `now_ms` recorded after the one numbered `after`
    /// (`None` for the start), in the order they were recorded, each with its number: the inbox
    /// dispatcher pages through the queue with this, so a row is read once per pass. The number
    /// is the row's `rowid`: one writer assigns it, so it grows in commit order, and a row
    /// committed after the dispatcher looked is never behind its position. (`received_at` is
    /// not: a request stamped earlier may commit later.)
    pub fn due_inbox_activities_after(
        &self,
        now_ms: i64,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, InboxActivity)>, StoreError> {
        // From a position, the rows are read along the rowid from there (`+` keeps SQLite from
        // taking the queued index instead and sorting every queued row, which cost a fifth of
        // the server's CPU with thousands queued); from the head, the queued index finds the
        // few rows left behind among everything done.
        let sql = if after.is_some() {
            DUE_AFTER_POSITION
        } else {
            "SELECT id, signer, recipient, type, body, attempts, rowid FROM inbox_activities
             WHERE rowid > ?2 AND state = 'queued' AND next_attempt_at <= ?1
             ORDER BY rowid LIMIT ?3"
        };
        self.query_all(
            sql,
            (now_ms, after.unwrap_or(i64::MIN), limit as i64),
            |r| Ok((r.get(6)?, InboxActivity::from_row(r)?)),
        )
    }

    /// Records what came of several jobs (by id) at once, in one transaction with the changes
    /// to `interactions` they made (written first, in order): a batch of Likes is one commit.
    pub fn settle_inbox_activities(
        &self,
        interactions: &[InteractionChange],
        outcomes: &[(String, JobOutcome)],
    ) -> Result<(), StoreError> {
        self.transaction(|tx| settle(tx, interactions, outcomes).map_err(self.err()))
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
        // The newest row is kept whatever its age: SQLite gives a new row the largest rowid
        // plus one, and a number handed out again would be behind the dispatcher's position.
        self.execute(
            "DELETE FROM inbox_activities WHERE state IN ('done', 'failed') AND received_at < ?1
               AND rowid < (SELECT MAX(rowid) FROM inbox_activities)",
            [before_ms],
        )
    }
}

/// Writes `interactions` in order, then `outcomes`, on the writer's transaction.
fn settle(
    conn: &rusqlite::Connection,
    interactions: &[InteractionChange],
    outcomes: &[(String, JobOutcome)],
) -> rusqlite::Result<()> {
    for change in interactions {
        change.write(conn)?;
    }
    for (id, outcome) in outcomes {
        match outcome {
            JobOutcome::Done => execute(conn, FINISH, [id]),
            JobOutcome::Failed { error, retry_at } => execute(conn, FAIL, (id, error, retry_at)),
        }?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::query_all;

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

    /// Records [`new`]`(id)` at `now_ms`: false when its id was seen before.
    fn record(s: &Store, id: &str, now_ms: i64) -> bool {
        s.record_inbox_activity(&new(id), now_ms).unwrap()
    }

    #[test]
    fn can_record_an_activity_id_only_once() {
        let s = Store::open_in_memory().unwrap();
        assert!(record(&s, "https://r.example/1", 10));
        assert!(!record(&s, "https://r.example/1", 20));
        assert_eq!(s.due_inbox_activities(20, 10).unwrap().len(), 1);
        s.finish_inbox_activity("https://r.example/1").unwrap();
        assert!(s.due_inbox_activities(20, 10).unwrap().is_empty());
        assert!(!record(&s, "https://r.example/1", 30));
    }

    #[test]
    fn can_retry_a_failed_activity_later_then_give_up() {
        let s = Store::open_in_memory().unwrap();
        record(&s, "https://r.example/1", 10);
        s.fail_inbox_activity("https://r.example/1", "down", Some(100))
            .unwrap();
        assert!(s.due_inbox_activities(99, 10).unwrap().is_empty());
        let due = s.due_inbox_activities(100, 10).unwrap();
        assert_eq!(due[0].attempts, 1);
        s.fail_inbox_activity("https://r.example/1", "down", None)
            .unwrap();
        assert!(s.due_inbox_activities(i64::MAX, 10).unwrap().is_empty());
    }

    fn arrived(id: &str) -> ArrivedActivity {
        let n = new(id);
        ArrivedActivity {
            id: n.id.to_string(),
            signer: n.signer.to_string(),
            recipient: None,
            kind: n.kind.to_string(),
            body: n.body.to_string(),
            signature: "draft-cavage-12",
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn can_commit_what_arrives_during_a_commit_as_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        // The writer is busy (as with a long commit): everything that arrives meanwhile waits.
        let (held, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let holder = {
            let store = store.clone();
            std::thread::spawn(move || {
                let _busy = store.conn();
                held.0.send(()).unwrap();
                let _ = release.1.recv();
            })
        };
        held.1.recv().unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = store.clone();
                // Two requests carry each id: the second is a repeat.
                let id = format!("https://r.example/{}", i / 2);
                tokio::spawn(
                    async move { store.record_inbox_activity_grouped(arrived(&id), 10).await },
                )
            })
            .collect();
        while store.group_commit.lock().arrived < 50 {
            tokio::task::yield_now().await;
        }
        release.0.send(()).unwrap();
        holder.join().unwrap();
        let mut fresh = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 25);
        // At most the group taken before the writer was free, and one with all the rest.
        assert!(store.group_commit.lock().groups <= 2);
        // Answered means committed: another connection reads every row.
        assert_eq!(store.due_inbox_activities(10, 100).unwrap().len(), 25);
        // The committer stops once it finds nobody waiting (after answering the last group).
        let stopped = std::time::Instant::now();
        while store.group_commit.lock().committing {
            assert!(stopped.elapsed() < std::time::Duration::from_secs(5));
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn can_settle_outcomes_in_the_group_commit_with_arriving_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        for id in ["https://r.example/1", "https://r.example/2"] {
            record(&store, id, 10);
        }
        let like = InteractionChange::Add {
            activity_id: "https://r.example/1".into(),
            kind: crate::store::InteractionKind::Like,
            actor: "https://r.example/u/a".into(),
            post_actor: "news".into(),
            post_slug: "hi".into(),
        };
        let failed = JobOutcome::Failed {
            error: "down".into(),
            retry_at: Some(100),
        };
        let outcomes = vec![
            ("https://r.example/1".to_string(), JobOutcome::Done),
            ("https://r.example/2".to_string(), failed),
        ];
        let (settled, recorded) = tokio::join!(
            store.settle_inbox_activities_grouped(vec![like], outcomes),
            store.record_inbox_activity_grouped(arrived("https://r.example/3"), 20),
        );
        settled.unwrap();
        assert!(recorded.unwrap());
        assert_eq!(store.interaction_counts("news", "hi").unwrap().likes, 1);
        let due: Vec<_> = store.due_inbox_activities(100, 10).unwrap();
        let ids: Vec<(&str, i64)> = due.iter().map(|a| (a.id.as_str(), a.attempts)).collect();
        assert_eq!(
            ids,
            [("https://r.example/2", 1), ("https://r.example/3", 0)]
        );
    }

    #[test]
    fn can_page_the_queue_in_the_order_rows_were_committed() {
        let s = Store::open_in_memory().unwrap();
        record(&s, "https://r.example/b", 20);
        let first = s.due_inbox_activities_after(100, None, 10).unwrap();
        assert_eq!(first.len(), 1);
        // Stamped earlier, with an id that sorts first, committed later: after the position.
        record(&s, "https://r.example/a", 10);
        let next = s
            .due_inbox_activities_after(100, Some(first[0].0), 10)
            .unwrap();
        let ids: Vec<&str> = next.iter().map(|(_, a)| a.id.as_str()).collect();
        assert_eq!(ids, ["https://r.example/a"]);
        assert!(s
            .due_inbox_activities_after(100, Some(next[0].0), 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn can_hand_over_committed_rows_from_memory_in_commit_order() {
        let s = Store::open_in_memory().unwrap();
        // Nothing committed yet: memory vouches for nothing after no position.
        assert_eq!(s.take_committed_inbox_activities(None), Some(vec![]));
        record(&s, "https://r.example/1", 10);
        let read = s.due_inbox_activities_after(10, None, 10).unwrap();
        // From the queue's head, the table must be read (rows from before may be queued).
        assert_eq!(s.take_committed_inbox_activities(None), None);
        let position = Some(read[0].0);
        for id in ["https://r.example/3", "https://r.example/2"] {
            record(&s, id, 20);
        }
        // A repeat is not a new row.
        record(&s, "https://r.example/2", 30);
        let kept = s.take_committed_inbox_activities(position).unwrap();
        assert_eq!(
            kept,
            s.due_inbox_activities_after(30, position, 10).unwrap()
        );
        let ids: Vec<&str> = kept.iter().map(|(_, a)| a.id.as_str()).collect();
        assert_eq!(ids, ["https://r.example/3", "https://r.example/2"]);
        // Taken once.
        let last = Some(kept[1].0);
        assert_eq!(s.take_committed_inbox_activities(last), Some(vec![]));
    }

    #[test]
    fn can_fall_back_to_the_table_when_memory_let_rows_go() {
        let s = Store::open_in_memory().unwrap();
        record(&s, "https://r.example/0", 10);
        let position = Some(s.due_inbox_activities_after(10, None, 1).unwrap()[0].0);
        let _ = s.take_committed_inbox_activities(position);
        for i in 1..=KEPT_ROWS + 1 {
            record(&s, &format!("https://r.example/{i}"), 20);
        }
        // The first row after the position was let go: the table is read instead.
        assert_eq!(s.take_committed_inbox_activities(position), None);
        // Once the reader has read past what was let go, memory serves again.
        let read = s
            .due_inbox_activities_after(20, position, KEPT_ROWS + 10)
            .unwrap();
        assert_eq!(read.len(), KEPT_ROWS + 1);
        record(&s, "https://r.example/next", 30);
        let kept = s
            .take_committed_inbox_activities(Some(read.last().unwrap().0))
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].1.id, "https://r.example/next");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn can_keep_group_committed_rows_in_the_order_of_their_rowids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        record(&store, "https://r.example/first", 10);
        let position = Some(store.due_inbox_activities_after(10, None, 1).unwrap()[0].0);
        let _ = store.take_committed_inbox_activities(position);
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let store = store.clone();
                let id = format!("https://r.example/{i}");
                tokio::spawn(
                    async move { store.record_inbox_activity_grouped(arrived(&id), 10).await },
                )
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap());
        }
        let kept = store.take_committed_inbox_activities(position).unwrap();
        assert_eq!(
            kept,
            store.due_inbox_activities_after(10, position, 200).unwrap()
        );
    }

    #[test]
    fn can_read_the_queue_after_a_position_along_the_rowid_without_sorting() {
        let s = Store::open_in_memory().unwrap();
        let plan: Vec<String> = query_all(
            &s.conn(),
            &format!("EXPLAIN QUERY PLAN {DUE_AFTER_POSITION}"),
            (0, 0, 10),
            |r| r.get::<_, String>(3),
        )
        .unwrap();
        assert_eq!(
            plan,
            ["SEARCH inbox_activities USING INTEGER PRIMARY KEY (rowid>?)"]
        );
    }

    #[test]
    fn can_prune_processed_activities_and_keep_queued_ones() {
        let s = Store::open_in_memory().unwrap();
        for (id, at) in [
            ("https://r.example/old", 10),
            ("https://r.example/new", 100),
        ] {
            record(&s, id, at);
            s.finish_inbox_activity(id).unwrap();
        }
        record(&s, "https://r.example/failed", 10);
        s.fail_inbox_activity("https://r.example/failed", "bad", None)
            .unwrap();
        record(&s, "https://r.example/queued", 10);
        assert_eq!(s.prune_inbox_activities(50).unwrap(), 2);
        // The pruned id is forgotten; the recent one and the queued one are still known.
        assert!(record(&s, "https://r.example/old", 200));
        assert!(!record(&s, "https://r.example/new", 200));
        assert_eq!(s.due_inbox_activities(200, 10).unwrap().len(), 2);
    }
}
