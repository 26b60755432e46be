//! The keep-alive pool: idle HTTP/1.1 connections kept per origin (scheme, host and port), so a
//! delivery queue sending many activities to one server pays one TCP (and TLS) handshake, not one
//! per request.
//!
//! A pooled connection was opened to a vetted address by a client with the same policy, and the
//! client vets that address again before reusing it, so reuse reaches nothing the policy refuses.
//! At most [`MAX_IDLE_PER_ORIGIN`] idle connections are kept per origin and [`MAX_IDLE`] in all,
//! each for [`IDLE_TIMEOUT`] (under the 60 s or more that nginx, Mastodon's puma and most servers
//! keep one open).
//!
//! It does not open connections (`connect`) nor decide whether one may be reused for a URL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use tokio::task::JoinHandle;

/// Idle keep-alive connections kept per origin: as many as the delivery workers send to one host
/// at once by default.
pub const MAX_IDLE_PER_ORIGIN: usize = 8;
/// Idle keep-alive connections kept in all (each holds a socket and ~16 KiB of buffers): a
/// fan-out to thousands of hosts does not keep thousands of sockets open.
pub const MAX_IDLE: usize = 64;
/// How long an idle connection is kept for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// An open HTTP/1.1 connection waiting for its next request; its task ends when it is dropped.
pub(super) struct Idle {
    pub(super) sender: SendRequest<Full<Bytes>>,
    /// The address it is connected to, vetted again before every reuse.
    pub(super) addr: SocketAddr,
    pub(super) _task: AbortOnDrop,
    pub(super) since: Instant,
}

/// Idle kept-alive connections by origin (module docs).
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used live connection to `origin`, if any.
    pub(super) fn take(&self, origin: &str) -> Option<Idle> {
        let mut idle = self.lock();
        let list = idle.get_mut(origin)?;
        let mut found = None;
        while let Some(conn) = list.pop() {
            if conn.since.elapsed() < IDLE_TIMEOUT && !conn.sender.is_closed() {
                found = Some(conn);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(origin);
        }
        found
    }

    /// Keeps `conn` for the next request to `origin`, within the limits; expired ones go.
    pub(super) fn put(&self, origin: String, conn: Idle) {
        let mut idle = self.lock();
        idle.retain(|_, list| {
            list.retain(|c| c.since.elapsed() < IDLE_TIMEOUT && !c.sender.is_closed());
            !list.is_empty()
        });
        if idle
            .get(&origin)
            .is_some_and(|l| l.len() >= MAX_IDLE_PER_ORIGIN)
        {
            return;
        }
        if idle.values().map(Vec::len).sum::<usize>() >= MAX_IDLE {
            // The connection idle longest makes room.
            let oldest = idle
                .iter()
                .filter_map(|(k, l)| l.first().map(|c| (c.since, k.clone())))
                .min();
            if let Some((_, key)) = oldest {
                let list = idle.get_mut(&key).expect("just seen");
                list.remove(0);
                if list.is_empty() {
                    idle.remove(&key);
                }
            }
        }
        idle.entry(origin).or_default().push(conn);
    }

    pub(super) fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// Aborts a connection's task when its [`Idle`] is dropped, however the request ends (the total
/// timeout included), so a stalled server never keeps a task alive.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
