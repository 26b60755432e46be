//! Markdown to the HTML that Mastodon keeps.
//!
//! This module owns turning a post's Markdown body into sanitized HTML plus what travels beside
//! it: inline hashtags, mentions, the text length and the images found. It walks pulldown-cmark's
//! events itself instead of post-processing its HTML, so that headings, images, tables and raw
//! HTML are decided here (bold paragraph, attachment, text) rather than stripped blindly later;
//! ammonia then runs last, configured to Mastodon's allowlist
//! (mastodon: lib/sanitize_ext/sanitize_config.rb), as the one guarantee about what goes out.
//!
//! Which words are hashtags, mentions or bare URLs is decided in `super::inline`; images become
//! attachments in `super::media`. It does not know about the front matter, the cache or
//! ActivityPub.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use url::Url;

use super::inline::{token_at, Token};
use super::media::{attach_images, ImageRef};
use super::{Attachment, Mention};
use crate::diagnostics::{line_of, Diagnostic};
use crate::urls::Urls;

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
pub(crate) const ALLOWED_CLASSES: [&str; 6] = [
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
    /// The site root on disk and what a local image may be: see [`super::MediaRules`].
    pub media: &'a super::MediaRules,
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

/// Cleans HTML from anywhere (a remote reply, say) down to what Mastodon keeps.
pub fn sanitize(html: &str) -> String {
    sanitizer().clean(html).to_string()
}

/// The ammonia configuration matching Mastodon's sanitizer for remote posts.
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
        while let Some(c) = rest.chars().next() {
            let len = match token_at(rest, self.prev_char) {
                Some((len, token)) => {
                    self.write_token(token, &rest[..len]);
                    len
                }
                None => {
                    let len = c.len_utf8();
                    self.out.push_str(&escape(&rest[..len]));
                    self.visible(&rest[..len]);
                    len
                }
            };
            rest = &rest[len..];
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
                // The link is `https://host/@user`, built from the text alone: Mastodon's profile
                // URL shape, not the profile URL WebFinger resolves. Nothing rewrites it later;
                // the resolved actor id travels only in the object's `Mention` tag.
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

#[cfg(test)]
mod tests {
    use crate::content::test_support::{html, rendered};

    #[test]
    fn can_turn_headings_into_bold_paragraphs() {
        assert_eq!(
            html("# Budget\n\nThe council voted.\n\n### Next\n"),
            "<p><strong>Budget</strong></p><p>The council voted.</p><p><strong>Next</strong></p>"
        );
    }

    #[test]
    fn can_keep_the_formatting_mastodon_keeps() {
        assert_eq!(
            html("*a* **b** ~~c~~ `d`\nnext  \nline\n\n> quote\n\n- x\n- y\n\n3. three\n4. four\n\n```\nfn x() {}\n```\n"),
            "<p><em>a</em> <strong>b</strong> <del>c</del> <code>d</code> next<br>line</p>\
             <blockquote><p>quote</p></blockquote><ul><li>x</li><li>y</li></ul>\
             <ol start=\"3\"><li>three</li><li>four</li></ol><pre><code>fn x() {}\n</code></pre>"
        );
    }

    #[test]
    fn can_make_links_absolute() {
        assert_eq!(
            html("[a](other) [b](/about/) [c](#top) [d](https://x.example/p) [e](mailto:a@city.example) <b@city.example>\n"),
            "<p><a href=\"https://social.city.example/@news/other\">a</a> \
             <a href=\"https://social.city.example/about/\">b</a> \
             <a href=\"https://social.city.example/@news/x#top\">c</a> \
             <a href=\"https://x.example/p\" rel=\"nofollow noopener\">d</a> \
             <a href=\"mailto:a@city.example\">e</a> \
             <a href=\"mailto:b@city.example\">b@city.example</a></p>"
        );
    }

    #[test]
    fn can_recover_from_an_unclosed_inline_script() {
        assert_eq!(
            html("x <script>\n\nnext paragraph\n"),
            "<p>x </p><p>next paragraph</p>"
        );
    }

    #[test]
    fn rejects_link_schemes_mastodon_drops() {
        assert_eq!(
            html("[click](javascript:alert(1)) [d](data:text/html,x) [g](gemini://g.example/)\n"),
            "<p>click d <a href=\"gemini://g.example/\" rel=\"nofollow noopener\">g</a></p>"
        );
    }

    #[test]
    fn rejects_tags_outside_the_allowlist() {
        let r = rendered(
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
        assert_eq!(
            html("<div>AT&amp;T &lt;b&gt; AT&T 3 &gt 2</div>\n"),
            "<p>AT&amp;T &lt;b&gt; AT&amp;T 3 &gt; 2</p>"
        );
    }

    #[test]
    fn can_drop_a_link_around_an_image() {
        let r = rendered("[![logo](https://cdn.example/l.png)](https://city.example)\n");
        assert_eq!(r.html, "");
        assert_eq!(r.attachments.len(), 1);
        let r = rendered("![a](https://cdn.example/a.png)\n![b](https://cdn.example/b.png)\n\n# ![c](https://cdn.example/c.png)\n");
        assert_eq!(r.html, "");
        assert_eq!(r.attachments.len(), 3);
    }

    #[test]
    fn can_count_visible_text() {
        let r = rendered("# Hi\n\nab *cd* @ann@m.example #x\n");
        // "Hi" + blank line + "ab cd @ann #x"
        assert_eq!(r.text_len, 2 + 2 + 13);
    }
}

/// Cleans HTML that came from another server (a reply, an actor's bio) like [`sanitize`], except
/// that links lose whatever `rel` they came with and get `rel="nofollow noopener ugc"`: a remote
/// `<a rel="me">` shown on our page would let Mastodon's link verification mark our domain as
/// verified on the sender's profile, and a search engine should not credit our pages' authority
/// to links we did not write.
pub fn sanitize_remote(html: &str) -> String {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER
        .get_or_init(|| remote_sanitizer(ALLOWED_SCHEMES.into_iter().collect()))
        .clean(html)
        .to_string()
}

/// The allowlist of [`sanitize_remote`] with links to `schemes` only (the pages allow fewer
/// schemes than the store keeps): every link's own `rel` becomes `nofollow noopener ugc`.
pub fn remote_sanitizer(schemes: HashSet<&'static str>) -> ammonia::Builder<'static> {
    let classes: HashSet<&str> = ALLOWED_CLASSES.into_iter().collect();
    let mut b = ammonia::Builder::empty();
    b.tags(ALLOWED_TAGS.into_iter().collect())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href"])),
            ("ol", HashSet::from(["start"])),
        ]))
        .generic_attributes(HashSet::from(["lang"]))
        .allowed_classes(HashMap::from([("a", classes.clone()), ("span", classes)]))
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("nofollow noopener ugc"))
        .strip_comments(true);
    b
}

#[cfg(test)]
mod sanitize_remote_tests {
    use super::sanitize_remote;

    #[test]
    fn rejects_a_remote_links_own_rel() {
        assert_eq!(
            sanitize_remote(r#"<p><a href="https://s.example/" rel="me">me</a></p>"#),
            r#"<p><a href="https://s.example/" rel="nofollow noopener ugc">me</a></p>"#
        );
    }

    #[test]
    fn rejects_script_handlers_and_active_schemes() {
        for hostile in [
            "<script>alert(1)</script>",
            r#"<img src=x onerror="alert(1)">"#,
            r#"<a href="javascript:alert(1)">x</a>"#,
            r#"<a href="JaVaScRiPt:alert(1)">x</a>"#,
            r#"<a href="java&#115;cript:alert(1)">x</a>"#,
            r#"<a href="data:text/html,<script>alert(1)</script>">x</a>"#,
            r#"<a href="vbscript:msgbox(1)">x</a>"#,
            r#"<p onclick="alert(1)" style="x">x</p>"#,
            r#"<svg><a xlink:href="javascript:alert(1)">x</a></svg>"#,
        ] {
            let clean = sanitize_remote(hostile).to_ascii_lowercase();
            for active in [
                "<script",
                "onerror",
                "onclick",
                "javascript:",
                "data:",
                "vbscript:",
                "<svg",
                "style=",
            ] {
                assert!(!clean.contains(active), "{hostile} -> {clean}");
            }
        }
    }
}
