//! How many connections are served at once, overall and from one address.
//!
//! This module owns the count of open connections ([`Connections`]) and the answer a connection
//! over the limit gets. It does not read the request limits (header sizes, timeouts), which are
//! set on hyper's builder and checked in `routes`.
//!
//! A connection over either limit is accepted, answered `503 Service Unavailable` with
//! `Retry-After` in one non-blocking write (plain HTTP only: over TLS there is no handshake to
//! spend on it) and closed at once, so it costs neither a task nor a wait. Behind a reverse proxy
//! on the same machine every peer is the proxy: raise `max_connections_per_ip` to
//! `max_connections` there and limit per client in the proxy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
