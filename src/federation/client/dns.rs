//! The DNS cache: names resolved with the system's resolver configuration (`/etc/resolv.conf`
//! and `/etc/hosts`, through hickory-resolver, which reports each answer's TTL), and each answer
//! kept for its own TTL, held between [`MIN_TTL`] and [`MAX_TTL`]. Where the system's
//! configuration cannot be read, names go to the system resolver (`getaddrinfo`, which does not
//! say how long an answer holds) and are kept for [`FALLBACK_TTL`].
//!
//! It does not vet addresses: the client checks every address it gets from here against the
//! address policy on every use, cached or fresh, and connects only to a vetted one, so a second
//! resolution (DNS rebinding) never gets a chance to swap in an internal address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;

/// The shortest an answer is kept, whatever its TTL: a fan-out to one host does not resolve it
/// again for every delivery when its records say 0 s.
pub const MIN_TTL: Duration = Duration::from_secs(5);
/// The longest an answer is kept, whatever its TTL: a server that moved is found within the hour.
pub const MAX_TTL: Duration = Duration::from_secs(60 * 60);
/// How long an answer of the system resolver is kept (it does not report the record's TTL).
pub const FALLBACK_TTL: Duration = Duration::from_secs(60);
/// Names kept resolved at most; past it the cache starts over.
const DNS_ENTRIES: usize = 4096;

/// Resolved names by (lowercase name, port): the addresses and until when they hold.
type Entries = HashMap<(String, u16), (Vec<SocketAddr>, Instant)>;

#[derive(Default)]
pub(super) struct DnsCache {
    entries: Mutex<Entries>,
    /// Made at the first lookup (reading the system's configuration); `None` when it cannot be
    /// read, and names then go to `getaddrinfo`.
    resolver: OnceLock<Option<TokioResolver>>,
}

impl DnsCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resolver(&self) -> Option<&TokioResolver> {
        self.resolver
            .get_or_init(|| match TokioResolver::builder_tokio() {
                Ok(builder) => Some(builder.build()),
                Err(error) => {
                    tracing::warn!(%error, "cannot read the system's DNS configuration; names go to getaddrinfo, kept 60 s");
                    None
                }
            })
            .as_ref()
    }

    /// The addresses of `name`, from the cache while the answer's TTL lasts.
    pub(super) async fn resolve(&self, name: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let key = (name.to_ascii_lowercase(), port);
        if let Some((addrs, until)) = self.lock().get(&key) {
            if Instant::now() < *until {
                return Ok(addrs.clone());
            }
        }
        let (addrs, ttl) = match self.resolver() {
            Some(resolver) => {
                let answer = resolver
                    .lookup_ip(name)
                    .await
                    .map_err(std::io::Error::other)?;
                let ttl = answer
                    .valid_until()
                    .saturating_duration_since(Instant::now());
                let addrs: Vec<SocketAddr> =
                    answer.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                (addrs, kept_for(ttl))
            }
            None => (
                tokio::net::lookup_host((name, port)).await?.collect(),
                FALLBACK_TTL,
            ),
        };
        let mut cache = self.lock();
        if cache.len() >= DNS_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (addrs.clone(), Instant::now() + ttl));
        Ok(addrs)
    }

    /// What the cache holds for `name`, fresh or not.
    #[cfg(test)]
    pub(super) fn cached(&self, name: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let key = (name.to_ascii_lowercase(), port);
        self.lock().get(&key).map(|(addrs, _)| addrs.clone())
    }

    /// How long the cache holds `name`'s answer from now.
    #[cfg(test)]
    pub(super) fn kept(&self, name: &str, port: u16) -> Option<Duration> {
        let key = (name.to_ascii_lowercase(), port);
        self.lock()
            .get(&key)
            .map(|(_, until)| until.saturating_duration_since(Instant::now()))
    }
}

/// How long an answer whose records hold for `ttl` is kept.
fn kept_for(ttl: Duration) -> Duration {
    ttl.clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_keep_an_answer_for_its_ttl_within_bounds() {
        assert_eq!(kept_for(Duration::from_secs(300)), Duration::from_secs(300));
        assert_eq!(kept_for(Duration::ZERO), MIN_TTL);
        assert_eq!(kept_for(Duration::from_secs(86_400)), MAX_TTL);
    }
}
