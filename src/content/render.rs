//! Markdown to the HTML that Mastodon keeps.
//!
//! This module owns turning a post's Markdown body into sanitized HTML plus what travels beside
//! it: image attachments, inline hashtags, mentions and the text length. It walks pulldown-cmark's
//! events itself instead of post-processing its HTML, so that headings, images, tables and raw
//! HTML are decided here (bold paragraph, attachment, text) rather than stripped blindly later;
//! ammonia then runs last, configured to Mastodon's allowlist
//! (mastodon: lib/sanitize_ext/sanitize_config.rb), as the one guarantee about what goes out.
//!
//! It reads image files (to sniff their type and size) but does not know about the front matter,
//! the cache or ActivityPub.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use url::Url;

use super::front_matter::NOT_PUBLISHED;
use super::{Attachment, Mention};
use crate::diagnostics::{line_of, Diagnostic};
use crate::urls::{percent_decode, Urls};

/// Mastodon shows at most four attachments (`Status::MEDIA_ATTACHMENTS_LIMIT`).
pub const MAX_ATTACHMENTS: usize = 4;

/// Link schemes Mastodon keeps as links; anything else becomes plain text.
pub const ALLOWED_SCHEMES: [&str; 12] = [
    "http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "xmpp", "magnet", "gemini",
    "mailto",
];

/// Tags Mastodon keeps in remote content (minus `ruby rt rp`, which Markdown never produces).
pub(crate) const ALLOWED_TAGS: [&str; 17] = [
    "p",
    "br",
    "span",
    "a",
    "del",
    "s",
    "pre",
    "blockquote",
    "code",
    "b",
    "strong",
    "u",
    "i",
    "em",
    "ul",
    "ol",
    "li",
];

/// Classes that survive sanitizing: those masthead writes and Mastodon understands.
const ALLOWED_CLASSES: [&str; 6] = [
    "mention",
    "hashtag",
    "h-card",
    "u-url",
    "invisible",
    "ellipsis",
];

/// What the renderer needs to know about the post it renders.
#[derive(Clone, Copy, Debug)]
pub struct RenderContext<'a> {
    /// The site's URL shapes (hashtag and media links).
    pub urls: &'a Urls,
    /// The site root on disk; local images must live inside it.
    pub site_root: &'a Path,
    /// The Markdown file, relative to the site root; images resolve next to it.
    pub source: &'a Path,
    /// 1-based line of the file on which the body starts.
    pub body_line: usize,
    /// The post's public URL; relative links resolve against it.
    pub post_url: &'a str,
}

/// A rendered body and everything found while rendering it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Sanitized HTML.
    pub html: String,
    /// Characters of visible text, paragraphs separated by a blank line (as a person would type
    /// the post on Mastodon).
    pub text_len: usize,
    /// Inline hashtags without `#`, in order, first spelling kept.
    pub tags: Vec<String>,
    /// `@user@host` mentions, in order, without duplicates.
    pub mentions: Vec<Mention>,
    /// The first four images.
    pub attachments: Vec<Attachment>,
    /// Local files the attachments point at: path relative to the site root (`/`-separated)
    /// to the file on disk.
    pub media: Vec<(String, PathBuf)>,
    /// Errors (the post must not be published) and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl Rendered {
    /// True when a problem keeps the post from being published.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Renders `markdown` (a post body) for the fediverse.
pub fn render(markdown: &str, ctx: &RenderContext<'_>) -> Rendered {
    let mut w = Writer::new(ctx);
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        let line = ctx.body_line + line_of(markdown, range.start) - 1;
        w.event(event, line);
    }
    w.flush_text();
    let images = std::mem::take(&mut w.images);
    let mut out = Rendered {
        html: sanitizer().clean(&w.out).to_string(),
        text_len: w.plain.trim().chars().count(),
        tags: w.tags,
        mentions: w.mentions,
        ..Rendered::default()
    };
    attach_images(ctx, images, &mut out);
    out
}

/// The ammonia configuration matching Mastodon's sanitizer for remote posts.
/// Cleans HTML from anywhere (a remote reply, say) down to what Mastodon keeps.
pub fn sanitize(html: &str) -> String {
    sanitizer().clean(html).to_string()
}

fn sanitizer() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let classes: HashSet<&str> = ALLOWED_CLASSES.into_iter().collect();
        let mut b = ammonia::Builder::empty();
        b.tags(ALLOWED_TAGS.into_iter().collect())
            .tag_attributes(HashMap::from([
                ("a", HashSet::from(["href", "rel"])),
                // Mastodon keeps `ol[start]`; a list that starts at 3 should still read 3.
                ("ol", HashSet::from(["start"])),
            ]))
            .generic_attributes(HashSet::from(["lang"]))
            .allowed_classes(HashMap::from([("a", classes.clone()), ("span", classes)]))
            .url_schemes(ALLOWED_SCHEMES.into_iter().collect())
            // Every link the renderer writes is already absolute; anything else is dropped.
            .url_relative(ammonia::UrlRelative::Deny)
            // The renderer sets `rel` itself: `tag` on hashtags, `nofollow noopener` on
            // external links. ammonia's default would overwrite both.
            .link_rel(None)
            .strip_comments(true);
        b
    })
}

/// An image found in the Markdown, before it is resolved.
#[derive(Debug)]
struct ImageRef {
    dest: String,
    alt: String,
    title: String,
    line: usize,
}

/// An open Markdown link: whether an `<a>` was written for it, and where.
struct LinkFrame {
    /// Byte offset in `out` where the `<a ...>` starts, when one was written.
    open_at: Option<usize>,
    /// Byte offset in `out` right after the `<a ...>`.
    content_at: usize,
}

/// Accumulates HTML (before sanitizing) and what is found on the way.
struct Writer<'c> {
    ctx: &'c RenderContext<'c>,
    base: Option<Url>,
    own_host: Option<String>,
    out: String,
    /// Visible text, for `text_len`.
    plain: String,
    /// Consecutive text events, joined so that `#tag` split across events is still seen.
    pending: String,
    /// The last visible character written, to tell `a#b` (not a tag) from ` #b`.
    prev_char: Option<char>,
    code_block: bool,
    links: Vec<LinkFrame>,
    /// Depth of nested images (alt text may itself contain image syntax).
    image_depth: usize,
    image: Option<ImageRef>,
    images: Vec<ImageRef>,
    /// Raw HTML of the current HTML block, degraded to text at its end.
    html_block: Option<String>,
    /// Inside an inline `<script>` or `<style>`: its text is dropped.
    raw_skip: bool,
    table_cells: usize,
    table_rows: usize,
    /// Where the open paragraph or heading starts in `out`, and where its content starts.
    block_open: Option<(usize, usize)>,
    tags: Vec<String>,
    mentions: Vec<Mention>,
}

impl<'c> Writer<'c> {
    fn new(ctx: &'c RenderContext<'c>) -> Self {
        let own_host = Url::parse(ctx.urls.base())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        Writer {
            ctx,
            base: Url::parse(ctx.post_url).ok(),
            own_host,
            out: String::new(),
            plain: String::new(),
            pending: String::new(),
            prev_char: None,
            code_block: false,
            links: Vec::new(),
            image_depth: 0,
            image: None,
            images: Vec::new(),
            html_block: None,
            raw_skip: false,
            table_cells: 0,
            table_rows: 0,
            block_open: None,
            tags: Vec::new(),
            mentions: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'_>, line: usize) {
        if self.image_depth > 0 {
            self.image_event(event);
            return;
        }
        match event {
            Event::Text(t) => {
                if let Some(block) = &mut self.html_block {
                    block.push_str(&t);
                } else {
                    self.pending.push_str(&t);
                }
                return;
            }
            Event::SoftBreak => {
                // Mastodon shows content with `white-space: pre-wrap`; a newline inside a
                // paragraph would become a visible line break, so a soft break is a space.
                self.pending.push(' ');
                return;
            }
            _ => {}
        }
        self.flush_text();
        match event {
            Event::Start(tag) => self.start(tag, line),
            Event::End(tag) => self.end(tag),
            Event::Code(code) | Event::InlineMath(code) | Event::DisplayMath(code) => {
                self.out.push_str("<code>");
                self.out.push_str(&escape(&code));
                self.out.push_str("</code>");
                self.visible(&code);
            }
            Event::Html(raw) => match &mut self.html_block {
                Some(block) => block.push_str(&raw),
                None => self.inline_html(&raw),
            },
            Event::InlineHtml(raw) => self.inline_html(&raw),
            Event::HardBreak => {
                self.out.push_str("<br>");
                self.visible("\n");
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.out.push_str(mark);
                self.visible(mark);
            }
            Event::FootnoteReference(name) => {
                let text = format!("[{name}]");
                self.out.push_str(&escape(&text));
                self.visible(&text);
            }
            // `<hr>` is not kept by Mastodon; the paragraphs around it already separate.
            Event::Rule => self.end_block(),
            Event::Text(_) | Event::SoftBreak => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>, line: usize) {
        match tag {
            Tag::Paragraph => self.open_block("<p>"),
            // Mastodon turns h1-h6 into bold paragraphs; doing it here keeps the text bold.
            Tag::Heading { .. } => self.open_block("<p><strong>"),
            Tag::BlockQuote(_) => self.out.push_str("<blockquote>"),
            Tag::CodeBlock(_) => {
                self.out.push_str("<pre><code>");
                self.code_block = true;
            }
            Tag::HtmlBlock => self.html_block = Some(String::new()),
            Tag::List(Some(start)) if start != 1 => {
                self.out.push_str(&format!("<ol start=\"{start}\">"));
            }
            Tag::List(Some(_)) => self.out.push_str("<ol>"),
            Tag::List(None) => self.out.push_str("<ul>"),
            Tag::Item => self.out.push_str("<li>"),
            // Tables degrade to one paragraph, a line per row, cells separated by ` | `.
            Tag::Table(_) => {
                self.out.push_str("<p>");
                self.table_rows = 0;
            }
            Tag::TableHead | Tag::TableRow => {
                if self.table_rows > 0 {
                    self.out.push_str("<br>");
                    self.visible("\n");
                }
                self.table_rows += 1;
                self.table_cells = 0;
            }
            Tag::TableCell => {
                if self.table_cells > 0 {
                    self.out.push_str(" | ");
                    self.visible(" | ");
                }
                self.table_cells += 1;
            }
            Tag::Emphasis => self.out.push_str("<em>"),
            Tag::Strong => self.out.push_str("<strong>"),
            Tag::Strikethrough => self.out.push_str("<del>"),
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => self.open_link(&dest_url, link_type),
            Tag::Image {
                dest_url, title, ..
            } => {
                self.image_depth = 1;
                self.image = Some(ImageRef {
                    dest: dest_url.to_string(),
                    alt: String::new(),
                    title: title.to_string(),
                    line,
                });
            }
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Superscript
            | Tag::Subscript
            | Tag::MetadataBlock(_) => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.close_block("</p>"),
            TagEnd::Heading(_) => self.close_block("</strong></p>"),
            TagEnd::BlockQuote(_) => self.out.push_str("</blockquote>"),
            TagEnd::CodeBlock => {
                self.out.push_str("</code></pre>");
                self.code_block = false;
                self.end_block();
            }
            TagEnd::HtmlBlock => {
                let raw = self.html_block.take().unwrap_or_default();
                let text = html_to_text(&raw);
                if !text.trim().is_empty() {
                    self.out.push_str("<p>");
                    // The text is still HTML (`&amp;` is an ampersand): entities are left for
                    // the sanitizer to parse, only what could open a tag is escaped.
                    self.out
                        .push_str(&text.trim().replace('<', "&lt;").replace('>', "&gt;"));
                    self.out.push_str("</p>");
                    self.visible(text.trim());
                    self.end_block();
                }
            }
            TagEnd::List(true) => self.out.push_str("</ol>"),
            TagEnd::List(false) => self.out.push_str("</ul>"),
            TagEnd::Item => {
                self.out.push_str("</li>");
                self.end_block();
            }
            TagEnd::Table => {
                self.out.push_str("</p>");
                self.end_block();
            }
            TagEnd::Emphasis => self.out.push_str("</em>"),
            TagEnd::Strong => self.out.push_str("</strong>"),
            TagEnd::Strikethrough => self.out.push_str("</del>"),
            TagEnd::Link => self.close_link(),
            TagEnd::Image
            | TagEnd::TableHead
            | TagEnd::TableRow
            | TagEnd::TableCell
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::MetadataBlock(_) => {}
        }
    }

    /// Inside `![...]`: text becomes alt text, nothing is written.
    fn image_event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(Tag::Image { .. }) => self.image_depth += 1,
            Event::End(TagEnd::Image) => {
                self.image_depth -= 1;
                if self.image_depth == 0 {
                    if let Some(img) = self.image.take() {
                        self.images.push(img);
                    }
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(img) = &mut self.image {
                    img.alt.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(img) = &mut self.image {
                    img.alt.push(' ');
                }
            }
            _ => {}
        }
    }

    /// Raw HTML inside a paragraph: tags are dropped (their text comes as text events), except
    /// `<br>`; the text of `<script>` and `<style>` is dropped too.
    fn inline_html(&mut self, raw: &str) {
        let lower = raw.trim().to_ascii_lowercase();
        if lower.starts_with("<br") {
            self.out.push_str("<br>");
            self.visible("\n");
        } else if lower.starts_with("<script") || lower.starts_with("<style") {
            self.raw_skip = true;
        } else if lower.starts_with("</script") || lower.starts_with("</style") {
            self.raw_skip = false;
        }
    }

    fn open_block(&mut self, open: &str) {
        let at = self.out.len();
        self.out.push_str(open);
        self.block_open = Some((at, self.out.len()));
    }

    /// Closes a paragraph or heading; one with nothing visible in it (only images, which became
    /// attachments) is removed rather than left as an empty line.
    fn close_block(&mut self, close: &str) {
        match self.block_open.take() {
            Some((at, content)) if self.out.get(content..).is_some_and(|c| c.trim().is_empty()) => {
                self.out.truncate(at);
                self.raw_skip = false;
                self.prev_char = None;
            }
            _ => {
                self.out.push_str(close);
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        self.raw_skip = false;
        self.prev_char = None;
        while self.plain.ends_with('\n') {
            self.plain.pop();
        }
        if !self.plain.is_empty() {
            self.plain.push_str("\n\n");
        }
    }

    fn visible(&mut self, text: &str) {
        self.plain.push_str(text);
        if let Some(c) = text.chars().last() {
            self.prev_char = Some(c);
        }
    }

    fn open_link(&mut self, dest: &str, link_type: LinkType) {
        let open_at = match self.resolve_link(dest, link_type) {
            Some(href) => {
                let at = self.out.len();
                let rel = if self.is_external(&href) {
                    " rel=\"nofollow noopener\""
                } else {
                    ""
                };
                self.out
                    .push_str(&format!("<a href=\"{}\"{rel}>", escape(href.as_str())));
                Some(at)
            }
            None => None,
        };
        let content_at = self.out.len();
        self.links.push(LinkFrame {
            open_at,
            content_at,
        });
    }

    fn close_link(&mut self) {
        let Some(frame) = self.links.pop() else {
            return;
        };
        let Some(open_at) = frame.open_at else {
            return;
        };
        if self.out.len() == frame.content_at {
            // Nothing visible inside (e.g. a linked image, which became an attachment):
            // an empty `<a>` would be an invisible link, so it is dropped.
            self.out.truncate(open_at);
        } else {
            self.out.push_str("</a>");
        }
    }

    /// The absolute URL a Markdown link points at, or `None` when it must become plain text
    /// (a scheme Mastodon does not keep, or nothing to resolve against).
    fn resolve_link(&self, dest: &str, link_type: LinkType) -> Option<Url> {
        let dest = dest.trim();
        if dest.is_empty() {
            return None;
        }
        if link_type == LinkType::Email {
            return Url::parse(&format!("mailto:{dest}")).ok();
        }
        let url = match Url::parse(dest) {
            Ok(u) => u,
            Err(url::ParseError::RelativeUrlWithoutBase) => self.base.as_ref()?.join(dest).ok()?,
            Err(_) => return None,
        };
        ALLOWED_SCHEMES.contains(&url.scheme()).then_some(url)
    }

    fn is_external(&self, url: &Url) -> bool {
        url.scheme() != "mailto" && url.host_str() != self.own_host.as_deref()
    }

    /// Writes the pending text: escaped, with hashtags, mentions and bare URLs turned into links
    /// unless it sits inside a link or code.
    fn flush_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        if self.raw_skip {
            return;
        }
        if self.code_block || !self.links.is_empty() {
            self.out.push_str(&escape(&text));
            self.visible(&text);
            return;
        }
        self.write_linkified(&text);
    }

    fn write_linkified(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else { break };
            let prev = self.prev_char;
            let token = match c {
                '#' if !prev.is_some_and(|p| p.is_alphanumeric() || "_#&/".contains(p)) => {
                    hashtag_at(rest).map(|(len, tag)| (len, Token::Tag(tag)))
                }
                '@' if !prev.is_some_and(|p| p.is_alphanumeric() || "_.@/".contains(p)) => {
                    mention_at(rest).map(|(len, m)| (len, Token::Mention(m)))
                }
                'h' | 'H' if !prev.is_some_and(|p| p.is_alphanumeric() || p == '/') => {
                    bare_url_at(rest).map(|(len, u)| (len, Token::Url(u)))
                }
                _ => None,
            };
            match token {
                Some((len, token)) => {
                    self.write_token(token, &rest[..len]);
                    rest = &rest[len..];
                }
                None => {
                    let len = c.len_utf8();
                    self.out.push_str(&escape(&rest[..len]));
                    self.visible(&rest[..len]);
                    rest = &rest[len..];
                }
            }
        }
    }

    fn write_token(&mut self, token: Token, written: &str) {
        match token {
            Token::Tag(tag) => {
                self.out.push_str(&format!(
                    "<a href=\"{}\" class=\"mention hashtag\" rel=\"tag\">#<span>{}</span></a>",
                    escape(&self.ctx.urls.tag(&tag)),
                    escape(&tag)
                ));
                if !self
                    .tags
                    .iter()
                    .any(|t| t.to_lowercase() == tag.to_lowercase())
                {
                    self.tags.push(tag);
                }
                self.visible(written);
            }
            Token::Mention(m) => {
                // Mastodon counts a mention as `@user`, without the domain.
                let shown = format!("@{}", m.user);
                // Points at the conventional profile URL for now; the real actor id comes
                // from WebFinger when the post is federated, and replaces it there.
                self.out.push_str(&format!(
                    "<span class=\"h-card\"><a href=\"https://{}/@{}\" class=\"u-url mention\">@<span>{}</span></a></span>",
                    escape(&m.host),
                    escape(&m.user),
                    escape(&m.user)
                ));
                let seen = self.mentions.iter().any(|x| {
                    x.user.eq_ignore_ascii_case(&m.user) && x.host.eq_ignore_ascii_case(&m.host)
                });
                if !seen {
                    self.mentions.push(m);
                }
                self.visible(&shown);
            }
            Token::Url(url) => {
                let rel = if self.is_external(&url) {
                    " rel=\"nofollow noopener\""
                } else {
                    ""
                };
                self.out.push_str(&format!(
                    "<a href=\"{}\"{rel}>{}</a>",
                    escape(url.as_str()),
                    escape(written)
                ));
                self.visible(written);
            }
        }
    }
}

enum Token {
    Tag(String),
    Mention(Mention),
    Url(Url),
}

/// `#tag` at the start of `s`: Unicode letters, digits and `_`, not only digits.
fn hashtag_at(s: &str) -> Option<(usize, String)> {
    let body = s.strip_prefix('#')?;
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    let tag = &body[..len];
    if tag.is_empty() || tag.chars().all(char::is_numeric) {
        return None;
    }
    Some((1 + len, tag.to_string()))
}

/// `@user@host.tld` at the start of `s` (Mastodon's shape: the user is ASCII word characters,
/// dots and dashes, ending in a word character; the host has a dot and no empty label).
fn mention_at(s: &str) -> Option<(usize, Mention)> {
    let body = s.strip_prefix('@')?;
    let user_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        .count();
    let user = &body[..user_len];
    if !user
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let host_part = body[user_len..].strip_prefix('@')?;
    let host_len: usize = host_part
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '-')
        .map(char::len_utf8)
        .sum();
    // A sentence may end right after the host: "thanks @ann@example.social."
    let host = host_part[..host_len].trim_end_matches(['.', '-']);
    let labels: Vec<&str> = host.split('.').collect();
    let tld_ok = labels
        .last()
        .is_some_and(|l| l.chars().any(char::is_alphabetic));
    let ipv4 = host.parse::<std::net::Ipv4Addr>().is_ok();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        || !(tld_ok || ipv4)
    {
        return None;
    }
    // A port belongs to the host only right after it (`@ann@10.0.0.5:3000`): development and
    // test servers run on one, and their WebFinger answers `acct:ann@10.0.0.5:3000`.
    let port = (host.len() == host_len)
        .then(|| host_part[host_len..].strip_prefix(':'))
        .flatten()
        .map(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (
                &rest[..digits],
                rest[digits..].starts_with(|c: char| c.is_alphanumeric()),
            )
        })
        .filter(|(digits, glued)| !glued && digits.parse::<u16>().is_ok_and(|p| p > 0))
        .map(|(digits, _)| digits);
    let len = 1 + user_len + 1 + host.len() + port.map_or(0, |p| 1 + p.len());
    let host = match port {
        Some(port) => format!("{}:{port}", host.to_lowercase()),
        None => host.to_lowercase(),
    };
    Some((
        len,
        Mention {
            user: user.to_string(),
            host,
        },
    ))
}

/// A bare `http(s)://` URL at the start of `s`, as Hugo's linkify would see it: up to
/// whitespace, without trailing punctuation or an unbalanced closing parenthesis.
fn bare_url_at(s: &str) -> Option<(usize, Url)> {
    let b = s.as_bytes();
    let prefixed = |p: &[u8]| b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if !prefixed(b"http://") && !prefixed(b"https://") {
        return None;
    }
    let mut end: usize = s
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '"' | '`'))
        .map(char::len_utf8)
        .sum();
    loop {
        let candidate = &s[..end];
        let last = candidate.chars().last()?;
        let unbalanced_paren =
            last == ')' && candidate.matches('(').count() < candidate.matches(')').count();
        if ".,:;!?'*_".contains(last) || unbalanced_paren {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    let url = Url::parse(&s[..end]).ok()?;
    url.host_str()?;
    Some((end, url))
}

/// A block of raw HTML as text: tags and comments removed, `<script>`/`<style>` content dropped.
/// Entities are left as written; the sanitizer parses them.
fn html_to_text(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(comment) = tail.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |j| &comment[j + 3..]);
            continue;
        }
        let next = tail[1..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) {
            out.push('<');
            rest = &tail[1..];
            continue;
        }
        let Some(close) = tail.find('>') else {
            rest = "";
            break;
        };
        let name: String = tail[1..close]
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &tail[close + 1..];
        if !tail.starts_with("</") && (name == "script" || name == "style") {
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&format!("</{name}")) {
                Some(j) => rest[j..].find('>').map_or("", |k| &rest[j + k + 1..]),
                None => "",
            };
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "td" | "th"
        ) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for HTML content and attribute values (either quote style).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The hashtag a front matter tag becomes: letters, digits and `_` only, words run together
/// (`Open Source` -> `OpenSource`); `None` when nothing of it can be a hashtag.
pub fn hashtag_name(tag: &str) -> Option<String> {
    let name: String = tag
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && !name.chars().all(char::is_numeric)).then_some(name)
}

/// Resolves every image: local files are checked, sniffed and measured; the first four become
/// attachments.
fn attach_images(ctx: &RenderContext<'_>, images: Vec<ImageRef>, out: &mut Rendered) {
    let total = images.len();
    for (n, img) in images.into_iter().enumerate() {
        let error = |msg: String| Diagnostic::error(ctx.source, Some(img.line), msg);
        let alt = if img.alt.trim().is_empty() {
            img.title.trim().to_string()
        } else {
            img.alt.trim().to_string()
        };
        let dest = img.dest.trim();
        if n == MAX_ATTACHMENTS {
            out.diagnostics.push(Diagnostic::warning(
                ctx.source,
                Some(img.line),
                format!(
                    "{total} images, but Mastodon shows at most {MAX_ATTACHMENTS}; only the first {MAX_ATTACHMENTS} are attached (remove images or split the post)"
                ),
            ));
        }
        let attach = n < MAX_ATTACHMENTS;
        match Url::parse(dest) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {
                if attach {
                    out.attachments.push(Attachment {
                        media_type: media_type_from_extension(url.path())
                            // Unknown extension: receivers download and sniff the file anyway;
                            // the type only tells them it is worth trying.
                            .unwrap_or("image/jpeg")
                            .to_string(),
                        url: url.to_string(),
                        alt,
                        width: None,
                        height: None,
                    });
                }
                continue;
            }
            Ok(_) => {
                out.diagnostics.push(Diagnostic::warning(
                    ctx.source,
                    Some(img.line),
                    format!(
                        "image \"{dest}\" is neither a file in the site nor an http(s) URL; it is left out (use a file path or an https:// URL)"
                    ),
                ));
                continue;
            }
            Err(_) => {}
        }
        let Some(rel) = resolve_local(ctx.source, dest) else {
            out.diagnostics.push(error(format!(
                "image \"{dest}\" is outside the site folder; images must live inside it (move the image into the site folder or fix the path); {NOT_PUBLISHED}"
            )));
            continue;
        };
        let rel_str = slash_path(&rel);
        let file = ctx.site_root.join(&rel);
        if !file.is_file() {
            out.diagnostics.push(error(format!(
                "image \"{dest}\" not found (looked for {rel_str}); add the file or fix the path; {NOT_PUBLISHED}"
            )));
            continue;
        }
        // A symlink inside the folder may still point out of it.
        let inside = match (file.canonicalize(), ctx.site_root.canonicalize()) {
            (Ok(f), Ok(root)) => f.starts_with(root),
            _ => false,
        };
        if !inside {
            out.diagnostics.push(error(format!(
                "image \"{dest}\" is outside the site folder; images must live inside it (move the image into the site folder or fix the path); {NOT_PUBLISHED}"
            )));
            continue;
        }
        if !attach {
            continue;
        }
        let (width, height) = match imagesize::size(&file) {
            Ok(size) => (
                u32::try_from(size.width).ok(),
                u32::try_from(size.height).ok(),
            ),
            Err(_) => (None, None),
        };
        let media_type = sniff_media_type(&file)
            .or_else(|| media_type_from_extension(&rel_str))
            .unwrap_or("application/octet-stream");
        out.attachments.push(Attachment {
            url: ctx.urls.media(&rel_str),
            media_type: media_type.to_string(),
            alt,
            width,
            height,
        });
        out.media.push((rel_str, file));
    }
}

/// The path (relative to the site root) a local image reference points at, or `None` when it
/// leaves the site root. `/x.png` is relative to the site root, anything else to the Markdown
/// file; `%20` and friends are decoded, `?query` and `#fragment` dropped.
fn resolve_local(source: &Path, dest: &str) -> Option<PathBuf> {
    let dest = dest.split(['?', '#']).next().unwrap_or_default();
    let dest = percent_decode(dest).unwrap_or_else(|| dest.to_string());
    let joined = match dest.strip_prefix('/') {
        Some(from_root) => PathBuf::from(from_root),
        None => source.parent().unwrap_or(Path::new("")).join(&dest),
    };
    normalize(&joined)
}

/// Resolves `.` and `..` without touching the disk; `None` when the path climbs above its start
/// or is absolute.
pub(crate) fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// `a/b/c.png`, whatever the platform's separator.
pub(crate) fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The media type of an image file, from its first bytes.
fn sniff_media_type(file: &Path) -> Option<&'static str> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(file)
        .ok()?
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    use imagesize::ImageType as T;
    Some(match imagesize::image_type(&head).ok()? {
        T::Png => "image/png",
        T::Jpeg => "image/jpeg",
        T::Gif => "image/gif",
        T::Webp => "image/webp",
        T::Bmp => "image/bmp",
        T::Tiff => "image/tiff",
        T::Ico => "image/x-icon",
        T::Heif(imagesize::Compression::Av1) => "image/avif",
        T::Heif(_) => "image/heic",
        _ => return None,
    })
}

/// The media type an image's file name suggests.
fn media_type_from_extension(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "heic" | "heif" => "image/heic",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::test_support::{jpeg_header, png, write};

    struct Site {
        dir: tempfile::TempDir,
        urls: Urls,
    }

    fn site() -> Site {
        let base = Url::parse("https://social.city.example").unwrap();
        Site {
            dir: tempfile::tempdir().unwrap(),
            urls: Urls::from_parts(&base, None),
        }
    }

    impl Site {
        fn render_at(&self, md: &str, body_line: usize) -> Rendered {
            render(
                md,
                &RenderContext {
                    urls: &self.urls,
                    site_root: self.dir.path(),
                    source: Path::new("content/news/x.md"),
                    body_line,
                    post_url: "https://social.city.example/@news/x",
                },
            )
        }

        fn render(&self, md: &str) -> Rendered {
            self.render_at(md, 1)
        }

        fn html(&self, md: &str) -> String {
            let r = self.render(md);
            assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
            r.html
        }
    }

    #[test]
    fn can_turn_headings_into_bold_paragraphs() {
        let s = site();
        assert_eq!(
            s.html("# Budget\n\nThe council voted.\n\n### Next\n"),
            "<p><strong>Budget</strong></p><p>The council voted.</p><p><strong>Next</strong></p>"
        );
    }

    #[test]
    fn can_keep_the_formatting_mastodon_keeps() {
        let s = site();
        assert_eq!(
            s.html("*a* **b** ~~c~~ `d`\nnext  \nline\n\n> quote\n\n- x\n- y\n\n3. three\n4. four\n\n```\nfn x() {}\n```\n"),
            "<p><em>a</em> <strong>b</strong> <del>c</del> <code>d</code> next<br>line</p>\
             <blockquote><p>quote</p></blockquote><ul><li>x</li><li>y</li></ul>\
             <ol start=\"3\"><li>three</li><li>four</li></ol><pre><code>fn x() {}\n</code></pre>"
        );
    }

    #[test]
    fn can_attach_a_local_png_with_its_dimensions() {
        let s = site();
        write(s.dir.path(), "content/news/img/chart.png", png(3, 2));
        let r = s.render("Text\n\n![The chart](img/chart.png)\n");
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        assert_eq!(r.html, "<p>Text</p>");
        assert_eq!(
            r.attachments,
            vec![Attachment {
                url: "https://social.city.example/media/content/news/img/chart.png".into(),
                media_type: "image/png".into(),
                alt: "The chart".into(),
                width: Some(3),
                height: Some(2),
            }]
        );
        assert_eq!(
            r.media,
            vec![(
                "content/news/img/chart.png".to_string(),
                s.dir.path().join("content/news/img/chart.png")
            )]
        );
    }

    #[test]
    fn can_sniff_a_jpeg_and_resolve_site_root_paths() {
        let s = site();
        // Named .png but a JPEG inside: the content decides.
        write(s.dir.path(), "static/photo one.png", jpeg_header(640, 480));
        let r = s.render("![](/static/photo%20one.png \"Harbour\")\n");
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
        let a = &r.attachments[0];
        assert_eq!(a.media_type, "image/jpeg");
        assert_eq!((a.width, a.height), (Some(640), Some(480)));
        assert_eq!(a.alt, "Harbour");
        assert_eq!(
            a.url,
            "https://social.city.example/media/static/photo%20one.png"
        );
    }

    #[test]
    fn can_attach_remote_images_with_type_from_extension() {
        let s = site();
        let r = s.render("![Logo](https://cdn.example/logo.webp?v=2)\n");
        assert!(r.diagnostics.is_empty());
        assert_eq!(r.html, "");
        assert_eq!(
            r.attachments,
            vec![Attachment {
                url: "https://cdn.example/logo.webp?v=2".into(),
                media_type: "image/webp".into(),
                alt: "Logo".into(),
                width: None,
                height: None,
            }]
        );
        assert!(r.media.is_empty());
    }

    #[test]
    fn errors_when_an_image_is_missing() {
        let s = site();
        // Body starts on line 4 of the file, the image is on its 4th line: line 7.
        let r = s.render_at("One\n\nTwo\n![](missing.png)\n", 4);
        assert_eq!(
            r.diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["content/news/x.md:7: image \"missing.png\" not found (looked for content/news/missing.png); add the file or fix the path; this post is not published until it is fixed"]
        );
        assert!(r.has_errors());
        assert!(r.attachments.is_empty());
    }

    #[test]
    fn rejects_images_that_escape_the_site_folder() {
        let s = site();
        let r = s.render("![x](../../../etc/passwd)\n");
        assert_eq!(
            r.diagnostics[0].to_string(),
            "content/news/x.md:1: image \"../../../etc/passwd\" is outside the site folder; images must live inside it (move the image into the site folder or fix the path); this post is not published until it is fixed"
        );
        assert!(r.has_errors());
    }

    #[cfg(unix)]
    #[test]
    fn rejects_images_symlinked_out_of_the_site_folder() {
        let s = site();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.png", png(1, 1));
        std::fs::create_dir_all(s.dir.path().join("content/news")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.png"),
            s.dir.path().join("content/news/link.png"),
        )
        .unwrap();
        let r = s.render("![x](link.png)\n");
        assert!(r.has_errors());
        assert!(r.diagnostics[0].message.contains("outside the site folder"));
    }

    #[test]
    fn can_warn_and_attach_only_four_images() {
        let s = site();
        let md: String = (1..=6)
            .map(|i| format!("![{i}](https://cdn.example/{i}.png)\n\n"))
            .collect();
        let r = s.render(&md);
        assert_eq!(r.attachments.len(), 4);
        assert_eq!(r.attachments[3].alt, "4");
        assert!(!r.has_errors());
        assert_eq!(
            r.diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["content/news/x.md:9: 6 images, but Mastodon shows at most 4; only the first 4 are attached (remove images or split the post)"]
        );
    }

    #[test]
    fn can_link_hashtags() {
        let s = site();
        let r = s.render("Vote on #Budget2027 and #café, #budget2027 again.\n");
        assert_eq!(
            r.html,
            "<p>Vote on <a href=\"https://social.city.example/tags/budget2027\" class=\"mention hashtag\" rel=\"tag\">#<span>Budget2027</span></a> \
             and <a href=\"https://social.city.example/tags/caf%C3%A9\" class=\"mention hashtag\" rel=\"tag\">#<span>café</span></a>, \
             <a href=\"https://social.city.example/tags/budget2027\" class=\"mention hashtag\" rel=\"tag\">#<span>budget2027</span></a> again.</p>"
        );
        assert_eq!(r.tags, vec!["Budget2027", "café"]);
    }

    #[test]
    fn rejects_hashtags_in_code_links_words_and_numbers() {
        let s = site();
        let r = s.render(
            "`#code` and\n\n```\n#block\n```\n\n[#linked](https://x.example) issue#12 #42 C#sharp #\n",
        );
        assert!(r.tags.is_empty(), "{:?}", r.tags);
        assert!(!r.html.contains("hashtag"), "{}", r.html);
    }

    #[test]
    fn can_find_hashtags_in_headings_lists_and_after_punctuation() {
        let s = site();
        let r = s.render("## News #city\n\n- (#rust)\n- **#bold**\n");
        assert_eq!(r.tags, vec!["city", "rust", "bold"]);
    }

    #[test]
    fn can_render_mentions() {
        let s = site();
        let r = s.render(
            "Thanks @ann@mastodon.example. And @Ann@Mastodon.Example again, not me@mail.example.\n",
        );
        assert_eq!(
            r.html,
            "<p>Thanks <span class=\"h-card\"><a href=\"https://mastodon.example/@ann\" class=\"u-url mention\">@<span>ann</span></a></span>. \
             And <span class=\"h-card\"><a href=\"https://mastodon.example/@Ann\" class=\"u-url mention\">@<span>Ann</span></a></span> again, not me@mail.example.</p>"
        );
        assert_eq!(
            r.mentions,
            vec![Mention {
                user: "ann".into(),
                host: "mastodon.example".into()
            }]
        );
    }

    #[test]
    fn can_render_mentions_of_a_host_with_a_port() {
        let s = site();
        let r = s.render("Hi @peer@127.0.0.1:8080, and @ann@dev.example:3000.\n");
        assert_eq!(
            r.mentions,
            vec![
                Mention {
                    user: "peer".into(),
                    host: "127.0.0.1:8080".into()
                },
                Mention {
                    user: "ann".into(),
                    host: "dev.example:3000".into()
                }
            ]
        );
        assert!(
            r.html.contains("@<span>peer</span></a></span>, and"),
            "{}",
            r.html
        );
        // Not a port: the mention ends at the host.
        let r = s.render("ask @ann@mastodon.example: why? or @bob@b.example:80x\n");
        assert_eq!(r.mentions[0].host, "mastodon.example");
        assert_eq!(r.mentions[1].host, "b.example");
    }

    #[test]
    fn rejects_mentions_without_a_domain_or_in_code() {
        let s = site();
        let r = s.render("@ann alone, @ann@localhost, `@a@b.example`\n");
        assert!(r.mentions.is_empty(), "{:?}", r.mentions);
    }

    #[test]
    fn can_make_links_absolute() {
        let s = site();
        assert_eq!(
            s.html("[a](other) [b](/about/) [c](#top) [d](https://x.example/p) [e](mailto:a@city.example) <b@city.example>\n"),
            "<p><a href=\"https://social.city.example/@news/other\">a</a> \
             <a href=\"https://social.city.example/about/\">b</a> \
             <a href=\"https://social.city.example/@news/x#top\">c</a> \
             <a href=\"https://x.example/p\" rel=\"nofollow noopener\">d</a> \
             <a href=\"mailto:a@city.example\">e</a> \
             <a href=\"mailto:b@city.example\">b@city.example</a></p>"
        );
    }

    #[test]
    fn can_link_bare_urls() {
        let s = site();
        assert_eq!(
            s.html("See https://city.example/budget_(2027). Done\n"),
            "<p>See <a href=\"https://city.example/budget_(2027)\" rel=\"nofollow noopener\">https://city.example/budget_(2027)</a>. Done</p>"
        );
    }

    #[test]
    fn can_recover_from_an_unclosed_inline_script() {
        let s = site();
        assert_eq!(
            s.html("x <script>\n\nnext paragraph\n"),
            "<p>x </p><p>next paragraph</p>"
        );
    }

    #[test]
    fn rejects_link_schemes_mastodon_drops() {
        let s = site();
        assert_eq!(
            s.html("[click](javascript:alert(1)) [d](data:text/html,x) [g](gemini://g.example/)\n"),
            "<p>click d <a href=\"gemini://g.example/\" rel=\"nofollow noopener\">g</a></p>"
        );
    }

    #[test]
    fn rejects_tags_outside_the_allowlist() {
        let s = site();
        let r = s.render(
            "<script>alert(1)</script>\n\n<div class=\"x\">Kept <img src=x onerror=alert(1)> text</div>\n\n\
             Inline <iframe src=\"https://evil.example\"></iframe><span style=\"color:red\">red</span> <script>bad()</script>end\n\n\
             <!-- more -->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<h1>raw</h1>\n\n---\n",
        );
        assert_eq!(
            r.html,
            "<p>Kept  text</p><p>Inline red end</p><p>a | b<br>1 | 2</p><p>raw</p>"
        );
    }

    #[test]
    fn can_keep_entities_in_raw_html_blocks_as_written() {
        let s = site();
        assert_eq!(
            s.html("<div>AT&amp;T &lt;b&gt; AT&T 3 &gt 2</div>\n"),
            "<p>AT&amp;T &lt;b&gt; AT&amp;T 3 &gt; 2</p>"
        );
    }

    #[test]
    fn can_drop_a_link_around_an_image() {
        let s = site();
        let r = s.render("[![logo](https://cdn.example/l.png)](https://city.example)\n");
        assert_eq!(r.html, "");
        assert_eq!(r.attachments.len(), 1);
        let r = s.render("![a](https://cdn.example/a.png)\n![b](https://cdn.example/b.png)\n\n# ![c](https://cdn.example/c.png)\n");
        assert_eq!(r.html, "");
        assert_eq!(r.attachments.len(), 3);
    }

    #[test]
    fn can_count_visible_text() {
        let s = site();
        let r = s.render("# Hi\n\nab *cd* @ann@m.example #x\n");
        // "Hi" + blank line + "ab cd @ann #x"
        assert_eq!(r.text_len, 2 + 2 + 13);
    }

    #[test]
    fn can_name_hashtags_from_front_matter_tags() {
        assert_eq!(hashtag_name("#Open Source").as_deref(), Some("OpenSource"));
        assert_eq!(hashtag_name("2026"), None);
        assert_eq!(hashtag_name("++"), None);
    }
}
