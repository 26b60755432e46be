//! Discovery documents: WebFinger, host-meta and NodeInfo.
//!
//! This module owns answering "who is `@news@city.example`" and "what server is this". The handle
//! domain may differ from the serving host (`@news@city.example` served from
//! `social.city.example`); WebFinger accepts either, and answers with the handle domain as subject.

use serde_json::{json, Value};

use crate::config::{host_with_port, Site};
use crate::federation::objects::ACTIVITY_JSON;
use crate::urls::Urls;

/// What a WebFinger `resource` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Resource {
    /// One of the site's actors, by handle.
    Actor(String),
    /// The instance actor.
    Instance,
}

/// Resolves a WebFinger `resource` (`acct:user@domain`, or an actor's id or profile URL).
pub fn resolve(site: &Site, urls: &Urls, resource: &str) -> Option<Resource> {
    let serving_host = host_with_port(&site.base_url);
    if let Some(acct) = resource.strip_prefix("acct:") {
        let acct = acct.trim_start_matches('@');
        let (user, domain) = acct.rsplit_once('@')?;
        let domain = domain.to_ascii_lowercase();
        if domain != site.domain.to_ascii_lowercase() && domain != serving_host {
            return None;
        }
        let user = user.to_ascii_lowercase();
        if user == site.domain.to_ascii_lowercase() {
            return Some(Resource::Instance);
        }
        return site.actor(&user).map(|a| Resource::Actor(a.handle.clone()));
    }
    if resource == urls.instance_actor() {
        return Some(Resource::Instance);
    }
    site.actors
        .iter()
        .find(|a| resource == urls.actor(&a.handle) || resource == urls.actor_html(&a.handle))
        .map(|a| Resource::Actor(a.handle.clone()))
}

/// The JRD for a resolved resource.
pub fn webfinger(site: &Site, urls: &Urls, resource: &Resource) -> Value {
    match resource {
        Resource::Actor(handle) => json!({
            "subject": format!("acct:{handle}@{}", site.domain),
            "aliases": [urls.actor(handle), urls.actor_html(handle)],
            "links": [
                { "rel": "self", "type": ACTIVITY_JSON, "href": urls.actor(handle) },
                { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": urls.actor_html(handle) },
            ],
        }),
        Resource::Instance => json!({
            "subject": format!("acct:{}@{}", site.domain, site.domain),
            "aliases": [urls.instance_actor()],
            "links": [
                { "rel": "self", "type": ACTIVITY_JSON, "href": urls.instance_actor() },
            ],
        }),
    }
}

/// `/.well-known/host-meta`: the LRDD template Mastodon falls back to.
pub fn host_meta(urls: &Urls) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n  <Link rel=\"lrdd\" template=\"{}/.well-known/webfinger?resource={{uri}}\"/>\n</XRD>\n",
        urls.base()
    )
}

/// `/.well-known/host-meta.json`.
pub fn host_meta_json(urls: &Urls) -> Value {
    json!({ "links": [{
        "rel": "lrdd",
        "template": format!("{}/.well-known/webfinger?resource={{uri}}", urls.base()),
    }]})
}

/// The NodeInfo schema this server speaks.
pub const NODEINFO_SCHEMA: &str = "http://nodeinfo.diaspora.software/ns/schema/2.1";

/// `/.well-known/nodeinfo`.
pub fn nodeinfo_links(urls: &Urls) -> Value {
    json!({ "links": [{ "rel": NODEINFO_SCHEMA, "href": urls.nodeinfo() }] })
}

/// The NodeInfo 2.1 document; `posts` counts published posts.
pub fn nodeinfo(site: &Site, posts: usize) -> Value {
    let actors = site.actors.len();
    json!({
        "version": "2.1",
        "software": {
            "name": "masthead",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": [] },
        "openRegistrations": false,
        "usage": {
            "users": { "total": actors, "activeMonth": actors, "activeHalfyear": actors },
            "localPosts": posts,
        },
        "metadata": { "nodeName": site.name.clone().unwrap_or_else(|| site.domain.clone()) },
    })
}
