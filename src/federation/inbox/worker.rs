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
//! hands one out twice. Each worker takes what is waiting for it as one batch and records the
//! outcomes in one transaction, with the likes and boosts (and their Undos) the batch made, so
//! under load the cost per activity falls instead of rising.
//!
//! Comments files are written whole (a temp file renamed over, so a reader never sees half of
//! one), so writing one per reply would cost more the more replies a post has. A worker writes
//! the files its jobs changed ([`CommentChanges`]) at once when it wrote none for
//! [`COMMENTS_EVERY`], else gathers the changes of the batches that follow and writes them when
//! [`COMMENTS_EVERY`] has passed, or [`QUIET`] after its last batch when no more come: a post
//! flooded with replies is written a few times a second, whatever their number. The outcomes of
//! those jobs, and of every job the worker applies after them, are recorded only once the files
//! are written, in the order applied: a crash before that leaves them queued, and they are
//! applied again at the next start (which writes the files), never in another order. What is
//! served (the `replies` collection, `comments.json`, the post page) is read from the store,
//! where each reply is as soon as it is applied.
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
use tokio::time::Instant;

use super::apply::{apply, CommentChanges};
use super::interpret::interpret;
use super::{Inbox, JobError};
use crate::federation::comments::Written;
use crate::live::Live;
use crate::moderation::{self, Verdict};
use crate::plugins::{Judgement, Verdict as PluginVerdict};
use crate::store::{InboxActivity, InteractionChange, JobOutcome};

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

/// While replies keep coming, how often a worker writes the comments files they change.
const COMMENTS_EVERY: Duration = Duration::from_millis(250);

/// How long after its last batch a worker holding unwritten comments changes writes them when
/// no more rows come.
const QUIET: Duration = Duration::from_millis(20);

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
    /// rows in this pass either, so its rows stay in order. Rows committed since the last pass
    /// come from memory when the store kept every one of them after the cursor (see
    /// `Store::take_committed_inbox_activities`); else they are read from the table.
    fn pass(&mut self, inbox: &Inbox, from_head: bool) -> Result<(), crate::store::StoreError> {
        let resume = self.resume.take();
        let mut after = match (from_head, resume) {
            (true, _) => None,
            (false, Some(resume)) => resume,
            (false, None) => self.cursor,
        };
        // Taken whatever is read next, so that memory only ever holds rows after this pass.
        let kept = inbox.store.take_committed_inbox_activities(self.cursor);
        let mut full = HashSet::new();
        let in_hand = self.in_hand.clone();
        if let Some(rows) = kept.filter(|_| !from_head && resume.is_none()) {
            let mut in_hand = in_hand.lock().unwrap_or_else(|p| p.into_inner());
            if self.hand_out(rows, &mut after, &mut in_hand, &mut full) {
                self.cursor = after;
            }
            return Ok(());
        }
        loop {
            // The page is read and checked against `in_hand` under its lock: a worker removes
            // an id only after its outcome is committed, so a row read as queued here is either
            // still in hand or not yet handed out.
            let mut in_hand = in_hand.lock().unwrap_or_else(|p| p.into_inner());
            let rows = inbox
                .store
                .due_inbox_activities_after(inbox.clock.now_ms(), after, PAGE)?;
            // A short page is the end of the queue: no second query to learn that it is empty.
            let last_page = rows.len() < PAGE;
            if !self.hand_out(rows, &mut after, &mut in_hand, &mut full) {
                return Ok(());
            }
            if last_page {
                break;
            }
        }
        self.cursor = after;
        Ok(())
    }

    /// Hands `rows` (numbered, in order) to their workers, moving `after` past each; a row of a
    /// worker in `full` stays where it is, and the first such row is where the next pass
    /// resumes. False when the workers are gone.
    fn hand_out(
        &mut self,
        rows: Vec<(i64, InboxActivity)>,
        after: &mut Pos,
        in_hand: &mut HashSet<String>,
        full: &mut HashSet<usize>,
    ) -> bool {
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
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    }
}

/// Which of `n` workers applies the activities signed by `signer`.
fn shard_of(signer: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    signer.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

/// One worker: takes what is waiting for it as a batch, applies it in order, and records it,
/// once the comments files it changed are written (see the module docs).
async fn run_shard(
    live: Live<Inbox>,
    mut rows: mpsc::Receiver<InboxActivity>,
    in_hand: Arc<Mutex<HashSet<String>>>,
    room: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut held = Held::default();
    // When this worker last wrote comments files, and when it last took a batch.
    let mut written_at: Option<Instant> = None;
    let mut taken_at = Instant::now();
    loop {
        let write_at = (!held.comments.is_empty()).then(|| {
            let spaced = written_at.map_or(taken_at, |at| at + COMMENTS_EVERY);
            spaced.min(taken_at + QUIET)
        });
        let first = tokio::select! {
            row = rows.recv() => row,
            _ = tokio::time::sleep_until(write_at.unwrap_or_else(Instant::now)), if write_at.is_some() => {
                written_at = Some(Instant::now());
                held.settle(&live.current(), &in_hand, &room).await;
                continue;
            }
            _ = shutdown.changed() => None,
        };
        let Some(first) = first else {
            held.settle(&live.current(), &in_hand, &room).await;
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rows.try_recv() {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        taken_at = Instant::now();
        held.ids.extend(batch.iter().map(|r| r.id.clone()));
        let inbox = live.current();
        let applied = apply_batch(&inbox, batch, Some(&shutdown)).await;
        held.outcomes.extend(applied.outcomes);
        held.comments.absorb(applied.comments);
        held.interactions.extend(applied.interactions);
        let stopping = *shutdown.borrow();
        let due = written_at.is_none_or(|at| at.elapsed() >= COMMENTS_EVERY);
        if held.comments.is_empty() || due || stopping {
            if !held.comments.is_empty() {
                written_at = Some(Instant::now());
            }
            held.settle(&inbox, &in_hand, &room).await;
        } else {
            held.write_interactions(&inbox);
        }
        if stopping {
            return;
        }
    }
}

/// Jobs a worker applied whose outcomes wait for the comments files they changed.
#[derive(Default)]
struct Held {
    /// Every row taken, applied or not (one left when shutting down is still queued).
    ids: Vec<String>,
    outcomes: Vec<(String, JobOutcome)>,
    comments: CommentChanges,
    /// Likes, boosts and their Undos not yet written, in the order applied.
    interactions: Vec<InteractionChange>,
}

impl Held {
    /// Writes the comments files, then records the outcomes with the interactions not yet
    /// written (in the inbox's next group commit), and lets the dispatcher hand out the rows
    /// again should any still be queued.
    async fn settle(&mut self, inbox: &Inbox, in_hand: &Mutex<HashSet<String>>, room: &Notify) {
        let Held {
            ids,
            outcomes,
            comments,
            interactions,
        } = std::mem::take(self);
        if ids.is_empty() {
            return;
        }
        comments.write(inbox);
        let jobs = outcomes.len();
        let settled = inbox
            .store
            .settle_inbox_activities_grouped(interactions, outcomes)
            .await;
        if let Err(e) = settled {
            tracing::error!(jobs, error = %e, "cannot update the inbox queue");
        }
        let mut hand = in_hand.lock().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            hand.remove(id);
        }
        drop(hand);
        room.notify_one();
    }

    /// Writes the interactions while the outcomes wait for comments files, so a like counts
    /// as soon as its batch is applied. Should that fail they wait for the outcomes.
    fn write_interactions(&mut self, inbox: &Inbox) {
        if self.interactions.is_empty() {
            return;
        }
        match inbox.store.change_interactions(&self.interactions) {
            Ok(_) => self.interactions.clear(),
            Err(e) => {
                tracing::warn!(changes = self.interactions.len(), error = %e, "cannot record likes and boosts yet")
            }
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
        let Some((n, written)) = run_batch(inbox, rows).await else {
            return (done, cost);
        };
        done += n;
        cost.rows_read += written.rows_read;
    }
}

/// Applies `rows` in order, writes the comments files they changed, then records every outcome
/// in one transaction. Returns how many were recorded and what the comments files cost, or
/// `None` when the outcomes could not be recorded.
async fn run_batch(inbox: &Inbox, rows: Vec<InboxActivity>) -> Option<(usize, Written)> {
    let Applied {
        outcomes,
        comments,
        interactions,
    } = apply_batch(inbox, rows, None).await;
    let written = comments.write(inbox);
    if let Err(e) = inbox
        .store
        .settle_inbox_activities(&interactions, &outcomes)
    {
        tracing::error!(jobs = outcomes.len(), error = %e, "cannot update the inbox queue");
        return None;
    }
    Some((outcomes.len(), written))
}

/// What a batch of jobs came to: each applied row's outcome, and what the caller writes.
struct Applied {
    outcomes: Vec<(String, JobOutcome)>,
    comments: CommentChanges,
    interactions: Vec<InteractionChange>,
}

/// Applies `rows` in order, stopping early (leaving the rest queued) when `shutdown` turns
/// true. Returns the outcome of each applied row, and the comments files and interactions they
/// changed, written by the caller.
async fn apply_batch(
    inbox: &Inbox,
    rows: Vec<InboxActivity>,
    shutdown: Option<&watch::Receiver<bool>>,
) -> Applied {
    let mut comments = CommentChanges::default();
    let mut interactions = Vec::new();
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        if shutdown.is_some_and(|s| *s.borrow()) {
            break;
        }
        let outcome = match process(inbox, &row, &mut comments, &mut interactions).await {
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
    Applied {
        outcomes,
        comments,
        interactions,
    }
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
    interactions: &mut Vec<InteractionChange>,
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
    apply(
        inbox,
        &activity,
        event,
        verdict,
        judgement,
        comments,
        interactions,
    )
    .await
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
#[path = "../../../tests/common/queued.rs"]
mod queued;

#[cfg(test)]
mod tests {
    use super::queued::record_verified;
    use super::*;
    use crate::catalog::{Catalog, SharedCatalog};
    use crate::clock::Clock;
    use crate::config::Site;
    use crate::federation::fetch::Fetcher;
    use crate::moderation::Blocks;
    use crate::store::{ActorKeys, Store};
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
        queue(&inbox, &follow);

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

    /// A site whose `news` actor has one post, `hello`.
    fn site_with_hello() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let news = dir.path().join("content/news");
        std::fs::create_dir_all(&news).unwrap();
        std::fs::write(
            news.join("hello.md"),
            "+++\ndate = 2026-11-20T09:00:00Z\n+++\nHello\n",
        )
        .unwrap();
        dir
    }

    /// Waits (30 s at most, on the real clock) until no queued activity is left.
    async fn until_drained(inbox: &Inbox, failure: &str) {
        let mut waited = Duration::ZERO;
        while !inbox
            .store
            .due_inbox_activities(i64::MAX, 1)
            .unwrap()
            .is_empty()
        {
            assert!(waited < Duration::from_secs(30), "{failure}");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
    }

    fn queue(inbox: &Inbox, activity: &serde_json::Value) {
        record_verified(&inbox.store, activity, inbox.clock.now_ms());
    }

    #[tokio::test]
    async fn can_write_every_reply_to_a_flooded_post_into_its_comments_file() {
        let (dir, clock) = (site_with_hello(), Clock::manual(T0));
        let inbox = Arc::new(inbox(dir.path(), &clock));
        let post = inbox.urls.post("news", "hello");
        let actors: Vec<String> = (0..20)
            .map(|i| format!("https://r{i}.example/users/a"))
            .collect();
        for actor in &actors {
            inbox
                .store
                .upsert_remote_actor(&crate::store::RemoteActor {
                    id: actor.clone(),
                    inbox: format!("{actor}/inbox"),
                    shared_inbox: None,
                    key_id: None,
                    public_key_pem: None,
                    handle: None,
                    name: Some(actor.clone()),
                    url: None,
                    document: "{}".into(),
                    fetched_at: T0,
                })
                .unwrap();
        }
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(run_worker(Live::from_arc(inbox.clone()), shutdown));
        // Replies keep coming while the workers apply them, several published in one second.
        for n in 0..400 {
            let actor = &actors[n % actors.len()];
            let note = serde_json::json!({
                "id": format!("{actor}/notes/{n}"), "type": "Note", "attributedTo": actor,
                "inReplyTo": post, "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "content": format!("<p>{n}</p>"),
                "published": format!("2026-11-20T10:{:02}:{:02}Z", n / 3 / 60, n / 3 % 60),
            });
            queue(
                &inbox,
                &serde_json::json!({ "id": format!("{actor}/creates/{n}"), "type": "Create",
                                     "actor": actor, "object": note }),
            );
            inbox.wake.notify_one();
            if n % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        until_drained(&inbox, "the replies were not applied").await;
        // Recorded done only once written: the file holds every reply, by `published`. (Replies
        // published in one second that several workers applied at once may be in another order
        // than the store's, which orders them as stored.)
        let file = crate::federation::comments::file_path(&inbox.site.data_dir, "news", "hello");
        let on_disk: Vec<crate::federation::comments::Comment> =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert!(on_disk.is_sorted_by(|a, b| a.published <= b.published));
        let ids = |list: &[crate::federation::comments::Comment]| {
            let mut ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
            ids.sort();
            ids
        };
        let stored = crate::federation::comments::for_post(&inbox.store, "news", "hello").unwrap();
        assert_eq!(stored.len(), 400);
        assert_eq!(ids(&on_disk), ids(&stored));
        stop.send(true).unwrap();
        running.await.unwrap();
    }

    #[tokio::test]
    async fn can_apply_likes_and_undos_handed_over_from_memory_in_order() {
        let (dir, clock) = (site_with_hello(), Clock::manual(T0));
        let inbox = Arc::new(inbox(dir.path(), &clock));
        let post = inbox.urls.post("news", "hello");
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(run_worker(Live::from_arc(inbox.clone()), shutdown));
        // Committed while the workers run: handed over from memory, each actor's jobs in order.
        // Every actor likes, unlikes and likes again under a new id; every third unlikes again.
        for round in 0..3 {
            for i in 0..40 {
                let actor = format!("https://r{i}.example/users/a");
                let like = |n: usize| {
                    serde_json::json!({ "id": format!("{actor}/likes/{n}"), "type": "Like",
                                        "actor": actor, "object": post })
                };
                let activity = match round {
                    0 => like(1),
                    1 => serde_json::json!({ "id": format!("{actor}/undos/1"), "type": "Undo",
                                             "actor": actor, "object": like(1) }),
                    _ => like(2),
                };
                queue(&inbox, &activity);
                if round == 2 && i % 3 == 0 {
                    queue(
                        &inbox,
                        &serde_json::json!({ "id": format!("{actor}/undos/2"), "type": "Undo",
                                             "actor": actor, "object": like(2) }),
                    );
                }
                inbox.wake.notify_one();
                tokio::task::yield_now().await;
            }
        }
        until_drained(&inbox, "the likes were not applied").await;
        let counts = inbox.store.interaction_counts("news", "hello").unwrap();
        assert_eq!(counts.likes, 40 - 14);
        stop.send(true).unwrap();
        running.await.unwrap();
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
