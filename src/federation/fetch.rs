//! Fetching remote ActivityPub documents: actors, their keys, and objects.
//!
//! This module owns how masthead reads other servers: every GET of an ActivityPub document is
//! signed as the instance actor (servers running "authorized fetch" answer 401 otherwise; a
//! WebFinger lookup, [`Fetcher::jrd`], is public and goes unsigned), asks for ActivityPub JSON, and is
//! trusted only if the answer is an ActivityPub content type whose `id` is the URL fetched (a
//! document naming another id on the same host is refetched once by that id, as Mastodon does).
//! Actors and keys are cached in the store (`remote_actors`); resolving a `keyId` strips the
//! fragment to find the actor unless the cache already knows the key, and a key is only accepted
//! when it and the actor name each other (`publicKey.owner` and `publicKey.id`).
//! When an actor was cached and when a host's key may be refetched are read from the injected
//! [`Clock`]; only the signatures' `Date` carries the wall time.
//!
//! It does not decide whether a request is trusted (the inbox does, with [`Fetcher::signer`]),
//! and it does not retry: a failed fetch is the caller's to report.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method};
use serde_json::Value;
use url::Url;

use super::client::{
    is_activitypub_content_type, user_agent, AddressPolicy, Client, ClientConfig, FetchError,
    ACCEPT_ACTIVITY,
};
use super::signatures::{sign_request, PublicKey, SignatureError, SigningKey};
use crate::clock::Clock;
use crate::config::Site;
use crate::store::{KeyPair, RemoteActor, Store, StoreError};

/// How often a key may be refetched from one host after a failed verification: at most once per
/// 10 minutes. Keys rotate rarely (an account migration, a server reinstall), so a genuine
/// rotation is picked up within minutes; without a limit, every forged or broken request would
/// make us fetch from the claimed host, and anyone could aim our server at a victim.
pub const KEY_REFETCH_INTERVAL_MS: i64 = 10 * 60 * 1000;

/// `Accept` of WebFinger lookups (RFC 7033 names `application/jrd+json`; many servers answer
/// plain JSON).
const ACCEPT_JRD: http::HeaderValue =
    http::HeaderValue::from_static("application/jrd+json, application/json");

/// Why a remote document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FetchObjectError {
    /// The request failed (refused address, timeout, connection, TLS, size).
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// Not a URL we may fetch.
    #[error("cannot fetch {url:?}: not an absolute http(s) URL")]
    BadUrl { url: String },
    /// The server answered an error status.
    #[error("fetching {url} answered {status}")]
    Status { url: String, status: u16 },
    /// The answer was not ActivityPub JSON.
    #[error("fetching {url} answered {content_type:?}, not application/activity+json or ld+json with the ActivityStreams profile")]
    NotActivityPub { url: String, content_type: String },
    /// The body was not a JSON object.
    #[error("fetching {url}: the body is not a JSON object")]
    NotJson { url: String },
    /// The document's id is not the URL fetched, even after one refetch by id.
    #[error("fetching {url}: the document's id is {id:?}, not the URL fetched")]
    IdMismatch { url: String, id: String },
    /// Not an actor (no inbox).
    #[error("{url} is not an actor (it has no inbox)")]
    NotAnActor { url: String },
    /// The key is not published by the actor it claims.
    #[error("key {key_id}: {why}")]
    Key { key_id: String, why: String },
    /// The key PEM is unusable.
    #[error("key {key_id}: {source}")]
    BadKey {
        key_id: String,
        source: SignatureError,
    },
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FetchError> for FetchObjectError {
    fn from(e: FetchError) -> Self {
        FetchObjectError::Fetch(Box::new(e))
    }
}

impl FetchObjectError {
    /// Whether the remote said the document is gone (404 or 410).
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            FetchObjectError::Status {
                status: 404 | 410,
                ..
            }
        )
    }
}

/// Signed GETs of remote documents, as the instance actor.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    key: Arc<SigningKey>,
    /// Stamps cached actors and limits key refetches; signatures carry the wall time regardless.
    clock: Clock,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("key_id", &self.key.key_id())
            .finish()
    }
}

impl Fetcher {
    /// A fetcher for `site`: the address policy follows `[dev]`, GETs are signed with the instance
    /// key under `instance_key_id`, and the cache is kept by `clock`.
    pub fn new(
        site: &Site,
        instance_key_id: &str,
        instance_key: &KeyPair,
        clock: Clock,
    ) -> Result<Fetcher, SignatureError> {
        let mut config = ClientConfig::new(user_agent(&site.base_url));
        config.policy = AddressPolicy {
            allow_private_addresses: site.dev.allow_private_addresses,
            allow_http: site.dev.allow_http,
            exempt: vec![],
        };
        Ok(Fetcher {
            client: Client::new(config),
            key: Arc::new(SigningKey::from_pkcs8_pem(
                instance_key_id,
                &instance_key.private_pem,
            )?),
            clock,
        })
    }

    /// GETs `url` and returns the document, checked: 2xx, an ActivityPub content type, a JSON
    /// object whose `id` is `url` (refetched once by its id when that id is on the same host).
    pub async fn object(&self, url: &str) -> Result<Value, FetchObjectError> {
        let doc = self.get(url).await?;
        let id = doc_id(&doc);
        if id == Some(url) {
            return Ok(doc);
        }
        let id = id.unwrap_or_default().to_string();
        if !id.is_empty() && same_authority(url, &id) {
            let again = self.get(&id).await?;
            if doc_id(&again) == Some(id.as_str()) {
                return Ok(again);
            }
        }
        Err(FetchObjectError::IdMismatch {
            url: url.to_string(),
            id,
        })
    }

    async fn get(&self, url: &str) -> Result<Value, FetchObjectError> {
        let parsed = fetchable(url)?;
        let key = self.key.clone();
        let sign = Box::new(
            move |method: &Method, url: &Url, headers: &mut HeaderMap, body: Option<&[u8]>| {
                if let Err(e) = sign_request(&key, method, url, headers, body, SystemTime::now()) {
                    tracing::warn!(url = %url, error = %e, "could not sign a GET");
                }
            },
        );
        let resp = self
            .client
            .get_json(parsed, ACCEPT_ACTIVITY, Some(sign))
            .await?;
        if !resp.status.is_success() {
            return Err(FetchObjectError::Status {
                url: url.to_string(),
                status: resp.status.as_u16(),
            });
        }
        let content_type = header_str(&resp.headers, http::header::CONTENT_TYPE);
        if !is_activitypub_content_type(content_type) {
            return Err(FetchObjectError::NotActivityPub {
                url: url.to_string(),
                content_type: content_type.to_string(),
            });
        }
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(v) if v.is_object() => Ok(v),
            _ => Err(FetchObjectError::NotJson {
                url: url.to_string(),
            }),
        }
    }

    /// GETs a WebFinger document (JRD) at `url`, unsigned (WebFinger is public by design, and
    /// signing it would name us to a host that only answers `acct:` lookups): 2xx and a JSON
    /// object, whatever the content type (servers answer `application/json` as often as
    /// `application/jrd+json`).
    pub async fn jrd(&self, url: &str) -> Result<Value, FetchObjectError> {
        let parsed = fetchable(url)?;
        let resp = self.client.get_json(parsed, ACCEPT_JRD, None).await?;
        if !resp.status.is_success() {
            return Err(FetchObjectError::Status {
                url: url.to_string(),
                status: resp.status.as_u16(),
            });
        }
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(v) if v.is_object() => Ok(v),
            _ => Err(FetchObjectError::NotJson {
                url: url.to_string(),
            }),
        }
    }

    /// The actor `id`, from the cache unless `fresh`, else fetched and cached.
    pub async fn actor(
        &self,
        store: &Store,
        id: &str,
        fresh: bool,
    ) -> Result<RemoteActor, FetchObjectError> {
        if !fresh {
            if let Some(actor) = store.remote_actor(id)? {
                return Ok(actor);
            }
        }
        let doc = self.object(id).await?;
        let actor = actor_from_document(id, &doc, None, self.clock.now_ms())?;
        store.upsert_remote_actor(&actor)?;
        Ok(actor)
    }

    /// The actor holding `key_id` and the key, from the cache unless `fresh`. The key's owner and
    /// the actor's `publicKey.id` must name each other.
    pub async fn signer(
        &self,
        store: &Store,
        key_id: &str,
        fresh: bool,
    ) -> Result<(RemoteActor, PublicKey), FetchObjectError> {
        if !fresh {
            if let Some(actor) = store.remote_actor_by_key(key_id)? {
                return Ok((actor.clone(), public_key(&actor, key_id)?));
            }
        }
        let actor_url = key_actor_url(key_id);
        let doc = self.object(&actor_url).await?;
        let actor = if doc.get("inbox").is_some() {
            actor_from_document(&actor_url, &doc, Some(key_id), self.clock.now_ms())?
        } else if let Some(owner) = doc.get("owner").and_then(Value::as_str) {
            // A key published as its own document (keyId without a fragment): its owner is the
            // actor, which must publish the same key id.
            if !same_authority(owner, key_id) {
                return Err(key_error(
                    key_id,
                    format!("its owner {owner} is on another host"),
                ));
            }
            let owner_doc = self.object(owner).await?;
            actor_from_document(owner, &owner_doc, Some(key_id), self.clock.now_ms())?
        } else {
            return Err(FetchObjectError::NotAnActor { url: actor_url });
        };
        if actor.key_id.as_deref() != Some(key_id) {
            return Err(key_error(
                key_id,
                format!("the actor {} does not publish this key", actor.id),
            ));
        }
        store.upsert_remote_actor(&actor)?;
        let key = public_key(&actor, key_id)?;
        Ok((actor, key))
    }

    /// Whether a key from `key_id`'s host may be refetched now ([`KEY_REFETCH_INTERVAL_MS`]);
    /// claiming it records the time.
    pub fn may_refetch_key(&self, store: &Store, key_id: &str) -> Result<bool, StoreError> {
        let host = Url::parse(key_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        store.claim_key_refetch(&host, self.clock.now_ms(), KEY_REFETCH_INTERVAL_MS)
    }
}

fn key_error(key_id: &str, why: String) -> FetchObjectError {
    FetchObjectError::Key {
        key_id: key_id.to_string(),
        why,
    }
}

fn public_key(actor: &RemoteActor, key_id: &str) -> Result<PublicKey, FetchObjectError> {
    let pem = actor
        .public_key_pem
        .as_deref()
        .ok_or_else(|| key_error(key_id, format!("{} publishes no key", actor.id)))?;
    PublicKey::from_pem(pem).map_err(|source| FetchObjectError::BadKey {
        key_id: key_id.to_string(),
        source,
    })
}

/// `url` parsed, when it is an absolute http(s) URL with a host.
fn fetchable(url: &str) -> Result<Url, FetchObjectError> {
    Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| FetchObjectError::BadUrl {
            url: url.to_string(),
        })
}

/// The value of header `name` when it is text, else `""`.
pub fn header_str(headers: &HeaderMap, name: http::header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn doc_id(doc: &Value) -> Option<&str> {
    doc.get("id").and_then(Value::as_str)
}

/// The actor URL a `keyId` names: the keyId without its fragment (`.../users/a#main-key`).
pub fn key_actor_url(key_id: &str) -> String {
    key_id.split('#').next().unwrap_or(key_id).to_string()
}

/// Whether two URLs share scheme-less authority: host and port (`a.example:8443`). This is the
/// origin rule of ActivityPub ids (an actor speaks only for documents on its own host).
pub fn same_authority(a: &str, b: &str) -> bool {
    match (authority(a), authority(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// `host[:port]` of a URL, lowercase, the default port left out.
pub fn authority(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// A string, or the `id` (or `href`) of an embedded object.
pub fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => o
            .get("id")
            .or_else(|| o.get("href"))
            .and_then(Value::as_str),
        _ => None,
    }
}

/// Reads an actor document fetched from `url` at `fetched_at` (unix ms). When `want_key` is given
/// and `publicKey` is a list, the key with that id is kept. A key whose `owner` names another
/// actor is ignored.
pub fn actor_from_document(
    url: &str,
    doc: &Value,
    want_key: Option<&str>,
    fetched_at: i64,
) -> Result<RemoteActor, FetchObjectError> {
    let id = doc_id(doc).unwrap_or(url).to_string();
    let inbox = doc
        .get("inbox")
        .and_then(Value::as_str)
        .filter(|i| same_authority(i, &id))
        .ok_or_else(|| FetchObjectError::NotAnActor {
            url: url.to_string(),
        })?
        .to_string();
    let keys: Vec<&Value> = match doc.get("publicKey") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(k @ Value::Object(_)) => vec![k],
        _ => vec![],
    };
    let key = keys
        .iter()
        .find(|k| want_key.is_some() && k.get("id").and_then(Value::as_str) == want_key)
        .or_else(|| keys.first())
        .filter(|k| {
            k.get("owner")
                .and_then(Value::as_str)
                .is_none_or(|owner| owner == id)
        });
    let shared_inbox = doc
        .get("endpoints")
        .and_then(|e| e.get("sharedInbox"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let host = authority(&id).unwrap_or_default();
    Ok(RemoteActor {
        inbox,
        shared_inbox,
        key_id: key
            .and_then(|k| k.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string),
        public_key_pem: key
            .and_then(|k| k.get("publicKeyPem"))
            .and_then(Value::as_str)
            .map(str::to_string),
        handle: doc
            .get("preferredUsername")
            .and_then(Value::as_str)
            .map(|u| format!("{u}@{host}")),
        name: doc.get("name").and_then(Value::as_str).map(str::to_string),
        url: doc.get("url").and_then(id_of).map(str::to_string),
        document: doc.to_string(),
        fetched_at,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FETCHED_AT: i64 = 1_795_000_000_000;

    fn doc() -> Value {
        json!({
            "id": "https://r.example/users/a",
            "type": "Person",
            "preferredUsername": "a",
            "inbox": "https://r.example/users/a/inbox",
            "endpoints": { "sharedInbox": "https://r.example/inbox" },
            "publicKey": {
                "id": "https://r.example/users/a#main-key",
                "owner": "https://r.example/users/a",
                "publicKeyPem": "PEM"
            }
        })
    }

    #[test]
    fn can_read_an_actor_and_its_key() {
        let a = actor_from_document("https://r.example/users/a", &doc(), None, FETCHED_AT).unwrap();
        assert_eq!(
            a.key_id.as_deref(),
            Some("https://r.example/users/a#main-key")
        );
        assert_eq!(a.shared_inbox.as_deref(), Some("https://r.example/inbox"));
        assert_eq!(a.handle.as_deref(), Some("a@r.example"));
    }

    #[test]
    fn rejects_a_key_owned_by_another_actor() {
        let mut d = doc();
        d["publicKey"]["owner"] = json!("https://r.example/users/b");
        let a = actor_from_document("https://r.example/users/a", &d, None, FETCHED_AT).unwrap();
        assert_eq!(a.key_id, None);
        assert_eq!(a.public_key_pem, None);
    }

    #[test]
    fn rejects_an_actor_whose_inbox_is_on_another_host() {
        let mut d = doc();
        d["inbox"] = json!("https://evil.example/inbox");
        assert!(matches!(
            actor_from_document("https://r.example/users/a", &d, None, FETCHED_AT),
            Err(FetchObjectError::NotAnActor { .. })
        ));
    }

    #[test]
    fn can_pick_the_wanted_key_from_a_list() {
        let mut d = doc();
        d["publicKey"] = json!([
            { "id": "https://r.example/users/a#k1", "owner": "https://r.example/users/a", "publicKeyPem": "ONE" },
            { "id": "https://r.example/users/a#k2", "owner": "https://r.example/users/a", "publicKeyPem": "TWO" },
        ]);
        let a = actor_from_document(
            "https://r.example/users/a",
            &d,
            Some("https://r.example/users/a#k2"),
            FETCHED_AT,
        )
        .unwrap();
        assert_eq!(a.public_key_pem.as_deref(), Some("TWO"));
    }

    #[test]
    fn can_find_the_actor_of_a_key_id_and_compare_origins() {
        assert_eq!(
            key_actor_url("https://r.example/users/a#main-key"),
            "https://r.example/users/a"
        );
        assert_eq!(
            key_actor_url("https://r.example/key/1"),
            "https://r.example/key/1"
        );
        assert!(same_authority(
            "https://R.example/a",
            "https://r.example:443/b"
        ));
        assert!(!same_authority(
            "http://127.0.0.1:1/a",
            "http://127.0.0.1:2/a"
        ));
        assert!(!same_authority("https://r.example/a", "not a url"));
    }
}
