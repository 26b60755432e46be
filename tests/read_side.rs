//! The read side of a site, end to end: every endpoint a fediverse server or a browser calls,
//! against the real server on 127.0.0.1:0 serving tests/fixtures/sites/*.

mod common;

use common::{TestSite, AP, BROWSER};
use hyper::{Method, StatusCode};
use serde_json::Value;

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["object"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// WebFinger of `resource`.
async fn webfinger(site: &TestSite, resource: &str) -> common::Got {
    site.get(
        &format!("/.well-known/webfinger?resource={resource}"),
        "*/*",
    )
    .await
}

#[tokio::test]
async fn can_round_trip_webfinger_to_the_actor_and_back() {
    let site = TestSite::start("basic").await;
    let host = site.base.trim_start_matches("http://").to_string();
    let wf = webfinger(&site, &format!("acct:news@{host}")).await;
    assert_eq!(wf.status, StatusCode::OK);
    assert_eq!(wf.header("content-type"), "application/jrd+json");
    assert_eq!(wf.header("access-control-allow-origin"), "*");
    let jrd = wf.json();
    assert_eq!(jrd["subject"], format!("acct:news@{host}"));
    let self_link = jrd["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    assert_eq!(self_link["type"], "application/activity+json");
    let actor_id = self_link["href"].as_str().unwrap().to_string();
    assert_eq!(actor_id, format!("{}/users/news", site.base));

    // Mastodon's round trip: preferredUsername + actor host -> WebFinger -> self == id.
    let actor = site.get(&actor_id, AP).await.json();
    assert_eq!(actor["id"], actor_id);
    let username = actor["preferredUsername"].as_str().unwrap();
    let again = webfinger(&site, &format!("acct:{username}@{host}"))
        .await
        .json();
    assert_eq!(again["links"][0]["href"], actor_id);

    let by_url = webfinger(&site, &actor_id).await;
    assert_eq!(by_url.json()["subject"], format!("acct:news@{host}"));
    for unknown in [
        format!("acct:nobody@{host}"),
        "acct:news@elsewhere.example".to_string(),
    ] {
        let status = webfinger(&site, &unknown).await.status;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    }
    site.assert_status("/.well-known/webfinger", "*/*", StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn can_serve_handles_on_a_domain_other_than_the_server() {
    let site = TestSite::start("static").await;
    let wf = webfinger(&site, "acct:news@city.example").await;
    assert_eq!(wf.status, StatusCode::OK);
    let jrd = wf.json();
    assert_eq!(jrd["subject"], "acct:news@city.example");
    assert_eq!(jrd["links"][0]["href"], format!("{}/users/news", site.base));
    // The serving host answers for the same account too.
    let host = site.base.trim_start_matches("http://").to_string();
    let wf = webfinger(&site, &format!("acct:news@{host}")).await;
    assert_eq!(wf.json()["subject"], "acct:news@city.example");
    let actor = site.get("/users/news", AP).await.json();
    assert_eq!(actor["webfinger"], "news@city.example");
}

#[tokio::test]
async fn can_serve_host_meta_and_nodeinfo() {
    let site = TestSite::start("basic").await;
    let hm = site.get("/.well-known/host-meta", "*/*").await;
    assert_eq!(hm.status, StatusCode::OK);
    assert_eq!(
        hm.header("content-type"),
        "application/xrd+xml; charset=utf-8"
    );
    assert!(hm.text().contains(&format!(
        "template=\"{}/.well-known/webfinger?resource={{uri}}\"",
        site.base
    )));

    let links = site.get("/.well-known/nodeinfo", "*/*").await.json();
    assert_eq!(
        links["links"][0]["rel"],
        "http://nodeinfo.diaspora.software/ns/schema/2.1"
    );
    let href = links["links"][0]["href"].as_str().unwrap().to_string();
    let ni = site.get(&href, "*/*").await;
    assert!(ni.header("content-type").starts_with("application/json"));
    let ni = ni.json();
    assert_eq!(ni["version"], "2.1");
    assert_eq!(ni["software"]["name"], "masthead");
    assert_eq!(ni["protocols"], serde_json::json!(["activitypub"]));
    assert_eq!(ni["openRegistrations"], false);
    assert_eq!(ni["usage"]["users"]["total"], 2);
    assert_eq!(ni["usage"]["localPosts"], 6);
}

#[tokio::test]
async fn can_serve_a_complete_actor_document() {
    let site = TestSite::start("basic").await;
    let got = site.get("/users/news", AP).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), "application/activity+json");
    assert_eq!(got.header("vary"), "Accept");
    let a = got.json();
    let b = &site.base;
    assert_eq!(a["@context"][0], "https://www.w3.org/ns/activitystreams");
    assert_eq!(a["@context"][1], "https://w3id.org/security/v1");
    assert_eq!(a["id"], format!("{b}/users/news"));
    assert_eq!(a["type"], "Organization");
    assert_eq!(a["preferredUsername"], "news");
    assert_eq!(a["name"], "City News");
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .contains("<strong>Test City</strong>"),
        "{}",
        a["summary"]
    );
    assert_eq!(a["url"], format!("{b}/@news"));
    assert_eq!(a["inbox"], format!("{b}/users/news/inbox"));
    assert_eq!(a["outbox"], format!("{b}/users/news/outbox"));
    assert_eq!(a["followers"], format!("{b}/users/news/followers"));
    assert_eq!(a["following"], format!("{b}/users/news/following"));
    assert_eq!(
        a["featured"],
        format!("{b}/users/news/collections/featured")
    );
    assert_eq!(a["endpoints"]["sharedInbox"], format!("{b}/inbox"));
    assert_eq!(a["manuallyApprovesFollowers"], false);
    assert_eq!(a["discoverable"], true);
    assert_eq!(a["indexable"], true);
    assert_eq!(a["publicKey"]["id"], format!("{b}/users/news#main-key"));
    assert_eq!(a["publicKey"]["owner"], format!("{b}/users/news"));
    assert!(a["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(a["icon"]["type"], "Image");
    assert_eq!(a["icon"]["mediaType"], "image/png");
    assert_eq!(
        a["icon"]["url"],
        format!("{b}/media/content/news/avatar.png")
    );
    assert!(a["published"].as_str().unwrap().ends_with('Z'));
    // The pages that name this actor in `fediverse:creator` are ours: Mastodon credits it on
    // their preview cards only for a host listed here.
    let host = url::Url::parse(b).unwrap().host_str().unwrap().to_string();
    assert_eq!(a["attributionDomains"], serde_json::json!([host]));
    let fields = a["attachment"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0]["type"], "PropertyValue");
    assert_eq!(fields[0]["name"], "Website");
    assert!(
        fields[0]["value"].as_str().unwrap().contains("rel=\"me"),
        "{}",
        fields[0]["value"]
    );
    assert_eq!(fields[1]["value"], "0100 000 000");

    let press = site.get("/users/press", AP).await.json();
    assert_eq!(press["type"], "Service");
    assert!(press.get("icon").is_none());

    let instance = site.get("/actor", AP).await.json();
    assert_eq!(instance["type"], "Application");
    assert_eq!(instance["id"], format!("{b}/actor"));
    assert!(instance["publicKey"]["publicKeyPem"]
        .as_str()
        .unwrap()
        .contains("PUBLIC KEY"));
    site.assert_status("/users/nobody", AP, StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn can_negotiate_html_for_browsers_on_the_same_urls() {
    let site = TestSite::start("basic").await;
    for path in ["/users/news", "/@news"] {
        let page = site.get(path, BROWSER).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(page.header("vary"), "Accept");
        assert_eq!(
            page.header("link"),
            format!(
                "<{}/users/news>; rel=\"alternate\"; type=\"application/activity+json\"",
                site.base
            )
        );
        let html = page.text();
        assert!(html.contains(&format!("<link rel=\"me\" href=\"{}/@news\">", site.base)));
        assert!(html.contains("<link rel=\"alternate\" type=\"application/activity+json\""));
    }
    let json = site.get("/@news", AP).await;
    assert_eq!(json.header("content-type"), "application/activity+json");
    assert_eq!(json.json()["id"], format!("{}/users/news", site.base));
}

#[tokio::test]
async fn can_page_the_outbox_newest_first_with_only_public_posts() {
    let site = TestSite::start("basic").await;
    let b = &site.base;
    let outbox = site.get("/users/news/outbox", AP).await.json();
    assert_eq!(outbox["type"], "OrderedCollection");
    // hello, cw, bonjour, pinned; not the draft, the followers-only, the unfederated or the broken.
    assert_eq!(outbox["totalItems"], 4);
    let first = outbox["first"].as_str().unwrap().to_string();
    let page = site.get(&first, AP).await.json();
    assert_eq!(page["type"], "OrderedCollectionPage");
    assert_eq!(page["partOf"], format!("{b}/users/news/outbox"));
    let items = &page["orderedItems"];
    assert_eq!(items[0]["type"], "Create");
    assert_eq!(
        items[0]["id"],
        format!("{b}/users/news/posts/hello/activity")
    );
    assert_eq!(
        ids(items),
        ["hello", "cw", "bonjour", "pinned"]
            .map(|s| format!("{b}/users/news/posts/{s}"))
            .to_vec()
    );
    site.assert_status("/users/news/outbox?page=0", AP, StatusCode::BAD_REQUEST)
        .await;
    site.assert_status("/users/news/outbox?page=9", AP, StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn can_serve_a_post_as_a_mastodon_ready_note() {
    let site = TestSite::start("basic").await;
    let b = &site.base;
    let got = site.get("/users/news/posts/hello", AP).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-type"), "application/activity+json");
    assert_eq!(got.header("vary"), "Accept");
    let note = got.json();
    assert_eq!(note["id"], format!("{b}/users/news/posts/hello"));
    assert_eq!(note["type"], "Note");
    assert_eq!(note["attributedTo"], format!("{b}/users/news"));
    assert_eq!(
        note["to"],
        serde_json::json!(["https://www.w3.org/ns/activitystreams#Public"])
    );
    assert_eq!(
        note["cc"],
        serde_json::json!([format!("{b}/users/news/followers")])
    );
    assert_eq!(note["published"], "2026-11-20T09:00:00Z");
    assert_eq!(note["url"], format!("{b}/@news/hello"));
    let content = note["content"].as_str().unwrap();
    assert!(
        content.starts_with("<p><strong>Hello world</strong></p>"),
        "{content}"
    );
    assert!(
        content.contains(&format!("href=\"{b}/agenda/\"")),
        "links are absolute: {content}"
    );
    assert!(!content.contains("<img"), "{content}");
    assert_eq!(note["contentMap"]["en"], note["content"]);
    let tags = note["tag"].as_array().unwrap();
    assert!(tags.iter().any(|t| t["type"] == "Hashtag"
        && t["name"] == "#Welcome"
        && t["href"] == format!("{b}/tags/welcome")));
    assert!(tags.iter().any(|t| t["name"] == "#CityLife"));
    let image = &note["attachment"][0];
    assert_eq!(image["type"], "Image");
    assert_eq!(image["mediaType"], "image/png");
    assert_eq!(image["name"], "A path by the river");
    assert_eq!(image["url"], format!("{b}/media/content/news/img/path.png"));
    assert_eq!(image["width"], 320);
    assert_eq!(image["height"], 180);
    assert_eq!(
        note["replies"]["id"],
        format!("{b}/users/news/posts/hello/replies")
    );
    assert_eq!(note["sensitive"], false);

    let create = site
        .get("/users/news/posts/hello/activity", AP)
        .await
        .json();
    assert_eq!(create["type"], "Create");
    assert_eq!(create["actor"], format!("{b}/users/news"));
    assert_eq!(create["to"], note["to"]);
    assert_eq!(create["cc"], note["cc"]);
    assert_eq!(create["object"]["id"], note["id"]);

    let cw = site.get("/users/news/posts/cw", AP).await.json();
    assert_eq!(cw["summary"], "Roadworks details");
    assert_eq!(cw["sensitive"], true);
    let fr = site.get("/users/news/posts/bonjour", AP).await.json();
    assert!(fr["contentMap"]["fr"]
        .as_str()
        .unwrap()
        .contains("Bonjour à toutes"));
    assert_eq!(fr["published"], "2026-11-18T00:00:00Z");

    let article = site.get("/users/press/posts/long", AP).await.json();
    assert_eq!(article["type"], "Article");
    assert_eq!(article["name"], "Annual report");
    assert_eq!(article["summary"], "<p>What the city did this year.</p>");
    assert_eq!(article["preview"]["type"], "Note");
    let short = site.get("/users/press/posts/short", AP).await.json();
    assert_eq!(short["type"], "Note");

    let replies = site.get("/users/news/posts/hello/replies", AP).await.json();
    assert_eq!(replies["totalItems"], 0);
    assert!(replies["first"].is_string());
}

#[tokio::test]
async fn can_serve_pinned_posts_and_empty_follow_collections() {
    let site = TestSite::start("basic").await;
    let featured = site
        .get("/users/news/collections/featured", AP)
        .await
        .json();
    assert_eq!(featured["type"], "OrderedCollection");
    assert_eq!(featured["totalItems"], 1);
    assert_eq!(
        featured["orderedItems"][0]["id"],
        format!("{}/users/news/posts/pinned", site.base)
    );
    for c in ["followers", "following"] {
        let col = site.get(&format!("/users/news/{c}"), AP).await.json();
        assert_eq!(col["totalItems"], 0, "{c}");
        assert_eq!(col["first"], format!("{}/users/news/{c}?page=1", site.base));
        let page = site
            .get(&format!("/users/news/{c}?page=1"), AP)
            .await
            .json();
        assert_eq!(page["orderedItems"], serde_json::json!([]));
    }
}

#[tokio::test]
async fn rejects_what_is_not_published() {
    let site = TestSite::start("basic").await;
    for path in [
        "/users/news/posts/draft",
        "/users/news/posts/members",
        "/users/news/posts/offline",
        "/users/news/posts/broken",
        "/users/news/posts/nothing",
        "/users/nobody/posts/hello",
        "/nowhere",
    ] {
        site.assert_status(path, AP, StatusCode::NOT_FOUND).await;
    }
    let diagnostics = &site.app().catalog().diagnostics;
    assert!(
        diagnostics
            .iter()
            .any(|d| d.is_error() && d.file.ends_with("content/news/broken.md")),
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn can_answer_405_and_head() {
    let site = TestSite::start("basic").await;
    let post = site.request(Method::PUT, "/users/news", AP).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.header("allow"), "GET, HEAD");
    let head = site.request(Method::HEAD, "/users/news", AP).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), "application/activity+json");
    let full = site.get("/users/news", AP).await;
    assert_eq!(head.header("content-length"), full.body.len().to_string());
}

#[tokio::test]
async fn can_tombstone_a_removed_post_and_keep_a_broken_one() {
    // Removals final at once: the grace period before a tombstone is tested in tests/delivery.rs.
    let mut site = TestSite::start_configured("basic", "delete_grace_secs = 0\n").await;
    site.remove_post("news/cw.md");
    // A typo in a published post's front matter must not unpublish it.
    site.write_post(
        "news/hello.md",
        "+++\ntitle = \"Hello\ndate = 2026\n+++\nbroken",
    );
    site.restart().await;
    let gone = site.get("/users/news/posts/cw", AP).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.header("content-type"), "application/activity+json");
    let tomb = gone.json();
    assert_eq!(tomb["type"], "Tombstone");
    assert_eq!(tomb["formerType"], "Note");
    assert!(tomb["deleted"].is_string());
    // A tombstone is cached a minute, without an ETag (it is no 200 to revalidate).
    assert_eq!(gone.header("cache-control"), "public, max-age=60");
    assert_eq!(gone.header("etag"), "");
    site.assert_status("/@news/cw", BROWSER, StatusCode::GONE)
        .await;
    site.assert_status("/users/news/posts/cw/activity", AP, StatusCode::GONE)
        .await;

    let hello = site.get("/users/news/posts/hello", AP).await;
    assert_eq!(hello.status, StatusCode::OK);
    assert!(hello.json()["content"]
        .as_str()
        .unwrap()
        .contains("Hello world"));
    assert!(site
        .app()
        .catalog()
        .diagnostics
        .iter()
        .any(|d| d.file.ends_with("content/news/hello.md")));
}

#[tokio::test]
async fn can_restart_without_changes() {
    let mut site = TestSite::start("basic").await;
    site.restart().await;
    let report = site.app().rebuild().await.unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert!(report.first_scan.is_empty());
    // It did scan: every post of the fixture is there, unchanged.
    let scanned: Vec<String> = report
        .records
        .iter()
        .map(|r| format!("{}/{}", r.actor, r.slug))
        .collect();
    assert!(
        [
            "news/hello",
            "news/cw",
            "news/bonjour",
            "news/pinned",
            "press/long",
            "press/short"
        ]
        .iter()
        .all(|p| scanned.iter().any(|s| s == p)),
        "{scanned:?}"
    );
}

#[tokio::test]
async fn can_serve_local_media_with_cache_headers_and_nothing_else() {
    let site = TestSite::start("basic").await;
    let img = site.get("/media/content/news/img/path.png", "*/*").await;
    assert_eq!(img.status, StatusCode::OK);
    assert_eq!(img.header("content-type"), "image/png");
    assert_eq!(img.header("cache-control"), "public, max-age=3600");
    assert_eq!(img.header("x-content-type-options"), "nosniff");
    assert_eq!(&img.body[..4], b"\x89PNG");
    let etag = img.header("etag").to_string();
    assert!(etag.starts_with('"'));

    let again = site
        .get_with(
            "/media/content/news/img/path.png",
            "*/*",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    assert_eq!(again.header("cache-control"), "public, max-age=3600");
    for path in [
        "/media/site.toml",
        "/media/content/news/hello.md",
        "/media/content/news/../../site.toml",
        "/media/content/news/%2e%2e/%2e%2e/site.toml",
        "/media/..%2Fsite.toml",
    ] {
        site.assert_status(path, "*/*", StatusCode::NOT_FOUND).await;
    }
}

// --- Caching: ETag, 304 and Cache-Control on the read side ---

/// A 200 GET of `path` with `accept` whose ETag and Cache-Control are as a cache needs them
/// (`cache_control` exactly), checked against a HEAD and a revalidation; its ETag.
async fn assert_revalidates(
    site: &TestSite,
    path: &str,
    accept: &str,
    cache_control: &str,
) -> String {
    let got = site.get(path, accept).await;
    assert_eq!(got.status, StatusCode::OK, "GET {path}");
    assert_eq!(got.header("cache-control"), cache_control, "GET {path}");
    let etag = got.header("etag").to_string();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "GET {path}: a strong ETag, got {etag:?}"
    );

    let head = common::fetch(&format!("{}{path}", site.base), Method::HEAD, accept, &[]).await;
    assert_eq!(head.status, StatusCode::OK, "HEAD {path}");
    assert_eq!(head.header("etag"), etag, "HEAD {path}");
    assert!(head.body.is_empty());

    // RFC 9110 §15.4.5: the 304 sends again what a cache updates from, and no body.
    for method in [Method::GET, Method::HEAD] {
        let url = format!("{}{path}", site.base);
        let same = common::fetch(&url, method.clone(), accept, &[("if-none-match", &etag)]).await;
        assert_eq!(same.status, StatusCode::NOT_MODIFIED, "{method} {path}");
        assert!(same.body.is_empty(), "{method} {path}: {}", same.text());
        assert_eq!(same.header("etag"), etag, "{method} {path}");
        assert_eq!(
            same.header("cache-control"),
            cache_control,
            "{method} {path}"
        );
        assert_eq!(same.header("vary"), got.header("vary"), "{method} {path}");
        assert_eq!(same.header("content-length"), "", "{method} {path}");
        assert_eq!(same.header("content-type"), "", "{method} {path}");
    }
    // A list naming it among others, and its weak form (RFC 9110's weak comparison).
    let listed = format!("\"nope\", W/{etag}");
    let weak = site
        .get_with(path, accept, &[("if-none-match", &listed)])
        .await;
    assert_eq!(
        weak.status,
        StatusCode::NOT_MODIFIED,
        "GET {path} with {listed}"
    );

    let other_weak = format!("W/\"{}x\"", etag.trim_matches('"'));
    for other in ["\"0123456789abcdef0123456789abcdef\"", other_weak.as_str()] {
        let fresh = site
            .get_with(path, accept, &[("if-none-match", other)])
            .await;
        assert_eq!(fresh.status, StatusCode::OK, "GET {path} with {other}");
        assert_eq!(fresh.body, got.body, "GET {path} with {other}");
        assert_eq!(fresh.header("etag"), etag);
    }
    etag
}

#[tokio::test]
async fn can_answer_304_to_a_fetcher_that_holds_the_current_etag() {
    let site = TestSite::start("basic").await;
    let host = site.base.trim_start_matches("http://").to_string();
    let document = "public, max-age=180";
    let moving = "public, max-age=60";
    for (path, accept, cache_control) in [
        ("/users/news", AP, document),
        ("/users/news/posts/hello", AP, document),
        ("/users/news/posts/hello/activity", AP, document),
        ("/users/news/outbox", AP, moving),
        ("/users/news/outbox?page=1", AP, moving),
        ("/users/news/followers", AP, moving),
        ("/users/news/posts/hello/replies", AP, moving),
        ("/@news/hello", BROWSER, moving),
        ("/", BROWSER, document),
        ("/tags/citylife", BROWSER, document),
        ("/.well-known/nodeinfo", "*/*", document),
        ("/.well-known/host-meta", "*/*", document),
        ("/nodeinfo/2.1", "*/*", document),
    ] {
        assert_revalidates(&site, path, accept, cache_control).await;
    }
    let webfinger = format!("/.well-known/webfinger?resource=acct:news@{host}");
    assert_revalidates(&site, &webfinger, "*/*", document).await;

    // One URL, two representations (`Vary: Accept`): a cache must never answer a page's ETag
    // for the JSON, so they differ.
    for (path, page_cache_control) in [
        ("/users/news", document),
        ("/users/news/posts/hello", moving),
    ] {
        let json = assert_revalidates(&site, path, AP, document).await;
        let html = assert_revalidates(&site, path, BROWSER, page_cache_control).await;
        assert_ne!(json, html, "{path}");
        let crossed = site
            .get_with(path, BROWSER, &[("if-none-match", &json)])
            .await;
        assert_eq!(crossed.status, StatusCode::OK, "{path}");
        assert!(crossed.header("content-type").starts_with("text/html"));
    }
}

#[tokio::test]
async fn can_change_the_etag_of_a_post_when_it_is_edited() {
    let site = TestSite::start("basic").await;
    let path = "/users/news/posts/hello";
    let before_json = site.get(path, AP).await.header("etag").to_string();
    let before_page = site.get(path, BROWSER).await.header("etag").to_string();
    site.write_post(
        "news/hello.md",
        "+++\ntitle = \"Hello world\"\ndate = 2026-11-20T09:00:00Z\ntags = [\"Welcome\"]\n+++\n\nFirst post, edited.\n",
    );
    site.app().rebuild().await.unwrap();
    for (accept, before) in [(AP, &before_json), (BROWSER, &before_page)] {
        let got = site
            .get_with(path, accept, &[("if-none-match", before)])
            .await;
        assert_eq!(got.status, StatusCode::OK, "{accept}");
        assert!(got.text().contains("First post, edited."), "{}", got.text());
        assert_ne!(got.header("etag"), before.as_str(), "{accept}");
        assert!(got.header("etag").starts_with('"'));
    }
}

#[tokio::test]
async fn rejects_caching_errors_and_what_is_not_the_read_side() {
    let site = TestSite::start("basic").await;
    for (method, path) in [
        (Method::GET, "/users/nobody"),
        (Method::GET, "/users/news/posts/never"),
        (Method::GET, "/nope"),
        (Method::GET, "/users/news/outbox?page=0"),
        (Method::PUT, "/users/news"),
        (Method::GET, "/inbox"),
        (Method::POST, "/inbox"),
    ] {
        let url = format!("{}{path}", site.base);
        let got = common::fetch(&url, method.clone(), AP, &[("if-none-match", "*")]).await;
        assert!(
            got.status.is_client_error(),
            "{method} {path}: {}",
            got.status
        );
        assert_eq!(got.header("cache-control"), "no-store", "{method} {path}");
        assert_eq!(got.header("etag"), "", "{method} {path}");
    }
    // The Follow form of `/interact` is a visitor's own step, never kept by a shared cache.
    let form = site
        .get(&format!("/interact?uri={}/users/news", site.base), BROWSER)
        .await;
    assert_eq!(form.header("cache-control"), "no-store", "{}", form.status);
    assert_eq!(form.header("etag"), "");
}

#[tokio::test]
async fn rejects_serving_a_media_file_that_stopped_being_an_image() {
    // The scan registered an image; the file is then replaced (by a link to the database, or
    // anything else): it is served only while its bytes still are an image.
    let site = TestSite::start("basic").await;
    let path = "/media/content/news/img/path.png";
    site.assert_status(path, "*/*", StatusCode::OK).await;
    std::fs::remove_file(site.path("content/news/img/path.png")).unwrap();
    std::os::unix::fs::symlink(
        site.path("site.toml"),
        site.path("content/news/img/path.png"),
    )
    .unwrap();
    site.assert_status(path, "*/*", StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn can_redirect_browsers_to_the_brands_own_site_in_static_mode() {
    let site = TestSite::start("static").await;
    let page = site.get("/@news/hello", BROWSER).await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(
        page.header("location"),
        "https://www.city.example/news/hello/"
    );
    assert_eq!(page.header("vary"), "Accept");
    // As public as the page it stands for; every redirect's body is the same, so no ETag.
    assert_eq!(page.header("cache-control"), "public, max-age=60");
    assert_eq!(page.header("etag"), "");
    let note = site.get("/users/news/posts/hello", AP).await.json();
    assert_eq!(note["url"], "https://www.city.example/news/hello/");
    let custom = site.get("/users/news/posts/custom", AP).await.json();
    assert_eq!(
        custom["url"],
        "https://www.city.example/press/2026/custom.html"
    );
    let actor = site.get("/users/news", AP).await.json();
    assert_eq!(
        actor["attributionDomains"],
        serde_json::json!(["www.city.example"])
    );
}

#[tokio::test]
async fn can_list_posts_by_hashtag() {
    let site = TestSite::start("basic").await;
    let page = site.get("/tags/citylife", BROWSER).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Hello world"));
    let col = site.get("/tags/citylife", AP).await.json();
    assert_eq!(col["totalItems"], 1);
}

/// Serves the `basic` fixture with `limits` appended to its site.toml as a `[limits]` table.
async fn start_with_limits(limits: &str) -> TestSite {
    let (dir, listener, base) = common::prepare("basic").await;
    let config = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[limits]\n{limits}\n")).unwrap();
    let running = common::serve_dir(dir.path(), listener).await;
    TestSite {
        dir,
        base,
        running: Some(running),
    }
}

fn addr(site: &TestSite) -> String {
    site.base.trim_start_matches("http://").to_string()
}

/// Everything the server sends on a fresh connection after `sent`, until it closes it (at most
/// 10 s; a server that keeps the connection open fails the test).
async fn answer_until_closed(addr: &str, sent: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(sent).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut got),
    )
    .await
    .expect("the server closes the connection within 10 s")
    .unwrap_or_default();
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn rejects_one_header_over_8_kib_and_all_over_32_kib_with_431() {
    let site = TestSite::start("basic").await;
    let long = "x".repeat(8 * 1024);
    let got = site.get_with("/users/news", AP, &[("x-long", &long)]).await;
    assert_eq!(got.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let fits = "x".repeat(7 * 1024);
    let got = site.get_with("/users/news", AP, &[("x-long", &fits)]).await;
    assert_eq!(got.status, StatusCode::OK, "a 7 KiB header is fine");
    // Five headers of 7 KiB: each fits, together they do not; hyper answers before any handler.
    let head = format!(
        "GET /users/news HTTP/1.1\r\nhost: {}\r\n{}\r\n",
        addr(&site),
        (0..5)
            .map(|i| format!("x-{i}: {fits}\r\n"))
            .collect::<String>()
    );
    let status = common::raw_status(&addr(&site), head, vec![]).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn rejects_an_inbox_body_that_trickles_with_408_and_closes() {
    let site = start_with_limits("body_read_timeout = 0.3").await;
    // 10 of the 100 bytes announced, then nothing: answered once the timeout passes.
    let head = format!(
        "POST /inbox HTTP/1.1\r\nhost: {}\r\ncontent-type: application/activity+json\r\ncontent-length: 100\r\n\r\n",
        addr(&site)
    );
    let mut sent = head.into_bytes();
    sent.extend_from_slice(b"{\"type\":\"C");
    let answer = answer_until_closed(&addr(&site), &sent).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close"), "{answer}");
}

#[tokio::test]
async fn can_close_a_connection_that_trickles_its_headers() {
    let site = start_with_limits("header_read_timeout = 0.3").await;
    let answer =
        answer_until_closed(&addr(&site), b"GET /users/news HTTP/1.1\r\nhost: x\r\n").await;
    // hyper has no request to answer: it closes without a word.
    assert_eq!(answer, "");
}

#[tokio::test]
async fn rejects_connections_over_the_per_address_limit_with_503() {
    let site = start_with_limits("max_connections_per_ip = 2").await;
    let a = tokio::net::TcpStream::connect(addr(&site)).await.unwrap();
    let b = tokio::net::TcpStream::connect(addr(&site)).await.unwrap();
    let answer = answer_until_closed(&addr(&site), b"").await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nretry-after: 5\r\n"), "{answer}");
    // Once one closes (the server sees it go), the address is served again.
    drop(a);
    common::poll_until(
        "a connection to be served again",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(20),
        || async {
            let head = b"GET /users/news HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
            let answer = answer_until_closed(&addr(&site), head).await;
            answer.starts_with("HTTP/1.1 200").then_some(())
        },
    )
    .await;
    drop(b);
}

#[tokio::test]
async fn rejects_page_numbers_that_are_not_positive_or_would_wrap() {
    let site = TestSite::start("basic").await;
    let huge = usize::MAX;
    for path in [
        format!("/users/news/outbox?page={huge}"),
        format!("/users/news/followers?page={huge}"),
        format!("/users/news/posts/hello/replies?page={huge}"),
        format!("/users/news/outbox?page={}", huge / 2 + 2),
    ] {
        site.assert_status(&path, AP, StatusCode::NOT_FOUND).await;
    }
    for page in ["0", "-1", "99999999999999999999999", "1e3", "x"] {
        let path = format!("/users/news/outbox?page={page}");
        site.assert_status(&path, AP, StatusCode::BAD_REQUEST).await;
    }
}
