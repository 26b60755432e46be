//! The outbox: what followers are sent when the published posts change.
//!
//! After every build of the catalog the rebuild calls [`publish_pending`] for what the store found
//! new, changed or gone, and each change becomes one activity queued for every inbox that reaches
//! the actor's followers: `Create` (the very document GET `/users/h/posts/s/activity` serves),
//! `Update` (the whole object with an `updated` newer than before) or `Delete` (of the post's
//! `Tombstone`). The first scan of an actor's folder publishes nothing: its back catalogue stays
//! in the outbox instead of flooding followers' timelines.
//!
//! This module owns the activities and who they go to; sending them is `federation::delivery`.
//! Mentions and replies add the post's addressees (resolved by `federation::addressing`) to the
//! followers; a Create or Update whose addressees are not resolved yet is held back as a
//! `pending_publications` row, and the addressing worker publishes it later with [`publish`],
//! the one function that turns a change into queued deliveries. It is given the handles it uses
//! as a [`Publisher`], never the whole app.
//!
//! A crash between the store recording a change and this module queueing (or holding back) it
//! would lose that one publication; the two run back to back without an await in between.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::catalog::{published, Catalog, PostRecord, SharedCatalog};
use crate::clock::Clock;
use crate::config::{Actor, Site};
use crate::federation::addressing;
use crate::federation::objects::{self, Counts, PostParts, PUBLIC};
use crate::store::{
    DeliveryState, NewDelivery, PendingChange, PostChange, Store, StoreError, Tombstone,
};
use crate::urls::Urls;

/// What the outbox is given to turn post changes into queued deliveries: it reads the posts in
/// `catalog`, and wakes the delivery workers when rows are queued and the addressing worker when
/// a publication is held back for its mentions and reply.
#[derive(Clone)]
pub struct Publisher {
    pub site: Arc<Site>,
    pub urls: Urls,
    pub store: Arc<Store>,
    pub clock: Clock,
    pub catalog: SharedCatalog,
    pub delivery_wake: Arc<Notify>,
    pub addressing_wake: Arc<Notify>,
}

/// Activity types about a post that a later one about the same post makes pointless to send.
const POST_ACTIVITIES: &[&str] = &["Create", "Update"];

/// The inboxes an activity of `handle` goes to: one per follower server (shared inbox, else the
/// personal inbox) plus `extra` (mentioned accounts, the author of a post replied to), each once.
pub fn audience(store: &Store, handle: &str, extra: &[String]) -> Result<Vec<String>, StoreError> {
    let mut inboxes = store.follower_inboxes(handle)?;
    inboxes.extend(extra.iter().cloned());
    inboxes.sort();
    inboxes.dedup();
    Ok(inboxes)
}

/// The `Update` of an edited post: the whole object, `updated` set to `updated`, with the
/// object's addressing. Its id is unique per edit (`<post id>#updates/<unix ms>`).
pub fn update_activity(
    site: &Site,
    urls: &Urls,
    actor: &Actor,
    record: &PostRecord,
    updated: DateTime<Utc>,
    at_ms: i64,
) -> Value {
    let parts = PostParts {
        site,
        urls,
        actor,
        record,
        counts: Counts::default(),
    };
    let mut object = objects::post_object(&parts, true);
    object["updated"] = json!(objects::time(updated));
    json!({
        "@context": objects::context(),
        "id": urls.post_update(&actor.handle, &record.post.slug, at_ms),
        "type": "Update",
        "actor": urls.actor(&actor.handle),
        "published": objects::time(updated),
        "to": object["to"].clone(),
        "cc": object["cc"].clone(),
        "object": object,
    })
}

/// The `Delete` of a removed post; its object is the same Tombstone its URL now answers with 410.
pub fn delete_activity(urls: &Urls, handle: &str, slug: &str, tomb: &Tombstone) -> Value {
    let mut object = objects::tombstone(urls, handle, slug, tomb);
    if let Some(map) = object.as_object_mut() {
        map.remove("@context");
    }
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": urls.post_delete(handle, slug),
        "type": "Delete",
        "actor": urls.actor(handle),
        "to": [PUBLIC],
        "cc": [urls.followers(handle)],
        "object": object,
    })
}

/// The `updated` of an edit published at `at`: the front matter's `updated` when it is newer
/// than what followers last got (Mastodon applies an edit only when `updated` moves forward),
/// else the time of the change.
fn edit_time(
    previous: Option<DateTime<Utc>>,
    record: &PostRecord,
    at: DateTime<Utc>,
) -> DateTime<Utc> {
    let before = previous
        .unwrap_or_else(|| published(record))
        .max(published(record));
    match record.post.more().updated {
        Some(u) if u > before => u,
        // Documents carry whole seconds: make sure the new value reads later than the old one.
        _ => {
            let at = at.duration_trunc(TimeDelta::seconds(1)).unwrap_or(at);
            at.max(before + TimeDelta::seconds(1))
        }
    }
}

/// `updated` (else `published`) of the object of the last Create or Update queued for
/// `object_id`, i.e. what followers have.
fn last_sent_time(store: &Store, object_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Some(body) = store.latest_delivery_body(object_id, POST_ACTIVITIES)? else {
        return Ok(None);
    };
    let Ok(activity) = serde_json::from_str::<Value>(&body) else {
        return Ok(None);
    };
    let object = &activity["object"];
    Ok(object["updated"]
        .as_str()
        .or(object["published"].as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// Queues `activity` by our actor `handle`, about the post `object_id`, to its followers and
/// `extra_inboxes`, deleting the `pending_publications` row `pending` (when given) in the same
/// transaction. Returns the rows queued.
fn enqueue(
    app: &Publisher,
    handle: &str,
    activity: &Value,
    object_id: &str,
    extra_inboxes: &[String],
    pending: Option<i64>,
) -> Result<usize, StoreError> {
    let inboxes = audience(&app.store, handle, extra_inboxes)?;
    let body = activity.to_string();
    let id = activity["id"].as_str().unwrap_or_default();
    app.store.enqueue_delivery_for(
        &NewDelivery {
            activity_id: id,
            object_id: Some(object_id),
            actor: handle,
            body: &body,
        },
        &inboxes,
        app.clock.now_ms(),
        pending,
    )
}

/// Queues every publication the store says followers are owed (`pending_publications`, written
/// with each post change; none for an actor's first scan), oldest first. A Create or Update whose
/// mentions or reply are not resolved yet stays for `federation::addressing`, and so do later
/// publications of the same post, so they go out in order. Wakes the workers concerned. Returns
/// the delivery rows queued.
pub fn publish_pending(app: &Publisher) -> Result<usize, StoreError> {
    let catalog = app.catalog.current();
    let now_ms = app.clock.now_ms();
    let mut queued = 0;
    let mut waiting: HashSet<(String, String)> = HashSet::new();
    for row in app.store.pending_publications()? {
        let post = (row.actor.clone(), row.slug.clone());
        if waiting.contains(&post) {
            continue;
        }
        let (actor, slug) = post.clone();
        let change = match row.change {
            PendingChange::Create => PostChange::Created { actor, slug },
            PendingChange::Update => PostChange::Updated { actor, slug },
            PendingChange::Delete => {
                let former_type = app
                    .store
                    .tombstone(&actor, &slug)?
                    .map(|t| t.former_type)
                    .unwrap_or_else(|| "Note".into());
                PostChange::Removed {
                    actor,
                    slug,
                    former_type,
                }
            }
        };
        if row.change != PendingChange::Delete {
            let record = catalog
                .posts_of(&row.actor)
                .iter()
                .find(|r| *r.post.slug == *row.slug);
            if let Some(record) = record {
                if addressing::refs_unsettled(&app.site, &app.store, &record.post, now_ms)? {
                    tracing::info!(actor = %row.actor, slug = %row.slug, "held back until its mentions and reply are resolved");
                    waiting.insert(post);
                    continue;
                }
            }
        }
        queued += publish(app, &catalog, &change, Some(row.id))?;
    }
    if !waiting.is_empty() {
        app.addressing_wake.notify_one();
    }
    if queued > 0 {
        app.delivery_wake.notify_one();
    }
    Ok(queued)
}

fn post_of(change: &PostChange) -> (&String, &String) {
    match change {
        PostChange::Created { actor, slug }
        | PostChange::Updated { actor, slug }
        | PostChange::Removed { actor, slug, .. } => (actor, slug),
    }
}

/// Queues the activity of one post `change`, built from `catalog`, for the followers and the
/// post's addressees, dropping queued activities it makes moot. `pending` is the
/// `pending_publications` row this publishes: it is deleted in the transaction that queues the
/// activity, or at once when there is nothing to publish any more. Returns the rows queued; the
/// caller wakes the delivery workers.
pub fn publish(
    app: &Publisher,
    catalog: &Catalog,
    change: &PostChange,
    pending: Option<i64>,
) -> Result<usize, StoreError> {
    let (handle, slug) = post_of(change);
    let nothing = || -> Result<usize, StoreError> {
        if let Some(id) = pending {
            app.store.delete_pending_publication(id)?;
        }
        Ok(0)
    };
    let Some(actor) = app.site.actor(handle) else {
        tracing::warn!(actor = %handle, slug = %slug, "not publishing a change of an actor that is no longer configured");
        return nothing();
    };
    let object_id = app.urls.post(handle, slug);
    let record = catalog
        .posts_of(handle)
        .iter()
        .find(|r| *r.post.slug == **slug);
    let now_ms = app.clock.now_ms();
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_else(Utc::now);
    let activity = match (change, record) {
        (PostChange::Created { .. }, Some(record)) => {
            // The post is back: a Delete still waiting would undo it.
            app.store.drop_pending_deliveries(&object_id, &["Delete"])?;
            let parts = PostParts {
                site: &app.site,
                urls: &app.urls,
                actor,
                record,
                counts: Counts::default(),
            };
            objects::create_activity(&parts, false)
        }
        (PostChange::Updated { .. }, Some(record)) => {
            let previous = last_sent_time(&app.store, &object_id)?;
            let updated = edit_time(previous, record, now);
            // The new Update carries the whole object: older ones still waiting are moot.
            app.store.drop_pending_deliveries(&object_id, &["Update"])?;
            update_activity(&app.site, &app.urls, actor, record, updated, now_ms)
        }
        (PostChange::Removed { former_type, .. }, _) => {
            let tomb = app.store.tombstone(handle, slug)?.unwrap_or(Tombstone {
                former_type: former_type.clone(),
                deleted: now,
            });
            app.store
                .drop_pending_deliveries(&object_id, POST_ACTIVITIES)?;
            delete_activity(&app.urls, handle, slug, &tomb)
        }
        (_, None) => {
            tracing::warn!(actor = %handle, slug = %slug, "changed post is not in the catalog; not publishing it");
            return nothing();
        }
    };
    let extra: Vec<String> = match change {
        // A Delete goes wherever the post went: followers, and every inbox that took a Create
        // or Update of it (people it mentioned or answered who do not follow us). Rows still
        // pending were dropped above, so only servers that have the post hear of its removal.
        PostChange::Removed { .. } => {
            let mut inboxes: Vec<String> = app
                .store
                .deliveries_of_object(&object_id)?
                .into_iter()
                .filter(|d| d.state == DeliveryState::Done)
                .map(|d| d.inbox)
                .collect();
            inboxes.sort();
            inboxes.dedup();
            inboxes
        }
        _ => record
            .map(|r| r.addressees.iter().map(|a| a.inbox.clone()).collect())
            .unwrap_or_default(),
    };
    let n = enqueue(app, handle, &activity, &object_id, &extra, pending)?;
    tracing::info!(
        actor = %handle,
        slug = %slug,
        activity = %activity["type"].as_str().unwrap_or_default(),
        inboxes = n,
        addressees = extra.len(),
        "queued for followers and addressees"
    );
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Post;
    use chrono::TimeZone;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn record(date: DateTime<Utc>, updated: Option<DateTime<Utc>>) -> PostRecord {
        let mut post = Post {
            date: Some(date),
            ..crate::content::test_support::post("news", "a")
        };
        post.more_mut().updated = updated;
        post.tidy();
        PostRecord {
            post: post.into(),
            first_seen: date,
            addressees: vec![],
            bodies: None,
        }
    }

    #[test]
    fn can_take_a_newer_front_matter_updated_for_an_edit() {
        let r = record(t(20, 9), Some(t(21, 0)));
        assert_eq!(edit_time(None, &r, t(21, 15)), t(21, 0));
        // Followers already have that `updated`: use the time of the change.
        assert_eq!(edit_time(Some(t(21, 0)), &r, t(21, 15)), t(21, 15));
    }

    #[test]
    fn can_date_an_edit_without_a_newer_updated_at_the_change() {
        let r = record(t(20, 9), None);
        assert_eq!(edit_time(None, &r, t(20, 12)), t(20, 12));
        // Never the same second as what followers have.
        let sent = t(20, 12);
        assert_eq!(
            edit_time(Some(sent), &r, sent),
            sent + TimeDelta::seconds(1)
        );
    }
}
