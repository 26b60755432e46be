//! Every URL shape masthead serves or hands out, in one place.
//!
//! Ids are stable forever once published (other servers store them), so changing a shape here is
//! a breaking change for every follower. Routing in `http` matches these same shapes.

use url::Url;

use crate::config::Site;

/// Builds the URLs of one site.
#[derive(Clone, Debug)]
pub struct Urls {
    /// `base_url` without a trailing slash.
    base: String,
    /// The brand's static site, without a trailing slash, in static-site mode.
    html_base: Option<String>,
}

impl Urls {
    /// URLs for `site`.
    pub fn new(site: &Site) -> Self {
        Urls::from_parts(&site.base_url, site.html_base_url.as_ref())
    }

    /// URLs for a site served at `base` (static pages at `html_base`, if any).
    pub fn from_parts(base: &Url, html_base: Option<&Url>) -> Self {
        let trim = |u: &Url| u.as_str().trim_end_matches('/').to_string();
        Urls {
            base: trim(base),
            html_base: html_base.map(trim),
        }
    }

    /// `base_url` without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The actor id: `/users/{handle}`.
    pub fn actor(&self, handle: &str) -> String {
        format!("{}/users/{handle}", self.base)
    }

    /// The `Update` of an actor's profile, unique per edit.
    pub fn actor_update(&self, handle: &str, at_ms: i64) -> String {
        format!("{}#updates/{at_ms}", self.actor(handle))
    }

    /// The `Delete` of an actor removed from site.toml.
    pub fn actor_delete(&self, handle: &str) -> String {
        format!("{}#delete", self.actor(handle))
    }

    /// The actor's profile page (its `url`), on the same host as the id as Mastodon requires.
    pub fn actor_html(&self, handle: &str) -> String {
        format!("{}/@{handle}", self.base)
    }

    /// The id of the actor's RSA key.
    pub fn key_id(&self, handle: &str) -> String {
        format!("{}#main-key", self.actor(handle))
    }

    /// The actor's own inbox.
    pub fn inbox(&self, handle: &str) -> String {
        format!("{}/inbox", self.actor(handle))
    }

    /// The inbox shared by every actor of the site.
    pub fn shared_inbox(&self) -> String {
        format!("{}/inbox", self.base)
    }

    /// The actor's outbox collection.
    pub fn outbox(&self, handle: &str) -> String {
        format!("{}/outbox", self.actor(handle))
    }

    /// Followers collection.
    pub fn followers(&self, handle: &str) -> String {
        format!("{}/followers", self.actor(handle))
    }

    /// Following collection (always empty: brands publish, they do not follow).
    pub fn following(&self, handle: &str) -> String {
        format!("{}/following", self.actor(handle))
    }

    /// Pinned posts.
    pub fn featured(&self, handle: &str) -> String {
        format!("{}/collections/featured", self.actor(handle))
    }

    /// Featured hashtags.
    pub fn featured_tags(&self, handle: &str) -> String {
        format!("{}/collections/tags", self.actor(handle))
    }

    /// Page `n` (1-based) of a paged collection at `collection`.
    pub fn page(collection: &str, n: usize) -> String {
        format!("{collection}?page={n}")
    }

    /// A post object id.
    pub fn post(&self, handle: &str, slug: &str) -> String {
        format!("{}/posts/{slug}", self.actor(handle))
    }

    /// An answer a plugin sent as `handle` (an auto-reply); `key` is unique per question and
    /// plugin.
    pub fn auto_reply(&self, handle: &str, key: &str) -> String {
        format!("{}/auto-replies/{key}", self.actor(handle))
    }

    /// The `Create` activity that published a post.
    pub fn post_create(&self, handle: &str, slug: &str) -> String {
        format!("{}/activity", self.post(handle, slug))
    }

    /// An `Update` of a post: one id per edit, `at_ms` being when the edit was published.
    pub fn post_update(&self, handle: &str, slug: &str, at_ms: i64) -> String {
        format!("{}#updates/{at_ms}", self.post(handle, slug))
    }

    /// The `Delete` of a post (its object is the post's Tombstone).
    pub fn post_delete(&self, handle: &str, slug: &str) -> String {
        format!("{}#delete", self.post(handle, slug))
    }

    /// masthead's own HTML page of a post.
    pub fn post_html(&self, handle: &str, slug: &str) -> String {
        format!("{}/@{handle}/{slug}", self.base)
    }

    /// The public `url` of a post: masthead's page, or in static-site mode the brand's own page,
    /// either named in front matter (`url`, absolute or a path) or derived from the content path.
    pub fn post_url(
        &self,
        handle: &str,
        slug: &str,
        page_path: &str,
        explicit: Option<&str>,
    ) -> String {
        let Some(html_base) = &self.html_base else {
            return self.post_html(handle, slug);
        };
        match explicit {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => u.to_string(),
            Some(path) => format!("{html_base}/{}", path.trim_start_matches('/')),
            None => format!("{html_base}/{}", page_path.trim_start_matches('/')),
        }
    }

    /// Replies to a post.
    pub fn replies(&self, handle: &str, slug: &str) -> String {
        format!("{}/replies", self.post(handle, slug))
    }

    /// Likes of a post.
    pub fn likes(&self, handle: &str, slug: &str) -> String {
        format!("{}/likes", self.post(handle, slug))
    }

    /// Boosts of a post.
    pub fn shares(&self, handle: &str, slug: &str) -> String {
        format!("{}/shares", self.post(handle, slug))
    }

    /// The page listing posts with a hashtag (lowercased, as Mastodon links them).
    pub fn tag(&self, tag: &str) -> String {
        format!("{}/tags/{}", self.base, encode_segment(&tag.to_lowercase()))
    }

    /// A local file served from the site folder, by its path relative to the site root.
    pub fn media(&self, rel_path: &str) -> String {
        let encoded: Vec<String> = rel_path.split('/').map(encode_segment).collect();
        format!("{}/media/{}", self.base, encoded.join("/"))
    }

    /// The instance's own actor (FEP-2677), which signs masthead's GET requests.
    pub fn instance_actor(&self) -> String {
        format!("{}/actor", self.base)
    }

    /// The instance actor's key id.
    pub fn instance_key_id(&self) -> String {
        format!("{}#main-key", self.instance_actor())
    }

    /// The NodeInfo 2.1 document.
    pub fn nodeinfo(&self) -> String {
        format!("{}/nodeinfo/2.1", self.base)
    }

    /// The profile page listing all actors.
    pub fn home(&self) -> String {
        format!("{}/", self.base)
    }

    /// Where a visitor's handle is sent to follow an actor or interact with a post from their
    /// own server (`?acct=` and `?uri=`).
    pub fn interact(&self) -> String {
        format!("{}/interact", self.base)
    }
}

/// Percent-encodes one path segment (keeps unreserved characters).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes the `%XX` escapes of a URL path or segment; `None` when an escape is malformed or the
/// bytes are not UTF-8 (the one decoder for request paths and for image paths in Markdown).
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(html: Option<&str>) -> Urls {
        let html = html.map(|h| Url::parse(h).unwrap());
        Urls::from_parts(
            &Url::parse("https://social.city.example/").unwrap(),
            html.as_ref(),
        )
    }

    #[test]
    fn can_build_urls_without_double_slashes_and_encode_segments() {
        let u = urls(None);
        let base = "https://social.city.example";
        for (got, expected) in [
            (u.actor("news"), format!("{base}/users/news")),
            (u.key_id("news"), format!("{base}/users/news#main-key")),
            (
                u.post("news", "budget"),
                format!("{base}/users/news/posts/budget"),
            ),
            (
                u.post_url("news", "budget", "news/budget/", None),
                u.post_html("news", "budget"),
            ),
            (u.tag("Café"), format!("{base}/tags/caf%C3%A9")),
            (
                u.media("content/news/a b.png"),
                format!("{base}/media/content/news/a%20b.png"),
            ),
        ] {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn can_point_post_urls_into_a_static_site() {
        let u = urls(Some("https://city.example/"));
        for (page_path, url, expected) in [
            ("news/2026/b/", None, "https://city.example/news/2026/b/"),
            (
                "x/",
                Some("/press/b.html"),
                "https://city.example/press/b.html",
            ),
            (
                "x/",
                Some("https://other.example/b"),
                "https://other.example/b",
            ),
        ] {
            assert_eq!(u.post_url("news", "b", page_path, url), expected);
        }
    }
}
