//! The HTML pages a browser gets, by snapshot (tests/snapshots/). The random port of each run is
//! replaced by a fixed host so snapshots are stable.

mod common;

use common::{TestSite, BROWSER};
use hyper::StatusCode;

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
            !["script", "iframe", "object", "embed", "svg", "base", "form"]
                .contains(&tag.name.as_str()),
            "{tag:?}"
        );
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
        "form-action 'none'",
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
