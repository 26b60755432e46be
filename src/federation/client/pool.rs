//! The connection pool: idle HTTP/1.1 connections kept per origin (scheme, host and port), and
//! one shared HTTP/2 connection per origin that offers it, so a delivery queue sending many
//! activities to one server pays one TCP (and TLS) handshake, not one per request.
//!
//! An HTTP/1.1 connection carries one request at a time: it is taken out of the pool for a
//! request and put back once the response is read whole. At most [`MAX_IDLE_PER_ORIGIN`] are kept
//! per origin. An HTTP/2 connection multiplexes: it stays in the pool while requests run on it,
//! each on its own clone of the sender, and is dropped once it closes or errors. Either kind is
//! dropped after [`IDLE_TIMEOUT`] without a request (under the 60 s or more that nginx,
//! Mastodon's puma and most servers keep one open), and [`MAX_IDLE`] connections are kept in all.
//!
//! Whether an https origin speaks HTTP/2 is known only once a TLS handshake with it has ended, so
//! new connections to one https origin are opened one at a time (a [`Turn`] each) until the
//! first has settled it: a burst of deliveries to a cold h2 origin then waits for that one
//! connection and shares it, instead of opening one each. Once an attempt has ended (HTTP/1.1,
//! HTTP/2 or an error) the rest open in parallel, as over HTTP/1.1 they must.
//!
//! A pooled connection was opened to a vetted address by a client with the same policy, and the
//! client vets that address again before every reuse, so reuse reaches nothing the policy refuses.
//!
//! It does not open connections (`connect`) nor decide whether one may be reused for a URL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

/// Idle HTTP/1.1 connections kept per origin: as many as the delivery workers send to one host
/// at once by default.
pub const MAX_IDLE_PER_ORIGIN: usize = 8;
/// Connections kept in all, an HTTP/2 one counting once (each holds a socket and ~16 KiB of
/// buffers): a fan-out to thousands of hosts does not keep thousands of sockets open.
pub const MAX_IDLE: usize = 64;
/// How long a connection is kept without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How requests are sent on a connection.
pub(super) enum Sender {
    /// One request at a time.
    Http1(http1::SendRequest<Full<Bytes>>),
    /// Any number at once, each on its own clone.
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::Http1(s) => s.is_closed(),
            Sender::Http2(s) => s.is_closed(),
        }
    }
}

/// An open connection, or for HTTP/2 one handle on a shared connection. Its task ends when the
/// last handle on it is dropped, however the request ends (the total timeout included), so a
/// stalled server never keeps a task alive.
pub(super) struct Conn {
    pub(super) sender: Sender,
    /// The address it is connected to, vetted again before every reuse.
    pub(super) addr: SocketAddr,
    pub(super) task: Arc<AbortOnDrop>,
    /// When it was opened or last given a request.
    pub(super) since: Instant,
}

impl Conn {
    fn is_live(&self) -> bool {
        self.since.elapsed() < IDLE_TIMEOUT && !self.sender.is_closed()
    }

    /// Another handle on the same connection, if it multiplexes.
    pub(super) fn share(&self) -> Option<Conn> {
        match &self.sender {
            Sender::Http1(_) => None,
            Sender::Http2(sender) => Some(Conn {
                sender: Sender::Http2(sender.clone()),
                addr: self.addr,
                task: self.task.clone(),
                since: self.since,
            }),
        }
    }
}

/// Kept connections by origin (module docs).
#[derive(Default)]
pub(super) struct Pool {
    kept: Mutex<Kept>,
    /// Origins whose first connection is being opened (see [`Turn`]), with how many requests
    /// hold a turn there.
    opening: Mutex<HashMap<String, (Gate, usize)>>,
}

/// `true` once a connection attempt to the origin has ended.
type Gate = Arc<tokio::sync::Mutex<bool>>;

#[derive(Default)]
struct Kept {
    /// HTTP/1.1, oldest first.
    idle: HashMap<String, Vec<Conn>>,
    /// HTTP/2, one per origin, shared.
    shared: HashMap<String, Conn>,
}

impl Kept {
    fn len(&self) -> usize {
        self.idle.values().map(Vec::len).sum::<usize>() + self.shared.len()
    }

    fn drop_dead(&mut self) {
        self.idle.retain(|_, list| {
            list.retain(Conn::is_live);
            !list.is_empty()
        });
        self.shared.retain(|_, conn| conn.is_live());
    }

    /// Makes room for one more: the connection unused longest goes.
    fn make_room(&mut self) {
        if self.len() < MAX_IDLE {
            return;
        }
        let oldest_idle = self
            .idle
            .iter()
            .filter_map(|(k, l)| l.first().map(|c| (c.since, k.clone())))
            .min();
        let oldest_shared = self.shared.iter().map(|(k, c)| (c.since, k.clone())).min();
        match (oldest_idle, oldest_shared) {
            (Some((idle, _)), Some((shared, key))) if shared < idle => {
                self.shared.remove(&key);
            }
            (Some((_, key)), _) => {
                let list = self.idle.get_mut(&key).expect("just seen");
                list.remove(0);
                if list.is_empty() {
                    self.idle.remove(&key);
                }
            }
            (None, Some((_, key))) => {
                self.shared.remove(&key);
            }
            (None, None) => {}
        }
    }
}

impl Pool {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn opening_gates(&self) -> MutexGuard<'_, HashMap<String, (Gate, usize)>> {
        self.opening.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A live connection to `origin`: a handle on the shared HTTP/2 one if there is one, else the
    /// most recently used idle HTTP/1.1 one, taken out of the pool.
    pub(super) fn take(&self, origin: &str) -> Option<Conn> {
        let mut kept = self.kept();
        if let Some(conn) = kept.shared.get_mut(origin) {
            if conn.is_live() {
                conn.since = Instant::now();
                return conn.share();
            }
            kept.shared.remove(origin);
        }
        let list = kept.idle.get_mut(origin)?;
        let mut found = None;
        while let Some(conn) = list.pop() {
            if conn.is_live() {
                found = Some(conn);
                break;
            }
        }
        if list.is_empty() {
            kept.idle.remove(origin);
        }
        found
    }

    /// Keeps `conn` for the next requests to `origin`, within the limits: an HTTP/1.1 one as an
    /// idle connection, an HTTP/2 one as the origin's shared connection unless it already has
    /// another (a handle on the one kept only marks it used). Expired ones go.
    pub(super) fn put(&self, origin: String, mut conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut kept = self.kept();
        kept.drop_dead();
        conn.since = Instant::now();
        match conn.sender {
            Sender::Http2(_) => {
                if let Some(current) = kept.shared.get_mut(&origin) {
                    if Arc::ptr_eq(&current.task, &conn.task) {
                        current.since = conn.since;
                    }
                    return;
                }
                kept.make_room();
                kept.shared.insert(origin, conn);
            }
            Sender::Http1(_) => {
                if kept
                    .idle
                    .get(&origin)
                    .is_some_and(|l| l.len() >= MAX_IDLE_PER_ORIGIN)
                {
                    return;
                }
                kept.make_room();
                kept.idle.entry(origin).or_default().push(conn);
            }
        }
    }

    /// Live connections kept now, an HTTP/2 one counting once.
    pub(super) fn len(&self) -> usize {
        let mut kept = self.kept();
        kept.drop_dead();
        kept.len()
    }

    /// Waits until this request may open a connection to `origin` (module docs): at once when no
    /// other is being opened, or once an attempt already under way has ended. Look in the pool
    /// again when [`Turn::waited`]: the attempt waited for may have left a shared connection.
    pub(super) async fn turn(&self, origin: &str) -> Turn<'_> {
        let gate = {
            let mut gates = self.opening_gates();
            let (gate, holders) = gates.entry(origin.to_owned()).or_default();
            *holders += 1;
            gate.clone()
        };
        // Built before waiting, so a request cancelled while it waits still counts itself out.
        let mut turn = Turn {
            pool: self,
            origin: origin.to_owned(),
            guard: None,
            waited: false,
        };
        let guard = match gate.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                turn.waited = true;
                gate.lock_owned().await
            }
        };
        // Settled: whoever comes next need not wait for this one.
        if !*guard {
            turn.guard = Some(guard);
        }
        turn
    }
}

/// The right to open a connection to an origin (see [`Pool::turn`]); dropping it, whatever the
/// attempt's outcome, settles the origin for the requests waiting behind it.
pub(super) struct Turn<'a> {
    pool: &'a Pool,
    origin: String,
    guard: Option<OwnedMutexGuard<bool>>,
    /// Whether another attempt was under way when this one came.
    pub(super) waited: bool,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            *guard = true;
        }
        let mut gates = self.pool.opening_gates();
        if let Some((_, holders)) = gates.get_mut(&self.origin) {
            *holders -= 1;
            if *holders == 0 {
                gates.remove(&self.origin);
            }
        }
    }
}

/// Aborts a connection's task when the last [`Conn`] on it is dropped.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
