//! The inbox end to end: the real server on 127.0.0.1:0 against the `inbox` fixture site, and a
//! fake remote server on 127.0.0.1:0 that serves actor documents with the fixed test key and
//! records every request it receives.
//!
//! Refused input must leave no trace (no inbox job, follower, reply or delivery; for a blocked
//! domain, not even a request to the remote). Accepted input is processed by the inbox worker
//! after the 202, so tests poll the store with a bounded loop.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::Got;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use common::inbox_site::{actor_doc, key_pem, InboxSite, PUBLIC};
use common::plugins::{FAQ, SPAM_WORDS};

/// One request the fake remote received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    signature: Option<String>,
}

/// A fake fediverse server: `/users/{name}` is an actor holding the fixed test key; `carol` has
/// moved from `alice` (alsoKnownAs). Everything else is 404.
struct Remote {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Remote {
    async fn start() -> Remote {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, s) = (base.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (b, s) = (b.clone(), s.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let resp = answer(&b, &s, &req);
                        async move { Ok::<_, std::convert::Infallible>(resp) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Remote { base, seen }
    }

    fn actor(&self, name: &str) -> String {
        format!("{}/users/{name}", self.base)
    }

    fn key_id(&self, name: &str) -> String {
        format!("{}#main-key", self.actor(name))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(
    base: &str,
    seen: &Mutex<Vec<Seen>>,
    req: &Request<hyper::body::Incoming>,
) -> Response<http_body_util::Full<Bytes>> {
    seen.lock().unwrap().push(Seen {
        path: req.uri().path().to_string(),
        signature: req
            .headers()
            .get("signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let name = req.uri().path().strip_prefix("/users/").unwrap_or("");
    if name.is_empty() || name.contains('/') {
        let mut resp = Response::new(http_body_util::Full::new(Bytes::from_static(b"not found")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    }
    let mut doc = actor_doc(base, name);
    if name == "carol" {
        doc["alsoKnownAs"] = json!([format!("{base}/users/alice")]);
    }
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(doc.to_string())));
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/activity+json"),
    );
    resp
}

/// The server under test (its site, store and signing helpers are [`InboxSite`]'s), the fake
/// remote, and helpers to send activities and read what they did.
struct World {
    site: InboxSite,
    remote: Remote,
}

impl std::ops::Deref for World {
    type Target = InboxSite;
    fn deref(&self) -> &InboxSite {
        &self.site
    }
}

impl std::ops::DerefMut for World {
    fn deref_mut(&mut self) -> &mut InboxSite {
        &mut self.site
    }
}

impl World {
    async fn start() -> World {
        World::start_with(|_, _, _| {}).await
    }

    /// Starts the `inbox` fixture; `before(data_dir, base, remote_base)` may fill the data dir
    /// before the server opens it.
    async fn start_with(before: impl FnOnce(&Path, &str, &str)) -> World {
        let remote = Remote::start().await;
        let site = InboxSite::start(&remote.base, |data_dir, base| {
            before(data_dir, base, &remote.base)
        })
        .await;
        World { site, remote }
    }

    /// POSTs `activity` to `path`, signed by `key_id` with the test key at `date`.
    async fn send_as(&self, path: &str, key_id: &str, date: SystemTime, activity: &Value) -> Got {
        self.request(signed(path, key_id, date, activity)).await
    }

    /// Sends `req` to the server under test.
    async fn request(&self, req: Req) -> Got {
        let inbox = format!("{}/inbox", self.base);
        match req {
            Req::Signed {
                path,
                key_id,
                date,
                signed,
                sent,
            } => self.post_signed(&path, &key_id, date, &signed, sent).await,
            Req::Unsigned { content_type, body } => {
                let headers = [("content-type", content_type)];
                common::request(&inbox, Method::POST, &headers, Bytes::from(body)).await
            }
            Req::Raw { head, body } => {
                let addr = self.base.trim_start_matches("http://");
                Got {
                    status: common::raw_status(addr, head(addr), body).await,
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                }
            }
            Req::Get => self.get(&inbox, common::AP).await,
        }
    }

    /// POSTs `activity` to the shared inbox, signed by its actor's key, now.
    async fn send(&self, activity: &Value) -> Got {
        let actor = activity["actor"].as_str().unwrap();
        self.send_as(
            "/inbox",
            &format!("{actor}#main-key"),
            SystemTime::now(),
            activity,
        )
        .await
    }

    fn follower(&self, handle: &str, actor: &str) -> Option<masthead::store::Follower> {
        self.app().store.follower(handle, actor).unwrap()
    }

    /// Deliveries queued: (inbox, body).
    fn deliveries(&self) -> Vec<(String, Value)> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT inbox, body FROM deliveries JOIN delivery_bodies USING (body_id) ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (inbox, body) = r.unwrap();
                (inbox, serde_json::from_str(&body).unwrap())
            })
            .collect()
    }

    /// Sends a fresh activity of `kind` by `actor` on `object`; returns the status.
    async fn send_new(&self, kind: &str, actor: &str, object: Value) -> StatusCode {
        self.send(&self.activity(kind, actor, object)).await.status
    }

    /// [`World::send`], then waits until the inbox worker has processed it.
    async fn process(&self, activity: &Value) -> Got {
        let got = self.send(activity).await;
        self.settled().await;
        got
    }

    async fn post_json(&self) -> Value {
        self.get(&self.post(), common::AP).await.json()
    }

    /// The post's page, as a browser sees it.
    fn page(&self) -> String {
        self.post().replace("/users/news/posts/", "/@news/")
    }

    fn comments(&self) -> String {
        format!("{}/comments.json", self.post())
    }

    async fn get(&self, url: &str, accept: &str) -> Got {
        common::fetch(url, Method::GET, accept, &[]).await
    }

    /// Runs the real `masthead` binary on this site and its store, as the operator would while
    /// the server runs: `masthead COMMAND --config ... --data-dir ... REST`. Whether it
    /// succeeded, its stdout and its stderr.
    fn masthead(&self, args: &[&str]) -> (bool, String, String) {
        let site = self.data_dir.parent().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_masthead"))
            .env_remove("RUST_LOG")
            .arg(args[0])
            .arg("--config")
            .arg(site.join("site.toml"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&args[1..])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `masthead ARGS` that must succeed and say nothing on stderr: its stdout.
    fn masthead_ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.masthead(args);
        assert!(ok && stderr.is_empty(), "masthead {args:?}: {stderr}");
        stdout
    }
}

/// Silences the fake remote's host (127.0.0.1) through a Mastodon block-list export, before the
/// server reads site.toml: its replies are held.
fn silence_loopback(data_dir: &Path) {
    let site = data_dir.parent().unwrap();
    std::fs::write(
        site.join("silenced.csv"),
        "#domain,#severity\n127.0.0.1,silence\n",
    )
    .unwrap();
    let config = site.join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(config, format!("{text}blocklist_csv = \"silenced.csv\"\n")).unwrap();
}

const DECIDE_WITH: &str = "decide with: masthead approve ID... | masthead reject ID...\n";

/// A request to the server under test.
enum Req {
    /// A POST to `path`, signed by `key_id` with the test key at `date` over `signed`, carrying
    /// `sent`.
    Signed {
        path: String,
        key_id: String,
        date: SystemTime,
        signed: Vec<u8>,
        sent: Vec<u8>,
    },
    /// An unsigned POST to the shared inbox.
    Unsigned {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Raw HTTP/1.1: the head (given the server's `host:port`) and the body.
    Raw {
        head: fn(&str) -> String,
        body: Vec<u8>,
    },
    /// A GET of the shared inbox.
    Get,
}

/// A POST of `activity` to `path`, signed by `key_id` with the test key at `date`.
fn signed(path: &str, key_id: &str, date: SystemTime, activity: &Value) -> Req {
    let body = activity.to_string().into_bytes();
    Req::Signed {
        path: path.to_string(),
        key_id: key_id.to_string(),
        date,
        signed: body.clone(),
        sent: body,
    }
}

/// What a refused request must leave behind.
#[derive(Clone, Copy, PartialEq)]
enum Trace {
    /// No inbox job, follower, reply, delivery, interaction or report.
    NoRows,
    /// No rows, and not even a request to the remote: refused before anything is fetched.
    NoRowsNorFetch,
}

/// The tables a refused request must leave empty.
const KEPT: [&str; 6] = [
    "inbox_activities",
    "followers",
    "replies",
    "deliveries",
    "interactions",
    "reports",
];

/// Declares a body of `2 MiB` and sends none of it.
fn declared_too_large(addr: &str) -> String {
    format!(
        "POST /inbox HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/activity+json\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    )
}

/// Streams a body without a length.
fn chunked(addr: &str) -> String {
    format!(
        "POST /inbox HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/activity+json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
}

#[tokio::test]
async fn refused_requests_leave_no_trace() {
    use StatusCode as S;
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let like = |actor: &str| w.activity("Like", actor, json!(w.post()));
    let now = SystemTime::now;
    let alice_key = w.remote.key_id("alice");

    // `localhost` is the fake remote under a blocked name, so a fetch would show up in its log.
    let blocked_base = w.remote.base.replace("127.0.0.1", "localhost");
    let blocked = format!("{blocked_base}/users/alice");
    let sub = format!(
        "http://a.localhost:{}/users/x",
        w.remote.base.rsplit(':').next().unwrap()
    );
    let bob = w.remote.actor("bob");
    let ours = w.ours("news");
    let mut forged = like(&ours);
    forged["id"] = json!(format!("{ours}#likes/1"));
    let elsewhere = w.activity(
        "Create",
        &alice,
        json!({ "id": "https://elsewhere.example/notes/1", "type": "Note", "attributedTo": alice,
                "content": "hi", "inReplyTo": w.post(), "to": [PUBLIC] }),
    );
    let size = 1024 * 1024 + 1;
    let mut too_large = format!("{size:x}\r\n").into_bytes();
    too_large.extend(std::iter::repeat_n(b' ', size));
    too_large.extend_from_slice(b"\r\n0\r\n\r\n");

    // (name, request, status, exact answer where it matters, trace)
    let cases: Vec<(&str, Req, StatusCode, Option<&str>, Trace)> = vec![
        (
            "a key on a blocked domain",
            signed(
                "/inbox",
                &format!("{blocked}#main-key"),
                now(),
                &like(&blocked),
            ),
            S::FORBIDDEN,
            None,
            Trace::NoRowsNorFetch,
        ),
        (
            "a key on a subdomain of a blocked domain",
            signed("/inbox", &format!("{sub}#main-key"), now(), &like(&sub)),
            S::FORBIDDEN,
            None,
            Trace::NoRowsNorFetch,
        ),
        (
            "unsigned",
            Req::Unsigned {
                content_type: "application/activity+json",
                body: like(&alice).to_string().into_bytes(),
            },
            S::UNAUTHORIZED,
            Some("request signature could not be verified\n"),
            Trace::NoRows,
        ),
        (
            "a body other than the one signed (digest mismatch)",
            Req::Signed {
                path: "/inbox".into(),
                key_id: alice_key.clone(),
                date: now(),
                signed: like(&alice).to_string().into_bytes(),
                // Another Like: a fresh id.
                sent: like(&alice).to_string().into_bytes(),
            },
            S::UNAUTHORIZED,
            None,
            Trace::NoRows,
        ),
        (
            "signed two hours ago",
            signed(
                "/inbox",
                &alice_key,
                now() - Duration::from_secs(2 * 3600),
                &like(&alice),
            ),
            S::UNAUTHORIZED,
            None,
            Trace::NoRows,
        ),
        (
            "Bob's activity signed with Alice's key",
            signed("/inbox", &alice_key, now(), &like(&bob)),
            S::UNAUTHORIZED,
            None,
            Trace::NoRows,
        ),
        (
            "claiming to be one of our actors",
            signed("/inbox", &alice_key, now(), &forged),
            S::BAD_REQUEST,
            Some("activity claims to come from this server\n"),
            Trace::NoRows,
        ),
        (
            "an object on another host than its Create's actor",
            signed("/inbox", &alice_key, now(), &elsewhere),
            S::BAD_REQUEST,
            None,
            Trace::NoRows,
        ),
        (
            "malformed JSON, correctly signed",
            Req::Signed {
                path: "/inbox".into(),
                key_id: alice_key.clone(),
                date: now(),
                signed: b"{not json".to_vec(),
                sent: b"{not json".to_vec(),
            },
            S::BAD_REQUEST,
            None,
            Trace::NoRows,
        ),
        (
            "not JSON at all",
            Req::Unsigned {
                content_type: "text/plain",
                body: b"hello".to_vec(),
            },
            S::UNSUPPORTED_MEDIA_TYPE,
            None,
            Trace::NoRows,
        ),
        (
            "too large, declared",
            Req::Raw {
                head: declared_too_large,
                body: vec![],
            },
            S::PAYLOAD_TOO_LARGE,
            None,
            Trace::NoRows,
        ),
        (
            "too large, streamed without a length",
            Req::Raw {
                head: chunked,
                body: too_large,
            },
            S::PAYLOAD_TOO_LARGE,
            None,
            Trace::NoRows,
        ),
        (
            "a GET on an inbox",
            Req::Get,
            S::METHOD_NOT_ALLOWED,
            None,
            Trace::NoRows,
        ),
        (
            "an inbox of nobody",
            signed("/users/nobody/inbox", &alice_key, now(), &like(&alice)),
            S::NOT_FOUND,
            None,
            Trace::NoRows,
        ),
    ];

    for (name, request, status, says, trace) in cases {
        let fetched_before = w.remote.seen().len();
        let got = w.request(request).await;
        assert_eq!(got.status, status, "{name}: {}", got.text());
        if let Some(says) = says {
            assert_eq!(got.text(), says, "{name}");
        }
        if trace == Trace::NoRowsNorFetch {
            assert_eq!(
                w.remote.seen().len(),
                fetched_before,
                "{name}: {:?}",
                w.remote.seen()
            );
        }
        for table in KEPT {
            assert_eq!(w.count(table), 0, "{name}: {table} has rows");
        }
    }
}

#[tokio::test]
async fn a_follow_is_accepted_after_the_202_and_processed_once() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let follow = w.activity("Follow", &alice, json!(w.ours("news")));
    let got = w.send(&follow).await;
    assert_eq!(got.status, StatusCode::ACCEPTED, "{}", got.text());
    w.settled().await;

    let f = w.follower("news", &alice).expect("follower stored");
    assert_eq!(f.state, masthead::store::FollowState::Accepted);
    assert_eq!(f.inbox, format!("{alice}/inbox"));
    assert_eq!(f.shared_inbox, Some(format!("{}/inbox", w.remote.base)));
    let sent = w.deliveries();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (inbox, accept) = &sent[0];
    assert_eq!(inbox, &format!("{alice}/inbox"));
    assert_eq!(accept["type"], "Accept");
    assert_eq!(accept["actor"], w.ours("news"));
    assert_eq!(accept["object"]["id"], follow["id"]);
    assert!(accept["id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}#accepts/", w.ours("news"))));

    // The remote actor was fetched with a GET signed as our instance actor.
    let fetches: Vec<_> = w
        .remote
        .seen()
        .into_iter()
        .filter(|s| s.path == "/users/alice")
        .collect();
    assert!(!fetches.is_empty());
    let instance_key = format!("keyId=\"{}/actor#main-key\"", w.base);
    assert!(
        fetches.iter().all(|s| s
            .signature
            .as_deref()
            .is_some_and(|sig| sig.contains(&instance_key))),
        "{fetches:?}"
    );

    // The same activity again: 202, nothing new.
    let got = w.send(&follow).await;
    assert_eq!(got.status, StatusCode::ACCEPTED);
    w.settled().await;
    assert_eq!(w.count("inbox_activities"), 1);
    assert_eq!(w.deliveries().len(), 1);

    // Undo removes the follower.
    let undo = w.activity("Undo", &alice, follow.clone());
    assert_eq!(w.process(&undo).await.status, StatusCode::ACCEPTED);
    assert!(w.follower("news", &alice).is_none());
}

#[tokio::test]
async fn a_manual_follow_waits_for_approval() {
    let w = World::start().await;
    let bob = w.remote.actor("bob");
    let follow = w.activity("Follow", &bob, json!(w.ours("desk")));
    // To the personal inbox this time.
    let got = w
        .send_as(
            "/users/desk/inbox",
            &w.remote.key_id("bob"),
            SystemTime::now(),
            &follow,
        )
        .await;
    assert_eq!(got.status, StatusCode::ACCEPTED);
    w.settled().await;
    let f = w.follower("desk", &bob).unwrap();
    assert_eq!(f.state, masthead::store::FollowState::Pending);
    assert!(w.deliveries().is_empty());

    let site = &w.app().site();
    let pending = masthead::admin::pending_follows(site, &w.app().store, Some("desk")).unwrap();
    assert_eq!(pending.len(), 1);
    masthead::admin::answer_follow(
        site,
        &w.app().store,
        None,
        &bob,
        masthead::federation::inbox::FollowAnswer::Accept,
    )
    .unwrap();
    let f = w.follower("desk", &bob).unwrap();
    assert_eq!(f.state, masthead::store::FollowState::Accepted);
    let sent = w.deliveries();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["type"], "Accept");
    assert_eq!(sent[0].1["object"]["id"], follow["id"]);
}

#[tokio::test]
async fn a_blocked_actor_is_rejected_and_a_moved_follower_re_pointed() {
    let w = World::start().await;
    let troll = w.remote.actor("troll");
    let follow = w.activity("Follow", &troll, json!(w.ours("news")));
    assert_eq!(w.process(&follow).await.status, StatusCode::ACCEPTED);
    assert_eq!(w.count("followers"), 0);
    let sent = w.deliveries();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["type"], "Reject");
    assert_eq!(sent[0].0, format!("{troll}/inbox"));
    // Replies from them are dropped.
    let reply = w.activity(
        "Create",
        &troll,
        json!({ "id": format!("{troll}/notes/1"), "type": "Note", "attributedTo": troll,
                "content": "<p>spam</p>", "inReplyTo": w.post(), "to": [PUBLIC] }),
    );
    assert_eq!(w.process(&reply).await.status, StatusCode::ACCEPTED);
    assert_eq!(w.count("replies"), 0);

    // Alice follows, then moves to Carol, whose alsoKnownAs names her.
    let alice = w.remote.actor("alice");
    let carol = w.remote.actor("carol");
    w.send(&w.activity("Follow", &alice, json!(w.ours("news"))))
        .await;
    let mut moved = w.activity("Move", &alice, json!(alice));
    moved["target"] = json!(carol);
    assert_eq!(w.process(&moved).await.status, StatusCode::ACCEPTED);
    assert!(w.follower("news", &alice).is_none());
    assert!(w.follower("news", &carol).is_some());
    // A Move to a target that does not name the mover changes nothing.
    let bob = w.remote.actor("bob");
    let mut bogus = w.activity("Move", &carol, json!(carol));
    bogus["target"] = json!(bob);
    w.process(&bogus).await;
    assert!(w.follower("news", &carol).is_some());
}

#[tokio::test]
async fn likes_and_boosts_are_counted_on_the_post() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let bob = w.remote.actor("bob");
    let like = w.activity("Like", &alice, json!(w.post()));
    assert_eq!(w.send(&like).await.status, StatusCode::ACCEPTED);
    assert_eq!(
        w.send_new("Like", &bob, json!(w.post())).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        w.send_new("Announce", &bob, json!(w.post())).await,
        StatusCode::ACCEPTED
    );
    w.settled().await;
    let doc = w.post_json().await;
    assert_eq!(doc["likes"]["totalItems"], 2);
    assert_eq!(doc["shares"]["totalItems"], 1);
    let likes = w
        .get(&format!("{}/likes", w.post()), common::AP)
        .await
        .json();
    assert_eq!(likes["totalItems"], 2);
    let page = w.get(&w.page(), common::BROWSER).await;
    assert!(
        page.text().contains("2 likes · 1 boosts"),
        "{}",
        page.text()
    );

    assert_eq!(
        w.send_new("Undo", &alice, like.clone()).await,
        StatusCode::ACCEPTED
    );
    // An Undo by someone else than the liker changes nothing.
    w.process(&w.activity("Undo", &bob, like.clone())).await;
    let doc = w.post_json().await;
    assert_eq!(doc["likes"]["totalItems"], 1);
    assert_eq!(doc["shares"]["totalItems"], 1);
}

#[tokio::test]
async fn a_reply_shows_everywhere_then_changes_and_goes() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let note_id = format!("{alice}/notes/1");
    let note = json!({
        "id": note_id, "type": "Note", "attributedTo": alice,
        "content": "<p>Great news!<script>alert(1)</script></p>",
        "inReplyTo": w.post(), "published": "2026-11-20T10:00:00Z",
        "url": format!("{}/@alice/1", w.remote.base),
        "to": [PUBLIC], "cc": [w.ours("news")],
    });
    assert_eq!(
        w.send_new("Create", &alice, note.clone()).await,
        StatusCode::ACCEPTED
    );
    // A note that neither answers nor mentions us is not kept.
    let stray = json!({ "id": format!("{alice}/notes/2"), "type": "Note", "attributedTo": alice,
                        "content": "unrelated", "to": [PUBLIC] });
    w.process(&w.activity("Create", &alice, stray)).await;
    assert_eq!(w.count("replies"), 1);

    let replies = format!("{}/replies", w.post());
    let coll = w.get(&replies, common::AP).await.json();
    assert_eq!(coll["totalItems"], 1);
    let page = w.get(&format!("{replies}?page=1"), common::AP).await.json();
    assert_eq!(page["orderedItems"], json!([note_id]));
    assert_eq!(w.post_json().await["replies"]["totalItems"], 1);

    let html = w.get(&w.page(), common::BROWSER).await.text();
    assert!(html.contains("<p>Great news!</p>"), "{html}");
    assert!(html.contains(">Alice</a>"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");

    let comments = w.get(&w.comments(), "application/json").await;
    assert_eq!(comments.header("access-control-allow-origin"), "*");
    let list = comments.json();
    assert_eq!(list[0]["id"], note_id);
    assert_eq!(list[0]["content_html"], "<p>Great news!</p>");
    assert_eq!(
        list[0]["author"]["handle"],
        format!("alice@{}", w.remote.base.trim_start_matches("http://"))
    );
    assert_eq!(
        list[0]["author"]["icon"],
        format!("{}/alice.png", w.remote.base)
    );
    let file = w.data_dir.join("comments/news/hello.json");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk, list);

    // The author edits it.
    let mut edited = note.clone();
    edited["content"] = json!("<p>Great news, edited.</p>");
    edited["updated"] = json!("2026-11-20T11:00:00Z");
    assert_eq!(
        w.send_new("Update", &alice, edited).await,
        StatusCode::ACCEPTED
    );
    // Someone else cannot delete it (same host, other actor).
    let bob = w.remote.actor("bob");
    w.process(&w.activity("Delete", &bob, json!(note_id))).await;
    let list = w.get(&w.comments(), "application/json").await.json();
    assert_eq!(list[0]["content_html"], "<p>Great news, edited.</p>");
    assert!(list[0]["updated"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-20T11:00:00"));
    let from_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(from_disk, list);

    // The author deletes it.
    let tombstone = json!({ "id": note_id, "type": "Tombstone" });
    assert_eq!(
        w.send_new("Delete", &alice, tombstone).await,
        StatusCode::ACCEPTED
    );
    w.settled().await;
    assert_eq!(w.count("replies"), 0);
    let coll = w.get(&replies, common::AP).await.json();
    assert_eq!(coll["totalItems"], 0);
    let from_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(from_disk, json!([]));
    let replies =
        masthead::admin::replies(&w.app().site(), &w.app().store, Some("news/hello")).unwrap();
    assert!(replies.is_empty());
}

#[tokio::test]
async fn a_mention_that_is_not_public_is_kept_out_of_sight() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let dm = json!({
        "id": format!("{alice}/notes/dm"), "type": "Note", "attributedTo": alice,
        "content": "<p>private</p>", "inReplyTo": w.post(), "to": [w.ours("news")],
        "tag": [{ "type": "Mention", "href": w.ours("news") }],
    });
    w.process(&w.activity("Create", &alice, dm)).await;
    let all = masthead::admin::replies(&w.app().site(), &w.app().store, None).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, masthead::store::ReplyStatus::Held);
    assert_eq!(all[0].mentions, vec!["news".to_string()]);
    let list = w.get(&w.comments(), "application/json").await.json();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_held_reply_approved_in_the_queue_shows_on_the_page_in_replies_and_comments() {
    let w = World::start_with(|data_dir, _, _| silence_loopback(data_dir)).await;
    let alice = w.remote.actor("alice");
    let note_id = format!("{alice}/notes/held");
    let note = json!({ "id": note_id, "type": "Note", "attributedTo": alice, "to": [PUBLIC],
                       "content": "<p>When does the <b>market</b> open?</p>",
                       "inReplyTo": w.post() });
    w.process(&w.activity("Create", &alice, note)).await;
    let replies = format!("{}/replies", w.post());
    assert_eq!(w.get(&replies, common::AP).await.json()["totalItems"], 0);
    assert_eq!(
        w.get(&w.comments(), "application/json").await.json(),
        json!([])
    );
    assert!(!w
        .get(&w.page(), "text/html")
        .await
        .text()
        .contains("market"));

    let at = w.app().store.queued_reply(1).unwrap().unwrap().received_at;
    assert_eq!(
        w.masthead_ok(&["queue"]),
        format!(
            "r1    reply to news/hello  from {alice}  at {at}\n      When does the market open?\n      held by moderation: 127.0.0.1 is silenced\n{DECIDE_WITH}"
        )
    );
    assert_eq!(
        w.masthead_ok(&["approve", "r1"]),
        format!("approved r1: the reply by {alice} now shows under news/hello\n")
    );

    let collection = w.get(&format!("{replies}?page=1"), common::AP).await.json();
    assert_eq!(collection["totalItems"], 1);
    assert_eq!(collection["orderedItems"], json!([note_id]));
    assert!(w
        .get(&w.page(), "text/html")
        .await
        .text()
        .contains("When does the <b>market</b> open?"));
    let comments = w.get(&w.comments(), "application/json").await.json();
    assert_eq!(comments[0]["id"], note_id);
    let file = w.data_dir.join("comments/news/hello.json");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk, comments);
    assert_eq!(w.masthead_ok(&["queue"]), "the queue is empty\n");
    // The old spelling lists it with the visible replies.
    assert!(w
        .masthead_ok(&["replies", "news/hello"])
        .contains("  When does the market open?\n"));
}

#[tokio::test]
async fn a_reply_that_was_not_public_can_be_rejected_from_the_queue_but_never_shown() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let dm = json!({
        "id": format!("{alice}/notes/dm"), "type": "Note", "attributedTo": alice,
        "content": "<p>private</p>", "inReplyTo": w.post(), "to": [w.ours("news")],
    });
    let create = w.activity("Create", &alice, dm);
    w.process(&create).await;
    let queue = w.masthead_ok(&["queue"]);
    assert!(
        queue.ends_with(&format!(
            "      private\n      held by moderation: not public (sent directly or to followers only)\n{DECIDE_WITH}"
        )),
        "{queue}"
    );
    assert_eq!(
        w.masthead(&["approve", "r1"]),
        (
            false,
            String::new(),
            "error: r1 was not sent publicly (directly or to followers only), and masthead never shows such a reply; reject it to clear it from the queue\n".to_string()
        )
    );
    assert_eq!(
        w.masthead_ok(&["reject", "r1"]),
        format!("rejected r1: the reply by {alice} is never shown\n")
    );
    // Sent again, it stays rejected.
    w.process(&create).await;
    w.process(&w.activity("Create", &alice, create["object"].clone()))
        .await;
    assert_eq!(w.masthead_ok(&["queue"]), "the queue is empty\n");
    assert!(w.masthead_ok(&["queue", "--all"]).starts_with(&format!(
        "r1    reply to news/hello [rejected]  from {alice}  at "
    )));
    assert!(w
        .masthead_ok(&["replies"])
        .starts_with(&format!("news/hello  {alice}  ")));
    assert!(w
        .masthead_ok(&["replies"])
        .contains(" [rejected]\n  private\n"));
    assert_eq!(
        w.get(&w.comments(), "application/json").await.json(),
        json!([])
    );
    assert_eq!(
        w.masthead(&["reject", "r2", "x"]),
        (
            false,
            String::new(),
            "error: nothing in the queue is r2 (list it with `masthead queue --all`; a decided follow leaves the queue)\nerror: \"x\" is not a queue id: write it as `masthead queue` lists it (r12 for a reply or mention, f3 for a follow)\n".to_string()
        )
    );
}

#[tokio::test]
async fn a_follow_held_for_approval_is_decided_in_the_queue_or_by_its_old_spelling() {
    let w = World::start().await;
    let bob = w.remote.actor("bob");
    let dave = w.remote.actor("dave");
    let mut follows = Vec::new();
    for who in [&bob, &dave] {
        let follow = w.activity("Follow", who, json!(w.ours("desk")));
        w.process(&follow).await;
        follows.push(follow);
    }
    let since = |who: &str| w.follower("desk", who).unwrap().created_at;
    assert_eq!(
        w.masthead_ok(&["queue"]),
        format!(
            "f1    follow of desk  from {bob}  at {}\n      held by manual approval: desk approves its followers by hand\n\
             f2    follow of desk  from {dave}  at {}\n      held by manual approval: desk approves its followers by hand\n{DECIDE_WITH}",
            since(&bob),
            since(&dave)
        )
    );
    // The old spelling lists the same follows, as it always did.
    assert_eq!(
        w.masthead_ok(&["follows", "pending"]),
        format!(
            "{bob}  wants to follow desk  (since {})\n{dave}  wants to follow desk  (since {})\napprove with: masthead follows approve --actor HANDLE FOLLOWER\n",
            since(&bob),
            since(&dave)
        )
    );

    assert_eq!(
        w.masthead_ok(&["reject", "f1"]),
        format!("rejected f1: {bob} does not follow desk (Reject queued)\n")
    );
    assert!(w.follower("desk", &bob).is_none());
    assert_eq!(
        w.masthead_ok(&["follows", "approve", &dave]),
        format!("approved: {dave} now follows desk (Accept queued)\n")
    );
    assert_eq!(
        w.follower("desk", &dave).unwrap().state,
        masthead::store::FollowState::Accepted
    );
    let sent = w.deliveries();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0, format!("{bob}/inbox"));
    assert_eq!(sent[0].1["type"], "Reject");
    assert_eq!(sent[0].1["object"]["id"], follows[0]["id"]);
    assert_eq!(sent[1].0, format!("{dave}/inbox"));
    assert_eq!(sent[1].1["type"], "Accept");
    assert_eq!(sent[1].1["object"]["id"], follows[1]["id"]);

    assert_eq!(w.masthead_ok(&["queue"]), "the queue is empty\n");
    assert_eq!(
        w.masthead(&["approve", "f2"]).2,
        "error: nothing in the queue is f2 (list it with `masthead queue --all`; a decided follow leaves the queue)\n"
    );
}

#[tokio::test]
async fn a_report_is_kept_and_an_actor_delete_forgets_them() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let mut flag = w.activity("Flag", &alice, json!([w.ours("news"), w.post()]));
    flag["content"] = json!("please look");
    assert_eq!(w.send(&flag).await.status, StatusCode::ACCEPTED);
    w.send(&w.activity("Follow", &alice, json!(w.ours("news"))))
        .await;
    w.process(&w.activity("Like", &alice, json!(w.post())))
        .await;
    let reports = masthead::admin::reports(&w.app().store).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].reporter, alice);
    assert_eq!(reports[0].objects, vec![w.ours("news"), w.post()]);
    assert_eq!(reports[0].content.as_deref(), Some("please look"));
    // Unknown types and Accepts of follows we never sent: 202, nothing kept.
    assert_eq!(
        w.send_new("Dance", &alice, json!(w.post())).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        w.send_new("Accept", &alice, json!("https://x.example/f"))
            .await,
        StatusCode::ACCEPTED
    );

    assert_eq!(
        w.send_new("Delete", &alice, json!(alice)).await,
        StatusCode::ACCEPTED
    );
    w.settled().await;
    assert_eq!(w.count("followers"), 0);
    assert_eq!(w.count("interactions"), 0);
    assert!(w.app().store.remote_actor(&alice).unwrap().is_none());
    assert_eq!(w.count("reports"), 1);
}

#[tokio::test]
async fn a_person_is_shown_what_is_held_about_them_and_forgotten_on_request() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let bob = w.remote.actor("bob");
    let follow = w.activity("Follow", &alice, json!(w.ours("news")));
    w.process(&follow).await;
    w.process(&w.activity("Follow", &bob, json!(w.ours("news"))))
        .await;
    let note_id = format!("{alice}/notes/1");
    let note = json!({ "id": note_id, "type": "Note", "attributedTo": alice, "to": [PUBLIC],
                       "content": "<p>My street floods every spring</p>",
                       "inReplyTo": w.post(), "published": "2026-11-20T10:00:00Z" });
    w.process(&w.activity("Create", &alice, note)).await;
    w.process(&w.activity("Like", &alice, json!(w.post())))
        .await;
    let followers = format!("{}/followers", w.ours("news"));
    let replies = format!("{}/replies", w.post());
    assert_eq!(w.get(&followers, common::AP).await.json()["totalItems"], 2);
    assert_eq!(w.get(&replies, common::AP).await.json()["totalItems"], 1);

    // An access request, by actor id and by handle: one JSON document listing both.
    let shown: Value =
        serde_json::from_str(&w.masthead_ok(&["people", "show", &alice, "--json"])).unwrap();
    assert_eq!(shown["actor"], alice);
    assert_eq!(shown["follows"][0]["of"], "news");
    assert_eq!(shown["follows"][0]["state"], "accepted");
    assert_eq!(shown["follows"][0]["follow_id"], follow["id"]);
    assert_eq!(shown["replies_and_mentions"][0]["id"], note_id);
    assert_eq!(
        shown["replies_and_mentions"][0]["content_html"],
        "<p>My street floods every spring</p>"
    );
    assert_eq!(shown["likes_and_boosts"][0]["post"], "news/hello");
    assert_eq!(shown["actor_document"]["document"]["id"], alice);
    assert_eq!(shown["activities_they_sent"].as_array().unwrap().len(), 3);
    assert_eq!(shown["comments_files"], json!(["comments/news/hello.json"]));
    let handle = format!("@alice@{}", w.remote.base.trim_start_matches("http://"));
    let text = w.masthead_ok(&["people", "show", &handle]);
    assert!(
        text.starts_with(&format!(
            "{alice} ({handle})\nfollows (1):\n  of news: accepted since "
        )),
        "{text}"
    );
    assert!(
        text.contains("  reply to news/hello, visible, 2026-11-20T10:00:00+00:00: \"My street floods every spring\"\n"),
        "{text}"
    );

    // Without --yes: what would go, and nothing changes.
    let would = w.masthead_ok(&["people", "forget", &alice]);
    assert!(
        would.starts_with(&format!(
            "would erase about {alice}:\n  1 follow\n  1 reply or mention\n  1 like or boost\n"
        )),
        "{would}"
    );
    assert!(
        would.ends_with(&format!(
            "nothing was erased: to erase it, run `masthead people forget {alice} --yes`\n"
        )),
        "{would}"
    );
    assert_eq!(w.count("replies"), 1);
    assert_eq!(w.count("followers"), 2);
    assert!(w.app().store.remote_actor(&alice).unwrap().is_some());
    let before = w.deliveries().len();

    // With --yes, while the server runs.
    let erased = w.masthead_ok(&["people", "forget", &handle, "--yes"]);
    assert!(
        erased.contains(&format!(
            "  Reject of their follow of news queued to {alice}/inbox\n"
        )),
        "{erased}"
    );
    assert!(
        erased.contains("  comments/news/hello.json rewritten without them\n"),
        "{erased}"
    );
    assert!(
        erased.ends_with("erasure is not a block (to refuse them, add their actor id to [moderation] blocked_actors in site.toml)\n"),
        "{erased}"
    );
    assert_eq!(w.get(&followers, common::AP).await.json()["totalItems"], 1);
    assert_eq!(w.get(&replies, common::AP).await.json()["totalItems"], 0);
    let page = w.get(&w.page(), common::BROWSER).await.text();
    assert!(!page.contains("floods"), "{page}");
    assert!(page.contains("0 likes"), "{page}");
    assert_eq!(
        w.get(&w.comments(), "application/json").await.json(),
        json!([])
    );
    let file = w.data_dir.join("comments/news/hello.json");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk, json!([]));
    let rejects: Vec<Value> = w
        .deliveries()
        .into_iter()
        .filter(|(inbox, body)| *inbox == format!("{alice}/inbox") && body["type"] == "Reject")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(rejects.len(), 1, "{:?}", w.deliveries());
    assert_eq!(rejects[0]["actor"], w.ours("news"));
    assert_eq!(rejects[0]["object"]["id"], follow["id"]);
    // Alice's Accept went with her, the Reject came; Bob's Accept stays.
    assert_eq!(w.deliveries().len(), before);
    assert!(w.follower("news", &bob).is_some());
    assert_eq!(
        w.masthead_ok(&["people", "show", &alice]),
        format!("{alice}\nmasthead holds nothing about this actor\n")
    );
    assert_eq!(
        w.masthead(&["people", "show", &handle]).2,
        format!(
            "error: no actor document cached here has the handle {handle}: give the person's actor id URL instead (`masthead replies` and `masthead follows pending` list them)\n"
        )
    );
}

#[tokio::test]
async fn activities_queued_before_a_restart_are_processed_at_start() {
    let w = World::start_with(|data_dir, base, remote| {
        // A row a crash left queued (verified, never processed): the store is opened before the
        // server, as the previous run left it.
        let store = masthead::store::Store::open(data_dir).unwrap();
        let like = json!({
            "id": format!("{remote}/users/alice/likes/queued"), "type": "Like",
            "actor": format!("{remote}/users/alice"),
            "object": format!("{base}/users/news/posts/hello"),
        });
        common::queued::record_verified(&store, &like, 0);
    })
    .await;
    w.settled().await;
    assert_eq!(w.post_json().await["likes"]["totalItems"], 1);
}

#[tokio::test]
async fn a_rotated_key_is_refetched_once_per_host() {
    // The cache holds Alice with a key she no longer uses (the unrelated fixture key).
    let w = World::start_with(|data_dir, _, remote| {
        let store = masthead::store::Store::open(data_dir).unwrap();
        let id = format!("{remote}/users/alice");
        store
            .upsert_remote_actor(&masthead::store::RemoteActor {
                id: id.clone(),
                inbox: format!("{id}/inbox"),
                shared_inbox: None,
                key_id: Some(format!("{id}#main-key")),
                public_key_pem: Some(key_pem("other-actor.pub.pem")),
                handle: Some("alice@old".into()),
                name: None,
                url: None,
                document: "{}".into(),
                fetched_at: 0,
            })
            .unwrap();
    })
    .await;
    let alice = w.remote.actor("alice");
    let got = w.send(&w.activity("Like", &alice, json!(w.post()))).await;
    assert_eq!(got.status, StatusCode::ACCEPTED, "{}", got.text());
    assert_eq!(w.remote.seen().len(), 1, "one refetch of the key");
    let cached = w.app().store.remote_actor(&alice).unwrap().unwrap();
    assert_eq!(
        cached.public_key_pem.as_deref(),
        Some(key_pem("test-actor.pub.pem").as_str())
    );

    // Another failure from the same host within 10 minutes does not fetch again. Bob is on that
    // host too; his cached key is wrong and stays wrong.
    let bob = w.remote.actor("bob");
    let mut stale = cached.clone();
    stale.id = bob.clone();
    stale.key_id = Some(w.remote.key_id("bob"));
    stale.public_key_pem = Some(key_pem("other-actor.pub.pem"));
    w.app().store.upsert_remote_actor(&stale).unwrap();
    let got = w.send(&w.activity("Like", &bob, json!(w.post()))).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.remote.seen().len(),
        1,
        "no second refetch from the same host"
    );
}

#[tokio::test]
async fn a_host_that_reaches_us_is_no_longer_unavailable() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let host = masthead::store::inbox_host(&alice);
    let store = &w.running.as_ref().unwrap().app.store;
    // Seven distinct days of failed deliveries make the host unavailable.
    let day = 86_400_000;
    for d in 0..7 {
        store.record_delivery_failure(&host, d * day, 7).unwrap();
    }
    assert!(store
        .host_health(&host)
        .unwrap()
        .unavailable_since
        .is_some());
    let like = w.activity("Like", &alice, json!(w.post()));
    assert_eq!(w.send(&like).await.status, StatusCode::ACCEPTED);
    assert_eq!(store.host_health(&host).unwrap().unavailable_since, None);
}

/// [`World::start`] with `[[plugin]]` tables appended to site.toml; `{{WASM}}` in them is the
/// folder of the components built from `plugins/`.
async fn start_with_plugins(plugins: &str) -> World {
    World::start_with(|data_dir, _, _| {
        common::plugins::add_plugins(&data_dir.parent().unwrap().join("site.toml"), plugins);
    })
    .await
}

/// The Creates and Updates queued for `inbox` about our post `slug` of news, in order.
fn post_activities(w: &World, inbox: &str, slug: &str) -> Vec<Value> {
    let id = format!("{}/users/news/posts/{slug}", w.base);
    w.deliveries()
        .into_iter()
        .filter(|(to, body)| to == inbox && body["object"]["id"] == id.as_str())
        .map(|(_, body)| body)
        .collect()
}

/// Writes our post `slug` of news (its front matter `front`, then `body`), rebuilds, and returns
/// the Creates and Updates about it queued for the remote server's inbox.
async fn publish(w: &World, slug: &str, front: &str, body: &str) -> Vec<Value> {
    let site = w.data_dir.parent().unwrap();
    let post = common::post_dated_now(front, body);
    common::write_post(site, &format!("news/{slug}.md"), &post);
    w.app().rebuild().await.unwrap();
    post_activities(w, &format!("{}/inbox", w.remote.base), slug)
}

#[tokio::test]
async fn outgoing_plugins_decide_what_followers_get_and_what_is_served() {
    let w = start_with_plugins(
        r#"
[[plugin]]
name = "cw"
path = "{{WASM}}/content_warning.wasm"
[[plugin.config.rules]]
tags = ["elections"]
warning = "Politics"

[[plugin]]
name = "editor"
path = "{{WASM}}/fixture_editor.wasm"
"#,
    )
    .await;
    let alice = w.remote.actor("alice");
    w.process(&w.activity("Follow", &alice, json!(w.ours("news"))))
        .await;
    let page = |slug: &str| format!("{}/users/news/posts/{slug}", w.base);

    // A tag of a rule: the Note delivered and the Note served carry the warning.
    let sent = publish(&w, "vote", "tags = [\"Elections\"]\n", "Polls open at 8.").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["type"], "Create");
    let served = w.get(&page("vote"), common::AP).await.json();
    assert_eq!(served["summary"], "Politics");
    assert_eq!(served["sensitive"], true);
    assert_eq!(sent[0]["object"]["summary"], served["summary"]);
    assert_eq!(sent[0]["object"]["content"], served["content"]);
    let html = w.get(&page("vote"), "text/html").await.text();
    assert!(html.contains("Content warning: Politics"), "{html}");

    // A veto: not served, not sent, and `status` names the plugin and its reason.
    let embargoed = "[embargo] The new tram line opens in May.";
    let sent = publish(&w, "launch", "", embargoed).await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(
        w.get(&page("launch"), common::AP).await.status,
        StatusCode::NOT_FOUND
    );
    let outbox = w
        .get(&format!("{}/users/news/outbox", w.base), common::AP)
        .await
        .json();
    let first = outbox["first"].as_str().unwrap().to_string();
    let outbox = w.get(&first, common::AP).await.text();
    assert!(!outbox.contains("tram line"), "{outbox}");
    let (ok, status, _) = w.masthead(&["status"]);
    assert!(ok);
    assert!(
        status.contains("news/launch  create")
            && status.contains("held back by plugin editor: embargoed until the press conference"),
        "{status}"
    );
    // The embargo lifts: the post goes out like a new one, and `status` lets go of it.
    let lifted = "The new tram line opens in May. {{signature}}";
    let sent = publish(&w, "launch", "", lifted).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["type"], "Create");
    let (_, status, _) = w.masthead(&["status"]);
    assert!(!status.contains("news/launch  "), "{status}");

    // The rewrite and the added hashtag are in what is sent and what is served, alike.
    let served = w.get(&page("launch"), common::AP).await.json();
    let content = served["content"].as_str().unwrap();
    assert!(content.contains("<em>The newsroom</em>"), "{content}");
    assert!(!content.contains("{{signature}}"), "{content}");
    assert!(content.contains("/tags/newsroom"), "{content}");
    assert!(
        served["tag"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "Hashtag" && t["name"] == "#newsroom"),
        "{served}"
    );
    assert_eq!(sent[0]["object"]["content"], served["content"]);
    assert_eq!(sent[0]["object"]["tag"], served["tag"]);

    // An edit a plugin vetoes is not sent; followers' version stays served.
    let sent = publish(&w, "launch", "", "[embargo] The tram line is delayed.").await;
    assert_eq!(sent.len(), 1);
    let still = w.get(&page("launch"), common::AP).await.json();
    assert_eq!(still["content"], served["content"]);
    let (_, status, _) = w.masthead(&["status"]);
    assert!(
        status.contains("news/launch  update")
            && status.contains("followers keep the version they have"),
        "{status}"
    );

    // A restart reads every post again through the plugins: nothing looks edited.
    let before = w.deliveries().len();
    w.app().rebuild().await.unwrap();
    assert_eq!(w.deliveries().len(), before);
}

fn note_to_post(w: &World, actor: &str, n: usize, text: &str) -> Value {
    w.activity(
        "Create",
        actor,
        json!({ "id": format!("{actor}/notes/p{n}"), "type": "Note", "attributedTo": actor,
                "content": format!("<p>{text}</p>"), "inReplyTo": w.post(),
                "to": [PUBLIC], "cc": [w.ours("news")] }),
    )
}

#[tokio::test]
async fn plugins_hold_a_keyword_reply_and_answer_a_question_once() {
    let w = start_with_plugins(&format!("{SPAM_WORDS}{FAQ}")).await;
    let alice = w.remote.actor("alice");
    w.process(&note_to_post(&w, &alice, 1, "Best casino in town!"))
        .await;
    let held = w
        .app()
        .store
        .reply(&format!("{alice}/notes/p1"))
        .unwrap()
        .unwrap();
    assert_eq!(held.status, masthead::store::ReplyStatus::Held);
    assert!(!w
        .get(&w.comments(), common::AP)
        .await
        .text()
        .contains("casino"));

    w.process(&note_to_post(&w, &alice, 2, "What are your opening hours?"))
        .await;
    let answers: Vec<Value> = w
        .deliveries()
        .into_iter()
        .filter(|(_, body)| body["type"] == "Create")
        .map(|(inbox, body)| {
            assert_eq!(inbox, format!("{}/inbox", w.remote.base));
            body
        })
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let note = &answers[0]["object"];
    assert_eq!(note["inReplyTo"], format!("{alice}/notes/p2"));
    assert_eq!(note["attributedTo"], w.ours("news"));
    assert!(note["content"]
        .as_str()
        .unwrap()
        .contains("<strong>8:30-17:00</strong>"));
    assert_eq!(note["to"], json!([PUBLIC]));
    assert_eq!(note["tag"][0]["href"], alice);
    // The answer's id dereferences to the Note that was delivered (Mastodon fetches it).
    let id = note["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!("{}/auto-replies/", w.ours("news"))),
        "{id}"
    );
    let got = w.get(id, common::AP).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), "application/activity+json");
    let mut served = got.json();
    assert_eq!(
        served["@context"].take(),
        json!("https://www.w3.org/ns/activitystreams")
    );
    served.as_object_mut().unwrap().remove("@context");
    assert_eq!(&served, note);
    // Asked again under the same post, and the same note delivered again in a new activity:
    // answered once.
    w.process(&note_to_post(&w, &alice, 3, "opening hours??"))
        .await;
    w.process(&note_to_post(&w, &alice, 2, "What are your opening hours?"))
        .await;
    let creates = w
        .deliveries()
        .iter()
        .filter(|(_, b)| b["type"] == "Create")
        .count();
    assert_eq!(creates, 1);
    // A question sent directly gets a direct answer, which is not served to anyone.
    let bob = w.remote.actor("bob");
    let direct = w.activity(
        "Create",
        &bob,
        json!({ "id": format!("{bob}/notes/d1"), "type": "Note", "attributedTo": bob,
                "content": "<p>opening hours?</p>", "inReplyTo": w.post(),
                "to": [w.ours("news")], "cc": [] }),
    );
    w.process(&direct).await;
    let answer = w
        .deliveries()
        .into_iter()
        .map(|(_, b)| b)
        .find(|b| b["type"] == "Create" && b["object"]["inReplyTo"] == format!("{bob}/notes/d1"))
        .expect("the direct question is answered");
    assert_eq!(answer["object"]["to"], json!([bob]));
    let id = answer["object"]["id"].as_str().unwrap();
    assert_eq!(w.get(id, common::AP).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        w.get(&format!("{}/auto-replies/0000", w.ours("news")), common::AP)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A visible reply edited to say the word is taken out of sight.
    let note = format!("{alice}/notes/p2");
    assert!(w
        .get(&w.comments(), common::AP)
        .await
        .text()
        .contains(&note));
    let mut edited = note_to_post(&w, &alice, 2, "Now with a casino link")["object"].clone();
    edited["updated"] = json!("2026-11-20T11:00:00Z");
    w.process(&w.activity("Update", &alice, edited)).await;
    let reply = w.app().store.reply(&note).unwrap().unwrap();
    assert_eq!(reply.status, masthead::store::ReplyStatus::Held);
    assert!(!w
        .get(&w.comments(), common::AP)
        .await
        .text()
        .contains(&note));
}

#[tokio::test]
async fn a_runaway_plugin_holds_replies_while_the_server_keeps_answering() {
    let w = start_with_plugins(
        r#"
[[plugin]]
name = "runaway"
path = "{{WASM}}/fixture_spin.wasm"
"#,
    )
    .await;
    let alice = w.remote.actor("alice");
    for n in 0..4 {
        w.send(&note_to_post(&w, &alice, n, "hello")).await;
    }
    // While the plugin spins to its deadline on each reply, pages keep being served; the bound
    // only catches a server blocked behind the plugin (each call stops at 50 ms).
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let got = w.get(&w.ours("news"), common::AP).await;
        assert_eq!(got.status, StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    w.settled().await;
    for n in 0..4 {
        let reply = w
            .app()
            .store
            .reply(&format!("{alice}/notes/p{n}"))
            .unwrap()
            .unwrap();
        assert_eq!(reply.status, masthead::store::ReplyStatus::Held, "{n}");
    }
}

#[tokio::test]
async fn a_block_added_to_site_toml_applies_without_a_restart() {
    let w = World::start().await;
    let config = w.dir().join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let mallory = w.remote.actor("mallory");
    let blocked = text.replace(
        "blocked_actors = [\"",
        &format!("blocked_actors = [\"{mallory}\", \""),
    );
    assert_ne!(blocked, text);
    std::fs::write(&config, &blocked).unwrap();
    assert!(w.app().reload_config());
    let follow = w.activity("Follow", &mallory, json!(w.ours("news")));
    assert_eq!(w.process(&follow).await.status, StatusCode::ACCEPTED);
    assert!(w.follower("news", &mallory).is_none());
    let sent = w.deliveries();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1["type"], "Reject");

    // A broken edit is refused and the block stays.
    std::fs::write(&config, blocked.replace("[moderation]", "[moderation")).unwrap();
    assert!(!w.app().reload_config());
    let again = w.activity("Follow", &mallory, json!(w.ours("news")));
    assert_eq!(w.process(&again).await.status, StatusCode::ACCEPTED);
    assert!(w.follower("news", &mallory).is_none());
    // Lifting the block lets them follow.
    std::fs::write(&config, &text).unwrap();
    assert!(w.app().reload_config());
    let third = w.activity("Follow", &mallory, json!(w.ours("news")));
    assert_eq!(w.process(&third).await.status, StatusCode::ACCEPTED);
    assert!(w.follower("news", &mallory).is_some());
}

/// Appends `toml` to the site's config before the server starts.
fn with_config(toml: &'static str) -> impl FnOnce(&Path, &str, &str) {
    move |data_dir, _, _| {
        let config = data_dir.parent().unwrap().join("site.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(toml);
        std::fs::write(&config, text).unwrap();
    }
}

#[tokio::test]
async fn likes_and_their_undos_are_applied_in_order_by_several_workers() {
    // Each of 30 actors liked and unliked, and all 60 jobs wait in the queue when the server
    // starts, so the 4 workers get them at once; the workers are sharded by actor, and one
    // actor's jobs are applied in arrival order. 5 more actors only liked.
    let w = World::start_with(|data_dir, base, remote| {
        with_config("\n[limits]\ninbox_workers = 4\n")(data_dir, base, remote);
        let store = masthead::store::Store::open(data_dir).unwrap();
        let post = format!("{base}/users/news/posts/hello");
        let mut at = 0;
        let mut queue = |activity: &Value| {
            at += 1;
            common::queued::record_verified(&store, activity, at);
        };
        for i in 0..30 {
            let actor = format!("{remote}/users/undoer{i}");
            let like = json!({ "id": format!("{actor}/likes/1"), "type": "Like",
                               "actor": actor, "object": post });
            queue(&like);
            queue(&json!({ "id": format!("{actor}/undos/1"), "type": "Undo",
                           "actor": actor, "object": like }));
        }
        for i in 0..5 {
            let actor = format!("{remote}/users/liker{i}");
            queue(&json!({ "id": format!("{actor}/likes/1"), "type": "Like",
                           "actor": actor, "object": post }));
        }
    })
    .await;
    w.settled().await;
    assert_eq!(w.post_json().await["likes"]["totalItems"], 5);
}

#[tokio::test]
async fn a_server_over_its_allowance_gets_429_while_another_is_served() {
    let w = World::start_with(with_config(
        "\n[limits]\ninbox_per_host_per_second = 1\ninbox_per_host_burst = 3\n",
    ))
    .await;
    let flooder = w.remote.actor("alice");
    for _ in 0..3 {
        assert_eq!(
            w.send_new("Like", &flooder, json!(w.post())).await,
            StatusCode::ACCEPTED
        );
    }
    let refused = w.activity("Like", &flooder, json!(w.post()));
    let got = w.send(&refused).await;
    assert_eq!(got.status, StatusCode::TOO_MANY_REQUESTS, "{}", got.text());
    assert_eq!(got.header("retry-after"), "1");
    // Nothing of the refused one was kept.
    let store = &w.app().store;
    assert!(store
        .inbox_activity_signature(refused["id"].as_str().unwrap())
        .unwrap()
        .is_none());
    // Another server (another host:port) keeps its whole allowance (alice's three likes of one
    // post count once).
    let other = Remote::start().await;
    for i in 0..3 {
        let actor = other.actor(&format!("u{i}"));
        assert_eq!(
            w.send_new("Like", &actor, json!(w.post())).await,
            StatusCode::ACCEPTED
        );
    }
    w.settled().await;
    assert_eq!(w.post_json().await["likes"]["totalItems"], 4);
}

/// The status of `author`'s reply number `n` (as [`note_to_post`] numbers them).
fn reply_status(w: &World, author: &str, n: usize) -> masthead::store::ReplyStatus {
    w.app()
        .store
        .reply(&format!("{author}/notes/p{n}"))
        .unwrap()
        .unwrap()
        .status
}

/// Sends `author`'s replies saying `text`, numbered from 1, one per probe, until one is held
/// (a reload happens in the background); returns its number.
async fn until_a_reply_is_held(w: &World, author: &str, text: &str) -> usize {
    let n = std::sync::atomic::AtomicUsize::new(1);
    common::poll_until(
        "a reply to be held",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            w.process(&note_to_post(w, author, k, text)).await;
            (reply_status(w, author, k) == masthead::store::ReplyStatus::Held).then_some(k)
        },
    )
    .await
}

#[tokio::test]
async fn an_edited_plugin_config_is_taken_by_the_running_server_through_the_watcher() {
    let mut w = start_with_plugins(common::plugins::SPAM_WORDS).await;
    w.running.as_mut().unwrap().watch().unwrap();
    let alice = w.remote.actor("alice");
    let status = |w: &World, n: usize| reply_status(w, &alice, n);
    w.process(&note_to_post(&w, &alice, 0, "Poker night at the museum?"))
        .await;
    assert_eq!(status(&w, 0), masthead::store::ReplyStatus::Visible);

    // The operator saves a new word list: the watcher reloads site.toml and the plugin with it.
    let config = w.dir().join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replace(r#"words = ["casino"]"#, r#"words = ["poker"]"#);
    assert_ne!(edited, text);
    std::fs::write(&config, edited).unwrap();
    let held = until_a_reply_is_held(&w, &alice, "Poker night again?").await;
    // And the old word no longer is.
    w.process(&note_to_post(&w, &alice, held + 1, "Casino night?"))
        .await;
    assert_eq!(status(&w, held + 1), masthead::store::ReplyStatus::Visible);
}

#[tokio::test]
async fn a_replaced_plugin_component_is_loaded_by_the_running_server_through_the_watcher() {
    // The component sits outside the site (a path in site.toml), as a plugin built elsewhere.
    let components = tempfile::tempdir().unwrap();
    let wasm = components.path().join("rule.wasm");
    std::fs::copy(common::plugins::wasm("fixture-trivial"), &wasm).unwrap();
    let mut w = start_with_plugins(&format!(
        "[[plugin]]\nname = \"rule\"\npath = \"{}\"\n",
        wasm.display()
    ))
    .await;
    w.running.as_mut().unwrap().watch().unwrap();
    let alice = w.remote.actor("alice");
    let status = |w: &World, n: usize| reply_status(w, &alice, n);
    w.process(&note_to_post(&w, &alice, 0, "hello")).await;
    assert_eq!(status(&w, 0), masthead::store::ReplyStatus::Visible);

    // A new build lands (written beside, renamed over): one that traps on every call, so its
    // `on_error` (hold, for replies) shows that the new component runs.
    let beside = components.path().join("rule.wasm.tmp");
    std::fs::copy(common::plugins::wasm("fixture-trap"), &beside).unwrap();
    std::fs::rename(&beside, &wasm).unwrap();
    until_a_reply_is_held(&w, &alice, "hello again").await;
}
