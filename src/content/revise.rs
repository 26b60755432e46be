//! A post rendered again from other Markdown than its file's body: what the catalog does when
//! an outgoing-post plugin rewrites a post or adds hashtags. The front matter and everything it
//! decides stay as the file has them; only the body's rendering (HTML, inline tags, mentions,
//! images) is redone, with the same rules as a scan.

use std::path::PathBuf;

use super::front_matter;
use super::inline::hashtag_name;
use super::render::{self, RenderContext};
use super::{MediaRules, Post};
use crate::config::Site;
use crate::diagnostics::Diagnostic;
use crate::urls::Urls;

/// A post's Markdown as its file has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The body, after the front matter.
    pub body: String,
    /// 1-based line of the file on which the body starts.
    pub body_line: usize,
    /// The front matter's hashtags (without `#`).
    pub front_tags: Vec<String>,
}

/// Reads the file `post` was rendered from.
pub fn read_source(site: &Site, post: &Post) -> Result<Source, Diagnostic> {
    let file = site.root.join(&post.source);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        Diagnostic::error(&*post.source, None, format!("cannot read the file: {e}"))
    })?;
    let doc = front_matter::parse(&post.source, &text)?;
    Ok(Source {
        body: doc.body.to_string(),
        body_line: doc.body_line,
        front_tags: doc
            .front
            .tags
            .iter()
            .filter_map(|t| hashtag_name(t))
            .collect(),
    })
}

/// Renders `markdown` as the body of `post` (read from `source`), replacing its HTML, length,
/// tags (the front matter's, then the body's), mentions and images. Returns the local media the
/// new body uses; an error (an image that may not be published) leaves `post` unchanged.
pub fn rerender(
    site: &Site,
    urls: &Urls,
    post: &mut Post,
    source: &Source,
    markdown: &str,
) -> Result<Vec<(String, PathBuf)>, Vec<Diagnostic>> {
    let rules = MediaRules::for_site(site);
    let post_url = urls.post_url(
        &post.actor,
        &post.slug,
        &post.page_path,
        post.more().url.as_deref(),
    );
    let rendered = render::render(
        markdown,
        &RenderContext {
            urls,
            media: &rules,
            source: &post.source,
            body_line: source.body_line,
            post_url: &post_url,
        },
    );
    if rendered.has_errors() {
        return Err(rendered.diagnostics);
    }
    let mut tags: Vec<String> = Vec::new();
    for tag in source.front_tags.iter().cloned().chain(rendered.tags) {
        if !tags.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            tags.push(tag);
        }
    }
    post.html = rendered.html.into_boxed_str();
    post.text_len = Post::text_len_of(rendered.text_len);
    post.tags = tags.into_iter().map(String::into_boxed_str).collect();
    let more = post.more_mut();
    more.mentions = rendered.mentions;
    more.attachments = rendered.attachments;
    post.tidy();
    Ok(rendered.media)
}
