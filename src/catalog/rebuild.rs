//! One catalog rebuild at a time.
//!
//! A rebuild (scan -> [`super::Catalog::build`] -> swap -> publish what changed) runs on one
//! dedicated thread; everyone else asks it through [`Rebuilds`]: [`Rebuilds::signal`] when the
//! outcome does not matter (the addressing worker), [`Rebuilds::signal_dirty`] with the files
//! that changed (the file watcher), [`Rebuilds::request`] to await the [`SyncReport`]. Requests
//! that arrive while a rebuild runs are served together by the next one, which starts after all
//! of them were made and is handed what they said is dirty, merged ([`Dirty`]); so no rebuild
//! overlaps another, the last snapshot swapped in is always the newest content, and a burst of
//! saves (a `git checkout` of hundreds of files) costs one rebuild while one runs. What a rebuild
//! does is given by the caller (`app` wires the build, the swap and the outbox); this module
//! knows only the queue.
//!
//! It also owns when posts an outgoing-post plugin held back by *failing* (its `on_error`, not
//! its decision) are reviewed again: a transient failure must not hide a post until someone
//! edits a file. While any such hold remains after a rebuild, the task re-reads just those
//! posts' files ([`Retry`]) [`RETRY_FIRST`] later by the injected clock, then twice as long
//! after each review that leaves one held, up to [`RETRY_CAP`]; a file change still rebuilds
//! at once (and does not move the next retry). A post the plugin answers for is published by
//! that rebuild like a new post or an edit. A decided veto is never retried. After each rebuild
//! the task tells [`Retry::scheduled`] when the next review is due and how many this run of
//! failures has had (`app` records it in the store, where `masthead status` reads it).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::store::{NextReview, StoreError, SyncReport};

/// The first wait before posts a failing plugin held back are reviewed again: long enough for a
/// busy machine to calm down, short enough that a crash of the plugin costs a reader little.
pub const RETRY_FIRST: Duration = Duration::from_secs(30);

/// The longest wait between two reviews of posts a failing plugin holds back (30 s, 1, 2, 4 and
/// 8 minutes, then every 10): a plugin broken for good costs one review of those files per 10
/// minutes, and one that recovers publishes within 10 minutes.
pub const RETRY_CAP: Duration = Duration::from_secs(600);

/// How often the rebuild thread looks at the clock while a retry is due: the clock is the
/// injected one (a test moves a manual clock on), so its wait is taken in small steps.
const RETRY_LOOK: Duration = Duration::from_millis(250);

/// Reviewing again the posts that a failing plugin held back.
pub struct Retry {
    /// The clock the waits are measured by.
    pub clock: Clock,
    /// The first wait ([`RETRY_FIRST`] in production); it doubles up to [`RETRY_CAP`].
    pub first: Duration,
    /// The files (relative to the site root) of the posts held back by a failing plugin now.
    pub pending: Box<dyn FnMut() -> Result<Vec<PathBuf>, StoreError> + Send>,
    /// Told after every rebuild when the next review is due (`None`: nothing is held by a
    /// failure, so none is); an error is logged and the schedule runs on regardless.
    pub scheduled: Box<dyn FnMut(Option<NextReview>) -> Result<(), StoreError> + Send>,
}

/// When the next retry is due, and how long the one after waits.
struct Backoff {
    /// Clock ms; `None` while no failure holds a post.
    due: Option<i64>,
    next: Duration,
    /// Retries in this run of failures, for the log and [`Retry::scheduled`].
    attempt: u32,
}

impl Retry {
    /// After a rebuild (`retried`: one this schedule asked for): starts, moves on or ends the
    /// run of retries by what the store holds now, and says so to [`Retry::scheduled`] (every
    /// time: the rebuild may have held another post, which waits for the same review).
    fn after(&mut self, backoff: &mut Backoff, retried: bool) {
        self.schedule(backoff, retried);
        let next = backoff.due.map(|at| NextReview {
            at,
            reviews: backoff.attempt,
        });
        if let Err(e) = (self.scheduled)(next) {
            tracing::warn!(
                error = %e,
                review_at = ?next.map(|n| n.at),
                "cannot record when the posts held back by a failing plugin are reviewed next"
            );
        }
    }

    /// Moves `backoff` on by how many posts a failure holds now.
    fn schedule(&mut self, backoff: &mut Backoff, retried: bool) {
        if retried {
            backoff.attempt += 1;
        }
        let held = match (self.pending)() {
            Ok(p) => Some(p.len()),
            Err(e) => {
                // Unknown: look again later rather than give the posts up.
                tracing::warn!(error = %e, "cannot read the posts held back by a failing plugin");
                None
            }
        };
        if held == Some(0) {
            if backoff.attempt > 0 {
                tracing::info!(
                    retries = backoff.attempt,
                    "no post is held back by a failing plugin any more"
                );
            }
            *backoff = Backoff::new(self.first);
            return;
        }
        // A rebuild for a file change keeps the retry where it is.
        if retried || backoff.due.is_none() {
            let wait = backoff.next;
            backoff.due = Some(self.clock.now_ms() + wait.as_millis() as i64);
            backoff.next = (wait * 2).min(RETRY_CAP.max(self.first));
            tracing::warn!(
                posts = ?held,
                retry_in_secs = wait.as_secs_f64(),
                retries = backoff.attempt,
                "posts held back by a failing plugin: reviewing them again later"
            );
        }
    }
}

impl Backoff {
    fn new(first: Duration) -> Backoff {
        Backoff {
            due: None,
            next: first,
            attempt: 0,
        }
    }
}

/// What the rebuild thread waited for.
enum Woken {
    Asked(Request),
    RetryDue,
    Closed,
}

/// The next request, or the retry when it falls due first by `clock`.
fn wait(rx: &mpsc::Receiver<Request>, due: Option<(i64, &Clock)>) -> Woken {
    let Some((due, clock)) = due else {
        return rx.recv().map_or(Woken::Closed, Woken::Asked);
    };
    loop {
        let left = due - clock.now_ms();
        if left <= 0 {
            return Woken::RetryDue;
        }
        let step = RETRY_LOOK.min(Duration::from_millis(left as u64));
        match rx.recv_timeout(step) {
            Ok(request) => return Woken::Asked(request),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Woken::Closed,
        }
    }
}

/// Why a requested rebuild gave no report.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RebuildError {
    /// The rebuild ran and failed.
    #[error("cannot rebuild the catalog: {0}")]
    Store(Arc<StoreError>),
    /// The rebuild thread is gone (it panicked, or the app is shutting down).
    #[error("the catalog rebuild task has stopped")]
    Stopped,
}

/// The report of one rebuild, shared by every request it served.
pub type Rebuilt = Result<Arc<SyncReport>, RebuildError>;

/// What a rebuild must re-read: everything, or these paths (relative to the site root, as
/// `Post::source` is, when they are under it). A path may name a file that no longer exists or
/// a folder (everything under it is dirty): the watcher reports where something happened, and
/// the rebuild reads what is there now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dirty {
    All,
    Paths(BTreeSet<PathBuf>),
}

impl Dirty {
    /// Adds what `other` says is dirty.
    pub fn merge(&mut self, other: Dirty) {
        match (&mut *self, other) {
            (Dirty::All, _) => {}
            (_, Dirty::All) => *self = Dirty::All,
            (Dirty::Paths(mine), Dirty::Paths(theirs)) => mine.extend(theirs),
        }
    }
}

/// A request: what it says is dirty, and where to send the outcome (`None` for a signal).
type Request = (Dirty, Option<oneshot::Sender<Rebuilt>>);

/// The way to ask for a rebuild; cheap to clone. The rebuild thread stops when the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct Rebuilds {
    tx: mpsc::Sender<Request>,
}

impl Rebuilds {
    /// Starts the rebuild thread, which runs `rebuild` once per batch of requests with what
    /// they said is dirty, merged.
    pub fn spawn<F>(rebuild: F) -> std::io::Result<Rebuilds>
    where
        F: FnMut(&Dirty) -> Result<SyncReport, StoreError> + Send + 'static,
    {
        Rebuilds::spawn_retrying(rebuild, None)
    }

    /// [`Rebuilds::spawn`], also re-reading the files of posts a failing plugin held back as
    /// `retry` says (see the module doc); the first look is at once, for the holds of the build
    /// made before the thread started.
    pub fn spawn_retrying<F>(mut rebuild: F, mut retry: Option<Retry>) -> std::io::Result<Rebuilds>
    where
        F: FnMut(&Dirty) -> Result<SyncReport, StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("catalog-rebuild".into())
            .spawn(move || {
                let mut backoff = Backoff::new(retry.as_ref().map_or(RETRY_FIRST, |r| r.first));
                if let Some(r) = &mut retry {
                    r.after(&mut backoff, false);
                }
                loop {
                    let due = backoff.due.zip(retry.as_ref().map(|r| &r.clock));
                    let (mut dirty, mut replies, retried) = match wait(&rx, due) {
                        Woken::Closed => break,
                        Woken::Asked((dirty, reply)) => (dirty, reply.into_iter().collect(), false),
                        Woken::RetryDue => {
                            let r = retry.as_mut().expect("a retry is due only with a Retry");
                            let pending = (r.pending)().unwrap_or_default();
                            tracing::info!(
                                posts = pending.len(),
                                retry = backoff.attempt + 1,
                                "reviewing again the posts a failing plugin held back"
                            );
                            (Dirty::Paths(pending.into_iter().collect()), Vec::new(), true)
                        }
                    };
                    // Everything asked before this rebuild starts is answered by it.
                    for (more, reply) in rx.try_iter() {
                        dirty.merge(more);
                        replies.extend(reply);
                    }
                    let outcome = rebuild(&dirty)
                        .map(Arc::new)
                        .map_err(|e| RebuildError::Store(Arc::new(e)));
                    if let Err(e) = &outcome {
                        tracing::error!(error = %e, "catalog rebuild failed; serving the last snapshot");
                    }
                    for reply in replies {
                        let _ = reply.send(outcome.clone());
                    }
                    if let Some(r) = &mut retry {
                        r.after(&mut backoff, retried);
                    }
                }
            })?;
        Ok(Rebuilds { tx })
    }

    /// Asks for a rebuild of everything without waiting for it.
    pub fn signal(&self) {
        self.signal_dirty(Dirty::All);
    }

    /// Asks for a rebuild that re-reads `dirty`, without waiting for it.
    pub fn signal_dirty(&self, dirty: Dirty) {
        if self.tx.send((dirty, None)).is_err() {
            tracing::warn!("catalog rebuild asked for after the rebuild task stopped");
        }
    }

    /// Asks for a rebuild of everything now; the future resolves with the report of a rebuild
    /// that started after this call.
    pub fn request(&self) -> impl Future<Output = Rebuilt> + Send + 'static {
        let (reply, outcome) = oneshot::channel();
        let sent = self.tx.send((Dirty::All, Some(reply))).is_ok();
        async move {
            if !sent {
                return Err(RebuildError::Stopped);
            }
            outcome.await.map_err(|_| RebuildError::Stopped)?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[tokio::test]
    async fn can_serve_concurrent_requests_one_rebuild_at_a_time() {
        let content = Arc::new(AtomicUsize::new(1));
        let served = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicBool::new(false));
        let overlapped = Arc::new(AtomicBool::new(false));
        let (started_tx, started) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel::<()>();
        let rebuilds = {
            let (content, served, runs) = (content.clone(), served.clone(), runs.clone());
            let (busy, overlapped) = (busy.clone(), overlapped.clone());
            Rebuilds::spawn(move |_| {
                if busy.swap(true, Ordering::SeqCst) {
                    overlapped.store(true, Ordering::SeqCst);
                }
                let _ = started_tx.send(());
                gate_rx.recv().unwrap();
                served.store(content.load(Ordering::SeqCst), Ordering::SeqCst);
                runs.fetch_add(1, Ordering::SeqCst);
                busy.store(false, Ordering::SeqCst);
                Ok(SyncReport::default())
            })
            .unwrap()
        };
        let first = rebuilds.request();
        started.recv().unwrap();
        // The first rebuild is running: new content and two more requests arrive meanwhile.
        content.store(2, Ordering::SeqCst);
        let second = rebuilds.request();
        let third = rebuilds.request();
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        let (a, b, c) = tokio::join!(first, second, third);
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert!(
            !overlapped.load(Ordering::SeqCst),
            "two rebuilds overlapped"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "the later requests share one rebuild"
        );
        assert_eq!(
            served.load(Ordering::SeqCst),
            2,
            "the last rebuild saw the last content"
        );
    }

    /// What each rebuild was handed, in order.
    type Seen = Arc<std::sync::Mutex<Vec<Dirty>>>;

    /// A rebuild task that records what each rebuild was handed, says when one starts, and
    /// finishes it only when the test sends on the gate.
    fn gated() -> (Rebuilds, Seen, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (started_tx, started) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel::<()>();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let rebuilds = {
            let seen = seen.clone();
            Rebuilds::spawn(move |dirty| {
                seen.lock().unwrap().push(dirty.clone());
                let _ = started_tx.send(());
                gate_rx.recv().unwrap();
                Ok(SyncReport::default())
            })
            .unwrap()
        };
        (rebuilds, seen, started, gate)
    }

    fn paths(names: &[&str]) -> Dirty {
        Dirty::Paths(names.iter().map(PathBuf::from).collect())
    }

    #[test]
    fn can_merge_dirty_paths_and_let_all_win() {
        let mut d = paths(&["content/news/a.md"]);
        d.merge(paths(&["content/news/b.md", "content/news/a.md"]));
        assert_eq!(d, paths(&["content/news/a.md", "content/news/b.md"]));
        d.merge(Dirty::All);
        assert_eq!(d, Dirty::All);
        d.merge(paths(&["content/news/c.md"]));
        assert_eq!(d, Dirty::All);
    }

    #[tokio::test]
    async fn can_hand_the_merged_dirty_paths_of_coalesced_signals_to_one_rebuild() {
        let (rebuilds, seen, started, gate) = gated();
        rebuilds.signal_dirty(paths(&["content/news/a.md"]));
        started.recv().unwrap();
        // While the first rebuild runs, three saves arrive: the next rebuild re-reads all three.
        rebuilds.signal_dirty(paths(&["content/news/b.md"]));
        rebuilds.signal_dirty(paths(&["content/news/c.md", "content/news/b.md"]));
        let last = rebuilds.request();
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        last.await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                paths(&["content/news/a.md"]),
                // The request asks for everything, which covers the two saves.
                Dirty::All,
            ]
        );
        let (rebuilds, seen, started, gate) = gated();
        rebuilds.signal_dirty(paths(&["a.md"]));
        started.recv().unwrap();
        rebuilds.signal_dirty(paths(&["b.md"]));
        rebuilds.signal_dirty(paths(&["c.md"]));
        gate.send(()).unwrap();
        started.recv().unwrap();
        gate.send(()).unwrap();
        drop(rebuilds);
        assert_eq!(
            *seen.lock().unwrap(),
            [paths(&["a.md"]), paths(&["b.md", "c.md"])]
        );
    }

    #[tokio::test]
    async fn errors_when_the_rebuild_fails_or_has_stopped() {
        let rebuilds = Rebuilds::spawn(|_| {
            Err(StoreError::Io {
                path: "content".into(),
                source: std::io::ErrorKind::PermissionDenied.into(),
            })
        })
        .unwrap();
        assert!(matches!(
            rebuilds.request().await,
            Err(RebuildError::Store(_))
        ));
        let rebuilds = Rebuilds::spawn(|_| panic!("rebuild panicked")).unwrap();
        assert!(matches!(
            rebuilds.request().await,
            Err(RebuildError::Stopped)
        ));
        assert!(matches!(
            rebuilds.request().await,
            Err(RebuildError::Stopped)
        ));
    }

    #[test]
    fn can_back_off_from_30_seconds_to_10_minutes_and_start_again_when_nothing_is_held() {
        let clock = Clock::manual(0);
        let held = Arc::new(AtomicUsize::new(1));
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut retry = Retry {
            clock: clock.clone(),
            first: RETRY_FIRST,
            pending: {
                let held = held.clone();
                Box::new(move || {
                    Ok(vec![
                        PathBuf::from("news/a.md");
                        held.load(Ordering::SeqCst)
                    ])
                })
            },
            scheduled: {
                let told = told.clone();
                Box::new(move |next| {
                    told.lock().unwrap().push(next);
                    Ok(())
                })
            },
        };
        let mut backoff = Backoff::new(RETRY_FIRST);
        let due_in_secs = |b: &Backoff| b.due.map(|ms| (ms - clock.now_ms()) / 1000);

        // A hold after a build: the first review 30 s on.
        retry.after(&mut backoff, false);
        assert_eq!(due_in_secs(&backoff), Some(30));
        // A rebuild for a file change, 10 s later, leaves the retry where it was.
        clock.advance(Duration::from_secs(10));
        retry.after(&mut backoff, false);
        assert_eq!(due_in_secs(&backoff), Some(20));
        // Each retry that leaves the post held waits twice as long, up to 10 minutes.
        let mut waits = Vec::new();
        for _ in 0..7 {
            clock.advance(Duration::from_secs(due_in_secs(&backoff).unwrap() as u64));
            retry.after(&mut backoff, true);
            waits.push(due_in_secs(&backoff).unwrap());
        }
        assert_eq!(waits, [60, 120, 240, 480, 600, 600, 600]);
        // Every rebuild told the schedule when the next review is due and how many were made.
        let reviews: Vec<_> = told
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.unwrap().reviews)
            .collect();
        assert_eq!(reviews, [0, 0, 1, 2, 3, 4, 5, 6, 7]);
        let last = told.lock().unwrap().last().copied().flatten().unwrap();
        assert_eq!(last.at, backoff.due.unwrap());
        // Nothing held any more: no retry, and the next run of failures starts at 30 s again.
        held.store(0, Ordering::SeqCst);
        retry.after(&mut backoff, true);
        assert_eq!(backoff.due, None);
        assert_eq!(told.lock().unwrap().last(), Some(&None));
        held.store(2, Ordering::SeqCst);
        retry.after(&mut backoff, false);
        assert_eq!(due_in_secs(&backoff), Some(30));
        assert_eq!(
            told.lock().unwrap().last(),
            Some(&Some(NextReview {
                at: clock.now_ms() + 30_000,
                reviews: 0
            }))
        );
    }
}
