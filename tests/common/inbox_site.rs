//! The server under test for the inbox suites: the `inbox` fixture site on 127.0.0.1:0 with
//! `{{REMOTE}}` in its site.toml pointed at a fake remote, and what those suites share to build
//! activities, sign them with the fixed test key and read what the server stored. The fake
//! remotes stay with each suite: each one serves and records what its own tests need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::Method;
use masthead::app::Running;
use masthead::federation::signatures::{sign_request, SigningKey};
use serde_json::{json, Value};
use url::Url;

use super::Got;

pub const AS: &str = "https://www.w3.org/ns/activitystreams";
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// A fixed key from `tests/fixtures/keys`.
pub fn key_pem(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keys")
            .join(name),
    )
    .unwrap()
}

/// The document of a well-behaved actor `name` on `base`, holding the fixed key
/// `test-actor.pub.pem`.
pub fn actor_doc(base: &str, name: &str) -> Value {
    let id = format!("{base}/users/{name}");
    json!({
        "@context": [AS, "https://w3id.org/security/v1"],
        "id": id, "type": "Person", "preferredUsername": name,
        "name": format!("{}{}", name[..1].to_uppercase(), &name[1..]),
        "url": format!("{base}/@{name}"),
        "icon": { "type": "Image", "url": format!("{base}/{name}.png") },
        "inbox": format!("{id}/inbox"),
        "endpoints": { "sharedInbox": format!("{base}/inbox") },
        "publicKey": { "id": format!("{id}#main-key"), "owner": id, "publicKeyPem": key_pem("test-actor.pub.pem") },
    })
}

/// The `inbox` fixture served on 127.0.0.1:0.
pub struct InboxSite {
    _dir: tempfile::TempDir,
    pub running: Option<Running>,
    pub base: String,
    pub data_dir: PathBuf,
    n: AtomicUsize,
}

impl InboxSite {
    /// Starts the `inbox` fixture against the remote at `remote_base`; `before(data_dir, base)`
    /// may fill the data dir before the server opens it.
    pub async fn start(remote_base: &str, before: impl FnOnce(&Path, &str)) -> InboxSite {
        let (dir, listener, base) = super::prepare("inbox").await;
        let config = dir.path().join("site.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("{{REMOTE}}", remote_base);
        std::fs::write(&config, text).unwrap();
        let data_dir = dir.path().join(".masthead");
        before(&data_dir, &base);
        let running = super::serve_dir(dir.path(), listener).await;
        InboxSite {
            _dir: dir,
            running: Some(running),
            base,
            data_dir,
            n: AtomicUsize::new(0),
        }
    }

    /// The site's folder (site.toml, content, the data dir).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn app(&self) -> &masthead::app::App {
        &self.running.as_ref().unwrap().app
    }

    pub fn ours(&self, handle: &str) -> String {
        format!("{}/users/{handle}", self.base)
    }

    pub fn post(&self) -> String {
        format!("{}/users/news/posts/hello", self.base)
    }

    /// A fresh activity id on the remote.
    pub fn id(&self, actor: &str) -> String {
        format!(
            "{actor}/activities/{}",
            self.n.fetch_add(1, Ordering::SeqCst)
        )
    }

    pub fn activity(&self, kind: &str, actor: &str, object: Value) -> Value {
        json!({ "@context": AS, "id": self.id(actor), "type": kind, "actor": actor, "object": object })
    }

    /// POSTs `sent` to `path`, with the headers of `signed` signed by `key_id` with the test key
    /// at `date` (`sent` and `signed` differ only when a test tampers with the body).
    pub async fn post_signed(
        &self,
        path: &str,
        key_id: &str,
        date: SystemTime,
        signed: &[u8],
        sent: Vec<u8>,
    ) -> Got {
        let url = Url::parse(&format!("{}{path}", self.base)).unwrap();
        let key = SigningKey::from_pkcs8_pem(key_id, &key_pem("test-actor.pem")).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/activity+json"),
        );
        sign_request(&key, &Method::POST, &url, &mut headers, Some(signed), date).unwrap();
        super::request_signed(url.as_str(), Method::POST, &headers, Bytes::from(sent)).await
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("masthead.db")).unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.db()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Waits (bounded) until every queued inbox job has been processed.
    pub async fn settled(&self) {
        let drained = || async {
            let app = self.app();
            let queue = app.store.due_inbox_activities(i64::MAX, 1).unwrap();
            queue.is_empty().then_some(())
        };
        super::poll_until(
            "the inbox queue to drain",
            Duration::from_secs(10),
            Duration::from_millis(10),
            drained,
        )
        .await;
    }
}
