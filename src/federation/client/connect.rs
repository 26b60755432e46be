//! Opening a new connection for a URL: resolve the host (through the DNS cache), vet every
//! address before connecting to any, connect to the vetted ones in turn within the connect
//! timeout, then TLS for https and the HTTP handshake: HTTP/2 when the server picks `h2` from the
//! ALPN offer (`h2`, `http/1.1`), HTTP/1.1 when it picks `http/1.1` or nothing, and always for
//! plain http (no h2c: servers that offer HTTP/2 do it over TLS).
//!
//! It does not reuse connections (the pool, which the client asks first) nor send requests.

use std::net::SocketAddr;
use std::time::Instant;

use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::debug;
use url::{Host, Url};

use super::pool::{AbortOnDrop, Conn, Sender};
use super::{Client, FetchError, TimeoutStage};

impl Client {
    /// A new connection to `url`'s origin, TLS included for https, HTTP/2 if the server picks it.
    pub(super) async fn open(&self, url: &Url) -> Result<Conn, FetchError> {
        let (stream, addr) = self.connect(url).await?;
        if url.scheme() == "https" {
            let host = url.host_str().unwrap_or_default();
            let name =
                ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).map_err(|e| {
                    FetchError::BadUrl {
                        url: url.to_string(),
                        reason: format!("host is not a valid TLS server name: {e}"),
                    }
                })?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|source| FetchError::Tls {
                    url: url.clone(),
                    source,
                })?;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                handshake_http2(tls, addr, url).await
            } else {
                handshake_http1(tls, addr, url).await
            }
        } else {
            handshake_http1(stream, addr, url).await
        }
    }

    /// Resolves the host, refuses if any address is special-use, then connects to the vetted
    /// addresses in turn. Returns the stream and the address it reached.
    async fn connect(&self, url: &Url) -> Result<(TcpStream, SocketAddr), FetchError> {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Domain(name)) => {
                self.dns
                    .resolve(name, port)
                    .await
                    .map_err(|source| FetchError::Connect {
                        url: url.clone(),
                        source,
                    })?
            }
            None => Vec::new(),
        };
        // All of them, before connecting to any: a name that resolves to one public and one
        // internal address is refused outright.
        for addr in &addrs {
            self.config.policy.check_addr(url, *addr)?;
        }
        let mut last_error = FetchError::Connect {
            url: url.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        };
        for addr in addrs {
            match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr)).await
            {
                Ok(Ok(stream)) => {
                    // Requests are written in one go; Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, addr));
                }
                Ok(Err(source)) => {
                    debug!(%addr, error = %source, "connect failed");
                    last_error = FetchError::Connect {
                        url: url.clone(),
                        source,
                    };
                }
                Err(_) => {
                    debug!(%addr, "connect timed out");
                    last_error = FetchError::Timeout {
                        url: url.clone(),
                        stage: TimeoutStage::Connect,
                        after: self.config.connect_timeout,
                    };
                }
            }
        }
        Err(last_error)
    }
}

/// HTTP/1.1 over an open connection. The connection's task is aborted when the [`Conn`] is
/// dropped, however the request ends (the total timeout included), so a stalled server never
/// keeps a task alive; a connection whose exchange ended cleanly goes to the pool instead.
async fn handshake_http1<T>(io: T, addr: SocketAddr, url: &Url) -> Result<Conn, FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|source| FetchError::Http {
            url: url.clone(),
            source,
        })?;
    Ok(conn(Sender::Http1(sender), addr, async move {
        let _ = connection.await;
    }))
}

/// HTTP/2 over a TLS connection whose server picked `h2`. hyper's defaults stand: streams as many
/// as the server allows (requests past that wait for one to end), no pings (a dead connection is
/// found as an HTTP/1.1 one is: by a request's error or the total timeout).
async fn handshake_http2<T>(io: T, addr: SocketAddr, url: &Url) -> Result<Conn, FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|source| FetchError::Http {
                url: url.clone(),
                source,
            })?;
    debug!(%addr, "HTTP/2 connection");
    Ok(conn(Sender::Http2(sender), addr, async move {
        let _ = connection.await;
    }))
}

fn conn(
    sender: Sender,
    addr: SocketAddr,
    connection: impl std::future::Future<Output = ()> + Send + 'static,
) -> Conn {
    Conn {
        sender,
        addr,
        task: std::sync::Arc::new(AbortOnDrop(tokio::spawn(connection))),
        since: Instant::now(),
    }
}
