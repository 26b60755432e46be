//! Addressing: who a post names besides its followers, resolved over the network, durably.
//!
//! A post's `@user@host` mentions and its `in_reply_to` name remote actors. Each becomes a
//! Mention tag, an id in `cc` and an inbox the post is delivered to. Finding those actors takes
//! requests to other servers (WebFinger, then the actor; or the note, then its author), which the
//! synchronous catalog rebuild must never wait for. So:
//!
//! - [`refs`] lists what a post names, each with a stable key (`acct:user@host`, or the
//!   note URL).
//! - The outbox holds back a Create or Update whose refs are not all settled (see
//!   [`refs_unsettled`]) as a `pending_publications` row, and wakes [`run_worker`].
//! - The worker resolves every missing ref of every pending row ([`resolve`]), records each
//!   outcome in `remote_refs` (an error too: a dead host is retried at most once per
//!   [`RETRY_FAILED_AFTER_MS`], and the post goes out without that addressee meanwhile), then
//!   signals a catalog rebuild, so GET and the activity carry the same addressees
//!   ([`crate::catalog::addressees`]) and the outbox queues each publication, deleting its row in the
//!   same transaction.
//!
//! Rows a crash leaves are processed at the next start. Every request is bounded by the client's
//! timeouts (a ref costs at most two requests, plus an `http://` WebFinger retry under
//! `[dev] allow_http`). Refs on our own host are never resolved: they name no one to deliver to.
//! This module does not build activities (`outbox`) or send them (`delivery`); it is given the
//! handles it uses as an [`Addressing`], never the whole app.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{watch, Notify};
use url::Url;

use super::client::is_activitypub_content_type;
use super::fetch::{id_of, same_authority, FetchObjectError, Fetcher};
use crate::catalog::rebuild::Rebuilds;
use crate::catalog::{refs, Ref, SharedCatalog};
use crate::clock::Clock;
use crate::config::Site;
use crate::content::Post;
use crate::store::{Addressee, Store, StoreError};

/// How long a failed resolution stands before it is tried again: an hour, so a host that is down
/// (or gone for good) costs one attempt per hour, not one per post or per rebuild.
pub const RETRY_FAILED_AFTER_MS: i64 = 60 * 60 * 1000;

/// How long the worker sleeps between looks at the table when nobody wakes it.
const POLL: Duration = Duration::from_secs(60);

/// What the addressing worker is given.
pub struct Addressing {
    pub site: Arc<Site>,
    pub store: Arc<Store>,
    /// Signed GETs of WebFinger documents, actors and notes.
    pub fetcher: Arc<Fetcher>,
    pub clock: Clock,
    /// Read for the posts that wait.
    pub catalog: SharedCatalog,
    /// Wakes the worker when the outbox holds a publication back (it also polls).
    pub wake: Arc<Notify>,
    /// Asked for a rebuild once refs are resolved.
    pub rebuilds: Rebuilds,
}

/// Why a ref could not be resolved. Kept as text in `remote_refs.error`.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The WebFinger document or an ActivityPub document could not be fetched or used.
    #[error(transparent)]
    Fetch(#[from] FetchObjectError),
    /// The WebFinger answer has no `self` link to an ActivityPub actor.
    #[error("WebFinger of {acct} names no ActivityPub actor (no `self` link of type application/activity+json)")]
    NoActorLink {
        /// The `acct:` resource asked for.
        acct: String,
    },
    /// The note replied to names no author on its own host.
    #[error("{url} has no attributedTo on its own host, so there is no author to address")]
    NoAuthor {
        /// The note.
        url: String,
    },
    /// A mention whose host is not usable in a URL.
    #[error("{acct}: the host is not a valid host name")]
    BadHost {
        /// The `acct:` resource.
        acct: String,
    },
}

/// Whether a Create or Update of `post` must wait for the worker: one of its refs (mentions,
/// reply) was never looked up, or failed more than an hour before `now_ms`.
pub fn refs_unsettled(
    site: &Site,
    store: &Store,
    post: &Post,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let keys: Vec<String> = refs(site, post).iter().map(Ref::key).collect();
    if keys.is_empty() {
        return Ok(false);
    }
    Ok(!store
        .unsettled_refs(&keys, now_ms, RETRY_FAILED_AFTER_MS)?
        .is_empty())
}

/// The actor id a WebFinger document (JRD) points at: the `href` of the first `self` link whose
/// `type` is an ActivityPub media type. Other `self` links (an HTML profile, a feed) are skipped.
pub fn actor_link(jrd: &Value) -> Option<&str> {
    jrd.get("links")?
        .as_array()?
        .iter()
        .filter(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
        .filter(|l| {
            l.get("type")
                .and_then(Value::as_str)
                .is_some_and(is_activitypub_content_type)
        })
        .find_map(|l| l.get("href").and_then(Value::as_str))
}

/// The author of a note: `attributedTo` as a string, an object with an `id`, or a list of those
/// (the first actor in it; Mastodon reads it the same way).
pub fn attributed_to(doc: &Value) -> Option<&str> {
    match doc.get("attributedTo")? {
        Value::Array(list) => list.iter().find_map(id_of),
        v => id_of(v),
    }
}

/// Resolves one ref to the actor it names: a mention by WebFinger (`https://`, then `http://`
/// when `[dev] allow_http` is on), then the actor; a reply by fetching the note, then its author.
pub async fn resolve(app: &Addressing, r: &Ref) -> Result<Addressee, ResolveError> {
    match r {
        Ref::Mention { user, host } => {
            let acct = r.key();
            let actor_id = webfinger(app, &acct, host).await?;
            let actor = app.fetcher.actor(&app.store, &actor_id, false).await?;
            Ok(Addressee {
                inbox: actor.shared_inbox.clone().unwrap_or(actor.inbox.clone()),
                actor_id: actor.id,
                name: format!("@{user}@{host}"),
            })
        }
        Ref::Reply(url) => {
            let note = app.fetcher.object(url).await?;
            let note_id = id_of(&note).unwrap_or(url);
            let author = attributed_to(&note)
                .filter(|a| same_authority(a, note_id))
                .ok_or_else(|| ResolveError::NoAuthor { url: url.clone() })?
                .to_string();
            let actor = app.fetcher.actor(&app.store, &author, false).await?;
            Ok(Addressee {
                inbox: actor.shared_inbox.clone().unwrap_or(actor.inbox.clone()),
                name: actor
                    .handle
                    .as_deref()
                    .map(|h| format!("@{h}"))
                    .unwrap_or_else(|| actor.id.clone()),
                actor_id: actor.id,
            })
        }
    }
}

async fn webfinger(app: &Addressing, acct: &str, host: &str) -> Result<String, ResolveError> {
    let jrd = webfinger_jrd(&app.fetcher, acct, host).await?;
    actor_link(&jrd)
        .map(str::to_string)
        .ok_or_else(|| ResolveError::NoActorLink {
            acct: acct.to_string(),
        })
}

/// The WebFinger document (JRD) of `acct` (`acct:user@host`) from `host` (`name[:port]`):
/// over `https://`, then `http://` when the fetcher takes http (`[dev] allow_http`, where
/// development peers listen). Unsigned and bounded by the client's timeouts and address rules.
pub async fn webfinger_jrd(
    fetcher: &Fetcher,
    acct: &str,
    host: &str,
) -> Result<Value, ResolveError> {
    let url = |scheme: &str| -> Result<String, ResolveError> {
        let mut u =
            Url::parse(&format!("{scheme}://{host}/.well-known/webfinger")).map_err(|_| {
                ResolveError::BadHost {
                    acct: acct.to_string(),
                }
            })?;
        u.query_pairs_mut().append_pair("resource", acct);
        Ok(u.to_string())
    };
    match fetcher.jrd(&url("https")?).await {
        Ok(jrd) => Ok(jrd),
        // Development peers listen on plain http (the address policy refuses http otherwise).
        Err(e) if fetcher.allow_http() => {
            tracing::debug!(acct, error = %e, "WebFinger over https failed; trying http");
            Ok(fetcher.jrd(&url("http")?).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Resolves and publishes held-back publications until `shutdown`: at once when started (rows
/// a crash left), then whenever the outbox wakes it, and every [`POLL`] at the latest.
pub async fn run_worker(app: Arc<Addressing>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        process_pending(&app, &mut shutdown).await;
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// One pass over `pending_publications`: resolves the refs they wait for and signals a rebuild,
/// which queues each publication. A shutdown during a resolution leaves every row for the next
/// start. Returns the refs looked up.
pub async fn process_pending(app: &Addressing, shutdown: &mut watch::Receiver<bool>) -> usize {
    match process(app, shutdown).await {
        Ok(n) => n,
        Err(e) => {
            // The rows stay; the next pass (a wake or the poll) tries again.
            tracing::error!(error = %e, "cannot process pending publications");
            0
        }
    }
}

async fn process(
    app: &Addressing,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<usize, StoreError> {
    let rows = app.store.pending_publications()?;
    if rows.is_empty() {
        return Ok(0);
    }
    let catalog = app.catalog.current();
    let mut tried = HashSet::new();
    let mut looked_up = 0;
    for row in &rows {
        let Some(record) = catalog
            .posts_of(&row.actor)
            .iter()
            .find(|r| *r.post.slug == *row.slug)
        else {
            // Gone since: publishing it below drops the row.
            continue;
        };
        for r in refs(&app.site, &record.post) {
            let key = r.key();
            let now = app.clock.now_ms();
            if !tried.insert(key.clone())
                || app
                    .store
                    .unsettled_refs(std::slice::from_ref(&key), now, RETRY_FAILED_AFTER_MS)?
                    .is_empty()
            {
                continue;
            }
            looked_up += 1;
            let outcome = tokio::select! {
                outcome = resolve(app, &r) => outcome,
                _ = shutdown.changed() => return Ok(0),
            };
            let now = app.clock.now_ms();
            match outcome {
                Ok(a) => {
                    tracing::info!(key = %key, actor = %a.actor_id, "resolved");
                    app.store.save_resolved_ref(&key, &a, now)?;
                }
                Err(e) => {
                    tracing::warn!(key = %key, actor = %row.actor, slug = %row.slug, error = %e,
                        "cannot resolve; publishing without this addressee (retried in an hour)");
                    app.store.save_failed_ref(&key, &e.to_string(), now)?;
                }
            }
        }
    }
    // The new addressees enter the catalog, and the rebuild publishes what is owed: the rows
    // whose refs are settled now go out, each deleted as it is queued.
    app.rebuilds.signal();
    Ok(looked_up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn can_pick_the_activitypub_self_link_of_a_webfinger_answer() {
        let jrd = json!({
            "subject": "acct:ann@m.example",
            "links": [
                { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": "https://m.example/@ann" },
                { "rel": "self", "type": "text/html", "href": "https://m.example/@ann" },
                { "rel": "self", "type": "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"", "href": "https://m.example/users/ann" },
                { "rel": "self", "type": "application/activity+json", "href": "https://m.example/other" },
            ]
        });
        assert_eq!(actor_link(&jrd), Some("https://m.example/users/ann"));
    }

    #[test]
    fn rejects_a_webfinger_answer_without_an_activitypub_self_link() {
        let jrd = json!({ "links": [
            { "rel": "self", "href": "https://m.example/users/ann" },
            { "rel": "alternate", "type": "application/activity+json", "href": "https://m.example/a" },
        ]});
        assert_eq!(actor_link(&jrd), None);
        assert_eq!(actor_link(&json!({ "subject": "acct:a@b.example" })), None);
    }

    #[test]
    fn can_read_every_form_of_attributed_to() {
        let a = "https://m.example/users/ann";
        assert_eq!(attributed_to(&json!({ "attributedTo": a })), Some(a));
        assert_eq!(
            attributed_to(&json!({ "attributedTo": { "type": "Person", "id": a } })),
            Some(a)
        );
        assert_eq!(
            attributed_to(
                &json!({ "attributedTo": [{ "type": "Person", "id": a }, "https://m.example/users/bob"] })
            ),
            Some(a)
        );
        assert_eq!(attributed_to(&json!({ "attributedTo": [7, a] })), Some(a));
        assert_eq!(attributed_to(&json!({ "content": "x" })), None);
    }
}
