//! The headers masthead sends and judges on outgoing requests: its `User-Agent`, the `Host` of a
//! URL, the `Accept` for ActivityPub documents and whether a response's `Content-Type` is one.
//!
//! It does not send anything nor decide which headers survive a redirect (`redirect`).

use http::header::HeaderValue;
use url::{Position, Url};

use super::FetchError;

/// `Accept` for fetching ActivityPub documents: both media types the spec allows servers to serve.
pub const ACCEPT_ACTIVITY: HeaderValue = HeaderValue::from_static(
    "application/activity+json, application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
);

/// The `User-Agent` masthead sends: `masthead/<version> (+<base_url>)`, so a remote admin can find
/// out who is knocking.
pub fn user_agent(base_url: &Url) -> String {
    format!("masthead/{} (+{base_url})", env!("CARGO_PKG_VERSION"))
}

/// `Host` for `url`: the host, with the port when it is not the scheme's default.
pub fn host_header(url: &Url) -> Result<HeaderValue, FetchError> {
    let host = &url[Position::BeforeHost..Position::BeforePath];
    HeaderValue::from_str(host).map_err(|_| FetchError::BadUrl {
        url: url.to_string(),
        reason: "host is not a valid Host header".into(),
    })
}

/// Whether a `Content-Type` is one ActivityPub documents are served with:
/// `application/activity+json`, or `application/ld+json` with the ActivityStreams profile.
/// Case, parameters and whitespace are tolerated as HTTP allows.
pub fn is_activitypub_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/activity+json" => true,
        "application/ld+json" => parts.any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            // JSON-LD allows several space-separated profile URIs.
            name.trim().eq_ignore_ascii_case("profile")
                && value
                    .split_ascii_whitespace()
                    .any(|p| p == "https://www.w3.org/ns/activitystreams")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn can_recognise_activitypub_content_types() {
        let yes = [
            "application/activity+json",
            "Application/Activity+JSON",
            "application/activity+json; charset=utf-8",
            "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"",
            "application/ld+json;profile=https://www.w3.org/ns/activitystreams",
            "  application/ld+json ;  charset=utf-8 ; PROFILE = \"https://www.w3.org/ns/activitystreams\" ",
            "application/ld+json; profile=\"http://www.w3.org/ns/json-ld#compacted https://www.w3.org/ns/activitystreams\"",
        ];
        for ct in yes {
            assert!(is_activitypub_content_type(ct), "{ct}");
        }
        let no = [
            "",
            "application/json",
            "text/html",
            "application/ld+json",
            "application/ld+json; profile=\"https://example.com/other\"",
            "application/ld+json; charset=\"https://www.w3.org/ns/activitystreams\"",
            "application/activity+jsonx",
        ];
        for ct in no {
            assert!(!is_activitypub_content_type(ct), "{ct}");
        }
    }

    #[test]
    fn can_build_the_user_agent_from_the_base_url() {
        assert_eq!(
            user_agent(&url("https://news.example/")),
            format!(
                "masthead/{} (+https://news.example/)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
