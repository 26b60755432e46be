//! The inbox: verifying what other servers POST to `/inbox` and `/users/{h}/inbox`, and acting on
//! it later from a durable queue.
//!
//! [`receive`] runs while the sender waits, and only checks: media type, JSON, the signature
//! (parsed before anything is fetched), that nothing claims to be us, that ids are on the actor's
//! host, that neither the key nor the actor lives on a blocked domain (403 before any fetch), the
//! key (cached, fetched, or refetched once per host per 10 minutes when verification fails), that
//! the key belongs to the activity's `actor`, and that the activity id is new. It then records the
//! activity in `inbox_activities` and answers 202. Nothing else is changed by a request.
//!
//! [`run_worker`] processes queued rows (also those left by a crash, at the next start): each
//! activity becomes an [`InboxEvent`] (plain serde data a plugin could judge), the
//! [`moderation::judge`] verdict is applied, and the effects follow: followers, Accept/Reject
//! deliveries (queued after the 202, so they never race it), counts, replies and their comments
//! files, reports.
//!
//! Retry policy of a failed job (a fetch that failed, the store busy): retried after 1, 4, 16 and
//! 64 minutes, then marked failed; an activity nobody can act on (unknown type, not about us) is
//! done, not failed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::fetch::Fetcher;
use super::fetch::{authority, id_of, same_authority, FetchObjectError};
use super::signatures::{self, SignatureError};
use crate::catalog::{Catalog, SharedCatalog};
use crate::clock::now_ms;
use crate::clock::Clock;
use crate::config::Site;
use crate::moderation::Blocks;
use crate::moderation::{self, Verdict};
use crate::store::{
    FollowState, Follower, InboxActivity, InteractionKind, NewDelivery, NewInboxActivity, Reply,
    ReplyStatus, Report, Store, StoreError,
};
use crate::urls::Urls;

/// Largest inbox body accepted (Mastodon's limit for documents).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long the worker sleeps between looks at the queue when nobody wakes it.
const POLL: Duration = Duration::from_secs(30);

/// Attempts before a job is marked failed.
const MAX_ATTEMPTS: i64 = 5;

/// The ActivityStreams public collection, in the spellings servers use.
const PUBLIC: [&str; 3] = [
    "https://www.w3.org/ns/activitystreams#Public",
    "as:Public",
    "Public",
];

/// One POST to an inbox, as read by the HTTP layer.
#[derive(Debug)]
pub struct InboxRequest {
    /// Our handle for `/users/{h}/inbox`, `None` for the shared inbox.
    pub recipient: Option<String>,
    /// The request method (POST).
    pub method: Method,
    /// The request target as on the request line (path and query).
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body (at most [`MAX_BODY_BYTES`]).
    pub body: Bytes,
}

/// What happened to an accepted request (all answer 202).
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Queued for processing.
    Queued,
    /// Seen before; nothing new.
    Duplicate,
    /// Accepted and dropped (the Delete of an actor whose key is gone).
    Ignored,
}

/// Why an inbox request was refused. [`InboxError::status`] and [`InboxError::public_message`]
/// are what the sender sees; the `Display` text is for the log.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// Not an ActivityPub media type.
    #[error("content type {0:?} is not ActivityPub JSON")]
    MediaType(String),
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// No such actor here.
    #[error("no actor {0:?} here")]
    UnknownRecipient(String),
    /// Not JSON, or not an activity.
    #[error("malformed activity: {0}")]
    Malformed(String),
    /// The signature is missing or invalid.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The signer's key could not be had.
    #[error("key {key_id} unavailable: {source}")]
    Key {
        /// The keyId.
        key_id: String,
        /// Why.
        source: Box<FetchObjectError>,
    },
    /// The key does not belong to the activity's actor.
    #[error("key {key_id} belongs to {owner}, but the activity's actor is {actor}")]
    KeyOwner {
        /// The keyId.
        key_id: String,
        /// Its owner.
        owner: String,
        /// The activity's actor.
        actor: String,
    },
    /// Something claims to come from this server.
    #[error("{0} claims to be on this server")]
    Ours(String),
    /// An id is not on the actor's host.
    #[error("{what} {id} is not on the host of the actor {actor}")]
    Origin {
        /// Which id.
        what: &'static str,
        /// The id.
        id: String,
        /// The actor.
        actor: String,
    },
    /// The key or actor is on a blocked domain, or the actor is blocked.
    #[error("{0} is blocked")]
    Blocked(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InboxError {
    /// The status answered.
    pub fn status(&self) -> StatusCode {
        match self {
            InboxError::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InboxError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            InboxError::UnknownRecipient(_) => StatusCode::NOT_FOUND,
            InboxError::Malformed(_) | InboxError::Origin { .. } | InboxError::Ours(_) => {
                StatusCode::BAD_REQUEST
            }
            InboxError::Signature(_) | InboxError::Key { .. } | InboxError::KeyOwner { .. } => {
                StatusCode::UNAUTHORIZED
            }
            InboxError::Blocked(_) => StatusCode::FORBIDDEN,
            InboxError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A message safe to send back (no key material, no internal detail).
    pub fn public_message(&self) -> &'static str {
        match self {
            InboxError::MediaType(_) => {
                "send application/activity+json or application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
            }
            InboxError::TooLarge => "activity too large (limit 1 MiB)",
            InboxError::UnknownRecipient(_) => "not found",
            InboxError::Malformed(_) => "malformed activity",
            InboxError::Signature(_) | InboxError::Key { .. } | InboxError::KeyOwner { .. } => {
                "request signature could not be verified"
            }
            InboxError::Ours(_) => "activity claims to come from this server",
            InboxError::Origin { .. } => "activity ids must be on the actor's host",
            InboxError::Blocked(_) => "forbidden",
            InboxError::Store(_) => "internal error",
        }
    }
}

/// Whether a request's `Content-Type` is one the inbox takes: `application/activity+json`,
/// `application/ld+json` (with or without the ActivityStreams profile: some servers leave it
/// out), or plain `application/json`, which older servers and relays send. Anything else (a form,
/// text) is refused with 415 before the body is looked at.
pub fn is_inbox_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/activity+json" | "application/ld+json" | "application/json"
    )
}

/// The handles the inbox works with: what it receives is checked against the site, the store and
/// the block list, and remote keys and objects are fetched as the instance actor.
pub struct Inbox {
    pub site: Arc<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    /// What is published, to find the posts a reply or a like is about.
    pub catalog: SharedCatalog,
    /// Schedules job retries.
    pub clock: Clock,
    pub fetcher: Arc<Fetcher>,
    /// Built-in blocks from `[moderation]`.
    pub moderation: Arc<Blocks>,
    /// Wakes the inbox worker when an activity is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// Wakes the delivery workers when an answer (Accept, Reject) is queued.
    pub delivery_wake: Arc<tokio::sync::Notify>,
}

impl Inbox {
    /// The current snapshot of what is published.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.current()
    }
}

/// Verifies one inbox POST and queues it; see the module docs for the order of checks.
#[tracing::instrument(skip_all, fields(recipient = ?req.recipient))]
pub async fn receive(app: &Inbox, req: InboxRequest) -> Result<Received, InboxError> {
    if let Some(h) = &req.recipient {
        if app.site.actor(h).is_none() {
            return Err(InboxError::UnknownRecipient(h.clone()));
        }
    }
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_inbox_content_type(content_type) {
        return Err(InboxError::MediaType(content_type.to_string()));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(InboxError::TooLarge);
    }
    // Signatures cover our public URL: verify against site.base_url's scheme and host, whatever
    // Host a proxy in front of us passed on.
    let mut headers = req.headers.clone();
    if let Ok(host) =
        http::HeaderValue::from_str(&crate::config::host_with_port(&app.site.base_url))
    {
        headers.insert(http::header::HOST, host);
    }
    let signed = signatures::parse_with_url_scheme(
        app.site.base_url.scheme(),
        &req.method,
        &req.target,
        &headers,
    )?;
    let activity: Value = serde_json::from_slice(&req.body)
        .map_err(|e| InboxError::Malformed(format!("not JSON: {e}")))?;
    let checked = check_activity(app.urls.base(), &activity)?;
    let key_id = signed.key_id().to_string();
    if same_authority(&key_id, app.urls.base()) {
        return Err(InboxError::Ours(key_id));
    }
    // Before any fetch: a blocked server must not see us look at it.
    for url in [&key_id, &checked.actor] {
        if app.moderation.url_blocked(url) {
            return Err(InboxError::Blocked(authority(url).unwrap_or_default()));
        }
    }

    let cached = app.store.remote_actor_by_key(&key_id)?.is_some();
    let (mut signer, mut key) = match app.fetcher.signer(&app.store, &key_id, false).await {
        Ok(found) => found,
        Err(source) => {
            // A deleted account's key is gone too; Mastodon sends its Delete anyway. Nothing can
            // be verified, so nothing is done, but the sender should stop retrying.
            if source.is_gone()
                && checked.kind == "Delete"
                && checked.object_id.as_deref() == Some(&checked.actor)
            {
                tracing::info!(actor = %checked.actor, "Delete of an actor whose key is gone; ignored");
                return Ok(Received::Ignored);
            }
            return Err(InboxError::Key {
                key_id,
                source: Box::new(source),
            });
        }
    };
    if let Err(first) = signatures::verify(&signed, &key, &req.body, SystemTime::now()) {
        // Keys rotate: refetch once, from the cache's point of view, at most once per host per
        // KEY_REFETCH_INTERVAL_MS (a forged request must not make us hammer a server).
        let retry = cached
            && matches!(first, SignatureError::BadSignature { .. })
            && app.fetcher.may_refetch_key(&app.store, &key_id)?;
        if !retry {
            return Err(first.into());
        }
        (signer, key) = app
            .fetcher
            .signer(&app.store, &key_id, true)
            .await
            .map_err(|source| InboxError::Key {
                key_id: key_id.clone(),
                source: Box::new(source),
            })?;
        signatures::verify(&signed, &key, &req.body, SystemTime::now())?;
    }
    if signer.id != checked.actor {
        return Err(InboxError::KeyOwner {
            key_id,
            owner: signer.id,
            actor: checked.actor,
        });
    }
    let body = String::from_utf8_lossy(&req.body);
    let fresh = app.store.record_inbox_activity(
        &NewInboxActivity {
            id: &checked.id,
            signer: &signer.id,
            recipient: req.recipient.as_deref(),
            kind: &checked.kind,
            body: &body,
            signature: match signed.spec() {
                signatures::Spec::Rfc9421 => "rfc9421",
                signatures::Spec::DraftCavage12 => "draft-cavage-12",
            },
        },
        now_ms(),
    )?;
    if !fresh {
        tracing::debug!(id = %checked.id, "duplicate activity");
        return Ok(Received::Duplicate);
    }
    tracing::info!(id = %checked.id, kind = %checked.kind, actor = %checked.actor, "activity queued");
    // A server that reaches us with a verified activity is up again: forget its delivery
    // failures, as Mastodon's DeliveryFailureTracker.reset! does, so an unavailable host
    // gets its deliveries again.
    let host = crate::store::inbox_host(&signer.id);
    if let Err(e) = app.store.record_delivery_success(&host) {
        tracing::warn!(host = %host, error = %e, "could not reset the delivery failures of a host");
    }
    app.wake.notify_one();
    Ok(Received::Queued)
}

/// What [`check_activity`] read from an activity.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckedActivity {
    /// The activity id.
    pub id: String,
    /// Its type.
    pub kind: String,
    /// Its actor id.
    pub actor: String,
    /// The object's id, when there is one.
    pub object_id: Option<String>,
}

/// The checks on an activity's shape and origin that need no network: `id`, `type` and `actor`
/// present; nothing on `our_base`'s host; the activity id on the actor's host; and for Create,
/// Update and Delete the object (embedded or a URL) on the actor's host too.
pub fn check_activity(our_base: &str, activity: &Value) -> Result<CheckedActivity, InboxError> {
    let malformed = |m: &str| InboxError::Malformed(m.to_string());
    let id = activity
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no id"))?;
    let kind = activity
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no type"))?;
    let actor = activity
        .get("actor")
        .and_then(id_of)
        .ok_or_else(|| malformed("no actor"))?;
    if authority(actor).is_none() || authority(id).is_none() {
        return Err(malformed("actor and id must be absolute URLs"));
    }
    for url in [actor, id] {
        if same_authority(url, our_base) {
            return Err(InboxError::Ours(url.to_string()));
        }
    }
    let origin = |what: &'static str, other: &str| {
        if same_authority(other, actor) {
            Ok(())
        } else {
            Err(InboxError::Origin {
                what,
                id: other.to_string(),
                actor: actor.to_string(),
            })
        }
    };
    origin("activity id", id)?;
    let object_id = activity.get("object").and_then(id_of).map(str::to_string);
    if matches!(kind, "Create" | "Update" | "Delete") {
        let object = object_id
            .as_deref()
            .ok_or_else(|| malformed("Create, Update and Delete need an object id"))?;
        origin("object id", object)?;
        if let Some(attributed) = activity
            .get("object")
            .and_then(|o| o.get("attributedTo"))
            .and_then(id_of)
        {
            if attributed != actor {
                return Err(InboxError::Origin {
                    what: "object attributedTo",
                    id: attributed.to_string(),
                    actor: actor.to_string(),
                });
            }
        }
    }
    Ok(CheckedActivity {
        id: id.to_string(),
        kind: kind.to_string(),
        actor: actor.to_string(),
        object_id,
    })
}

/// One of our posts, by handle and slug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRef {
    /// Our actor.
    pub handle: String,
    /// The post.
    pub slug: String,
}

/// A reply or mention, as read from a remote Note (content already sanitized).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyNote {
    /// Note id.
    pub id: String,
    /// Its page.
    pub url: Option<String>,
    /// Sanitized HTML.
    pub content_html: String,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339.
    pub updated: Option<String>,
    /// `inReplyTo`.
    pub in_reply_to: Option<String>,
    /// The post answered, when it is ours.
    pub post: Option<PostRef>,
    /// Our handles mentioned (tag or addressing).
    pub mentions: Vec<String>,
    /// Addressed to the public (else it is kept out of sight).
    pub public: bool,
}

/// What an incoming activity means for this site: plain data, so that moderation (built-in, or a
/// plugin later) judges events, not JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum InboxEvent {
    /// `Follow` of one of our actors.
    Follow {
        /// The follower.
        actor: String,
        /// Our handle.
        target: String,
        /// The Follow id.
        follow_id: String,
    },
    /// `Undo{Follow}`: by the follow id, and our handle when the Follow was embedded.
    Unfollow {
        /// The follower.
        actor: String,
        /// Our handle, when known.
        target: Option<String>,
        /// The Follow id.
        follow_id: String,
    },
    /// `Block` of one of our actors.
    Block {
        /// Who blocks.
        actor: String,
        /// Our handle.
        target: String,
    },
    /// `Like` or `Announce` of one of our posts.
    Interaction {
        /// Who.
        actor: String,
        /// The activity id.
        activity_id: String,
        /// Like or boost.
        kind: InteractionKind,
        /// Which post.
        post: PostRef,
    },
    /// `Undo` of a Like or Announce (or of something we do not know yet).
    UndoInteraction {
        /// Who.
        actor: String,
        /// The id undone.
        activity_id: String,
        /// Its kind and post, when embedded.
        kind: Option<InteractionKind>,
        /// The post, when embedded.
        post: Option<PostRef>,
    },
    /// `Create` of a Note replying to or mentioning us.
    Reply {
        /// The author.
        actor: String,
        /// The note.
        note: ReplyNote,
    },
    /// `Update` of a Note.
    ReplyEdited {
        /// The author.
        actor: String,
        /// The note as it is now.
        note: ReplyNote,
    },
    /// `Delete` of a Note.
    ReplyDeleted {
        /// The author.
        actor: String,
        /// The note id.
        object_id: String,
    },
    /// `Update` of the actor itself (profile change).
    ActorUpdated {
        /// Who.
        actor: String,
    },
    /// `Delete` of the actor itself.
    ActorDeleted {
        /// Who.
        actor: String,
    },
    /// `Move` of a follower to a new account.
    Moved {
        /// The old account.
        actor: String,
        /// The new one.
        target: String,
    },
    /// `Flag`: a report.
    Report {
        /// Who reports.
        actor: String,
        /// The Flag id.
        activity_id: String,
        /// What is reported.
        objects: Vec<String>,
        /// Their comment.
        content: Option<String>,
    },
    /// Anything else: kept nowhere.
    Ignored {
        /// Who sent it.
        actor: String,
        /// The activity type.
        activity_type: String,
        /// Why nothing is done.
        reason: String,
    },
}

impl InboxEvent {
    /// The remote actor behind the event.
    pub fn actor(&self) -> &str {
        match self {
            InboxEvent::Follow { actor, .. }
            | InboxEvent::Unfollow { actor, .. }
            | InboxEvent::Block { actor, .. }
            | InboxEvent::Interaction { actor, .. }
            | InboxEvent::UndoInteraction { actor, .. }
            | InboxEvent::Reply { actor, .. }
            | InboxEvent::ReplyEdited { actor, .. }
            | InboxEvent::ReplyDeleted { actor, .. }
            | InboxEvent::ActorUpdated { actor }
            | InboxEvent::ActorDeleted { actor }
            | InboxEvent::Moved { actor, .. }
            | InboxEvent::Report { actor, .. }
            | InboxEvent::Ignored { actor, .. } => actor,
        }
    }
}

/// Why a job failed; `retry` says whether trying again later may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    message: String,
    retry: bool,
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError {
            message: e.to_string(),
            retry: true,
        }
    }
}

impl From<FetchObjectError> for JobError {
    fn from(e: FetchObjectError) -> Self {
        JobError {
            retry: !e.is_gone() && !matches!(e, FetchObjectError::IdMismatch { .. }),
            message: e.to_string(),
        }
    }
}

/// Processes queued activities until `shutdown` turns true: at start (what a crash left queued),
/// whenever [`receive`] queues one, and every 30 s for retries that came due.
pub async fn run_worker(app: Arc<Inbox>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        process_due(&app).await;
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// Processes every queued activity now due, one at a time in arrival order (a Follow is handled
/// before its Undo). Returns how many were processed.
pub async fn process_due(app: &Inbox) -> usize {
    let mut done = 0;
    loop {
        let rows = match app.store.due_inbox_activities(now_ms(), 20) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox queue");
                return done;
            }
        };
        if rows.is_empty() {
            return done;
        }
        for row in rows {
            let outcome = process(app, &row).await;
            let saved = match outcome {
                Ok(()) => app.store.finish_inbox_activity(&row.id),
                Err(e) => {
                    let attempts = row.attempts + 1;
                    let retry_at = (e.retry && attempts < MAX_ATTEMPTS)
                        .then(|| now_ms() + 60_000 * 4i64.pow((attempts - 1) as u32));
                    tracing::warn!(id = %row.id, attempts, retry = retry_at.is_some(), error = %e, "inbox job failed");
                    app.store.fail_inbox_activity(&row.id, &e.message, retry_at)
                }
            };
            if let Err(e) = saved {
                tracing::error!(id = %row.id, error = %e, "cannot update the inbox queue");
                return done;
            }
            done += 1;
        }
    }
}

#[tracing::instrument(skip_all, fields(id = %row.id, kind = %row.kind))]
async fn process(app: &Inbox, row: &InboxActivity) -> Result<(), JobError> {
    let activity: Value = serde_json::from_str(&row.body).map_err(|e| JobError {
        message: format!("stored body is not JSON: {e}"),
        retry: false,
    })?;
    let event = interpret(app, &row.signer, &activity).await?;
    let verdict = moderation::judge(&app.moderation, &event);
    tracing::debug!(event = ?event, verdict = ?verdict, "inbox event");
    apply(app, &activity, event, verdict).await
}

/// Reads what `activity` (verified as sent by `actor`) means for this site. Only a `Create` or
/// `Update` whose object is a bare URL needs the network.
pub async fn interpret(app: &Inbox, actor: &str, activity: &Value) -> Result<InboxEvent, JobError> {
    let kind = activity.get("type").and_then(Value::as_str).unwrap_or("");
    let id = activity.get("id").and_then(Value::as_str).unwrap_or("");
    let object = activity.get("object").unwrap_or(&Value::Null);
    let object_id = id_of(object).unwrap_or("");
    let actor_s = actor.to_string();
    let ignored = |reason: &str| InboxEvent::Ignored {
        actor: actor_s.clone(),
        activity_type: kind.to_string(),
        reason: reason.to_string(),
    };
    Ok(match kind {
        "Follow" => match our_actor(app, object_id) {
            Some(target) => InboxEvent::Follow {
                actor: actor_s,
                target,
                follow_id: id.to_string(),
            },
            None => ignored("not a follow of one of our actors"),
        },
        "Block" => match our_actor(app, object_id) {
            Some(target) => InboxEvent::Block {
                actor: actor_s,
                target,
            },
            None => ignored("not a block of one of our actors"),
        },
        "Like" | "Announce" => match our_post(app, object_id) {
            Some(post) => InboxEvent::Interaction {
                actor: actor_s,
                activity_id: id.to_string(),
                kind: if kind == "Like" {
                    InteractionKind::Like
                } else {
                    InteractionKind::Announce
                },
                post,
            },
            None => ignored("not about one of our posts"),
        },
        "Undo" => {
            let inner_type = object.get("type").and_then(Value::as_str);
            let inner_object = object.get("object").and_then(id_of).unwrap_or("");
            // One may only undo one's own activity.
            if object
                .get("actor")
                .and_then(id_of)
                .is_some_and(|a| a != actor)
            {
                return Ok(ignored("undo of another actor's activity"));
            }
            match inner_type {
                Some("Follow") => InboxEvent::Unfollow {
                    actor: actor_s,
                    target: our_actor(app, inner_object),
                    follow_id: object_id.to_string(),
                },
                Some("Like") | Some("Announce") | None => InboxEvent::UndoInteraction {
                    actor: actor_s,
                    activity_id: object_id.to_string(),
                    kind: match inner_type {
                        Some("Like") => Some(InteractionKind::Like),
                        Some("Announce") => Some(InteractionKind::Announce),
                        _ => None,
                    },
                    post: our_post(app, inner_object),
                },
                Some(_) => ignored("undo of something masthead does not keep"),
            }
        }
        "Create" | "Update" => {
            if kind == "Update" && object_id == actor {
                return Ok(InboxEvent::ActorUpdated { actor: actor_s });
            }
            let note = if object.is_object() {
                object.clone()
            } else {
                app.fetcher.object(object_id).await?
            };
            let note_type = note.get("type").and_then(Value::as_str).unwrap_or("");
            if !matches!(note_type, "Note" | "Article" | "Page" | "Question") {
                return Ok(ignored("not a note"));
            }
            if note.get("attributedTo").and_then(id_of) != Some(actor)
                || id_of(&note) != Some(object_id)
            {
                return Ok(ignored("note not written by its sender"));
            }
            let note = read_note(app, &note);
            if kind == "Update" {
                InboxEvent::ReplyEdited {
                    actor: actor_s,
                    note,
                }
            } else if note.post.is_some() || !note.mentions.is_empty() {
                InboxEvent::Reply {
                    actor: actor_s,
                    note,
                }
            } else {
                ignored("neither a reply to our posts nor a mention of our actors")
            }
        }
        "Delete" => {
            if object_id == actor {
                InboxEvent::ActorDeleted { actor: actor_s }
            } else {
                InboxEvent::ReplyDeleted {
                    actor: actor_s,
                    object_id: object_id.to_string(),
                }
            }
        }
        "Move" => {
            let target = activity.get("target").and_then(id_of).unwrap_or("");
            if object_id != actor || target.is_empty() {
                ignored("a Move must move its own actor to a target")
            } else {
                InboxEvent::Moved {
                    actor: actor_s,
                    target: target.to_string(),
                }
            }
        }
        "Flag" => {
            let objects = match object {
                Value::Array(list) => list.iter().filter_map(id_of).map(str::to_string).collect(),
                other => id_of(other).map(str::to_string).into_iter().collect(),
            };
            InboxEvent::Report {
                actor: actor_s,
                activity_id: id.to_string(),
                objects,
                content: activity
                    .get("content")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        }
        "Accept" | "Reject" => ignored("masthead follows nobody"),
        _ => ignored("unknown activity type"),
    })
}

fn read_note(app: &Inbox, note: &Value) -> ReplyNote {
    let strings = |key: &str| -> Vec<String> {
        match note.get(key) {
            Some(Value::Array(list)) => list.iter().filter_map(id_of).map(str::to_string).collect(),
            Some(v) => id_of(v).map(str::to_string).into_iter().collect(),
            None => vec![],
        }
    };
    let addressed: Vec<String> = [strings("to"), strings("cc")].concat();
    let mut mentions: Vec<String> = Vec::new();
    let tags = match note.get("tag") {
        Some(Value::Array(list)) => list.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    let mentioned = tags
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("Mention"))
        .filter_map(|t| t.get("href").and_then(Value::as_str))
        .chain(addressed.iter().map(String::as_str));
    for href in mentioned {
        if let Some(h) = our_actor(app, href) {
            if !mentions.contains(&h) {
                mentions.push(h);
            }
        }
    }
    let in_reply_to = note.get("inReplyTo").and_then(id_of).map(str::to_string);
    let content = note
        .get("content")
        .and_then(Value::as_str)
        .or_else(|| {
            note.get("contentMap")
                .and_then(Value::as_object)
                .and_then(|m| m.values().find_map(Value::as_str))
        })
        .unwrap_or_default();
    let url = match note.get("url") {
        Some(Value::Array(list)) => list.iter().find_map(id_of).map(str::to_string),
        Some(v) => id_of(v).map(str::to_string),
        None => None,
    };
    ReplyNote {
        id: id_of(note).unwrap_or_default().to_string(),
        url: url.filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        content_html: crate::content::render::sanitize(content),
        published: note
            .get("published")
            .and_then(Value::as_str)
            .and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok())
            .map(|d| d.with_timezone(&Utc).to_rfc3339())
            .unwrap_or_else(|| Utc::now().to_rfc3339()),
        updated: note
            .get("updated")
            .and_then(Value::as_str)
            .and_then(|p| chrono::DateTime::parse_from_rfc3339(p).ok())
            .map(|d| d.with_timezone(&Utc).to_rfc3339()),
        post: in_reply_to.as_deref().and_then(|r| our_post(app, r)),
        in_reply_to,
        mentions,
        public: addressed.iter().any(|a| PUBLIC.contains(&a.as_str())),
    }
}

/// The handle of our actor with this id.
fn our_actor(app: &Inbox, id: &str) -> Option<String> {
    app.site
        .actors
        .iter()
        .find(|a| app.urls.actor(&a.handle) == id)
        .map(|a| a.handle.clone())
}

/// Our published post with this id or `url`.
fn our_post(app: &Inbox, id: &str) -> Option<PostRef> {
    if id.is_empty() {
        return None;
    }
    let catalog = app.catalog();
    let urls = &app.urls;
    app.site.actors.iter().find_map(|a| {
        catalog.public_posts_of(&a.handle).find_map(|rec| {
            let p = &rec.post;
            let matches = urls.post(&a.handle, &p.slug) == id
                || urls.post_html(&a.handle, &p.slug) == id
                || urls.post_url(&a.handle, &p.slug, &p.page_path, p.url.as_deref()) == id;
            matches.then(|| PostRef {
                handle: a.handle.clone(),
                slug: p.slug.clone(),
            })
        })
    })
}

async fn apply(
    app: &Inbox,
    activity: &Value,
    event: InboxEvent,
    verdict: Verdict,
) -> Result<(), JobError> {
    if let Verdict::Reject { reason } = &verdict {
        tracing::info!(actor = %event.actor(), reason = %reason, "refused by moderation");
        if let InboxEvent::Follow {
            actor,
            target,
            follow_id,
        } = &event
        {
            let follower = app.fetcher.actor(&app.store, actor, false).await?;
            let body = follow_response(
                &app.urls,
                target,
                FollowAnswer::Reject,
                follow_id,
                actor,
                activity.get("object").map(|_| activity),
            );
            enqueue(app, target, &body, &follower.inbox)?;
        }
        return Ok(());
    }
    let store = &app.store;
    match event {
        InboxEvent::Follow {
            actor,
            target,
            follow_id,
        } => {
            let follower = app.fetcher.actor(store, &actor, false).await?;
            let manual = app
                .site
                .actor(&target)
                .is_some_and(|a| a.manually_approves_followers);
            let state = if manual {
                FollowState::Pending
            } else {
                FollowState::Accepted
            };
            store.upsert_follower(&Follower {
                actor: target.clone(),
                follower: actor.clone(),
                follow_id: follow_id.clone(),
                inbox: follower.inbox.clone(),
                shared_inbox: follower.shared_inbox.clone(),
                state,
                created_at: String::new(),
            })?;
            // A repeated Follow of an accepted follow is answered again: the sender lost our
            // first Accept, or would not have asked.
            let now = store.follower(&target, &actor)?.map(|f| f.state);
            if now == Some(FollowState::Accepted) {
                let body = follow_response(
                    &app.urls,
                    &target,
                    FollowAnswer::Accept,
                    &follow_id,
                    &actor,
                    Some(activity),
                );
                enqueue(app, &target, &body, &follower.inbox)?;
            } else {
                tracing::info!(actor = %target, follower = %actor, "follow waits for `masthead follows approve`");
            }
        }
        InboxEvent::Unfollow {
            actor,
            target,
            follow_id,
        } => {
            let removed = match target {
                Some(t) => store.remove_follower(&t, &actor)?,
                None => store.remove_follow_by_id(&actor, &follow_id)? > 0,
            };
            tracing::info!(follower = %actor, removed, "unfollow");
        }
        InboxEvent::Block { actor, target } => {
            store.remove_follower(&target, &actor)?;
        }
        InboxEvent::Interaction {
            actor,
            activity_id,
            kind,
            post,
        } => {
            store.add_interaction(&activity_id, kind, &actor, &post.handle, &post.slug)?;
        }
        InboxEvent::UndoInteraction {
            actor,
            activity_id,
            kind,
            post,
        } => {
            if !store.remove_interaction(&activity_id, &actor)? {
                if let (Some(kind), Some(post)) = (kind, post) {
                    store.remove_interaction_of(kind, &actor, &post.handle, &post.slug)?;
                }
            }
        }
        InboxEvent::Reply { actor, note } => {
            let held = matches!(verdict, Verdict::Hold { .. }) || !note.public;
            let post = note.post.clone();
            store.upsert_reply(&Reply {
                id: note.id,
                author: actor.clone(),
                post: note.post.map(|p| (p.handle, p.slug)),
                mentions: note.mentions,
                in_reply_to: note.in_reply_to,
                content_html: note.content_html,
                url: note.url,
                published: note.published,
                updated: note.updated,
                status: if held {
                    ReplyStatus::Held
                } else {
                    ReplyStatus::Visible
                },
            })?;
            // Cache the author for the comment's name and avatar.
            if store.remote_actor(&actor)?.is_none() {
                app.fetcher.actor(store, &actor, false).await?;
            }
            if let Some(p) = post {
                rewrite_comments(app, &p.handle, &p.slug);
            }
        }
        InboxEvent::ReplyEdited { actor, note } => {
            let updated = note
                .updated
                .clone()
                .unwrap_or_else(|| Utc::now().to_rfc3339());
            if store.update_reply(&note.id, &actor, &note.content_html, &updated)? {
                if let Some((h, s)) = store.reply(&note.id)?.and_then(|r| r.post) {
                    rewrite_comments(app, &h, &s);
                }
            }
        }
        InboxEvent::ReplyDeleted { actor, object_id } => {
            if let Some((h, s)) = store.delete_reply(&object_id, &actor)?.and_then(|r| r.post) {
                rewrite_comments(app, &h, &s);
            }
        }
        InboxEvent::ActorUpdated { actor } => {
            app.fetcher.actor(store, &actor, true).await?;
        }
        InboxEvent::ActorDeleted { actor } => {
            store.remove_follower_everywhere(&actor)?;
            store.remove_interactions_by(&actor)?;
            for (h, s) in store.delete_replies_by(&actor)? {
                rewrite_comments(app, &h, &s);
            }
            store.delete_remote_actor(&actor)?;
            tracing::info!(actor = %actor, "remote actor deleted");
        }
        InboxEvent::Moved { actor, target } => {
            let new = app.fetcher.actor(store, &target, true).await?;
            let doc: Value = serde_json::from_str(&new.document).unwrap_or_default();
            let aka: Vec<&str> = match doc.get("alsoKnownAs") {
                Some(Value::Array(list)) => list.iter().filter_map(id_of).collect(),
                Some(v) => id_of(v).into_iter().collect(),
                None => vec![],
            };
            if !aka.contains(&actor.as_str()) {
                return Err(JobError {
                    message: format!(
                        "Move of {actor} to {target} refused: the target's alsoKnownAs does not name {actor}"
                    ),
                    retry: false,
                });
            }
            let moved =
                store.move_follower(&actor, &new.id, &new.inbox, new.shared_inbox.as_deref())?;
            tracing::info!(from = %actor, to = %new.id, moved, "follower moved");
        }
        InboxEvent::Report {
            actor,
            activity_id,
            objects,
            content,
        } => {
            store.add_report(&Report {
                id: activity_id,
                reporter: actor,
                objects,
                content,
                received_at: Utc::now().to_rfc3339(),
            })?;
        }
        InboxEvent::Ignored {
            actor,
            activity_type,
            reason,
        } => {
            tracing::debug!(actor = %actor, activity_type = %activity_type, reason = %reason, "activity ignored");
        }
    }
    Ok(())
}

fn rewrite_comments(app: &Inbox, handle: &str, slug: &str) {
    if let Err(e) = super::comments::write_file(&app.store, &app.site.data_dir, handle, slug) {
        tracing::error!(error = %e, "cannot write the comments file");
    }
}

fn enqueue(app: &Inbox, handle: &str, body: &Value, inbox: &str) -> Result<(), StoreError> {
    enqueue_in(&app.store, handle, body, inbox)?;
    app.delivery_wake.notify_one();
    Ok(())
}

fn enqueue_in(store: &Store, handle: &str, body: &Value, inbox: &str) -> Result<(), StoreError> {
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    store.enqueue_delivery(
        &NewDelivery {
            activity_id: id,
            object_id: None,
            actor: handle,
            body: &body.to_string(),
        },
        &[inbox.to_string()],
        now_ms(),
    )?;
    Ok(())
}

/// How we answer a Follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowAnswer {
    /// `Accept`.
    Accept,
    /// `Reject`.
    Reject,
}

/// The `Accept` or `Reject` of a Follow by our actor `handle`. Its id is stable
/// (`<actor>#accepts/<hash of the follow id>`), so a repeat is deduplicated by the receiver and by
/// the delivery queue. The object is the Follow as received when there is one (without its
/// `@context`), else a Follow rebuilt from its id, which is what receivers match on.
pub fn follow_response(
    urls: &crate::urls::Urls,
    handle: &str,
    answer: FollowAnswer,
    follow_id: &str,
    follower: &str,
    received: Option<&Value>,
) -> Value {
    let ours = urls.actor(handle);
    let hash: String = Sha256::digest(follow_id.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let (kind, fragment) = match answer {
        FollowAnswer::Accept => ("Accept", "accepts"),
        FollowAnswer::Reject => ("Reject", "rejects"),
    };
    let object = match received {
        Some(Value::Object(map)) if map.get("type").and_then(Value::as_str) == Some("Follow") => {
            let mut map = map.clone();
            map.remove("@context");
            Value::Object(map)
        }
        _ => json!({ "id": follow_id, "type": "Follow", "actor": follower, "object": ours }),
    };
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": format!("{ours}#{fragment}/{hash}"),
        "type": kind,
        "actor": ours,
        "to": [follower],
        "object": object,
    })
}

/// Queues the answer to a stored follow (`masthead follows approve|reject`): Accept marks it
/// accepted, Reject removes it. The delivery workers of a running server pick it up.
pub fn answer_stored_follow(
    store: &Store,
    urls: &crate::urls::Urls,
    follow: &Follower,
    answer: FollowAnswer,
) -> Result<Value, StoreError> {
    let body = follow_response(
        urls,
        &follow.actor,
        answer,
        &follow.follow_id,
        &follow.follower,
        None,
    );
    enqueue_in(store, &follow.actor, &body, &follow.inbox)?;
    match answer {
        FollowAnswer::Accept => {
            store.set_follow_state(&follow.actor, &follow.follower, FollowState::Accepted)?;
        }
        FollowAnswer::Reject => {
            store.remove_follower(&follow.actor, &follow.follower)?;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moderation::{Blocks, DomainBlock, Severity};

    const BASE: &str = "http://127.0.0.1:8080";

    fn like() -> Value {
        json!({
            "id": "https://r.example/likes/1", "type": "Like",
            "actor": "https://r.example/users/a",
            "object": "http://127.0.0.1:8080/users/news/posts/hello",
        })
    }

    #[test]
    fn can_check_a_well_formed_activity() {
        let got = check_activity(BASE, &like()).unwrap();
        assert_eq!(got.actor, "https://r.example/users/a");
        assert_eq!(got.kind, "Like");
    }

    #[test]
    fn rejects_an_activity_claiming_our_host() {
        let mut a = like();
        a["actor"] = json!("http://127.0.0.1:8080/users/news");
        a["id"] = json!("http://127.0.0.1:8080/users/news#likes/1");
        assert!(matches!(check_activity(BASE, &a), Err(InboxError::Ours(_))));
        // Same IP, another port, is another server.
        a["actor"] = json!("http://127.0.0.1:9999/users/x");
        a["id"] = json!("http://127.0.0.1:9999/likes/1");
        assert!(check_activity(BASE, &a).is_ok());
    }

    #[test]
    fn rejects_ids_off_the_actors_host() {
        let mut a = like();
        a["id"] = json!("https://elsewhere.example/likes/1");
        assert!(matches!(
            check_activity(BASE, &a),
            Err(InboxError::Origin {
                what: "activity id",
                ..
            })
        ));
        let create = json!({
            "id": "https://r.example/c/1", "type": "Create", "actor": "https://r.example/users/a",
            "object": { "id": "https://elsewhere.example/n/1", "type": "Note" },
        });
        assert!(matches!(
            check_activity(BASE, &create),
            Err(InboxError::Origin {
                what: "object id",
                ..
            })
        ));
        let delete = json!({
            "id": "https://r.example/d/1", "type": "Delete", "actor": "https://r.example/users/a",
            "object": "https://elsewhere.example/n/1",
        });
        assert!(check_activity(BASE, &delete).is_err());
        let forged = json!({
            "id": "https://r.example/c/2", "type": "Create", "actor": "https://r.example/users/a",
            "object": { "id": "https://r.example/n/2", "type": "Note", "attributedTo": "https://r.example/users/b" },
        });
        assert!(matches!(
            check_activity(BASE, &forged),
            Err(InboxError::Origin {
                what: "object attributedTo",
                ..
            })
        ));
    }

    #[test]
    fn rejects_activities_missing_id_type_or_actor() {
        for key in ["id", "type", "actor"] {
            let mut a = like();
            a.as_object_mut().unwrap().remove(key);
            assert!(
                matches!(check_activity(BASE, &a), Err(InboxError::Malformed(_))),
                "{key}"
            );
        }
    }

    #[test]
    fn can_accept_only_json_media_types() {
        assert!(is_inbox_content_type("application/activity+json"));
        assert!(is_inbox_content_type(
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
        ));
        assert!(is_inbox_content_type("Application/JSON; charset=utf-8"));
        assert!(!is_inbox_content_type("text/plain"));
        assert!(!is_inbox_content_type("application/x-www-form-urlencoded"));
        assert!(!is_inbox_content_type(""));
    }

    #[test]
    fn can_answer_a_follow_with_a_stable_id() {
        let urls = crate::urls::Urls::from_parts(&url::Url::parse(BASE).unwrap(), None);
        let follow = json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": "https://r.example/f/1", "type": "Follow",
            "actor": "https://r.example/users/a", "object": "http://127.0.0.1:8080/users/news",
        });
        let a = follow_response(
            &urls,
            "news",
            FollowAnswer::Accept,
            "https://r.example/f/1",
            "https://r.example/users/a",
            Some(&follow),
        );
        let b = follow_response(
            &urls,
            "news",
            FollowAnswer::Accept,
            "https://r.example/f/1",
            "https://r.example/users/a",
            None,
        );
        assert_eq!(a["id"], b["id"]);
        assert!(a["id"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:8080/users/news#accepts/"));
        assert_eq!(a["object"]["id"], "https://r.example/f/1");
        assert!(a["object"].get("@context").is_none());
        assert_eq!(b["object"]["object"], "http://127.0.0.1:8080/users/news");
        let r = follow_response(
            &urls,
            "news",
            FollowAnswer::Reject,
            "https://r.example/f/1",
            "https://r.example/users/a",
            None,
        );
        assert_eq!(r["type"], "Reject");
        assert_ne!(r["id"], a["id"]);
    }

    #[test]
    fn can_judge_events_by_actor_and_domain() {
        let mut blocks = Blocks::default();
        blocks.add(DomainBlock {
            domain: "spam.example".into(),
            severity: Severity::Suspend,
        });
        blocks.add(DomainBlock {
            domain: "loud.example".into(),
            severity: Severity::Silence,
        });
        blocks.block_actor("https://ok.example/users/troll");
        let follow = |actor: &str| InboxEvent::Follow {
            actor: actor.into(),
            target: "news".into(),
            follow_id: format!("{actor}#f"),
        };
        let reply = |actor: &str| InboxEvent::Reply {
            actor: actor.into(),
            note: ReplyNote {
                id: format!("{actor}/n/1"),
                url: None,
                content_html: String::new(),
                published: String::new(),
                updated: None,
                in_reply_to: None,
                post: None,
                mentions: vec!["news".into()],
                public: true,
            },
        };
        assert_eq!(
            moderation::judge(&blocks, &follow("https://ok.example/users/friend")),
            Verdict::Accept
        );
        assert!(matches!(
            moderation::judge(&blocks, &follow("https://ok.example/users/troll")),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            moderation::judge(&blocks, &follow("https://m.spam.example/users/x")),
            Verdict::Reject { .. }
        ));
        assert!(matches!(
            moderation::judge(&blocks, &reply("https://loud.example/users/x")),
            Verdict::Hold { .. }
        ));
        assert_eq!(
            moderation::judge(&blocks, &follow("https://loud.example/users/x")),
            Verdict::Accept
        );
        // Events are plain data: a plugin would see this JSON.
        let v = serde_json::to_value(follow("https://ok.example/users/friend")).unwrap();
        assert_eq!(v["event"], "follow");
        assert_eq!(v["target"], "news");
    }
}
