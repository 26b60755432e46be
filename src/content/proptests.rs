//! Property tests: no input panics the front matter reader or the renderer, whatever comes
//! out holds only what Mastodon's sanitizer would keep, and no image path publishes a file that
//! is not an image inside the content folder.

use std::path::Path;

use proptest::prelude::*;

use super::front_matter;
use super::media::sniffed_image_type;
use super::render::{Rendered, ALLOWED_CLASSES, ALLOWED_SCHEMES, ALLOWED_TAGS};
use super::test_support::{png, render_site, RenderSite};

/// Parses a file's text and renders its body (or, without valid front matter, the whole text),
/// against a site holding one real image.
fn run(text: &str) -> Rendered {
    let site = render_site();
    site.write("content/news/a.png", png(2, 2));
    let source = Path::new("content/news/x.md");
    let (body, body_line) = match front_matter::parse(source, text) {
        Ok(doc) => (doc.body, doc.body_line),
        Err(d) => {
            assert_eq!(d.file, source);
            assert!(d.line.is_some_and(|l| l >= 1), "{d}");
            (text, 1)
        }
    };
    site.render_at(body, body_line)
}

/// Every `<` in sanitized output opens a tag (text `<` is escaped); each tag and attribute must
/// be on the allowlist. Text may of course contain the word "onerror", so attribute checks look
/// inside tags only.
fn assert_allowed(html: &str) {
    for bad in ["<img", "<script", "<h1", "<table", "<iframe", "<style"] {
        assert!(!html.to_ascii_lowercase().contains(bad), "{bad} in {html}");
    }
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tail = &rest[i + 1..];
        let end = tail
            .find('>')
            .unwrap_or_else(|| panic!("unclosed tag in {html}"));
        let tag = &tail[..end];
        rest = &tail[end + 1..];
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let (name, attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(ALLOWED_TAGS.contains(&name), "tag <{name}> in {html}");
        assert!(!attrs.contains("style="), "style in {html}");
        assert!(
            !attrs.to_ascii_lowercase().contains("onerror"),
            "onerror in {html}"
        );
        for attr in attrs.split("\" ").filter(|a| !a.is_empty()) {
            let (key, value) = attr.split_once("=\"").unwrap_or((attr, ""));
            let value = value.trim_end_matches('"');
            match key {
                "href" => {
                    let scheme = value.split(':').next().unwrap_or_default();
                    assert!(ALLOWED_SCHEMES.contains(&scheme), "href {value} in {html}");
                }
                "class" => assert!(
                    value.split(' ').all(|c| ALLOWED_CLASSES.contains(&c)),
                    "class {value} in {html}"
                ),
                "rel" | "lang" | "start" => {}
                other => panic!("attribute {other} in {html}"),
            }
        }
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "title",
            "date",
            "updated",
            "lastmod",
            "draft",
            "slug",
            "tags",
            "summary",
            "description",
            "lang",
            "aliases",
            "content_warning",
            "sensitive",
            "visibility",
            "pinned",
            "object_type",
            "federate",
            "in_reply_to",
            "url",
            "published",
            "Title",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_\\[\\]. \"-]{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\n]{0,24}",
        "\"[^\n\"\\\\]{0,16}\"",
        prop::sample::select(vec![
            "true",
            "no",
            "2026-11-20",
            "2026-11-20T09:00:00Z",
            "2026-11-20 09:00:00 +0100",
            "\"yesterday\"",
            "[\"a\", 1, [2]]",
            "{ a = 1 }",
            "[a, b",
            "public",
            "article",
            "https://m.example/@a/1",
            "javascript:x",
            "-1e400",
            "&a *a",
            "!!binary x",
        ])
        .prop_map(str::to_string),
    ]
}

fn front_matter_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![("+++", " = "), ("---", ": ")]),
        prop::collection::vec((key(), value()), 0..8),
        any::<bool>(),
        markdown(),
    )
        .prop_map(|((delim, sep), pairs, closed, body)| {
            let mut s = format!("{delim}\n");
            for (k, v) in pairs {
                s.push_str(&format!("{k}{sep}{v}\n"));
            }
            if closed {
                s.push_str(&format!("{delim}\n"));
            }
            s + &body
        })
}

fn markdown() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "#",
            "@",
            "![",
            "](",
            "]",
            "[",
            ")",
            "`",
            "```\n",
            "\n",
            "\n\n",
            " ",
            "# ",
            "## ",
            "#tag",
            "#123",
            "a#b",
            "@ann@m.example",
            "@a@b",
            "me@x.example",
            "*",
            "**",
            "~~",
            "> ",
            "- ",
            "1. ",
            "| a | b |\n|---|---|\n| 1 | 2 |\n",
            "<img src=x onerror=alert(1)>",
            "<script>alert(1)</script>",
            "<style>p{}</style>",
            "<h1>h</h1>",
            "<table><tr><td>t",
            "<iframe src=//e.x>",
            "<a href=\"javascript:x\" onclick=y>",
            "<span style=\"c\">",
            "<!--",
            "-->",
            "<",
            ">",
            "&",
            "&amp;",
            "&#x3c;script&#x3e;",
            "javascript:alert(1)",
            "[l](javascript:alert(1))",
            "[l](a b)",
            "[l](/x)",
            "<mailto:a@b.c>",
            "<a@b.example>",
            "https://e.example/p_(x).",
            "![i](a.png)",
            "![i](../../../etc/passwd)",
            "![i](missing.png)",
            "![i](https://e.example/i.gif)",
            "![i](data:image/png;base64,x)",
            "[![i](a.png)](https://e.example)",
            "\\",
            "\"",
            "'",
            "\u{feff}",
            "é",
            "東京",
            "\r\n",
            "    indented code\n",
            "---\n",
            "+++\n",
            "[^1]",
            "[^1]: note\n",
            "<br>",
            "</p>",
        ])
        .prop_map(str::to_string),
        "[a-z0-9 ]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn can_survive_arbitrary_text(text in any::<String>()) {
        assert_allowed(&run(&text).html);
    }

    #[test]
    fn can_survive_arbitrary_front_matter(text in front_matter_text()) {
        assert_allowed(&run(&text).html);
    }

    #[test]
    fn can_survive_arbitrary_markdown(body in markdown()) {
        let r = run(&format!("+++\n+++\n{body}"));
        assert_allowed(&r.html);
        prop_assert!(r.attachments.len() <= 4);
        for a in &r.attachments {
            prop_assert!(a.url.starts_with("https://"), "{}", a.url);
        }
    }
}

#[test]
fn can_check_the_checker() {
    let caught = |html: &str| std::panic::catch_unwind(|| assert_allowed(html)).is_err();
    assert!(caught("<p><img src=x></p>"));
    assert!(caught("<p style=\"x\">a</p>"));
    assert!(caught("<a href=\"javascript:x\">a</a>"));
    assert!(caught("<span class=\"evil\">a</span>"));
    assert!(caught("<div>a</div>"));
    assert!(!caught(
        "<p>onerror style= <a href=\"https://x.example/\" rel=\"nofollow noopener\">a</a></p>"
    ));
}

/// A site holding secrets next to images, with a link from the content folder back to the
/// site root, so that paths can wander anywhere.
fn site_with_secrets() -> RenderSite {
    let site = render_site();
    site.write("content/news/a.png", png(1, 1))
        .write("content/news/img/a.png", png(1, 1))
        .write("content/news/notes.png", "text")
        .write(".masthead/masthead.db", "SQLite format 3\0")
        .write(".masthead/a.png", png(1, 1))
        .write(".git/config", "[core]")
        .write("site.toml", "[site]")
        .write("static/a.png", png(1, 1))
        .write("a.png", png(1, 1));
    #[cfg(unix)]
    std::os::unix::fs::symlink(site.dir.path(), site.dir.path().join("content/news/link")).unwrap();
    site
}

/// An image path made of pieces an attacker would try: a start, a few folders, a file.
fn image_path() -> impl Strategy<Value = String> {
    let start = prop_oneof![Just(""), Just("/"), Just("link/"), Just("/content/news/")];
    let folder = prop_oneof![
        Just(".."),
        Just("%2e%2e"),
        Just("."),
        Just(".masthead"),
        Just("%2emasthead"),
        Just(".git"),
        Just("static"),
        Just("link"),
        Just("img"),
    ];
    let file = prop_oneof![
        Just("a.png"),
        Just("masthead.db"),
        Just("site.toml"),
        Just("config"),
        Just("notes.png"),
    ];
    (start, prop::collection::vec(folder, 0..3), file).prop_map(|(start, folders, file)| {
        let mut path = start.to_string();
        for f in folders {
            path.push_str(f);
            path.push('/');
        }
        path + file
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rejects_every_image_path_that_leaves_the_content_folder(dest in image_path()) {
        let site = site_with_secrets();
        let r = site.render(&format!("![x]({dest})\n"));
        let news = site.dir.path().join("content/news").canonicalize().unwrap();
        for (rel, file) in &r.media {
            prop_assert!(rel.starts_with("content/news/"), "{dest} -> {rel}");
            prop_assert!(!rel.split('/').any(|p| p.starts_with('.')), "{dest} -> {rel}");
            let real = file.canonicalize().unwrap();
            prop_assert!(real.starts_with(&news), "{dest} -> {}", real.display());
            let bytes = std::fs::read(file).unwrap();
            prop_assert!(sniffed_image_type(&bytes).is_some(), "{dest} -> {rel}");
        }
        prop_assert_eq!(r.media.is_empty(), r.has_errors(), "{}: {:?}", dest, r.diagnostics);
    }
}
