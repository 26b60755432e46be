//! Independent verifiers judge masthead's federation from the outside, with their own code:
//!
//! - Misskey's HTTP-signature library (@misskey-dev/node-http-message-signatures), run as a
//!   stand-in for Misskey's inbox (tests/interop/verify/misskey-inbox.mjs), verifies the
//!   signatures masthead's own signing code puts on an inbox POST and on a signed GET, and refuses
//!   a request whose body changed after signing; served by Node's own HTTP/2 server over TLS, it
//!   shows that masthead's client speaks HTTP/2 where it is offered and that what it signs is
//!   what arrives there;
//! - fediverse-pasture's verify_actor (tests/interop/pasture/verify_actor.py) fetches a masthead
//!   actor from six test actors, POSTs a Like to its inbox from each, and checks the WebFinger
//!   round trip.
//!
//! `bash scripts/test.sh` installs both peers (npm into tests/interop/node_modules, PyPI into
//! tests/interop/.venv); these tests fail, never skip, when they are missing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::TestSite;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use masthead::federation::client::{OutgoingRequest, SignHook, ACCEPT_ACTIVITY};
use masthead::federation::signatures::{sign_request, SigningKey};
use serde_json::{json, Value};
use url::Url;

// ---------------------------------------------------------------------------------------------
// Misskey's library
// ---------------------------------------------------------------------------------------------

/// The Misskey inbox stand-in, killed when dropped (it also exits by itself after its ttl and
/// when its stdin closes).
struct MisskeyInbox {
    child: Child,
    url: String,
    log: PathBuf,
}

impl MisskeyInbox {
    fn start(log_dir: &Path) -> MisskeyInbox {
        MisskeyInbox::start_with(log_dir, &[])
    }

    /// Started with more arguments (`--tls CERT KEY`).
    fn start_with(log_dir: &Path, more: &[&Path]) -> MisskeyInbox {
        let (node, interop) = common::node();
        let script = interop.join("verify/misskey-inbox.mjs");
        common::require_installed(
            &interop.join("node_modules/@misskey-dev/node-http-message-signatures"),
            "npm ci --prefix tests/interop",
        );
        let log = log_dir.join("misskey-inbox.log");
        let mut child = Command::new(node)
            .arg(&script)
            .args(["--ttl", "120", "--exit-on-stdin-close"])
            .args(more)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", script.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let mut inbox = MisskeyInbox {
            child,
            url: String::new(),
            log,
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "misskey-inbox.mjs did not print its ready line in 20 s (got {line:?}):\n{}",
                inbox.log()
            )
        });
        inbox.url = ready["url"].as_str().unwrap().to_string();
        inbox
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.url)).unwrap()
    }

    /// What it recorded, asked over `client` (which trusts its certificate when it serves TLS).
    async fn results_with(&self, client: &masthead::federation::client::Client) -> Vec<Value> {
        let got = client
            .get_json(
                self.url("/results"),
                HeaderValue::from_static("application/json"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(got.status, StatusCode::OK);
        serde_json::from_slice::<Value>(&got.body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// What it recorded, one record per judged request, in order.
    async fn results(&self) -> Vec<Value> {
        let got = common::fetch(
            self.url("/results").as_str(),
            Method::GET,
            "application/json",
            &[],
        )
        .await;
        assert_eq!(got.status, StatusCode::OK);
        got.json().as_array().unwrap().clone()
    }
}

impl Drop for MisskeyInbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sign hook that signs every hop with `key` over `signed_body`, which is the body sent unless
/// a test tampers with it.
fn signer(key: SigningKey, signed_body: Option<Bytes>) -> SignHook {
    signer_at(key, signed_body, Duration::ZERO)
}

/// [`signer`] with a Date `ago` in the past.
fn signer_at(key: SigningKey, signed_body: Option<Bytes>, ago: Duration) -> SignHook {
    Box::new(move |method, url, headers, body| {
        let body = signed_body.as_deref().or(body);
        sign_request(&key, method, url, headers, body, SystemTime::now() - ago)
            .expect("masthead signs the request");
    })
}

fn actor_key(site: &TestSite, handle: &str) -> SigningKey {
    let app = site.app();
    let pair = app.key(handle).expect("the fixture has this actor");
    SigningKey::from_pkcs8_pem(app.urls.key_id(handle), &pair.private_pem).unwrap()
}

fn instance_key(site: &TestSite) -> SigningKey {
    let app = site.app();
    SigningKey::from_pkcs8_pem(app.urls.instance_key_id(), &app.instance_key().private_pem).unwrap()
}

/// An activity as masthead would deliver it, by `actor`, to an inbox.
fn like(site: &TestSite, handle: &str) -> Bytes {
    let actor = site.app().urls.actor(handle);
    let activity = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{actor}/likes/1"),
        "type": "Like",
        "actor": actor,
        "object": "http://127.0.0.1:9/notes/1",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [],
    });
    Bytes::from(serde_json::to_vec(&activity).unwrap())
}

fn inbox_post(url: Url, body: Bytes, sign: SignHook) -> OutgoingRequest {
    let mut req = OutgoingRequest::new(Method::POST, url);
    req.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/activity+json"),
    );
    req.body = Some(body);
    req.sign = Some(sign);
    req
}

/// The `news` actor's signed Like, POSTed to `path` of `misskey`.
fn news_like(site: &TestSite, misskey: &MisskeyInbox, path: &str) -> OutgoingRequest {
    inbox_post(
        misskey.url(path),
        like(site, "news"),
        signer(actor_key(site, "news"), None),
    )
}

/// A GET of `path` of `misskey` signed as the instance actor, the way masthead fetches remote
/// documents.
async fn signed_get(
    client: &masthead::federation::client::Client,
    misskey: &MisskeyInbox,
    site: &TestSite,
    path: &str,
) -> masthead::federation::client::Response {
    client
        .get_json(
            misskey.url(path),
            ACCEPT_ACTIVITY,
            Some(signer(instance_key(site), None)),
        )
        .await
        .unwrap()
}

fn record<'a>(records: &'a [Value], path: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("misskey-inbox.mjs recorded no request to {path}: {records:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_have_its_signatures_verified_by_misskeys_library() {
    let site = TestSite::start("basic").await;
    let misskey = MisskeyInbox::start(site.dir.path());
    let client = common::test_client();

    // (a) An inbox POST signed for the `news` actor.
    let post = client
        .send(news_like(&site, &misskey, "/users/alice/inbox"))
        .await
        .unwrap();

    // (b) A signed GET as the instance actor, the way masthead fetches remote documents.
    let get = signed_get(&client, &misskey, &site, "/users/alice").await;

    let records = misskey.results().await;
    let log = misskey.log();
    let urls = &site.app().urls;

    let posted = record(&records, "/users/alice/inbox");
    assert_eq!(posted["method"], "POST", "{log}");
    assert_eq!(posted["keyId"], urls.key_id("news"), "{log}");
    assert_eq!(posted["verified"], true, "{posted}\n{log}");
    assert_eq!(post.status, StatusCode::ACCEPTED);

    let fetched = record(&records, "/users/alice");
    assert_eq!(fetched["method"], "GET", "{log}");
    assert_eq!(fetched["keyId"], urls.instance_key_id(), "{log}");
    assert_eq!(fetched["verified"], true, "{fetched}\n{log}");
    assert_eq!(get.status, StatusCode::OK);
}

/// A test certificate authority's root (DER) and, written into `dir`, a certificate it signed
/// for 127.0.0.1 and its key (PEM), for a peer to serve TLS with.
fn test_ca(dir: &Path) -> (Vec<u8>, PathBuf, PathBuf) {
    let issued = common::test_ca::issue();
    let (cert, key) = (dir.join("peer-cert.pem"), dir.join("peer-key.pem"));
    std::fs::write(&cert, issued.leaf_pem).unwrap();
    std::fs::write(&key, issued.key_pem).unwrap();
    (issued.root_der, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_deliver_over_http2_to_nodes_server_and_be_verified_by_misskeys_library() {
    let site = TestSite::start("basic").await;
    let (root, cert, key) = test_ca(site.dir.path());
    let misskey = MisskeyInbox::start_with(site.dir.path(), &[Path::new("--tls"), &cert, &key]);
    assert!(misskey.url.starts_with("https://"), "{}", misskey.url);
    let mut config = masthead::federation::client::ClientConfig::new("masthead-tests");
    config.policy.allow_private_addresses = true;
    config.policy.allow_http = true;
    config.extra_roots.add(root.into()).unwrap();
    let client = masthead::federation::client::Client::new(config);

    // Two inbox POSTs at once (they share the one HTTP/2 connection) and a signed GET.
    let (first, second) = tokio::join!(
        client.send(news_like(&site, &misskey, "/users/alice/inbox")),
        client.send(news_like(&site, &misskey, "/users/bob/inbox")),
    );
    let get = signed_get(&client, &misskey, &site, "/users/alice").await;

    let records = misskey.results_with(&client).await;
    let log = misskey.log();
    for path in ["/users/alice/inbox", "/users/bob/inbox", "/users/alice"] {
        let r = record(&records, path);
        assert_eq!(r["httpVersion"], "2.0", "{r}\n{log}");
        assert_eq!(r["verified"], true, "{r}\n{log}");
    }
    assert_eq!(first.unwrap().status, StatusCode::ACCEPTED);
    assert_eq!(second.unwrap().status, StatusCode::ACCEPTED);
    assert_eq!(get.status, StatusCode::OK);
    // Kept for the next delivery: one shared connection, not one per request.
    assert_eq!(client.idle_connections(), 1);

    // A body changed after signing is refused over HTTP/2 as over HTTP/1.1.
    let tampered = client
        .send(inbox_post(
            misskey.url("/users/carol/inbox"),
            Bytes::from_static(b"{\"type\":\"Delete\"}"),
            signer(actor_key(&site, "news"), Some(like(&site, "news"))),
        ))
        .await
        .unwrap();
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_altered_forged_stale_or_misdirected_requests_by_misskeys_library() {
    let site = TestSite::start("basic").await;
    let misskey = MisskeyInbox::start(site.dir.path());
    let client = common::test_client();

    // (c) Signed over one body, sent with another: the Digest no longer matches.
    let original = like(&site, "news");
    let tampered = Bytes::from(
        String::from_utf8(original.to_vec())
            .unwrap()
            .replace("\"Like\"", "\"Announce\""),
    );
    assert_ne!(original, tampered);
    let changed = client
        .send(inbox_post(
            misskey.url("/inbox"),
            tampered,
            signer(actor_key(&site, "news"), Some(original)),
        ))
        .await
        .unwrap();

    // The same request signed with the instance key but naming the news key: the digest
    // matches, only the RSA signature is wrong.
    let urls = &site.app().urls;
    let pair = site.app().instance_key();
    let wrong_key = SigningKey::from_pkcs8_pem(urls.key_id("news"), &pair.private_pem).unwrap();
    let forged = client
        .send(inbox_post(
            misskey.url("/users/bob/inbox"),
            like(&site, "news"),
            signer(wrong_key, None),
        ))
        .await
        .unwrap();

    // Misskey's own rules on top of the library: a Date older than 5 minutes, and a Host that is
    // not Misskey's own (`localhost:PORT` where it is `127.0.0.1:PORT`), are refused too.
    let stale = client
        .send(inbox_post(
            misskey.url("/users/claire/inbox"),
            like(&site, "news"),
            signer_at(actor_key(&site, "news"), None, Duration::from_secs(6 * 60)),
        ))
        .await
        .unwrap();
    let port = misskey.url("/").port().unwrap();
    let other_host = Url::parse(&format!("http://localhost:{port}/users/dean/inbox")).unwrap();
    let elsewhere = client
        .send(inbox_post(
            other_host,
            like(&site, "news"),
            signer(actor_key(&site, "news"), None),
        ))
        .await
        .unwrap();

    let records = misskey.results().await;
    let log = misskey.log();

    // (path, how Misskey's library refused it, what masthead's client got back)
    let misdirected = format!("Host [\"localhost:{port}\"] is not 127.0.0.1:{port}");
    let refused = [
        ("/inbox", "verifyDigestHeader:", &changed),
        ("/users/bob/inbox", "verifyDraftSignature:", &forged),
        (
            "/users/claire/inbox",
            "parseRequestSignature: Clock skew is invalid",
            &stale,
        ),
        ("/users/dean/inbox", misdirected.as_str(), &elsewhere),
    ];
    for (path, reason, answer) in refused {
        let judged = record(&records, path);
        assert_eq!(judged["verified"], false, "{judged}\n{log}");
        assert!(
            judged["reason"].as_str().unwrap().starts_with(reason),
            "{judged}"
        );
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // The Host rule's reason is exactly that.
    assert_eq!(record(&records, "/users/dean/inbox")["reason"], misdirected);
}

// ---------------------------------------------------------------------------------------------
// fediverse-pasture's verify_actor
// ---------------------------------------------------------------------------------------------

/// The test actors of fediverse-pasture's verify_actor.
const PASTURE_ACTORS: [&str; 6] = ["alice", "bob", "claire", "dean", "emily", "frank"];

/// Runs tests/interop/pasture/verify_actor.py against `actor_uri` and returns its verdict:
/// `{"status", "result": {"alice": {"get_actor", "post_inbox"}, .., "webfinger"}, "messages"}`.
fn pasture_verify_actor(actor_uri: &str) -> Value {
    let python = common::interop_tool(
        "MASTHEAD_PYTHON",
        ".venv/bin/python",
        "pip install -r tests/interop/requirements.txt into tests/interop/.venv",
    );
    let interop = common::interop_dir();
    let out = Command::new(&python)
        .arg(interop.join("pasture/verify_actor.py"))
        .arg(actor_uri)
        .args(["--timeout", "10", "--deadline", "150"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "verify_actor.py failed ({}); if fediverse_pasture is missing, run `bash scripts/test.sh`:\n\
         {stderr}\n{stdout}",
        out.status
    );
    let verdict: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(verdict["status"], 200, "{verdict}\n{stderr}");
    verdict
}

/// `get_actor` / `post_inbox` of every pasture actor, as `(name, get_actor, post_inbox)`.
fn per_actor(verdict: &Value) -> Vec<(&'static str, Value, Value)> {
    PASTURE_ACTORS
        .iter()
        .map(|name| {
            let r = &verdict["result"][*name];
            (*name, r["get_actor"].clone(), r["post_inbox"].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn can_be_verified_by_fediverse_pastures_verify_actor() {
    let site = TestSite::start("federated").await;
    let actor = site.app().urls.actor("news");
    let verdict = tokio::task::spawn_blocking(move || pasture_verify_actor(&actor))
        .await
        .unwrap();
    let messages = &verdict["messages"];

    // WebFinger of acct:news@127.0.0.1:PORT leads back to the actor, and every test actor, signed
    // GET or not, can fetch it.
    assert_eq!(verdict["result"]["webfinger"], true, "{messages:#}");
    for (name, get_actor, _) in per_actor(&verdict) {
        assert_eq!(
            get_actor, true,
            "{name} could not fetch the actor: {messages:#}"
        );
    }

    // bob, claire, emily and frank sign their POSTs: accepted (claire's and frank's keys can only
    // be fetched with a signed GET). alice and dean POST unsigned, which masthead must refuse with
    // 401, so pasture reports false for them: that is the intended result, not a failure.
    let got: Vec<_> = per_actor(&verdict)
        .into_iter()
        .map(|(name, _, post_inbox)| (name, post_inbox))
        .collect();
    let expected: Vec<_> = PASTURE_ACTORS
        .iter()
        .map(|name| (*name, json!(!matches!(*name, "alice" | "dean"))))
        .collect();
    assert_eq!(got, expected, "{messages:#}");
    // Refused because unsigned (401), not because the inbox is missing (404) or broken (5xx).
    let unsigned: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|m| m.ends_with("for unsigned POST"))
        .collect();
    assert_eq!(
        unsigned, ["Got 401 for unsigned POST"; 2],
        "alice and dean: {messages:#}"
    );
}
