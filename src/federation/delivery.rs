//! Delivery: sending the rows of the outgoing queue (`store::deliveries`) to remote inboxes.
//!
//! This module owns the retry policy, the judgement of each answer, per-host health, signing each
//! attempt and the worker pool that does the sending. It does not decide *what* to send (the
//! outbox and the inbox enqueue rows) nor own the transport (`federation::client`).
//!
//! # Retry policy (Mastodon's)
//!
//! Mastodon sends each activity from `ActivityPub::DeliveryWorker`
//! (mastodon: app/workers/activitypub/delivery_worker.rb, `sidekiq_options retry: 16`), which has
//! no backoff of its own, so sidekiq's default applies (sidekiq: lib/sidekiq/job_retry.rb,
//! `delay_for`, since 6.0):
//!
//! ```text
//! delay(n) = n^4 + 15 s + rand(10) * (n + 1) s        n = 0, 1, ..., 15 (the n-th retry)
//! ```
//!
//! So a row gets 1 attempt + 16 retries; the retries are due 15 s, 16 s, 31 s, 96 s, ... 14 h
//! apart, about 2.07 days in all (+ at most 20 min of jitter), after which the row is `failed`.
//! Note: the jitter is sidekiq's `rand(10) * (n + 1)` seconds, not a fraction of `n^4`.
//!
//! What an answer means:
//! - 2xx: done.
//! - 410 Gone: the followers reached through that inbox are gone; they are removed and the row
//!   fails (FEDIVERSE.md, "Followers and delivery").
//! - other 4xx except 401, 408 and 429: permanent, the row fails at once (the remote refuses).
//! - 401, 408, 429, 5xx, anything else, and network errors: temporary, retried on the schedule.
//!   `Retry-After` (seconds or an HTTP date) pushes the retry later, never earlier, and is
//!   believed for at most [`MAX_RETRY_AFTER`].
//! - A URL the address policy refuses (or that is not a URL) fails at once: it never will work.
//!
//! A host whose deliveries failed (temporarily) on [`FAILURE_DAYS_THRESHOLD`] distinct UTC days
//! is marked unavailable and its due rows fail without a request, until it answers a request
//! again or the inbox sees it alive (Mastodon's `DeliveryFailureTracker`, days kept per host).
//!
//! # Concurrency and durability
//!
//! One dispatcher task claims due rows and hands each to its own task: at most
//! [`DeliveryConfig::workers`] sends at once (1,024 by default: a fan-out waits on the network,
//! not on workers) and [`DeliveryConfig::per_host`] per host, so a slow host holds up only its own rows.
//! Claiming *leases* a row (moves its `next_attempt_at` [`DeliveryConfig::lease`] ahead, longer
//! than any send may take), so after a crash mid-send the row is simply due again later.
//!
//! SQLite stays off the critical path of a large fan-out: rows are claimed many at a time, in one
//! transaction that reads only the head of the queue, and answers are recorded in batches (the
//! delivered ones in one transaction, at most `RECORD_WITHIN`, 20 ms, after they came, or at once
//! when nothing else is in flight). An activity's body is stored once for all its rows
//! (`store::deliveries`). An answer is recorded only after it came, so a crash before that sends
//! the row again (at least once; receivers dedupe by activity id), never loses it. Every attempt
//! is signed afresh with the current time, apart from the async threads: requests wait in one
//! queue that at most one blocking task per core drains, so the async threads keep driving the
//! sends in flight.
//!
//! # Order
//!
//! The queue hands out only rows *in turn* (`store::deliveries`, "Order"): for one inbox, an
//! activity about an object waits while an older one about the same object is pending, whether
//! it waits for a retry or is on the wire. So a retried Create is not overtaken by its Update, and
//! a Delete never arrives before its Create; rows of other objects and other inboxes go on. When
//! a row is answered the dispatcher claims again at once, so the next one in turn leaves without
//! waiting for the poll.
//!
//! The workers are given what they use as an [`Outgoing`] (store, keys, URLs, client, clock and
//! wake), never the whole app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{Method, StatusCode};
use rand::Rng;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;
use tracing::instrument;
use url::Url;

use crate::clock::Clock;
use crate::config::{Limits, Site};
use crate::federation::client::{
    self, AddressPolicy, Client, ClientConfig, FetchError, OutgoingRequest, Response,
};
use crate::federation::objects::ACTIVITY_JSON;
use crate::federation::signatures::{sign_request, SigningKey};
use crate::live::Live;
use crate::store::{ActorKeys, Delivery, Store, StoreError, INSTANCE_KEY};
use crate::urls::Urls;

/// Retries after the first attempt (Mastodon's `retry: 16`).
pub const MAX_RETRIES: u32 = 16;

/// Distinct days with failures after which a host is skipped (Mastodon's
/// `DeliveryFailureTracker::FAILURE_DAYS_THRESHOLD`).
pub const FAILURE_DAYS_THRESHOLD: usize = 7;

/// The longest `Retry-After` believed: a host asking for more is retried after a day anyway
/// (the schedule still ends the row after its 16 retries).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Delivered rows are kept this long for the operator (`masthead deliveries`), then forgotten.
const KEEP_DONE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Failed rows are kept this long.
const KEEP_FAILED: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);
/// Due rows looked at per claim (at most `per_host` of each host), at least.
const CLAIM_SCAN: usize = 512;
/// Answers recorded in one transaction at the most...
const RECORD_BATCH: usize = 512;
/// ...and the longest an answer waits to be recorded while others are in flight. Each
/// transaction rewrites the pages its rows sit on, so a fan-out recorded answer by answer would
/// write its queue many times over; a row answered but not yet recorded is still leased, and
/// after a crash it is sent again (receivers dedupe by activity id).
const RECORD_WITHIN: Duration = Duration::from_millis(20);

/// The delay before retry `n` (0-based: `n = 0` follows the first failed attempt) with the
/// jitter roll `roll` in `0..10`: `n^4 + 15 + roll * (n + 1)` seconds (sidekiq's default).
pub fn backoff(n: u32, roll: u32) -> Duration {
    let n = u64::from(n);
    Duration::from_secs(n.pow(4) + 15 + u64::from(roll.min(9)) * (n + 1))
}

/// A random jitter roll for [`backoff`].
pub fn jitter_roll() -> u32 {
    rand::thread_rng().gen_range(0..10)
}

/// The wait a `Retry-After` header asks for, in ms from `now_ms`: delta seconds or an HTTP date.
/// `None` when absent or unreadable; a date in the past is zero.
pub fn retry_after(headers: &HeaderMap, now_ms: i64) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = at.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64;
    Some((at_ms - now_ms).max(0))
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered {
        /// The status.
        status: u16,
    },
    /// 410 Gone: the followers at this inbox are gone.
    Gone,
    /// Will not work however often it is tried.
    Permanent {
        /// The status, when the host answered.
        status: Option<u16>,
        error: String,
    },
    /// May work later.
    Temporary {
        /// The status, when the host answered.
        status: Option<u16>,
        error: String,
        /// What `Retry-After` asked for, in ms.
        retry_after_ms: Option<i64>,
    },
}

/// Judges the result of one send (see the module docs for the rules).
pub fn classify(result: &Result<Response, FetchError>, now_ms: i64) -> Outcome {
    let response = match result {
        Ok(r) => r,
        Err(e @ (FetchError::Refused { .. } | FetchError::InsecureScheme { .. })) => {
            return Outcome::Permanent {
                status: None,
                error: e.to_string(),
            }
        }
        Err(e @ FetchError::BadUrl { .. }) => {
            return Outcome::Permanent {
                status: None,
                error: e.to_string(),
            }
        }
        Err(e) => {
            return Outcome::Temporary {
                status: None,
                error: e.to_string(),
                retry_after_ms: None,
            }
        }
    };
    let status = response.status;
    let code = status.as_u16();
    if status.is_success() {
        return Outcome::Delivered { status: code };
    }
    if status == StatusCode::GONE {
        return Outcome::Gone;
    }
    let error = status_error(response);
    let temporary = matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
    ) || !status.is_client_error();
    if temporary {
        Outcome::Temporary {
            status: Some(code),
            error,
            retry_after_ms: retry_after(&response.headers, now_ms),
        }
    } else {
        Outcome::Permanent {
            status: Some(code),
            error,
        }
    }
}

/// `503 Service Unavailable: <start of the body>`, on one line, for the operator.
fn status_error(response: &Response) -> String {
    let text = String::from_utf8_lossy(&response.body[..response.body.len().min(400)]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text: String = text.chars().take(160).collect();
    if text.is_empty() {
        response.status.to_string()
    } else {
        format!("{}: {text}", response.status)
    }
}

/// What happens to a row after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Delivered.
    Done,
    /// Try again at this unix ms.
    RetryAt(i64),
    /// Give up.
    Failed,
}

/// The fate of a row that had `attempts_before` attempts before this one, which came to
/// `outcome` at `now_ms`; `roll` is the jitter roll (see [`backoff`]).
pub fn decide(outcome: &Outcome, attempts_before: u32, now_ms: i64, roll: u32) -> Decision {
    match outcome {
        Outcome::Delivered { .. } => Decision::Done,
        Outcome::Gone | Outcome::Permanent { .. } => Decision::Failed,
        Outcome::Temporary { retry_after_ms, .. } => {
            // The retry that would follow this attempt.
            let n = attempts_before;
            if n >= MAX_RETRIES {
                return Decision::Failed;
            }
            let backoff_ms = backoff(n, roll).as_millis() as i64;
            let asked = retry_after_ms
                .unwrap_or(0)
                .min(MAX_RETRY_AFTER.as_millis() as i64);
            Decision::RetryAt(now_ms + backoff_ms.max(asked))
        }
    }
}

/// How the worker pool runs.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// Sends at once, in all (`[limits] delivery_in_flight`). Each is a small task waiting on
    /// the network (signing is done apart, see [`Deliverer`]), so a thousand cost little: with
    /// remotes answering in 200 ms, 1,024 in flight allow 5,120 deliveries a second, above what
    /// two cores sign.
    pub workers: usize,
    /// Sends at once to one host (`[limits] delivery_per_host`), so a big host is not flooded
    /// and a slow one holds only its own share (Mastodon's shared inboxes get one row per
    /// activity anyway).
    pub per_host: usize,
    /// How long a claimed row is leased: longer than any send may take
    /// ([`client::TOTAL_TIMEOUT`]), so a live send is never claimed twice.
    pub lease: Duration,
    /// The longest the dispatcher sleeps without looking at the queue (rows queued by another
    /// process, a missed wake-up).
    pub poll: Duration,
    /// How long sends in flight get to finish on shutdown before they are abandoned (their rows
    /// are due again at once on the next start).
    pub grace: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig::for_limits(&Limits::default())
    }
}

impl DeliveryConfig {
    /// The sends in flight `[limits]` allows; the rest as in production.
    pub fn for_limits(limits: &Limits) -> DeliveryConfig {
        DeliveryConfig {
            workers: limits.delivery_in_flight,
            per_host: limits.delivery_per_host,
            lease: client::TOTAL_TIMEOUT * 10,
            poll: Duration::from_secs(30),
            grace: Duration::from_secs(10),
        }
    }
}

/// The outgoing client for a site: Mastodon's limits, the address policy from `[dev]`.
pub fn client_for(site: &Site) -> Client {
    let mut config = ClientConfig::new(client::user_agent(&site.base_url));
    config.policy = AddressPolicy {
        allow_private_addresses: site.dev.allow_private_addresses,
        allow_http: site.dev.allow_http,
        exempt: vec![],
    };
    Client::new(config)
}

/// What the delivery workers send with: each attempt goes through `client` (and its address
/// policy), signed with `keys` as its actor (or the instance actor), scheduled by `clock`
/// (manual or paused in tests). `wake` is notified when rows are queued; the workers also poll,
/// so a missed wake only delays, never loses, a delivery.
#[derive(Clone)]
pub struct Outgoing {
    pub store: Arc<Store>,
    /// Swapped when site.toml adds an actor.
    pub keys: Live<ActorKeys>,
    pub urls: Urls,
    pub client: Client,
    pub clock: Clock,
    pub wake: Arc<Notify>,
}

/// Sends queued rows: one attempt at a time ([`Deliverer::deliver`]), every due row once
/// ([`Deliverer::deliver_due`]), or forever ([`Deliverer::run`]).
#[derive(Clone)]
pub struct Deliverer {
    out: Outgoing,
    config: DeliveryConfig,
    signing: Arc<Mutex<HashMap<String, Arc<SigningKey>>>>,
    /// Signs the first hop of each attempt, off the async threads.
    signers: Arc<Signers>,
}

/// One attempt's result, waiting to be recorded.
struct Attempted {
    row: Delivery,
    outcome: Outcome,
    decision: Decision,
    at: i64,
}

impl Deliverer {
    /// A deliverer sending through `out`.
    pub fn new(out: Outgoing, config: DeliveryConfig) -> Deliverer {
        Deliverer {
            out,
            config,
            signing: Arc::default(),
            signers: Arc::new(Signers::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }

    fn store(&self) -> &Store {
        &self.out.store
    }

    fn now_ms(&self) -> i64 {
        self.out.clock.now_ms()
    }

    /// The signing key of our actor `handle` (`~instance` for the instance actor), loaded once.
    fn signing_key(&self, handle: &str) -> Result<Arc<SigningKey>, String> {
        let mut keys = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.get(handle) {
            return Ok(k.clone());
        }
        let all = self.out.keys.current();
        let (pair, key_id) = if handle == INSTANCE_KEY {
            (all.instance(), self.out.urls.instance_key_id())
        } else {
            let pair = all.actor(handle).ok_or_else(|| {
                format!("actor {handle:?} is no longer in site.toml; nothing can sign this")
            })?;
            (pair, self.out.urls.key_id(handle))
        };
        let key = Arc::new(
            SigningKey::from_pkcs8_pem(key_id, &pair.private_pem)
                .map_err(|e| format!("key of {handle}: {e}"))?,
        );
        keys.insert(handle.to_string(), key.clone());
        Ok(key)
    }

    /// Sends one attempt of `row` (already leased) and records what came of it.
    pub async fn deliver(&self, row: &Delivery) -> Result<Decision, StoreError> {
        let done = self.attempt(row.clone()).await;
        self.record(&done.row, &done.outcome, done.decision, done.at)?;
        Ok(done.decision)
    }

    /// Sends one attempt of `row` (already leased) and judges it; recording is the caller's.
    #[instrument(skip_all, fields(inbox = %row.inbox, activity = %row.activity_id, attempt = row.attempts + 1))]
    async fn attempt(&self, row: Delivery) -> Attempted {
        let outcome = match self.request(&row).await {
            Ok(req) => {
                let result = self.out.client.send(req).await;
                classify(&result, self.now_ms())
            }
            Err(error) => Outcome::Permanent {
                status: None,
                error,
            },
        };
        let at = self.now_ms();
        let decision = decide(&outcome, row.attempts, at, jitter_roll());
        Attempted {
            row,
            outcome,
            decision,
            at,
        }
    }

    /// The signed POST of `row`: body exactly as stored. The first hop is signed here, on a
    /// blocking thread; a redirect hop (rare) is signed afresh by the hook as it is sent.
    async fn request(&self, row: &Delivery) -> Result<OutgoingRequest, String> {
        let url = Url::parse(&row.inbox).map_err(|e| format!("inbox {:?}: {e}", row.inbox))?;
        let key = self.signing_key(&row.actor)?;
        let body = Bytes::from(row.body.clone());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ACTIVITY_JSON));
        // The Host the client sends, so the signature covers exactly it.
        headers.insert(HOST, client::host_header(&url).map_err(|e| e.to_string())?);
        let headers = self
            .signers
            .sign(SignJob {
                key: key.clone(),
                url: url.clone(),
                headers,
                body: body.clone(),
            })
            .await
            .map_err(|e| format!("signing {url} failed: {e}"))?;
        let first = url.clone();
        let mut req = OutgoingRequest::new(Method::POST, url);
        req.headers = headers;
        req.body = Some(body);
        req.sign = Some(Box::new(move |method, url, headers, body| {
            if *url != first || *method != Method::POST {
                sign_logged(&key, method, url, headers, body);
            }
        }));
        Ok(req)
    }

    fn record(
        &self,
        row: &Delivery,
        outcome: &Outcome,
        decision: Decision,
        now: i64,
    ) -> Result<(), StoreError> {
        let store = self.store();
        let answered = match outcome {
            Outcome::Delivered { status } => {
                store.complete_delivery(row.id, *status, now)?;
                tracing::debug!(status, "delivered");
                true
            }
            Outcome::Gone => {
                let removed = store.remove_followers_at_inbox(&row.inbox)?;
                store.fail_delivery(
                    row.id,
                    Some(410),
                    &format!("410 Gone: removed {removed} follower(s) at this inbox"),
                )?;
                tracing::info!(removed, "inbox is gone; removed its followers");
                true
            }
            Outcome::Permanent { status, error } => {
                store.fail_delivery(row.id, *status, error)?;
                tracing::warn!(error = %error, "delivery refused for good");
                status.is_some()
            }
            Outcome::Temporary { status, error, .. } => {
                match decision {
                    Decision::RetryAt(at) => {
                        store.reschedule_delivery(row.id, at, *status, error)?;
                        tracing::info!(error = %error, retry_in_s = (at - now) / 1000, "delivery failed; will retry");
                    }
                    _ => {
                        let error =
                            format!("{error} (gave up after {} attempts)", row.attempts + 1);
                        store.fail_delivery(row.id, *status, &error)?;
                        tracing::warn!(error = %error, "delivery failed for good");
                    }
                }
                if store.record_delivery_failure(&row.host, now, FAILURE_DAYS_THRESHOLD)? {
                    tracing::warn!(host = %row.host, "host failed on {FAILURE_DAYS_THRESHOLD} different days; skipping it until it answers again");
                }
                false
            }
        };
        if answered && store.record_delivery_success(&row.host)? {
            tracing::info!(host = %row.host, "host answers again");
        }
        Ok(())
    }

    /// Records a batch of answered attempts: the delivered ones in one transaction (the common
    /// case of a fan-out), the rest one by one.
    fn record_all(&self, batch: Vec<Attempted>) {
        let store = self.store();
        let mut delivered = Vec::new();
        let mut hosts: Vec<&str> = Vec::new();
        for done in &batch {
            match done.outcome {
                Outcome::Delivered { status } => {
                    delivered.push((done.row.id, status));
                    hosts.push(&done.row.host);
                }
                _ => {
                    if let Err(e) = self.record(&done.row, &done.outcome, done.decision, done.at) {
                        tracing::error!(error = %e, inbox = %done.row.inbox, "could not record a delivery");
                    }
                }
            }
        }
        if delivered.is_empty() {
            return;
        }
        let at = batch.iter().map(|d| d.at).max().unwrap_or_default();
        if let Err(e) = store.complete_deliveries(&delivered, at) {
            tracing::error!(error = %e, rows = delivered.len(), "could not record deliveries; they are sent again after their lease");
            return;
        }
        tracing::debug!(rows = delivered.len(), "delivered");
        hosts.sort_unstable();
        hosts.dedup();
        for host in hosts {
            match store.record_delivery_success(host) {
                Ok(true) => tracing::info!(host = %host, "host answers again"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, host = %host, "could not record a host's health")
                }
            }
        }
    }

    /// Claims up to `room` due rows, skipping hosts already at their limit in `busy`, in one
    /// transaction. Returns the leased rows, and whether due rows were left for want of room.
    fn claim(
        &self,
        room: usize,
        busy: &HashMap<String, usize>,
    ) -> Result<(Vec<Delivery>, bool), StoreError> {
        let store = self.store();
        let now = self.now_ms();
        let skipped = store.fail_deliveries_to_unavailable_hosts(now)?;
        if skipped > 0 {
            tracing::warn!(
                rows = skipped,
                "failed deliveries to unavailable hosts without sending"
            );
        }
        let lease_until = now + self.config.lease.as_millis() as i64;
        let mut per_host: HashMap<String, usize> = HashMap::new();
        let limit = self.config.per_host;
        let scan = CLAIM_SCAN.max(room * 2);
        store.claim_deliveries(now, lease_until, limit, room, scan, |host| {
            let load =
                busy.get(host).copied().unwrap_or(0) + per_host.get(host).copied().unwrap_or(0);
            if load >= limit {
                return false;
            }
            *per_host.entry(host.to_string()).or_default() += 1;
            true
        })
    }

    /// Sends every row due now, within the pool limits, and waits for all of them (rows that
    /// come due meanwhile, such as quick retries, are not picked up). Returns how many were sent.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let mut sent = 0;
        loop {
            let (rows, left) = self.claim(self.config.workers, &HashMap::new())?;
            if rows.is_empty() {
                return Ok(sent);
            }
            let mut set = JoinSet::new();
            for row in rows {
                let this = self.clone();
                set.spawn(async move { this.attempt(row).await });
            }
            let mut batch = Vec::new();
            while let Some(done) = set.join_next().await {
                sent += 1;
                match done {
                    Ok(done) => batch.push(done),
                    Err(e) => tracing::error!(error = %e, "a delivery task failed"),
                }
            }
            self.record_all(batch);
            if !left {
                return Ok(sent);
            }
        }
    }

    /// Sends rows as they come due until `shutdown` turns true; then lets sends in flight finish
    /// for [`DeliveryConfig::grace`] and hands back the leases of the rest.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tasks: JoinSet<Attempted> = JoinSet::new();
        let mut inflight: HashMap<tokio::task::Id, (i64, String)> = HashMap::new();
        let mut busy: HashMap<String, usize> = HashMap::new();
        let mut last_prune: Option<i64> = None;
        // Answers not yet recorded, and when they must be.
        let mut unrecorded: Vec<Attempted> = Vec::new();
        let mut record_by: Option<tokio::time::Instant> = None;
        match self.store().release_stale_leases(self.now_ms()) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                rows = n,
                "resending deliveries cut off when the last process died"
            ),
            Err(e) => {
                tracing::error!(error = %e, "could not release stale leases; they retry after their lease")
            }
        }
        let claim_min = (self.config.workers / 16).max(1);
        tracing::info!(
            workers = self.config.workers,
            per_host = self.config.per_host,
            "delivery workers started"
        );
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = self.now_ms();
            if last_prune.is_none_or(|t| now - t >= PRUNE_EVERY.as_millis() as i64) {
                last_prune = Some(now);
                let done_before = now - KEEP_DONE.as_millis() as i64;
                let failed_before = now - KEEP_FAILED.as_millis() as i64;
                if let Err(e) = self.store().prune_deliveries(done_before, failed_before) {
                    tracing::error!(error = %e, "could not prune old deliveries");
                }
            }
            let room = self.config.workers.saturating_sub(inflight.len());
            let mut left = false;
            let mut wait = self.config.poll;
            // A claim reads every due row, so under load it waits for a few slots to free
            // rather than running after each answer; with little in flight it runs at once.
            if room > 0 && (room >= claim_min || inflight.len() < claim_min) {
                match self.claim(room, &busy) {
                    Ok((rows, l)) => {
                        left = l;
                        for row in rows {
                            let entry = (row.id, row.host.clone());
                            *busy.entry(row.host.clone()).or_default() += 1;
                            let this = self.clone();
                            let handle = tasks.spawn(async move { this.attempt(row).await });
                            inflight.insert(handle.id(), entry);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "could not claim deliveries"),
                }
            } else {
                left = true;
            }
            if !left {
                // Nothing due is waiting for room: sleep until the next row comes due.
                match self.store().next_delivery_due() {
                    Ok(Some(at)) => {
                        let ms = (at - self.now_ms()).max(0) as u64;
                        wait = wait.min(Duration::from_millis(ms));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not read the delivery queue"),
                }
                // Leased rows count as due at their lease end; while all are in flight this
                // would spin, so a row ending now only wakes us once something finishes.
                if wait.is_zero() && !inflight.is_empty() {
                    wait = self.config.poll;
                }
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.out.wake.notified() => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    // Every answer ready now joins the batch; the batch is recorded once it is
                    // large or a moment old, or when nothing else is in flight.
                    let mut next = Some(done);
                    while let Some(done) = next {
                        let id = match done {
                            Ok((id, attempted)) => {
                                unrecorded.push(attempted);
                                id
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "a delivery task failed");
                                e.id()
                            }
                        };
                        if let Some((_, host)) = inflight.remove(&id) {
                            release_slot(&mut busy, &host);
                        }
                        next = tasks.try_join_next_with_id();
                    }
                    if unrecorded.len() >= RECORD_BATCH || tasks.is_empty() {
                        self.record_all(std::mem::take(&mut unrecorded));
                        record_by = None;
                    } else if record_by.is_none() {
                        record_by = Some(tokio::time::Instant::now() + RECORD_WITHIN);
                    }
                }
                _ = sleep_until_some(record_by) => {
                    self.record_all(std::mem::take(&mut unrecorded));
                    record_by = None;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.record_all(std::mem::take(&mut unrecorded));
        // Shutdown: no new claims; give sends in flight a moment, then abandon the rest.
        let grace = tokio::time::sleep(self.config.grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => {
                    let id = match done {
                        Ok((id, attempted)) => {
                            self.record_all(vec![attempted]);
                            id
                        }
                        Err(e) => e.id(),
                    };
                    inflight.remove(&id);
                }
                _ = &mut grace => {
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        let abandoned: Vec<i64> = inflight.values().map(|(id, _)| *id).collect();
        if !abandoned.is_empty() {
            // Due again at once on the next start instead of after the lease.
            if let Err(e) = self.store().release_deliveries(&abandoned, self.now_ms()) {
                tracing::error!(error = %e, "could not release abandoned deliveries; they retry after their lease");
            }
        }
        tracing::info!(abandoned = abandoned.len(), "delivery workers stopped");
    }
}

/// Signs one hop of a delivery. Receivers check Date against their own clock: always the real
/// time, never a test clock.
fn sign_logged(
    key: &SigningKey,
    method: &Method,
    url: &Url,
    headers: &mut HeaderMap,
    body: Option<&[u8]>,
) {
    if let Err(e) = sign_request(key, method, url, headers, body, SystemTime::now()) {
        tracing::error!(error = %e, "could not sign a delivery; it goes unsigned and will be refused");
    }
}

/// Signatures computed apart from the async threads that drive the sends: at most one per core
/// at once (about 0.25 ms of RSA-2048 each), on tokio's blocking threads. Requests wait in one
/// queue; a blocking task signs queued requests until none is left, so a fan-out costs a
/// hand-over per request, not a blocking task per request.
struct Signers {
    queue: Arc<Mutex<SignQueue>>,
    max: usize,
}

#[derive(Default)]
struct SignQueue {
    jobs: std::collections::VecDeque<(SignJob, oneshot::Sender<HeaderMap>)>,
    /// Blocking tasks signing now.
    active: usize,
}

/// One request to sign: its headers come back with `Digest`, `Date` and `Signature`.
struct SignJob {
    key: Arc<SigningKey>,
    url: Url,
    headers: HeaderMap,
    body: Bytes,
}

impl Signers {
    fn new(max: usize) -> Signers {
        Signers {
            queue: Arc::default(),
            max: max.max(1),
        }
    }

    async fn sign(&self, job: SignJob) -> Result<HeaderMap, String> {
        let (done, signed) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.jobs.push_back((job, done));
            let start = queue.active < self.max;
            if start {
                queue.active += 1;
            }
            start
        };
        if start {
            let queue = self.queue.clone();
            tokio::task::spawn_blocking(move || sign_queued(&queue));
        }
        signed
            .await
            .map_err(|_| "the signing task ended without it".to_string())
    }
}

/// Signs queued requests until the queue is empty.
fn sign_queued(queue: &Mutex<SignQueue>) {
    /// Gives the task's place back if signing panics, so the queue never runs short of signers.
    struct Active<'a>(&'a Mutex<SignQueue>);
    impl Drop for Active<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).active -= 1;
        }
    }
    let active = Active(queue);
    loop {
        let (mut job, done) = {
            let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            match queue.jobs.pop_front() {
                Some(next) => next,
                None => {
                    // Under the lock that saw the queue empty: a request queued after this
                    // starts a task of its own.
                    queue.active -= 1;
                    std::mem::forget(active);
                    return;
                }
            }
        };
        // A request whose sender gave up (timeout, shutdown) is not signed.
        if done.is_closed() {
            continue;
        }
        sign_logged(
            &job.key,
            &Method::POST,
            &job.url,
            &mut job.headers,
            Some(&job.body),
        );
        let _ = done.send(job.headers);
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn release_slot(busy: &mut HashMap<String, usize>, host: &str) {
    if let Some(n) = busy.get_mut(host) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            busy.remove(host);
        }
    }
}

/// The delivery workers of a running app: their owner, and the way to stop them.
#[derive(Debug)]
pub struct Workers {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Starts `deliverer`'s worker pool in the background.
    pub fn spawn(deliverer: Deliverer) -> Workers {
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(deliverer.run(rx));
        Workers { shutdown, task }
    }

    /// Stops claiming rows, waits for sends in flight (up to the grace period) and returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;

    fn response(status: u16, headers: &[(&str, &str)]) -> Result<Response, FetchError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Ok(Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::new(),
            final_url: Url::parse("https://a.example/inbox").unwrap(),
        })
    }

    fn temporary(retry_after_ms: Option<i64>) -> Outcome {
        Outcome::Temporary {
            status: Some(503),
            error: "503".into(),
            retry_after_ms,
        }
    }

    #[test]
    fn can_back_off_by_n4_plus_15_seconds_with_sidekiq_jitter() {
        for n in 0..MAX_RETRIES {
            let base = u64::from(n).pow(4) + 15;
            assert_eq!(backoff(n, 0), Duration::from_secs(base), "retry {n}");
            assert_eq!(
                backoff(n, 9),
                Duration::from_secs(base + 9 * (u64::from(n) + 1)),
                "retry {n}"
            );
        }
        assert_eq!(backoff(0, 0), Duration::from_secs(15));
        assert_eq!(backoff(15, 0), Duration::from_secs(50_640));
        // Random rolls stay in range.
        for _ in 0..200 {
            let d = backoff(3, jitter_roll()).as_secs();
            assert!((96..=96 + 36).contains(&d), "{d}");
        }
    }

    #[test]
    fn can_give_up_after_16_retries_about_two_days_later() {
        let mut now = NOW;
        let mut attempts = 0;
        loop {
            match decide(&temporary(None), attempts, now, 0) {
                Decision::RetryAt(at) => {
                    assert_eq!(at - now, backoff(attempts, 0).as_millis() as i64);
                    now = at;
                    attempts += 1;
                }
                Decision::Failed => break,
                Decision::Done => unreachable!(),
            }
        }
        assert_eq!(attempts, MAX_RETRIES, "1 attempt + 16 retries");
        let days = (now - NOW) as f64 / 86_400_000.0;
        assert!((2.0..3.0).contains(&days), "{days} days");
        // With the largest jitter it is still within the 2-3 days.
        let worst: u64 = (0..MAX_RETRIES).map(|n| backoff(n, 9).as_secs()).sum();
        assert!(worst < 3 * 86_400, "{worst}");
    }

    #[test]
    fn can_honour_retry_after_in_seconds_and_as_a_date() {
        let r = response(503, &[("retry-after", "120")]);
        assert_eq!(
            classify(&r, NOW),
            Outcome::Temporary {
                status: Some(503),
                error: "503 Service Unavailable".into(),
                retry_after_ms: Some(120_000)
            }
        );
        let at = UNIX_EPOCH + Duration::from_millis(NOW as u64 + 3_600_000);
        let r = response(429, &[("retry-after", &httpdate::fmt_http_date(at))]);
        let Outcome::Temporary { retry_after_ms, .. } = classify(&r, NOW) else {
            panic!()
        };
        assert_eq!(retry_after_ms, Some(3_600_000));
        // Later than the backoff: the header wins; sooner: the backoff wins.
        assert_eq!(
            decide(&temporary(Some(3_600_000)), 0, NOW, 0),
            Decision::RetryAt(NOW + 3_600_000)
        );
        assert_eq!(
            decide(&temporary(Some(1_000)), 0, NOW, 0),
            Decision::RetryAt(NOW + 15_000)
        );
        // Believed for a day at most.
        assert_eq!(
            decide(&temporary(Some(30 * 86_400_000)), 0, NOW, 0),
            Decision::RetryAt(NOW + 86_400_000)
        );
        // A date in the past, or nonsense, asks for nothing.
        let past = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1));
        let r = response(503, &[("retry-after", &past)]);
        assert_eq!(retry_after(&r.unwrap().headers, NOW), Some(0));
        let r = response(503, &[("retry-after", "soon")]);
        assert_eq!(retry_after(&r.unwrap().headers, NOW), None);
    }

    #[test]
    fn can_tell_permanent_from_temporary_statuses() {
        for status in [400, 403, 404, 405, 413, 422] {
            let o = classify(&response(status, &[]), NOW);
            assert!(
                matches!(o, Outcome::Permanent { status: Some(s), .. } if s == status),
                "{status}: {o:?}"
            );
            assert_eq!(decide(&o, 0, NOW, 0), Decision::Failed);
        }
        for status in [401, 408, 429, 500, 502, 503, 504, 302] {
            let o = classify(&response(status, &[]), NOW);
            assert!(
                matches!(o, Outcome::Temporary { status: Some(s), .. } if s == status),
                "{status}: {o:?}"
            );
            assert!(matches!(decide(&o, 0, NOW, 0), Decision::RetryAt(_)));
        }
        for status in [200, 202, 204] {
            let o = classify(&response(status, &[]), NOW);
            assert_eq!(o, Outcome::Delivered { status });
            assert_eq!(decide(&o, 5, NOW, 0), Decision::Done);
        }
        let gone = classify(&response(410, &[]), NOW);
        assert_eq!(gone, Outcome::Gone);
        assert_eq!(decide(&gone, 0, NOW, 0), Decision::Failed);
    }

    #[test]
    fn can_tell_network_errors_from_refused_addresses() {
        let url = Url::parse("https://a.example/inbox").unwrap();
        let timeout = Err(FetchError::Timeout {
            url: url.clone(),
            stage: client::TimeoutStage::Connect,
            after: Duration::from_secs(5),
        });
        assert!(matches!(
            classify(&timeout, NOW),
            Outcome::Temporary { status: None, .. }
        ));
        let refused = Err(FetchError::Refused {
            url,
            ip: "127.0.0.1".parse().unwrap(),
            reason: "loopback",
        });
        assert!(matches!(
            classify(&refused, NOW),
            Outcome::Permanent { status: None, .. }
        ));
    }
}
