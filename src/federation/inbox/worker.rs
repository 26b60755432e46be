//! The inbox's durable job loop: rows of `inbox_activities` processed at start (what a crash left
//! queued), whenever [`super::receive`] queues one, and every 30 s for retries that came due.
//! Every due and retry time is read from [`Inbox::clock`].
//!
//! Several workers (`[limits] inbox_workers`) apply jobs at once. A dispatcher pages through the
//! queue in arrival order and hands each row to the worker its signer hashes to, so the
//! activities of one actor are applied in the order they arrived (a Like before its Undo, a
//! Create before its Delete: an actor only creates, changes or deletes what is on its own
//! origin, so "about one object" is "from one actor" too), while a slow fetch holds only the
//! jobs of its own worker. A row stays `queued` in the store until its worker records the
//! outcome, so a crash loses nothing; the dispatcher remembers which rows are in hand and never
//! hands one out twice. Each worker takes what is waiting for it as one batch: comments files
//! are written once per post per batch ([`CommentChanges`]) and outcomes recorded in one
//! transaction, so under load the cost per activity falls instead of rising.
//!
//! Retry policy of a failed job (a fetch that failed, the store busy): at most [`MAX_ATTEMPTS`]
//! attempts; a job that failed for a reason worth retrying is due again `60 s · 4^(attempts-1)`
//! later, so after 1, 4, 16 and 64 minutes, then it is marked failed. An activity nobody can act
//! on (unknown type, not about us) is done, not failed. (`crate::clock` lists this schedule too.)

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch, Notify};

use super::apply::{apply, CommentChanges};
use super::interpret::interpret;
use super::{Inbox, JobError};
use crate::federation::comments::Written;
use crate::live::Live;
use crate::moderation::{self, Verdict};
use crate::plugins::{Judgement, Verdict as PluginVerdict};
use crate::store::{InboxActivity, JobOutcome};

/// How long the dispatcher sleeps between looks at the queue when nobody wakes it; each such
/// look starts from the queue's head, to find retries that came due.
const POLL: Duration = Duration::from_secs(30);

/// Attempts before a job is marked failed.
const MAX_ATTEMPTS: i64 = 5;

/// The first retry's wait; each later one waits 4 times longer.
const FIRST_RETRY_MS: i64 = 60_000;

/// Rows read from the queue at once.
const PAGE: usize = 200;

/// Rows waiting in one worker's hands; when full, the dispatcher leaves that worker's rows in
/// the store and comes back for them when it has room.
const WORKER_QUEUE: usize = 256;

/// The most jobs one worker takes as one batch.
const BATCH: usize = 128;

/// A position in the queue: the number of the last row read (see
/// `Store::due_inbox_activities_after`); `None` is its head.
type Pos = Option<i64>;

/// Processes queued activities with `[limits] inbox_workers` workers until `shutdown` turns
/// true; then each worker finishes the job in hand (the rest stay queued for the next start).
/// Each pass and each batch takes the inbox (config and blocks) current when it starts, since
/// site.toml may be reloaded meanwhile; the number of workers changes at the next start.
pub async fn run_worker(live: Live<Inbox>, mut shutdown: watch::Receiver<bool>) {
    let first = live.current();
    let wake = first.wake.clone();
    let in_hand = Arc::new(Mutex::new(HashSet::new()));
    let room = Arc::new(Notify::new());
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..first.site.limits.inbox_workers.max(1) {
        let (tx, rx) = mpsc::channel(WORKER_QUEUE);
        senders.push(tx);
        workers.push(tokio::spawn(run_shard(
            live.clone(),
            rx,
            in_hand.clone(),
            room.clone(),
            shutdown.clone(),
        )));
    }
    let mut dispatcher = Dispatcher {
        senders,
        in_hand,
        cursor: None,
        resume: None,
    };
    let mut from_head = true;
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = dispatcher.pass(&live.current(), from_head) {
            tracing::error!(error = %e, "cannot read the inbox queue");
        }
        from_head = false;
        tokio::select! {
            _ = wake.notified() => {}
            _ = room.notified() => {}
            _ = tokio::time::sleep(POLL) => from_head = true,
            _ = shutdown.changed() => break,
        }
    }
    drop(dispatcher);
    for w in workers {
        let _ = w.await;
    }
}

/// Hands queued rows to the workers.
struct Dispatcher {
    senders: Vec<mpsc::Sender<InboxActivity>>,
    /// Ids handed out and not yet recorded done or failed.
    in_hand: Arc<Mutex<HashSet<String>>>,
    /// Where the last pass stopped: newer rows are read from here.
    cursor: Pos,
    /// Where a pass first left a row behind because its worker was full.
    resume: Option<Pos>,
}

impl Dispatcher {
    /// Hands every due row after the cursor (or from the head, or from where a full worker made
    /// it stop) to its worker, in arrival order. A worker that is full gets none of its later
    /// rows in this pass either, so its rows stay in order.
    fn pass(&mut self, inbox: &Inbox, from_head: bool) -> Result<(), crate::store::StoreError> {
        let mut after = if from_head {
            self.resume = None;
            None
        } else {
            self.resume.take().unwrap_or(self.cursor)
        };
        let mut full = HashSet::new();
        loop {
            // The page is read and checked against `in_hand` under its lock: a worker removes
            // an id only after its outcome is committed, so a row read as queued here is either
            // still in hand or not yet handed out.
            let mut in_hand = self.in_hand.lock().unwrap_or_else(|p| p.into_inner());
            let rows = inbox
                .store
                .due_inbox_activities_after(inbox.clock.now_ms(), after, PAGE)?;
            if rows.is_empty() {
                break;
            }
            for (number, row) in rows {
                let before = after.replace(number);
                let shard = shard_of(&row.signer, self.senders.len());
                if full.contains(&shard) || in_hand.contains(&row.id) {
                    continue;
                }
                let id = row.id.clone();
                match self.senders[shard].try_send(row) {
                    Ok(()) => {
                        in_hand.insert(id);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        full.insert(shard);
                        self.resume.get_or_insert(before);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
                }
            }
        }
        self.cursor = after;
        Ok(())
    }
}

/// Which of `n` workers applies the activities signed by `signer`.
fn shard_of(signer: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    signer.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

/// One worker: takes what is waiting for it as a batch, applies it in order, records it.
async fn run_shard(
    live: Live<Inbox>,
    mut rows: mpsc::Receiver<InboxActivity>,
    in_hand: Arc<Mutex<HashSet<String>>>,
    room: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            row = rows.recv() => match row {
                Some(row) => row,
                None => return,
            },
            _ = shutdown.changed() => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rows.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        run_batch(&live.current(), batch, Some(&shutdown)).await;
        let mut hand = in_hand.lock().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            hand.remove(id);
        }
        drop(hand);
        room.notify_one();
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Processes every queued activity now due, in arrival order, on this task (what the workers
/// do, one batch after another). Returns how many were processed.
pub async fn process_due(inbox: &Inbox) -> usize {
    process_due_counting(inbox).await.0
}

/// [`process_due`], and what writing the comments files cost.
async fn process_due_counting(inbox: &Inbox) -> (usize, Written) {
    let mut done = 0;
    let mut cost = Written::default();
    loop {
        let rows = match inbox
            .store
            .due_inbox_activities(inbox.clock.now_ms(), BATCH)
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox queue");
                return (done, cost);
            }
        };
        if rows.is_empty() {
            return (done, cost);
        }
        let Some((n, written)) = run_batch(inbox, rows, None).await else {
            return (done, cost);
        };
        done += n;
        cost.rows_read += written.rows_read;
    }
}

/// Applies `rows` in order, writes the comments files they changed, then records every outcome
/// in one transaction. Stops early (leaving the rest queued) when `shutdown` turns true.
/// Returns how many were recorded and what the comments files cost, or `None` when the outcomes
/// could not be recorded.
async fn run_batch(
    inbox: &Inbox,
    rows: Vec<InboxActivity>,
    shutdown: Option<&watch::Receiver<bool>>,
) -> Option<(usize, Written)> {
    let mut comments = CommentChanges::default();
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        if shutdown.is_some_and(|s| *s.borrow()) {
            break;
        }
        let outcome = match process(inbox, &row, &mut comments).await {
            Ok(()) => JobOutcome::Done,
            Err(e) => {
                let attempts = row.attempts + 1;
                let retry_at = retry_delay_ms(attempts)
                    .filter(|_| e.retry)
                    .map(|wait| inbox.clock.now_ms() + wait);
                tracing::warn!(id = %row.id, attempts, retry = retry_at.is_some(), error = %e, "inbox job failed");
                JobOutcome::Failed {
                    error: e.message,
                    retry_at,
                }
            }
        };
        outcomes.push((row.id, outcome));
    }
    let written = comments.write(inbox);
    if let Err(e) = inbox.store.settle_inbox_activities(&outcomes) {
        tracing::error!(jobs = outcomes.len(), error = %e, "cannot update the inbox queue");
        return None;
    }
    Some((outcomes.len(), written))
}

/// How long after its `attempts`-th failed attempt a job is due again, or `None` when it has had
/// its [`MAX_ATTEMPTS`].
fn retry_delay_ms(attempts: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| FIRST_RETRY_MS * 4i64.pow((attempts - 1) as u32))
}

#[tracing::instrument(skip_all, fields(id = %row.id, kind = %row.kind))]
async fn process(
    inbox: &Inbox,
    row: &InboxActivity,
    comments: &mut CommentChanges,
) -> Result<(), JobError> {
    let activity: Value = serde_json::from_str(&row.body)
        .map_err(|e| JobError::fatal(format!("stored body is not JSON: {e}")))?;
    let event = interpret(inbox, &row.signer, &activity).await?;
    let verdict = moderation::judge(&inbox.moderation, &event);
    // The plugins judge what the built-in blocks let through; a call may take up to its
    // deadline, so it runs off the async workers.
    let judgement = match &inbox.plugins {
        Some(host) if !matches!(verdict, Verdict::Reject { .. }) && !host.is_empty() => {
            let (host, ev) = (host.clone(), event.clone());
            match tokio::task::spawn_blocking(move || host.judge(&ev)).await {
                Ok(j) => Some(j),
                Err(e) => return Err(JobError::fatal(format!("plugin host panicked: {e}"))),
            }
        }
        _ => None,
    };
    let verdict = match &judgement {
        Some(j) => combine(verdict, j),
        None => verdict,
    };
    tracing::debug!(event = ?event, verdict = ?verdict, "inbox event");
    apply(inbox, &activity, event, verdict, judgement, comments).await
}

/// The built-in verdict with the plugins' refusal on top: a plugin's reject or ignore drops the
/// event (a Follow is answered with Reject). Their holds, hides and escalations travel in the
/// [`Judgement`], which `apply` keeps with the item under the plugins' names.
fn combine(builtin: Verdict, judgement: &Judgement) -> Verdict {
    match &judgement.verdict {
        PluginVerdict::Reject(r) | PluginVerdict::Ignore(r) | PluginVerdict::Veto(r) => {
            Verdict::Reject {
                reason: format!("plugin {}: {r}", judgement.by.join(", ")),
            }
        }
        _ => builtin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, SharedCatalog};
    use crate::clock::Clock;
    use crate::config::Site;
    use crate::federation::fetch::Fetcher;
    use crate::moderation::Blocks;
    use crate::store::{ActorKeys, NewInboxActivity, Store};
    use crate::urls::Urls;
    use std::sync::Arc;

    const T0: i64 = 1_795_000_000_000;

    fn inbox(dir: &std::path::Path, clock: &Clock) -> Inbox {
        inbox_with(dir, clock, "")
    }

    /// The test inbox, with `extra` appended to its site.toml.
    fn inbox_with(dir: &std::path::Path, clock: &Clock, extra: &str) -> Inbox {
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        let text = format!(
            "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n{extra}"
        );
        let site = Site::parse(&dir.join("site.toml"), &text).unwrap().site;
        let store = Store::open_in_memory().unwrap();
        let urls = Urls::new(&site);
        let keys = ActorKeys::load(&store, ["news"]).unwrap();
        let fetcher = Fetcher::new(
            &site,
            &urls.instance_key_id(),
            keys.instance(),
            clock.clone(),
        )
        .unwrap();
        let (catalog, _) = Catalog::build(&site, &urls, &store, chrono::Utc::now()).unwrap();
        Inbox {
            site: Arc::new(site),
            urls,
            store: Arc::new(store),
            catalog: SharedCatalog::new(catalog),
            clock: clock.clone(),
            fetcher: Arc::new(fetcher),
            moderation: Arc::new(Blocks::default()),
            plugins: None,
            wake: Default::default(),
            delivery_wake: Default::default(),
            rates: Default::default(),
            comments_lock: Default::default(),
        }
    }

    #[test]
    fn can_space_retries_by_four_from_one_minute_then_give_up() {
        let got: Vec<_> = (1..=MAX_ATTEMPTS).map(retry_delay_ms).collect();
        let minute = 60_000;
        assert_eq!(
            got,
            [
                Some(minute),
                Some(4 * minute),
                Some(16 * minute),
                Some(64 * minute),
                None
            ]
        );
    }

    #[tokio::test]
    async fn can_retry_a_failed_job_one_minute_later_by_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(T0);
        let inbox = inbox(dir.path(), &clock);
        // A Follow from an actor nobody can fetch (plain http to a private address is refused
        // before any connection): the job fails in a way worth retrying.
        let actor = "http://127.0.0.1:9/users/a";
        let follow = serde_json::json!({
            "id": "http://127.0.0.1:9/follows/1", "type": "Follow",
            "actor": actor, "object": inbox.urls.actor("news"),
        });
        let queued = inbox
            .store
            .record_inbox_activity(
                &NewInboxActivity {
                    id: "http://127.0.0.1:9/follows/1",
                    signer: actor,
                    recipient: None,
                    kind: "Follow",
                    body: &follow.to_string(),
                    signature: "draft-cavage-12",
                },
                clock.now_ms(),
            )
            .unwrap();
        assert!(queued);

        assert_eq!(process_due(&inbox).await, 1);
        let due = |store: &Store| store.due_inbox_activities(clock.now_ms(), 10).unwrap();
        assert!(due(&inbox.store).is_empty());
        clock.advance(Duration::from_secs(59));
        assert!(due(&inbox.store).is_empty());
        assert_eq!(process_due(&inbox).await, 0);
        clock.advance(Duration::from_secs(1));
        let again = due(&inbox.store);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);

        // The second failure waits four minutes.
        assert_eq!(process_due(&inbox).await, 1);
        clock.advance(Duration::from_secs(4 * 60 - 1));
        assert!(due(&inbox.store).is_empty());
        clock.advance(Duration::from_secs(1));
        assert_eq!(due(&inbox.store)[0].attempts, 2);
    }

    fn queue(inbox: &Inbox, activity: &serde_json::Value) {
        let recorded = inbox.store.record_inbox_activity(
            &NewInboxActivity {
                id: activity["id"].as_str().unwrap(),
                signer: activity["actor"].as_str().unwrap(),
                recipient: None,
                kind: activity["type"].as_str().unwrap(),
                body: &activity.to_string(),
                signature: "draft-cavage-12",
            },
            inbox.clock.now_ms(),
        );
        assert!(recorded.unwrap());
    }

    #[tokio::test]
    async fn can_apply_other_jobs_while_a_remote_fetch_hangs() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(T0);
        let dev = "\n[dev]\nallow_http = true\nallow_private_addresses = true\n";
        let inbox = Arc::new(inbox_with(dir.path(), &clock, dev));
        // A server that takes connections and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_base = format!("http://{}", silent.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                open.push(stream);
            }
        });
        let workers = inbox.site.limits.inbox_workers;
        let slow_actor = format!("{silent_base}/users/slow");
        // Reports need no fetch; their senders are on another worker than the slow actor.
        let fast: Vec<String> = (0..)
            .map(|i| format!("http://127.0.0.1:9/users/fast{i}"))
            .filter(|a| shard_of(a, workers) != shard_of(&slow_actor, workers))
            .take(3)
            .collect();
        // The Follow's worker fetches the follower, and waits.
        queue(
            &inbox,
            &serde_json::json!({ "id": format!("{slow_actor}/follows/1"), "type": "Follow",
                                 "actor": slow_actor, "object": inbox.urls.actor("news") }),
        );
        for actor in &fast {
            queue(
                &inbox,
                &serde_json::json!({ "id": format!("{actor}/flags/1"), "type": "Flag",
                                     "actor": actor, "object": inbox.urls.actor("news") }),
            );
        }
        let (_stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(run_worker(Live::from_arc(inbox.clone()), shutdown));
        let mut waited = Duration::ZERO;
        while inbox
            .store
            .due_inbox_activities(clock.now_ms(), 10)
            .unwrap()
            .len()
            > 1
        {
            assert!(
                waited < Duration::from_secs(10),
                "the reports were not applied while the fetch hung"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
        let left = inbox
            .store
            .due_inbox_activities(clock.now_ms(), 10)
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].signer, slow_actor);
        assert_eq!(inbox.store.reports().unwrap().len(), 3);
        running.abort();
        held.abort();
    }
}
