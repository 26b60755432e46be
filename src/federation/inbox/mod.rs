//! The inbox: verifying what other servers POST to `/inbox` and `/users/{h}/inbox`, and acting on
//! it later from a durable queue. One handle, [`Inbox`], holds what it works with; four rooms
//! hold the steps:
//!
//! - [`receive`] (`receive.rs`) runs while the sender waits, and only checks: media type, JSON,
//!   the signature (parsed before anything is fetched), that nothing claims to be us, that ids are
//!   on the actor's host, that neither the key nor the actor lives on a blocked domain (403 before
//!   any fetch), the key (cached, fetched, or refetched once per host per 10 minutes when
//!   verification fails), that the key belongs to the activity's `actor`, and that the activity id
//!   is new. It then records the activity in `inbox_activities` and answers 202. Nothing else is
//!   changed by a request. Before any key is fetched, an activity a JSON-LD processor would read
//!   otherwise (`jsonld.rs`) and the `Delete` of an actor never seen here are answered 202 and
//!   dropped; a key whose server cannot be reached now is a 503 with `Retry-After`.
//! - `interpret.rs` reads a queued activity as a [`InboxEvent`](crate::moderation::InboxEvent): plain data that
//!   [`judge`](crate::moderation::judge) (and later a plugin) judges, knowing no JSON-LD.
//! - `apply.rs` turns the event and its [`Verdict`](crate::moderation::Verdict) into effects: followers,
//!   Accept/Reject deliveries (queued after the 202, so they never race it), counts, replies and
//!   their comments files, reports; and what the plugins' [`Judgement`](crate::plugins::Judgement)
//!   adds (labels and notes kept, auto-replies queued as our actor).
//! - [`run_worker`] (`worker.rs`) is the durable job loop: queued rows (also those left by a crash,
//!   at the next start) are processed in arrival order and retried on the schedule written there.
//!
//! It does not sign or send anything itself: answers are rows for the delivery workers.

mod apply;
mod interpret;
mod jsonld;
#[cfg(test)]
mod proptests;
mod rate;
mod receive;
mod worker;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::fetch::{FetchObjectError, Fetcher};
use super::signatures::SignatureError;
use crate::catalog::{Catalog, SharedCatalog};
use crate::clock::Clock;
use crate::config::Site;
use crate::moderation::Blocks;
use crate::store::{Store, StoreError};
use crate::urls::Urls;

pub use apply::{answer_stored_follow, follow_response, FollowAnswer};
pub use interpret::interpret;
pub use rate::HostRates;
pub use receive::{check_activity, is_inbox_content_type, receive, CheckedActivity};
pub use worker::{process_due, run_worker};

/// Largest inbox body accepted (Mastodon's limit for documents).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One POST to an inbox, as read by the HTTP layer.
#[derive(Debug)]
pub struct InboxRequest {
    /// Our handle for `/users/{h}/inbox`, `None` for the shared inbox.
    pub recipient: Option<String>,
    pub method: Method,
    /// The request target as on the request line (path and query).
    pub target: String,
    pub headers: HeaderMap,
    /// At most [`MAX_BODY_BYTES`].
    pub body: Bytes,
}

/// What happened to an accepted request (all answer 202).
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Queued for processing.
    Queued,
    /// Seen before; nothing new.
    Duplicate,
    /// Accepted and dropped: the Delete of an actor never seen or whose key is gone, or an
    /// activity a JSON-LD processor would read otherwise.
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
        key_id: String,
        source: Box<FetchObjectError>,
    },
    /// The key does not belong to the activity's actor.
    #[error("key {key_id} belongs to {owner}, but the activity's actor is {actor}")]
    KeyOwner {
        key_id: String,
        owner: String,
        actor: String,
    },
    /// Something claims to come from this server.
    #[error("{0} claims to be on this server")]
    Ours(String),
    /// An id is not on the actor's host.
    #[error("{what} {id} is not on the host of the actor {actor}")]
    Origin {
        what: &'static str,
        id: String,
        actor: String,
    },
    /// The key or actor is on a blocked domain, or the actor is blocked.
    #[error("{0} is blocked")]
    Blocked(String),
    /// The sending server is over its `[limits] inbox_per_host_per_second`.
    #[error("{host} is over its inbox allowance (retry in {retry_after_s} s)")]
    RateLimited { host: String, retry_after_s: u64 },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InboxError {
    /// The status the sender sees.
    pub fn status(&self) -> StatusCode {
        match self {
            InboxError::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            InboxError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            InboxError::UnknownRecipient(_) => StatusCode::NOT_FOUND,
            InboxError::Malformed(_) | InboxError::Origin { .. } | InboxError::Ours(_) => {
                StatusCode::BAD_REQUEST
            }
            InboxError::Key { source, .. } if source.is_unavailable() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            InboxError::Signature(_) | InboxError::Key { .. } | InboxError::KeyOwner { .. } => {
                StatusCode::UNAUTHORIZED
            }
            InboxError::Blocked(_) => StatusCode::FORBIDDEN,
            InboxError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            InboxError::Key { source, .. } if source.is_unavailable() => {
                "the signer's key cannot be fetched now; retry later"
            }
            InboxError::Signature(_) | InboxError::Key { .. } | InboxError::KeyOwner { .. } => {
                "request signature could not be verified"
            }
            InboxError::Ours(_) => "activity claims to come from this server",
            InboxError::Origin { .. } => "activity ids must be on the actor's origin",
            InboxError::Blocked(_) => "forbidden",
            InboxError::RateLimited { .. } => {
                "too many activities from your server; retry after the time in Retry-After"
            }
            InboxError::Store(_) => "internal error",
        }
    }

    /// Seconds for a `Retry-After` header: set when the answer is a 503 because the signer's key
    /// server could not be reached, or a 429 because the sender is over its allowance (the
    /// sender should retry, not give up).
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            InboxError::Key { source, .. } => source.retry_after_s(),
            InboxError::RateLimited { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

/// The handles the inbox works with: what it receives is checked against the site, the store and
/// the block list, and remote keys and objects are fetched as the instance actor.
pub struct Inbox {
    pub site: Arc<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    /// What is published, to find the posts a reply or a like is about.
    pub catalog: SharedCatalog,
    /// Every time the inbox records or schedules (received, due, retried, answers queued).
    pub clock: Clock,
    pub fetcher: Arc<Fetcher>,
    pub moderation: Arc<Blocks>,
    /// The WebAssembly plugins, asked after the built-in blocks (`None`, or a host with no
    /// plugin configured: none asked).
    pub plugins: Option<Arc<crate::plugins::Host>>,
    /// Wakes the inbox worker when an activity is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// Wakes the delivery workers when an answer (Accept, Reject) is queued.
    pub delivery_wake: Arc<tokio::sync::Notify>,
    /// What each sending server may still send now.
    pub rates: Arc<HostRates>,
    /// Held while a comments file is written, so two workers never write one file at once.
    pub comments_lock: Arc<std::sync::Mutex<()>>,
}

impl Inbox {
    /// The current snapshot of what is published.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.current()
    }

    /// Now by [`Inbox::clock`], as RFC 3339: when a report arrived, or a reply that says nothing.
    fn now_rfc3339(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.clock.now_ms())
            .unwrap_or_default()
            .to_rfc3339()
    }
}

/// Why a job failed; `retry` says whether trying again later may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    message: String,
    retry: bool,
}

impl JobError {
    /// A failure that trying again cannot mend.
    fn fatal(message: String) -> JobError {
        JobError {
            message,
            retry: false,
        }
    }
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
