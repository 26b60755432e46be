//! Wire documents: the ActivityStreams JSON masthead serves and sends.
//!
//! Everything here is a pure function from validated config, stored records and [`Urls`] to JSON,
//! so the same document is served on GET and delivered in activities (ids and addressing match by
//! construction). What each field is for, and which server needs it, is in
//! ../shared/FEDIVERSE.md; the notes below say only what is not obvious.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::catalog::{object_type, published, Image, PostRecord};
use crate::config::{Actor, Site};
use crate::content::Visibility;
use crate::store::{KeyPair, Tombstone};
use crate::urls::Urls;

/// The ActivityStreams public collection.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// The content type of every ActivityPub document masthead serves.
pub const ACTIVITY_JSON: &str = "application/activity+json";

/// Page size of paged collections (outbox, followers), as Mastodon's.
pub const PAGE_SIZE: usize = 20;

/// `@context` of actor documents and objects: AS2, security (publicKey), and the Mastodon
/// extension terms we use, so strict JSON-LD processors (Fedify) expand them.
pub fn context() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
            "sensitive": "as:sensitive",
            "Hashtag": "as:Hashtag",
            "toot": "http://joinmastodon.org/ns#",
            "featured": { "@id": "toot:featured", "@type": "@id" },
            "featuredTags": { "@id": "toot:featuredTags", "@type": "@id" },
            "discoverable": "toot:discoverable",
            "indexable": "toot:indexable",
            "attributionDomains": { "@id": "toot:attributionDomains", "@type": "@id" },
            "alsoKnownAs": { "@id": "as:alsoKnownAs", "@type": "@id" },
            "schema": "http://schema.org#",
            "PropertyValue": "schema:PropertyValue",
            "value": "schema:value",
            "webfinger": "https://purl.archive.org/socialweb/webfinger#webfinger",
            "preview": "as:preview",
        }
    ])
}

/// RFC 3339 with seconds and `Z`, the form every server parses.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What an actor document is made of besides the config.
pub struct ActorParts<'a> {
    /// The actor's keypair.
    pub key: &'a KeyPair,
    /// Profile text, rendered and sanitized.
    pub summary_html: &'a str,
    /// Profile fields with values rendered (links with `rel="me"`).
    pub fields_html: &'a [(String, String)],
    /// Avatar.
    pub icon: Option<Image>,
    /// Header.
    pub image: Option<Image>,
}

/// The actor document of one configured account.
pub fn actor(site: &Site, urls: &Urls, actor: &Actor, parts: &ActorParts<'_>) -> Value {
    let id = urls.actor(&actor.handle);
    let mut doc = json!({
        "@context": context(),
        "id": id,
        "type": actor.kind.as_str(),
        "preferredUsername": actor.handle,
        "webfinger": format!("{}@{}", actor.handle, site.domain),
        "name": actor.name,
        "summary": parts.summary_html,
        "url": urls.actor_html(&actor.handle),
        "published": time(parts.key.created_at),
        "inbox": urls.inbox(&actor.handle),
        "outbox": urls.outbox(&actor.handle),
        "followers": urls.followers(&actor.handle),
        "following": urls.following(&actor.handle),
        "featured": urls.featured(&actor.handle),
        "featuredTags": urls.featured_tags(&actor.handle),
        "endpoints": { "sharedInbox": urls.shared_inbox() },
        "manuallyApprovesFollowers": actor.manually_approves_followers,
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
        "publicKey": {
            "id": urls.key_id(&actor.handle),
            "owner": id,
            "publicKeyPem": parts.key.public_pem,
        },
        "attachment": parts.fields_html.iter().map(|(name, value)| json!({
            "type": "PropertyValue", "name": name, "value": value,
        })).collect::<Vec<_>>(),
        "tag": [],
    });
    let obj = doc.as_object_mut().expect("json! object");
    if let Some(icon) = &parts.icon {
        obj.insert("icon".into(), image_json(icon));
    }
    if let Some(image) = &parts.image {
        obj.insert("image".into(), image_json(image));
    }
    if !actor.also_known_as.is_empty() {
        let aka: Vec<&str> = actor.also_known_as.iter().map(|u| u.as_str()).collect();
        obj.insert("alsoKnownAs".into(), json!(aka));
    }
    // Lets Mastodon credit this actor on the preview card of a post's page (the page names the
    // actor in `fediverse:creator`; Mastodon believes it only for a host the actor lists): the
    // brand's own site in static-site mode, else masthead's pages.
    let pages = site.html_base_url.as_ref().unwrap_or(&site.base_url);
    if let Some(host) = pages.host_str() {
        obj.insert("attributionDomains".into(), json!([host]));
    }
    doc
}

fn image_json(image: &Image) -> Value {
    json!({ "type": "Image", "mediaType": image.media_type, "url": image.url })
}

/// The instance actor (FEP-2677): an Application that signs masthead's own GET requests, so
/// servers in authorized-fetch mode answer them. It publishes nothing and follows no one.
pub fn instance_actor(site: &Site, urls: &Urls, key: &KeyPair) -> Value {
    let id = urls.instance_actor();
    json!({
        "@context": context(),
        "id": id,
        "type": "Application",
        "preferredUsername": site.domain,
        "name": site.name.clone().unwrap_or_else(|| site.domain.clone()),
        "summary": "<p>The masthead server of this site. It signs requests; it does not post.</p>",
        "url": urls.home(),
        "published": time(key.created_at),
        "inbox": format!("{id}/inbox"),
        "outbox": format!("{id}/outbox"),
        "endpoints": { "sharedInbox": urls.shared_inbox() },
        "manuallyApprovesFollowers": true,
        "discoverable": false,
        "indexable": false,
        "publicKey": { "id": urls.instance_key_id(), "owner": id, "publicKeyPem": key.public_pem },
    })
}

/// `to` and `cc` of a post by `handle`. The Create carries the same (Pleroma needs it).
pub fn addressing(urls: &Urls, handle: &str, visibility: Visibility) -> (Vec<String>, Vec<String>) {
    let followers = urls.followers(handle);
    match visibility {
        Visibility::Public => (vec![PUBLIC.into()], vec![followers]),
        Visibility::Unlisted => (vec![followers], vec![PUBLIC.into()]),
        Visibility::Followers => (vec![followers], vec![]),
    }
}

/// Interaction counts shown on a post.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Replies kept.
    pub replies: u64,
    /// Likes.
    pub likes: u64,
    /// Boosts.
    pub shares: u64,
}

/// What a post's object and its Create are made of.
pub struct PostParts<'a> {
    pub site: &'a Site,
    pub urls: &'a Urls,
    /// The actor that publishes it.
    pub actor: &'a Actor,
    pub record: &'a PostRecord,
    /// The interactions shown on it.
    pub counts: Counts,
}

/// The object (Note or Article) of a post, without `@context` when `embedded`.
pub fn post_object(parts: &PostParts<'_>, embedded: bool) -> Value {
    let (site, urls, actor, record) = (parts.site, parts.urls, parts.actor, parts.record);
    let post = &record.post;
    let h = &actor.handle;
    let kind = object_type(actor, post);
    let id = urls.post(h, &post.slug);
    let url = urls.post_url(h, &post.slug, &post.page_path, post.more().url.as_deref());
    let lang = post
        .more()
        .lang
        .clone()
        .unwrap_or_else(|| site.language_of(actor));
    let (to, mut cc) = addressing(urls, h, post.visibility);
    // Mentioned people and the author replied to are addressed whatever the visibility (as
    // Mastodon does), so their servers show them the post and notify them.
    for a in &record.addressees {
        if !cc.contains(&a.actor_id) && !to.contains(&a.actor_id) {
            cc.push(a.actor_id.clone());
        }
    }
    let published = published(record);

    let html = record.html();
    let content = match (&post.title, kind) {
        // A Note has no visible title on Mastodon: lead with it as a bold paragraph.
        (Some(title), "Note") => format!("<p><strong>{}</strong></p>{}", escape(title), html),
        _ => html.to_string(),
    };
    let mut obj = Map::new();
    if !embedded {
        obj.insert("@context".into(), context());
    }
    obj.insert("id".into(), json!(id));
    obj.insert("type".into(), json!(kind));
    obj.insert("attributedTo".into(), json!(urls.actor(h)));
    obj.insert("to".into(), json!(to));
    obj.insert("cc".into(), json!(cc));
    obj.insert("published".into(), json!(time(published)));
    if let Some(updated) = post.more().updated.filter(|u| *u > published) {
        obj.insert("updated".into(), json!(time(updated)));
    }
    obj.insert("url".into(), json!(url));
    obj.insert("content".into(), json!(content));
    obj.insert("contentMap".into(), json!({ lang.clone(): content }));
    if kind == "Article" {
        let title = post.title.as_deref().unwrap_or_default();
        let summary = post
            .more()
            .summary
            .clone()
            .unwrap_or_else(|| first_words(&html, 300));
        obj.insert("name".into(), json!(title));
        obj.insert(
            "summary".into(),
            json!(format!("<p>{}</p>", escape(&summary))),
        );
        // FEP-b2b8: what microblogging servers may show instead of the full article.
        obj.insert(
            "preview".into(),
            json!({
                "type": "Note",
                "attributedTo": urls.actor(h),
                "content": format!(
                    "<p><strong>{}</strong></p><p>{}</p><p><a href=\"{}\">{}</a></p>",
                    escape(title), escape(&summary), escape(&url), escape(&url)
                ),
            }),
        );
        obj.insert(
            "sensitive".into(),
            json!(post.sensitive || post.more().content_warning.is_some()),
        );
    } else {
        if let Some(cw) = &post.more().content_warning {
            obj.insert("summary".into(), json!(cw));
        }
        obj.insert(
            "sensitive".into(),
            json!(post.sensitive || post.more().content_warning.is_some()),
        );
    }
    if let Some(reply_to) = &post.more().in_reply_to {
        obj.insert("inReplyTo".into(), json!(reply_to));
    }
    let tags: Vec<Value> = post
        .tags
        .iter()
        .map(|t| json!({ "type": "Hashtag", "name": format!("#{t}"), "href": urls.tag(t) }))
        .chain(
            record
                .addressees
                .iter()
                .map(|a| json!({ "type": "Mention", "href": a.actor_id, "name": a.name })),
        )
        .collect();
    obj.insert("tag".into(), json!(tags));
    let attachments: Vec<Value> = post
        .more()
        .attachments
        .iter()
        .map(|a| {
            let mut v = json!({
                "type": "Image", "mediaType": a.media_type, "url": a.url, "name": a.alt,
            });
            if let (Some(w), Some(hh)) = (a.width, a.height) {
                v["width"] = json!(w);
                v["height"] = json!(hh);
            }
            v
        })
        .collect();
    obj.insert("attachment".into(), json!(attachments));
    let replies = urls.replies(h, &post.slug);
    obj.insert(
        "replies".into(),
        json!({
            "id": replies,
            "type": "Collection",
            "totalItems": parts.counts.replies,
            "first": Urls::page(&replies, 1),
        }),
    );
    obj.insert(
        "likes".into(),
        json!({ "id": urls.likes(h, &post.slug), "type": "Collection", "totalItems": parts.counts.likes }),
    );
    obj.insert(
        "shares".into(),
        json!({ "id": urls.shares(h, &post.slug), "type": "Collection", "totalItems": parts.counts.shares }),
    );
    Value::Object(obj)
}

/// The `Create` that published a post; its id is stable, its addressing the object's.
pub fn create_activity(parts: &PostParts<'_>, embedded: bool) -> Value {
    let (urls, handle) = (parts.urls, &parts.actor.handle);
    let object = post_object(parts, true);
    let mut activity = Map::new();
    if !embedded {
        activity.insert("@context".into(), context());
    }
    activity.insert(
        "id".into(),
        json!(urls.post_create(handle, &parts.record.post.slug)),
    );
    activity.insert("type".into(), json!("Create"));
    activity.insert("actor".into(), json!(urls.actor(handle)));
    activity.insert("published".into(), object["published"].clone());
    activity.insert("to".into(), object["to"].clone());
    activity.insert("cc".into(), object["cc"].clone());
    activity.insert("object".into(), object);
    Value::Object(activity)
}

/// What a published-then-removed post's URL answers, with 410 Gone.
pub fn tombstone(urls: &Urls, handle: &str, slug: &str, tomb: &Tombstone) -> Value {
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": urls.post(handle, slug),
        "type": "Tombstone",
        "formerType": tomb.former_type,
        "deleted": time(tomb.deleted),
    })
}

/// An `OrderedCollection` that pages its items (`first`/`last` links, no items inline).
pub fn paged_collection(id: &str, total: usize) -> Value {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": id,
        "type": "OrderedCollection",
        "totalItems": total,
        "first": Urls::page(id, 1),
        "last": Urls::page(id, pages),
    })
}

/// Page `n` (1-based) of a paged collection of `total` items holding `items`.
pub fn collection_page(id: &str, n: usize, total: usize, items: Vec<Value>) -> Value {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let mut page = json!({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": Urls::page(id, n),
        "type": "OrderedCollectionPage",
        "partOf": id,
        "totalItems": total,
        "orderedItems": items,
    });
    if n > 1 {
        page["prev"] = json!(Urls::page(id, n - 1));
    }
    if n < pages {
        page["next"] = json!(Urls::page(id, n + 1));
    }
    page
}

/// An `OrderedCollection` with every item inline (featured posts, featured tags).
pub fn inline_collection(id: &str, items: Vec<Value>) -> Value {
    json!({
        "@context": context(),
        "id": id,
        "type": "OrderedCollection",
        "totalItems": items.len(),
        "orderedItems": items,
    })
}

/// The first `max` characters of the text of `html`, cut at a word, with an ellipsis if cut.
pub fn first_words(html: &str, max: usize) -> String {
    // Block boundaries become spaces; inline tags (`<a>`, `<span>` of a hashtag) vanish, so
    // `#<span>x</span>` reads `#x`.
    const BLOCKS: &[&str] = &["p", "br", "li", "ul", "ol", "div", "blockquote", "pre", "h"];
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim_start_matches('/');
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if BLOCKS.iter().any(|b| name.eq_ignore_ascii_case(b))
            || name.len() == 2 && name.starts_with('h')
        {
            text.push(' ');
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    let text = unescape(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut
        .rsplit_once(' ')
        .map(|(a, _)| a.to_string())
        .unwrap_or(cut);
    format!("{cut}…")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub use crate::content::render::escape;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::test_support;
    use crate::store::Addressee;
    use chrono::TimeZone;

    fn site(dir: &std::path::Path) -> Site {
        std::fs::create_dir_all(dir.join("content/news")).unwrap();
        let text = "[site]\nbase_url = \"https://s.example\"\n\n[[actor]]\nhandle = \"news\"\n";
        Site::parse(&dir.join("site.toml"), text).unwrap().site
    }

    fn addressed(visibility: Visibility) -> PostRecord {
        let mut post = test_support::post("news", "a");
        post.visibility = visibility;
        post.tags = ["city".into()].into();
        PostRecord {
            post: post.into(),
            first_seen: Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
            addressees: vec![
                Addressee {
                    actor_id: "https://m.example/users/ann".into(),
                    inbox: "https://m.example/inbox".into(),
                    name: "@ann@m.example".into(),
                },
                Addressee {
                    actor_id: "https://g.example/@bob".into(),
                    inbox: "https://g.example/@bob/inbox".into(),
                    name: "@bob@g.example".into(),
                },
            ],
            bodies: None,
        }
    }

    /// The object and the Create of [`addressed`] at `visibility`, with the site's URLs.
    fn addressed_documents(visibility: Visibility) -> (Value, Value, Urls) {
        let dir = tempfile::tempdir().unwrap();
        let site = site(dir.path());
        let urls = Urls::new(&site);
        let actor = site.actor("news").unwrap();
        let record = addressed(visibility);
        let parts = PostParts {
            site: &site,
            urls: &urls,
            actor,
            record: &record,
            counts: Counts::default(),
        };
        let (note, create) = (post_object(&parts, false), create_activity(&parts, false));
        (note, create, urls)
    }

    #[test]
    fn can_tag_and_address_the_addressees_of_a_post() {
        let (note, create, urls) = addressed_documents(Visibility::Public);
        assert_eq!(note["to"], json!([PUBLIC]));
        assert_eq!(
            note["cc"],
            json!([
                "https://s.example/users/news/followers",
                "https://m.example/users/ann",
                "https://g.example/@bob"
            ])
        );
        assert_eq!(
            note["tag"],
            json!([
                { "type": "Hashtag", "name": "#city", "href": urls.tag("city") },
                { "type": "Mention", "href": "https://m.example/users/ann", "name": "@ann@m.example" },
                { "type": "Mention", "href": "https://g.example/@bob", "name": "@bob@g.example" },
            ])
        );
        assert_eq!(create["to"], note["to"]);
        assert_eq!(create["cc"], note["cc"]);
    }

    #[test]
    fn can_address_mentioned_people_in_a_followers_only_post() {
        let (note, _, _) = addressed_documents(Visibility::Followers);
        assert_eq!(
            note["to"],
            json!(["https://s.example/users/news/followers"])
        );
        assert_eq!(
            note["cc"],
            json!(["https://m.example/users/ann", "https://g.example/@bob"])
        );
        assert!(!note.to_string().contains(PUBLIC));
        assert_eq!(note["tag"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn can_take_first_words_of_html() {
        assert_eq!(
            first_words("<p>Hello <b>world</b> &amp; more</p>", 100),
            "Hello world & more"
        );
        assert_eq!(first_words("<p>one two three</p>", 9), "one two…");
        assert_eq!(
            first_words(
                "<p>a <a class=\"hashtag\">#<span>Tag</span></a></p><p>b</p>",
                50
            ),
            "a #Tag b"
        );
    }

    #[test]
    fn can_page_collections() {
        let first = collection_page("https://x/c", 1, 45, vec![]);
        assert_eq!(first["next"], "https://x/c?page=2");
        assert!(first.get("prev").is_none());
        let last = collection_page("https://x/c", 3, 45, vec![]);
        assert!(last.get("next").is_none());
        assert_eq!(
            paged_collection("https://x/c", 0)["last"],
            "https://x/c?page=1"
        );
    }
}
