//! One catalog rebuild at a time.
//!
//! A rebuild (scan -> [`super::Catalog::build`] -> swap -> publish what changed) runs on one
//! dedicated thread; everyone else asks it through [`Rebuilds`]: [`Rebuilds::signal`] when the
//! outcome does not matter (the addressing worker, later the file watcher), [`Rebuilds::request`]
//! to await the [`SyncReport`]. Requests that arrive while a rebuild runs are served together by
//! the next one, which starts after all of them were made, so no rebuild overlaps another and the
//! last snapshot swapped in is always the newest content. What a rebuild does is given by the
//! caller (`app` wires the build, the swap and the outbox); this module knows only the queue.

use std::future::Future;
use std::sync::{mpsc, Arc};

use tokio::sync::oneshot;

use crate::store::{StoreError, SyncReport};

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

/// A request: `None` for a signal, else where to send the outcome.
type Request = Option<oneshot::Sender<Rebuilt>>;

/// The way to ask for a rebuild; cheap to clone. The rebuild thread stops when the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct Rebuilds {
    tx: mpsc::Sender<Request>,
}

impl Rebuilds {
    /// Starts the rebuild thread, which runs `rebuild` once per batch of requests.
    pub fn spawn<F>(mut rebuild: F) -> std::io::Result<Rebuilds>
    where
        F: FnMut() -> Result<SyncReport, StoreError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("catalog-rebuild".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everything asked before this rebuild starts is answered by it.
                    let replies: Vec<_> = first.into_iter().chain(rx.try_iter().flatten()).collect();
                    let outcome = rebuild()
                        .map(Arc::new)
                        .map_err(|e| RebuildError::Store(Arc::new(e)));
                    if let Err(e) = &outcome {
                        tracing::error!(error = %e, "catalog rebuild failed; serving the last snapshot");
                    }
                    for reply in replies {
                        let _ = reply.send(outcome.clone());
                    }
                }
            })?;
        Ok(Rebuilds { tx })
    }

    /// Asks for a rebuild without waiting for it.
    pub fn signal(&self) {
        if self.tx.send(None).is_err() {
            tracing::warn!("catalog rebuild asked for after the rebuild task stopped");
        }
    }

    /// Asks for a rebuild now; the future resolves with the report of a rebuild that started
    /// after this call.
    pub fn request(&self) -> impl Future<Output = Rebuilt> + Send + 'static {
        let (reply, outcome) = oneshot::channel();
        let sent = self.tx.send(Some(reply)).is_ok();
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
            Rebuilds::spawn(move || {
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

    #[tokio::test]
    async fn errors_when_the_rebuild_fails_or_has_stopped() {
        let rebuilds = Rebuilds::spawn(|| {
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
        let rebuilds = Rebuilds::spawn(|| panic!("rebuild panicked")).unwrap();
        assert!(matches!(
            rebuilds.request().await,
            Err(RebuildError::Stopped)
        ));
        assert!(matches!(
            rebuilds.request().await,
            Err(RebuildError::Stopped)
        ));
    }
}
