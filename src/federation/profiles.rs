//! What followers are sent when site.toml changes an actor: an `Update` of a profile that
//! changed, and (once confirmed) the `Delete` of an actor that was removed.
//!
//! After each rebuild the app compares every actor's document before and after
//! ([`publish_profile_changes`]): the document followers would fetch, built from the config, the
//! rendered profile (summary, fields, avatar, header) and the key, so whatever changes what a
//! follower sees (a new name, an avatar file path) and nothing else sends an `Update`. An actor
//! new in site.toml has no followers yet and sends nothing; it is served at once.
//!
//! A removed `[[actor]]` answers 410 at once, but its `Delete` is held: Mastodon drops every
//! follower of an actor it is told is deleted, and a handle renamed by mistake must not cost a
//! brand its audience. [`removed_actors`] lists the removed actors whose `Delete` is not queued
//! yet (for `masthead status` and the log), and [`delete_removed_actors`] queues them, for
//! `masthead publish --confirm`. The Delete is signed with the removed actor's own key, which the
//! store keeps.
//!
//! This module owns those activities and their audience; sending them is `federation::delivery`.

use serde_json::{json, Value};

use crate::catalog::Catalog;
use crate::config::Site;
use crate::federation::objects::{self, ActorParts, PUBLIC};
use crate::federation::outbox::{audience, Publisher};
use crate::store::{ActorKeys, NewDelivery, Store, StoreError};
use crate::urls::Urls;

/// The document of `handle` as `site` and `catalog` serve it (`None` when it is not served).
pub fn actor_document(
    site: &Site,
    urls: &Urls,
    catalog: &Catalog,
    keys: &ActorKeys,
    handle: &str,
) -> Option<Value> {
    let actor = site.actor(handle)?;
    let profile = catalog.profiles.get(handle)?;
    let parts = ActorParts {
        key: keys.actor(handle)?,
        summary_html: &profile.summary_html,
        fields_html: &profile.fields_html,
        icon: profile.icon.clone(),
        image: profile.image.clone(),
    };
    Some(objects::actor(site, urls, actor, &parts))
}

/// The `Update` of an actor whose profile changed; `document` is its new actor document.
pub fn update_activity(urls: &Urls, handle: &str, document: &Value, at_ms: i64) -> Value {
    let mut object = document.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("@context");
    }
    json!({
        "@context": objects::context(),
        "id": urls.actor_update(handle, at_ms),
        "type": "Update",
        "actor": urls.actor(handle),
        "to": [PUBLIC],
        "cc": [urls.followers(handle)],
        "object": object,
    })
}

/// The `Delete` of an actor removed from site.toml.
pub fn delete_activity(urls: &Urls, handle: &str) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": urls.actor_delete(handle),
        "type": "Delete",
        "actor": urls.actor(handle),
        "to": [PUBLIC],
        "cc": [urls.followers(handle)],
        "object": urls.actor(handle),
    })
}

/// A site and the snapshot built from it.
pub struct Served<'a> {
    pub site: &'a Site,
    pub catalog: &'a Catalog,
}

/// Queues an `Update` to the followers of every actor whose document differs between `before`
/// and `after`, and logs actors added and removed. Returns the delivery rows queued; the caller
/// wakes the delivery workers.
pub fn publish_profile_changes(
    p: &Publisher,
    keys: &ActorKeys,
    before: &Served<'_>,
    after: &Served<'_>,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for actor in &after.site.actors {
        let handle = actor.handle.as_str();
        if before.site.actor(handle).is_none() {
            tracing::info!(actor = %handle, "new actor in site.toml: now served");
            continue;
        }
        let old = actor_document(before.site, &p.urls, before.catalog, keys, handle);
        let new = actor_document(after.site, &p.urls, after.catalog, keys, handle);
        let (Some(old), Some(new)) = (old, new) else {
            continue;
        };
        if old == new {
            continue;
        }
        let actor_id = p.urls.actor(handle);
        // The new Update carries the whole profile: older ones still waiting are moot.
        p.store.drop_pending_deliveries(&actor_id, &["Update"])?;
        let activity = update_activity(&p.urls, handle, &new, p.clock.now_ms());
        let n = enqueue(p, handle, &activity)?;
        tracing::info!(actor = %handle, inboxes = n, "profile changed: Update queued for followers");
        queued += n;
    }
    for actor in &before.site.actors {
        if after.site.actor(&actor.handle).is_none() {
            tracing::warn!(
                actor = %actor.handle,
                "actor removed from site.toml: it now answers 410, and its Delete (which makes every server drop its followers) is held until `masthead publish --confirm`; put the [[actor]] back to undo"
            );
        }
    }
    Ok(queued)
}

/// Actors the store has a key of, that `site` no longer configures, that have followers to tell
/// and whose `Delete` is not queued yet: removals waiting for `masthead publish --confirm`.
pub fn removed_actors(site: &Site, urls: &Urls, store: &Store) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for handle in store.key_handles()? {
        if site.actor(&handle).is_some() || audience(store, &handle, &[])?.is_empty() {
            continue;
        }
        let id = urls.actor_delete(&handle);
        let queued = store
            .deliveries_of_object(&urls.actor(&handle))?
            .iter()
            .any(|d| d.activity_id == id);
        if !queued {
            out.push(handle);
        }
    }
    Ok(out)
}

/// Queues the `Delete` of every actor [`removed_actors`] lists, to its followers. Returns the
/// handles and rows queued; the caller wakes the delivery workers.
pub fn delete_removed_actors(p: &Publisher) -> Result<Vec<(String, usize)>, StoreError> {
    let mut out = Vec::new();
    for handle in removed_actors(&p.site, &p.urls, &p.store)? {
        let actor_id = p.urls.actor(&handle);
        p.store.drop_pending_deliveries(&actor_id, &["Update"])?;
        let n = enqueue(p, &handle, &delete_activity(&p.urls, &handle))?;
        tracing::warn!(actor = %handle, inboxes = n, "Delete of a removed actor queued for its followers");
        out.push((handle, n));
    }
    Ok(out)
}

/// Queues `activity` by `handle`, about the actor itself, for its followers' inboxes.
fn enqueue(p: &Publisher, handle: &str, activity: &Value) -> Result<usize, StoreError> {
    let inboxes = audience(&p.store, handle, &[])?;
    let body = activity.to_string();
    p.store.enqueue_delivery(
        &NewDelivery {
            activity_id: activity["id"].as_str().unwrap_or_default(),
            object_id: Some(&p.urls.actor(handle)),
            actor: handle,
            body: &body,
        },
        &inboxes,
        p.clock.now_ms(),
    )
}
