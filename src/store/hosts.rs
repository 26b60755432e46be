//! `hosts`: what masthead remembers per remote host. Here: the days deliveries to a host failed
//! and whether it is marked unavailable (the threshold is the delivery worker's policy, passed
//! in). The key refetch rate limit in the same table belongs to the inbox.
//!
//! A host's health is also kept in memory ([`MAX_CACHED_HOSTS`]), since the inbox reads its
//! sender's at every request: the methods here that write it update that copy in the same call
//! (see `store::cache`).

use chrono::{DateTime, Utc};

use super::cache::ReadCache;
use super::{execute, query_opt, Store, StoreError};

/// Most hosts whose health is kept in memory.
pub const MAX_CACHED_HOSTS: usize = 4096;

pub(super) fn health_cache() -> ReadCache<HostHealth> {
    ReadCache::new(MAX_CACHED_HOSTS, MAX_CACHED_HOSTS * 256)
}

/// An entry's weight: its days, and a little for the row itself.
fn weight(h: &HostHealth) -> usize {
    64 + h.failure_days.len() * 32
}

/// What is known about delivering to one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostHealth {
    /// Distinct UTC days (`YYYY-MM-DD`) with a failed delivery since the last success.
    pub failure_days: Vec<String>,
    /// Unix ms since when deliveries to it are skipped.
    pub unavailable_since: Option<i64>,
}

impl HostHealth {
    /// A row selected as `failure_days, unavailable_since` (the days comma-separated).
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HostHealth> {
        let days: String = r.get(0)?;
        Ok(HostHealth {
            failure_days: days
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
            unavailable_since: r.get(1)?,
        })
    }
}

const SELECT_HEALTH: &str = "SELECT failure_days, unavailable_since FROM hosts WHERE host = ?1";

/// The UTC day of `now_ms`, as `YYYY-MM-DD`.
fn utc_day(now_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

impl Store {
    /// Records a failed delivery to `host` at `now_ms`. When failures now fall on at least
    /// `threshold_days` distinct days the host is marked unavailable; returns true when this call
    /// did so.
    pub fn record_delivery_failure(
        &self,
        host: &str,
        now_ms: i64,
        threshold_days: usize,
    ) -> Result<bool, StoreError> {
        let newly = self.transaction(|tx| {
            let HostHealth {
                failure_days: mut days,
                unavailable_since: since,
            } = query_opt(tx, SELECT_HEALTH, [host], HostHealth::from_row)
                .map_err(self.err())?
                .unwrap_or_default();
            let today = utc_day(now_ms);
            if !days.contains(&today) {
                days.push(today);
            }
            days.sort();
            // Only the most recent days can matter for the threshold.
            let keep = days.len().saturating_sub(threshold_days.max(1));
            days.drain(..keep);
            let newly = since.is_none() && days.len() >= threshold_days;
            let since = if newly { Some(now_ms) } else { since };
            execute(
                tx,
                "INSERT INTO hosts (host, failure_days, unavailable_since) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host) DO UPDATE SET failure_days = excluded.failure_days,
                   unavailable_since = excluded.unavailable_since",
                (host, days.join(","), since),
            )
            .map_err(self.err())?;
            Ok(newly)
        });
        self.health.forget(host);
        newly
    }

    /// `host` answered: forget its failures and make it available again. Returns true when it
    /// had been marked unavailable. The inbox may call this too when the host sends us a verified
    /// activity (Mastodon's `DeliveryFailureTracker.reset!`).
    pub fn record_delivery_success(&self, host: &str) -> Result<bool, StoreError> {
        // The common case, a host with nothing to forget, costs a read of the copy in memory.
        if self.host_health(host)? == HostHealth::default() {
            return Ok(false);
        }
        let was = self.transaction(|tx| {
            let was =
                query_opt(tx, SELECT_HEALTH, [host], HostHealth::from_row).map_err(self.err())?;
            if was.is_some() {
                execute(
                    tx,
                    "UPDATE hosts SET failure_days = '', unavailable_since = NULL WHERE host = ?1",
                    [host],
                )
                .map_err(self.err())?;
            }
            Ok(was.is_some_and(|h| h.unavailable_since.is_some()))
        });
        self.health.forget(host);
        was
    }

    /// The delivery health of `host` (all default when nothing is recorded; from memory when
    /// read before and not written since).
    pub fn host_health(&self, host: &str) -> Result<HostHealth, StoreError> {
        self.health.get_or_load(host, weight, || {
            Ok(self
                .query_opt(SELECT_HEALTH, [host], HostHealth::from_row)?
                .unwrap_or_default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_795_000_000_000;

    #[test]
    fn can_mark_a_host_unavailable_after_failures_on_seven_distinct_days() {
        let s = Store::open_in_memory().unwrap();
        for day in 0..6 {
            // Several failures on one day count once.
            assert!(!s
                .record_delivery_failure("a.example", T0 + day * DAY, 7)
                .unwrap());
            assert!(!s
                .record_delivery_failure("a.example", T0 + day * DAY + 1000, 7)
                .unwrap());
        }
        assert_eq!(s.host_health("a.example").unwrap().failure_days.len(), 6);
        assert!(s
            .record_delivery_failure("a.example", T0 + 6 * DAY, 7)
            .unwrap());
        let h = s.host_health("a.example").unwrap();
        assert_eq!(h.unavailable_since, Some(T0 + 6 * DAY));
        // Already unavailable: not newly so.
        assert!(!s
            .record_delivery_failure("a.example", T0 + 7 * DAY, 7)
            .unwrap());
        assert_eq!(
            s.host_health("a.example").unwrap().unavailable_since,
            Some(T0 + 6 * DAY)
        );
    }

    #[test]
    fn can_see_each_write_at_the_next_read_of_a_hosts_health() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.host_health("a.example").unwrap(), HostHealth::default());
        s.record_delivery_failure("a.example", T0, 1).unwrap();
        assert_eq!(
            s.host_health("a.example").unwrap().unavailable_since,
            Some(T0)
        );
        // A key refetch claim writes the same row and leaves the health as it is.
        assert!(s.claim_key_refetch("a.example", T0, 1).unwrap());
        assert_eq!(
            s.host_health("a.example").unwrap().unavailable_since,
            Some(T0)
        );
        s.record_delivery_success("a.example").unwrap();
        assert_eq!(s.host_health("a.example").unwrap(), HostHealth::default());
        s.record_delivery_failure("a.example", T0 + DAY, 7).unwrap();
        assert_eq!(s.host_health("a.example").unwrap().failure_days.len(), 1);
    }

    #[test]
    fn can_make_a_host_available_again_when_it_answers() {
        let s = Store::open_in_memory().unwrap();
        for day in 0..7 {
            s.record_delivery_failure("a.example", T0 + day * DAY, 7)
                .unwrap();
        }
        assert!(s.record_delivery_success("a.example").unwrap());
        assert_eq!(s.host_health("a.example").unwrap(), HostHealth::default());
        assert!(!s.record_delivery_success("a.example").unwrap());
        assert!(!s.record_delivery_success("never.example").unwrap());
    }
}
