//! Fetching remote ActivityPub documents: actors, their keys, and objects.
//!
//! This module owns how masthead reads other servers: every GET of an ActivityPub document is
//! signed as the instance actor (servers running "authorized fetch" answer 401 otherwise; a
//! WebFinger lookup, [`Fetcher::jrd`], is public and goes unsigned), asks for ActivityPub JSON, and is
//! trusted only if the answer is an ActivityPub content type whose `id` has the origin (scheme,
//! host, port) of the URL that finally answered, redirects followed (Mastodon's rule). A document
//! naming another id is refetched once by that id and used only if that answer names itself.
//! Actors and keys are cached in the store (`remote_actors`); a cached key is found by its id and
//! its owner together, and a key is only accepted when it and the actor name each other
//! (`publicKey.owner` and `publicKey.id`) on the actor's origin.
//!
//! It also owns the rule for what other servers' data may hold once stored: [`safe_remote_url`]
//! (the one test of a remote URL, for ids, links and images alike) and [`plain_text`] (names and
//! other text, without control characters). A host that could not be reached (connect error,
//! timeout, 5xx) is not asked again for [`HOST_DOWN_MS`], so one sender cannot make masthead
//! fetch for nothing over and over.
//! When an actor was cached and when a host's key may be refetched are read from the injected
//! [`Clock`]; only the signatures' `Date` carries the wall time.
//!
//! A key parsed from its PEM is kept in memory by its id ([`MAX_PARSED_KEYS`] at most), with a
//! digest of the PEM it came from: it is used only while the cached actor still publishes that
//! PEM, so a key refetched or rotated (by a refetch, an `Update`, anything that rewrites the
//! cached actor) is parsed again, never verified against its old value.
//!
//! It does not decide whether a request is trusted (the inbox does, with [`Fetcher::signer`]),
//! and it does not retry: a failed fetch is the caller's to report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// How long a host that could not be reached (connect error, timeout, 5xx, 429) is left alone:
/// fetches from it fail at once with [`FetchObjectError::HostDown`] for one minute. Long enough
/// that a burst of signed requests naming one dead host costs one fetch; short enough that a
/// server back from a restart is heard again before its senders' first retry (Mastodon retries
/// after a few minutes).
pub const HOST_DOWN_MS: i64 = 60 * 1000;

/// Most hosts remembered as down at once; past it the oldest entries are forgotten first.
const MAX_HOSTS_DOWN: usize = 4096;

/// Most parsed keys kept at once (about 350 bytes each); past it one is forgotten for each new
/// one, and parsed again when it is next used.
pub const MAX_PARSED_KEYS: usize = 2048;

/// Parsed public keys by key id, each with the SHA-256 of the PEM it was parsed from.
#[derive(Default)]
struct ParsedKeys {
    keys: HashMap<String, ([u8; 32], PublicKey)>,
}

/// The actor holding a key, the key, and whether both came from the cache (a key that fails to
/// verify is worth refetching only then).
#[derive(Debug)]
pub struct Signer {
    pub actor: RemoteActor,
    pub key: PublicKey,
    pub cached: bool,
}

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
    /// The document's id is not on the origin that answered, even after one refetch by id.
    #[error("fetching {url}: the document's id is {id:?}, which is not what the origin of {answered} serves")]
    IdMismatch {
        url: String,
        id: String,
        /// The URL that finally answered, redirects followed.
        answered: String,
    },
    /// The host failed moments ago and is left alone for [`HOST_DOWN_MS`].
    #[error(
        "not fetching {url}: {host} could not be reached moments ago (retry in {retry_after_s} s)"
    )]
    HostDown {
        url: String,
        host: String,
        retry_after_s: u64,
    },
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

    /// Whether the remote said `410 Gone`: deleted for good, not merely not found.
    pub fn is_deleted(&self) -> bool {
        matches!(self, FetchObjectError::Status { status: 410, .. })
    }

    /// Whether the server could not be reached now (connect error, timeout, 5xx, 429, or left
    /// alone after such a failure): trying again later may work.
    pub fn is_unavailable(&self) -> bool {
        match self {
            FetchObjectError::Fetch(e) => {
                matches!(**e, FetchError::Connect { .. } | FetchError::Timeout { .. })
            }
            FetchObjectError::Status { status, .. } => *status >= 500 || *status == 429,
            FetchObjectError::HostDown { .. } => true,
            _ => false,
        }
    }

    /// Seconds after which a fetch that failed this way may be tried again, when it is
    /// [`FetchObjectError::is_unavailable`].
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            FetchObjectError::HostDown { retry_after_s, .. } => Some(*retry_after_s),
            e if e.is_unavailable() => Some((HOST_DOWN_MS / 1000) as u64),
            _ => None,
        }
    }
}

/// Signed GETs of remote documents, as the instance actor.
#[derive(Clone)]
pub struct Fetcher {
    client: Client,
    key: Arc<SigningKey>,
    /// Stamps cached actors and limits key refetches; signatures carry the wall time regardless.
    clock: Clock,
    /// `[dev] allow_http`: whether `http:` ids and links are taken from other servers.
    allow_http: bool,
    /// Hosts that could not be reached, and until when (by [`Fetcher::clock`]) they are left alone.
    down: Arc<Mutex<HashMap<String, i64>>>,
    parsed: Arc<Mutex<ParsedKeys>>,
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
            allow_http: site.dev.allow_http,
            down: Arc::default(),
            parsed: Arc::default(),
        })
    }

    /// Whether `http:` URLs from other servers are taken (`[dev] allow_http`).
    pub fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// GETs `url` and returns the document, checked: 2xx, an ActivityPub content type, a JSON
    /// object whose `id` has the origin of the URL that finally answered (redirects followed).
    /// A document naming another id (or served from another origin than its id's) is refetched
    /// once by that id, and used only if that answer's id is the id asked for, from its origin.
    pub async fn object(&self, url: &str) -> Result<Value, FetchObjectError> {
        let (doc, answered) = self.get(url).await?;
        let id = doc_id(&doc)
            .filter(|id| safe_remote_url(id, self.allow_http).is_some())
            .unwrap_or_default()
            .to_string();
        if id == url && same_origin(&id, answered.as_str()) {
            return Ok(doc);
        }
        // The same URL again would be redirected the same way: only another id is worth a look.
        if !id.is_empty() && id != url {
            let (again, answered) = self.get(&id).await?;
            if doc_id(&again) == Some(id.as_str()) && same_origin(&id, answered.as_str()) {
                return Ok(again);
            }
            return Err(FetchObjectError::IdMismatch {
                url: id.clone(),
                id: doc_id(&again).unwrap_or_default().to_string(),
                answered: answered.to_string(),
            });
        }
        Err(FetchObjectError::IdMismatch {
            url: url.to_string(),
            id,
            answered: answered.to_string(),
        })
    }

    /// The host of `url` when it is left alone after a failure, with the seconds left.
    fn host_down(&self, host: &str) -> Option<u64> {
        let now = self.clock.now_ms();
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match down.get(host) {
            Some(&until) if until > now => Some(((until - now + 999) / 1000) as u64),
            Some(_) => {
                down.remove(host);
                None
            }
            None => None,
        }
    }

    fn remember_down(&self, host: &str) {
        let now = self.clock.now_ms();
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if down.len() >= MAX_HOSTS_DOWN {
            down.retain(|_, until| *until > now);
            if down.len() >= MAX_HOSTS_DOWN {
                if let Some(oldest) = down.iter().min_by_key(|(_, u)| **u).map(|(h, _)| h.clone()) {
                    down.remove(&oldest);
                }
            }
        }
        down.insert(host.to_string(), now + HOST_DOWN_MS);
    }

    /// One GET: the document and the URL that finally answered. A host that failed moments ago
    /// is not asked; one that fails now is remembered ([`HOST_DOWN_MS`]).
    async fn get(&self, url: &str) -> Result<(Value, Url), FetchObjectError> {
        let parsed = fetchable(url)?;
        let host = authority(url).unwrap_or_default();
        if let Some(retry_after_s) = self.host_down(&host) {
            return Err(FetchObjectError::HostDown {
                url: url.to_string(),
                host,
                retry_after_s,
            });
        }
        let got = self.get_once(url, parsed).await;
        if let Err(e) = &got {
            if e.is_unavailable() {
                tracing::info!(host = %host, error = %e, "host unavailable; left alone for a while");
                self.remember_down(&host);
            }
        }
        got
    }

    async fn get_once(&self, url: &str, parsed: Url) -> Result<(Value, Url), FetchObjectError> {
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
            Ok(v) if v.is_object() => Ok((v, resp.final_url)),
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
        let actor = self.fetch_actor(id).await?;
        store.upsert_remote_actor(&actor)?;
        Ok(actor)
    }

    /// The actor `id`, fetched and checked but not cached: what is judged before it is kept (the
    /// target of a Move). Its document must name `id` itself.
    pub async fn fetch_actor(&self, id: &str) -> Result<RemoteActor, FetchObjectError> {
        let doc = self.object(id).await?;
        let actor = actor_from_document(id, &doc, None, self.clock.now_ms(), self.allow_http)?;
        if actor.id != id {
            return Err(FetchObjectError::IdMismatch {
                url: id.to_string(),
                id: actor.id,
                answered: id.to_string(),
            });
        }
        Ok(actor)
    }

    /// The actor `owner` holding `key_id`, and the key, from the cache unless `fresh` (the
    /// cached actor read once). The cache is asked for the key by its id *and* its owner
    /// (another actor advertising the same key id must not stand in for the owner); a fetched
    /// key's owner and the actor's `publicKey.id` must name each other on one origin. The caller
    /// still compares the returned actor with `owner`.
    pub async fn signer(
        &self,
        store: &Store,
        key_id: &str,
        owner: &str,
        fresh: bool,
    ) -> Result<Signer, FetchObjectError> {
        if !fresh {
            if let Some(actor) = self.cached_signer(store, key_id, owner)? {
                let key = self.public_key(&actor, key_id)?;
                return Ok(Signer {
                    actor,
                    key,
                    cached: true,
                });
            }
        }
        let now = self.clock.now_ms();
        let actor_url = key_actor_url(key_id);
        let doc = self.object(&actor_url).await?;
        let actor = if doc.get("inbox").is_some() {
            actor_from_document(&actor_url, &doc, Some(key_id), now, self.allow_http)?
        } else if let Some(owner) = doc.get("owner").and_then(Value::as_str) {
            // A key published as its own document (keyId without a fragment): its owner is the
            // actor, which must publish the same key id.
            if !same_origin(owner, key_id) {
                return Err(key_error(
                    key_id,
                    format!("its owner {owner} is on another origin"),
                ));
            }
            let owner_doc = self.object(owner).await?;
            actor_from_document(owner, &owner_doc, Some(key_id), now, self.allow_http)?
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
        let key = self.public_key(&actor, key_id)?;
        Ok(Signer {
            actor,
            key,
            cached: false,
        })
    }

    /// The key `key_id` that `actor` publishes: parsed from its PEM, or as parsed before from
    /// the same PEM.
    fn public_key(&self, actor: &RemoteActor, key_id: &str) -> Result<PublicKey, FetchObjectError> {
        let pem = actor
            .public_key_pem
            .as_deref()
            .ok_or_else(|| key_error(key_id, format!("{} publishes no key", actor.id)))?;
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pem.as_bytes())
                .as_ref()
                .try_into()
                .unwrap_or_default();
        let lock = || self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, key)) = lock().keys.get(key_id) {
            if *seen == digest {
                return Ok(key.clone());
            }
        }
        let key = PublicKey::from_pem(pem).map_err(|source| FetchObjectError::BadKey {
            key_id: key_id.to_string(),
            source,
        })?;
        let mut parsed = lock();
        if parsed.keys.len() >= MAX_PARSED_KEYS && !parsed.keys.contains_key(key_id) {
            if let Some(any) = parsed.keys.keys().next().cloned() {
                parsed.keys.remove(&any);
            }
        }
        parsed
            .keys
            .insert(key_id.to_string(), (digest, key.clone()));
        Ok(key)
    }

    /// The cached actor `owner`, when it publishes `key_id`.
    pub fn cached_signer(
        &self,
        store: &Store,
        key_id: &str,
        owner: &str,
    ) -> Result<Option<RemoteActor>, StoreError> {
        Ok(store
            .remote_actor(owner)?
            .filter(|a| a.key_id.as_deref() == Some(key_id)))
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

/// Whether two URLs share scheme-less authority: host and port (`a.example:8443`). Kept for
/// grouping by server (delivery, addressing); an origin check on ids is [`same_origin`].
pub fn same_authority(a: &str, b: &str) -> bool {
    match (authority(a), authority(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Whether two http(s) URLs have one origin: scheme, host and port (the default port spelt or
/// not). This is the origin rule of ActivityPub ids: an actor speaks only for documents on its
/// own origin, and `javascript://<its host>/` is not its origin.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (http_origin(a), http_origin(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn http_origin(url: &str) -> Option<url::Origin> {
    parsed_origin(&Url::parse(url).ok()?)
}

/// The origin of a parsed http(s) URL with a host, as [`same_origin`] compares them (for a
/// caller holding URLs parsed once).
pub fn parsed_origin(u: &Url) -> Option<url::Origin> {
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return None;
    }
    Some(u.origin())
}

/// `host[:port]` of a URL, lowercase, the default port left out.
pub fn authority(url: &str) -> Option<String> {
    parsed_authority(&Url::parse(url).ok()?)
}

/// [`authority`] of a URL already parsed.
pub fn parsed_authority(u: &Url) -> Option<String> {
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// Longest URL taken from another server.
const MAX_REMOTE_URL: usize = 4096;

/// The one rule for a URL that came from another server, whether an id or a link or image kept
/// for our pages and `comments.json`: an absolute `https:` URL (`http:` too when `allow_http`,
/// `[dev] allow_http`) with a host and no user name or password, written without spaces or
/// control characters. Returns it as the URL parser writes it (so what is stored is what was
/// checked), or `None`: `javascript:`, `data:`, `vbscript:`, relative and entity-encoded
/// schemes are all just "not https".
pub fn safe_remote_url(url: &str, allow_http: bool) -> Option<String> {
    let u = Url::parse(url).ok()?;
    is_safe_remote_url(url, &u, allow_http).then(|| u.to_string())
}

/// Whether `url`, parsed as `parsed`, passes [`safe_remote_url`] (for a caller holding it parsed
/// once, that keeps the text it was given).
pub fn is_safe_remote_url(url: &str, parsed: &Url, allow_http: bool) -> bool {
    if url.len() > MAX_REMOTE_URL || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let u = parsed;
    let scheme_ok = u.scheme() == "https" || (allow_http && u.scheme() == "http");
    let host_ok = u.host_str().is_some_and(|h| !h.is_empty());
    let no_userinfo = u.username().is_empty() && u.password().is_none();
    scheme_ok && host_ok && no_userinfo
}

/// Text from another server (a name, a report's comment) as plain text: control characters
/// (terminal escapes among them) and bidirectional overrides removed, line breaks and tabs made
/// spaces. HTML stays literal text here; whoever renders it escapes it.
pub fn plain_text(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => None,
            c => Some(c),
        })
        .collect()
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

/// Reads an actor document fetched from `url` at `fetched_at` (unix ms). The id must be a
/// [`safe_remote_url`]; `inbox` on its origin (else it is no actor we can answer); a key is kept
/// only when its id is on the actor's origin and its `owner` (if given) is the actor, and when
/// `want_key` is given and `publicKey` is a list, the key with that id is kept. A `sharedInbox`
/// on another origin is dropped: it would point our signed deliveries anywhere. Names are
/// [`plain_text`], the profile link a [`safe_remote_url`], and the document is kept
/// [`scrubbed`](scrub_document).
pub fn actor_from_document(
    url: &str,
    doc: &Value,
    want_key: Option<&str>,
    fetched_at: i64,
    allow_http: bool,
) -> Result<RemoteActor, FetchObjectError> {
    let not_an_actor = || FetchObjectError::NotAnActor {
        url: url.to_string(),
    };
    let id = doc_id(doc).unwrap_or(url).to_string();
    if safe_remote_url(&id, allow_http).is_none() {
        return Err(not_an_actor());
    }
    let on_origin = |u: &&str| same_origin(u, &id) && safe_remote_url(u, allow_http).is_some();
    let inbox = doc
        .get("inbox")
        .and_then(Value::as_str)
        .filter(on_origin)
        .ok_or_else(not_an_actor)?
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
            k.get("id")
                .and_then(Value::as_str)
                .is_some_and(|k| same_origin(k, &id))
                && k.get("owner")
                    .and_then(Value::as_str)
                    .is_none_or(|owner| owner == id)
        });
    let shared_inbox = doc
        .get("endpoints")
        .and_then(|e| e.get("sharedInbox"))
        .and_then(Value::as_str)
        .filter(on_origin)
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
            .map(plain_text)
            .filter(|u| !u.is_empty())
            .map(|u| format!("{u}@{host}")),
        name: doc.get("name").and_then(Value::as_str).map(plain_text),
        url: doc
            .get("url")
            .and_then(first_link)
            .and_then(|u| safe_remote_url(u, allow_http)),
        document: scrub_document(doc, allow_http).to_string(),
        fetched_at,
        id,
    })
}

/// The first link of a `url` value: a string, a `Link` object's `href`, or the first of a list.
fn first_link(v: &Value) -> Option<&str> {
    match v {
        Value::Array(list) => list.iter().find_map(first_link),
        v => id_of(v),
    }
}

/// Keys whose values are links or images (a URL, or objects and lists holding them).
const URL_KEYS: [&str; 4] = ["url", "href", "icon", "image"];

/// Keys whose values are HTML from the sender (`value` is a profile field's, in Mastodon).
const HTML_KEYS: [&str; 5] = ["content", "summary", "value", "contentMap", "summaryMap"];

/// Keys whose values are plain text.
const TEXT_KEYS: [&str; 3] = ["name", "preferredUsername", "nameMap"];

/// A remote document made safe to keep for our pages: every link or image URL (`url`, `href`,
/// `icon`, `image`, at any depth: attachments, tags, emoji) that is not a [`safe_remote_url`] is
/// removed, HTML (`content`, `summary`, profile field values) is cleaned with
/// [`sanitize_remote`](crate::content::render::sanitize_remote), and names are [`plain_text`].
pub fn scrub_document(doc: &Value, allow_http: bool) -> Value {
    let mut doc = doc.clone();
    scrub(&mut doc, Scrub::Walk, allow_http);
    doc
}

#[derive(Clone, Copy, PartialEq)]
enum Scrub {
    Walk,
    Url,
    Html,
    Text,
}

/// Scrubs `v` in place as `how`; false when it is to be removed.
fn scrub(v: &mut Value, how: Scrub, allow_http: bool) -> bool {
    match v {
        Value::String(s) => match how {
            Scrub::Url => match safe_remote_url(s, allow_http) {
                Some(safe) => {
                    *s = safe;
                    true
                }
                None => false,
            },
            Scrub::Html => {
                *s = crate::content::render::sanitize_remote(s);
                true
            }
            Scrub::Text => {
                *s = plain_text(s);
                true
            }
            Scrub::Walk => true,
        },
        Value::Array(list) => {
            list.retain_mut(|item| scrub(item, how, allow_http));
            true
        }
        Value::Object(map) => {
            map.retain(|key, value| {
                let key = key.as_str();
                let inner = if URL_KEYS.contains(&key) {
                    Scrub::Url
                } else if HTML_KEYS.contains(&key) {
                    Scrub::Html
                } else if TEXT_KEYS.contains(&key) {
                    Scrub::Text
                } else if how == Scrub::Url {
                    // Inside a link object, only its link keys are links.
                    Scrub::Walk
                } else {
                    how
                };
                scrub(value, inner, allow_http)
            });
            true
        }
        _ => true,
    }
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

    const TEST_KEY: &str = include_str!("../../tests/fixtures/keys/test-actor.pem");
    const TEST_PUB: &str = include_str!("../../tests/fixtures/keys/test-actor.pub.pem");
    const OTHER_PUB: &str = include_str!("../../tests/fixtures/keys/other-actor.pub.pem");

    fn fetcher(dir: &std::path::Path) -> Fetcher {
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        let site = Site::parse(&dir.join("site.toml"), text).unwrap().site;
        let pair = KeyPair {
            private_pem: TEST_KEY.into(),
            public_pem: TEST_PUB.into(),
            created_at: chrono::Utc::now(),
        };
        let key_id = "https://s.example/actor#main-key";
        Fetcher::new(&site, key_id, &pair, Clock::manual(FETCHED_AT)).unwrap()
    }

    fn holding(key_id: &str, pem: &str) -> RemoteActor {
        RemoteActor {
            id: key_actor_url(key_id),
            inbox: "https://r.example/inbox".into(),
            shared_inbox: None,
            key_id: Some(key_id.into()),
            public_key_pem: Some(pem.into()),
            handle: None,
            name: None,
            url: None,
            document: "{}".into(),
            fetched_at: FETCHED_AT,
        }
    }

    #[test]
    fn can_reuse_a_parsed_key_only_while_the_actor_publishes_the_same_pem() {
        let dir = tempfile::tempdir().unwrap();
        let f = fetcher(dir.path());
        let id = "https://r.example/users/a#main-key";
        let first = f.public_key(&holding(id, TEST_PUB), id).unwrap();
        assert_eq!(first, PublicKey::from_pem(TEST_PUB).unwrap());
        assert_eq!(f.public_key(&holding(id, TEST_PUB), id).unwrap(), first);
        // The key rotated (refetched, or an Update): the new PEM is parsed, not the old key used.
        let rotated = f.public_key(&holding(id, OTHER_PUB), id).unwrap();
        assert_eq!(rotated, PublicKey::from_pem(OTHER_PUB).unwrap());
        assert_ne!(rotated, first);
        // A PEM that no longer parses is refused, whatever was parsed before.
        assert!(matches!(
            f.public_key(&holding(id, "not a key"), id),
            Err(FetchObjectError::BadKey { .. })
        ));
        assert_eq!(f.public_key(&holding(id, TEST_PUB), id).unwrap(), first);
    }

    #[test]
    fn can_keep_a_bounded_number_of_parsed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let f = fetcher(dir.path());
        for n in 0..MAX_PARSED_KEYS + 10 {
            let id = format!("https://r.example/users/{n}#main-key");
            f.public_key(&holding(&id, TEST_PUB), &id).unwrap();
        }
        assert_eq!(f.parsed.lock().unwrap().keys.len(), MAX_PARSED_KEYS);
    }

    /// [`actor_from_document`] of `d` fetched from `https://r.example/users/a`, no key wanted,
    /// https only.
    fn read(d: &Value) -> Result<RemoteActor, FetchObjectError> {
        actor_from_document("https://r.example/users/a", d, None, FETCHED_AT, false)
    }

    #[test]
    fn can_read_an_actor_and_its_key() {
        let a = read(&doc()).unwrap();
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
        let a = read(&d).unwrap();
        assert_eq!(a.key_id, None);
        assert_eq!(a.public_key_pem, None);
    }

    #[test]
    fn rejects_an_actor_whose_inbox_is_on_another_host() {
        let mut d = doc();
        d["inbox"] = json!("https://evil.example/inbox");
        assert!(matches!(read(&d), Err(FetchObjectError::NotAnActor { .. })));
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
            false,
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
        for (a, b, same) in [
            ("https://R.example/a", "https://r.example:443/b", true),
            ("http://127.0.0.1:1/a", "http://127.0.0.1:2/a", false),
            ("https://r.example/a", "not a url", false),
        ] {
            assert_eq!(same_authority(a, b), same, "{a} vs {b}");
        }
    }

    #[test]
    fn rejects_urls_that_are_not_https() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "javascript://r.example/%0Aalert(1)",
            "java&#115;cript:alert(1)",
            "&#106;avascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "/relative/path",
            "//r.example/x",
            "https://victim@evil.example/x",
            " https://r.example/x",
            "https://r.example/\nx",
            "http://r.example/x",
            "ftp://r.example/x",
        ] {
            assert_eq!(safe_remote_url(bad, false), None, "{bad}");
        }
        assert_eq!(
            safe_remote_url("HTTPS://R.example/a b", false),
            None,
            "spaces are refused, not encoded"
        );
        assert_eq!(
            safe_remote_url("HTTPS://R.example/@a", false).as_deref(),
            Some("https://r.example/@a")
        );
        assert_eq!(
            safe_remote_url("http://127.0.0.1:8080/x", true).as_deref(),
            Some("http://127.0.0.1:8080/x")
        );
    }

    #[test]
    fn can_compare_origins_with_scheme_and_port() {
        for (a, b, same) in [
            ("https://r.example/a", "https://R.example:443/b", true),
            ("https://127.0.0.1:8443/a", "https://127.0.0.1:8443/b", true),
            (
                "https://127.0.0.1:8443/a",
                "https://127.0.0.1:8444/a",
                false,
            ),
            ("http://r.example/a", "https://r.example/a", false),
            ("javascript://r.example/a", "https://r.example/a", false),
            (
                "javascript://r.example/a",
                "javascript://r.example/a",
                false,
            ),
        ] {
            assert_eq!(same_origin(a, b), same, "{a} vs {b}");
        }
    }

    #[test]
    fn rejects_a_key_or_shared_inbox_off_the_actors_origin() {
        let mut d = doc();
        d["publicKey"]["id"] = json!("https://victim.example/users/v#main-key");
        d["publicKey"]["owner"] = json!("https://r.example/users/a");
        d["endpoints"]["sharedInbox"] = json!("https://victim.example/inbox");
        let a = read(&d).unwrap();
        assert_eq!(a.key_id, None);
        assert_eq!(a.shared_inbox, None);
        let mut d = doc();
        d["inbox"] = json!("http://r.example/users/a/inbox");
        assert!(matches!(
            actor_from_document("https://r.example/users/a", &d, None, FETCHED_AT, true),
            Err(FetchObjectError::NotAnActor { .. })
        ));
    }

    #[test]
    fn can_keep_only_safe_links_and_text_of_an_actor() {
        let mut d = doc();
        d["name"] = json!("Ann\u{1b}[2J<script>alert(1)</script>");
        d["url"] = json!("javascript:alert(1)");
        d["summary"] =
            json!("<p onclick=\"x()\">bio <a href=\"https://s.example\" rel=\"me\">site</a></p>");
        d["icon"] = json!({ "type": "Image", "url": "data:image/svg+xml,<svg onload=alert(1)>" });
        d["image"] = json!("vbscript:msgbox(1)");
        d["attachment"] = json!([
            { "type": "PropertyValue", "name": "Site", "value": "<a href=\"javascript:x()\" rel=\"me\">x</a>" },
            { "type": "Document", "url": "JAVASCRIPT:alert(1)" },
        ]);
        d["tag"] = json!([
            { "type": "Hashtag", "href": "javascript:alert(1)", "name": "#x" },
            { "type": "Emoji", "icon": { "url": "https://r.example/e.png" } },
        ]);
        let a = read(&d).unwrap();
        assert_eq!(a.name.as_deref(), Some("Ann[2J<script>alert(1)</script>"));
        assert_eq!(a.url, None);
        let kept: Value = serde_json::from_str(&a.document).unwrap();
        assert_eq!(
            kept["summary"],
            "<p>bio <a href=\"https://s.example\" rel=\"nofollow noopener ugc\">site</a></p>"
        );
        assert_eq!(kept["icon"], json!({ "type": "Image" }));
        assert!(kept.get("image").is_none());
        assert_eq!(
            kept["attachment"][0]["value"],
            "<a rel=\"nofollow noopener ugc\">x</a>"
        );
        assert!(kept["attachment"][1].get("url").is_none());
        assert!(kept["tag"][0].get("href").is_none());
        assert_eq!(kept["tag"][1]["icon"]["url"], "https://r.example/e.png");
        let text = a.document.to_ascii_lowercase();
        for active in ["javascript:", "data:", "vbscript:", "onclick", "rel=\\\"me"] {
            assert!(!text.contains(active), "{active} in {text}");
        }
    }

    #[test]
    fn can_strip_control_characters_from_text() {
        assert_eq!(
            plain_text("a\u{1b}[31mb\u{9b}c\u{7}\r\nd\u{202e}e"),
            "a[31mbc  de"
        );
    }
}
