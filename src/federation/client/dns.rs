//! The DNS cache: names resolved with [`tokio::net::lookup_host`] and their answers kept for a
//! fixed [`DNS_TTL`] (the system resolver does not say how long an answer holds).
//!
//! It does not vet addresses: the client checks every address it gets from here against the
//! address policy on every use, cached or fresh, and connects only to a vetted one, so a second
//! resolution (DNS rebinding) never gets a chance to swap in an internal address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a resolved name is used before it is resolved again (a fixed TTL: the system
/// resolver does not report the record's own).
pub const DNS_TTL: Duration = Duration::from_secs(60);
/// Names kept resolved at most; past it the cache starts over.
const DNS_ENTRIES: usize = 4096;

/// Resolved names by (lowercase name, port): the addresses and when they were resolved.
type Entries = HashMap<(String, u16), (Vec<SocketAddr>, Instant)>;

#[derive(Default)]
pub(super) struct DnsCache {
    entries: Mutex<Entries>,
}

impl DnsCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The addresses of `name`, from the cache while [`DNS_TTL`] lasts.
    pub(super) async fn resolve(&self, name: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let key = (name.to_ascii_lowercase(), port);
        if let Some((addrs, at)) = self.lock().get(&key) {
            if at.elapsed() < DNS_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
        let mut cache = self.lock();
        if cache.len() >= DNS_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (addrs.clone(), Instant::now()));
        Ok(addrs)
    }

    /// What the cache holds for `name`, fresh or not.
    #[cfg(test)]
    pub(super) fn cached(&self, name: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let key = (name.to_ascii_lowercase(), port);
        self.lock().get(&key).map(|(addrs, _)| addrs.clone())
    }
}
