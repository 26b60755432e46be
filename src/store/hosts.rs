//! `hosts`: what masthead remembers per remote host. Here: the days deliveries to a host failed
//! and whether it is marked unavailable (the threshold is the delivery worker's policy, passed
//! in). The key refetch rate limit in the same table belongs to the inbox.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{Store, StoreError};

/// What is known about delivering to one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostHealth {
    /// Distinct UTC days (`YYYY-MM-DD`) with a failed delivery since the last success.
    pub failure_days: Vec<String>,
    /// Unix ms since when deliveries to it are skipped.
    pub unavailable_since: Option<i64>,
}

/// The UTC day of `now_ms`, as `YYYY-MM-DD`.
pub fn utc_day(now_ms: i64) -> String {
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
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let row: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT failure_days, unavailable_since FROM hosts WHERE host = ?1",
                [host],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let (days, since) = row.unwrap_or_default();
        let mut days: Vec<String> = days
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
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
        tx.execute(
            "INSERT INTO hosts (host, failure_days, unavailable_since) VALUES (?1, ?2, ?3)
             ON CONFLICT (host) DO UPDATE SET failure_days = excluded.failure_days,
               unavailable_since = excluded.unavailable_since",
            (host, days.join(","), since),
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(newly)
    }

    /// `host` answered: forget its failures and make it available again. Returns true when it
    /// had been marked unavailable. The inbox may call this too when the host sends us a verified
    /// activity (Mastodon's `DeliveryFailureTracker.reset!`).
    pub fn record_delivery_success(&self, host: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let was: Option<Option<i64>> = tx
            .query_row(
                "SELECT unavailable_since FROM hosts WHERE host = ?1",
                [host],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        if was.is_some() {
            tx.execute(
                "UPDATE hosts SET failure_days = '', unavailable_since = NULL WHERE host = ?1",
                [host],
            )
            .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())?;
        Ok(matches!(was, Some(Some(_))))
    }

    /// The delivery health of `host` (all default when nothing is recorded).
    pub fn host_health(&self, host: &str) -> Result<HostHealth, StoreError> {
        let row: Option<(String, Option<i64>)> = self
            .conn()
            .query_row(
                "SELECT failure_days, unavailable_since FROM hosts WHERE host = ?1",
                [host],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        Ok(row
            .map(|(days, unavailable_since)| HostHealth {
                failure_days: days
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect(),
                unavailable_since,
            })
            .unwrap_or_default())
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
