//! Hostile servers, as the security spec of the inbox (issue 7): each class of attack sent
//! through the real HTTP server on 127.0.0.1:0 (the `inbox` fixture site), against fake remotes
//! that serve whatever documents a test gives them and record every request they receive.
//! Each test asserts the status, that nothing was stored, and which requests the remotes saw.
//!
//! Two fake remotes on two ports are two origins (scheme, host and port), which is all an
//! attacker needs to play "another server".

mod common;

use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use common::inbox_site::{actor_doc, key_pem, InboxSite, AS, PUBLIC};
use common::Got;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use masthead::store::{FollowState, Follower, InteractionKind, RemoteActor};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// What a fake remote answers at one path.
#[derive(Clone)]
enum Canned {
    Json(Value),
    Status(u16),
    Redirect(String),
}

/// A fake server: `/users/{name}` is an actor holding the fixed test key unless a test
/// [`Remote::set`] something else there; everything else is 404. Every request is recorded.
struct Remote {
    base: String,
    seen: Arc<Mutex<Vec<String>>>,
    canned: Arc<Mutex<HashMap<String, Canned>>>,
}

impl Remote {
    async fn start() -> Remote {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let canned: Arc<Mutex<HashMap<String, Canned>>> = Arc::default();
        let (b, s, c) = (base.clone(), seen.clone(), canned.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (b, s, c) = (b.clone(), s.clone(), c.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<_>| {
                        let resp = answer(&b, &s, &c, &req);
                        async move { Ok::<_, std::convert::Infallible>(resp) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Remote { base, seen, canned }
    }

    fn actor(&self, name: &str) -> String {
        format!("{}/users/{name}", self.base)
    }

    fn set(&self, path: &str, canned: Canned) {
        self.canned.lock().unwrap().insert(path.to_string(), canned);
    }

    /// The paths requested so far, in order.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(
    base: &str,
    seen: &Mutex<Vec<String>>,
    canned: &Mutex<HashMap<String, Canned>>,
    req: &Request<hyper::body::Incoming>,
) -> Response<http_body_util::Full<Bytes>> {
    let path = req.uri().path().to_string();
    seen.lock().unwrap().push(path.clone());
    let name = path.strip_prefix("/users/").unwrap_or("");
    let canned = canned.lock().unwrap().get(&path).cloned();
    let canned = match canned {
        Some(c) => c,
        None if !name.is_empty() && !name.contains('/') => Canned::Json(actor_doc(base, name)),
        None => Canned::Status(404),
    };
    let mut resp = Response::new(http_body_util::Full::new(Bytes::new()));
    match canned {
        Canned::Json(doc) => {
            *resp.body_mut() = http_body_util::Full::new(Bytes::from(doc.to_string()));
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/activity+json"),
            );
        }
        Canned::Status(status) => *resp.status_mut() = StatusCode::from_u16(status).unwrap(),
        Canned::Redirect(to) => {
            *resp.status_mut() = StatusCode::FOUND;
            resp.headers_mut()
                .insert("location", HeaderValue::from_str(&to).unwrap());
        }
    }
    resp
}

/// The server under test, two fake remotes (two origins), and helpers to sign and send.
struct World {
    site: InboxSite,
    /// The attacker's (or a friend's) server; its `/users/troll` is a blocked actor.
    remote: Remote,
    /// Another origin.
    other: Remote,
}

impl Deref for World {
    type Target = InboxSite;

    fn deref(&self) -> &InboxSite {
        &self.site
    }
}

impl World {
    async fn start() -> World {
        World::start_with(|_, _| {}).await
    }

    /// Starts the `inbox` fixture; `before(store, remote_base)` may fill the store first.
    async fn start_with(before: impl FnOnce(&masthead::store::Store, &str)) -> World {
        let remote = Remote::start().await;
        let other = Remote::start().await;
        let site = InboxSite::start(&remote.base, |data_dir, _| {
            let store = masthead::store::Store::open(data_dir).unwrap();
            before(&store, &remote.base);
        })
        .await;
        World {
            site,
            remote,
            other,
        }
    }

    /// POSTs `activity` to the shared inbox, signed with the test key under `key_id`, now.
    async fn send_as(&self, key_id: &str, activity: &Value) -> Got {
        let body = activity.to_string().into_bytes();
        self.post_signed("/inbox", key_id, SystemTime::now(), &body, body.clone())
            .await
    }

    /// POSTs `activity` signed by its actor's `#main-key`.
    async fn send(&self, activity: &Value) -> Got {
        let actor = activity["actor"].as_str().unwrap();
        self.send_as(&format!("{actor}#main-key"), activity).await
    }

    fn cached(&self, actor: &str) -> Option<RemoteActor> {
        self.app().store.remote_actor(actor).unwrap()
    }

    fn comments(&self) -> Value {
        let file = self.data_dir.join("comments/news/hello.json");
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }
}

/// Caches actor `id` with `key_id` holding `other-actor`'s key, not the test key requests are
/// signed with.
fn cache_with_other_key(store: &masthead::store::Store, id: &str, key_id: &str, handle: &str) {
    let actor = RemoteActor {
        id: id.to_string(),
        inbox: format!("{id}/inbox"),
        shared_inbox: None,
        key_id: Some(key_id.to_string()),
        public_key_pem: Some(key_pem("other-actor.pub.pem")),
        handle: Some(handle.to_string()),
        name: None,
        url: None,
        document: "{}".into(),
        fetched_at: 0,
    };
    store.upsert_remote_actor(&actor).unwrap();
}

fn assert_status(got: &Got, status: StatusCode) {
    assert_eq!(got.status, status, "{}", got.text());
}

// ---------------------------------------------------------------- 2. origins

#[tokio::test]
async fn rejects_an_actor_document_redirected_to_another_origin() {
    let w = World::start().await;
    let x = w.remote.actor("x");
    // The claimed actor redirects to the other origin, which serves a document claiming to be x.
    w.remote
        .set("/users/x", Canned::Redirect(w.other.actor("x")));
    w.other
        .set("/users/x", Canned::Json(actor_doc(&w.remote.base, "x")));
    let got = w.send(&w.activity("Like", &x, json!(w.post()))).await;
    assert_status(&got, StatusCode::UNAUTHORIZED);
    assert_eq!(w.remote.seen(), ["/users/x"]);
    assert_eq!(w.other.seen(), ["/users/x"]);
    assert!(w.cached(&x).is_none());
    assert_eq!(w.count("inbox_activities"), 0);
    assert_eq!(w.count("remote_actors"), 0);
}

#[tokio::test]
async fn can_follow_a_redirect_to_a_document_that_names_its_own_origin() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    // The actor URL redirects within its origin to the file that holds the document.
    let file = format!("{}/ap/alice.json", w.remote.base);
    w.remote.set("/users/alice", Canned::Redirect(file));
    w.remote.set(
        "/ap/alice.json",
        Canned::Json(actor_doc(&w.remote.base, "alice")),
    );
    let got = w
        .send(&w.activity("Follow", &alice, json!(w.ours("news"))))
        .await;
    assert_status(&got, StatusCode::ACCEPTED);
    w.settled().await;
    assert!(w.app().store.follower("news", &alice).unwrap().is_some());
    assert_eq!(w.remote.seen()[..2], ["/users/alice", "/ap/alice.json"]);
}

#[tokio::test]
async fn rejects_a_key_advertised_by_another_actor() {
    // Mallory is cached advertising Alice's key id (with a key of her own): the old lookup by key
    // id alone found Mallory for Alice's signatures and refused them.
    let w = World::start_with(|store, remote| {
        let id = format!("{remote}/users/mallory");
        cache_with_other_key(
            store,
            &id,
            &format!("{remote}/users/alice#main-key"),
            "mallory@evil",
        );
    })
    .await;
    let alice = w.remote.actor("alice");
    let got = w.send(&w.activity("Like", &alice, json!(w.post()))).await;
    assert_status(&got, StatusCode::ACCEPTED);
    assert_eq!(w.remote.seen(), ["/users/alice"]);
    assert_eq!(w.cached(&alice).unwrap().id, alice);

    // Mallory signing with Alice's key id gets nowhere: the key is Alice's.
    let mallory = w.remote.actor("mallory");
    let got = w
        .send_as(
            &format!("{alice}#main-key"),
            &w.activity("Like", &mallory, json!(w.post())),
        )
        .await;
    assert_status(&got, StatusCode::UNAUTHORIZED);
    // A key on another origin than the activity's actor: refused before any fetch.
    let got = w
        .send_as(
            &format!("{}#main-key", w.other.actor("alice")),
            &w.activity("Like", &alice, json!(w.post())),
        )
        .await;
    assert_status(&got, StatusCode::UNAUTHORIZED);
    assert!(w.other.seen().is_empty());
    w.settled().await;
    assert_eq!(w.count("interactions"), 1);
}

#[tokio::test]
async fn rejects_an_embedded_object_from_another_origin() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let foreign = format!("{}/notes/1", w.other.base);
    let create = w.activity(
        "Create",
        &alice,
        json!({ "id": foreign, "type": "Note", "attributedTo": alice, "content": "forged",
                "inReplyTo": w.post(), "to": [PUBLIC] }),
    );
    let got = w.send(&create).await;
    assert_status(&got, StatusCode::BAD_REQUEST);
    assert_eq!(got.text(), "activity ids must be on the actor's origin\n");
    assert!(w.other.seen().is_empty());

    // An embedded copy of the actor in an Update is never trusted as sent: the actor is
    // refetched from its origin.
    let mut forged = actor_doc(&w.remote.base, "alice");
    forged["name"] = json!("Forged");
    forged["inbox"] = json!(format!("{}/inbox", w.other.base));
    let got = w.send(&w.activity("Update", &alice, forged)).await;
    assert_status(&got, StatusCode::ACCEPTED);
    w.settled().await;
    let cached = w.cached(&alice).unwrap();
    assert_eq!(cached.name.as_deref(), Some("Alice"));
    assert_eq!(cached.inbox, format!("{alice}/inbox"));
    assert_eq!(w.remote.seen(), ["/users/alice", "/users/alice"]);
    assert_eq!(w.count("replies"), 0);
}

#[tokio::test]
async fn rejects_undo_update_and_delete_from_another_origin() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let theirs = format!("{}/users/bob/likes/1", w.other.base);
    for (kind, object) in [
        (
            "Undo",
            json!({ "id": theirs, "type": "Like", "actor": alice, "object": w.post() }),
        ),
        (
            "Update",
            json!({ "id": theirs, "type": "Note", "attributedTo": alice, "content": "x" }),
        ),
        ("Delete", json!(theirs)),
    ] {
        let got = w.send(&w.activity(kind, &alice, object)).await;
        assert_status(&got, StatusCode::BAD_REQUEST);
        assert_eq!(got.text(), "activity ids must be on the actor's origin\n");
    }
    // A reply id on the actor's host and port but another scheme.
    let create = w.activity(
        "Create",
        &alice,
        json!({ "id": alice.replacen("http:", "javascript:", 1) + "/%0Aalert(1)",
                "type": "Note", "attributedTo": alice, "content": "x", "inReplyTo": w.post() }),
    );
    assert_status(&w.send(&create).await, StatusCode::BAD_REQUEST);
    assert_eq!(w.count("inbox_activities"), 0);
    assert!(w.other.seen().is_empty());
}

#[tokio::test]
async fn rejects_an_inbox_or_shared_inbox_on_another_host() {
    let w = World::start().await;
    // A follower whose sharedInbox points at another server: followed, without that endpoint.
    let eve = w.remote.actor("eve");
    let mut doc = actor_doc(&w.remote.base, "eve");
    doc["endpoints"]["sharedInbox"] = json!(format!("{}/inbox", w.other.base));
    w.remote.set("/users/eve", Canned::Json(doc));
    let got = w
        .send(&w.activity("Follow", &eve, json!(w.ours("news"))))
        .await;
    assert_status(&got, StatusCode::ACCEPTED);
    w.settled().await;
    let f = w.app().store.follower("news", &eve).unwrap().unwrap();
    assert_eq!(f.inbox, format!("{eve}/inbox"));
    assert_eq!(f.shared_inbox, None);

    // An actor whose own inbox is elsewhere is no actor we answer: refused, nothing kept.
    let zed = w.remote.actor("zed");
    let mut doc = actor_doc(&w.remote.base, "zed");
    doc["inbox"] = json!(format!("{}/inbox", w.other.base));
    w.remote.set("/users/zed", Canned::Json(doc));
    let got = w
        .send(&w.activity("Follow", &zed, json!(w.ours("news"))))
        .await;
    assert_status(&got, StatusCode::UNAUTHORIZED);
    assert!(w.cached(&zed).is_none());
    assert!(w.app().store.follower("news", &zed).unwrap().is_none());
    assert!(w.other.seen().is_empty());
}

#[tokio::test]
async fn rejects_a_move_to_a_blocked_or_unconfirmed_target() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    w.send(&w.activity("Follow", &alice, json!(w.ours("news"))))
        .await;
    w.settled().await;

    // A blocked target (in site.toml): refused before it is fetched.
    let troll = w.remote.actor("troll");
    let mut moved = w.activity("Move", &alice, json!(alice));
    moved["target"] = json!(troll);
    let mut troll_doc = actor_doc(&w.remote.base, "troll");
    troll_doc["alsoKnownAs"] = json!([alice]);
    w.remote.set("/users/troll", Canned::Json(troll_doc));
    assert_status(&w.send(&moved).await, StatusCode::ACCEPTED);
    w.settled().await;
    assert!(
        !w.remote.seen().contains(&"/users/troll".to_string()),
        "{:?}",
        w.remote.seen()
    );
    assert!(w.cached(&troll).is_none());
    assert!(w.app().store.follower("news", &alice).unwrap().is_some());

    // A target whose alsoKnownAs does not name the mover: fetched, judged, not kept.
    let dave = w.remote.actor("dave");
    let mut moved = w.activity("Move", &alice, json!(alice));
    moved["target"] = json!(dave);
    assert_status(&w.send(&moved).await, StatusCode::ACCEPTED);
    w.settled().await;
    assert!(w.remote.seen().contains(&"/users/dave".to_string()));
    assert!(w.cached(&dave).is_none());
    assert!(w.app().store.follower("news", &alice).unwrap().is_some());
    assert!(w.app().store.follower("news", &dave).unwrap().is_none());
}

// ---------------------------------------------------------------- 4. key ids

#[tokio::test]
async fn rejects_key_ids_masthead_must_not_fetch_before_any_fetch() {
    let w = World::start().await;
    let actor = w.remote.actor("alice");
    let host = w.remote.base.trim_start_matches("http://").to_string();
    for key_id in [
        format!("http://victim@{host}/users/alice#main-key"),
        "#main-key".to_string(),
        "/users/alice#main-key".to_string(),
        "acct:alice@example.com".to_string(),
        format!("javascript://{host}/%0Aalert(1)"),
        format!("{actor}#{}", "k".repeat(3000)),
    ] {
        let like = w.activity("Like", &actor, json!(w.post()));
        let got = w.send_as(&key_id, &like).await;
        assert_status(&got, StatusCode::UNAUTHORIZED);
    }
    assert!(w.remote.seen().is_empty(), "{:?}", w.remote.seen());
    assert_eq!(w.count("inbox_activities"), 0);
}

// ---------------------------------------------------------------- 5. deletes of the unknown

#[tokio::test]
async fn can_drop_the_delete_of_an_actor_never_seen_without_fetching() {
    let w = World::start().await;
    let stranger = w.remote.actor("stranger");
    for object in [json!(stranger), json!(format!("{stranger}/notes/1"))] {
        let got = w.send(&w.activity("Delete", &stranger, object)).await;
        assert_status(&got, StatusCode::ACCEPTED);
    }
    assert!(w.remote.seen().is_empty(), "{:?}", w.remote.seen());
    assert_eq!(w.count("inbox_activities"), 0);
}

#[tokio::test]
async fn can_remove_what_a_known_actor_left_when_its_key_answers_gone() {
    let w = World::start_with(|store, remote| {
        let id = format!("{remote}/users/gone");
        // Not the key the Delete is signed with: verification fails, the key is refetched.
        cache_with_other_key(store, &id, &format!("{id}#main-key"), "gone@remote");
        store
            .upsert_follower(&Follower {
                actor: "news".into(),
                follower: id.clone(),
                follow_id: format!("{id}/follows/1"),
                inbox: format!("{id}/inbox"),
                shared_inbox: None,
                state: FollowState::Accepted,
                created_at: String::new(),
                hold: None,
            })
            .unwrap();
        store
            .add_interaction(
                &format!("{id}/likes/1"),
                InteractionKind::Like,
                &id,
                "news",
                "hello",
            )
            .unwrap();
    })
    .await;
    let gone = w.remote.actor("gone");
    w.remote.set("/users/gone", Canned::Status(410));
    let got = w.send(&w.activity("Delete", &gone, json!(gone))).await;
    assert_status(&got, StatusCode::ACCEPTED);
    w.settled().await;
    assert_eq!(w.remote.seen(), ["/users/gone"]);
    assert_eq!(w.count("followers"), 0);
    assert_eq!(w.count("interactions"), 0);
    assert!(w.cached(&gone).is_none());
}

// ---------------------------------------------------------------- 6. keys that cannot be had now

#[tokio::test]
async fn can_ask_the_sender_to_retry_when_the_key_server_is_down() {
    let w = World::start().await;
    let down = w.remote.actor("down");
    w.remote.set("/users/down", Canned::Status(503));
    let like = w.activity("Like", &down, json!(w.post()));
    let got = w.send(&like).await;
    assert_status(&got, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        got.text(),
        "the signer's key cannot be fetched now; retry later\n"
    );
    let retry: u64 = got.header("retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After: {retry}");
    // The host is left alone for a while: the retry answers 503 at once, without a fetch.
    let got = w.send(&w.activity("Like", &down, json!(w.post()))).await;
    assert_status(&got, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.remote.seen(), ["/users/down"]);

    // Nothing listens: a connection error is a 503 too.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/users/x", l.local_addr().unwrap())
    };
    let got = w.send(&w.activity("Like", &closed, json!(w.post()))).await;
    assert_status(&got, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.count("inbox_activities"), 0);
}

// ---------------------------------------------------------------- 7. JSON-LD tricks

#[tokio::test]
async fn can_drop_what_json_ld_reads_otherwise_and_keep_mastodons_context() {
    let w = World::start().await;
    let alice = w.remote.actor("alice");
    let mut graph = w.activity("Like", &alice, json!(w.post()));
    graph["@graph"] =
        json!([{ "id": format!("{alice}/x"), "type": "Delete", "object": w.ours("news") }]);
    let mut included = w.activity("Like", &alice, json!(w.post()));
    included["@included"] = json!([{ "id": format!("{alice}/y"), "type": "Follow" }]);
    let mut remapped = w.activity("Like", &alice, json!(w.post()));
    remapped["@context"] = json!([AS, { "object": "https://evil.example/ns#target" }]);
    for hostile in [graph, included, remapped] {
        assert_status(&w.send(&hostile).await, StatusCode::ACCEPTED);
    }
    assert!(w.remote.seen().is_empty());
    assert_eq!(w.count("inbox_activities"), 0);

    let context: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/jsonld/mastodon-context.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut create = w.activity(
        "Create",
        &alice,
        json!({ "id": format!("{alice}/statuses/1"), "type": "Note", "attributedTo": alice,
                "content": "<p>hi</p>", "sensitive": false, "inReplyTo": w.post(),
                "tag": [{ "type": "Hashtag", "href": format!("{}/tags/x", w.remote.base), "name": "#x" }],
                "to": [PUBLIC] }),
    );
    create["@context"] = context;
    assert_status(&w.send(&create).await, StatusCode::ACCEPTED);
    w.settled().await;
    assert_eq!(w.count("replies"), 1);
}

// ---------------------------------------------------------------- 1. the data side of script

/// Hostile values for every URL field, and text fields carrying markup and escapes.
const HOSTILE_URLS: [&str; 8] = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java&#115;cript:alert(1)",
    "&#x6A;avascript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "data:image/svg+xml,<svg onload=alert(1)>",
];

fn assert_nothing_active(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for active in [
        "<script",
        "javascript:",
        "vbscript:",
        "data:",
        "onerror",
        "onload",
        "onclick",
        "rel=\"me\"",
        "rel=\\\"me\\\"",
        "\u{1b}",
        "&#115;cript",
        "&#x6a;avascript",
    ] {
        assert!(!lower.contains(active), "{what}: {active:?} in {text}");
    }
}

#[tokio::test]
async fn rejects_anything_active_in_hostile_actors_and_replies() {
    let w = World::start().await;
    for (i, bad) in HOSTILE_URLS.iter().enumerate() {
        let name = format!("h{i}");
        let actor = w.remote.actor(&name);
        let mut doc = actor_doc(&w.remote.base, &name);
        doc["name"] = json!(format!(
            "<script>alert(1)</script>\u{1b}[2J<img src=x onerror=alert(1)>"
        ));
        doc["summary"] = json!(format!(
            "<p onclick=\"x()\">bio <a href=\"{bad}\">x</a> <a rel=\"me\" href=\"{}\">me</a></p>",
            w.base
        ));
        doc["url"] = json!(bad);
        doc["icon"] = json!({ "type": "Image", "mediaType": "image/svg+xml", "url": bad });
        doc["image"] = json!([{ "type": "Image", "url": bad }, bad]);
        doc["attachment"] = json!([
            { "type": "PropertyValue", "name": "x", "value": format!("<a href=\"{bad}\" rel=\"me\">x</a>") },
            { "type": "Document", "url": bad },
        ]);
        doc["tag"] = json!([{ "type": "Hashtag", "href": bad, "name": "#x" }]);
        w.remote.set(&format!("/users/{name}"), Canned::Json(doc));
        let note = json!({
            "id": format!("{actor}/notes/1"), "type": "Note", "attributedTo": actor,
            "content": format!("<p>hi<script>alert(1)</script><a href=\"{bad}\">x</a><a rel=\"me\" href=\"{}\">us</a><img src=x onerror=alert(1)></p>", w.base),
            "url": [bad, { "type": "Link", "href": bad }],
            "attachment": [{ "type": "Document", "url": bad }],
            "tag": [{ "type": "Mention", "href": bad }],
            "inReplyTo": w.post(), "to": [PUBLIC],
        });
        let got = w.send(&w.activity("Create", &actor, note)).await;
        assert_status(&got, StatusCode::ACCEPTED);
    }
    w.settled().await;
    assert_eq!(w.count("replies"), HOSTILE_URLS.len() as i64);

    let comments = w.comments();
    assert_eq!(comments.as_array().unwrap().len(), HOSTILE_URLS.len());
    for c in comments.as_array().unwrap() {
        assert_eq!(c["url"], Value::Null, "{c}");
        assert_eq!(c["author"]["url"], Value::Null, "{c}");
        assert_eq!(c["author"]["icon"], Value::Null, "{c}");
        assert!(c["content_html"]
            .as_str()
            .unwrap()
            .contains("rel=\"nofollow noopener ugc\""));
    }
    // Names stay text (escaped by whoever renders them), without control characters.
    const NAME: &str = "<script>alert(1)</script>[2J<img src=x onerror=alert(1)>";
    for c in comments.as_array().unwrap() {
        assert_eq!(c["author"]["name"], NAME);
    }
    assert_nothing_active(
        "comments.json",
        &comments
            .to_string()
            .replace(&json!(NAME).to_string(), "NAME"),
    );
    let db = w.db();
    let mut rows = db
        .prepare("SELECT document, COALESCE(name, ''), COALESCE(url, '') FROM remote_actors")
        .unwrap();
    let stored: Vec<String> = rows
        .query_map([], |r| {
            Ok(format!(
                "{} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), HOSTILE_URLS.len());
    for s in stored {
        let without_names = s
            .replace(&json!(NAME).to_string(), "NAME")
            .replace(NAME, "NAME");
        assert_nothing_active("remote_actors", &without_names);
    }
    let mut rows = db
        .prepare("SELECT content_html || ' ' || COALESCE(url, '') FROM replies")
        .unwrap();
    for r in rows.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        assert_nothing_active("replies", &r.unwrap());
    }
}
