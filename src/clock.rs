//! The one clock: every timestamp and schedule in masthead (the delivery queue, the inbox job
//! queue, key refetch limits, remote document caches) reads an injected [`Clock`], so a
//! paused-time test drives all of them at once.
//!
//! # Schedules read by this clock
//!
//! - Delivery retries: Mastodon's sidekiq schedule, `n^4 + 15 s + rand(10)·(n+1) s`, 16 retries
//!   (written down in `federation::delivery`).
//! - Inbox job retries: at most 5 attempts; a job that failed for a reason worth retrying is due
//!   again `60 s · 4^(attempts-1)` later, so 1, 4, 16 and 64 minutes (in `federation::inbox`).
//!
//! Signatures always carry the real current time, whatever the clock says: a remote server
//! checks them against its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds since the Unix epoch by the system clock: the unit of every scheduled time in
/// the store. Code that schedules work takes a [`Clock`] instead, so tests can move time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The time every queue is scheduled by. The system clock in production; tests use a manual one
/// they move forward, or one that follows tokio's (pausable) time, instead of sleeping.
#[derive(Clone, Debug, Default)]
pub struct Clock(ClockKind);

#[derive(Clone, Debug, Default)]
enum ClockKind {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
    Tokio {
        base_ms: i64,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(ClockKind::System)
    }

    /// A clock that stands at `start_ms` until moved with [`Clock::advance`].
    pub fn manual(start_ms: i64) -> Clock {
        Clock(ClockKind::Manual(Arc::new(AtomicI64::new(start_ms))))
    }

    /// The system time now, then as much later as tokio's clock moves (so it follows
    /// `tokio::time::pause` and `advance`). Must be made inside a runtime.
    pub fn tokio() -> Clock {
        Clock(ClockKind::Tokio {
            base_ms: now_ms(),
            start: tokio::time::Instant::now(),
        })
    }

    /// Now, in unix ms.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            ClockKind::System => now_ms(),
            ClockKind::Manual(t) => t.load(Ordering::SeqCst),
            ClockKind::Tokio { base_ms, start } => base_ms + start.elapsed().as_millis() as i64,
        }
    }

    /// Moves a manual clock forward (no effect on the others).
    pub fn advance(&self, by: Duration) {
        if let ClockKind::Manual(t) = &self.0 {
            t.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn can_advance_a_manual_clock_only() {
        let c = Clock::manual(NOW);
        c.advance(Duration::from_secs(60));
        assert_eq!(c.now_ms(), NOW + 60_000);
        let s = Clock::system();
        assert!((s.now_ms() - now_ms()).abs() < 5_000);
        s.advance(Duration::from_secs(3600));
        assert!((s.now_ms() - now_ms()).abs() < 5_000);
    }

    #[tokio::test(start_paused = true)]
    async fn can_follow_paused_tokio_time() {
        let c = Clock::tokio();
        let t0 = c.now_ms();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(c.now_ms() - t0, 90_000);
    }
}
