//! Receiving an inbox POST while the sender waits: the HTTP-facing checks and the signature
//! verification, then the activity queued with a 202 (see the order of checks in [`super`]).
//!
//! It changes nothing but the queue (and the sender's delivery failures, forgotten): acting on
//! the activity is the worker's.

use std::time::SystemTime;

use serde_json::Value;
use url::Url;

use super::jsonld;
use super::{Inbox, InboxError, InboxRequest, Received, MAX_BODY_BYTES};
use crate::federation::fetch::{
    authority, header_str, id_of, is_safe_remote_url, key_actor_url, parsed_authority,
    parsed_origin, FetchObjectError,
};
use crate::federation::signatures::{self, SignatureError};
use crate::store::{ArrivedActivity, NewInboxActivity};

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

/// Verifies one inbox POST and queues it; see the module docs for the order of checks.
#[tracing::instrument(skip_all, fields(recipient = ?req.recipient))]
pub async fn receive(inbox: &Inbox, mut req: InboxRequest) -> Result<Received, InboxError> {
    if let Some(h) = &req.recipient {
        if inbox.site.actor(h).is_none() {
            return Err(InboxError::UnknownRecipient(h.clone()));
        }
    }
    let content_type = header_str(&req.headers, http::header::CONTENT_TYPE);
    if !is_inbox_content_type(content_type) {
        return Err(InboxError::MediaType(content_type.to_string()));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(InboxError::TooLarge);
    }
    // Signatures cover our public URL: verify against site.base_url's scheme and host, whatever
    // Host a proxy in front of us passed on.
    let mut headers = std::mem::take(&mut req.headers);
    if let Ok(host) =
        http::HeaderValue::from_str(&crate::config::host_with_port(&inbox.site.base_url))
    {
        headers.insert(http::header::HOST, host);
    }
    let signed = signatures::parse_with_url_scheme(
        inbox.site.base_url.scheme(),
        &req.method,
        &req.target,
        &headers,
    )?;
    // The cheap checks, before anything is parsed further or fetched: the date window, the
    // digest against the body, and a key id masthead may fetch at all.
    let dev = &inbox.site.dev;
    let rules = signatures::KeyIdRules {
        allow_http: dev.allow_http,
        allow_any_port: dev.allow_http || dev.allow_private_addresses,
        allow_ip_literal: dev.allow_private_addresses,
    };
    // Each URL is parsed once, here, and handed to the checks that need it.
    let key_url = signed.check_without_key(SystemTime::now(), &req.body, rules)?;
    let activity: Value = serde_json::from_slice(&req.body)
        .map_err(|e| InboxError::Malformed(format!("not JSON: {e}")))?;
    let allow_http = inbox.site.dev.allow_http;
    let ours = parsed_authority(&inbox.site.base_url);
    let checked = check_parsed_activity(ours.as_deref(), allow_http, &activity)?;
    let key_id = signed.key_id().to_string();
    let sender = parsed_authority(&key_url).unwrap_or_default();
    if ours.as_deref() == Some(sender.as_str()) {
        return Err(InboxError::Ours(key_id));
    }
    // Before any fetch: a blocked server must not see us look at it.
    for url in [&key_url, &checked.actor_url] {
        if inbox.moderation.parsed_url_blocked(url) {
            return Err(InboxError::Blocked(
                parsed_authority(url).unwrap_or_default(),
            ));
        }
    }
    // What a JSON-LD processor would read otherwise than we do is not acted on.
    if let Some(trick) = jsonld::trick(&activity) {
        tracing::warn!(id = %checked.id, actor = %checked.actor, trick = %trick, "activity read otherwise by JSON-LD; dropped");
        return Ok(Received::Ignored);
    }
    // Servers broadcast account deletions to every server they know; fetching each gone key
    // would be a flood. Someone never seen here left nothing to delete (Mastodon does the same).
    if checked.kind == "Delete" && inbox.store.remote_actor(&checked.actor)?.is_none() {
        tracing::debug!(actor = %checked.actor, "Delete from an actor never seen here; dropped");
        return Ok(Received::Ignored);
    }
    // A key speaks only for actors of its own origin; no fetch is made to learn otherwise.
    let key_origin = parsed_origin(&key_url);
    if key_origin.is_none() || key_origin != parsed_origin(&checked.actor_url) {
        return Err(InboxError::KeyOwner {
            key_id,
            owner: key_actor_url(signed.key_id()),
            actor: checked.actor,
        });
    }

    // A server over its allowance is refused before anything is fetched or verified.
    let limits = &inbox.site.limits;
    if let Err(retry_after_s) = inbox.rates.check(&sender, inbox.clock.now_ms(), limits) {
        return Err(InboxError::RateLimited {
            host: sender,
            retry_after_s,
        });
    }

    let mut signer = match inbox
        .fetcher
        .signer(&inbox.store, &key_id, &checked.actor, false)
        .await
    {
        Ok(found) => found,
        Err(source) => return key_unavailable(inbox, &req, &checked, key_id, source).await,
    };
    // The date window is checked against the wall, not the injected clock: the sender stamped
    // its own real time.
    if let Err(first) = signatures::verify(&signed, &signer.key, &req.body, SystemTime::now()) {
        // Keys rotate: refetch once, from the cache's point of view, at most once per host per
        // KEY_REFETCH_INTERVAL_MS (a forged request must not make us hammer a server).
        let retry = signer.cached
            && matches!(first, SignatureError::BadSignature { .. })
            && inbox.fetcher.may_refetch_key(&inbox.store, &key_id)?;
        if !retry {
            return Err(first.into());
        }
        signer = match inbox
            .fetcher
            .signer(&inbox.store, &key_id, &checked.actor, true)
            .await
        {
            Ok(found) => found,
            Err(source) => return key_unavailable(inbox, &req, &checked, key_id, source).await,
        };
        signatures::verify(&signed, &signer.key, &req.body, SystemTime::now())?;
    }
    let signer = signer.actor;
    if signer.id != checked.actor {
        return Err(InboxError::KeyOwner {
            key_id,
            owner: signer.id,
            actor: checked.actor,
        });
    }
    // Only a verified activity spends its server's allowance.
    if let Err(retry_after_s) = inbox.rates.take(&sender, inbox.clock.now_ms(), limits) {
        return Err(InboxError::RateLimited {
            host: sender,
            retry_after_s,
        });
    }
    // Committed with whatever else arrived meanwhile; answered once it is on disk.
    let fresh = inbox
        .store
        .record_inbox_activity_grouped(
            ArrivedActivity {
                id: checked.id.clone(),
                signer: signer.id.clone(),
                recipient: req.recipient.clone(),
                kind: checked.kind.clone(),
                body: String::from_utf8_lossy(&req.body).into_owned(),
                signature: match signed.spec() {
                    signatures::Spec::Rfc9421 => "rfc9421",
                    signatures::Spec::DraftCavage12 => "draft-cavage-12",
                },
            },
            inbox.clock.now_ms(),
        )
        .await?;
    if !fresh {
        tracing::debug!(id = %checked.id, "duplicate activity");
        return Ok(Received::Duplicate);
    }
    tracing::info!(id = %checked.id, kind = %checked.kind, actor = %checked.actor, "activity queued");
    // A server that reaches us with a verified activity is up again: forget its delivery
    // failures, as Mastodon's DeliveryFailureTracker.reset! does, so an unavailable host
    // gets its deliveries again.
    // Read first (off the writer's lock): almost always there is nothing to forget.
    // (The signer is the activity's actor, checked above.)
    let host = parsed_authority(&checked.actor_url).unwrap_or_default();
    let reset = match inbox.store.host_health(&host) {
        Ok(health) if health == crate::store::HostHealth::default() => Ok(false),
        Ok(_) => inbox.store.record_delivery_success(&host),
        Err(e) => Err(e),
    };
    if let Err(e) = reset {
        tracing::warn!(host = %host, error = %e, "could not reset the delivery failures of a host");
    }
    inbox.wake.notify_one();
    Ok(Received::Queued)
}

/// The answer when the signer's key could not be had. The `Delete` of an actor by itself, whose
/// key is gone too (Mastodon sends it anyway), is accepted: when the actor's own origin answers
/// `410 Gone` for it and we knew the actor, the Delete is queued (unsigned, with the origin's
/// word for it) so that what the actor left here is removed; otherwise it is dropped. A key whose
/// server cannot be reached now is a 503, so the sender retries; anything else a 401.
async fn key_unavailable(
    inbox: &Inbox,
    req: &InboxRequest,
    checked: &CheckedActivity,
    key_id: String,
    source: FetchObjectError,
) -> Result<Received, InboxError> {
    let self_delete =
        checked.kind == "Delete" && checked.object_id.as_deref() == Some(&checked.actor);
    if !(source.is_gone() && self_delete) {
        return Err(InboxError::Key {
            key_id,
            source: Box::new(source),
        });
    }
    // The key's document is not necessarily the actor's: then ask the actor's URL itself.
    let deleted = source.is_deleted()
        && (key_actor_url(&key_id) == checked.actor
            || matches!(inbox.fetcher.object(&checked.actor).await, Err(e) if e.is_deleted()));
    if !deleted || inbox.store.remote_actor(&checked.actor)?.is_none() {
        tracing::info!(actor = %checked.actor, "Delete of an actor whose key is gone; ignored");
        return Ok(Received::Ignored);
    }
    let fresh = inbox.store.record_inbox_activity(
        &NewInboxActivity {
            id: &checked.id,
            signer: &checked.actor,
            recipient: req.recipient.as_deref(),
            kind: &checked.kind,
            body: &String::from_utf8_lossy(&req.body),
            signature: "gone",
        },
        inbox.clock.now_ms(),
    )?;
    if !fresh {
        return Ok(Received::Duplicate);
    }
    tracing::info!(actor = %checked.actor, "Delete of an actor whose origin answers 410 Gone; queued");
    inbox.wake.notify_one();
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
    /// The actor id parsed.
    pub actor_url: Url,
    /// The object's id, when there is one.
    pub object_id: Option<String>,
}

/// The checks on an activity's shape and origin that need no network: `id`, `type` and `actor`
/// present and [safe](safe_remote_url) (`https:`, or `http:` when `allow_http`); nothing on
/// `our_base`'s host; the activity id on the actor's origin (scheme, host and port). Only the
/// origin that made a thing may make or change it: the object of a `Create`, `Update`, `Delete`
/// or `Undo` (embedded or a URL) must be on the actor's origin too, and attributed to the actor
/// when it says. (Mastodon refuses the same; any other embedded object is only ever read for its
/// id, or refetched from its origin by the interpreter.)
pub fn check_activity(
    our_base: &str,
    allow_http: bool,
    activity: &Value,
) -> Result<CheckedActivity, InboxError> {
    check_parsed_activity(authority(our_base).as_deref(), allow_http, activity)
}

/// [`check_activity`] for a site whose authority (`host[:port]`) is `ours`: each URL of the
/// activity parsed once.
fn check_parsed_activity(
    ours: Option<&str>,
    allow_http: bool,
    activity: &Value,
) -> Result<CheckedActivity, InboxError> {
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
    let actor_url = Url::parse(actor).ok();
    let id_url = Url::parse(id).ok();
    for (url, parsed) in [(actor, &actor_url), (id, &id_url)] {
        let theirs = parsed.as_ref().and_then(parsed_authority);
        if ours.is_some() && theirs.as_deref() == ours {
            return Err(InboxError::Ours(url.to_string()));
        }
    }
    let (Some(actor_url), Some(id_url)) = (
        actor_url.filter(|u| is_safe_remote_url(actor, u, allow_http)),
        id_url.filter(|u| is_safe_remote_url(id, u, allow_http)),
    ) else {
        return Err(malformed(if allow_http {
            "actor and id must be absolute http(s) URLs"
        } else {
            "actor and id must be absolute https URLs"
        }));
    };
    let actor_origin = parsed_origin(&actor_url);
    let origin = |what: &'static str, other: &str, parsed: Option<&Url>| {
        // The actor is safe, so its origin is some origin.
        let same = parsed.is_some_and(|u| {
            parsed_origin(u) == actor_origin && is_safe_remote_url(other, u, allow_http)
        });
        if same {
            Ok(())
        } else {
            Err(InboxError::Origin {
                what,
                id: other.to_string(),
                actor: actor.to_string(),
            })
        }
    };
    origin("activity id", id, Some(&id_url))?;
    let object = activity.get("object");
    let object_id = object.and_then(id_of).map(str::to_string);
    if matches!(kind, "Create" | "Update" | "Delete") && object_id.is_none() {
        return Err(malformed("Create, Update and Delete need an object id"));
    }
    if let Some(object_id) = object_id
        .as_deref()
        .filter(|_| matches!(kind, "Create" | "Update" | "Delete" | "Undo"))
    {
        origin("object id", object_id, Url::parse(object_id).ok().as_ref())?;
        if let Some(attributed) = object
            .filter(|_| kind != "Undo")
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
        actor_url,
        object_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let got = check_activity(BASE, true, &like()).unwrap();
        assert_eq!(got.actor, "https://r.example/users/a");
        assert_eq!(got.kind, "Like");
    }

    #[test]
    fn rejects_an_activity_claiming_our_host() {
        let mut a = like();
        a["actor"] = json!("http://127.0.0.1:8080/users/news");
        a["id"] = json!("http://127.0.0.1:8080/users/news#likes/1");
        assert!(matches!(
            check_activity(BASE, true, &a),
            Err(InboxError::Ours(_))
        ));
        // Same IP, another port, is another server.
        a["actor"] = json!("http://127.0.0.1:9999/users/x");
        a["id"] = json!("http://127.0.0.1:9999/likes/1");
        assert!(check_activity(BASE, true, &a).is_ok());
    }

    /// Which id [`check_activity`] refused as off the actor's host.
    fn origin_refused(activity: &Value) -> Option<&'static str> {
        match check_activity(BASE, false, activity) {
            Err(InboxError::Origin { what, .. }) => Some(what),
            _ => None,
        }
    }

    #[test]
    fn rejects_ids_off_the_actors_host() {
        let mut a = like();
        a["id"] = json!("https://elsewhere.example/likes/1");
        assert_eq!(origin_refused(&a), Some("activity id"));
        let create = json!({
            "id": "https://r.example/c/1", "type": "Create", "actor": "https://r.example/users/a",
            "object": { "id": "https://elsewhere.example/n/1", "type": "Note" },
        });
        assert_eq!(origin_refused(&create), Some("object id"));
        let delete = json!({
            "id": "https://r.example/d/1", "type": "Delete", "actor": "https://r.example/users/a",
            "object": "https://elsewhere.example/n/1",
        });
        assert!(check_activity(BASE, true, &delete).is_err());
        let forged = json!({
            "id": "https://r.example/c/2", "type": "Create", "actor": "https://r.example/users/a",
            "object": { "id": "https://r.example/n/2", "type": "Note", "attributedTo": "https://r.example/users/b" },
        });
        assert_eq!(origin_refused(&forged), Some("object attributedTo"));
    }

    #[test]
    fn rejects_a_scheme_other_than_the_actors() {
        // The host and port are the actor's; the scheme is not.
        let create = json!({
            "id": "https://r.example/c/3", "type": "Create", "actor": "https://r.example/users/a",
            "object": { "id": "javascript://r.example/%0Aalert(1)", "type": "Note",
                        "attributedTo": "https://r.example/users/a" },
        });
        assert_eq!(origin_refused(&create), Some("object id"));
        let mut plain = like();
        plain["actor"] = json!("http://r.example/users/a");
        plain["id"] = json!("http://r.example/likes/1");
        assert!(matches!(
            check_activity(BASE, false, &plain),
            Err(InboxError::Malformed(m)) if m == "actor and id must be absolute https URLs"
        ));
        assert!(check_activity(BASE, true, &plain).is_ok());
    }

    #[test]
    fn rejects_an_update_delete_or_undo_from_another_origin() {
        for kind in ["Update", "Delete", "Undo"] {
            let a = json!({
                "id": "https://r.example/x/1", "type": kind, "actor": "https://r.example/users/a",
                "object": { "id": "https://victim.example/likes/1", "type": "Like" },
            });
            assert_eq!(origin_refused(&a), Some("object id"), "{kind}");
        }
    }

    #[test]
    fn rejects_activities_missing_id_type_or_actor() {
        for key in ["id", "type", "actor"] {
            let mut a = like();
            a.as_object_mut().unwrap().remove(key);
            assert!(
                matches!(
                    check_activity(BASE, true, &a),
                    Err(InboxError::Malformed(_))
                ),
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
}
