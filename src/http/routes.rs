//! The route table: every path masthead answers ([`Route::parse`]), the handler of each
//! ([`get`] maps one to the other, one line each), and the handlers, one small function per
//! kind of route.
//!
//! Paths mirror the shapes in `crate::urls`. Object URLs negotiate on `Accept`: ActivityPub
//! clients get `application/activity+json`, browsers get a page (or, in static-site mode, a
//! redirect to the brand's own page); both carry `Vary: Accept`. The inboxes take POST only
//! (their checks live in `federation::inbox`; the body is capped here while it is read); every
//! other path takes GET and HEAD; anything else on a known path is 405.
//!
//! Caching is decided here once per route ([`Route::freshness`]) and applied to every GET and
//! HEAD answer after its handler ran (`cache::revalidate`: ETag, 304, Cache-Control), so no
//! handler writes a cache header; a HEAD is answered by building the GET and dropping its body,
//! so both carry the same ETag.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use super::cache::{self, Freshness};
use super::interact;
use super::pages;
use super::response::{self as r, Resp};
use super::State;
use crate::catalog::Catalog;
use crate::catalog::PostRecord;
use crate::config::Actor;
use crate::federation::inbox::{self, InboxError, InboxRequest};
use crate::federation::objects::{self, Counts, PostParts, PAGE_SIZE};
use crate::federation::{comments, discovery};
use crate::store::FollowState;
use crate::urls::percent_decode;

/// The address of the client a request came from, put in its extensions by the server.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub IpAddr);

/// Handles one request: every response, whatever the route, carries the security headers
/// ([`r::secure`]) and a `Cache-Control` (the route's for a GET or HEAD answer, else
/// `no-store`: see [`cache`]).
#[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.uri().path()))]
pub async fn handle(app: &State, req: Request<Incoming>) -> Resp {
    let mut resp = route(app, req).await;
    r::secure(&mut resp, csp(app.site.dev.allow_http));
    cache::no_store_unless_set(&mut resp);
    resp
}

/// The page policy of a site with or without `[dev] allow_http` (the same for every request).
fn csp(allow_http: bool) -> &'static HeaderValue {
    static POLICIES: [OnceLock<HeaderValue>; 2] = [OnceLock::new(), OnceLock::new()];
    POLICIES[usize::from(allow_http)].get_or_init(|| {
        let policy = r::content_security_policy(pages::style_hash(), allow_http);
        HeaderValue::from_str(&policy).expect("the policy is ASCII")
    })
}

async fn route(app: &State, req: Request<Incoming>) -> Resp {
    if let Some(name) = oversized_header(req.headers(), app.site.limits.max_header_bytes) {
        tracing::info!(header = %name, "request header too large");
        return r::error_and_close(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "a request header is too large",
        );
    }
    let method = req.method().clone();
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers = req.headers().clone();
    let Some(route) = Route::parse(&path) else {
        return r::not_found();
    };
    if let Route::Inbox(recipient) = route {
        if method != Method::POST {
            return r::method_not_allowed("POST");
        }
        return inbox_post(app, recipient, req).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return r::method_not_allowed("GET, HEAD");
    }
    let json = r::wants_activity_json(&headers);
    let freshness = route.freshness(json);
    let resp = get(app, route, &query, json, peer).await;
    let mut resp = cache::revalidate(resp, freshness, &headers).await;
    // A 304 has no body to measure; hyper sends it without a length.
    if method == Method::HEAD && resp.status() != StatusCode::NOT_MODIFIED {
        let len = http_body_util::BodyExt::collect(resp.body_mut())
            .await
            .map(|b| b.to_bytes().len())
            .unwrap_or(0);
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        *resp.body_mut() = Full::new(Bytes::new());
    }
    resp
}

/// The name of the first header longer than `max` bytes (name and value), if any.
fn oversized_header(headers: &HeaderMap, max: usize) -> Option<&header::HeaderName> {
    headers
        .iter()
        .find(|(name, value)| name.as_str().len() + value.len() > max)
        .map(|(name, _)| name)
}

/// A parsed path.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    Home,
    Interact,
    WebFinger,
    HostMeta,
    HostMetaJson,
    NodeInfoLinks,
    NodeInfo,
    InstanceActor,
    InstanceOutbox,
    Inbox(Option<String>),
    Comments(String, String),
    Actor(String),
    Outbox(String),
    Followers(String),
    Following(String),
    Featured(String),
    FeaturedTags(String),
    Post(String, String),
    PostCreate(String, String),
    PostCollection(String, String, Interaction),
    AutoReply(String, String),
    Tag(String),
    Media(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Interaction {
    Replies,
    Likes,
    Shares,
}

impl Route {
    pub(super) fn parse(path: &str) -> Option<Route> {
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect::<Option<_>>()?;
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let own = |h: &str| h.to_string();
        Some(match s.as_slice() {
            [""] => Route::Home,
            ["interact"] => Route::Interact,
            [".well-known", "webfinger"] => Route::WebFinger,
            [".well-known", "host-meta"] => Route::HostMeta,
            [".well-known", "host-meta.json"] => Route::HostMetaJson,
            [".well-known", "nodeinfo"] => Route::NodeInfoLinks,
            ["nodeinfo", "2.1"] => Route::NodeInfo,
            ["actor"] => Route::InstanceActor,
            ["actor", "outbox"] => Route::InstanceOutbox,
            ["inbox"] => Route::Inbox(None),
            ["users", h, "inbox"] => Route::Inbox(Some(own(h))),
            ["users", h, "posts", slug, "comments.json"] => Route::Comments(own(h), own(slug)),
            ["users", h] => Route::Actor(own(h)),
            [at] if at.starts_with('@') && at.len() > 1 => Route::Actor(own(&at[1..])),
            ["users", h, "outbox"] => Route::Outbox(own(h)),
            ["users", h, "followers"] => Route::Followers(own(h)),
            ["users", h, "following"] => Route::Following(own(h)),
            ["users", h, "collections", "featured"] => Route::Featured(own(h)),
            ["users", h, "collections", "tags"] => Route::FeaturedTags(own(h)),
            ["users", h, "posts", slug] => Route::Post(own(h), own(slug)),
            [at, slug] if at.starts_with('@') && at.len() > 1 => {
                Route::Post(own(&at[1..]), own(slug))
            }
            ["users", h, "posts", slug, "activity"] => Route::PostCreate(own(h), own(slug)),
            ["users", h, "posts", slug, "replies"] => {
                Route::PostCollection(own(h), own(slug), Interaction::Replies)
            }
            ["users", h, "posts", slug, "likes"] => {
                Route::PostCollection(own(h), own(slug), Interaction::Likes)
            }
            ["users", h, "posts", slug, "shares"] => {
                Route::PostCollection(own(h), own(slug), Interaction::Shares)
            }
            ["users", h, "auto-replies", key] => Route::AutoReply(own(h), own(key)),
            ["tags", tag] if !tag.is_empty() => Route::Tag(own(tag)),
            ["media", rest @ ..] if !rest.is_empty() => Route::Media(rest.join("/")),
            _ => return None,
        })
    }
}

impl Route {
    /// How long caches may keep this route's answers, as the client asked for JSON or not
    /// (the values and why each: [`Freshness`]). Every route is named, so a new one is a choice.
    fn freshness(&self, json: bool) -> Freshness {
        match self {
            // A visitor's own lookup, and the inboxes' POST answers.
            Route::Interact | Route::Inbox(_) => Freshness::NoStore,
            Route::Media(_) => Freshness::MEDIA,
            Route::Outbox(_)
            | Route::Followers(_)
            | Route::PostCollection(..)
            | Route::Comments(..) => Freshness::MOVING,
            // The page lists the post's comments and counts; the Note carries counts too, but
            // as Mastodon serves its own, and an edit is pushed to followers by an `Update`.
            Route::Post(..) if !json => Freshness::MOVING,
            Route::Post(..)
            | Route::PostCreate(..)
            | Route::AutoReply(..)
            | Route::Home
            | Route::WebFinger
            | Route::HostMeta
            | Route::HostMetaJson
            | Route::NodeInfoLinks
            | Route::NodeInfo
            | Route::InstanceActor
            | Route::InstanceOutbox
            | Route::Actor(_)
            | Route::Following(_)
            | Route::Featured(_)
            | Route::FeaturedTags(_)
            | Route::Tag(_) => Freshness::DOCUMENT,
        }
    }
}

pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `?page=` that is not a positive number.
///
/// A page number past the end is 404 (Mastodon answers an empty page; an ActivityPub client
/// follows `next` links and never asks for one), and so is one too large to compute where it
/// starts: `(n - 1) * PAGE_SIZE` is checked, never wrapped.
struct BadPage;

impl BadPage {
    fn response(self) -> Resp {
        r::error(StatusCode::BAD_REQUEST, "page must be a positive number")
    }
}

/// Where page `n` starts; `None` when that cannot be computed (then it is past any end).
fn page_start(n: usize) -> Option<usize> {
    n.checked_sub(1)?.checked_mul(PAGE_SIZE)
}

/// `?page=N`: `Ok(None)` without one.
fn page_param(query: &str) -> Result<Option<usize>, BadPage> {
    match query_param(query, "page") {
        None => Ok(None),
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(BadPage),
        },
    }
}

/// What every GET handler reads: the state, the snapshot taken for this request, the query and
/// which representation was asked for.
struct Get<'a> {
    app: &'a State,
    catalog: Arc<Catalog>,
    query: &'a str,
    /// The client asked for ActivityPub JSON (else it gets a page).
    json: bool,
}

/// The route table: each parsed path to its handler.
async fn get(app: &State, route: Route, query: &str, json: bool, peer: Option<IpAddr>) -> Resp {
    let g = Get {
        app,
        catalog: app.catalog.current(),
        query,
        json,
    };
    match route {
        Route::Home => home(&g),
        Route::WebFinger => webfinger(&g),
        Route::HostMeta => host_meta(&g),
        Route::HostMetaJson => r::json("application/json", &discovery::host_meta_json(&app.urls)),
        Route::NodeInfoLinks => r::json("application/json", &discovery::nodeinfo_links(&app.urls)),
        Route::NodeInfo => nodeinfo(&g),
        Route::InstanceActor => instance_actor(&g),
        Route::InstanceOutbox => instance_outbox(&g),
        Route::Actor(handle) => actor(&g, &handle),
        Route::Outbox(handle) => outbox(&g, &handle),
        Route::Followers(handle) | Route::Following(handle) | Route::FeaturedTags(handle)
            if app.site.actor(&handle).is_none() =>
        {
            r::not_found()
        }
        Route::Followers(handle) => followers(&g, &handle),
        Route::Following(handle) => following(&g, &handle),
        Route::Featured(handle) => featured(&g, &handle),
        Route::FeaturedTags(handle) => featured_tags(&g, &handle),
        Route::Post(handle, slug) => post(&g, &handle, &slug),
        Route::PostCreate(handle, slug) => post_create(&g, &handle, &slug),
        Route::PostCollection(handle, slug, kind) => post_collection(&g, &handle, &slug, kind),
        Route::AutoReply(handle, key) => auto_reply(&g, &handle, &key),
        Route::Tag(name) => tag(&g, &name),
        Route::Comments(handle, slug) => comments_json(&g, &handle, &slug),
        // Routed before `get` is called.
        Route::Inbox(_) => r::method_not_allowed("POST"),
        Route::Media(path) => media(&g, &path).await,
        Route::Interact => interact::interact(app, &g.catalog, peer, query).await,
    }
}

/// Lets any origin read `resp` (discovery documents are fetched by browsers too).
fn allow_any_origin(mut resp: Resp) -> Resp {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// 500 for a store lookup that failed, with the detail in the log.
fn internal_error(what: &str, e: &impl std::fmt::Display) -> Resp {
    tracing::error!(error = %e, "{what} failed");
    r::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn home(g: &Get) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    let mut resp = r::html(StatusCode::OK, pages::home(site, urls));
    r::link_alternate(&mut resp, &urls.instance_actor());
    resp
}

fn webfinger(g: &Get) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    let Some(resource) = query_param(g.query, "resource") else {
        return r::error(StatusCode::BAD_REQUEST, "resource parameter is required");
    };
    match discovery::resolve(site, urls, &resource) {
        Some(found) => r::json(
            "application/jrd+json",
            &discovery::webfinger(site, urls, &found),
        ),
        None => allow_any_origin(r::not_found()),
    }
}

fn host_meta(g: &Get) -> Resp {
    allow_any_origin(r::bytes(
        "application/xrd+xml; charset=utf-8",
        discovery::host_meta(&g.app.urls),
    ))
}

fn nodeinfo(g: &Get) -> Resp {
    r::json(
        "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
        &discovery::nodeinfo(&g.app.site, g.catalog.public_post_count()),
    )
}

fn instance_actor(g: &Get) -> Resp {
    let app = g.app;
    r::activity(
        StatusCode::OK,
        &objects::instance_actor(&app.site, &app.urls, app.keys.instance()),
    )
}

fn instance_outbox(g: &Get) -> Resp {
    let id = format!("{}/outbox", g.app.urls.instance_actor());
    r::activity(StatusCode::OK, &objects::inline_collection(&id, vec![]))
}

fn actor(g: &Get, handle: &str) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    if site.actor(handle).is_none() && g.app.keys.actor(handle).is_some() {
        // An actor removed from site.toml (its key is kept): gone, not unknown.
        let mut resp = r::activity(
            StatusCode::GONE,
            &serde_json::json!({
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": urls.actor(handle),
                "type": "Tombstone",
            }),
        );
        r::vary_accept(&mut resp);
        return resp;
    }
    let (Some(actor), Some(key), Some(profile)) = (
        site.actor(handle),
        g.app.keys.actor(handle),
        g.catalog.profiles.get(handle),
    ) else {
        return r::not_found();
    };
    let mut resp = if g.json {
        let parts = objects::ActorParts {
            key,
            summary_html: &profile.summary_html,
            fields_html: &profile.fields_html,
            icon: profile.icon.clone(),
            image: profile.image.clone(),
        };
        r::activity(StatusCode::OK, &objects::actor(site, urls, actor, &parts))
    } else {
        let posts: Vec<_> = g.catalog.public_posts_of(handle).collect();
        let mut resp = r::html(
            StatusCode::OK,
            pages::profile(site, urls, actor, profile, &posts),
        );
        r::link_alternate(&mut resp, &urls.actor(handle));
        resp
    };
    r::vary_accept(&mut resp);
    resp
}

fn outbox(g: &Get, handle: &str) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    let Some(actor) = site.actor(handle) else {
        return r::not_found();
    };
    let id = urls.outbox(handle);
    let posts: Vec<_> = g.catalog.public_posts_of(handle).collect();
    match page_param(g.query) {
        Err(bad) => bad.response(),
        Ok(None) => r::activity(StatusCode::OK, &objects::paged_collection(&id, posts.len())),
        Ok(Some(n)) => {
            let Some(start) = page_start(n).filter(|&s| s <= posts.len()) else {
                return r::not_found();
            };
            let page = posts.iter().skip(start).take(PAGE_SIZE);
            let items = embedded(g, actor, page.copied(), objects::create_activity);
            r::activity(
                StatusCode::OK,
                &objects::collection_page(&id, n, posts.len(), items),
            )
        }
    }
}

/// `document` (the object or its Create) of each of `records`, embedded in a collection.
fn embedded<'r>(
    g: &Get,
    actor: &Actor,
    records: impl Iterator<Item = &'r PostRecord>,
    document: fn(&PostParts<'_>, bool) -> Value,
) -> Vec<Value> {
    records
        .map(|rec| document(&post_parts(g.app, actor, rec), true))
        .collect()
}

fn followers(g: &Get, handle: &str) -> Resp {
    match g.app.store.followers(handle, FollowState::Accepted) {
        Ok(followers) => {
            let ids: Vec<Value> = followers.into_iter().map(|f| json!(f.follower)).collect();
            paged(&g.app.urls.followers(handle), g.query, ids)
        }
        Err(e) => internal_error("followers lookup", &e),
    }
}

/// Brands publish; they follow no one.
fn following(g: &Get, handle: &str) -> Resp {
    paged(&g.app.urls.following(handle), g.query, vec![])
}

fn featured(g: &Get, handle: &str) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    let Some(actor) = site.actor(handle) else {
        return r::not_found();
    };
    let pinned = g
        .catalog
        .public_posts_of(handle)
        .filter(|rec| rec.post.pinned);
    let items = embedded(g, actor, pinned, objects::post_object);
    r::activity(
        StatusCode::OK,
        &objects::inline_collection(&urls.featured(handle), items),
    )
}

fn featured_tags(g: &Get, handle: &str) -> Resp {
    r::activity(
        StatusCode::OK,
        &objects::inline_collection(&g.app.urls.featured_tags(handle), vec![]),
    )
}

fn post_create(g: &Get, handle: &str, slug: &str) -> Resp {
    let (Some(actor), Some(rec)) = (
        g.app.site.actor(handle),
        g.catalog.public_post(handle, slug),
    ) else {
        return gone_or_missing(g.app, handle, slug, true);
    };
    r::activity(
        StatusCode::OK,
        &objects::create_activity(&post_parts(g.app, actor, rec), false),
    )
}

fn post_collection(g: &Get, handle: &str, slug: &str, kind: Interaction) -> Resp {
    if g.catalog.public_post(handle, slug).is_none() {
        return gone_or_missing(g.app, handle, slug, true);
    }
    let urls = &g.app.urls;
    let (id, total) = match kind {
        Interaction::Replies => {
            return replies_collection(g.app, handle, slug, &urls.replies(handle, slug), g.query)
        }
        Interaction::Likes => (urls.likes(handle, slug), counts(g.app, handle, slug).likes),
        Interaction::Shares => (
            urls.shares(handle, slug),
            counts(g.app, handle, slug).shares,
        ),
    };
    r::activity(
        StatusCode::OK,
        &json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": id, "type": "Collection",
            "totalItems": total,
        }),
    )
}

fn tag(g: &Get, tag: &str) -> Resp {
    let (site, urls) = (&g.app.site, &g.app.urls);
    let tagged = g.catalog.tagged(tag);
    let mut resp = if g.json {
        let items: Vec<Value> = tagged
            .iter()
            .map(|rec| json!(urls.post(&rec.post.actor, &rec.post.slug)))
            .collect();
        let mut doc = objects::inline_collection(&urls.tag(tag), items);
        doc["@context"] = json!("https://www.w3.org/ns/activitystreams");
        r::activity(StatusCode::OK, &doc)
    } else {
        let list: Vec<_> = tagged
            .iter()
            .filter_map(|rec| site.actor(&rec.post.actor).map(|a| (a, *rec)))
            .collect();
        r::html(StatusCode::OK, pages::tag(site, urls, tag, &list))
    };
    r::vary_accept(&mut resp);
    resp
}

fn comments_json(g: &Get, handle: &str, slug: &str) -> Resp {
    if g.catalog.public_post(handle, slug).is_none() {
        return r::not_found();
    }
    match comments::for_post(&g.app.store, handle, slug) {
        Ok(list) => r::json(
            "application/json",
            &serde_json::to_value(list).unwrap_or_default(),
        ),
        Err(e) => internal_error("comments lookup", &e),
    }
}

/// What `rec`'s object and Create are made of, with its counts as stored now.
fn post_parts<'a>(app: &'a State, actor: &'a Actor, rec: &'a PostRecord) -> PostParts<'a> {
    PostParts {
        site: &app.site,
        urls: &app.urls,
        actor,
        record: rec,
        counts: counts(app, &actor.handle, &rec.post.slug),
    }
}

/// Likes, boosts and visible replies of one post (zero when the store cannot say: a count is
/// not worth failing a page for).
fn counts(app: &State, handle: &str, slug: &str) -> Counts {
    let interactions = app
        .store
        .interaction_counts(handle, slug)
        .inspect_err(|e| tracing::error!(error = %e, "interaction counts failed"))
        .unwrap_or_default();
    let replies = app
        .store
        .reply_count(handle, slug)
        .inspect_err(|e| tracing::error!(error = %e, "reply count failed"))
        .unwrap_or_default();
    Counts {
        replies,
        likes: interactions.likes,
        shares: interactions.shares,
    }
}

/// The `replies` collection of a post: reply ids, oldest first, paged.
fn replies_collection(app: &State, handle: &str, slug: &str, id: &str, query: &str) -> Resp {
    let replies = match app.store.replies_to(handle, slug) {
        Ok(r) => r,
        Err(e) => return internal_error("replies lookup", &e),
    };
    match page_param(query) {
        Err(bad) => bad.response(),
        Ok(None) => r::activity(
            StatusCode::OK,
            &objects::paged_collection(id, replies.len()),
        ),
        Ok(Some(n)) => {
            let Some(start) = page_start(n).filter(|&s| n == 1 || s < replies.len()) else {
                return r::not_found();
            };
            let items = replies
                .iter()
                .skip(start)
                .take(PAGE_SIZE)
                .map(|reply| json!(reply.id))
                .collect();
            r::activity(
                StatusCode::OK,
                &objects::collection_page(id, n, replies.len(), items),
            )
        }
    }
}

/// `POST /inbox` and `POST /users/{h}/inbox`: read the body (413 past 1 MiB, by Content-Length
/// before reading and by counting while reading; 408 when it takes longer than
/// `[limits] body_read_timeout`), then let the inbox check and queue it.
async fn inbox_post(app: &State, recipient: Option<String>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > inbox::MAX_BODY_BYTES as u64) {
        return inbox_error(&InboxError::TooLarge);
    }
    // The whole body within `body_read_timeout`: a sender that trickles it is answered 408 and
    // its connection closed, instead of holding it open for as long as it likes.
    let collect =
        http_body_util::BodyExt::collect(http_body_util::Limited::new(body, inbox::MAX_BODY_BYTES));
    let Ok(collected) = tokio::time::timeout(app.site.limits.body_read_timeout, collect).await
    else {
        tracing::info!("inbox body not received in time");
        return r::error_and_close(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time",
        );
    };
    let body = match collected {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return inbox_error(&InboxError::TooLarge)
        }
        Err(e) => {
            tracing::debug!(error = %e, "inbox body unreadable");
            return r::error(StatusCode::BAD_REQUEST, "body could not be read");
        }
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let request = InboxRequest {
        recipient,
        method: parts.method,
        target,
        headers: parts.headers,
        body,
    };
    match inbox::receive(&app.inbox, request).await {
        Ok(received) => {
            tracing::debug!(?received, "inbox accepted");
            r::error(StatusCode::ACCEPTED, "accepted")
        }
        Err(e) => inbox_error(&e),
    }
}

fn inbox_error(e: &InboxError) -> Resp {
    let status = e.status();
    if status.is_server_error() {
        tracing::error!(error = %e, "inbox failed");
    } else {
        tracing::info!(status = status.as_u16(), error = %e, "inbox refused");
    }
    let mut resp = r::error(status, e.public_message());
    if let Some(secs) = e.retry_after_s() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A paged `OrderedCollection` of `items` (always with `first`: Mastodon shows a collection
/// without it as hidden).
fn paged(id: &str, query: &str, items: Vec<Value>) -> Resp {
    let total = items.len();
    match page_param(query) {
        Err(bad) => bad.response(),
        Ok(None) => r::activity(StatusCode::OK, &objects::paged_collection(id, total)),
        Ok(Some(n)) => {
            let Some(start) = page_start(n).filter(|&s| n == 1 || s < total) else {
                return r::not_found();
            };
            let page = items.into_iter().skip(start).take(PAGE_SIZE).collect();
            r::activity(
                StatusCode::OK,
                &objects::collection_page(id, n, total, page),
            )
        }
    }
}

fn post(g: &Get, handle: &str, slug: &str) -> Resp {
    let (app, json) = (g.app, g.json);
    let (site, urls) = (&app.site, &app.urls);
    let (Some(actor), Some(rec)) = (site.actor(handle), g.catalog.public_post(handle, slug)) else {
        return gone_or_missing(app, handle, slug, json);
    };
    let mut resp = if json {
        r::activity(
            StatusCode::OK,
            &objects::post_object(&post_parts(app, actor, rec), false),
        )
    } else if site.html_base_url.is_some() {
        let url = urls.post_url(
            handle,
            slug,
            &rec.post.page_path,
            rec.post.more().url.as_deref(),
        );
        r::redirect(StatusCode::FOUND, &url)
    } else {
        let comments = comments::for_post(&app.store, handle, slug)
            .inspect_err(|e| tracing::error!(error = %e, "comments lookup failed"))
            .unwrap_or_default();
        r::html(
            StatusCode::OK,
            pages::post(
                site,
                urls,
                actor,
                rec,
                counts(app, handle, slug),
                &comments,
                g.catalog.profiles.get(handle).and_then(|p| p.icon.as_ref()),
            ),
        )
    };
    if !json {
        r::link_alternate(&mut resp, &urls.post(handle, slug));
    }
    r::vary_accept(&mut resp);
    resp
}

/// An answer a plugin sent as our actor, as the Note it delivered. Only a public or unlisted
/// one: like a followers-only post, a direct answer is never served (its addressee got it
/// whole in the Create), so it is 404 to everyone, as is an id never sent.
fn auto_reply(g: &Get, handle: &str, key: &str) -> Resp {
    let app = g.app;
    if app.site.actor(handle).is_none() {
        return r::not_found();
    }
    let id = app.urls.auto_reply(handle, key);
    let reply = match app.store.auto_reply(&id) {
        Ok(Some(reply)) if reply.public && reply.actor == handle => reply,
        Ok(_) => return r::not_found(),
        Err(e) => return internal_error("auto-reply lookup", &e),
    };
    let mut note: Value = match serde_json::from_str(&reply.object) {
        Ok(note) => note,
        Err(e) => return internal_error("stored auto-reply", &e),
    };
    if let Some(map) = note.as_object_mut() {
        // The context of the Create that carried it.
        map.insert(
            "@context".into(),
            json!("https://www.w3.org/ns/activitystreams"),
        );
    }
    r::activity(StatusCode::OK, &note)
}

/// 410 with a Tombstone for a post that was published and is gone; 404 otherwise.
fn gone_or_missing(app: &State, handle: &str, slug: &str, json: bool) -> Resp {
    let Some(actor) = app.site.actor(handle) else {
        return r::not_found();
    };
    match app.store.tombstone(handle, slug) {
        Ok(Some(tomb)) => {
            let mut resp = if json {
                r::activity(
                    StatusCode::GONE,
                    &objects::tombstone(&app.urls, handle, slug, &tomb),
                )
            } else {
                r::html(StatusCode::GONE, pages::gone(&app.site, &app.urls, actor))
            };
            r::vary_accept(&mut resp);
            resp
        }
        Ok(None) => r::not_found(),
        Err(e) => internal_error("tombstone lookup", &e),
    }
}

async fn media(g: &Get<'_>, path: &str) -> Resp {
    // Only files the content scan registered are served, so no request path can name a file
    // outside the site (`..` never matches a registered key).
    let Some(file) = g.catalog.media.get(path).cloned() else {
        return r::not_found();
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "media file unreadable");
            return r::not_found();
        }
    };
    // The scan checked the file; it may have been replaced since (by a link to the database,
    // say). Serve it only while it still is an image, with the type its bytes say.
    let Some(media_type) = crate::content::sniffed_image_type(&bytes) else {
        tracing::warn!(file = %file.display(), "media file is no longer an image; not served");
        return r::not_found();
    };
    // Its ETag, 304 and Cache-Control (`Freshness::MEDIA`) are added as for every GET.
    let mut resp = r::bytes(media_type, bytes);
    // `nosniff` is added by `handle`, as on every response; this policy replaces the page one.
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    allow_any_origin(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urls::Urls;

    #[test]
    fn can_parse_every_url_shape_urls_builds() {
        let urls = Urls::from_parts(&url::Url::parse("https://s.example").unwrap(), None);
        let (news, post) = (
            || "news".to_string(),
            || ("news".to_string(), "a-b".to_string()),
        );
        let table = [
            (urls.actor("news"), Route::Actor(news())),
            (urls.actor_html("news"), Route::Actor(news())),
            (urls.outbox("news"), Route::Outbox(news())),
            (urls.featured("news"), Route::Featured(news())),
            (urls.post("news", "a-b"), Route::Post(post().0, post().1)),
            (
                urls.post_html("news", "a-b"),
                Route::Post(post().0, post().1),
            ),
            (
                urls.post_create("news", "a-b"),
                Route::PostCreate(post().0, post().1),
            ),
            (urls.tag("Café"), Route::Tag("café".into())),
            (
                urls.media("content/news/a b.png"),
                Route::Media("content/news/a b.png".into()),
            ),
            (urls.instance_actor(), Route::InstanceActor),
            (
                urls.auto_reply("news", "0a1b"),
                Route::AutoReply(news(), "0a1b".into()),
            ),
            (urls.inbox("news"), Route::Inbox(Some(news()))),
            (urls.shared_inbox(), Route::Inbox(None)),
            (urls.interact(), Route::Interact),
        ];
        for (url, route) in table {
            let path = url::Url::parse(&url).unwrap().path().to_string();
            assert_eq!(Route::parse(&path), Some(route), "{url}");
        }
        assert_eq!(
            Route::parse("/users/news/posts/a-b/comments.json"),
            Some(Route::Comments(news(), "a-b".into()))
        );
        assert_eq!(Route::parse("/nope"), None);
        assert_eq!(Route::parse("/media/%ZZ"), None);
    }
}
