//! draft-cavage-http-signatures-12, the scheme every fediverse server speaks: signing what
//! masthead sends (`rsa-sha256` over `(request-target) host date` plus `digest`, with an RFC 3230
//! `Digest` header) and reading a received `Signature` header by the rules Mastodon applies
//! (app/lib/signed_request.rb) into a [`SignedRequest`] for the parent module's `verify`.
//!
//! Reading is bounded: the `Signature` value is capped before parsing (by the parent module), at
//! most [`MAX_CAVAGE_PARAMS`] parameters are read, `headers` is counted and refused past
//! [`MAX_COVERED`] names or with a name repeated (ignoring case) before any signing-string line is
//! built, and each header copied into a line is capped.
//!
//! It does not own the keys, the time window or the RSA check (shared with RFC 9421), nor choosing
//! between the two schemes.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{HeaderValue, DATE, HOST};
use http::{HeaderMap, Method};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::{
    check_created_and_expires, field_value, is_tchar, malformed, signed_field, unix_seconds,
    BodyDigest, DigestAlgorithm, SignatureError, SignedRequest, SigningKey, Spec, LENIENT_BASE64,
    MAX_COVERED,
};

/// How many parameters a `Signature` header may carry: draft-cavage defines six (`keyId`,
/// `algorithm`, `headers`, `signature`, `created`, `expires`).
pub(super) const MAX_CAVAGE_PARAMS: usize = 16;

/// The draft-cavage algorithms Mastodon accepts. `hs2019` means "whatever the key is"; our keys are
/// RSA, so it is verified as RSASSA-PKCS1-v1_5 SHA-256 like `rsa-sha256`.
const CAVAGE_ALGORITHMS: &str = "rsa-sha256 or hs2019";

/// The `Digest` header value for `body`: `SHA-256=<base64>` (RFC 3230, what draft-cavage signs).
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", STANDARD.encode(Sha256::digest(body)))
}

/// Signs a request with draft-cavage-http-signatures-12 `rsa-sha256`, the scheme every fediverse
/// server verifies.
///
/// Sets `Date` to `now` (always: sign each delivery attempt afresh), `Host` from `url` if absent,
/// `Digest` when the method is POST or a body is given (a POST without body signs the empty body),
/// then `Signature` covering `(request-target) host date` plus `digest`. The `(request-target)`
/// includes the query string.
pub fn sign_request(
    key: &SigningKey,
    method: &Method,
    url: &Url,
    headers: &mut HeaderMap,
    body: Option<&[u8]>,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let host = url.host_str().ok_or_else(|| SignatureError::Signing {
        why: format!("{url} has no host to put in the Host header"),
    })?;
    // Date and Digest are replaced below; a second Host would be sent but not signed.
    if headers.get_all(HOST).iter().count() > 1 {
        return Err(SignatureError::Signing {
            why: format!("the request to {url} has more than one Host header (set one)"),
        });
    }
    if !headers.contains_key(HOST) {
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        headers.insert(HOST, header_value(&host)?);
    }
    headers.insert(DATE, header_value(&httpdate::fmt_http_date(now))?);
    let with_digest = *method == Method::POST || body.is_some();
    if with_digest {
        headers.insert(
            "digest",
            header_value(&digest_header(body.unwrap_or_default()))?,
        );
    }

    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let signed_value = |name: &str| -> Result<String, SignatureError> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| SignatureError::Signing {
                why: format!("the {name} header is not visible ASCII"),
            })
    };
    let mut lines = vec![
        format!(
            "(request-target): {} {target}",
            method.as_str().to_ascii_lowercase()
        ),
        format!("host: {}", signed_value("host")?),
        format!("date: {}", signed_value("date")?),
    ];
    let covered = if with_digest {
        lines.push(format!("digest: {}", signed_value("digest")?));
        "(request-target) host date digest"
    } else {
        "(request-target) host date"
    };
    let signature = key.sign_bytes(lines.join("\n").as_bytes())?;
    let value = format!(
        "keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{covered}\",signature=\"{}\"",
        key.key_id(),
        STANDARD.encode(signature)
    );
    headers.insert("signature", header_value(&value)?);
    Ok(())
}

fn header_value(value: &str) -> Result<HeaderValue, SignatureError> {
    HeaderValue::from_str(value).map_err(|_| SignatureError::Signing {
        why: format!("{value:?} is not a valid header value"),
    })
}

/// Reads a draft-cavage `Signature` header the way Mastodon does, refusing what Mastodon refuses
/// (see [`super::parse_with_url_scheme`]). `target` is the request target with its query string.
pub(super) fn parse(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Result<SignedRequest, SignatureError> {
    let raw = field_value(headers, "signature")?.ok_or(SignatureError::Unsigned)?;
    let params = parse_params(&raw)?;
    let param = |name: &'static str| -> Result<&str, SignatureError> {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or(SignatureError::MissingParameter {
                header: "Signature",
                param: name,
            })
    };
    let key_id = param("keyId")?.to_owned();
    let signature = LENIENT_BASE64
        .decode(param("signature")?)
        .map_err(|e| malformed("Signature", format!("`signature` is not base64: {e}")))?;

    // Mastodon: a missing algorithm means hs2019; only rsa-sha256 and hs2019 are accepted.
    let algorithm = params.get("algorithm").map_or("hs2019", String::as_str);
    if algorithm != "rsa-sha256" && algorithm != "hs2019" {
        return Err(SignatureError::UnsupportedAlgorithm {
            header: "Signature",
            algorithm: algorithm.to_owned(),
            supported: CAVAGE_ALGORITHMS,
        });
    }
    let hs2019 = algorithm == "hs2019";

    // Mastodon: a missing `headers` means `(created)` for hs2019, `date` otherwise.
    let default_covered = if hs2019 { "(created)" } else { "date" };
    let covered = covered_names(
        params
            .get("headers")
            .map_or(default_covered, String::as_str),
    )?;
    let covered_set: HashSet<&str> = covered.iter().map(String::as_str).collect();
    let covers = |name: &str| covered_set.contains(name);
    let not_covered = |required, when| SignatureError::NotCovered {
        required,
        when,
        covered: covered.join(" "),
    };
    if !covers("date") && !covers("(created)") {
        return Err(not_covered("date or (created)", ""));
    }
    if !covers("(request-target)") && !covers("digest") {
        return Err(not_covered("(request-target) or digest", ""));
    }
    if *method == Method::GET && !covers("host") {
        return Err(not_covered("host", " on a GET"));
    }
    if *method == Method::POST && !covers("digest") {
        return Err(not_covered("digest", " on a POST"));
    }

    // Mastodon verifies `(request-target)` with the query string, then without it (older
    // Mastodon signed the path alone).
    let method_lower = method.as_str().to_ascii_lowercase();
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    // The second base only when there is a query to leave out.
    let has_query = path != target;
    let mut with_query = Vec::with_capacity(covered.len());
    let mut without_query = Vec::with_capacity(if has_query { covered.len() } else { 0 });
    for name in &covered {
        let line = match name.as_str() {
            "(request-target)" => {
                with_query.push(format!("(request-target): {method_lower} {target}"));
                if has_query {
                    without_query.push(format!("(request-target): {method_lower} {path}"));
                }
                continue;
            }
            "(created)" | "(expires)" => {
                if !hs2019 {
                    return Err(SignatureError::UnsupportedComponent {
                        component: name.clone(),
                        why: "only an hs2019 signature may cover it, and this one is rsa-sha256",
                    });
                }
                let value = param(if name == "(created)" {
                    "created"
                } else {
                    "expires"
                })?;
                format!("{name}: {value}")
            }
            header => format!("{header}: {}", signed_field(headers, header)?),
        };
        if has_query {
            without_query.push(line.clone());
        }
        with_query.push(line);
    }
    let mut bases = vec![with_query.join("\n")];
    if has_query {
        bases.push(without_query.join("\n"));
    }

    // The time comes from a signed value only: `created` when `(created)` is covered (hs2019),
    // the Date header otherwise. Unlike Mastodon we ignore unsigned `created`/`expires`
    // parameters, which anyone replaying the request could rewrite.
    let (created, created_field) = if covers("(created)") {
        (parse_unix_time("created", param("created")?)?, "created")
    } else {
        let date = signed_field(headers, "date")?;
        let date = httpdate::parse_http_date(&date)
            .map_err(|_| malformed("Date", format!("{date:?} is not an HTTP date")))?;
        (unix_seconds(date), "Date")
    };
    let expires = if covers("(expires)") {
        Some(parse_unix_time("expires", param("expires")?)?)
    } else {
        None
    };
    check_created_and_expires("Signature", created, expires)?;

    let body_digest = if covers("digest") {
        Some(parse_digest(&signed_field(headers, "digest")?)?)
    } else {
        None
    };

    Ok(SignedRequest {
        spec: Spec::DraftCavage12,
        key_id,
        signature,
        bases,
        created,
        created_field,
        expires,
        body_digest,
    })
}

/// The names a `headers` parameter lists, lowercased, in order. Refused before anything is
/// copied when there are more than [`MAX_COVERED`] (counting costs no allocation), or when a name
/// repeats ignoring case: each listed name becomes a signing-string line holding a copy of that
/// header, so `headers="x x x ..."` once cost gigabytes.
fn covered_names(list: &str) -> Result<Vec<String>, SignatureError> {
    if list.split_ascii_whitespace().count() > MAX_COVERED {
        return Err(SignatureError::TooMany {
            header: "Signature",
            what: "names in `headers`",
            max: MAX_COVERED,
        });
    }
    let mut seen = HashSet::new();
    let mut covered = Vec::new();
    for name in list.split_ascii_whitespace() {
        let name = name.to_ascii_lowercase();
        if !seen.insert(name.clone()) {
            return Err(SignatureError::CoveredTwice {
                header: "Signature",
                name,
            });
        }
        covered.push(name);
    }
    Ok(covered)
}

/// Parses draft-cavage `name="value",name=value` parameters (RFC 9110 `auth-param`s). Names are
/// case-sensitive; a name given twice is refused rather than guessed at, and so is more than
/// [`MAX_CAVAGE_PARAMS`] parameters. A quoted value holds RFC 9110 `qdtext` and `quoted-pair`s
/// (`\` before a tab, space or visible character, which it stands for); an unquoted value is a
/// `token`.
pub(super) fn parse_params(raw: &str) -> Result<BTreeMap<String, String>, SignatureError> {
    let bad = |why: String| malformed("Signature", why);
    let mut params = BTreeMap::new();
    let mut rest = raw.trim();
    while !rest.is_empty() {
        if params.len() == MAX_CAVAGE_PARAMS {
            return Err(SignatureError::TooMany {
                header: "Signature",
                what: "parameters",
                max: MAX_CAVAGE_PARAMS,
            });
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| bad(format!("expected name=\"value\" at {:?}", shown(rest))))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad(format!("{:?} is not a parameter name", shown(name))));
        }
        let after = after.trim_start();
        let value;
        if let Some(quoted) = after.strip_prefix('"') {
            let (unescaped, end) = unquote(quoted).map_err(|why| bad(format!("`{name}` {why}")))?;
            value = unescaped;
            rest = quoted[end..].trim_start();
        } else {
            let end = after.bytes().take_while(|&b| is_tchar(b)).count();
            value = after[..end].to_owned();
            if value.is_empty() {
                return Err(bad(format!("`{name}` has no value")));
            }
            rest = after[end..].trim_start();
        }
        if params.insert(name.to_owned(), value).is_some() {
            return Err(bad(format!("`{name}` is given twice")));
        }
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if !rest.is_empty() {
            return Err(bad(format!("expected a comma after `{name}`")));
        }
    }
    Ok(params)
}

/// The value of a quoted string whose opening quote is already read, and the byte offset just
/// past its closing quote in `quoted`.
fn unquote(quoted: &str) -> Result<(String, usize), &'static str> {
    let visible = |c: char| c == '\t' || (' '..='~').contains(&c);
    // Most values escape nothing: copied in one piece when all of it is visible ASCII (else
    // read below, which says what is wrong).
    if let Some(end) = quoted.find(['"', '\\']) {
        let value = &quoted[..end];
        if quoted.as_bytes()[end] == b'"' && value.chars().all(visible) {
            return Ok((value.to_owned(), end + 1));
        }
    }
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, i + 1)),
            '\\' => match chars.next() {
                Some((_, escaped)) if visible(escaped) => value.push(escaped),
                Some(_) => return Err("escapes a character that is not visible ASCII"),
                None => return Err("has no closing quote"),
            },
            c if visible(c) => value.push(c),
            _ => return Err("contains a character that is not visible ASCII"),
        }
    }
    Err("has no closing quote")
}

/// The start of a hostile text, for a message.
fn shown(text: &str) -> &str {
    match text.char_indices().nth(60) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A draft-cavage `created`/`expires` value: Unix seconds, possibly with a fraction (ignored).
fn parse_unix_time(param: &'static str, value: &str) -> Result<i64, SignatureError> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(malformed(
            "Signature",
            format!("`{param}` is {value:?}, not a Unix time in seconds"),
        ));
    }
    whole.parse().map_err(|_| {
        malformed(
            "Signature",
            format!("`{param}` is {value:?}, out of range for a Unix time"),
        )
    })
}

/// Reads a `Digest` header (RFC 3230). Like Mastodon it needs a `SHA-256=` value among possibly
/// several comma-separated ones and ignores the others; unlike Mastodon, which checks the first,
/// it refuses a header giving SHA-256 twice, since which one counts would be a guess.
fn parse_digest(raw: &str) -> Result<BodyDigest, SignatureError> {
    let mut offered = Vec::new();
    let mut sha256 = None;
    for part in raw.split(',') {
        let (algorithm, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        if algorithm.eq_ignore_ascii_case("sha-256") {
            if sha256.is_some() {
                return Err(malformed(
                    "Digest",
                    "it gives SHA-256 more than once (send one SHA-256 value)",
                ));
            }
            sha256 = Some(value.trim());
        }
        offered.push(algorithm.to_owned());
    }
    let Some(value) = sha256 else {
        return Err(SignatureError::UnsupportedDigest {
            header: "Digest",
            offered: offered.join(", "),
            needed: "SHA-256",
        });
    };
    let bytes = LENIENT_BASE64.decode(value).map_err(|_| {
        malformed(
            "Digest",
            format!("the SHA-256 value {value:?} is not base64"),
        )
    })?;
    Ok(BodyDigest {
        header: "Digest",
        claims: vec![(DigestAlgorithm::Sha256, bytes)],
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use http::header::HeaderValue;

    use super::super::test_support::{
        assert_bound_to_path_and_key, assert_digest_mismatch, assert_outcomes, at, cavage_post,
        cavage_signed, header_map, hs2019_post, http_date, mastodon_post,
        mastodon_post_with_digest, public_key, rsa_sha256, signed_by_us, signing_key, verify_get,
        verify_openssl_fixture, verify_post, FOLLOW, FOLLOW_SHA256, INBOX, MIN, OUR_KEY_ID,
        REMOTE_KEY_ID, T0,
    };
    use super::super::{parse, verify};
    use super::*;

    /// A GET of `signed_target` dated T0, carrying Host and Date, signed `rsa-sha256` over
    /// `covered`.
    fn cavage_get(signed_target: &str, covered: &str) -> HeaderMap {
        let date = http_date(0);
        cavage_signed(
            &Method::GET,
            signed_target,
            &[("host", "masthead.example"), ("date", &date)],
            &rsa_sha256(covered),
        )
    }

    #[test]
    fn can_compute_the_digest_header() {
        assert_eq!(digest_header(FOLLOW), format!("SHA-256={FOLLOW_SHA256}"));
        assert_eq!(
            digest_header(b""),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn can_sign_a_post_with_the_headers_mastodon_expects() {
        let headers = signed_by_us(
            &Method::POST,
            "https://remote.example/users/alice/inbox",
            &[("content-type", "application/activity+json")],
            Some(FOLLOW),
        );

        assert_eq!(headers["date"], "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(headers["host"], "remote.example");
        assert_eq!(
            headers["digest"],
            format!("SHA-256={FOLLOW_SHA256}").as_str()
        );
        let signature = headers["signature"].to_str().unwrap();
        let prefix = format!(
            "keyId=\"{OUR_KEY_ID}\",algorithm=\"rsa-sha256\",\
             headers=\"(request-target) host date digest\",signature=\""
        );
        assert!(signature.starts_with(&prefix), "{signature}");

        // Check the signature against a signing string written out here, with ring directly.
        let signing_string = format!(
            "(request-target): post /users/alice/inbox\nhost: remote.example\n\
             date: Thu, 01 Jan 2026 00:00:00 GMT\ndigest: SHA-256={FOLLOW_SHA256}"
        );
        let raw = STANDARD
            .decode(signature[prefix.len()..].trim_end_matches('"'))
            .unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public_key().pkcs1_der)
            .verify(signing_string.as_bytes(), &raw)
            .expect("the signature should cover the expected signing string");
    }

    #[test]
    fn can_sign_a_get_with_port_and_query_and_without_digest() {
        let url = "http://localhost:8080/users/alice?page=2";
        let headers = signed_by_us(&Method::GET, url, &[], None);
        assert_eq!(headers["host"], "localhost:8080");
        assert!(!headers.contains_key("digest"));
        let signed = parse(&Method::GET, "/users/alice?page=2", &headers).unwrap();
        assert_eq!(
            signed.bases[0],
            "(request-target): get /users/alice?page=2\nhost: localhost:8080\n\
             date: Thu, 01 Jan 2026 00:00:00 GMT"
        );
        assert!(headers["signature"]
            .to_str()
            .unwrap()
            .contains("headers=\"(request-target) host date\""));
    }

    #[test]
    fn can_round_trip_a_signed_post() {
        let url = "https://masthead.example/users/news/inbox";
        let headers = signed_by_us(&Method::POST, url, &[], Some(FOLLOW));
        let signed = parse(&Method::POST, INBOX, &headers).unwrap();
        assert_eq!(signed.key_id(), OUR_KEY_ID);
        assert_eq!(signed.spec(), Spec::DraftCavage12);
        verify(&signed, &public_key(), FOLLOW, at(2)).unwrap();
    }

    #[test]
    fn can_round_trip_a_signed_get() {
        let url = "https://masthead.example/users/news/outbox?page=1";
        let headers = signed_by_us(&Method::GET, url, &[], None);
        let signed = parse(&Method::GET, "/users/news/outbox?page=1", &headers).unwrap();
        verify(&signed, &public_key(), b"", at(2)).unwrap();
    }

    #[test]
    fn can_sign_each_attempt_afresh_and_keep_the_callers_host() {
        let url = Url::parse("https://masthead.example/users/news/inbox").unwrap();
        let mut headers = header_map(&[("host", "masthead.example")]);
        let key = signing_key();
        sign_request(&key, &Method::POST, &url, &mut headers, Some(FOLLOW), at(0)).unwrap();
        let first = headers["signature"].clone();
        let later = at(90 * MIN);
        sign_request(&key, &Method::POST, &url, &mut headers, Some(FOLLOW), later).unwrap();
        assert_eq!(headers["date"], http_date(90 * MIN).as_str());
        assert_eq!(headers.get_all("signature").iter().count(), 1);
        assert_ne!(headers["signature"], first);
        assert_eq!(headers.get_all("host").iter().count(), 1);
        verify_post(&headers, 91 * MIN).unwrap();
    }

    #[test]
    fn can_verify_an_openssl_signed_cavage_fixture() {
        // tests/fixtures/signatures/cavage-post.txt was signed by `openssl dgst -sha256 -sign`.
        let signed = verify_openssl_fixture(
            "cavage-post",
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
                ("digest", &format!("SHA-256={FOLLOW_SHA256}")),
                ("content-type", "application/activity+json"),
                (
                    "signature",
                    &format!(
                        "keyId=\"{REMOTE_KEY_ID}\",algorithm=\"rsa-sha256\",\
                         headers=\"(request-target) host date digest content-type\",\
                         signature=\"{{signature}}\""
                    ),
                ),
            ],
            FOLLOW,
        );
        assert_eq!(signed.key_id(), REMOTE_KEY_ID);
    }

    #[test]
    fn can_accept_what_mastodon_accepts_and_rejects_the_rest() {
        let created = T0.to_string();
        let tampered = {
            let mut headers = mastodon_post(0);
            let value = headers["signature"].to_str().unwrap().to_owned();
            // Flip one base64 character inside the signature value.
            let at_sig = value.find("signature=\"").unwrap() + "signature=\"".len() + 10;
            let mut bytes = value.into_bytes();
            bytes[at_sig] = if bytes[at_sig] == b'A' { b'B' } else { b'A' };
            headers.insert("signature", HeaderValue::from_bytes(&bytes).unwrap());
            headers
        };
        let bad_signature = format!(
            "signature refused: the signature does not verify with the key {REMOTE_KEY_ID} \
             (the request was altered, or it was signed with another key)"
        );
        assert_outcomes(&[
            (
                "a POST signed as Mastodon signs it",
                verify_post(&mastodon_post(0), 5),
                Ok(()),
            ),
            (
                "an absent algorithm, taken as hs2019",
                verify_post(
                    &cavage_post(
                        "host digest",
                        &[
                            ("headers", "(request-target) host (created) digest"),
                            ("created", &created),
                        ],
                    ),
                    30,
                ),
                Ok(()),
            ),
            (
                "several Digest values, SHA-256 matching",
                verify_post(
                    &mastodon_post_with_digest(
                        0,
                        &format!("SHA-512=bm90IGNoZWNrZWQ=, SHA-256={FOLLOW_SHA256}"),
                    ),
                    0,
                ),
                Ok(()),
            ),
            (
                "a request-target signed with the query string",
                verify_get(
                    "/users/news/outbox?page=2",
                    &cavage_get("/users/news/outbox?page=2", "(request-target) host date"),
                ),
                Ok(()),
            ),
            (
                "a POST that does not sign digest",
                verify_post(
                    &cavage_post("host date", &rsa_sha256("(request-target) host date")),
                    5,
                ),
                Err(
                    "signature refused: the signature must cover digest on a POST \
                     (it covers: (request-target) host date)",
                ),
            ),
            (
                "a GET that does not sign host",
                verify_get(
                    "/users/news",
                    &cavage_get("/users/news", "(request-target) date"),
                ),
                Err("signature refused: the signature must cover host on a GET \
                     (it covers: (request-target) date)"),
            ),
            (
                "a signature covering neither date nor (created)",
                verify_post(
                    &cavage_post("host digest", &rsa_sha256("(request-target) host digest")),
                    0,
                ),
                Err("...must cover date or (created)..."),
            ),
            (
                // Defaults: `(created)` for hs2019, `date` for rsa-sha256; neither covers the
                // request.
                "an absent headers list with hs2019",
                verify_post(
                    &cavage_post("host", &[("algorithm", "hs2019"), ("created", &created)]),
                    0,
                ),
                Err("...(it covers: (created))"),
            ),
            (
                "an absent headers list with rsa-sha256",
                verify_post(&cavage_post("date", &[("algorithm", "rsa-sha256")]), 0),
                Err("...(it covers: date)"),
            ),
            (
                "(created) with rsa-sha256",
                verify_post(
                    &cavage_post(
                        "host digest",
                        &[
                            ("algorithm", "rsa-sha256"),
                            ("headers", "(request-target) host (created) digest"),
                            ("created", &created),
                        ],
                    ),
                    0,
                ),
                Err(
                    "signature refused: `(created)` cannot be verified: only an hs2019 \
                     signature may cover it, and this one is rsa-sha256",
                ),
            ),
            (
                "an unknown algorithm",
                verify_post(
                    &cavage_post(
                        "host date digest",
                        &[
                            ("algorithm", "rsa-sha512"),
                            ("headers", "(request-target) host date digest"),
                        ],
                    ),
                    0,
                ),
                Err(
                    "signature refused: algorithm `rsa-sha512` in the Signature header is not \
                     supported (use rsa-sha256 or hs2019)",
                ),
            ),
            (
                "a tampered signature",
                verify_post(&tampered, 0),
                Err(&bad_signature),
            ),
            (
                "a signed header missing from the request",
                verify_post(
                    &cavage_post(
                        "host date digest",
                        &rsa_sha256("(request-target) host date digest content-type"),
                    ),
                    0,
                ),
                Err(
                    "signature refused: `content-type` is signed but the request has no \
                     content-type header",
                ),
            ),
            (
                "a Digest without SHA-256",
                verify_post(&mastodon_post_with_digest(0, "SHA-512=bm9wZQ=="), 0),
                Err(
                    "signature refused: the Digest header offers SHA-512, but SHA-256 is \
                     required",
                ),
            ),
            (
                "a Signature header without keyId",
                verify_post(
                    &header_map(&[("signature", "algorithm=\"rsa-sha256\",signature=\"AAAA\"")]),
                    0,
                ),
                Err("signature refused: the Signature header has no `keyId` parameter"),
            ),
            (
                "a malformed Signature header",
                verify_post(
                    &header_map(&[("signature", "keyId=\"https://x.example,signature=\"AAAA")]),
                    0,
                ),
                Err("signature refused: the Signature header is malformed:..."),
            ),
        ]);
    }

    #[test]
    fn rejects_a_post_whose_body_does_not_match_the_digest() {
        let signed = parse(&Method::POST, INBOX, &mastodon_post(0)).unwrap();
        let error = verify(&signed, &public_key(), b"{\"type\":\"Delete\"}", at(5)).unwrap_err();
        assert_digest_mismatch(&error, "Digest", "SHA-256");
        assert!(error
            .to_string()
            .starts_with("signature refused: the Digest header's SHA-256 does not match the body"));
    }

    #[test]
    fn rejects_a_signature_covering_neither_request_target_nor_digest() {
        let headers = cavage_get("/users/news", "host date");
        let error = parse(&Method::GET, "/users/news", &headers).unwrap_err();
        assert!(matches!(
            error,
            SignatureError::NotCovered {
                required: "(request-target) or digest",
                ..
            }
        ));
    }

    #[test]
    fn rejects_a_request_sent_to_another_path_or_checked_with_another_key() {
        assert_bound_to_path_and_key(&mastodon_post(0));
    }

    #[test]
    fn can_accept_a_request_target_signed_without_the_query_string() {
        // Older Mastodon signed the path alone; Mastodon still accepts that variant.
        let headers = cavage_get("/users/news/outbox", "(request-target) host date");
        let signed = parse(&Method::GET, "/users/news/outbox?page=2", &headers).unwrap();
        assert_eq!(signed.bases.len(), 2);
        verify(&signed, &public_key(), b"", at(0)).unwrap();
    }

    /// A POST signed `rsa-sha256` over `(request-target) host date digest` and then `extra`
    /// covered names, each carried as a header with a one-byte value.
    fn covering(extra: &[String]) -> HeaderMap {
        let covered = format!("(request-target) host date digest {}", extra.join(" "));
        let (date, digest) = (http_date(0), digest_header(FOLLOW));
        let mut pairs = vec![
            ("host", "masthead.example"),
            ("date", date.as_str()),
            ("digest", digest.as_str()),
        ];
        pairs.extend(extra.iter().map(|name| (name.as_str(), "v")));
        cavage_signed(&Method::POST, INBOX, &pairs, &rsa_sha256(&covered))
    }

    #[test]
    fn rejects_more_covered_names_than_the_cap_before_building_a_line() {
        let too_many = SignatureError::TooMany {
            header: "Signature",
            what: "names in `headers`",
            max: MAX_COVERED,
        };
        // Counted before anything is copied: 10,000 names are refused as 33 are.
        assert_eq!(
            covered_names(&vec!["x"; 10_000].join(" ")),
            Err(too_many.clone())
        );
        let names = |n: usize| (0..n).map(|i| format!("x-{i}")).collect::<Vec<_>>();
        assert_eq!(
            parse(&Method::POST, INBOX, &covering(&names(MAX_COVERED - 3))).unwrap_err(),
            too_many
        );
        assert_eq!(
            too_many.to_string(),
            "signature refused: the Signature header lists more than 32 names in `headers` \
             (send fewer)"
        );
        // The cap is the bound on the work: the most a signature can cover is MAX_COVERED
        // lines.
        let most = parse(&Method::POST, INBOX, &covering(&names(MAX_COVERED - 4))).unwrap();
        assert_eq!(most.base_lines(), MAX_COVERED);
        verify(&most, &public_key(), FOLLOW, at(0)).unwrap();
    }

    #[test]
    fn rejects_a_covered_name_listed_twice_ignoring_case() {
        assert_eq!(
            covered_names("date x X"),
            Err(SignatureError::CoveredTwice {
                header: "Signature",
                name: "x".to_owned()
            })
        );
        let headers = cavage_post(
            "host date digest",
            &rsa_sha256("(request-target) host date Date digest"),
        );
        assert_eq!(
            parse(&Method::POST, INBOX, &headers)
                .unwrap_err()
                .to_string(),
            "signature refused: the Signature header covers `date` twice (names are compared \
             ignoring case; list each once)"
        );
    }

    #[test]
    fn rejects_more_signature_parameters_than_the_cap() {
        let params: Vec<String> = (0..=MAX_CAVAGE_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            parse_params(&params.join(",")),
            Err(SignatureError::TooMany {
                header: "Signature",
                what: "parameters",
                max: MAX_CAVAGE_PARAMS
            })
        );
        assert_eq!(
            parse_params(&params[..MAX_CAVAGE_PARAMS].join(","))
                .unwrap()
                .len(),
            MAX_CAVAGE_PARAMS
        );
    }

    #[test]
    fn rejects_a_digest_giving_sha256_twice() {
        let twice = format!("SHA-256={FOLLOW_SHA256}, sha-256=bm90IHRoZSBib2R5");
        assert_eq!(
            verify_post(&mastodon_post_with_digest(0, &twice), 0)
                .unwrap_err()
                .to_string(),
            "signature refused: the Digest header is malformed: it gives SHA-256 more than once \
             (send one SHA-256 value)"
        );
    }

    #[test]
    fn rejects_an_expires_before_created() {
        assert_eq!(
            verify_post(&hs2019_post(T0, Some(T0 - 1)), 0)
                .unwrap_err()
                .to_string(),
            format!(
                "signature refused: the Signature header is malformed: `expires` ({}) is before \
                 `created` ({T0})",
                T0 - 1
            )
        );
    }

    #[test]
    fn rejects_quoted_values_and_tokens_outside_rfc_9110() {
        for (raw, why) in [
            ("keyId=\"a\\", "`keyId` has no closing quote"),
            (
                "keyId=\"a\\\u{1}\"",
                "`keyId` escapes a character that is not visible ASCII",
            ),
            (
                "keyId=\"a\u{7f}\"",
                "`keyId` contains a character that is not visible ASCII",
            ),
            (
                "keyId=\"\u{e9}\"",
                "`keyId` contains a character that is not visible ASCII",
            ),
            ("keyId=a\"b\"", "expected a comma after `keyId`"),
            ("keyId=a b", "expected a comma after `keyId`"),
            ("keyId=,algorithm=hs2019", "`keyId` has no value"),
        ] {
            assert_eq!(
                parse_params(raw),
                Err(malformed("Signature", why)),
                "{raw:?}"
            );
        }
        let params = parse_params("keyId=\"a\\\\b\\c\td\"").unwrap();
        assert_eq!(params["keyId"], "a\\bc\td");
    }

    #[test]
    fn rejects_signing_a_request_with_two_host_headers() {
        let url = Url::parse("https://remote.example/users/alice/inbox").unwrap();
        let mut headers = header_map(&[("host", "remote.example"), ("host", "evil.example")]);
        let error = sign_request(
            &signing_key(),
            &Method::POST,
            &url,
            &mut headers,
            None,
            at(0),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "signing failed: the request to https://remote.example/users/alice/inbox has more \
             than one Host header (set one)"
        );
    }

    #[test]
    fn can_parse_cavage_params_with_tokens_spaces_and_escapes() {
        let params = parse_params(
            "keyId=\"https://a.example/u#k\", algorithm=hs2019 ,created=1767225600,\
             headers=\"(created)\",note=\"a \\\"b\\\"\"",
        )
        .unwrap();
        assert_eq!(params["keyId"], "https://a.example/u#k");
        assert_eq!(params["algorithm"], "hs2019");
        assert_eq!(params["created"], "1767225600");
        assert_eq!(params["note"], "a \"b\"");
        assert_eq!(
            parse_params("keyId=\"a\",keyId=\"b\"")
                .unwrap_err()
                .to_string(),
            "signature refused: the Signature header is malformed: `keyId` is given twice"
        );
    }
}
