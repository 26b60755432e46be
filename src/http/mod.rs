//! The HTTP server: hyper 1.x on tokio, one task per connection, graceful shutdown.
//!
//! This module owns accepting connections and turning requests into calls on the route table
//! ([`routes`]); the handlers there read the [`State`] they are given, taken afresh for each
//! request from a [`Live`] the app swaps when site.toml changes (so a reload never drops a
//! connection, and a request never sees two configs). It does not know ActivityPub rules.
//!
//! What one client may cost is bounded here, by `[limits]`: connections open at once, overall and
//! per address ([`limits`]); the request line and headers together (`max_headers_bytes`, hyper
//! answers 431 itself) and the time to send them (`header_read_timeout`, which also closes an
//! idle keep-alive connection: hyper closes without an answer, since it has no request to
//! answer). One header's length and the time to send an inbox body are checked in [`routes`].

pub mod cache;
pub mod interact;
pub mod limits;
pub mod metrics;
pub mod pages;
pub mod response;
pub mod routes;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

use crate::catalog::SharedCatalog;
use crate::clock::Clock;
use crate::config::Site;
use crate::federation::fetch::Fetcher;
use crate::federation::inbox::Inbox;
use crate::live::Live;
use crate::store::{ActorKeys, Store};
use crate::urls::Urls;

/// What the request handlers read: the site and its URLs, the store, the actor keys, the
/// current snapshot of what is published, the inbox that checks and queues what arrives, and
/// for `/interact` the fetcher that looks a visitor's handle up, the clock and the allowance of
/// such lookups (which outlives a reload of site.toml).
pub struct State {
    pub site: Arc<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    pub keys: Arc<ActorKeys>,
    pub catalog: SharedCatalog,
    pub inbox: Arc<Inbox>,
    pub fetcher: Arc<Fetcher>,
    pub clock: Clock,
    pub lookups: Arc<limits::Lookups>,
}

/// How long open connections get to finish after shutdown is signalled.
const GRACE: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` until `shutdown` turns true, speaking TLS first when `tls`
/// is given.
pub async fn serve(
    app: Live<State>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Limits are read once: like the listen address, they change at the next start.
    let limits = app.current().site.limits.clone();
    let connections =
        limits::Connections::new(limits.max_connections, limits.max_connections_per_ip);
    let (conn_done_tx, mut conn_done_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            tracing::info!(peer = %peer, "too many connections; answered 503");
            if acceptor.is_none() {
                // One try, never a wait: what does not fit in the socket buffer is not sent.
                let _ = stream.try_write(limits::BUSY);
            }
            continue;
        };
        let app = app.clone();
        let mut conn_shutdown = shutdown.clone();
        let done = conn_done_tx.clone();
        let span = tracing::debug_span!("connection", peer = %peer);
        let acceptor = acceptor.clone();
        tokio::spawn(
            async move {
                match acceptor {
                    Some(acceptor) => {
                        // A handshake that stalls must not hold a task forever.
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => {
                                connection(app, TokioIo::new(tls), peer, &mut conn_shutdown).await
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    }
                    None => connection(app, TokioIo::new(stream), peer, &mut conn_shutdown).await,
                }
                drop((done, admitted));
            }
            .instrument(span),
        );
    }
    drop(conn_done_tx);
    // Every connection task holds a sender; when all are dropped, all connections are done.
    let _ = tokio::time::timeout(GRACE, async {
        while conn_done_rx.changed().await.is_ok() {}
    })
    .await;
}

/// Serves one connection from `peer` until it ends or shutdown is signalled (then finishes
/// gracefully).
async fn connection<I>(
    app: Live<State>,
    io: TokioIo<I>,
    peer: std::net::SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let state = app.clone();
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(routes::Peer(peer.ip()));
        let app = app.current();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(&app, req).await) }
    });
    let limits = state.current().site.limits.clone();
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_headers_bytes)
        // The read buffer never grows past the head limit, so a head that never ends is 431
        // as soon as it is too long, not after hyper's default 400 KiB.
        .max_buf_size(limits.max_headers_bytes)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GRACE, conn).await;
        }
    }
}
