//! The client end to end, against servers on 127.0.0.1: the policy refusing before any byte is
//! sent, keep-alive reuse, the DNS cache, the body cap, redirects (count, method, origin, policy
//! on every hop), signing every hop afresh, the timeouts, and over TLS (a test CA) HTTP/2 where
//! the server offers it, HTTP/1.1 where it does not.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use url::Url;

use super::*;

// The test CA the integration tests use too (they read its PEM forms, these tests its DER).
#[path = "../../../tests/common/test_ca.rs"]
#[allow(dead_code)]
mod test_ca;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// One request a test server received.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    method: Method,
    /// Path and query, whichever form the request line or `:path` had.
    target: String,
    /// The URI's authority: HTTP/2's `:authority` (HTTP/1.1 sends none in origin form).
    authority: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

struct TestServer {
    addr: SocketAddr,
    /// `https` when it speaks TLS.
    scheme: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// The tasks serving them.
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TestServer {
    fn url(&self, path: &str) -> Url {
        url(&format!("{}://{}{path}", self.scheme, self.addr))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Closes every connection it has accepted, as a server restarting does.
    fn close_connections(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

type Handler = dyn Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync;

/// A hyper server on 127.0.0.1:0 that records every request. The listener is bound before
/// this returns, so the server is ready; it stops when the test's runtime does.
async fn serve(
    handler: impl Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
) -> TestServer {
    serve_with(Serving::default(), handler).await
}

/// How a test server serves, beyond plain HTTP/1.1.
#[derive(Default)]
struct Serving {
    /// TLS with this config; HTTP/2 on a connection whose ALPN picked `h2`.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Each request waits here before it is answered: a barrier of N proves N requests were
    /// in flight at once.
    barrier: Option<Arc<Barrier>>,
}

async fn serve_with(
    serving: Serving,
    handler: impl Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
) -> TestServer {
    let Serving { tls, barrier } = serving;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let record = seen.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let serving = tasks.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let (handler, record, barrier) = (handler.clone(), record.clone(), barrier.clone());
            let service = hyper::service::service_fn(move |req: http::Request<_>| {
                let (handler, record, barrier) = (handler.clone(), record.clone(), barrier.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body: hyper::body::Incoming = body;
                    let seen = Seen {
                        version: parts.version,
                        method: parts.method,
                        target: parts.uri.path_and_query().map_or("", |p| p.as_str()).into(),
                        authority: parts.uri.authority().map(|a| a.to_string()),
                        headers: parts.headers,
                        body: body.collect().await?.to_bytes(),
                    };
                    if let Some(barrier) = barrier {
                        barrier.wait().await;
                    }
                    let response = handler(&seen);
                    record.lock().unwrap().push(seen);
                    Ok::<_, hyper::Error>(response)
                }
            });
            let Some(acceptor) = acceptor.clone() else {
                let task = tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
                serving.lock().unwrap().push(task.abort_handle());
                continue;
            };
            let task = tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                }
            });
            serving.lock().unwrap().push(task.abort_handle());
        }
    });
    TestServer {
        addr,
        scheme,
        seen,
        connections,
        tasks,
    }
}

/// A test certificate authority and a certificate it signed for `127.0.0.1` and `localhost`.
struct TestCa {
    root: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let issued = test_ca::issue();
        TestCa {
            root: CertificateDer::from(issued.root_der),
            leaf: CertificateDer::from(issued.leaf_der),
            leaf_key: issued.key_der,
        }
    }

    /// A server config with this CA's certificate, offering `alpn` (the server's preference).
    fn server(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![self.leaf.clone()], key)
        .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// [`loopback_config`] trusting this CA.
    fn client_config(&self) -> ClientConfig {
        let mut config = loopback_config();
        config.extra_roots.add(self.root.clone()).unwrap();
        config
    }
}

async fn serve_tls(
    ca: &TestCa,
    alpn: &[&[u8]],
    handler: impl Fn(&Seen) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
) -> TestServer {
    let serving = Serving {
        tls: Some(ca.server(alpn)),
        ..Serving::default()
    };
    serve_with(serving, handler).await
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
    let addrs = client
        .dns
        .cached("localhost", server.addr.port())
        .expect("localhost is cached");
    assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
    // For the answer's TTL, held within the bounds.
    let kept = client.dns.kept("localhost", server.addr.port()).unwrap();
    assert!(
        kept > Duration::ZERO && kept <= super::MAX_TTL,
        "kept for {kept:?}"
    );
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
        serve(|_| http::Response::new(Full::new(Bytes::from(vec![b'a'; MAX_BODY_BYTES])))).await;
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

/// Sends `n` GETs of `/0` .. `/n-1` at once on clones of `client`; every one must succeed.
async fn send_at_once(client: &Client, server: &TestServer, n: usize) {
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, target) = (client.clone(), server.url(&format!("/{i}")));
        requests.spawn(async move { client.send(OutgoingRequest::new(Method::GET, target)).await });
    }
    while let Some(done) = requests.join_next().await {
        let response = done.unwrap().unwrap();
        assert_eq!(response.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn can_multiplex_concurrent_requests_over_one_http2_connection() {
    let ca = TestCa::new();
    // None is answered before all 8 have arrived: they are in flight together.
    let serving = Serving {
        tls: Some(ca.server(&[b"h2", b"http/1.1"])),
        barrier: Some(Arc::new(Barrier::new(8))),
    };
    let server = serve_with(serving, |_| ok("multiplexed")).await;
    let client = Client::new(ca.client_config());

    // A cold burst: the first connection settles the protocol, the other 7 wait for it and
    // share it rather than opening their own.
    send_at_once(&client, &server, 8).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(client.idle_connections(), 1, "one shared connection");
    let seen = server.seen();
    assert_eq!(seen.len(), 8);
    let authority = server.addr.to_string();
    for request in &seen {
        assert_eq!(request.version, Version::HTTP_2, "{}", request.target);
        assert_eq!(request.authority.as_deref(), Some(authority.as_str()));
        assert_eq!(
            request.headers[header::HOST],
            authority,
            "Host equals :authority"
        );
        assert_eq!(request.headers[header::USER_AGENT], "masthead-test/1");
    }

    // A second burst reuses the kept connection.
    send_at_once(&client, &server, 8).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen().len(), 16);

    // Reuse is vetted like a new connection: a strict client sharing the pool is refused.
    let strict = Client {
        config: Arc::new(strict_config()),
        ..client.clone()
    };
    let err = strict
        .send(OutgoingRequest::new(Method::GET, server.url("/secret")))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Refused { .. }), "{err}");
    assert_eq!(server.seen().len(), 16);
}

#[tokio::test]
async fn can_fetch_over_tls_from_servers_without_http2() {
    let ca = TestCa::new();
    // Offering only http/1.1, and offering no ALPN at all: both mean HTTP/1.1.
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let server = serve_tls(&ca, alpn, |_| ok("one point one")).await;
        let client = Client::new(ca.client_config());
        for path in ["/a", "/b", "/c"] {
            let response = client
                .send(OutgoingRequest::new(Method::GET, server.url(path)))
                .await
                .unwrap();
            assert_eq!(&response.body[..], b"one point one");
        }
        // Kept alive over TLS, as over plain TCP.
        assert_eq!(server.connections.load(Ordering::SeqCst), 1, "{alpn:?}");
        // At once, they need connections of their own.
        send_at_once(&client, &server, 4).await;
        assert!(
            server.connections.load(Ordering::SeqCst) > 1,
            "HTTP/1.1 does not multiplex"
        );
        for request in server.seen() {
            assert_eq!(request.version, Version::HTTP_11, "{alpn:?}");
            assert_eq!(request.headers[header::HOST], server.addr.to_string());
        }
    }
}

#[tokio::test]
async fn errors_when_the_server_certificate_is_signed_by_an_untrusted_ca() {
    let ca = TestCa::new();
    let server = serve_tls(&ca, &[b"h2", b"http/1.1"], |_| ok("private")).await;
    let err = get(loopback_config(), server.url("/")).await.unwrap_err();
    assert!(matches!(err, FetchError::Tls { .. }), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn can_sign_a_post_that_verifies_over_http2() {
    use crate::federation::signatures::{self, PublicKey, SigningKey};

    const KEY_ID: &str = "https://masthead.example/users/news#main-key";
    let key = SigningKey::from_pkcs8_pem(
        KEY_ID,
        include_str!("../../../tests/fixtures/keys/test-actor.pem"),
    )
    .unwrap();
    let public = PublicKey::from_pem(include_str!(
        "../../../tests/fixtures/keys/test-actor.pub.pem"
    ))
    .unwrap();
    let ca = TestCa::new();
    // Verified as an inbox would, with the authority the request arrived with as its `host`.
    let server = serve_tls(&ca, &[b"h2", b"http/1.1"], move |seen| {
        let mut headers = seen.headers.clone();
        let authority = seen.authority.clone().unwrap_or_default();
        headers.insert(header::HOST, HeaderValue::from_str(&authority).unwrap());
        let verified = signatures::parse(&seen.method, &seen.target, &headers).and_then(|signed| {
            signatures::verify(&signed, &public, &seen.body, std::time::SystemTime::now())
        });
        let (status, body) = match verified {
            Ok(()) => (StatusCode::ACCEPTED, "verified".to_owned()),
            Err(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
        };
        http::Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    })
    .await;

    let mut req = OutgoingRequest::new(Method::POST, server.url("/users/alice/inbox?x=1"));
    req.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/activity+json"),
    );
    req.body = Some(Bytes::from_static(b"{\"type\":\"Follow\"}"));
    req.sign = Some(Box::new(move |method, url, headers, body| {
        signatures::sign_request(
            &key,
            method,
            url,
            headers,
            body,
            std::time::SystemTime::now(),
        )
        .unwrap();
    }));
    let response = Client::new(ca.client_config()).send(req).await.unwrap();
    assert_eq!(
        response.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let seen = server.seen();
    assert_eq!(seen[0].version, Version::HTTP_2);
    assert_eq!(seen[0].target, "/users/alice/inbox?x=1");
}

#[tokio::test]
async fn can_replace_a_shared_http2_connection_the_server_closed() {
    let ca = TestCa::new();
    let server = serve_tls(&ca, &[b"h2"], |_| ok("again")).await;
    let client = Client::new(ca.client_config());
    let get = || client.send(OutgoingRequest::new(Method::GET, server.url("/")));
    get().await.unwrap();
    assert_eq!(client.idle_connections(), 1);

    server.close_connections();
    // The client's connection task reads the close on its own time: poll for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while client.idle_connections() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "still kept");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let response = get().await.unwrap();
    assert_eq!(&response.body[..], b"again");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(client.idle_connections(), 1, "the new one is kept");
}
