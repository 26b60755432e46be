//! What the signature tests share: the fixed keys and clock, requests signed by hand (their
//! signature bases are written out here, independently of the code under test) and the checks
//! every scheme's tests make.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::{HeaderMap, Method};
use url::Url;

use super::{
    digest_header, parse, sign_request, verify, PublicKey, SignatureError, SignedRequest,
    SigningKey,
};

pub(super) const TEST_KEY_PEM: &str = include_str!("../../../tests/fixtures/keys/test-actor.pem");
pub(super) const TEST_SPKI_PEM: &str =
    include_str!("../../../tests/fixtures/keys/test-actor.pub.pem");
const OTHER_SPKI_PEM: &str = include_str!("../../../tests/fixtures/keys/other-actor.pub.pem");
pub(super) const FOLLOW: &[u8] = include_bytes!("../../../tests/fixtures/signatures/follow.json");
/// `openssl dgst -sha256 -binary follow.json | base64`
pub(super) const FOLLOW_SHA256: &str = "rfKHzj9Hpgx37cWSiSaizuRvwPZYVUiojU+yFy1ugUQ=";

/// 2026-01-01T00:00:00Z, a Thursday: every test's clock is set relative to it.
pub(super) const T0: i64 = 1_767_225_600;
pub(super) const MIN: i64 = 60;
pub(super) const HOUR: i64 = 60 * MIN;
pub(super) const OUR_KEY_ID: &str = "https://masthead.example/users/news#main-key";
pub(super) const REMOTE_KEY_ID: &str = "https://remote.example/users/alice#main-key";
pub(super) const INBOX: &str = "/users/news/inbox";

pub(super) fn at(offset: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(T0 + offset).unwrap())
}

pub(super) fn http_date(offset: i64) -> String {
    httpdate::fmt_http_date(at(offset))
}

pub(super) fn signing_key() -> SigningKey {
    SigningKey::from_pkcs8_pem(OUR_KEY_ID, TEST_KEY_PEM).unwrap()
}

pub(super) fn public_key() -> PublicKey {
    PublicKey::from_pem(TEST_SPKI_PEM).unwrap()
}

pub(super) fn sign_base64(base: &str) -> String {
    STANDARD.encode(signing_key().sign_bytes(base.as_bytes()).unwrap())
}

pub(super) fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    headers
}

/// Checks an openssl-signed fixture from tests/fixtures/signatures (see the README there): `NAME.txt`
/// is a signature base, `NAME.sig` its base64 signature. `pairs` are the request's headers, with
/// `{signature}` standing for that signature; masthead must rebuild the fixture's base from them
/// and verify it at T0 + 10 s. Returns the parsed signature for further checks.
pub(super) fn verify_openssl_fixture(
    name: &str,
    method: &Method,
    target: &str,
    pairs: &[(&str, &str)],
    body: &[u8],
) -> SignedRequest {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signatures");
    let read = |ext: &str| std::fs::read_to_string(format!("{dir}/{name}.{ext}")).unwrap();
    let (base, signature) = (read("txt"), read("sig"));
    let values: Vec<String> = pairs
        .iter()
        .map(|(_, value)| value.replace("{signature}", signature.trim()))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .zip(&values)
        .map(|((name, _), value)| (*name, value.as_str()))
        .collect();
    let signed = parse(method, target, &header_map(&pairs)).unwrap();
    assert_eq!(signed.bases[0], base);
    verify(&signed, &public_key(), body, at(10)).unwrap();
    signed
}

/// The headers `sign_request` leaves on a request to `url` signed with the test key at T0, on top
/// of `pairs`.
pub(super) fn signed_by_us(
    method: &Method,
    url: &str,
    pairs: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HeaderMap {
    let mut headers = header_map(pairs);
    let url = Url::parse(url).unwrap();
    sign_request(&signing_key(), method, &url, &mut headers, body, at(0)).unwrap();
    headers
}

/// A draft-cavage request signed by hand with the test key. The signing string is written out
/// here from the `headers` param (or the default for the algorithm), independently of the code
/// under test. `params` go into the Signature header in order, before `signature`.
pub(super) fn cavage_signed(
    method: &Method,
    signed_target: &str,
    pairs: &[(&str, &str)],
    params: &[(&str, &str)],
) -> HeaderMap {
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let default = if param("algorithm") == Some("rsa-sha256") {
        "date"
    } else {
        "(created)"
    };
    let lines: Vec<String> = param("headers")
        .unwrap_or(default)
        .split(' ')
        .map(|name| match name {
            "(request-target)" => format!(
                "(request-target): {} {signed_target}",
                method.as_str().to_lowercase()
            ),
            "(created)" => format!("(created): {}", param("created").unwrap()),
            "(expires)" => format!("(expires): {}", param("expires").unwrap()),
            header => {
                let value = pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(header));
                format!("{header}: {}", value.map_or("", |(_, v)| *v))
            }
        })
        .collect();
    let mut value = format!("keyId=\"{REMOTE_KEY_ID}\"");
    for (k, v) in params {
        value.push_str(&format!(",{k}=\"{v}\""));
    }
    value.push_str(&format!(
        ",signature=\"{}\"",
        sign_base64(&lines.join("\n"))
    ));
    let mut headers = header_map(pairs);
    headers.insert("signature", value.parse().unwrap());
    headers
}

/// Signature params for `rsa-sha256` covering `covered`.
pub(super) fn rsa_sha256(covered: &str) -> [(&'static str, &str); 2] {
    [("algorithm", "rsa-sha256"), ("headers", covered)]
}

/// A draft-cavage POST of `FOLLOW` to the inbox signed with `params`, carrying those of Host,
/// Date (T0) and Digest (of `FOLLOW`) that `carried` names (`"host date digest"`).
pub(super) fn cavage_post(carried: &str, params: &[(&str, &str)]) -> HeaderMap {
    let date = http_date(0);
    let digest = digest_header(FOLLOW);
    let pairs: Vec<(&str, &str)> = [
        ("host", "masthead.example"),
        ("date", date.as_str()),
        ("digest", digest.as_str()),
    ]
    .into_iter()
    .filter(|(name, _)| carried.split(' ').any(|c| c == *name))
    .collect();
    cavage_signed(&Method::POST, INBOX, &pairs, params)
}

/// An inbox POST of `FOLLOW` as Mastodon signs it, dated `date_offset` seconds from T0.
pub(super) fn mastodon_post(date_offset: i64) -> HeaderMap {
    mastodon_post_with_digest(date_offset, &digest_header(FOLLOW))
}

/// [`mastodon_post`] with `digest` as its (signed) Digest header.
pub(super) fn mastodon_post_with_digest(date_offset: i64, digest: &str) -> HeaderMap {
    let date = http_date(date_offset);
    cavage_signed(
        &Method::POST,
        INBOX,
        &[
            ("host", "masthead.example"),
            ("date", &date),
            ("digest", digest),
        ],
        &rsa_sha256("(request-target) host date digest"),
    )
}

/// An hs2019 POST covering `(created)` and, if given, `(expires)`; it has no Date header.
pub(super) fn hs2019_post(created: i64, expires: Option<i64>) -> HeaderMap {
    let created = created.to_string();
    let expires = expires.map(|e| e.to_string());
    let mut params = vec![("algorithm", "hs2019")];
    match &expires {
        Some(expires) => params.extend([
            (
                "headers",
                "(request-target) host (created) (expires) digest",
            ),
            ("created", created.as_str()),
            ("expires", expires.as_str()),
        ]),
        None => params.extend([
            ("headers", "(request-target) host (created) digest"),
            ("created", created.as_str()),
        ]),
    }
    cavage_post("host digest", &params)
}

/// Parses and verifies `headers` as a POST of `FOLLOW` to the inbox, at `now` seconds from T0.
pub(super) fn verify_post(headers: &HeaderMap, now: i64) -> Result<(), SignatureError> {
    let signed = parse(&Method::POST, INBOX, headers)?;
    verify(&signed, &public_key(), FOLLOW, at(now))
}

/// Parses and verifies `headers` as a GET of `target` at T0.
pub(super) fn verify_get(target: &str, headers: &HeaderMap) -> Result<(), SignatureError> {
    let signed = parse(&Method::GET, target, headers)?;
    verify(&signed, &public_key(), b"", at(0))
}

/// One row of a table of verifications: what the case is, what verifying gave, and what it should
/// give: `Ok(())` for accepted, `Err(message)` for refused with that message. `...` at either end
/// of the message stands for any text, so `"...Date is 2h10m old..."` checks a part of it.
pub(super) type Case<'a> = (&'a str, Result<(), SignatureError>, Result<(), &'a str>);

/// Checks every row of a table of verifications (see [`Case`]).
pub(super) fn assert_outcomes(cases: &[Case<'_>]) {
    for (case, outcome, expected) in cases {
        match (outcome, expected) {
            (Ok(()), Ok(())) => {}
            (Err(error), Err(pattern)) => {
                let message = error.to_string();
                let (any_before, part) = match pattern.strip_prefix("...") {
                    Some(part) => (true, part),
                    None => (false, *pattern),
                };
                let (any_after, part) = match part.strip_suffix("...") {
                    Some(part) => (true, part),
                    None => (false, part),
                };
                let fits = match (any_before, any_after) {
                    (false, false) => message == part,
                    (false, true) => message.starts_with(part),
                    (true, false) => message.ends_with(part),
                    (true, true) => message.contains(part),
                };
                assert!(
                    fits,
                    "{case}: refused with\n  {message:?}\nexpected\n  {pattern:?}"
                );
            }
            (outcome, expected) => panic!("{case}: got {outcome:?}, expected {expected:?}"),
        }
    }
}

/// Asserts that `headers`, a valid signed POST of `FOLLOW` to the inbox, does not verify once it
/// arrives at another path, nor against another key.
pub(super) fn assert_bound_to_path_and_key(headers: &HeaderMap) {
    let elsewhere = parse(&Method::POST, "/users/other/inbox", headers).unwrap();
    let error = verify(&elsewhere, &public_key(), FOLLOW, at(0)).unwrap_err();
    assert!(matches!(error, SignatureError::BadSignature { .. }));

    let other_key = PublicKey::from_pem(OTHER_SPKI_PEM).unwrap();
    let signed = parse(&Method::POST, INBOX, headers).unwrap();
    let error = verify(&signed, &other_key, FOLLOW, at(0)).unwrap_err();
    assert!(matches!(error, SignatureError::BadSignature { .. }));
}

/// Asserts that `error` is a body digest mismatch on `header`'s `algorithm`.
pub(super) fn assert_digest_mismatch(error: &SignatureError, header: &str, algorithm: &str) {
    let SignatureError::DigestMismatch {
        header: got_header,
        algorithm: got_algorithm,
        ..
    } = error
    else {
        panic!("expected a digest mismatch, got {error:?}");
    };
    assert_eq!((*got_header, *got_algorithm), (header, algorithm));
}
