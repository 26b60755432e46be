//! Per-server allowances of the inbox: a token bucket per sending server (the `host:port` of the
//! signing key), refilled at `[limits] inbox_per_host_per_second` up to `inbox_per_host_burst`.
//! A server over its allowance is answered 429 with `Retry-After` before its signature is
//! verified; only a verified activity takes from the bucket, so a forger cannot spend another
//! server's allowance by naming its key. Other servers keep theirs.
//!
//! It keeps no more than [`MAX_HOSTS`] buckets: when full, the buckets already refilled (servers
//! that are quiet) are dropped, which forgets nothing a full bucket would remember.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::Limits;
use crate::rate::{Bucket, Rate};

/// The most servers remembered at once (about 100 bytes each).
const MAX_HOSTS: usize = 10_000;

/// The buckets of the servers that sent something lately.
#[derive(Debug, Default)]
pub struct HostRates {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// The allowance of one server.
fn rate(limits: &Limits) -> Rate {
    Rate::per_second(
        limits.inbox_per_host_per_second,
        limits.inbox_per_host_burst,
    )
}

impl HostRates {
    /// `Err(seconds to wait)` when `host` has no allowance left at `now_ms`; takes nothing.
    pub fn check(&self, host: &str, now_ms: i64, limits: &Limits) -> Result<(), u64> {
        let rate = rate(limits);
        match self.lock().get(host) {
            Some(b) => b.refilled(rate, now_ms).wait(rate),
            None => Ok(()),
        }
    }

    /// Takes one activity from `host`'s allowance at `now_ms`, or `Err(seconds to wait)` when
    /// none is left.
    pub fn take(&self, host: &str, now_ms: i64, limits: &Limits) -> Result<(), u64> {
        let rate = rate(limits);
        let mut buckets = self.lock();
        if buckets.len() >= MAX_HOSTS && !buckets.contains_key(host) {
            buckets.retain(|_, b| !b.refilled(rate, now_ms).is_full(rate));
        }
        let bucket = buckets
            .entry(host.to_string())
            .or_insert(Bucket::full(rate, now_ms));
        *bucket = bucket.refilled(rate, now_ms);
        bucket.wait(rate)?;
        *bucket = bucket.taken();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        // Each use is a few arithmetic steps; a poisoned map is still a valid map.
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: usize, burst: usize) -> Limits {
        Limits {
            inbox_per_host_per_second: per_second,
            inbox_per_host_burst: burst,
            ..Limits::default()
        }
    }

    #[test]
    fn can_take_a_burst_then_refuse_until_refilled() {
        let l = limits(2, 3);
        let rates = HostRates::default();
        for _ in 0..3 {
            rates.take("a.example", 0, &l).unwrap();
        }
        assert_eq!(rates.take("a.example", 0, &l), Err(1));
        assert_eq!(rates.check("a.example", 0, &l), Err(1));
        // Another server keeps its whole allowance.
        rates.check("b.example", 0, &l).unwrap();
        rates.take("b.example", 0, &l).unwrap();
        // Half a second refills one at 2 per second.
        assert_eq!(rates.check("a.example", 499, &l), Err(1));
        rates.take("a.example", 500, &l).unwrap();
        assert!(rates.take("a.example", 500, &l).is_err());
    }

    #[test]
    fn rejects_nothing_from_a_server_never_seen() {
        let rates = HostRates::default();
        rates.check("new.example", 0, &limits(1, 1)).unwrap();
    }

    #[test]
    fn can_forget_quiet_servers_when_full() {
        let l = limits(1000, 10);
        let rates = HostRates::default();
        for i in 0..MAX_HOSTS {
            rates.take(&format!("h{i}.example"), 0, &l).unwrap();
        }
        rates.take("busy.example", 0, &l).unwrap();
        // A second later every earlier bucket is full again: they were dropped.
        rates.take("late.example", 1000, &l).unwrap();
        assert!(rates.lock().len() <= 2, "{}", rates.lock().len());
    }
}
