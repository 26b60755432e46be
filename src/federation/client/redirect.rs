//! Redirects: where a response points, and what of a request travels to the next hop. A 301, 302
//! or 303 turns a request into a bodiless GET (what browsers do); a 307 or 308 keeps method and
//! body, so a body is never re-sent to another origin; credentials never cross origins.
//!
//! It does not count hops nor vet the next URL: the client does both, every hop going through the
//! address policy and the signer afresh.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode};
use url::Url;

use super::{FetchError, Response};

/// Where a redirect response points, resolved against the URL that sent it; `None` when the
/// response is not a redirect (or is one without a `Location`, which is returned as it is).
pub(super) fn target(url: &Url, response: &Response) -> Result<Option<Url>, FetchError> {
    if !matches!(
        response.status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let Some(location) = response.headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let bad = |reason: String| FetchError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let location = location
        .to_str()
        .map_err(|_| bad("redirect Location is not text".into()))?;
    url.join(location)
        .map(Some)
        .map_err(|e| bad(format!("redirect Location {location:?} is not a URL: {e}")))
}

/// Turns the request that got `status` from `from` into the one to send to `to`, or refuses to
/// send its body across origins.
pub(super) fn next_hop(
    status: StatusCode,
    from: &Url,
    to: &Url,
    method: &mut Method,
    body: &mut Option<Bytes>,
    headers: &mut HeaderMap,
) -> Result<(), FetchError> {
    // A 307/308 keeps the method and body: a signed delivery would be re-sent, as is, to
    // whatever origin the first one names. Only the origin it was meant for gets it.
    if body.is_some()
        && to.origin() != from.origin()
        && matches!(
            status,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        )
    {
        return Err(FetchError::RedirectAcrossOrigins {
            url: from.clone(),
            to: to.to_string(),
        });
    }
    if matches!(
        status,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
    ) && *method != Method::HEAD
    {
        // What browsers do: the body is dropped and the method becomes GET. 307 and 308
        // exist precisely to keep both.
        *method = Method::GET;
        *body = None;
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            HeaderName::from_static("digest"),
        ] {
            headers.remove(name);
        }
    }
    if to.origin() != from.origin() {
        // Credentials meant for one origin never travel to another.
        for name in [header::AUTHORIZATION, header::COOKIE] {
            headers.remove(name);
        }
    }
    Ok(())
}
