//! HTTP caching of what masthead serves: how long a cache in front (a CDN, a reverse proxy, a
//! fediverse server's own fetcher) may keep an answer ([`Freshness`]), the strong ETag of a
//! body ([`etag`]), and `If-None-Match` answered with `304 Not Modified` ([`revalidate`]).
//!
//! Which route is fresh for how long is the route table's call (`routes::Route::freshness`);
//! this module applies that choice once, to every GET and HEAD answer, so no handler writes a
//! cache header. Only a `200` gets an ETag and a 304; a `410` tombstone and a redirect of a
//! public route are cached briefly without one; everything else (errors, POST answers,
//! `/interact`, anything a route did not mark) is `no-store` ([`no_store_unless_set`]).
//!
//! Why: a post that is boosted or linked is fetched by every server that sees it within a
//! minute (`FEDIVERSE.md`, "When a link to us is shared"); answers a cache may reuse let a CDN
//! take that burst, and a 304 spares the bandwidth of a body the fetcher already holds.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use sha2::{Digest, Sha256};

use super::response::Resp;

/// How long caches may keep a route's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Anyone may keep it this many seconds, then revalidate it by its ETag.
    Public(u32),
    /// Nothing may keep it: per visitor, or not the read side.
    NoStore,
}

impl Freshness {
    /// A public document: an actor, a post, its Create, the home page, WebFinger, NodeInfo.
    /// Three minutes is what Mastodon serves its own public statuses and actors with
    /// (`expires_in 3.minutes, public: true` in its `StatusesController#show` JSON and
    /// `#activity`, `Cache-Control: max-age=180, public`), so a fetcher sees our documents as
    /// fresh as it sees Mastodon's; an edit reaches followers at once anyway, by an `Update`.
    pub const DOCUMENT: Freshness = Freshness::Public(180);
    /// What moves with every reply, like, boost or follow: the outbox (its first page is the
    /// newest posts), followers, a post's replies/likes/shares collections, its comments and its
    /// page (which lists them). A minute keeps a count or a new reply from looking stuck while a
    /// cache still takes a burst (one fetch a minute per URL reaches us). Mastodon answers these
    /// pages with `expires_in 0`, and its status pages with 10 s; a minute is the middle ground
    /// for a server that has no database of its own timelines to fall back on.
    pub const MOVING: Freshness = Freshness::Public(60);
    /// A media file: its URL is stable, but the file may be replaced, so an hour, then the ETag.
    pub const MEDIA: Freshness = Freshness::Public(3600);
    /// A `410 Gone` tombstone: a minute, so a delete wave is absorbed by a cache, and a post
    /// put back in the folder is served again within a minute.
    pub const GONE: Freshness = Freshness::Public(60);

    fn cache_control(self) -> HeaderValue {
        match self {
            Freshness::Public(secs) => HeaderValue::from_str(&format!("public, max-age={secs}"))
                .expect("digits are a valid header value"),
            Freshness::NoStore => HeaderValue::from_static("no-store"),
        }
    }
}

/// The strong ETag of `body`: the first 128 bits of its SHA-256, quoted. The HTML and the JSON
/// of one URL differ in their bodies, so they differ in their ETags too, as `Vary: Accept`
/// needs; a GET and a HEAD build the same body, so they carry the same one.
pub fn etag(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        tag.push(char::from(HEX[usize::from(b >> 4)]));
        tag.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    tag.push('"');
    tag
}

/// True when `if_none_match` (the header's value) names `etag` or is `*`.
///
/// RFC 9110 §13.1.2 asks for the weak comparison here: `W/"x"` matches `"x"`, since a proxy
/// that compresses a body (nginx's gzip) sends our strong tag on weakened, and the client then
/// revalidates with the weak form. Tags are parsed, not split on commas, since a tag may hold a
/// comma; a malformed list matches nothing.
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    let ours = etag.trim_matches('"');
    let mut rest = if_none_match.trim();
    if rest == "*" {
        return true;
    }
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            break;
        }
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some(quoted) = tag.strip_prefix('"') else {
            return false;
        };
        let Some(end) = quoted.find('"') else {
            return false;
        };
        if &quoted[..end] == ours {
            return true;
        }
        rest = &quoted[end + 1..];
    }
    false
}

/// Adds the cache headers of `freshness` to a GET or HEAD answer, and turns a `200` whose ETag
/// the client already holds (`If-None-Match` of `request`) into a bodiless `304` that keeps
/// every header of the `200` but its content type and length (RFC 9110 §15.4.5: ETag,
/// Cache-Control and Vary are sent again; the body's metadata is not). The body of a `200` is hashed as it stands: handlers keep it in memory.
pub async fn revalidate(mut resp: Resp, freshness: Freshness, request: &HeaderMap) -> Resp {
    let status = resp.status();
    let public = matches!(freshness, Freshness::Public(_));
    if status == StatusCode::OK && public {
        let body = take_body(&mut resp).await;
        let tag = etag(&body);
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| matches(v, &tag));
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, freshness.cache_control());
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&tag).expect("an ETag is hex in quotes"),
        );
        if fresh {
            // Representation metadata the cache already holds (§15.4.5: SHOULD NOT be sent).
            h.remove(header::CONTENT_LENGTH);
            h.remove(header::CONTENT_TYPE);
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
        } else {
            *resp.body_mut() = Full::new(body);
        }
    } else if status == StatusCode::GONE {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, Freshness::GONE.cache_control());
    } else if status.is_redirection() && public {
        // The static-site redirect of a post page to the brand's own page: as public as the
        // page; no ETag, since every redirect's body is the same word.
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, freshness.cache_control());
    }
    resp
}

/// Marks `resp` `no-store` unless its route chose a policy: errors, POST answers and
/// `/interact` are never kept by a shared cache.
pub fn no_store_unless_set(resp: &mut Resp) {
    if !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, Freshness::NoStore.cache_control());
    }
}

/// The whole body of `resp`, leaving it empty. Bodies here are `Full`, one chunk already in
/// memory, so this neither copies nor waits.
async fn take_body(resp: &mut Resp) -> Bytes {
    let body = std::mem::replace(resp.body_mut(), Full::new(Bytes::new()));
    match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn can_make_a_strong_etag_that_changes_with_the_body() {
        let tag = etag(b"<p>hello</p>");
        assert_eq!(tag.len(), 34);
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(tag[1..33].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(tag, etag(b"<p>hello</p>"));
        assert_ne!(tag, etag(b"<p>hello!</p>"));
        // The same digest media files have always carried, so their ETags did not change.
        assert_eq!(
            etag(b""),
            "\"e3b0c44298fc1c149afbf4c8996fb924\"",
            "SHA-256 of nothing, first 16 bytes"
        );
    }

    #[test]
    fn can_match_if_none_match_lists_with_the_weak_comparison() {
        let tag = "\"0123abcd\"";
        assert!(matches("\"0123abcd\"", tag));
        assert!(matches("W/\"0123abcd\"", tag));
        assert!(matches("\"other\", W/\"0123abcd\"", tag));
        assert!(matches("\"a,b\",\"0123abcd\"", tag));
        assert!(matches(" * ", tag));
    }

    #[test]
    fn rejects_other_or_malformed_if_none_match_values() {
        let tag = "\"0123abcd\"";
        assert!(!matches("\"0123abce\"", tag));
        assert!(!matches("W/\"other\"", tag));
        assert!(!matches("0123abcd", tag));
        assert!(!matches("\"0123abcd", tag));
        assert!(!matches("\"x\", 0123abcd", tag));
        assert!(!matches("\"0123abcd,\"", tag));
        assert!(!matches("", tag));
    }

    fn ok(body: &str) -> Resp {
        Resp::new(Full::new(Bytes::from(body.to_string())))
    }

    async fn body_of(resp: Resp) -> Bytes {
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn can_answer_304_with_the_headers_of_the_200_and_no_body() {
        let resp = revalidate(ok("doc"), Freshness::DOCUMENT, &HeaderMap::new()).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=180");
        let tag = resp.headers()[header::ETAG].clone();
        assert_eq!(body_of(resp).await, "doc");

        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, tag.clone());
        let mut doc = ok("doc");
        doc.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Accept"));
        doc.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/activity+json"),
        );
        let resp = revalidate(doc, Freshness::DOCUMENT, &request).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(resp.headers()[header::ETAG], tag);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=180");
        assert_eq!(resp.headers()[header::VARY], "Accept");
        assert!(!resp.headers().contains_key(header::CONTENT_TYPE));
        assert!(body_of(resp).await.is_empty());

        // The body changed: the old tag no longer matches.
        let resp = revalidate(ok("doc, edited"), Freshness::DOCUMENT, &request).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_ne!(resp.headers()[header::ETAG], tag);
    }

    #[tokio::test]
    async fn rejects_caching_errors_and_what_is_not_public() {
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        let mut missing = ok("not found");
        *missing.status_mut() = StatusCode::NOT_FOUND;
        let mut missing = revalidate(missing, Freshness::DOCUMENT, &request).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(!missing.headers().contains_key(header::ETAG));
        no_store_unless_set(&mut missing);
        assert_eq!(missing.headers()[header::CACHE_CONTROL], "no-store");

        let mut form = revalidate(ok("form"), Freshness::NoStore, &request).await;
        assert_eq!(form.status(), StatusCode::OK);
        assert!(!form.headers().contains_key(header::ETAG));
        no_store_unless_set(&mut form);
        assert_eq!(form.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(body_of(form).await, "form");

        let mut gone = ok("tombstone");
        *gone.status_mut() = StatusCode::GONE;
        let gone = revalidate(gone, Freshness::DOCUMENT, &request).await;
        assert_eq!(gone.status(), StatusCode::GONE);
        assert!(!gone.headers().contains_key(header::ETAG));
        assert_eq!(gone.headers()[header::CACHE_CONTROL], "public, max-age=60");
    }
}
