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
//! # Connections
//!
//! Names are resolved here with [`tokio::net::lookup_host`], every resolved address is vetted, and
//! the TCP connection goes to a vetted address only: a second resolution (DNS rebinding) never gets
//! a chance to swap in an internal address. The system resolver does not say how long an answer
//! holds, so answers are kept for a fixed [`DNS_TTL`] (addresses are vetted again on every use).
//!
//! HTTP/1.1 connections are kept alive and reused per origin (scheme, host and port): a
//! delivery queue sending many activities to one server pays one TCP (and TLS) handshake, not one
//! per request. A pooled connection was opened to a vetted address by a client with the same
//! policy, so reusing it reaches nothing the policy refuses. At most [`MAX_IDLE_PER_ORIGIN`]
//! idle connections are kept per origin and [`MAX_IDLE`] in all, each for [`IDLE_TIMEOUT`]
//! (under the 60 s or more that nginx, Mastodon's puma and most servers keep one open). HTTP/2 is
//! not offered yet: ALPN asks for http/1.1 only.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tracing::{debug, instrument};
use url::{Host, Position, Url};

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
/// How long a resolved name is used before it is resolved again (a fixed TTL: the system
/// resolver does not report the record's own).
pub const DNS_TTL: Duration = Duration::from_secs(60);
/// Names kept resolved at most; past it the cache starts over.
const DNS_ENTRIES: usize = 4096;
/// Idle keep-alive connections kept per origin: as many as the delivery workers send to one host
/// at once by default.
pub const MAX_IDLE_PER_ORIGIN: usize = 8;
/// Idle keep-alive connections kept in all (each holds a socket and ~16 KiB of buffers): a
/// fan-out to thousands of hosts does not keep thousands of sockets open.
pub const MAX_IDLE: usize = 64;
/// How long an idle connection is kept for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// `Accept` for fetching ActivityPub documents: both media types the spec allows servers to serve.
pub const ACCEPT_ACTIVITY: HeaderValue = HeaderValue::from_static(
    "application/activity+json, application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
);

/// Signs one attempt of a request: method, URL, headers (already holding `Host`, `User-Agent` and
/// the caller's headers) and body. It is called afresh for every hop, redirects included, on a
/// fresh copy of the caller's headers, so a signature never leaks from one hop to the next.
pub type SignHook = Box<dyn Fn(&Method, &Url, &mut HeaderMap, Option<&[u8]>) + Send + Sync>;

/// The `User-Agent` masthead sends: `masthead/<version> (+<base_url>)`, so a remote admin can find
/// out who is knocking.
pub fn user_agent(base_url: &Url) -> String {
    format!("masthead/{} (+{base_url})", env!("CARGO_PKG_VERSION"))
}

/// Which URLs and addresses outgoing requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Allow every address, special-use ones included. The `[dev] allow_private_addresses`
    /// option: for local testing only, never on a server reachable by others.
    pub allow_private_addresses: bool,
    /// Allow plain `http://` URLs (only `https://` otherwise).
    pub allow_http: bool,
    /// Exact socket addresses (address and port) allowed even though they are special-use. Not a
    /// site option: it lets a test run a fake remote on loopback while the policy stays on for
    /// every other address and port, so the refusal paths can be exercised end to end.
    pub exempt: Vec<SocketAddr>,
}

impl AddressPolicy {
    /// Checks what can be checked from the URL alone: the scheme, that there is a host, and the
    /// address when the host is a literal IP.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(FetchError::InsecureScheme { url: url.clone() }),
            other => {
                return Err(FetchError::BadUrl {
                    url: url.to_string(),
                    reason: format!("scheme {other:?} is not http or https"),
                })
            }
        }
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            None => Err(FetchError::BadUrl {
                url: url.to_string(),
                reason: "no host".into(),
            }),
            Some(Host::Domain(_)) => Ok(()),
            Some(Host::Ipv4(ip)) => self.check_addr(url, SocketAddr::new(ip.into(), port)),
            Some(Host::Ipv6(ip)) => self.check_addr(url, SocketAddr::new(ip.into(), port)),
        }
    }

    /// Checks one address `url` would be fetched from (a literal host or a resolved one).
    pub fn check_addr(&self, url: &Url, addr: SocketAddr) -> Result<(), FetchError> {
        if self.allow_private_addresses || self.exempt.contains(&addr) {
            return Ok(());
        }
        match special_use(addr.ip()) {
            None => Ok(()),
            Some(reason) => Err(FetchError::Refused {
                url: url.clone(),
                ip: addr.ip(),
                reason,
            }),
        }
    }
}

/// Whether `ip` is an ordinary, globally reachable unicast address that a remote server may have.
pub fn is_public(ip: IpAddr) -> bool {
    special_use(ip).is_none()
}

/// Names the special-use range `ip` falls in, or `None` for a public address. The ranges are the
/// IANA special-purpose registries (RFC 6890 and successors) minus those marked globally
/// reachable, plus multicast and everything IPv6 outside global unicast.
fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_use_v4(v4),
        IpAddr::V6(v6) => special_use_v6(v6),
    }
}

fn special_use_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" address (0.0.0.0/8)",
        (10, _, _) => "private address (10.0.0.0/8)",
        (100, 64..=127, _) => "shared carrier-grade NAT address (100.64.0.0/10)",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local address",
        (172, 16..=31, _) => "private address (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (192, 88, 99) => "6to4 relay anycast address (192.88.99.0/24)",
        (192, 168, _) => "private address (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking address (198.18.0.0/15)",
        (224..=239, _, _) => "multicast address",
        _ if ip == Ipv4Addr::BROADCAST => "broadcast address",
        (240..=255, _, _) => "reserved address (240.0.0.0/4)",
        _ => return None,
    })
}

fn special_use_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Addresses that carry an IPv4 address are judged by it: ::ffff:127.0.0.1 reaches loopback.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_use_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the gateway connects to the embedded address.
        return special_use_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4: the relay forwards to the embedded address.
        return special_use_v4(embedded_v4(s[1], s[2]));
    }
    Some(match s {
        _ if ip.is_unspecified() => "unspecified address",
        _ if ip.is_loopback() => "loopback address",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible address (deprecated, ::/96)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 address (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only address (100::/64)",
        [0x2001, 0, ..] => "Teredo address (2001::/32)",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignment (2001::/23)",
        [0x2001, 0xdb8, ..] => "documentation address",
        [0x3fff, 0..=0x0fff, ..] => "documentation address",
        [0xfc00..=0xfdff, ..] => "unique local address (fc00::/7)",
        [0xfe80..=0xfebf, ..] => "link-local address",
        [0xfec0..=0xfeff, ..] => "site-local address (deprecated, fec0::/10)",
        [0xff00..=0xffff, ..] => "multicast address",
        // Only 2000::/3 is allocated for global unicast; everything else is reserved.
        [0x2000..=0x3fff, ..] => return None,
        _ => "reserved address (outside 2000::/3)",
    })
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// Whether a `Content-Type` is one ActivityPub documents are served with:
/// `application/activity+json`, or `application/ld+json` with the ActivityStreams profile.
/// Case, parameters and whitespace are tolerated as HTTP allows.
pub fn is_activitypub_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/activity+json" => true,
        "application/ld+json" => parts.any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            // JSON-LD allows several space-separated profile URIs.
            name.trim().eq_ignore_ascii_case("profile")
                && value
                    .split_ascii_whitespace()
                    .any(|p| p == "https://www.w3.org/ns/activitystreams")
        }),
        _ => false,
    }
}

/// Everything that can go wrong sending a request. Each variant names the URL it was about.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused to connect to {ip} for {url}: {reason} (set [dev] allow_private_addresses = true only for local testing)")]
    Refused {
        url: Url,
        ip: IpAddr,
        reason: &'static str,
    },
    #[error("refused to fetch {url}: plain http is not allowed (only https, unless allow_http is configured)")]
    InsecureScheme { url: Url },
    #[error("bad URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("timed out {stage} {url} (limit {after:?})")]
    Timeout {
        url: Url,
        stage: TimeoutStage,
        after: Duration,
    },
    #[error("response from {url} is too large: more than {limit} bytes")]
    TooLarge { url: Url, limit: usize },
    #[error("too many redirects fetching {url}: more than {limit}")]
    TooManyRedirects { url: Url, limit: usize },
    #[error("{url} redirected a request with a body to another origin, {to}; not re-sent there")]
    RedirectAcrossOrigins { url: Url, to: String },
    #[error("could not connect to {url}: {source}")]
    Connect {
        url: Url,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {url} failed: {source}")]
    Tls {
        url: Url,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with {url} failed: {source}")]
    Http {
        url: Url,
        #[source]
        source: hyper::Error,
    },
}

/// Which limit a [`FetchError::Timeout`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutStage {
    /// Opening the TCP connection ([`ClientConfig::connect_timeout`], per address).
    Connect,
    /// The whole request, redirects and body included ([`ClientConfig::total_timeout`]).
    Total,
}

impl fmt::Display for TimeoutStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutStage::Connect => "connecting to",
            TimeoutStage::Total => "fetching",
        })
    }
}

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
    dns: Arc<Mutex<DnsCache>>,
}

/// Resolved names by (lowercase name, port): the addresses and when they were resolved.
type DnsCache = HashMap<(String, u16), (Vec<SocketAddr>, Instant)>;

/// An open HTTP/1.1 connection waiting for its next request; its task ends when it is dropped.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    /// The address it is connected to, vetted again before every reuse.
    addr: SocketAddr,
    _task: AbortOnDrop,
    since: Instant,
}

/// Idle kept-alive connections by origin (module docs, "Connections").
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used live connection to `origin`, if any.
    fn take(&self, origin: &str) -> Option<Idle> {
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
    fn put(&self, origin: String, conn: Idle) {
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

    fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
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
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // The ring provider is given explicitly rather than installed process-wide, so nothing
        // depends on which provider another crate installs first.
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            config: Arc::new(config),
            tls: TlsConnector::from(Arc::new(tls)),
            pool: Arc::default(),
            dns: Arc::default(),
        }
    }

    /// Idle connections kept for reuse now.
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
            let Some(next) = redirect_target(&url, &response)? else {
                return Ok(response);
            };
            if redirects == self.config.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    url: first_url,
                    limit: self.config.max_redirects,
                });
            }
            // A 307/308 keeps the method and body: a signed delivery would be re-sent, as is, to
            // whatever origin the first one names. Only the origin it was meant for gets it.
            if body.is_some()
                && next.origin() != url.origin()
                && matches!(
                    response.status,
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                )
            {
                return Err(FetchError::RedirectAcrossOrigins {
                    url,
                    to: next.to_string(),
                });
            }
            redirects += 1;
            debug!(status = %response.status, from = %url, to = %next, "following redirect");
            if matches!(
                response.status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            ) && method != Method::HEAD
            {
                // What browsers do: the body is dropped and the method becomes GET. 307 and 308
                // exist precisely to keep both.
                method = Method::GET;
                body = None;
                for name in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    HeaderName::from_static("digest"),
                ] {
                    headers.remove(name);
                }
            }
            if next.origin() != url.origin() {
                // Credentials meant for one origin never travel to another.
                for name in [header::AUTHORIZATION, header::COOKIE] {
                    headers.remove(name);
                }
            }
            url = next;
        }
    }

    /// One hop: vet, resolve, connect, handshake, send, read the body.
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

        let mut request = http::Request::new(Full::new(body.cloned().unwrap_or_default()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = url[Position::BeforePath..Position::AfterQuery]
            .parse()
            .map_err(|e| FetchError::BadUrl {
                url: url.to_string(),
                reason: format!("path is not a valid request target: {e}"),
            })?;
        *request.headers_mut() = headers;

        let origin = url.origin().ascii_serialization();
        let pooled = self
            .pool
            .take(&origin)
            .filter(|conn| policy.check_addr(url, conn.addr).is_ok());
        if let Some(mut conn) = pooled {
            match conn.sender.try_send_request(request).await {
                Ok(response) => return self.read(url, response, origin, conn).await,
                Err(mut e) => match e.take_message() {
                    // Closed before the request was written: a new connection takes it.
                    Some(unsent) => {
                        debug!(%origin, "kept-alive connection closed; opening a new one");
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

        let stream = self.connect(url).await?;
        let addr = stream.peer_addr().map_err(|source| FetchError::Connect {
            url: url.clone(),
            source,
        })?;
        let mut conn = if url.scheme() == "https" {
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
            handshake(tls, addr, url).await?
        } else {
            handshake(stream, addr, url).await?
        };
        let response =
            conn.sender
                .send_request(request)
                .await
                .map_err(|source| FetchError::Http {
                    url: url.clone(),
                    source,
                })?;
        self.read(url, response, origin, conn).await
    }

    /// Resolves the host, refuses if any address is special-use, then connects to the vetted
    /// addresses in turn.
    async fn connect(&self, url: &Url) -> Result<TcpStream, FetchError> {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Domain(name)) => self.resolve(url, name, port).await?,
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

    /// The addresses of `name`, from the cache while [`DNS_TTL`] lasts.
    async fn resolve(
        &self,
        url: &Url,
        name: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        let key = (name.to_ascii_lowercase(), port);
        {
            let cache = self.dns.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((addrs, at)) = cache.get(&key) {
                if at.elapsed() < DNS_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|source| FetchError::Connect {
                url: url.clone(),
                source,
            })?
            .collect();
        let mut cache = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= DNS_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (addrs.clone(), Instant::now()));
        Ok(addrs)
    }

    /// Reads the response with the body cap; the connection goes back to the pool once the body
    /// is read whole.
    async fn read(
        &self,
        url: &Url,
        response: http::Response<hyper::body::Incoming>,
        origin: String,
        conn: Idle,
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
        if !conn.sender.is_closed() {
            self.pool.put(
                origin,
                Idle {
                    since: Instant::now(),
                    ..conn
                },
            );
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
            final_url: url.clone(),
        })
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

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `Host` for `url`: the host, with the port when it is not the scheme's default.
pub fn host_header(url: &Url) -> Result<HeaderValue, FetchError> {
    let host = &url[Position::BeforeHost..Position::BeforePath];
    HeaderValue::from_str(host).map_err(|_| FetchError::BadUrl {
        url: url.to_string(),
        reason: "host is not a valid Host header".into(),
    })
}

/// Where a redirect response points, resolved against the URL that sent it; `None` when the
/// response is not a redirect (or is one without a `Location`, which is returned as it is).
fn redirect_target(url: &Url, response: &Response) -> Result<Option<Url>, FetchError> {
    if !matches!(
        response.status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let Some(location) = response.headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let bad = |reason: String| FetchError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let location = location
        .to_str()
        .map_err(|_| bad("redirect Location is not text".into()))?;
    url.join(location)
        .map(Some)
        .map_err(|e| bad(format!("redirect Location {location:?} is not a URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    // ---- the address table ----

    #[test]
    fn rejects_every_special_use_address() {
        let table = [
            ("0.0.0.0", "this network"),
            ("0.255.255.255", "this network"),
            ("10.0.0.0", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.0", "carrier-grade NAT"),
            ("100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.0.0", "link-local"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.0", "IETF protocol assignment"),
            ("192.0.0.255", "IETF protocol assignment"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.0.1", "private"),
            ("192.168.255.255", "private"),
            ("198.18.0.0", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("64:ff9b::c0a8:101", "private"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::", "discard-only"),
            ("100::ffff:ffff:ffff:ffff", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:0:ffff:ffff::", "Teredo"),
            ("2001:1::1", "IETF protocol assignment"),
            ("2001:1ff:ffff::", "IETF protocol assignment"),
            ("2001:db8::1", "documentation"),
            ("2001:db8:ffff:ffff::", "documentation"),
            ("3fff::1", "documentation"),
            ("2002:7f00:1::1", "loopback"),
            ("2002:a00:1::", "private"),
            ("2002:c0a8:101::1", "private"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff00::", "multicast"),
            ("ff02::1", "multicast"),
            ("1::", "reserved"),
            ("4000::1", "reserved"),
        ];
        for (ip, expected) in table {
            let ip: IpAddr = ip.parse().unwrap();
            let reason = special_use(ip);
            assert!(
                reason.is_some_and(|r| r.contains(expected)),
                "{ip}: expected a {expected:?} refusal, got {reason:?}"
            );
            assert!(!is_public(ip), "{ip}");
        }
    }

    #[test]
    fn can_accept_public_addresses_including_range_neighbours() {
        let table = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "3ffe::1",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ];
        for ip in table {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(is_public(parsed), "{ip}: {:?}", special_use(parsed));
        }
    }

    // ---- the policy, without a network ----

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn rejects_loopback_with_a_message_that_says_what_to_do() {
        let err = AddressPolicy::default()
            .check_addr(&url("https://x/"), "127.0.0.1:443".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to connect to 127.0.0.1 for https://x/: loopback address \
             (set [dev] allow_private_addresses = true only for local testing)"
        );
    }

    #[test]
    fn rejects_literal_special_use_hosts_from_the_url_alone() {
        let policy = AddressPolicy::default();
        for u in [
            "https://10.0.0.1/inbox",
            "https://[::1]/",
            "https://[::ffff:192.168.1.1]/",
            "https://0x7f.1/",
        ] {
            let err = policy.check_url(&url(u)).unwrap_err();
            assert!(matches!(err, FetchError::Refused { .. }), "{u}: {err}");
        }
        policy
            .check_url(&url("https://1.1.1.1/"))
            .expect("a public literal is fine");
        policy
            .check_url(&url("https://example.com/"))
            .expect("names are checked once resolved");
    }

    #[test]
    fn rejects_plain_http_unless_allowed() {
        let mut policy = AddressPolicy::default();
        let err = policy.check_url(&url("http://example.com/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to fetch http://example.com/: plain http is not allowed \
             (only https, unless allow_http is configured)"
        );
        policy.allow_http = true;
        policy.check_url(&url("http://example.com/")).unwrap();
    }

    #[test]
    fn rejects_schemes_other_than_http_and_https() {
        let policy = AddressPolicy {
            allow_http: true,
            ..AddressPolicy::default()
        };
        for u in ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"] {
            let err = policy.check_url(&url(u)).unwrap_err();
            assert!(matches!(err, FetchError::BadUrl { .. }), "{u}: {err}");
        }
    }

    #[test]
    fn can_allow_every_address_with_allow_private_addresses() {
        let policy = AddressPolicy {
            allow_private_addresses: true,
            ..AddressPolicy::default()
        };
        for addr in [
            "127.0.0.1:80",
            "10.0.0.1:443",
            "[::1]:8080",
            "[fe80::1]:443",
        ] {
            policy
                .check_addr(&url("https://x/"), addr.parse().unwrap())
                .unwrap();
        }
    }

    #[test]
    fn can_exempt_one_exact_socket_address_and_nothing_else() {
        let policy = AddressPolicy {
            exempt: vec!["127.0.0.1:8080".parse().unwrap()],
            ..AddressPolicy::default()
        };
        let u = url("https://x/");
        policy
            .check_addr(&u, "127.0.0.1:8080".parse().unwrap())
            .unwrap();
        for other in ["127.0.0.1:8081", "127.0.0.2:8080", "[::1]:8080"] {
            assert!(
                policy.check_addr(&u, other.parse().unwrap()).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn can_recognise_activitypub_content_types() {
        let yes = [
            "application/activity+json",
            "Application/Activity+JSON",
            "application/activity+json; charset=utf-8",
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
            "application/ld+json;profile=https://www.w3.org/ns/activitystreams",
            "  application/ld+json ;  charset=utf-8 ; PROFILE = \"https://www.w3.org/ns/activitystreams\" ",
            "application/ld+json; profile=\"http://www.w3.org/ns/json-ld#compacted https://www.w3.org/ns/activitystreams\"",
        ];
        for ct in yes {
            assert!(is_activitypub_content_type(ct), "{ct}");
        }
        let no = [
            "",
            "application/json",
            "text/html",
            "application/ld+json",
            "application/ld+json; profile=\"https://example.com/other\"",
            "application/ld+json; charset=\"https://www.w3.org/ns/activitystreams\"",
            "application/activity+jsonx",
        ];
        for ct in no {
            assert!(!is_activitypub_content_type(ct), "{ct}");
        }
    }

    #[test]
    fn can_build_the_user_agent_from_the_base_url() {
        assert_eq!(
            user_agent(&url("https://news.example/")),
            format!(
                "masthead/{} (+https://news.example/)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    // ---- end to end, against servers on 127.0.0.1 ----

    /// One request a test server received.
    #[derive(Debug, Clone)]
    struct Seen {
        method: Method,
        target: String,
        headers: HeaderMap,
        body: Bytes,
    }

    struct TestServer {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        /// Connections accepted.
        connections: Arc<AtomicUsize>,
    }

    impl TestServer {
        fn url(&self, path: &str) -> Url {
            url(&format!("http://{}{path}", self.addr))
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    type Handler = dyn Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync;

    /// A hyper server on 127.0.0.1:0 that records every request. The listener is bound before
    /// this returns, so the server is ready; it stops when the test's runtime does.
    async fn serve(
        handler: impl Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let record = seen.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (handler, record) = (handler.clone(), record.clone());
                let service = hyper::service::service_fn(move |req: http::Request<_>| {
                    let (handler, record) = (handler.clone(), record.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body: hyper::body::Incoming = body;
                        let seen = Seen {
                            method: parts.method,
                            target: parts.uri.to_string(),
                            headers: parts.headers,
                            body: body.collect().await?.to_bytes(),
                        };
                        let response = handler(&seen);
                        record.lock().unwrap().push(seen);
                        Ok::<_, hyper::Error>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TestServer {
            addr,
            seen,
            connections,
        }
    }

    fn ok(body: &'static str) -> http::Response<Full<Bytes>> {
        http::Response::new(Full::new(Bytes::from_static(body.as_bytes())))
    }

    fn redirect(status: StatusCode, location: &str) -> http::Response<Full<Bytes>> {
        http::Response::builder()
            .status(status)
            .header(header::LOCATION, location)
            .body(Full::default())
            .unwrap()
    }

    /// `/hops/N` redirects (relatively) to `/hops/N-1`; `/hops/0` answers.
    fn hops(seen: &Seen) -> http::Response<Full<Bytes>> {
        let n: usize = seen.target.trim_start_matches("/hops/").parse().unwrap();
        if n == 0 {
            ok("arrived")
        } else {
            redirect(StatusCode::FOUND, &format!("/hops/{}", n - 1))
        }
    }

    fn strict_config() -> ClientConfig {
        let mut config = ClientConfig::new("masthead-test/1");
        config.policy.allow_http = true;
        config
    }

    fn loopback_config() -> ClientConfig {
        let mut config = strict_config();
        config.policy.allow_private_addresses = true;
        config
    }

    async fn get(config: ClientConfig, url: Url) -> Result<Response, FetchError> {
        Client::new(config)
            .send(OutgoingRequest::new(Method::GET, url))
            .await
    }

    /// The error of a GET of `target` with loopback allowed.
    async fn loopback_error(target: &str) -> FetchError {
        get(loopback_config(), url(target)).await.unwrap_err()
    }

    #[tokio::test]
    async fn rejects_loopback_by_default_without_connecting() {
        let server = serve(|_| ok("secret")).await;
        let target = server.url("/admin");
        let err = get(strict_config(), target.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refused to connect to 127.0.0.1 for {target}: loopback address \
                 (set [dev] allow_private_addresses = true only for local testing)"
            )
        );
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn rejects_a_name_that_resolves_to_loopback() {
        let server = serve(|_| ok("secret")).await;
        let target = url(&format!("http://localhost:{}/", server.addr.port()));
        let err = get(strict_config(), target).await.unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Refused {
                    reason: "loopback address",
                    ..
                }
            ),
            "{err}"
        );
        assert!(server.seen().is_empty());
    }

    #[tokio::test]
    async fn can_fetch_from_loopback_with_allow_private_addresses() {
        let server = serve(|_| ok("hello")).await;
        let target = server.url("/actor?x=1");
        let response = Client::new(loopback_config())
            .get_json(target.clone(), ACCEPT_ACTIVITY, None)
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(&response.body[..], b"hello");
        assert_eq!(response.final_url, target);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].target, "/actor?x=1");
        assert_eq!(seen[0].headers[header::HOST], server.addr.to_string());
        assert_eq!(seen[0].headers[header::USER_AGENT], "masthead-test/1");
        assert_eq!(seen[0].headers[header::ACCEPT], ACCEPT_ACTIVITY);
    }

    #[tokio::test]
    async fn can_reuse_one_kept_alive_connection_per_origin() {
        let server = serve(|_| ok("hello")).await;
        let other = serve(|_| ok("other")).await;
        let client = Client::new(loopback_config());
        for path in ["/a", "/b", "/c"] {
            let mut req = OutgoingRequest::new(Method::POST, server.url(path));
            req.body = Some(Bytes::from_static(b"{}"));
            let response = client.send(req).await.unwrap();
            assert_eq!(&response.body[..], b"hello");
        }
        client
            .send(OutgoingRequest::new(Method::GET, other.url("/")))
            .await
            .unwrap();
        assert_eq!(server.seen().len(), 3);
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
        assert_eq!(other.connections.load(Ordering::SeqCst), 1);
        assert_eq!(client.idle_connections(), 2, "one per origin");
    }

    #[tokio::test]
    async fn can_open_a_new_connection_when_the_server_closes_the_kept_one() {
        let server = serve(|_| {
            http::Response::builder()
                .header(header::CONNECTION, "close")
                .body(Full::new(Bytes::from_static(b"bye")))
                .unwrap()
        })
        .await;
        let client = Client::new(loopback_config());
        for _ in 0..3 {
            let response = client
                .send(OutgoingRequest::new(Method::GET, server.url("/")))
                .await
                .unwrap();
            assert_eq!(&response.body[..], b"bye");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn can_keep_a_resolved_name_for_its_ttl() {
        let server = serve(|_| ok("hello")).await;
        let target = url(&format!("http://localhost:{}/", server.addr.port()));
        let client = Client::new(loopback_config());
        client
            .send(OutgoingRequest::new(Method::GET, target))
            .await
            .unwrap();
        let cached = client
            .dns
            .lock()
            .unwrap()
            .get(&("localhost".to_string(), server.addr.port()))
            .cloned();
        let (addrs, _) = cached.expect("localhost is cached");
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
        // A strict client refuses the cached loopback answer, and the kept-alive connection to
        // it, as it refused the fresh ones.
        let strict = Client {
            config: Arc::new(strict_config()),
            ..client.clone()
        };
        let err = strict
            .send(OutgoingRequest::new(
                Method::GET,
                url(&format!("http://localhost:{}/x", server.addr.port())),
            ))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Refused { .. }), "{err}");
    }

    #[tokio::test]
    async fn can_read_a_body_of_exactly_the_limit() {
        let server =
            serve(|_| http::Response::new(Full::new(Bytes::from(vec![b'a'; MAX_BODY_BYTES]))))
                .await;
        let response = get(loopback_config(), server.url("/")).await.unwrap();
        assert_eq!(response.body.len(), MAX_BODY_BYTES);
    }

    #[tokio::test]
    async fn rejects_a_declared_body_over_the_limit() {
        let server =
            serve(|_| http::Response::new(Full::new(Bytes::from(vec![b'a'; MAX_BODY_BYTES + 1]))))
                .await;
        let err = get(loopback_config(), server.url("/big"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::TooLarge {
                    limit: MAX_BODY_BYTES,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn rejects_an_undeclared_body_once_it_passes_the_limit() {
        // No Content-Length: the body runs until the server closes, so only counting can stop it.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await;
            let chunk = vec![b'a'; 64 * 1024];
            // Far more than the limit; the client hangs up long before the end.
            for _ in 0..64 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        });
        let err = loopback_error(&format!("http://{addr}/stream")).await;
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn can_follow_three_relative_redirects() {
        let server = serve(hops).await;
        let response = get(loopback_config(), server.url("/hops/3")).await.unwrap();
        assert_eq!(&response.body[..], b"arrived");
        assert_eq!(response.final_url, server.url("/hops/0"));
        let targets: Vec<_> = server.seen().into_iter().map(|s| s.target).collect();
        assert_eq!(targets, ["/hops/3", "/hops/2", "/hops/1", "/hops/0"]);
    }

    #[tokio::test]
    async fn rejects_a_fourth_redirect() {
        let server = serve(hops).await;
        let start = server.url("/hops/4");
        let err = get(loopback_config(), start.clone()).await.unwrap_err();
        assert!(
            matches!(&err, FetchError::TooManyRedirects { url, limit: 3 } if *url == start),
            "{err}"
        );
        // The fourth Location is never requested.
        assert_eq!(server.seen().len(), 4);
    }

    #[tokio::test]
    async fn can_sign_every_hop_afresh() {
        let server = serve(hops).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let hook_calls = calls.clone();
        let sign: SignHook = Box::new(move |method, url, headers, body| {
            let n = hook_calls.fetch_add(1, Ordering::SeqCst);
            assert_eq!(method, Method::GET);
            assert!(body.is_none());
            assert!(headers.contains_key(header::HOST), "Host is there to sign");
            let value = format!("{n} {url}");
            headers.append("signature", HeaderValue::from_str(&value).unwrap());
        });
        Client::new(loopback_config())
            .get_json(server.url("/hops/2"), ACCEPT_ACTIVITY, Some(sign))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        for (n, seen) in server.seen().iter().enumerate() {
            let signatures: Vec<_> = seen.headers.get_all("signature").iter().collect();
            let expected = format!("{n} {}", server.url(&seen.target));
            assert_eq!(signatures, [expected.as_str()], "hop {n}");
        }
    }

    fn method_redirects(seen: &Seen) -> http::Response<Full<Bytes>> {
        match seen.target.as_str() {
            "/see-other" => redirect(StatusCode::SEE_OTHER, "/landing"),
            "/found" => redirect(StatusCode::FOUND, "/landing"),
            "/temporary" => redirect(StatusCode::TEMPORARY_REDIRECT, "/landing"),
            "/permanent" => redirect(StatusCode::PERMANENT_REDIRECT, "/landing"),
            _ => ok("landed"),
        }
    }

    /// POSTs an activity to `path` and returns the request that landed after the redirect.
    async fn post_through(server: &TestServer, path: &str) -> Seen {
        server.seen.lock().unwrap().clear();
        let mut req = OutgoingRequest::new(Method::POST, server.url(path));
        req.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/activity+json"),
        );
        req.body = Some(Bytes::from_static(b"{\"type\":\"Follow\"}"));
        Client::new(loopback_config()).send(req).await.unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        seen[1].clone()
    }

    #[tokio::test]
    async fn can_turn_a_post_into_a_bodiless_get_on_301_302_303() {
        let server = serve(method_redirects).await;
        for path in ["/see-other", "/found"] {
            let landing = post_through(&server, path).await;
            assert_eq!(landing.method, Method::GET, "{path}");
            assert!(landing.body.is_empty(), "{path}");
            assert!(
                !landing.headers.contains_key(header::CONTENT_TYPE),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn can_keep_method_and_body_on_307_308() {
        let server = serve(method_redirects).await;
        for path in ["/temporary", "/permanent"] {
            let landing = post_through(&server, path).await;
            assert_eq!(landing.method, Method::POST, "{path}");
            assert_eq!(&landing.body[..], b"{\"type\":\"Follow\"}", "{path}");
        }
    }

    #[tokio::test]
    async fn rejects_resending_a_body_to_another_origin_on_307_308() {
        let elsewhere = serve(|_| ok("elsewhere")).await;
        for status in [
            StatusCode::TEMPORARY_REDIRECT,
            StatusCode::PERMANENT_REDIRECT,
        ] {
            let location = elsewhere.url("/inbox").to_string();
            let first = serve(move |_| redirect(status, &location)).await;
            let mut req = OutgoingRequest::new(Method::POST, first.url("/inbox"));
            req.body = Some(Bytes::from_static(b"{\"type\":\"Create\"}"));
            let err = Client::new(loopback_config()).send(req).await.unwrap_err();
            assert!(
                matches!(err, FetchError::RedirectAcrossOrigins { .. }),
                "{status}: {err}"
            );
            assert_eq!(first.seen().len(), 1, "{status}");
        }
        assert!(elsewhere.seen().is_empty());
    }

    /// A client whose policy is on, with only `allowed` exempt: it stands in for a public host.
    fn client_trusting(allowed: &[SocketAddr]) -> Client {
        let mut config = strict_config();
        config.policy.exempt = allowed.to_vec();
        Client::new(config)
    }

    #[tokio::test]
    async fn rejects_a_redirect_from_an_allowed_host_to_a_refused_one() {
        let internal = serve(|_| ok("internal")).await;
        let internal_url = internal.url("/metadata");
        let location = internal_url.to_string();
        let public = serve(move |_| redirect(StatusCode::FOUND, &location)).await;

        let err = client_trusting(&[public.addr])
            .send(OutgoingRequest::new(Method::GET, public.url("/")))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Refused { url, .. } if *url == internal_url),
            "{err}"
        );
        assert_eq!(public.seen().len(), 1);
        assert!(internal.seen().is_empty());

        // The same chain goes through when both hops are allowed: the refusal above is the policy.
        let response = client_trusting(&[public.addr, internal.addr])
            .send(OutgoingRequest::new(Method::GET, public.url("/")))
            .await
            .unwrap();
        assert_eq!(&response.body[..], b"internal");
    }

    #[tokio::test]
    async fn rejects_redirects_to_literal_special_use_addresses() {
        let public = serve(|seen| {
            let location = match seen.target.as_str() {
                "/metadata" => "http://169.254.169.254/latest/meta-data/",
                "/mapped" => "http://[::ffff:127.0.0.1]/",
                _ => "ftp://example.com/",
            };
            redirect(StatusCode::MOVED_PERMANENTLY, location)
        })
        .await;
        let client = client_trusting(&[public.addr]);
        for (path, expected) in [
            ("/metadata", "link-local address"),
            ("/mapped", "loopback address"),
        ] {
            let err = client
                .send(OutgoingRequest::new(Method::GET, public.url(path)))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, FetchError::Refused { reason, .. } if *reason == expected),
                "{path}: {err}"
            );
        }
        let err = client
            .send(OutgoingRequest::new(Method::GET, public.url("/ftp")))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::BadUrl { .. }), "{err}");
    }

    #[tokio::test]
    async fn errors_when_the_connection_is_not_accepted_in_time() {
        // A listener with a backlog of 0 whose queue is filled and never drained: the kernel
        // drops further SYNs, so connecting hangs exactly like a blackholed host.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        let mut hangs = false;
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(stream) => queued.push(stream.unwrap()),
                Err(_) => {
                    hangs = true;
                    break;
                }
            }
        }
        assert!(hangs, "could not fill the accept queue of {addr}");

        let mut config = loopback_config();
        config.connect_timeout = Duration::from_millis(200);
        let err = get(config, url(&format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Timeout {
                    stage: TimeoutStage::Connect,
                    ..
                }
            ),
            "{err}"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn errors_when_the_whole_request_takes_too_long() {
        // Accepts, then never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (_stream, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
        });
        let mut config = loopback_config();
        config.total_timeout = Duration::from_millis(300);
        let target = url(&format!("http://{addr}/slow"));
        let err = get(config, target.clone()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("timed out fetching {target} (limit 300ms)")
        );
    }

    #[tokio::test]
    async fn errors_when_nothing_listens() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = loopback_error(&format!("http://{addr}/")).await;
        assert!(matches!(err, FetchError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn errors_when_an_https_server_does_not_speak_tls() {
        let server = serve(|_| ok("plain")).await;
        let target = url(&format!("https://{}/", server.addr));
        let err = get(loopback_config(), target).await.unwrap_err();
        assert!(matches!(err, FetchError::Tls { .. }), "{err}");
    }
}
