//! Opening a new connection for a URL: resolve the host (through the DNS cache), vet every
//! address before connecting to any, connect to the vetted ones in turn within the connect
//! timeout, then TLS for https (ALPN http/1.1 only: HTTP/2 is not offered yet) and the HTTP/1.1
//! handshake.
//!
//! It does not reuse connections (the pool, which the client asks first) nor send requests.

use std::net::SocketAddr;
use std::time::Instant;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::debug;
use url::{Host, Url};

use super::pool::{AbortOnDrop, Idle};
use super::{Client, FetchError, TimeoutStage};

impl Client {
    /// A new HTTP/1.1 connection to `url`'s origin, TLS included for https.
    pub(super) async fn open(&self, url: &Url) -> Result<Idle, FetchError> {
        let stream = self.connect(url).await?;
        let addr = stream.peer_addr().map_err(|source| FetchError::Connect {
            url: url.clone(),
            source,
        })?;
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
            handshake(tls, addr, url).await
        } else {
            handshake(stream, addr, url).await
        }
    }

    /// Resolves the host, refuses if any address is special-use, then connects to the vetted
    /// addresses in turn.
    async fn connect(&self, url: &Url) -> Result<TcpStream, FetchError> {
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
                    return Ok(stream);
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

/// HTTP/1.1 over an open connection. The connection's task is aborted when the [`Idle`] is
/// dropped, however the request ends (the total timeout included), so a stalled server never
/// keeps a task alive; a connection whose exchange ended cleanly goes to the pool instead.
async fn handshake<T>(io: T, addr: SocketAddr, url: &Url) -> Result<Idle, FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|source| FetchError::Http {
            url: url.clone(),
            source,
        })?;
    let task = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    Ok(Idle {
        sender,
        addr,
        _task: task,
        since: Instant::now(),
    })
}
