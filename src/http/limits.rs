//! How many connections are served at once, overall and from one address, and how many
//! lookups of a visitor's handle one address may ask for.
//!
//! This module owns the count of open connections ([`Connections`]) and the answer a connection
//! over the limit gets, and the allowance of handle lookups ([`Lookups`]). It does not read the
//! request limits (header sizes, timeouts), which are set on hyper's builder and checked in
//! `routes`.
//!
//! A connection over either limit is accepted, answered `503 Service Unavailable` with
//! `Retry-After` in one non-blocking write (plain HTTP only: over TLS there is no handshake to
//! spend on it) and closed at once, so it costs neither a task nor a wait. Behind a reverse proxy
//! on the same machine every peer is the proxy: raise `max_connections_per_ip` to
//! `max_connections` there and limit per client in the proxy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Limits;
use crate::rate::{Bucket, Rate};

/// What a connection over the limit is sent before it is closed.
pub const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 5\r\ncontent-length: 12\r\nconnection: close\r\n\r\nbusy, retry\n";

/// The connections open now, overall and per address.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; its slot is given back when this is dropped.
#[derive(Debug)]
pub struct Admitted {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Connections> {
        Arc::new(Connections {
            max_total,
            max_per_ip,
            open: Mutex::new(Open::default()),
        })
    }

    /// Takes a slot for a connection from `ip`; `None` when either limit is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if open.total >= self.max_total || from_ip >= self.max_per_ip {
            return None;
        }
        open.total += 1;
        open.per_ip.insert(ip, from_ip + 1);
        Some(Admitted {
            connections: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self
            .connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        // Forget an address with nothing open, so the map only holds live peers.
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

/// The most client addresses remembered at once (about 60 bytes each); when full, the ones
/// whose allowance is whole again are forgotten, which loses nothing.
const MAX_LOOKUP_CLIENTS: usize = 10_000;

/// The allowance of handle lookups (`/interact`): a token bucket per client address, filled at
/// `[limits] interact_per_ip_per_minute` a minute up to that many, and one for everyone at
/// `interact_per_minute`. A lookup makes this server fetch from another, on a stranger's say,
/// so both are small. IPv6 clients are counted by their /64, which one subscriber usually holds
/// whole. Times are the injected clock's unix ms.
#[derive(Debug, Default)]
pub struct Lookups {
    buckets: Mutex<LookupBuckets>,
}

#[derive(Debug, Default)]
struct LookupBuckets {
    per_client: HashMap<IpAddr, Bucket>,
    all: Option<Bucket>,
}

impl Lookups {
    /// Takes one lookup for `client` at `now_ms`, or `Err(seconds to wait)` when it or everyone
    /// together has none left (then nothing is taken).
    pub fn take(&self, client: IpAddr, now_ms: i64, limits: &Limits) -> Result<(), u64> {
        let per_ip = Rate::per_minute(limits.interact_per_ip_per_minute);
        let all = Rate::per_minute(limits.interact_per_minute);
        let key = client_key(client);
        let mut b = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if b.per_client.len() >= MAX_LOOKUP_CLIENTS && !b.per_client.contains_key(&key) {
            b.per_client
                .retain(|_, c| !c.refilled(per_ip, now_ms).is_full(per_ip));
        }
        let mine = b
            .per_client
            .get(&key)
            .copied()
            .unwrap_or(Bucket::full(per_ip, now_ms))
            .refilled(per_ip, now_ms);
        let everyone = b
            .all
            .unwrap_or(Bucket::full(all, now_ms))
            .refilled(all, now_ms);
        // Nothing is taken from either when one of them has nothing left.
        match (mine.wait(per_ip), everyone.wait(all)) {
            (Ok(()), Ok(())) => {}
            (Err(a), Err(b)) => return Err(a.max(b)),
            (Err(s), _) | (_, Err(s)) => return Err(s),
        }
        b.per_client.insert(key, mine.taken());
        b.all = Some(everyone.taken());
        Ok(())
    }
}

/// The address a client is counted by: itself for IPv4, its /64 for IPv6 (an IPv4 address
/// mapped into IPv6 counts as itself).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_limits(per_ip: usize, all: usize) -> Limits {
        Limits {
            interact_per_ip_per_minute: per_ip,
            interact_per_minute: all,
            ..Limits::default()
        }
    }

    #[test]
    fn rejects_the_eleventh_lookup_in_a_minute_from_one_address_until_refilled() {
        let (l, lookups) = (Limits::default(), Lookups::default());
        for _ in 0..10 {
            lookups.take(ip(1), 0, &l).unwrap();
        }
        assert_eq!(lookups.take(ip(1), 0, &l), Err(6), "one lookup every 6 s");
        lookups.take(ip(2), 0, &l).unwrap();
        assert_eq!(lookups.take(ip(1), 5_999, &l), Err(1));
        lookups.take(ip(1), 6_000, &l).unwrap();
        assert!(lookups.take(ip(1), 6_000, &l).is_err());
    }

    #[test]
    fn rejects_lookups_over_the_total_whoever_asks() {
        let (l, lookups) = (lookup_limits(10, 3), Lookups::default());
        for n in 1..=3 {
            lookups.take(ip(n), 0, &l).unwrap();
        }
        assert_eq!(lookups.take(ip(9), 0, &l), Err(20));
        // A refused lookup takes nothing from the client's own allowance.
        let l = lookup_limits(1, 100);
        let lookups = Lookups::default();
        lookups.take(ip(1), 0, &l).unwrap();
        assert!(lookups.take(ip(1), 0, &l).is_err());
        lookups.take(ip(1), 60_000, &l).unwrap();
    }

    #[test]
    fn can_count_an_ipv6_client_by_its_64() {
        let l = lookup_limits(1, 100);
        let lookups = Lookups::default();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        lookups.take(a, 0, &l).unwrap();
        assert!(lookups.take(b, 0, &l).is_err());
        lookups.take(other, 0, &l).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        lookups.take(ip(1), 0, &l).unwrap();
        assert!(lookups.take(mapped, 0, &l).is_err());
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn rejects_connections_over_the_per_address_limit_until_one_closes() {
        let c = Connections::new(10, 2);
        let a = c.admit(ip(1)).unwrap();
        let _b = c.admit(ip(1)).unwrap();
        assert!(c.admit(ip(1)).is_none());
        assert!(c.admit(ip(2)).is_some(), "another address is not held up");
        drop(a);
        assert!(c.admit(ip(1)).is_some());
    }

    #[test]
    fn rejects_connections_over_the_total_limit_and_forgets_closed_addresses() {
        let c = Connections::new(2, 2);
        let a = c.admit(ip(1)).unwrap();
        let b = c.admit(ip(2)).unwrap();
        assert!(c.admit(ip(3)).is_none());
        drop((a, b));
        assert!(c.open.lock().unwrap().per_ip.is_empty());
        assert!(c.admit(ip(3)).is_some());
    }

    #[test]
    fn can_say_busy_as_a_complete_http_response() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nretry-after: 5"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
    }
}
