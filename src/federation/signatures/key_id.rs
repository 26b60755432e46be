//! The shape of a `keyId` masthead is willing to fetch: checked on the string alone, before any
//! network work, so that a signature cannot make masthead fetch an arbitrary URL.
//!
//! It does not own fetching (nor the address checks made when connecting: private and loopback
//! addresses behind a host name are the fetcher's), blocks, or whether the key belongs to the
//! activity's actor.

use url::{Host, Url};

use super::SignatureError;

/// The longest `keyId` fetched. Mastodon's are about 60 bytes; real actor URLs stay far below
/// this.
pub const MAX_KEY_ID_BYTES: usize = 2048;

/// What a `keyId` may be beyond an `https` URL on a default port with a host name. All `false`
/// ([`KeyIdRules::default`]) is the rule for a site on the internet; the inbox loosens it only
/// from its `[dev]` settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyIdRules {
    /// `http:` too (`[dev] allow_http`).
    pub allow_http: bool,
    /// Any port, not only the scheme's default (dev servers and loopback tests listen on one).
    pub allow_any_port: bool,
    /// A host written as an IP address (`https://127.0.0.1/...`, `https://[::1]/...`).
    pub allow_ip_literal: bool,
}

/// Checks that `key_id` is a URL masthead may fetch a key from, and returns it parsed. Refuses an
/// id longer than [`MAX_KEY_ID_BYTES`], one that is not an absolute URL (a relative or
/// fragment-only id), a scheme other than `https` (`acct:`, `data:`, `http:` unless allowed),
/// userinfo (`https://victim@evil.example/...` reads as victim's to a person, and is evil's), a
/// non-default port and an IP-literal host unless `rules` allow them.
pub fn check_key_id(key_id: &str, rules: KeyIdRules) -> Result<Url, SignatureError> {
    let refuse = |why: String| SignatureError::BadKeyId {
        key_id: shown(key_id),
        why,
    };
    if key_id.len() > MAX_KEY_ID_BYTES {
        return Err(refuse(format!(
            "it is {} bytes, more than the {MAX_KEY_ID_BYTES} allowed",
            key_id.len()
        )));
    }
    let url = Url::parse(key_id).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            refuse("it is not an absolute URL (a bare or fragment-only id)".to_owned())
        }
        e => refuse(format!("it is not a URL ({e})")),
    })?;
    match url.scheme() {
        "https" => {}
        "http" if rules.allow_http => {}
        "http" => {
            return Err(refuse(
                "it is http, and only https keys are fetched ([dev] allow_http permits http)"
                    .to_owned(),
            ))
        }
        scheme => {
            return Err(refuse(format!(
                "its scheme is `{scheme}:`, and keys are fetched over https only"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "it carries a user name or password before its host".to_owned(),
        ));
    }
    match url.host() {
        None => return Err(refuse("it has no host".to_owned())),
        Some(Host::Domain(_)) => {}
        Some(Host::Ipv4(_) | Host::Ipv6(_)) if rules.allow_ip_literal => {}
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
            return Err(refuse(
                "its host is an IP address, not a domain name".to_owned(),
            ))
        }
    }
    // `port()` is `None` for the scheme's default port, even when written out (`:443`).
    if let Some(port) = url.port().filter(|_| !rules.allow_any_port) {
        return Err(refuse(format!(
            "it names port {port}; keys are fetched from the default port only"
        )));
    }
    Ok(url)
}

/// The key id as put in a message: a hostile one may be long, so only its start is shown.
fn shown(key_id: &str) -> String {
    const SHOWN: usize = 120;
    match key_id.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}...", &key_id[..end]),
        None => key_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: KeyIdRules = KeyIdRules {
        allow_http: true,
        allow_any_port: true,
        allow_ip_literal: true,
    };

    fn why(key_id: &str, rules: KeyIdRules) -> Result<String, String> {
        match check_key_id(key_id, rules) {
            Ok(url) => Ok(url.to_string()),
            Err(SignatureError::BadKeyId { why, .. }) => Err(why),
            Err(other) => panic!("{key_id}: unexpected error {other:?}"),
        }
    }

    #[test]
    fn rejects_key_ids_masthead_must_not_fetch() {
        let long = format!("https://a.example/{}", "k".repeat(MAX_KEY_ID_BYTES));
        let strict = KeyIdRules::default();
        for (key_id, rules, expected) in [
            (
                "https://remote.example/users/alice#main-key",
                strict,
                Ok("https://remote.example/users/alice#main-key"),
            ),
            (
                "https://remote.example:443/users/alice#main-key",
                strict,
                Ok("https://remote.example/users/alice#main-key"),
            ),
            (
                "https://victim@evil.example/users/alice#main-key",
                DEV,
                Err("it carries a user name or password before its host"),
            ),
            (
                "https://victim:pw@evil.example/key",
                DEV,
                Err("it carries a user name or password before its host"),
            ),
            (
                "https://remote.example:8443/users/alice#main-key",
                strict,
                Err("it names port 8443; keys are fetched from the default port only"),
            ),
            (
                "https://remote.example:8443/users/alice#main-key",
                DEV,
                Ok("https://remote.example:8443/users/alice#main-key"),
            ),
            (
                "#main-key",
                DEV,
                Err("it is not an absolute URL (a bare or fragment-only id)"),
            ),
            (
                "/users/alice#main-key",
                DEV,
                Err("it is not an absolute URL (a bare or fragment-only id)"),
            ),
            (
                "acct:alice@remote.example",
                DEV,
                Err("its scheme is `acct:`, and keys are fetched over https only"),
            ),
            (
                "javascript://remote.example/%0Aalert(1)",
                DEV,
                Err("its scheme is `javascript:`, and keys are fetched over https only"),
            ),
            (
                "http://remote.example/users/alice#main-key",
                strict,
                Err("it is http, and only https keys are fetched ([dev] allow_http permits http)"),
            ),
            (
                "http://127.0.0.1:8080/users/alice#main-key",
                DEV,
                Ok("http://127.0.0.1:8080/users/alice#main-key"),
            ),
            (
                "https://127.0.0.1/users/alice#main-key",
                strict,
                Err("its host is an IP address, not a domain name"),
            ),
            (
                "https://[::1]/users/alice#main-key",
                strict,
                Err("its host is an IP address, not a domain name"),
            ),
            (
                &long,
                DEV,
                Err("it is 2066 bytes, more than the 2048 allowed"),
            ),
        ] {
            let expected = expected.map(str::to_owned).map_err(str::to_owned);
            assert_eq!(why(key_id, rules), expected, "{key_id}");
        }
    }

    #[test]
    fn can_name_a_refused_key_id_in_full_only_when_short() {
        let long = format!("https://user@a.example/{}", "k".repeat(500));
        let message = check_key_id(&long, KeyIdRules::default())
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("signature refused: keyId \"https://user@a.example/kkk"));
        assert!(message.len() < 400, "{message}");
        assert!(message.contains("...\" cannot be fetched: it carries a user name"));
    }
}
