//! The HTML pages: a plain, accessible profile, post and tag page, so every `url` works when the
//! brand has no site of its own.
//!
//! Every page carries `<link rel="me">` to the actor's profile (what Mastodon looks for when it
//! verifies a profile field) and `<link rel="alternate" type="application/activity+json">` to its
//! JSON twin (how a pasted URL is resolved by a fediverse search). Post HTML is already sanitized
//! by the content module; everything else is escaped here.
//!
//! What other servers sent (the replies under a post) is made safe here again when the page is
//! built, whatever the store holds (a database written by an older masthead may hold anything):
//! each URL put in an attribute must be an absolute `https:` URL (`http:` too with
//! `[dev] allow_http`) or it is left out ([`remote_url`]); names are escaped text; reply content
//! goes through the sanitizer once more, which keeps only https links and gives every link
//! `rel="nofollow noopener ugc"`. The pages need no script and one inline `<style>`, allowed by
//! its hash ([`style_hash`]) in the `Content-Security-Policy` every response carries.

use std::collections::HashSet;
use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};
use url::Url;

use crate::catalog::{published, Image, PostRecord, Profile};
use crate::config::{Actor, Site};
use crate::content::Post;
use crate::federation::comments::Comment;
use crate::federation::objects::{escape, Counts, ACTIVITY_JSON};
use crate::urls::Urls;

const STYLE: &str = "body{font:1.05rem/1.55 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;background:#fff}\
a{color:#0b57d0}header.profile img.avatar{width:96px;height:96px;border-radius:12px}\
img.header{width:100%;max-height:14rem;object-fit:cover;border-radius:8px}\
article{border-top:1px solid #ddd;padding:1rem 0}figure{margin:1rem 0}figure img{max-width:100%;height:auto}\
.meta{color:#555;font-size:.9rem}dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}\
dt{font-weight:600}dd{margin:0}.tags a{margin-right:.5rem}\
:root{color-scheme:light dark}\
.reply img.avatar{width:40px;height:40px;border-radius:8px;vertical-align:middle;margin-right:.5rem}\
form.interact{margin:1rem 0 .25rem;padding:.75rem 1rem;border:1px solid #ccc;border-radius:8px}\
form.interact label{display:block;font-weight:600;margin-bottom:.5rem}\
form.interact .row{display:flex;flex-wrap:wrap;gap:.5rem}\
form.interact input{font:inherit;flex:1 1 14rem;min-width:0;padding:.4rem .6rem;border:1px solid #767676;border-radius:6px}\
form.interact button{font:inherit;padding:.4rem 1rem;border:1px solid #0b57d0;border-radius:6px;background:#0b57d0;color:#fff;cursor:pointer}\
form.interact :focus-visible{outline:3px solid #0b57d0;outline-offset:2px}\
@media (prefers-color-scheme:dark){body{background:#121212;color:#e8e8e8}a{color:#8ab4f8}.meta{color:#aaa}\
form.interact{border-color:#444}form.interact input{background:#1e1e1e;color:#e8e8e8;border-color:#8a8a8a}\
form.interact button{background:#8ab4f8;border-color:#8ab4f8;color:#0b1a33}form.interact :focus-visible{outline-color:#8ab4f8}}";

/// `sha256-...` of the pages' one inline `<style>`, as the CSP names it.
pub fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let digest = Sha256::digest(STYLE.as_bytes());
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
}

/// `raw`, a URL another server sent, when it may go in an attribute of our page: absolute,
/// `https:` (or `http:` when `allow_http`), with a host and no user name or password (which
/// would make `https://trusted.example@evil.example/` read as the trusted host). The URL comes
/// back as the URL parser writes it, so nothing in it can end the attribute.
pub fn remote_url(raw: &str, allow_http: bool) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    let plain = url.username().is_empty() && url.password().is_none();
    (scheme_ok && url.has_host() && plain).then(|| url.to_string())
}

/// Reply content, cleaned again as it goes on the page: Mastodon's allowlist of tags, links to
/// `https:` (or `http:` when `allow_http`) only, and every link's own `rel` replaced by
/// `nofollow noopener ugc` (a remote `rel="me"` on our page would let Mastodon's link
/// verification mark our domain as verified on the sender's profile).
fn clean_remote_html(html: &str, allow_http: bool) -> String {
    static BUILDERS: [OnceLock<ammonia::Builder<'static>>; 2] = [OnceLock::new(), OnceLock::new()];
    BUILDERS[usize::from(allow_http)]
        .get_or_init(|| {
            crate::content::render::remote_sanitizer(if allow_http {
                HashSet::from(["https", "http"])
            } else {
                HashSet::from(["https"])
            })
        })
        .clean(html)
        .to_string()
}

struct Head<'a> {
    title: &'a str,
    description: &'a str,
    lang: &'a str,
    alternate: &'a str,
    me: &'a str,
    /// What a link preview shows, on the pages people share (a profile, a post).
    card: Option<Card>,
}

/// The Open Graph card of a page (what Mastodon, Misskey and chat apps build a link preview
/// from: the title, description and image), its author for Mastodon's byline
/// (`fediverse:creator`, credited when the actor's `attributionDomains` lists the page's host),
/// and for a post its dates and hashtags.
struct Card {
    /// `og:type`: `profile` or `article`.
    kind: &'static str,
    /// The page's own address, as shared.
    url: String,
    /// `og:site_name`.
    site_name: String,
    /// `@handle@domain` of the actor.
    creator: String,
    image: Option<CardImage>,
    /// A post's publication and edit times (RFC 3339) and hashtags.
    article: Option<(String, Option<String>, Vec<String>)>,
}

/// The picture of a card: a post's first image, else the actor's avatar.
struct CardImage {
    url: String,
    /// Its text alternative; empty for an avatar.
    alt: String,
    size: Option<(u32, u32)>,
    /// A post's own image (shown large), not the avatar.
    large: bool,
}

impl Card {
    fn meta(&self, head: &Head<'_>) -> String {
        let mut out = String::new();
        let mut tag = |attr: &str, name: &str, content: &str| {
            out.push_str(&format!(
                "<meta {attr}=\"{name}\" content=\"{}\">\n",
                escape(content)
            ));
        };
        tag("property", "og:type", self.kind);
        tag("property", "og:site_name", &self.site_name);
        tag("property", "og:title", head.title);
        tag("property", "og:description", head.description);
        tag("property", "og:url", &self.url);
        let mut large = false;
        if let Some(image) = &self.image {
            tag("property", "og:image", &image.url);
            if !image.alt.is_empty() {
                tag("property", "og:image:alt", &image.alt);
            }
            if let Some((w, h)) = image.size {
                tag("property", "og:image:width", &w.to_string());
                tag("property", "og:image:height", &h.to_string());
            }
            large = image.large;
        }
        if let Some((published, updated, tags)) = &self.article {
            tag("property", "article:published_time", published);
            if let Some(updated) = updated {
                tag("property", "article:modified_time", updated);
            }
            for t in tags {
                tag("property", "article:tag", t);
            }
        }
        let twitter = if large {
            "summary_large_image"
        } else {
            "summary"
        };
        tag("name", "twitter:card", twitter);
        tag("name", "fediverse:creator", &self.creator);
        out.push_str(&format!(
            "<link rel=\"canonical\" href=\"{}\">\n",
            escape(&self.url)
        ));
        out
    }
}

fn layout(head: &Head<'_>, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<meta name=\"description\" content=\"{description}\">\n{card}\
<link rel=\"alternate\" type=\"{ACTIVITY_JSON}\" href=\"{alternate}\">\n\
<link rel=\"me\" href=\"{me}\">\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        lang = escape(head.lang),
        title = escape(head.title),
        description = escape(head.description),
        card = head.card.as_ref().map(|c| c.meta(head)).unwrap_or_default(),
        alternate = escape(head.alternate),
        me = escape(head.me),
    )
}

/// `og:site_name`: the site's name, else its domain.
fn site_name(site: &Site) -> String {
    site.name.clone().unwrap_or_else(|| site.domain.clone())
}

/// The avatar as a card's picture.
fn avatar_image(icon: Option<&Image>) -> Option<CardImage> {
    icon.map(|i| CardImage {
        url: i.url.clone(),
        alt: String::new(),
        size: None,
        large: false,
    })
}

fn handle_of(site: &Site, actor: &Actor) -> String {
    format!("@{}@{}", actor.handle, site.domain)
}

fn date(record: &PostRecord) -> String {
    let t = published(record);
    format!(
        "<time datetime=\"{}\">{}</time>",
        crate::federation::objects::time(t),
        t.format("%-d %B %Y")
    )
}

/// The profile page of an actor with its pinned and latest posts.
pub fn profile(
    site: &Site,
    urls: &Urls,
    actor: &Actor,
    profile: &Profile,
    posts: &[&PostRecord],
) -> String {
    let handle = handle_of(site, actor);
    let mut body = String::new();
    body.push_str("<header class=\"profile h-card\">\n");
    if let Some(image) = &profile.image {
        body.push_str(&format!(
            "<img class=\"header\" src=\"{}\" alt=\"\">\n",
            escape(&image.url)
        ));
    }
    if let Some(icon) = &profile.icon {
        body.push_str(&format!(
            "<img class=\"avatar u-photo\" src=\"{}\" alt=\"{} avatar\">\n",
            escape(&icon.url),
            escape(&actor.name)
        ));
    }
    body.push_str(&format!(
        "<h1 class=\"p-name\">{}</h1>\n<p class=\"meta\"><a class=\"u-url\" rel=\"me\" href=\"{}\">{}</a></p>\n<div class=\"p-note\">{}</div>\n",
        escape(&actor.name),
        escape(&urls.actor_html(&actor.handle)),
        escape(&handle),
        profile.summary_html
    ));
    if !profile.fields_html.is_empty() {
        body.push_str("<dl class=\"fields\">\n");
        for (name, value) in &profile.fields_html {
            body.push_str(&format!("<dt>{}</dt><dd>{value}</dd>\n", escape(name)));
        }
        body.push_str("</dl>\n");
    }
    body.push_str(&interact_form(site, urls, &Interaction::Follow(actor), ""));
    body.push_str("</header>\n<main>\n");
    let (pinned, rest): (Vec<&PostRecord>, Vec<&PostRecord>) =
        posts.iter().partition(|r| r.post.pinned);
    for (label, list) in [("Pinned", pinned), ("Posts", rest)] {
        if list.is_empty() {
            continue;
        }
        body.push_str(&format!("<h2>{label}</h2>\n"));
        for record in list {
            body.push_str(&summary_card(urls, actor, record));
        }
    }
    if posts.is_empty() {
        body.push_str("<p>No posts yet.</p>\n");
    }
    body.push_str("</main>");
    let description = crate::federation::objects::first_words(&profile.summary_html, 160);
    layout(
        &Head {
            title: &format!("{} ({handle})", actor.name),
            description: &description,
            lang: &site.language_of(actor),
            alternate: &urls.actor(&actor.handle),
            me: &urls.actor_html(&actor.handle),
            card: Some(Card {
                kind: "profile",
                url: urls.actor_html(&actor.handle),
                site_name: site_name(site),
                creator: handle.clone(),
                image: avatar_image(profile.icon.as_ref()),
                article: None,
            }),
        },
        &body,
    )
}

fn summary_card(urls: &Urls, actor: &Actor, record: &PostRecord) -> String {
    let post = &record.post;
    let link = urls.post_url(
        &actor.handle,
        &post.slug,
        &post.page_path,
        post.more().url.as_deref(),
    );
    // A post behind a content warning shows the warning, never its text, until opened.
    let title = match (&post.title, &post.more().content_warning) {
        (Some(title), _) => title.to_string(),
        (None, Some(cw)) => format!("Content warning: {cw}"),
        (None, None) => crate::federation::objects::first_words(&record.html(), 80),
    };
    format!(
        "<article><h3><a href=\"{}\">{}</a></h3><p class=\"meta\">{}</p></article>\n",
        escape(&link),
        escape(&title),
        date(record)
    )
}

/// The page of one post, with its interaction counts; `avatar` is the actor's, for the link
/// preview of a post without a picture of its own.
pub fn post(
    site: &Site,
    urls: &Urls,
    actor: &Actor,
    record: &PostRecord,
    counts: Counts,
    comments: &[Comment],
    avatar: Option<&Image>,
) -> String {
    let post = &record.post;
    let lang = post
        .more()
        .lang
        .clone()
        .unwrap_or_else(|| site.language_of(actor));
    let mut body = format!(
        "<header><p class=\"meta\"><a href=\"{}\">{}</a> · {}</p></header>\n<main>\n<article class=\"h-entry\" lang=\"{}\">\n",
        escape(&urls.actor_html(&actor.handle)),
        escape(&actor.name),
        escape(&handle_of(site, actor)),
        escape(&lang),
    );
    if let Some(title) = &post.title {
        body.push_str(&format!("<h1 class=\"p-name\">{}</h1>\n", escape(title)));
    }
    body.push_str(&format!("<p class=\"meta\">{}", date(record)));
    if let Some(updated) = post.more().updated.filter(|u| *u > published(record)) {
        body.push_str(&format!(
            " · edited <time datetime=\"{}\">{}</time>",
            crate::federation::objects::time(updated),
            updated.format("%-d %B %Y")
        ));
    }
    body.push_str("</p>\n");
    if let Some(reply_to) = &post.more().in_reply_to {
        body.push_str(&format!(
            "<p class=\"meta\">In reply to <a class=\"u-in-reply-to\" href=\"{0}\">{0}</a></p>\n",
            escape(reply_to)
        ));
    }
    let html = record.html();
    let content = format!("<div class=\"e-content\">{}</div>\n{}", html, figures(post));
    match &post.more().content_warning {
        Some(cw) => body.push_str(&format!(
            "<details><summary>Content warning: {}</summary>\n{content}</details>\n",
            escape(cw)
        )),
        None => body.push_str(&content),
    }
    if !post.tags.is_empty() {
        body.push_str("<p class=\"tags\">");
        for tag in &post.tags {
            body.push_str(&format!(
                "<a rel=\"tag\" class=\"p-category\" href=\"{}\">#{}</a>",
                escape(&urls.tag(tag)),
                escape(tag)
            ));
        }
        body.push_str("</p>\n");
    }
    body.push_str(&format!(
        "<p class=\"meta\">{} replies · {} likes · {} boosts</p>\n",
        counts.replies, counts.likes, counts.shares
    ));
    body.push_str(&interact_form(
        site,
        urls,
        &Interaction::Post(actor, &urls.post(&actor.handle, &post.slug)),
        "",
    ));
    body.push_str(&replies_section(comments, site.dev.allow_http));
    body.push_str("</article>\n</main>");
    // Titles and descriptions are shown by link previews: never leak text hidden behind a CW.
    let text = match &post.more().content_warning {
        Some(cw) => format!("Content warning: {cw}"),
        None => crate::federation::objects::first_words(&html, 160),
    };
    let title = post
        .title
        .as_deref()
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}: {}",
                actor.name,
                crate::federation::objects::first_words(&text, 60)
            )
        });
    let description = post.more().summary.clone().unwrap_or(text);
    layout(
        &Head {
            title: &title,
            description: &description,
            lang: &lang,
            alternate: &urls.post(&actor.handle, &post.slug),
            me: &urls.actor_html(&actor.handle),
            card: Some(Card {
                kind: "article",
                url: urls.post_url(
                    &actor.handle,
                    &post.slug,
                    &post.page_path,
                    post.more().url.as_deref(),
                ),
                site_name: site_name(site),
                creator: handle_of(site, actor),
                image: post_image(post).or_else(|| avatar_image(avatar)),
                article: Some((
                    crate::federation::objects::time(published(record)),
                    post.more()
                        .updated
                        .filter(|u| *u > published(record))
                        .map(crate::federation::objects::time),
                    post.tags.iter().map(|t| t.to_string()).collect(),
                )),
            }),
        },
        &body,
    )
}

/// A post's first image as its card's picture, unless the post is sensitive or behind a
/// content warning: a preview must not show what the page hides.
fn post_image(post: &Post) -> Option<CardImage> {
    if post.sensitive || post.more().content_warning.is_some() {
        return None;
    }
    post.more().attachments.first().map(|a| CardImage {
        url: a.url.clone(),
        alt: a.alt.clone(),
        size: a.width.zip(a.height),
        large: true,
    })
}

fn figures(post: &Post) -> String {
    post.more()
        .attachments
        .iter()
        .map(|a| {
            let size = match (a.width, a.height) {
                (Some(w), Some(h)) => format!(" width=\"{w}\" height=\"{h}\""),
                _ => String::new(),
            };
            format!(
                "<figure><img src=\"{}\" alt=\"{}\"{size} loading=\"lazy\"></figure>\n",
                escape(&a.url),
                escape(&a.alt)
            )
        })
        .collect()
}

/// Public posts carrying a hashtag, across actors.
pub fn tag(site: &Site, urls: &Urls, tag: &str, posts: &[(&Actor, &PostRecord)]) -> String {
    let mut body = format!("<main>\n<h1>#{}</h1>\n", escape(tag));
    for (actor, record) in posts {
        body.push_str(&summary_card(urls, actor, record));
    }
    if posts.is_empty() {
        body.push_str("<p>No posts with this tag.</p>\n");
    }
    body.push_str("</main>");
    layout(
        &Head {
            title: &format!("#{tag}"),
            description: &format!("Posts tagged #{tag}"),
            lang: &site.language,
            alternate: &urls.tag(tag),
            me: &urls.home(),
            card: None,
        },
        &body,
    )
}

/// The home page: every actor of the site.
pub fn home(site: &Site, urls: &Urls) -> String {
    let name = site.name.clone().unwrap_or_else(|| site.domain.clone());
    let mut body = format!("<main>\n<h1>{}</h1>\n<ul>\n", escape(&name));
    for actor in &site.actors {
        body.push_str(&format!(
            "<li><a href=\"{}\">{}</a> {}</li>\n",
            escape(&urls.actor_html(&actor.handle)),
            escape(&actor.name),
            escape(&handle_of(site, actor))
        ));
    }
    body.push_str("</ul>\n</main>");
    layout(
        &Head {
            title: &name,
            description: &format!("The fediverse accounts of {name}"),
            lang: &site.language,
            alternate: &urls.instance_actor(),
            me: &urls.home(),
            card: None,
        },
        &body,
    )
}

/// The page a published-then-removed post answers with 410.
pub fn gone(site: &Site, urls: &Urls, actor: &Actor) -> String {
    layout(
        &Head {
            title: "Post removed",
            description: "This post was removed by its author.",
            lang: &site.language_of(actor),
            alternate: &urls.actor(&actor.handle),
            me: &urls.actor_html(&actor.handle),
            card: None,
        },
        &format!(
            "<main>\n<h1>Post removed</h1>\n<p>This post was removed by <a href=\"{}\">{}</a>.</p>\n</main>",
            escape(&urls.actor_html(&actor.handle)),
            escape(&actor.name)
        ),
    )
}

/// What the visitor's handle is asked for: to follow an actor, or to reply to, boost or like
/// one of its posts (by the post's id).
pub enum Interaction<'a> {
    Follow(&'a Actor),
    Post(&'a Actor, &'a str),
}

impl Interaction<'_> {
    fn actor(&self) -> &Actor {
        match self {
            Interaction::Follow(actor) | Interaction::Post(actor, _) => actor,
        }
    }
}

/// The form that sends a visitor to their own server (`GET /interact`, no script): their
/// handle, our actor's or post's id, and below it the old way, searching for it there. `typed`
/// fills the field again on a page that answers a failed try.
pub fn interact_form(site: &Site, urls: &Urls, what: &Interaction<'_>, typed: &str) -> String {
    let handle = handle_of(site, what.actor());
    let (uri, label, button, hint) = match what {
        Interaction::Follow(actor) => (
            urls.actor(&actor.handle),
            format!("Follow {} — your fediverse handle:", escape(&handle)),
            "Follow",
            format!("Or search for {} on your server.", escape(&handle)),
        ),
        Interaction::Post(_, id) => (
            id.to_string(),
            "Reply, boost or like from your server — your fediverse handle:".to_string(),
            "Reply, boost or like",
            format!(
                "Or search for <a href=\"{0}\">{0}</a> on your server.",
                escape(id)
            ),
        ),
    };
    format!(
        "<form class=\"interact\" method=\"get\" action=\"{action}\">\n\
<input type=\"hidden\" name=\"uri\" value=\"{uri}\">\n\
<label for=\"interact-acct\">{label}</label>\n\
<div class=\"row\"><input id=\"interact-acct\" name=\"acct\" type=\"text\" value=\"{typed}\" \
placeholder=\"@you@your.server\" required autocomplete=\"username\" autocapitalize=\"none\" \
spellcheck=\"false\" inputmode=\"email\" aria-describedby=\"interact-hint\"> \
<button type=\"submit\">{button}</button></div>\n</form>\n\
<p class=\"meta\" id=\"interact-hint\">{hint}</p>\n",
        action = escape(&urls.interact()),
        uri = escape(&uri),
        typed = escape(typed),
    )
}

/// What a failed `/interact` says: a heading, a paragraph (HTML, already escaped), then the
/// form again when `form` is given (a mistyped handle is fixed there) and a way back.
pub struct Problem<'a> {
    pub title: &'a str,
    pub message_html: String,
    pub form: Option<(&'a Interaction<'a>, &'a str)>,
}

/// The page a failed `/interact` answers with.
pub fn interact_problem(site: &Site, urls: &Urls, actor: &Actor, problem: &Problem<'_>) -> String {
    let mut body = format!(
        "<main>\n<h1>{}</h1>\n<p>{}</p>\n",
        escape(problem.title),
        problem.message_html
    );
    if let Some((what, typed)) = problem.form {
        body.push_str(&interact_form(site, urls, what, typed));
    }
    body.push_str(&format!(
        "<p><a href=\"{}\">Back to {}</a></p>\n</main>",
        escape(&urls.actor_html(&actor.handle)),
        escape(&actor.name)
    ));
    layout(
        &Head {
            title: problem.title,
            description: problem.title,
            lang: &site.language_of(actor),
            alternate: &urls.actor(&actor.handle),
            me: &urls.actor_html(&actor.handle),
            card: None,
        },
        &body,
    )
}

/// The page of an `/interact` link that names nothing of this site.
pub fn interact_unknown(site: &Site, urls: &Urls) -> String {
    layout(
        &Head {
            title: "Nothing to follow here",
            description: "This link names no account or post of this site.",
            lang: &site.language,
            alternate: &urls.instance_actor(),
            me: &urls.home(),
            card: None,
        },
        &format!(
            "<main>\n<h1>Nothing to follow here</h1>\n<p>This link names no account or post of this site. \
Start again from the page of the account or post on <a href=\"{0}\">{0}</a>.</p>\n</main>",
            escape(&urls.home())
        ),
    )
}

/// The replies under a post: avatar, author, content and time, each made safe again here (see
/// the module doc). Nothing at all when there are none, so a post without replies reads as
/// before. A link whose URL is not fit for the page becomes plain text; such an avatar is left out.
fn replies_section(comments: &[Comment], allow_http: bool) -> String {
    if comments.is_empty() {
        return String::new();
    }
    let url = |raw: Option<&str>| raw.and_then(|u| remote_url(u, allow_http));
    let mut out = String::from("<section class=\"replies\" id=\"replies\">\n<h2>Replies</h2>\n");
    for c in comments {
        let who = c
            .author
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| c.author.handle.clone())
            .unwrap_or_else(|| c.author.id.clone());
        let avatar = url(c.author.icon.as_deref())
            .map(|src| {
                format!(
                    "<img class=\"avatar u-photo\" src=\"{}\" alt=\"\" width=\"40\" height=\"40\" loading=\"lazy\">",
                    escape(&src)
                )
            })
            .unwrap_or_default();
        let author = link_or_text(
            url(c.author.url.as_deref()).or_else(|| url(Some(&c.author.id))),
            "p-author h-card",
            &format!("{avatar}{}", escape(&who)),
        );
        let handle = c
            .author
            .handle
            .as_ref()
            .map(|h| format!(" <span class=\"handle\">@{}</span>", escape(h)))
            .unwrap_or_default();
        let time = format!(
            "<time class=\"dt-published\" datetime=\"{}\">{}</time>",
            escape(&c.published),
            escape(c.published.get(..10).unwrap_or(&c.published)),
        );
        let permalink = link_or_text(
            url(c.url.as_deref()).or_else(|| url(Some(&c.id))),
            "u-url",
            &time,
        );
        out.push_str(&format!(
            "<article class=\"h-cite reply\">\n<p class=\"meta\">{author}{handle} · {permalink}</p>\n<div class=\"e-content\">{}</div>\n</article>\n",
            clean_remote_html(&c.content_html, allow_http),
        ));
    }
    out.push_str("</section>\n");
    out
}

/// `inner` (already HTML) as a link to `href` with `class`, or as it is when there is no URL.
fn link_or_text(href: Option<String>, class: &str, inner: &str) -> String {
    match href {
        Some(href) => format!(
            "<a class=\"{class}\" rel=\"nofollow noopener ugc\" href=\"{}\">{inner}</a>",
            escape(&href)
        ),
        None => format!("<span class=\"{class}\">{inner}</span>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_urls_unfit_for_a_page_attribute() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "&#106;avascript:alert(1)",
            "javascript://r.example/%0Aalert(1)",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "vbscript:msgbox(1)",
            "/relative/path",
            "//r.example/protocol-relative",
            "https://trusted.example@evil.example/",
            "http://r.example/plain-http",
            "mailto:a@r.example",
            "",
        ] {
            assert_eq!(remote_url(bad, false), None, "{bad:?}");
        }
        assert_eq!(
            remote_url("http://r.example/a", true).as_deref(),
            Some("http://r.example/a")
        );
        assert_eq!(remote_url("javascript:x", true), None);
    }

    #[test]
    fn can_keep_an_https_url_written_so_that_it_cannot_end_the_attribute() {
        assert_eq!(
            remote_url("https://R.example/a b\"><script>", false).as_deref(),
            Some("https://r.example/a%20b%22%3E%3Cscript%3E")
        );
    }

    #[test]
    fn rejects_active_content_and_a_remote_rel_in_reply_html() {
        let clean = clean_remote_html(
            r#"<p onclick="x"><a rel="me" href="https://r.example/">me</a><a href="JaVaScRiPt:alert(1)">j</a><a href="http://r.example/">h</a><script>alert(1)</script><img src="https://r.example/i.png"></p>"#,
            false,
        );
        assert_eq!(
            clean,
            r#"<p><a href="https://r.example/" rel="nofollow noopener ugc">me</a><a rel="nofollow noopener ugc">j</a><a rel="nofollow noopener ugc">h</a></p>"#
        );
    }

    #[test]
    fn can_hash_the_inline_style_as_the_policy_names_it() {
        let hash = style_hash();
        assert!(
            hash.starts_with("sha256-") && hash.len() == 7 + 44,
            "{hash}"
        );
    }
}
