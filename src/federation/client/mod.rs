//! The one outgoing HTTP client: every request masthead sends to another server goes through here.
//!
//! This module owns the transport and the policy of each outgoing request: which URLs may be
//! fetched at all (http(s) only, plain http only when configured), which addresses may be
//! connected to (never loopback, private, link-local or any other special-use address, checked
//! for literal hosts, for every address a name resolves to, and again on every redirect hop), the
//! limits (connect and total timeouts, body size, redirect count) and the `User-Agent`.
//!
//! It does not own signing (the caller passes a [`SignHook`] that is run on every hop, so the
//! signatures module stays independent of this one), caching of documents, retries or the
//! delivery queue.
//!
//! Requests go out over HTTP/2 where an https server offers it over ALPN (most large instances,
//! behind nginx or Cloudflare, do): the deliveries to one host then share one multiplexed TLS
//! connection instead of opening one each. Elsewhere, and always for plain http, HTTP/1.1 with
//! kept-alive connections. Both carry the same request: the `Host` that is signed is the
//! `:authority` HTTP/2 sends (and is sent as `Host` too, equal to it, as RFC 9113 allows, for
//! servers that read only that).
//!
//! This file holds the [`Client`] and one request's way through it (vet, sign, reuse or open a
//! connection, send, read with the body cap, follow redirects, all within the total timeout).
//! The rest is one idea a file:
//!
//! - `policy`: the [`AddressPolicy`] and the table of special-use addresses;
//! - `dns`: names resolved and kept for their TTL (within [`MIN_TTL`] and [`MAX_TTL`]);
//! - `connect`: a new connection (resolve, vet every address, TCP, TLS, HTTP/2 or HTTP/1.1);
//! - `pool`: kept connections per origin (idle HTTP/1.1 ones, one shared HTTP/2 one);
//! - `redirect`: where a redirect points and what of the request follows it;
//! - `headers`: `User-Agent`, `Host`, `Accept` and the ActivityPub content types;
//! - `error`: [`FetchError`];
//! - `tests`: end to end, against servers on 127.0.0.1.

mod connect;
mod dns;
mod error;
mod headers;
mod policy;
mod pool;
mod redirect;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use tokio_rustls::TlsConnector;
use tracing::{debug, instrument};
use url::{Position, Url};

pub use dns::{FALLBACK_TTL, MAX_TTL, MIN_TTL};
pub use error::{FetchError, TimeoutStage};
pub use headers::{host_header, is_activitypub_content_type, user_agent, ACCEPT_ACTIVITY};
pub use policy::{is_public, AddressPolicy};
pub use pool::{IDLE_TIMEOUT, MAX_IDLE, MAX_IDLE_PER_ORIGIN};

use dns::DnsCache;
use pool::{Conn, Pool, Sender};

/// Time allowed to open the TCP connection to one address (Mastodon's connect timeout).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request: resolving, connecting, TLS, every redirect hop and reading
/// the body (Mastodon's total timeout). A slow or stalling server cannot hold a worker longer.
/// Mastodon also limits each read and write to 10 s; here the total bound covers those.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (Mastodon's limit). Actors, objects and collection pages are a few
/// KiB; anything past 1 MiB is not something masthead wants, and reading stops there.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Redirects followed before giving up (Mastodon's limit). Real actor and object URLs redirect
/// once or twice at most (http -> https, old domain -> new domain).
pub const MAX_REDIRECTS: usize = 3;

/// Signs one attempt of a request: method, URL, headers (already holding `Host`, `User-Agent` and
/// the caller's headers) and body. It is called afresh for every hop, redirects included, on a
/// fresh copy of the caller's headers, so a signature never leaks from one hop to the next.
pub type SignHook = Box<dyn Fn(&Method, &Url, &mut HeaderMap, Option<&[u8]>) + Send + Sync>;

/// How the [`Client`] behaves. [`ClientConfig::new`] gives Mastodon's limits and the strict policy.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent as `User-Agent` on every request; see [`user_agent`].
    pub user_agent: String,
    pub policy: AddressPolicy,
    /// Per address tried; [`CONNECT_TIMEOUT`] unless a test wants it short.
    pub connect_timeout: Duration,
    /// For the whole request, redirects included; [`TOTAL_TIMEOUT`] by default.
    pub total_timeout: Duration,
    /// Reading stops with [`FetchError::TooLarge`] past this; [`MAX_BODY_BYTES`] by default.
    pub max_body_bytes: usize,
    /// [`MAX_REDIRECTS`] by default.
    pub max_redirects: usize,
    /// Certificate authorities trusted in addition to the webpki-roots (Mozilla's) list, for
    /// servers whose certificates a private CA signs: a closed federation inside an organisation,
    /// or a test CA. Empty by default. Add each with [`rustls::RootCertStore::add`], which checks
    /// the DER certificate and says why it cannot be a root.
    pub extra_roots: rustls::RootCertStore,
}

impl ClientConfig {
    pub fn new(user_agent: impl Into<String>) -> Self {
        ClientConfig {
            user_agent: user_agent.into(),
            policy: AddressPolicy::default(),
            connect_timeout: CONNECT_TIMEOUT,
            total_timeout: TOTAL_TIMEOUT,
            max_body_bytes: MAX_BODY_BYTES,
            max_redirects: MAX_REDIRECTS,
            extra_roots: rustls::RootCertStore::empty(),
        }
    }
}

/// One request to send. Redirects are followed by [`Client::send`].
pub struct OutgoingRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Run on every hop, just before it is sent.
    pub sign: Option<SignHook>,
}

impl OutgoingRequest {
    pub fn new(method: Method, url: Url) -> Self {
        OutgoingRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            sign: None,
        }
    }
}

impl fmt::Debug for OutgoingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .field("signed", &self.sign.is_some())
            .finish()
    }
}

/// A complete response, whatever its status: judging the status is the caller's business.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The URL that answered, after redirects.
    pub final_url: Url,
}

/// The outgoing HTTP client. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    tls: TlsConnector,
    pool: Arc<Pool>,
    dns: Arc<DnsCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        roots.extend(config.extra_roots.roots.iter().cloned());
        // The AWS-LC provider is given explicitly rather than installed process-wide, so nothing
        // depends on which provider another crate installs first.
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the AWS-LC provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        // The server picks; HTTP/2 first, so the ones that speak it multiplex (module docs).
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Client {
            config: Arc::new(config),
            tls: TlsConnector::from(Arc::new(tls)),
            pool: Arc::default(),
            dns: Arc::default(),
        }
    }

    /// Connections kept for reuse now: idle HTTP/1.1 ones, and shared HTTP/2 ones counting once.
    pub fn idle_connections(&self) -> usize {
        self.pool.len()
    }

    /// `GET url` with the given `Accept`, signed by `sign` if given. The caller checks the status
    /// and, for ActivityPub documents, [`is_activitypub_content_type`].
    pub async fn get_json(
        &self,
        url: Url,
        accept: HeaderValue,
        sign: Option<SignHook>,
    ) -> Result<Response, FetchError> {
        let mut req = OutgoingRequest::new(Method::GET, url);
        req.headers.insert(header::ACCEPT, accept);
        req.sign = sign;
        self.send(req).await
    }

    /// Sends `req`, following up to [`ClientConfig::max_redirects`] redirects, each checked
    /// against the address policy and signed afresh, all within [`ClientConfig::total_timeout`].
    #[instrument(skip_all, fields(method = %req.method, url = %req.url))]
    pub async fn send(&self, req: OutgoingRequest) -> Result<Response, FetchError> {
        let url = req.url.clone();
        let limit = self.config.total_timeout;
        match tokio::time::timeout(limit, self.follow(req)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url,
                stage: TimeoutStage::Total,
                after: limit,
            }),
        }
    }

    async fn follow(&self, req: OutgoingRequest) -> Result<Response, FetchError> {
        let OutgoingRequest {
            mut method,
            mut url,
            mut headers,
            mut body,
            sign,
        } = req;
        let first_url = url.clone();
        let mut redirects = 0;
        loop {
            let response = self
                .attempt(&method, &url, &headers, body.as_ref(), sign.as_ref())
                .await?;
            let Some(next) = redirect::target(&url, &response)? else {
                return Ok(response);
            };
            if redirects == self.config.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    url: first_url,
                    limit: self.config.max_redirects,
                });
            }
            redirect::next_hop(
                response.status,
                &url,
                &next,
                &mut method,
                &mut body,
                &mut headers,
            )?;
            redirects += 1;
            debug!(status = %response.status, from = %url, to = %next, "following redirect");
            url = next;
        }
    }

    /// One hop: vet, sign, then send on a kept connection to the origin or a new one, and read
    /// the body.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        caller_headers: &HeaderMap,
        body: Option<&Bytes>,
        sign: Option<&SignHook>,
    ) -> Result<Response, FetchError> {
        let policy = &self.config.policy;
        policy.check_url(url)?;

        let mut headers = caller_headers.clone();
        headers.insert(header::HOST, host_header(url)?);
        if !headers.contains_key(header::USER_AGENT) {
            let ua =
                HeaderValue::from_str(&self.config.user_agent).map_err(|_| FetchError::BadUrl {
                    url: url.to_string(),
                    reason: "the configured User-Agent is not a valid header value".into(),
                })?;
            headers.insert(header::USER_AGENT, ua);
        }
        if let Some(sign) = sign {
            sign(method, url, &mut headers, body.map(|b| &b[..]));
        }
        let target = Target::new(url, &headers)?;

        let mut request = http::Request::new(Full::new(body.cloned().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.headers_mut() = headers;

        let origin = url.origin().ascii_serialization();
        let mut turn = None;
        loop {
            let pooled = self
                .pool
                .take(&origin)
                .filter(|conn| policy.check_addr(url, conn.addr).is_ok());
            if let Some(mut conn) = pooled {
                match target.send(&mut conn, request).await {
                    Ok(response) => return self.read(url, response, origin, conn).await,
                    Err(mut e) => match e.take_message() {
                        // Closed before the request was written: a new connection takes it.
                        Some(unsent) => {
                            debug!(%origin, "kept connection closed; opening a new one");
                            request = unsent;
                        }
                        None => {
                            return Err(FetchError::Http {
                                url: url.clone(),
                                source: e.into_error(),
                            })
                        }
                    },
                }
            }
            // Plain http is HTTP/1.1 only: there is no shared connection to wait for.
            if turn.is_some() || url.scheme() != "https" {
                break;
            }
            let mine = self.pool.turn(&origin).await;
            let waited = mine.waited;
            turn = Some(mine);
            if !waited {
                break;
            }
        }

        let mut conn = self.open(url).await?;
        if let Some(shared) = conn.share() {
            self.pool.put(origin.clone(), shared);
        }
        // Whatever it spoke, the requests waiting behind this one may go.
        drop(turn);
        let response = target
            .send(&mut conn, request)
            .await
            .map_err(|e| FetchError::Http {
                url: url.clone(),
                source: e.into_error(),
            })?;
        self.read(url, response, origin, conn).await
    }

    /// Reads the response with the body cap; the connection goes back to the pool once the body
    /// is read whole (an HTTP/2 one is marked used).
    async fn read(
        &self,
        url: &Url,
        response: http::Response<hyper::body::Incoming>,
        origin: String,
        conn: Conn,
    ) -> Result<Response, FetchError> {
        let http_error = |source| FetchError::Http {
            url: url.clone(),
            source,
        };
        let (parts, mut body) = response.into_parts();

        let limit = self.config.max_body_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.clone(),
            limit,
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        // Redirect bodies are read too (they are small): the cap and the timeout apply to them.
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(http_error)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        self.pool.put(origin, conn);
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
            final_url: url.clone(),
        })
    }
}

/// Where one hop's request goes, in the form each protocol sends.
struct Target {
    /// `/path?query`, for the HTTP/1.1 request line (with `Host` beside it).
    origin_form: Uri,
    /// `https://authority/path?query`, from which HTTP/2 takes `:scheme`, `:authority` and
    /// `:path`. The authority is the `Host` header as signed, so the signature covers what is sent.
    absolute_form: Uri,
}

impl Target {
    fn new(url: &Url, headers: &HeaderMap) -> Result<Target, FetchError> {
        let bad = |reason: String| FetchError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let path = &url[Position::BeforePath..Position::AfterQuery];
        let origin_form = path
            .parse()
            .map_err(|e| bad(format!("path is not a valid request target: {e}")))?;
        let authority = match headers.get(header::HOST) {
            Some(host) => host
                .to_str()
                .map_err(|_| bad("the signed Host header is not visible ASCII".into()))?,
            None => &url[Position::BeforeHost..Position::BeforePath],
        };
        let absolute_form = format!("{}://{authority}{path}", url.scheme())
            .parse()
            .map_err(|e| bad(format!("Host {authority:?} is not a valid authority: {e}")))?;
        Ok(Target {
            origin_form,
            absolute_form,
        })
    }

    /// Sends `request` on `conn` with the target its protocol wants; an error hands the request
    /// back when it was not written.
    async fn send(
        &self,
        conn: &mut Conn,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<
        http::Response<hyper::body::Incoming>,
        hyper::client::conn::TrySendError<http::Request<Full<Bytes>>>,
    > {
        match &mut conn.sender {
            Sender::Http1(sender) => {
                *request.uri_mut() = self.origin_form.clone();
                sender.try_send_request(request).await
            }
            Sender::Http2(sender) => {
                *request.uri_mut() = self.absolute_form.clone();
                sender.try_send_request(request).await
            }
        }
    }
}
