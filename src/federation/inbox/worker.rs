//! The inbox's durable job loop: rows of `inbox_activities` processed one at a time in arrival
//! order, at start (what a crash left queued), whenever [`super::receive`] queues one, and every
//! 30 s for retries that came due. Every due and retry time is read from [`Inbox::clock`].
//!
//! Retry policy of a failed job (a fetch that failed, the store busy): at most [`MAX_ATTEMPTS`]
//! attempts; a job that failed for a reason worth retrying is due again `60 s · 4^(attempts-1)`
//! later, so after 1, 4, 16 and 64 minutes, then it is marked failed. An activity nobody can act
//! on (unknown type, not about us) is done, not failed. (`crate::clock` lists this schedule too.)

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::apply::apply;
use super::interpret::interpret;
use super::{Inbox, JobError};
use crate::live::Live;
use crate::moderation;
use crate::store::InboxActivity;

/// How long the worker sleeps between looks at the queue when nobody wakes it.
const POLL: Duration = Duration::from_secs(30);

/// Attempts before a job is marked failed.
const MAX_ATTEMPTS: i64 = 5;

/// The first retry's wait; each later one waits 4 times longer.
const FIRST_RETRY_MS: i64 = 60_000;

/// Processes queued activities until `shutdown` turns true, each pass with the inbox (config
/// and blocks) current when it starts.
pub async fn run_worker(inbox: Live<Inbox>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        // The config of the moment (site.toml may be reloaded between two passes).
        let inbox = inbox.current();
        process_due(&inbox).await;
        tokio::select! {
            _ = inbox.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// Processes every queued activity now due, one at a time in arrival order (a Follow is handled
/// before its Undo). Returns how many were processed.
pub async fn process_due(inbox: &Inbox) -> usize {
    let mut done = 0;
    loop {
        let rows = match inbox.store.due_inbox_activities(inbox.clock.now_ms(), 20) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox queue");
                return done;
            }
        };
        if rows.is_empty() {
            return done;
        }
        for row in rows {
            let outcome = process(inbox, &row).await;
            let saved = match outcome {
                Ok(()) => inbox.store.finish_inbox_activity(&row.id),
                Err(e) => {
                    let attempts = row.attempts + 1;
                    let retry_at = retry_delay_ms(attempts)
                        .filter(|_| e.retry)
                        .map(|wait| inbox.clock.now_ms() + wait);
                    tracing::warn!(id = %row.id, attempts, retry = retry_at.is_some(), error = %e, "inbox job failed");
                    inbox
                        .store
                        .fail_inbox_activity(&row.id, &e.message, retry_at)
                }
            };
            if let Err(e) = saved {
                tracing::error!(id = %row.id, error = %e, "cannot update the inbox queue");
                return done;
            }
            done += 1;
        }
    }
}

/// How long after its `attempts`-th failed attempt a job is due again, or `None` when it has had
/// its [`MAX_ATTEMPTS`].
fn retry_delay_ms(attempts: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| FIRST_RETRY_MS * 4i64.pow((attempts - 1) as u32))
}

#[tracing::instrument(skip_all, fields(id = %row.id, kind = %row.kind))]
async fn process(inbox: &Inbox, row: &InboxActivity) -> Result<(), JobError> {
    let activity: Value = serde_json::from_str(&row.body)
        .map_err(|e| JobError::fatal(format!("stored body is not JSON: {e}")))?;
    let event = interpret(inbox, &row.signer, &activity).await?;
    let verdict = moderation::judge(&inbox.moderation, &event);
    tracing::debug!(event = ?event, verdict = ?verdict, "inbox event");
    apply(inbox, &activity, event, verdict).await
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
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        let site = Site::parse(&dir.join("site.toml"), text).unwrap().site;
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
            wake: Default::default(),
            delivery_wake: Default::default(),
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
}
