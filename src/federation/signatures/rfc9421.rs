//! RFC 9421 HTTP Message Signatures as Mastodon 4.5+ and Fedify send them (`Signature-Input` and
//! `Signature`, `rsa-v1_5-sha256`): reading them into a [`SignedRequest`] for the parent module's
//! `verify`, rebuilding the signature base from the covered components, and the RFC 9530
//! `Content-Digest` header.
//!
//! Reading is bounded and linear: both headers are capped before parsing (by the parent module),
//! the structured-field parser caps members, parameters and covered components, labels are
//! matched and repeated components (compared ignoring case, as they are looked up) found by hash.
//!
//! masthead does not sign with RFC 9421 (every server it talks to verifies draft-cavage). It does
//! not own the keys, the time window or the RSA check (shared with draft-cavage), nor choosing
//! between the two schemes.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{HeaderMap, Method};
use sha2::{Digest as _, Sha256};

use super::structured_fields as sf;
use super::{
    check_created_and_expires, field_value, malformed, signed_field, BodyDigest, DigestAlgorithm,
    SignatureError, SignedRequest, Spec,
};

/// The only RFC 9421 algorithm we verify (RSASSA-PKCS1-v1_5 with SHA-256, RFC 9421 §3.3.2).
const RFC9421_ALGORITHM: &str = "rsa-v1_5-sha256";

/// The `Content-Digest` header value for `body`: `sha-256=:<base64>:` (RFC 9530, what RFC 9421
/// signs).
pub fn content_digest_header(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Reads the first signature whose label both `Signature-Input` and `Signature` carry and rebuilds
/// its signature base (RFC 9421 §2.5), refusing what Mastodon refuses (see
/// [`super::parse_with_url_scheme`]).
pub(super) fn parse(
    url_scheme: &str,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Result<SignedRequest, SignatureError> {
    let input_raw = field_value(headers, "signature-input")?.unwrap_or_default();
    let signature_raw = field_value(headers, "signature")?.ok_or_else(|| {
        malformed(
            "Signature",
            "it is missing, but Signature-Input needs it (RFC 9421)",
        )
    })?;
    let inputs = sf::parse_dictionary(&input_raw).map_err(sf_refusal("Signature-Input"))?;
    let signatures = sf::parse_dictionary(&signature_raw).map_err(sf_refusal("Signature"))?;

    // Verify the first signature whose label both headers carry.
    let Some((label, components, params, inner_list)) =
        inputs.iter().find_map(|(label, member)| match member {
            sf::Member::InnerList { items, params, raw } if signatures.get(label).is_some() => {
                Some((label, items, params, raw))
            }
            _ => None,
        })
    else {
        let labels: Vec<&str> = inputs.keys().collect();
        return Err(malformed(
            "Signature-Input",
            format!(
                "no signature label ({}) that the Signature header also carries",
                labels.join(", ")
            ),
        ));
    };
    let signature = match signatures.get(label) {
        Some(sf::Member::Item(sf::Item {
            bare: sf::BareItem::Bytes(bytes),
            ..
        })) => bytes.clone(),
        _ => {
            return Err(malformed(
                "Signature",
                format!("`{label}` is not a byte sequence like :base64:"),
            ))
        }
    };

    let param = |name: &str| params.get(name);
    let key_id = match param("keyid") {
        Some(sf::BareItem::String(key_id)) if !key_id.is_empty() => key_id.clone(),
        Some(_) => {
            return Err(malformed(
                "Signature-Input",
                "`keyid` must be a non-empty string",
            ))
        }
        None => {
            return Err(SignatureError::MissingParameter {
                header: "Signature-Input",
                param: "keyid",
            })
        }
    };
    // Mastodon requires `created`; `expires` is optional.
    let created = match param("created") {
        Some(sf::BareItem::Integer(created)) => *created,
        Some(_) => return Err(malformed("Signature-Input", "`created` must be an integer")),
        None => {
            return Err(SignatureError::MissingParameter {
                header: "Signature-Input",
                param: "created",
            })
        }
    };
    let expires = match param("expires") {
        Some(sf::BareItem::Integer(expires)) => Some(*expires),
        Some(_) => return Err(malformed("Signature-Input", "`expires` must be an integer")),
        None => None,
    };
    check_created_and_expires("Signature-Input", created, expires)?;
    // `alg` is optional (the key implies it); if present it must be the one we verify.
    match param("alg") {
        None => {}
        Some(sf::BareItem::String(alg)) if alg == RFC9421_ALGORITHM => {}
        Some(sf::BareItem::String(alg)) => {
            return Err(SignatureError::UnsupportedAlgorithm {
                header: "Signature-Input",
                algorithm: alg.clone(),
                supported: RFC9421_ALGORITHM,
            })
        }
        Some(_) => return Err(malformed("Signature-Input", "`alg` must be a string")),
    }

    // The parser capped `components` at MAX_COVERED.
    let mut covered: Vec<&str> = Vec::with_capacity(components.len());
    let mut seen = HashSet::with_capacity(components.len());
    for item in components {
        let sf::BareItem::String(name) = &item.bare else {
            return Err(malformed(
                "Signature-Input",
                "covered components must be quoted strings",
            ));
        };
        if !item.params.is_empty() {
            return Err(SignatureError::UnsupportedComponent {
                component: name.clone(),
                why: "component parameters (sf, key, bs, req, name) are not supported",
            });
        }
        // Header components are looked up lowercased, so `x` and `X` are the same component.
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(SignatureError::CoveredTwice {
                header: "Signature-Input",
                name: name.clone(),
            });
        }
        covered.push(name);
    }
    let covers = |name: &str| seen.contains(name);
    let not_covered = |required, when| SignatureError::NotCovered {
        required,
        when,
        covered: covered.join(" "),
    };
    if !covers("@method") || !covers("@target-uri") {
        return Err(not_covered("@method and @target-uri", ""));
    }
    if *method == Method::POST && !covers("content-digest") {
        return Err(not_covered("content-digest", " on a POST"));
    }

    // RFC 9421 §2.5: one `"name": value` line per covered component, in order, then the
    // `@signature-params` line, which repeats the Signature-Input inner list exactly as received.
    let mut lines = Vec::with_capacity(covered.len() + 1);
    for name in &covered {
        let value = component(name, url_scheme, method, target, headers)?;
        lines.push(format!("\"{name}\": {value}"));
    }
    lines.push(format!("\"@signature-params\": {inner_list}"));

    let body_digest = if covers("content-digest") {
        Some(parse_content_digest(&signed_field(
            headers,
            "content-digest",
        )?)?)
    } else {
        None
    };

    Ok(SignedRequest {
        spec: Spec::Rfc9421,
        key_id,
        signature,
        bases: vec![lines.join("\n")],
        created,
        created_field: "created",
        expires,
        body_digest,
    })
}

/// The value of one covered component (RFC 9421 §2.1, §2.2).
///
/// `@target-uri` is `scheme://authority/path?query` rebuilt from the Host header and the request
/// line, as Fedify signs it (`request.url`). `@request-target` and `@query` follow the RFC
/// (`/path?query` and `?query`); Fedify's own versions of those two differ, but it does not sign
/// them by default.
fn component(
    name: &str,
    url_scheme: &str,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Result<String, SignatureError> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let scheme = url_scheme.to_ascii_lowercase();
    let authority = || -> Result<String, SignatureError> {
        let host = field_value(headers, "host")?.ok_or_else(|| {
            malformed(
                "Host",
                format!("it is missing, and `{name}` is built from it"),
            )
        })?;
        Ok(normalize_authority(&host, &scheme))
    };
    Ok(match name {
        "@method" => method.as_str().to_owned(),
        "@target-uri" => format!("{scheme}://{}{target}", authority()?),
        "@authority" => authority()?,
        "@scheme" => scheme.clone(),
        "@request-target" => target.to_owned(),
        "@path" if path.is_empty() => "/".to_owned(),
        "@path" => path.to_owned(),
        "@query" => format!("?{}", query.unwrap_or_default()),
        derived if derived.starts_with('@') => {
            return Err(SignatureError::UnsupportedComponent {
                component: derived.to_owned(),
                why: "masthead verifies @method, @target-uri, @authority, @scheme, \
                      @request-target, @path and @query",
            })
        }
        header => signed_field(headers, &header.to_ascii_lowercase())?,
    })
}

/// Turns a structured-field parse error in `header` into a refusal.
fn sf_refusal(header: &'static str) -> impl Fn(sf::SfError) -> SignatureError {
    move |error| match error {
        sf::SfError::Syntax(why) => malformed(header, why),
        sf::SfError::TooMany { what, max } => SignatureError::TooMany { header, what, max },
    }
}

/// RFC 9421 §2.2.3: the authority is lowercase and leaves out the scheme's default port.
fn normalize_authority(host: &str, scheme: &str) -> String {
    let host = host.to_ascii_lowercase();
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return host,
    };
    match host.strip_suffix(default_port) {
        Some(bare) => bare.to_owned(),
        None => host,
    }
}

/// Reads a `Content-Digest` header (RFC 9530): an RFC 8941 dictionary. Every `sha-256` and
/// `sha-512` member must match the body and at least one must be present; other algorithms are
/// ignored.
fn parse_content_digest(raw: &str) -> Result<BodyDigest, SignatureError> {
    let members = sf::parse_dictionary(raw).map_err(sf_refusal("Content-Digest"))?;
    let mut claims = Vec::new();
    for (algorithm, member) in members.iter() {
        let algorithm = match algorithm {
            "sha-256" => DigestAlgorithm::Sha256,
            "sha-512" => DigestAlgorithm::Sha512,
            _ => continue,
        };
        let sf::Member::Item(sf::Item {
            bare: sf::BareItem::Bytes(bytes),
            ..
        }) = member
        else {
            return Err(malformed(
                "Content-Digest",
                "a digest must be a byte sequence like :base64:",
            ));
        };
        claims.push((algorithm, bytes.clone()));
    }
    if claims.is_empty() {
        let offered: Vec<&str> = members.keys().collect();
        return Err(SignatureError::UnsupportedDigest {
            header: "Content-Digest",
            offered: offered.join(", "),
            needed: "sha-256 or sha-512",
        });
    }
    Ok(BodyDigest {
        header: "Content-Digest",
        claims,
    })
}

#[cfg(test)]
mod tests {
    use sha2::Sha512;

    use super::super::test_support::{
        assert_bound_to_path_and_key, assert_digest_mismatch, assert_outcomes, at, header_map,
        public_key, sign_base64, verify_openssl_fixture, verify_post, FOLLOW, FOLLOW_SHA256, HOUR,
        INBOX, MIN, REMOTE_KEY_ID, T0,
    };
    use super::super::{parse, parse_with_url_scheme, verify, MAX_COVERED};
    use super::*;

    const INBOX_URI: &str = "https://masthead.example/users/news/inbox";

    /// An RFC 9421 request signed by hand with the test key: `lines` are the signature base
    /// lines before `"@signature-params": <inner>`, and Signature-Input is `sig1=<inner>`.
    fn rfc9421_signed(pairs: &[(&str, &str)], lines: &[String], inner: &str) -> HeaderMap {
        let mut base = lines.join("\n");
        base.push_str(&format!("\n\"@signature-params\": {inner}"));
        let mut headers = header_map(pairs);
        headers.insert("signature-input", format!("sig1={inner}").parse().unwrap());
        headers.insert(
            "signature",
            format!("sig1=:{}:", sign_base64(&base)).parse().unwrap(),
        );
        headers
    }

    /// A POST of `FOLLOW` covering `@method`, `@target-uri` and `content-digest`, with the given
    /// Content-Digest value and the parameters after the inner list.
    fn rfc9421_post(content_digest: &str, params: &str) -> HeaderMap {
        rfc9421_signed(
            &[
                ("host", "masthead.example"),
                ("content-digest", content_digest),
            ],
            &[
                "\"@method\": POST".to_owned(),
                format!("\"@target-uri\": {INBOX_URI}"),
                format!("\"content-digest\": {content_digest}"),
            ],
            &format!("(\"@method\" \"@target-uri\" \"content-digest\"){params}"),
        )
    }

    /// [`rfc9421_post`] with `FOLLOW`'s own Content-Digest.
    fn signed_post(params: &str) -> HeaderMap {
        rfc9421_post(&content_digest_header(FOLLOW), params)
    }

    fn standard_params(created: i64) -> String {
        format!(";alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\";created={created}")
    }

    #[test]
    fn can_compute_the_content_digest_header() {
        assert_eq!(
            content_digest_header(FOLLOW),
            format!("sha-256=:{FOLLOW_SHA256}:")
        );
    }

    #[test]
    fn can_verify_an_openssl_signed_rfc9421_post_fixture() {
        // The shape Fedify sends; tests/fixtures/signatures/rfc9421-post.txt was signed by openssl.
        let signed = verify_openssl_fixture(
            "rfc9421-post",
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                ("content-type", "application/activity+json"),
                ("content-digest", &format!("sha-256=:{FOLLOW_SHA256}:")),
                (
                    "signature-input",
                    &format!(
                        "sig1=(\"@method\" \"@target-uri\" \"@authority\" \"host\" \"date\" \
                         \"content-digest\");alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\";\
                         created=1767225600"
                    ),
                ),
                ("signature", "sig1=:{signature}:"),
            ],
            FOLLOW,
        );
        assert_eq!(signed.spec(), Spec::Rfc9421);
        assert_eq!(signed.key_id(), REMOTE_KEY_ID);
        assert_eq!(signed.bases.len(), 1);
    }

    #[test]
    fn can_verify_an_openssl_signed_rfc9421_get_fixture_with_derived_components() {
        // Covers @scheme @authority @path @query @request-target, no `alg`, `expires` and a nonce.
        let signed = verify_openssl_fixture(
            "rfc9421-get",
            &Method::GET,
            "/users/news/outbox?page=2&min_id=7",
            &[
                ("host", "Masthead.Example:443"),
                ("accept", "application/activity+json"),
                (
                    "signature-input",
                    "sig1=(\"@method\" \"@scheme\" \"@authority\" \"@path\" \"@query\" \
                     \"@request-target\" \"@target-uri\" \"accept\");created=1767225600;\
                     expires=1767229200;keyid=\"https://remote.example/actor#main-key\";\
                     nonce=\"b3k2pp5k7z\"",
                ),
                ("signature", "sig1=:{signature}:"),
            ],
            b"",
        );
        assert_eq!(signed.bases.len(), 1);
    }

    #[test]
    fn can_accept_what_mastodon_accepts_and_rejects_the_rest() {
        let sha512 = format!("sha-512=:{}:", STANDARD.encode(Sha512::digest(FOLLOW)));
        let both = format!("{sha512}, {}", content_digest_header(FOLLOW));
        let expires_in_a_minute =
            signed_post(&format!("{};expires={}", standard_params(T0), T0 + MIN));
        let two_labels = {
            let mut headers = signed_post(&standard_params(T0));
            let input = headers["signature-input"].to_str().unwrap().to_owned();
            headers.insert(
                "signature-input",
                format!("proxy=(\"@method\");created=1;keyid=\"x\", {input}")
                    .parse()
                    .unwrap(),
            );
            headers
        };
        let digest = content_digest_header(FOLLOW);
        let without_target_uri = rfc9421_signed(
            &[("host", "masthead.example"), ("content-digest", &digest)],
            &[
                "\"@method\": POST".to_owned(),
                format!("\"content-digest\": {digest}"),
            ],
            &format!("(\"@method\" \"content-digest\"){}", standard_params(T0)),
        );
        let without_content_digest = rfc9421_signed(
            &[("host", "masthead.example")],
            &[
                "\"@method\": POST".to_owned(),
                format!("\"@target-uri\": {INBOX_URI}"),
            ],
            &format!("(\"@method\" \"@target-uri\"){}", standard_params(T0)),
        );
        let input_alone = header_map(&[(
            "signature-input",
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"k\"",
        )]);
        assert_outcomes(&[
            (
                "a POST with a sha-256 Content-Digest",
                verify_post(&signed_post(&standard_params(T0)), 30),
                Ok(()),
            ),
            (
                "a sha-512 Content-Digest",
                verify_post(&rfc9421_post(&sha512, &standard_params(T0)), 0),
                Ok(()),
            ),
            (
                "a sha-512 and a sha-256 Content-Digest",
                verify_post(&rfc9421_post(&both, &standard_params(T0)), 0),
                Ok(()),
            ),
            (
                "the label both headers carry, after one only Signature-Input carries",
                verify_post(&two_labels, 0),
                Ok(()),
            ),
            (
                "a POST that does not sign content-digest",
                verify_post(&without_content_digest, 0),
                Err(
                    "signature refused: the signature must cover content-digest on a POST \
                     (it covers: @method @target-uri)",
                ),
            ),
            (
                "a Content-Digest without sha-256 or sha-512",
                verify_post(&rfc9421_post("md5=:bm9wZQ==:", &standard_params(T0)), 0),
                Err(
                    "signature refused: the Content-Digest header offers md5, but sha-256 or \
                     sha-512 is required",
                ),
            ),
            (
                "no created",
                verify_post(
                    &signed_post(&format!(
                        ";alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\""
                    )),
                    0,
                ),
                Err("signature refused: the Signature-Input header has no `created` parameter"),
            ),
            (
                "no keyid",
                verify_post(&signed_post(&format!(";created={T0}")), 0),
                Err("signature refused: the Signature-Input header has no `keyid` parameter"),
            ),
            (
                "no @target-uri",
                verify_post(&without_target_uri, 0),
                Err("...must cover @method and @target-uri (it covers: @method content-digest)"),
            ),
            (
                "an unknown algorithm",
                verify_post(
                    &signed_post(&format!(
                        ";alg=\"rsa-pss-sha512\";keyid=\"{REMOTE_KEY_ID}\";created={T0}"
                    )),
                    0,
                ),
                Err(
                    "signature refused: algorithm `rsa-pss-sha512` in the Signature-Input header \
                     is not supported (use rsa-v1_5-sha256)",
                ),
            ),
            (
                "a created 64 minutes old",
                verify_post(&signed_post(&standard_params(T0)), 64 * MIN),
                Ok(()),
            ),
            (
                "a created 66 minutes old",
                verify_post(&signed_post(&standard_params(T0)), 66 * MIN),
                Err("...created is 1h6m old..."),
            ),
            (
                "a created 61 minutes ahead",
                verify_post(&signed_post(&standard_params(T0 + 61 * MIN)), 0),
                Err("...created is 1h1m in the future..."),
            ),
            (
                "a created 59 minutes ahead",
                verify_post(&signed_post(&standard_params(T0 + 59 * MIN)), 0),
                Ok(()),
            ),
            (
                "an expires not yet passed",
                verify_post(&expires_in_a_minute, 30),
                Ok(()),
            ),
            (
                "an expires passed by more than the clock skew",
                verify_post(&expires_in_a_minute, MIN + HOUR + 1),
                Err("...expires passed 1h0m ago..."),
            ),
            (
                "a Signature-Input without a Signature",
                verify_post(&input_alone, 0),
                Err("signature refused: the Signature header is malformed: it is missing..."),
            ),
        ]);
    }

    #[test]
    fn rejects_a_content_digest_that_does_not_match_the_body() {
        let headers = rfc9421_post(&content_digest_header(b"{}"), &standard_params(T0));
        let error = verify_post(&headers, 0).unwrap_err();
        assert_digest_mismatch(&error, "Content-Digest", "sha-256");
    }

    #[test]
    fn rejects_a_request_sent_to_another_path_or_checked_with_another_key() {
        assert_bound_to_path_and_key(&signed_post(&standard_params(T0)));
    }

    #[test]
    fn rejects_components_masthead_cannot_verify() {
        for (component, covered, target) in [
            (
                "@query-param",
                "\"@query-param\";name=\"page\"",
                "/users/news?page=1",
            ),
            ("@status", "\"@status\"", "/users/news"),
        ] {
            let headers = rfc9421_signed(
                &[("host", "masthead.example")],
                &[],
                &format!(
                    "(\"@method\" \"@target-uri\" {covered}){}",
                    standard_params(T0)
                ),
            );
            let error = parse(&Method::GET, target, &headers).unwrap_err();
            let SignatureError::UnsupportedComponent {
                component: refused, ..
            } = &error
            else {
                panic!("expected {component} to be refused as unsupported, got {error:?}");
            };
            assert_eq!(refused, component);
        }
    }

    /// A GET covering `@method`, `@target-uri` and then `extra` (quoted component names), with
    /// `params` after the inner list.
    fn get_covering(extra: &str, params: &str) -> HeaderMap {
        rfc9421_signed(
            &[("host", "masthead.example"), ("x", "1")],
            &[],
            &format!("(\"@method\" \"@target-uri\" {extra}){params}"),
        )
    }

    fn parse_get(headers: &HeaderMap) -> Result<SignedRequest, SignatureError> {
        parse(&Method::GET, "/users/news", headers)
    }

    #[test]
    fn rejects_a_component_covered_twice_ignoring_case() {
        let headers = get_covering("\"x\" \"X\"", &standard_params(T0));
        assert_eq!(
            parse_get(&headers).unwrap_err().to_string(),
            "signature refused: the Signature-Input header covers `X` twice (names are compared \
             ignoring case; list each once)"
        );
    }

    #[test]
    fn rejects_more_components_than_the_cap() {
        let names: Vec<String> = (0..MAX_COVERED - 1).map(|i| format!("\"x-{i}\"")).collect();
        let headers = get_covering(&names.join(" "), &standard_params(T0));
        assert_eq!(
            parse_get(&headers).unwrap_err(),
            SignatureError::TooMany {
                header: "Signature-Input",
                what: "inner list items",
                max: MAX_COVERED
            }
        );
    }

    #[test]
    fn rejects_a_label_or_parameter_given_twice() {
        let inner = format!("(\"@method\" \"@target-uri\"){}", standard_params(T0));
        let mut headers = get_covering("", &standard_params(T0));
        headers.insert(
            "signature-input",
            format!("sig1={inner}, sig1={inner}").parse().unwrap(),
        );
        assert!(matches!(
            parse_get(&headers).unwrap_err(),
            SignatureError::Malformed { header, why }
                if header == "Signature-Input" && why.starts_with("`sig1` is given twice")
        ));
        let headers = get_covering("", &format!("{};created={T0}", standard_params(T0)));
        assert!(matches!(
            parse_get(&headers).unwrap_err(),
            SignatureError::Malformed { why, .. } if why.starts_with("`created` is given twice")
        ));
    }

    #[test]
    fn rejects_a_negative_created_or_an_expires_before_created() {
        let params = |created: i64, expires: i64| {
            format!(";keyid=\"{REMOTE_KEY_ID}\";created={created};expires={expires}")
        };
        for (created, expires, why) in [
            (
                -1,
                60,
                "`created` is -1, before 1970 (sign with the current time)".to_owned(),
            ),
            (
                T0,
                T0 - 1,
                format!("`expires` ({}) is before `created` ({T0})", T0 - 1),
            ),
        ] {
            assert_eq!(
                parse_get(&get_covering("", &params(created, expires))).unwrap_err(),
                malformed("Signature-Input", why)
            );
        }
    }

    #[test]
    fn can_build_the_target_uri_of_a_plain_http_request() {
        let headers = rfc9421_signed(
            &[("host", "LOCALHOST:80")],
            &[
                "\"@method\": GET".to_owned(),
                "\"@target-uri\": http://localhost/users/news".to_owned(),
            ],
            &format!("(\"@method\" \"@target-uri\"){}", standard_params(T0)),
        );
        let signed = parse_with_url_scheme("http", &Method::GET, "/users/news", &headers).unwrap();
        verify(&signed, &public_key(), b"", at(0)).unwrap();
    }
}
