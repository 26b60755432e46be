//! The HTML pages a browser gets, by snapshot (tests/snapshots/). The random port of each run is
//! replaced by a fixed host so snapshots are stable.

mod common;

use std::sync::{Arc, Mutex};

use common::{TestSite, BROWSER};
use hyper::StatusCode;
use masthead::clock::Clock;

/// Serves the `basic` fixture and compares each `(snapshot name, path)` page with its snapshot.
async fn snapshots(pages: &[(&str, &str)]) {
    let site = TestSite::start("basic").await;
    for (name, path) in pages {
        insta::assert_snapshot!(*name, page(&site, path).await);
    }
}

async fn page(site: &TestSite, path: &str) -> String {
    let got = site.get(path, BROWSER).await;
    assert_eq!(got.status, StatusCode::OK, "{path}");
    assert_eq!(got.header("content-type"), "text/html; charset=utf-8");
    let host = site.base.trim_start_matches("http://");
    got.text()
        .replace(&site.base, "http://masthead.test")
        .replace(host, "masthead.test")
}

#[tokio::test]
async fn can_render_the_profile_page() {
    snapshots(&[("profile_page", "/@news")]).await;
}

#[tokio::test]
async fn can_render_a_post_page_with_image_and_tags() {
    snapshots(&[("post_page", "/@news/hello")]).await;
}

#[tokio::test]
async fn can_render_a_post_behind_a_content_warning() {
    snapshots(&[("post_page_cw", "/@news/cw")]).await;
}

#[tokio::test]
async fn can_keep_a_sensitive_image_out_of_the_link_preview() {
    let mut site = TestSite::start("basic").await;
    site.write_post(
        "news/sensitive.md",
        "+++\ntitle = \"Flood damage\"\ndate = 2026-11-21T09:00:00Z\nsensitive = true\n+++\n\n\
         Photos of the flooded road.\n\n![A flooded road](img/path.png)\n",
    );
    site.restart().await;
    let html = page(&site, "/@news/sensitive").await;
    // The page shows the image behind its sensitive mark; a preview card, shown to anyone who
    // sees the link, gets the avatar instead, at thumbnail size.
    assert!(html.contains("A flooded road"), "{html}");
    assert!(html.contains(
        "<meta property=\"og:image\" content=\"http://masthead.test/media/content/news/avatar.png\">\n"
    ));
    assert!(!html.contains("og:image:alt"), "{html}");
    assert!(html.contains("<meta name=\"twitter:card\" content=\"summary\">\n"));
    assert!(html.contains("<meta name=\"fediverse:creator\" content=\"@news@masthead.test\">\n"));
}

#[tokio::test]
async fn can_render_the_home_and_tag_pages() {
    snapshots(&[("home_page", "/"), ("tag_page", "/tags/citylife")]).await;
}

/// One start tag as a browser's tokenizer reads it: name and attributes, entities decoded.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

/// The start tags of `html` and the text of its `<style>` elements, read by html5ever's
/// tokenizer (the HTML standard's), so an attribute is judged by the value a browser would use.
fn tokenize(html: &str) -> (Vec<Tag>, String) {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{
        BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    };
    use std::cell::RefCell;

    #[derive(Default)]
    struct Sink {
        tags: RefCell<Vec<Tag>>,
        style: RefCell<String>,
        in_style: RefCell<bool>,
    }
    impl TokenSink for Sink {
        type Handle = ();
        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            match token {
                Token::TagToken(tag) => {
                    let name = tag.name.to_string();
                    if name == "style" {
                        *self.in_style.borrow_mut() = tag.kind == TagKind::StartTag;
                    }
                    if tag.kind == TagKind::StartTag {
                        self.tags.borrow_mut().push(Tag {
                            name,
                            attrs: tag
                                .attrs
                                .iter()
                                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                                .collect(),
                        });
                    }
                }
                Token::CharacterTokens(text) if *self.in_style.borrow() => {
                    self.style.borrow_mut().push_str(&text);
                }
                _ => {}
            }
            TokenSinkResult::Continue
        }
    }
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(html));
    let tokenizer = Tokenizer::new(Sink::default(), TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let sink = tokenizer.sink;
    (sink.tags.into_inner(), sink.style.into_inner())
}

/// Stores hostile actors and replies to news/hello directly (as a database written before the
/// inbox checked them may hold them), and one well-behaved reply.
fn store_hostile_replies(site: &TestSite) {
    use masthead::store::{RemoteActor, Reply, ReplyStatus};
    let store = &site.app().store;
    let actor = |id: &str, name: &str, handle: &str, url: &str, icon: &str| RemoteActor {
        id: id.into(),
        inbox: format!("{id}/inbox"),
        shared_inbox: None,
        key_id: None,
        public_key_pem: None,
        handle: Some(handle.into()),
        name: Some(name.into()),
        url: Some(url.into()),
        document: serde_json::json!({ "icon": { "type": "Image", "url": icon } }).to_string(),
        fetched_at: 0,
    };
    for a in [
        actor(
            "https://evil.example/users/js",
            "<script>alert(1)</script>",
            "x\"><img src=x onerror=alert(1)>@evil.example",
            "javascript:alert(1)",
            "javascript:alert(1)",
        ),
        actor(
            "https://evil.example/users/mixed",
            "Mixed\" onmouseover=\"alert(1)",
            "mixed@evil.example",
            "JaVaScRiPt:alert(1)",
            "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
        ),
        actor(
            "https://evil.example/users/entity",
            "Entity",
            "entity@evil.example",
            "&#106;avascript:alert(1)",
            "vbscript:msgbox(1)",
        ),
        actor(
            "https://good.example/users/ann",
            "Ann",
            "ann@good.example",
            "https://good.example/@ann",
            "https://good.example/ann.svg",
        ),
    ] {
        store.upsert_remote_actor(&a).unwrap();
    }
    let reply = |n: u32, id: &str, author: &str, url: Option<&str>, html: &str| Reply {
        id: id.into(),
        author: author.into(),
        post: Some(("news".into(), "hello".into())),
        mentions: vec![],
        in_reply_to: None,
        content_html: html.into(),
        url: url.map(str::to_string),
        published: format!("2026-11-20T10:0{n}:00Z"),
        updated: None,
        status: ReplyStatus::Visible,
        public: true,
        hold: None,
    };
    for r in [
        reply(
            1,
            "javascript://evil.example/%0Aalert(1)",
            "https://evil.example/users/js",
            None,
            "<p>hi<script>alert(1)</script><img src=x onerror=alert(1)></p>",
        ),
        reply(
            2,
            "https://evil.example/n/2",
            "https://evil.example/users/mixed",
            Some("data:text/html,<script>alert(1)</script>"),
            r#"<p><a href="JaVaScRiPt:alert(1)">a</a><a href="&#106;avascript:alert(1)">b</a><a href="vbscript:msgbox(1)">c</a><a rel="me" href="https://evil.example/">me</a></p>"#,
        ),
        reply(
            3,
            "https://evil.example/n/3",
            "https://evil.example/users/entity",
            Some("vbscript:msgbox(1)"),
            r#"<svg><a xlink:href="javascript:alert(1)">s</a><script>alert(1)</script></svg><p onmouseover="alert(1)" style="background:url(javascript:alert(1))">t</p><iframe src="https://evil.example/"></iframe>"#,
        ),
        reply(
            4,
            "https://evil.example/n/4",
            "javascript://evil.example/%0Aalert(1)",
            None,
            "<p>from a scripted author id</p>",
        ),
        reply(
            5,
            "https://good.example/n/5",
            "https://good.example/users/ann",
            Some("https://good.example/@ann/5"),
            r#"<p>Nice post, see <a href="https://good.example/more">more</a></p>"#,
        ),
    ] {
        store.upsert_reply(&r).unwrap();
    }
}

#[tokio::test]
async fn rejects_active_content_from_stored_replies_on_the_post_page() {
    let site = TestSite::start("basic").await;
    store_hostile_replies(&site);
    let got = site.get("/@news/hello", BROWSER).await;
    assert_eq!(got.status, StatusCode::OK);
    let (tags, _) = tokenize(&got.text());
    let own = |v: &str| v.starts_with(&site.base) || v.starts_with('/') || v.starts_with('#');
    for tag in &tags {
        assert!(
            !["script", "iframe", "object", "embed", "svg", "base"].contains(&tag.name.as_str()),
            "{tag:?}"
        );
        // The one form is ours, the Reply form, and it submits to this site.
        if tag.name == "form" {
            assert_eq!(
                tag.attrs,
                [
                    ("class".to_string(), "interact".to_string()),
                    ("method".to_string(), "get".to_string()),
                    ("action".to_string(), format!("{}/interact", site.base)),
                ]
            );
        }
        for (name, value) in &tag.attrs {
            assert!(!name.starts_with("on"), "event handler: {tag:?}");
            assert_ne!(name, "style", "{tag:?}");
            if matches!(name.as_str(), "href" | "src" | "xlink:href" | "action") {
                // Everything from elsewhere is an absolute https URL; nothing else ever is.
                assert!(
                    own(value) || value.starts_with("https://"),
                    "{name}={value:?} in {tag:?}"
                );
            }
        }
        // rel="me" is ours alone: never on a link to another server.
        let rel = tag.attrs.iter().find(|(n, _)| n == "rel").map(|(_, v)| v);
        let href = tag.attrs.iter().find(|(n, _)| n == "href").map(|(_, v)| v);
        if let (Some(rel), Some(href)) = (rel, href) {
            if !own(href) {
                assert!(!rel.split_whitespace().any(|r| r == "me"), "{tag:?}");
                assert!(rel.contains("nofollow") && rel.contains("ugc"), "{tag:?}");
            }
        }
    }
    // What is fine is still shown: the good reply's avatar, profile and links, and every reply.
    let has = |name: &str, attr: &str, value: &str| {
        tags.iter()
            .any(|t| t.name == name && t.attrs.iter().any(|(n, v)| n == attr && v == value))
    };
    assert!(
        has("img", "src", "https://good.example/ann.svg"),
        "{tags:?}"
    );
    assert!(has("a", "href", "https://good.example/@ann"));
    assert!(has("a", "href", "https://good.example/@ann/5"));
    assert!(has("a", "href", "https://good.example/more"));
    assert!(
        has("a", "href", "https://evil.example/users/mixed"),
        "the id stands in for a bad url"
    );
    let text = got.text();
    assert!(
        text.contains("Mixed&quot; onmouseover=&quot;alert(1)"),
        "names are text: {text}"
    );
    // A reply whose own id, or whose author's id, is not a safe URL is left out whole.
    assert!(!text.contains("from a scripted author id"));
    assert!(!text.contains("<p>hi"));
    assert_eq!(text.matches("<article class=\"h-cite reply\">").count(), 3);
}

#[tokio::test]
async fn can_send_a_strict_policy_that_allows_exactly_what_the_page_uses() {
    let site = TestSite::start("basic").await;
    let page = site.get("/@news/hello", BROWSER).await;
    let csp = page.header("content-security-policy").to_string();
    for directive in [
        "default-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self' https: http:",
        "frame-ancestors 'none'",
        "img-src 'self' https: http:",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("script-src") && !csp.contains("unsafe"),
        "{csp}"
    );
    // The one inline style is allowed by its hash, as a browser computes it.
    let (_, style) = tokenize(&page.text());
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&style));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    for path in ["/@news/hello", "/users/news", "/nowhere"] {
        for accept in [BROWSER, common::AP] {
            let got = site.get(path, accept).await;
            assert_eq!(got.header("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(
                got.header("referrer-policy"),
                "strict-origin-when-cross-origin",
                "{path}"
            );
            assert_eq!(got.header("content-security-policy"), csp, "{path}");
        }
    }
    // Media keeps its own, stricter policy.
    let img = site.get("/media/content/news/img/path.png", "*/*").await;
    assert_eq!(
        img.header("content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    );
    assert_eq!(img.header("x-content-type-options"), "nosniff");
}

// --- The Follow and Reply forms, and where `/interact` sends a visitor ---

/// A visitor's own server on 127.0.0.1: it answers every WebFinger lookup with the JRD that
/// `jrd` makes from its base URL and status, and records the resources asked for.
struct VisitorServer {
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// `127.0.0.1:PORT`, the host of a handle on it.
    host: String,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VisitorServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VisitorServer {
    /// Answers 200 with the JRD `links(base)` makes, for `acct:you@HOST`.
    async fn with_links(links: impl Fn(&str) -> serde_json::Value + Send + Sync + 'static) -> Self {
        VisitorServer::start(move |base, host| {
            (
                200,
                serde_json::json!({
                    "subject": format!("acct:you@{host}"),
                    "links": links(base),
                }),
            )
        })
        .await
    }

    async fn start(
        answer: impl Fn(&str, &str) -> (u16, serde_json::Value) + Send + Sync + 'static,
    ) -> Self {
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let base = format!("http://{host}");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (answer, recorded) = (Arc::new(answer), asked.clone());
        let (b, h) = (base.clone(), host.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, recorded, b, h) =
                    (answer.clone(), recorded.clone(), b.clone(), h.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let query = req.uri().query().unwrap_or_default().to_string();
                        let resource = url::form_urlencoded::parse(query.as_bytes())
                            .find(|(k, _)| k == "resource")
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default();
                        recorded.lock().unwrap().push(resource);
                        let (status, doc) = answer(&b, &h);
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/jrd+json")
                                    .body(http_body_util::Full::new(bytes::Bytes::from(
                                        doc.to_string(),
                                    )))
                                    .unwrap(),
                            )
                        }
                    });
                    // A TLS hello (the https try before http under [dev]) just fails here.
                    let _ = http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        VisitorServer {
            base,
            host,
            asked,
            task,
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// The `basic` site, whose outgoing requests may reach 127.0.0.1 (where the visitors' servers
/// of these tests listen), with its queues and limits on `clock`.
async fn interact_site(clock: Clock) -> TestSite {
    let (dir, listener, base) = common::prepare("basic").await;
    let config = dir.path().join("site.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}allow_private_addresses = true\n")).unwrap();
    let site = masthead::config::Site::load(&config).unwrap().site;
    let store = masthead::store::Store::open(&site.data_dir).unwrap();
    let (app, _) = masthead::app::App::with_clock(site, store, clock).unwrap();
    let running = masthead::app::start(Arc::new(app), listener).unwrap();
    TestSite {
        dir,
        base,
        running: Some(running),
    }
}

/// `GET /interact` with `acct` and `uri`, query-encoded as a browser submits the form.
async fn interact(site: &TestSite, acct: &str, uri: &str) -> common::Got {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("uri", uri)
        .append_pair("acct", acct)
        .finish();
    site.get(&format!("/interact?{query}"), BROWSER).await
}

/// `s` percent-encoded as a template's placeholder is filled.
fn enc(s: &str) -> String {
    masthead::urls::encode_segment(s)
}

fn subscribe(base: &str) -> serde_json::Value {
    serde_json::json!({
        "rel": "http://ostatus.org/schema/1.0/subscribe",
        "template": format!("{base}/authorize_interaction?uri={{uri}}"),
    })
}

#[tokio::test]
async fn can_send_a_visitor_to_their_servers_subscribe_template_to_follow_or_reply() {
    let visitor = VisitorServer::with_links(|b| serde_json::json!([subscribe(b)])).await;
    let site = interact_site(Clock::system()).await;
    let actor = format!("{}/users/news", site.base);
    let got = interact(&site, &format!("@you@{}", visitor.host), &actor).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", got.text());
    assert_eq!(
        got.header("location"),
        format!("{}/authorize_interaction?uri={}", visitor.base, enc(&actor))
    );
    // Where one visitor is sent is theirs alone: no cache keeps it.
    assert_eq!(got.header("cache-control"), "no-store");
    assert_eq!(got.header("etag"), "");
    assert_eq!(
        visitor.asked().last().unwrap(),
        &format!("acct:you@{}", visitor.host)
    );
    // A post, named by its id or by its page, is sent as its id; a pasted profile URL works.
    let post = format!("{}/users/news/posts/hello", site.base);
    for (acct, uri) in [
        (format!("you@{}", visitor.host), post.clone()),
        (
            format!("{}/@you", visitor.base),
            format!("{}/@news/hello", site.base),
        ),
    ] {
        let got = interact(&site, &acct, &uri).await;
        assert_eq!(
            got.status,
            StatusCode::SEE_OTHER,
            "{acct} {uri}: {}",
            got.text()
        );
        assert_eq!(
            got.header("location"),
            format!("{}/authorize_interaction?uri={}", visitor.base, enc(&post))
        );
    }
}

#[tokio::test]
async fn can_prefer_fep_3b86_intents_over_the_subscribe_template() {
    let visitor = VisitorServer::with_links(|b| {
        serde_json::json!([
            subscribe(b),
            { "rel": "https://w3id.org/fep/3b86/Follow",
              "href": format!("{b}/intents/follow?object={{object}}&on-success={{on-success}}") },
            { "rel": "https://w3id.org/fep/3b86/Object",
              "template": format!("{b}/intents/object?object={{object}}") },
        ])
    })
    .await;
    let site = interact_site(Clock::system()).await;
    let acct = format!("@you@{}", visitor.host);
    let actor = format!("{}/users/news", site.base);
    let got = interact(&site, &acct, &actor).await;
    assert_eq!(
        got.header("location"),
        format!(
            "{}/intents/follow?object={}&on-success={}",
            visitor.base,
            enc(&actor),
            enc(&format!("{}/@news", site.base))
        )
    );
    let post = format!("{}/users/news/posts/hello", site.base);
    let got = interact(&site, &acct, &post).await;
    assert_eq!(
        got.header("location"),
        format!("{}/intents/object?object={}", visitor.base, enc(&post))
    );
}

#[tokio::test]
async fn can_fall_back_to_the_search_of_a_server_without_templates() {
    let visitor = VisitorServer::with_links(|b| {
        serde_json::json!([{ "rel": "self", "type": "application/activity+json",
                             "href": format!("{b}/users/you") }])
    })
    .await;
    let site = interact_site(Clock::system()).await;
    let actor = format!("{}/users/news", site.base);
    let got = interact(&site, &format!("@you@{}", visitor.host), &actor).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", got.text());
    assert_eq!(
        got.header("location"),
        format!("{}/search?q={}", visitor.base, enc(&actor))
    );
}

#[tokio::test]
async fn rejects_a_bad_handle_or_a_uri_not_ours_with_a_page_that_says_what_to_write() {
    let visitor = VisitorServer::with_links(|b| serde_json::json!([subscribe(b)])).await;
    let site = interact_site(Clock::system()).await;
    let actor = format!("{}/users/news", site.base);
    for typed in ["", "you", "@you@", "@you@nodot", "<script>@x.example"] {
        let got = interact(&site, typed, &actor).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{typed:?}");
        assert_eq!(got.header("content-type"), "text/html; charset=utf-8");
        let text = got.text();
        assert!(text.contains("@you@your.server"), "{text}");
        // The form again, the handle as typed in it, escaped.
        assert!(
            text.contains(&format!("action=\"{}/interact\"", site.base)),
            "{text}"
        );
        assert!(
            text.contains(&format!("name=\"uri\" value=\"{actor}\"")),
            "{text}"
        );
        assert!(!text.contains("<script>"), "{text}");
    }
    let text = interact(&site, "<script>@x.example", &actor).await.text();
    assert!(
        text.contains("value=\"&lt;script&gt;@x.example\""),
        "{text}"
    );
    let acct = format!("@you@{}", visitor.host);
    for uri in [
        "https://elsewhere.example/users/news".to_string(),
        format!("{}/users/nobody", site.base),
        format!("{}/users/news/posts/no-such-post", site.base),
        format!("{}/users/news/posts/draft", site.base),
        format!("{}/users/news/outbox", site.base),
        format!("{}/users/news?x=1", site.base),
        "javascript:alert(1)".to_string(),
        String::new(),
    ] {
        let got = interact(&site, &acct, &uri).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            got.text().contains("names no account or post of this site"),
            "{uri}"
        );
    }
    assert!(
        visitor.asked().is_empty(),
        "nothing was looked up: {:?}",
        visitor.asked()
    );
}

#[tokio::test]
async fn errors_when_the_visitors_server_is_unreachable_or_has_no_such_account() {
    let site = interact_site(Clock::system()).await;
    let actor = format!("{}/users/news", site.base);
    // Nothing listens on port 1.
    let got = interact(&site, "@you@127.0.0.1:1", &actor).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY, "{}", got.text());
    let text = got.text();
    assert!(text.contains("could not be reached"), "{text}");
    let search = format!("https://127.0.0.1:1/search?q={}", enc(&actor));
    assert!(text.contains(&format!("<a href=\"{search}\">")), "{text}");
    assert!(
        text.contains("value=\"@you@127.0.0.1:1\""),
        "the form again: {text}"
    );

    let gone = VisitorServer::start(|_, _| (404, serde_json::json!({}))).await;
    let got = interact(&site, &format!("@nobody@{}", gone.host), &actor).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert!(
        got.text().contains("has no account @nobody@"),
        "{}",
        got.text()
    );

    let html = VisitorServer::start(|_, _| (500, serde_json::json!({}))).await;
    let got = interact(&site, &format!("@you@{}", html.host), &actor).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn rejects_a_template_that_is_not_a_link_to_the_visitors_server() {
    let visitor = VisitorServer::with_links(|_| {
        serde_json::json!([
            { "rel": "http://ostatus.org/schema/1.0/subscribe", "template": "javascript:alert(document.cookie)//{uri}" },
            { "rel": "https://w3id.org/fep/3b86/Follow", "href": "https://phish.example/follow?o={object}" },
        ])
    })
    .await;
    let site = interact_site(Clock::system()).await;
    let actor = format!("{}/users/news", site.base);
    let got = interact(&site, &format!("@you@{}", visitor.host), &actor).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(got.header("location"), "");
    let text = got.text();
    assert!(text.contains("gave no usable link"), "{text}");
    assert!(
        !text.contains("javascript:") && !text.contains("phish.example"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https://{}/search?q={}",
            visitor.host,
            enc(&actor)
        )),
        "the search of the visitor's server instead: {text}"
    );
}

#[tokio::test]
async fn rejects_the_eleventh_lookup_in_a_minute_from_one_address() {
    let visitor = VisitorServer::with_links(|b| serde_json::json!([subscribe(b)])).await;
    let clock = Clock::manual(masthead::clock::now_ms());
    let site = interact_site(clock.clone()).await;
    let (acct, actor) = (
        format!("@you@{}", visitor.host),
        format!("{}/users/news", site.base),
    );
    // A handle that is not one costs no lookup.
    assert_eq!(
        interact(&site, "nope", &actor).await.status,
        StatusCode::BAD_REQUEST
    );
    for n in 1..=10 {
        let got = interact(&site, &acct, &actor).await;
        assert_eq!(got.status, StatusCode::SEE_OTHER, "lookup {n}");
    }
    let got = interact(&site, &acct, &actor).await;
    assert_eq!(got.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(got.header("retry-after"), "6");
    assert!(
        got.text().contains("Try again in 6 seconds"),
        "{}",
        got.text()
    );
    assert_eq!(
        visitor.asked().len(),
        10,
        "the refused one was not looked up"
    );
    // One lookup every 6 s comes back.
    clock.advance(std::time::Duration::from_secs(6));
    assert_eq!(
        interact(&site, &acct, &actor).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        interact(&site, &acct, &actor).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn can_offer_the_follow_and_reply_forms_on_the_pages() {
    let site = TestSite::start("basic").await;
    for (path, uri, label, button) in [
        (
            "/@news",
            format!("{}/users/news", site.base),
            "Follow @news@",
            "Follow",
        ),
        (
            "/@news/hello",
            format!("{}/users/news/posts/hello", site.base),
            "Reply, boost or like from your server",
            "Reply, boost or like",
        ),
    ] {
        let got = site.get(path, BROWSER).await;
        let (tags, _) = tokenize(&got.text());
        let attrs = |name: &str| -> Vec<Vec<(String, String)>> {
            tags.iter()
                .filter(|t| t.name == name)
                .map(|t| t.attrs.clone())
                .collect()
        };
        let has = |attrs: &[(String, String)], n: &str, v: &str| {
            attrs.iter().any(|(k, val)| k == n && val == v)
        };
        let forms = attrs("form");
        assert_eq!(forms.len(), 1, "{path}");
        assert!(has(&forms[0], "action", &format!("{}/interact", site.base)));
        assert!(has(&forms[0], "method", "get"));
        let inputs = attrs("input");
        assert!(
            inputs.iter().any(|i| has(i, "type", "hidden")
                && has(i, "name", "uri")
                && has(i, "value", &uri)),
            "{path}"
        );
        let field = inputs
            .iter()
            .find(|i| has(i, "name", "acct"))
            .expect("a handle field");
        assert!(
            has(field, "id", "interact-acct")
                && has(field, "autocomplete", "username")
                && has(field, "required", "")
        );
        assert!(
            attrs("label")
                .iter()
                .any(|l| has(l, "for", "interact-acct")),
            "{path}"
        );
        let text = got.text();
        assert!(text.contains(label), "{path}: {text}");
        assert!(
            text.contains(&format!("<button type=\"submit\">{button}</button>")),
            "{path}"
        );
        assert!(text.contains("Or search for "), "the old way stays: {text}");
        // The policy lets the form submit here and the redirect reach the visitor's server.
        let csp = got.header("content-security-policy");
        assert!(csp.contains("form-action 'self' https: http:"), "{csp}");
    }
}
