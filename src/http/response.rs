//! Building responses: content types, content negotiation, the safe error bodies, and the
//! security headers every response carries ([`secure`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;

use crate::federation::objects::ACTIVITY_JSON;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// True when the client asked for ActivityStreams JSON rather than a page.
///
/// Mastodon sends `application/activity+json, application/ld+json`; browsers send `text/html`.
/// Any ActivityPub media range with a non-zero q wins, since no browser ever names one.
pub fn wants_activity_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q_zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        (media == "application/activity+json" || media == "application/ld+json") && !q_zero
    })
}

fn with_body(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    resp
}

/// ActivityStreams JSON, `application/activity+json` (anything else and Mastodon ignores it).
pub fn activity(status: StatusCode, doc: &Value) -> Resp {
    let mut resp = with_body(status, ACTIVITY_JSON, doc.to_string());
    cors(&mut resp);
    resp
}

/// Plain JSON with the given content type, CORS-readable (WebFinger, NodeInfo).
pub fn json(content_type: &str, doc: &Value) -> Resp {
    let mut resp = with_body(StatusCode::OK, content_type, doc.to_string());
    cors(&mut resp);
    resp
}

/// An HTML page.
pub fn html(status: StatusCode, page: String) -> Resp {
    with_body(status, "text/html; charset=utf-8", page)
}

/// Any other body.
pub fn bytes(content_type: &str, body: impl Into<Bytes>) -> Resp {
    with_body(StatusCode::OK, content_type, body)
}

/// A short plain-text error: a safe message only, the detail goes to the log.
pub fn error(status: StatusCode, message: &str) -> Resp {
    with_body(status, "text/plain; charset=utf-8", format!("{message}\n"))
}

/// [`error`], and the connection is closed after it: for a request whose rest (headers or body)
/// masthead refused to read, so the connection cannot carry another request.
pub fn error_and_close(status: StatusCode, message: &str) -> Resp {
    let mut resp = error(status, message);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// 404.
pub fn not_found() -> Resp {
    error(StatusCode::NOT_FOUND, "not found")
}

/// 405 with the methods the resource does allow.
pub fn method_not_allowed(allow: &'static str) -> Resp {
    let mut resp = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// A redirect.
pub fn redirect(status: StatusCode, location: &str) -> Resp {
    let mut resp = error(status, "moved");
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Adds `Vary: Accept`: the URL serves both HTML and JSON, and caches must key on Accept.
pub fn vary_accept(resp: &mut Resp) {
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
}

/// Adds `Link: <json>; rel="alternate"; type="application/activity+json"`, which Mastodon's
/// search follows when a person pastes the page URL.
pub fn link_alternate(resp: &mut Resp, json_url: &str) {
    let link = format!("<{json_url}>; rel=\"alternate\"; type=\"{ACTIVITY_JSON}\"");
    if let Ok(v) = HeaderValue::from_str(&link) {
        resp.headers_mut().insert(header::LINK, v);
    }
}

/// The `Content-Security-Policy` of masthead's own responses. Pages need exactly this: their one
/// inline `<style>` (allowed by its hash, so no other inline style or any script runs), images from
/// this site (avatars, post images) and from other servers over https (the avatars of people who
/// replied; `http:` too when `[dev] allow_http`), and their one form, the Follow / Reply form,
/// which submits to this site's `/interact`; nothing else: no script, no plugin, no frame around
/// them, no `<base>` to re-aim relative links.
///
/// `form-action` is `'self' https:` rather than `'self'`: `/interact` answers the form with a
/// redirect to the visitor's own server, and Chromium checks `form-action` against every
/// redirect of a form submission too, so `'self'` alone would block the very step the form
/// exists for. No script can run to aim a form elsewhere, so this widens nothing a page can do
/// by itself. `http:` joins it only under `[dev] allow_http`, where development peers listen.
pub fn content_security_policy(style_hash: &str, allow_http: bool) -> String {
    let http = if allow_http { " http:" } else { "" };
    format!(
        "default-src 'none'; img-src 'self' https:{http}; style-src '{style_hash}'; \
object-src 'none'; base-uri 'none'; form-action 'self' https:{http}; frame-ancestors 'none'"
    )
}

/// Adds the headers every response carries: `X-Content-Type-Options: nosniff` (a JSON or text
/// body is never sniffed into HTML), `Referrer-Policy: strict-origin-when-cross-origin` (a link
/// to another server or a remote avatar tells it this site's origin, which is public, and never
/// which page the reader was on; `no-referrer` would also hide the origin, costing brands the
/// attribution of the visits they send to their own site), and `csp` unless the response set a
/// policy of its own (media files do).
pub fn secure(resp: &mut Resp, csp: &HeaderValue) {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    }
}

fn cors(resp: &mut Resp) {
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn can_tell_activitypub_clients_from_browsers() {
        assert!(wants_activity_json(&accept(
            "application/activity+json, application/ld+json"
        )));
        assert!(wants_activity_json(&accept(
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
        )));
        assert!(!wants_activity_json(&accept(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_activity_json(&accept(
            "application/activity+json;q=0, text/html"
        )));
        assert!(!wants_activity_json(&HeaderMap::new()));
    }
}
