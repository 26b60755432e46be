//! HTTP signatures: signing the requests masthead sends and verifying the ones it receives.
//!
//! This module owns the wire formats and the cryptography:
//! - signing with draft-cavage-http-signatures-12 `rsa-sha256`, which every fediverse server accepts
//!   ([`sign_request`], [`SigningKey`], [`digest_header`]);
//! - verifying draft-cavage signatures by the rules Mastodon applies (app/lib/signed_request.rb),
//!   and RFC 9421 HTTP Message Signatures (`Signature-Input`/`Signature`, `rsa-v1_5-sha256`) as
//!   Mastodon 4.5+ and Fedify send them ([`parse`], [`verify`], [`PublicKey`]).
//!
//! Verification runs cheapest first, so that no request makes masthead fetch a key (a URL of the
//! sender's choosing) or run RSA for nothing:
//! 1. [`parse`] bounds the work before reading anything: a signature-relevant header (`Signature`,
//!    `Signature-Input`, `Host`, `Date`, `Digest`, `Content-Digest`) given twice is refused, the
//!    `Signature`/`Signature-Input` values are at most [`MAX_SIGNATURE_HEADER_BYTES`] and any
//!    other header copied into a signature base at most [`MAX_SIGNED_FIELD_BYTES`], a signature
//!    covers at most [`MAX_COVERED`] names, each once (ignoring case), and the structured-field
//!    parser is linear with its own caps. Then it refuses weak or malformed signatures and builds
//!    the signature base (at most `MAX_COVERED` lines of bounded length).
//! 2. [`SignedRequest::check_without_key`] checks the time window, the body against the signed
//!    digest and the `keyId`'s shape ([`check_key_id`]), and returns the URL to fetch.
//! 3. The inbox fetches the key (not this module), then [`verify`] checks everything of step 2
//!    again (it stands alone; the checks are cheap) and the RSA signature.
//!
//! It does not own fetching or caching keys, checking that the key belongs to the activity's actor,
//! refetching a rotated key, rate limits, or what the inbox answers: those are inbox and fetch
//! policy. Every [`SignatureError`] means "do not trust this request" (the inbox maps it to 401).
//!
//! RSA signing and verification go through AWS-LC (`aws_lc_rs`, ring's API: constant time, fast); the `rsa` crate is used
//! only to parse and convert key encodings.
//!
//! This file holds what both schemes share: the error, the parsed [`SignedRequest`], the entry
//! points that pick a scheme, and the time window, digest and RSA checks of [`verify`]. Each
//! scheme's wire format lives in its own file (`cavage`, `rfc9421`), keys and PEM in `keys`, and
//! the RFC 8941 structured-field parser RFC 9421 needs in `structured_fields`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::{HeaderMap, Method};
use sha2::{Digest as _, Sha256, Sha512};
use thiserror::Error;

mod cavage;
mod key_id;
mod keys;
#[cfg(test)]
mod proptests;
mod rfc9421;
mod structured_fields;
#[cfg(test)]
mod test_support;

pub use cavage::{digest_header, sign_request};
pub use key_id::{check_key_id, KeyIdRules, MAX_KEY_ID_BYTES};
pub use keys::{PublicKey, SigningKey};
pub use rfc9421::content_digest_header;

/// The longest `Signature` or `Signature-Input` value read, checked before any parsing. An RSA
/// 4096 signature is 684 base64 characters and Mastodon's whole header about 600 more; 8 KiB is
/// the per-header cap of the HTTP layer too.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 8 * 1024;

/// The longest value (all its lines joined) of a header copied into a signature base.
pub const MAX_SIGNED_FIELD_BYTES: usize = 8 * 1024;

/// How many headers / components one signature may cover. Mastodon signs 4, Fedify 6; a base is
/// then at most `MAX_COVERED` lines of at most `MAX_SIGNED_FIELD_BYTES` each.
pub const MAX_COVERED: usize = 32;

/// Headers a signature depends on that a request must carry at most once: joining repeated lines
/// (as HTTP allows for list-valued fields) would let a proxy and masthead read different values.
const ONCE_ONLY_HEADERS: [&str; 6] = [
    "signature",
    "signature-input",
    "host",
    "date",
    "digest",
    "content-digest",
];

/// How far ahead of our clock a signature's Date / `created` may be, and how long after its
/// lifetime ends it is still accepted. Mastodon's `CLOCK_SKEW_MARGIN = 1.hour`
/// (app/lib/signed_request.rb); stricter receivers (Misskey 5 min, PeerTube 2 s ahead) are why we
/// *sign* with the current time, but we accept what Mastodon accepts.
const CLOCK_SKEW_SECS: i64 = 60 * 60;

/// How long a signature without `expires` lives after its Date / `created`: Mastodon's
/// `created_time + 5.minutes`. With the clock skew margin this is the "at most 65 minutes old"
/// rule.
const DEFAULT_LIFETIME_SECS: i64 = 5 * 60;

/// The longest any signature lives after its Date / `created`, whatever its `expires` says:
/// Mastodon's `EXPIRATION_WINDOW_LIMIT = 12.hours`, which clamps `expires` to `created + 12 h`
/// (the clock skew margin still applies on top, as in Mastodon).
const MAX_LIFETIME_SECS: i64 = 12 * 60 * 60;

/// Base64 that accepts values with or without `=` padding: RFC 8941 asks parsers of byte
/// sequences to be lenient about padding, and some servers strip it from `Digest`.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a signature was refused, or a key could not be used.
///
/// Messages read `what failed: why (what to do)` and name the offending header or parameter, so the
/// inbox can log them as they are.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error(
        "signature refused: the request has no Signature header (sign it with \
         draft-cavage-http-signatures-12 or RFC 9421)"
    )]
    Unsigned,

    #[error("signature refused: the {header} header is malformed: {why}")]
    Malformed { header: String, why: String },

    #[error("signature refused: the {header} header has no `{param}` parameter")]
    MissingParameter {
        header: &'static str,
        param: &'static str,
    },

    #[error(
        "signature refused: algorithm `{algorithm}` in the {header} header is not supported \
         (use {supported})"
    )]
    UnsupportedAlgorithm {
        header: &'static str,
        algorithm: String,
        supported: &'static str,
    },

    #[error("signature refused: the signature must cover {required}{when} (it covers: {covered})")]
    NotCovered {
        required: &'static str,
        when: &'static str,
        covered: String,
    },

    #[error("signature refused: `{component}` cannot be verified: {why}")]
    UnsupportedComponent {
        component: String,
        why: &'static str,
    },

    #[error("signature refused: `{name}` is signed but the request has no {name} header")]
    MissingSignedHeader { name: String },

    #[error(
        "signature refused: the request carries the {name} header {count} times \
         (send it once)"
    )]
    RepeatedHeader { name: String, count: usize },

    #[error(
        "signature refused: the {header} header is {len} bytes, more than the {max} masthead \
         reads (send a shorter one)"
    )]
    TooLong {
        header: String,
        len: usize,
        max: usize,
    },

    #[error("signature refused: the {header} header lists more than {max} {what} (send fewer)")]
    TooMany {
        header: &'static str,
        what: &'static str,
        max: usize,
    },

    #[error(
        "signature refused: the {header} header covers `{name}` twice (names are compared \
         ignoring case; list each once)"
    )]
    CoveredTwice { header: &'static str, name: String },

    #[error(
        "signature refused: keyId {key_id:?} cannot be fetched: {why} (use the https URL of the \
         actor's key, like https://example.com/users/alice#main-key)"
    )]
    BadKeyId { key_id: String, why: String },

    #[error(
        "signature refused: {field} is {age} old, more than the {} allowed \
         (sign with the current time)",
        spoken(DEFAULT_LIFETIME_SECS + CLOCK_SKEW_SECS)
    )]
    TooOld { field: &'static str, age: String },

    #[error(
        "signature refused: {field} is {ahead} in the future, more than the {} allowed for \
         clock skew (check the sender's clock)",
        spoken(CLOCK_SKEW_SECS)
    )]
    TooFarAhead { field: &'static str, ahead: String },

    #[error(
        "signature refused: expires passed {ago} ago, more than the {} allowed for clock skew \
         (sign again)",
        spoken(CLOCK_SKEW_SECS)
    )]
    Expired { ago: String },

    #[error(
        "signature refused: {field} is {age} old; no signature lives longer than {} \
         (+{} clock skew), whatever its expires says (sign again)",
        spoken(MAX_LIFETIME_SECS),
        spoken(CLOCK_SKEW_SECS)
    )]
    PastLifetimeCap { field: &'static str, age: String },

    #[error("signature refused: the {header} header offers {offered}, but {needed} is required")]
    UnsupportedDigest {
        header: &'static str,
        offered: String,
        needed: &'static str,
    },

    #[error(
        "signature refused: the {header} header's {algorithm} does not match the body \
         (computed {computed}, given {given})"
    )]
    DigestMismatch {
        header: &'static str,
        algorithm: &'static str,
        computed: String,
        given: String,
    },

    #[error(
        "signature refused: the signature does not verify with the key {key_id} \
         (the request was altered, or it was signed with another key)"
    )]
    BadSignature { key_id: String },

    #[error("{which} key: {why}")]
    InvalidKey { which: &'static str, why: String },

    #[error("signing failed: {why}")]
    Signing { why: String },
}

fn malformed(header: impl Into<String>, why: impl Into<String>) -> SignatureError {
    SignatureError::Malformed {
        header: header.into(),
        why: why.into(),
    }
}

/// Which signature standard a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// draft-cavage-http-signatures-12: a `Signature: keyId=...,headers=...` header.
    DraftCavage12,
    /// RFC 9421 HTTP Message Signatures: `Signature-Input` and `Signature` headers.
    Rfc9421,
}

/// A request's signature, parsed and checked for strength, waiting for its key.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    spec: Spec,
    key_id: String,
    signature: Vec<u8>,
    /// Signature bases to try, in order. Draft-cavage has a second one without the query string.
    bases: Vec<String>,
    /// Unix seconds of the signed Date or `created`.
    created: i64,
    /// Which of the two `created` came from, for messages.
    created_field: &'static str,
    /// Unix seconds of a signed `expires`.
    expires: Option<i64>,
    body_digest: Option<BodyDigest>,
}

impl SignedRequest {
    /// The `keyId` / `keyid` naming the key to verify with (fetch it, then call [`verify`]).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Everything that can be checked before the key is fetched: the time window, `body` against
    /// the signed digest, and the `keyId`'s shape under `rules`. Returns the key's URL to fetch
    /// (call [`verify`] with the key once fetched). `now` is the current time.
    pub fn check_without_key(
        &self,
        now: SystemTime,
        body: &[u8],
        rules: KeyIdRules,
    ) -> Result<url::Url, SignatureError> {
        check_time_window(self, unix_seconds(now))?;
        if let Some(digest) = &self.body_digest {
            check_body_digest(digest, body)?;
        }
        check_key_id(&self.key_id, rules)
    }

    /// The number of lines of the (first) signature base: one per covered name, plus RFC 9421's
    /// `@signature-params`. Never more than [`MAX_COVERED`] + 1.
    pub fn base_lines(&self) -> usize {
        self.bases.first().map_or(0, |base| base.lines().count())
    }

    /// Which standard the signature follows.
    pub fn spec(&self) -> Spec {
        self.spec
    }
}

/// The digests a signed `Digest` / `Content-Digest` header claims for the body.
#[derive(Debug, Clone)]
struct BodyDigest {
    header: &'static str,
    claims: Vec<(DigestAlgorithm, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    fn compute(self, body: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(body).to_vec(),
            Self::Sha512 => Sha512::digest(body).to_vec(),
        }
    }
}

/// Parses the signature of a request received over https. See [`parse_with_url_scheme`].
pub fn parse(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Result<SignedRequest, SignatureError> {
    parse_with_url_scheme("https", method, path_and_query, headers)
}

/// Parses the signature of a request: `path_and_query` is the request target exactly as on the
/// request line (`/users/news/inbox?x=1`), `url_scheme` the scheme the sender used (it enters RFC
/// 9421's `@target-uri` and `@scheme`; behind a TLS-terminating proxy it is still `https`).
///
/// RFC 9421 is chosen when `Signature-Input` is present (as Mastodon does), draft-cavage
/// otherwise. Refuses, before any key is fetched: a missing or malformed signature, an unsupported
/// algorithm, a signature that does not cover what Mastodon requires, and a signed header missing
/// from the request.
pub fn parse_with_url_scheme(
    url_scheme: &str,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Result<SignedRequest, SignatureError> {
    for name in ONCE_ONLY_HEADERS {
        let count = headers.get_all(name).iter().count();
        if count > 1 {
            return Err(SignatureError::RepeatedHeader {
                name: display_name(name),
                count,
            });
        }
    }
    if headers.contains_key("signature-input") {
        rfc9421::parse(url_scheme, method, path_and_query, headers)
    } else if headers.contains_key("signature") {
        cavage::parse(method, path_and_query, headers)
    } else {
        Err(SignatureError::Unsigned)
    }
}

/// All values of a header, trimmed and joined with `, ` (how both standards combine repeated
/// fields), or `None` when the request lacks it. Refused, before anything is copied, when the
/// joined value would be longer than `max` (`Signature`, `Signature-Input`: the
/// [`MAX_SIGNATURE_HEADER_BYTES`]; any other header: [`MAX_SIGNED_FIELD_BYTES`]). The
/// [`ONCE_ONLY_HEADERS`] have one value here: [`parse_with_url_scheme`] refused them repeated.
fn field_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, SignatureError> {
    let max = match name {
        "signature" | "signature-input" => MAX_SIGNATURE_HEADER_BYTES,
        _ => MAX_SIGNED_FIELD_BYTES,
    };
    let mut len = 0usize;
    for (i, value) in headers.get_all(name).iter().enumerate() {
        len = len.saturating_add(value.len() + if i > 0 { 2 } else { 0 });
    }
    if len > max {
        return Err(SignatureError::TooLong {
            header: display_name(name),
            len,
            max,
        });
    }
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let value = value
            .to_str()
            .map_err(|_| malformed(name, "it contains bytes that are not visible ASCII"))?;
        values.push(value.trim());
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// `content-digest` -> `Content-Digest`, for messages.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Refuses a `created` before 1970 and an `expires` before `created`, in either scheme's
/// `header`: neither can come from an honest signer, and both would only feed odd arithmetic.
fn check_created_and_expires(
    header: &'static str,
    created: i64,
    expires: Option<i64>,
) -> Result<(), SignatureError> {
    if created < 0 {
        return Err(malformed(
            header,
            format!("`created` is {created}, before 1970 (sign with the current time)"),
        ));
    }
    if let Some(expires) = expires.filter(|&expires| expires < created) {
        return Err(malformed(
            header,
            format!("`expires` ({expires}) is before `created` ({created})"),
        ));
    }
    Ok(())
}

/// Like [`field_value`] for a header the signature covers: missing means refused.
fn signed_field(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    field_value(headers, name)?.ok_or_else(|| SignatureError::MissingSignedHeader {
        name: name.to_owned(),
    })
}

/// Verifies a parsed signature against the sender's public key: the time window (Date / `created`
/// at most 1 h ahead and at most 65 min old, or a signed `expires` capped at 12 h), the body
/// digest when one is signed, then the RSA signature (with AWS-LC). `body` is the raw request body
/// (empty for a GET); `now` is the current time.
pub fn verify(
    signed: &SignedRequest,
    key: &PublicKey,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    check_time_window(signed, unix_seconds(now))?;
    if let Some(digest) = &signed.body_digest {
        check_body_digest(digest, body)?;
    }
    if signed.bases.iter().any(|base| {
        key.parsed
            .verify_sig(base.as_bytes(), &signed.signature)
            .is_ok()
    }) {
        Ok(())
    } else {
        Err(SignatureError::BadSignature {
            key_id: signed.key_id.clone(),
        })
    }
}

/// Mastodon's `matches_time_window?`: the signature lives from `created` until `expires` (default
/// `created + 5 min`, never past `created + 12 h`), give or take the 1 h clock skew margin.
///
/// The arithmetic saturates: `now` and `created` may be anywhere in `i64` (a clock far in the
/// future, a `created` of 19 digits) without overflowing.
fn check_time_window(signed: &SignedRequest, now: i64) -> Result<(), SignatureError> {
    let created = signed.created;
    let field = signed.created_field;
    if created > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(SignatureError::TooFarAhead {
            field,
            ahead: human_duration(created.saturating_sub(now)),
        });
    }
    let cap = created.saturating_add(MAX_LIFETIME_SECS);
    let lifetime_end = signed
        .expires
        .unwrap_or(created.saturating_add(DEFAULT_LIFETIME_SECS))
        .min(cap);
    if now > lifetime_end.saturating_add(CLOCK_SKEW_SECS) {
        return Err(match signed.expires {
            None => SignatureError::TooOld {
                field,
                age: human_duration(now.saturating_sub(created)),
            },
            Some(expires) if expires <= cap => SignatureError::Expired {
                ago: human_duration(now.saturating_sub(expires)),
            },
            Some(_) => SignatureError::PastLifetimeCap {
                field,
                age: human_duration(now.saturating_sub(created)),
            },
        });
    }
    Ok(())
}

fn check_body_digest(digest: &BodyDigest, body: &[u8]) -> Result<(), SignatureError> {
    for (algorithm, given) in &digest.claims {
        let computed = algorithm.compute(body);
        if computed != *given {
            let name = match (digest.header, algorithm) {
                ("Digest", _) => "SHA-256",
                (_, DigestAlgorithm::Sha256) => "sha-256",
                (_, DigestAlgorithm::Sha512) => "sha-512",
            };
            return Err(SignatureError::DigestMismatch {
                header: digest.header,
                algorithm: name,
                computed: STANDARD.encode(computed),
                given: STANDARD.encode(given),
            });
        }
    }
    Ok(())
}

/// Unix seconds, saturating at `i64::MAX` / `-i64::MAX` for times no clock shows.
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `65 minutes`, `1 hour`, `12 hours`: the limits in error messages, from their constants.
fn spoken(seconds: i64) -> String {
    let (amount, unit) = if seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("{amount} {unit}{plural}")
}

/// `2h10m`, `6m30s`, `45s`: durations in error messages.
fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (hours, minutes, seconds) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (hours, minutes, seconds) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// RFC 9110 `tchar`: what a token (and a draft-cavage parameter name) may contain.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::test_support::{
        assert_outcomes, at, cavage_post, header_map, hs2019_post, mastodon_post, verify_post,
        FOLLOW, HOUR, INBOX, MIN, REMOTE_KEY_ID, T0,
    };
    use super::*;

    /// `headers` with one more `name: value` line.
    fn with_extra(headers: &HeaderMap, name: &'static str, value: &str) -> HeaderMap {
        let mut headers = headers.clone();
        headers.append(name, value.parse().unwrap());
        headers
    }

    fn parse_post(headers: &HeaderMap) -> Result<SignedRequest, SignatureError> {
        parse(&Method::POST, INBOX, headers)
    }

    #[test]
    fn rejects_a_request_carrying_a_signature_relevant_header_twice() {
        let cavage = mastodon_post(0);
        let rfc9421 = header_map(&[
            ("signature-input", "sig1=(\"@method\");created=1"),
            ("signature", "sig1=:AAAA:"),
            ("content-digest", "sha-256=:AAAA:"),
        ]);
        for (headers, name, shown) in [
            (&cavage, "signature", "Signature"),
            (&cavage, "host", "Host"),
            (&cavage, "date", "Date"),
            (&cavage, "digest", "Digest"),
            (&rfc9421, "signature-input", "Signature-Input"),
            (&rfc9421, "content-digest", "Content-Digest"),
        ] {
            let value = headers.get(name).unwrap().to_str().unwrap().to_owned();
            let error = parse_post(&with_extra(headers, name, &value)).unwrap_err();
            assert_eq!(
                error,
                SignatureError::RepeatedHeader {
                    name: shown.to_owned(),
                    count: 2
                },
                "{name}"
            );
        }
        assert_eq!(
            parse_post(&with_extra(
                &cavage,
                "date",
                "Thu, 01 Jan 2026 00:00:00 GMT"
            ))
            .unwrap_err()
            .to_string(),
            "signature refused: the request carries the Date header 2 times (send it once)"
        );
    }

    #[test]
    fn rejects_an_over_long_signature_header_before_parsing_it() {
        // 10,000 repeated names once made 10,000 signing-string lines (2.9 GB for 120 KB).
        let names = vec!["x"; 10_000].join(" ");
        let cavage = header_map(&[(
            "signature",
            &format!("keyId=\"{REMOTE_KEY_ID}\",headers=\"{names}\",signature=\"AAAA\""),
        )]);
        let len = cavage["signature"].len();
        assert_eq!(
            parse_post(&cavage).unwrap_err(),
            SignatureError::TooLong {
                header: "Signature".to_owned(),
                len,
                max: MAX_SIGNATURE_HEADER_BYTES
            }
        );
        assert_eq!(
            parse_post(&cavage).unwrap_err().to_string(),
            format!(
                "signature refused: the Signature header is {len} bytes, more than the 8192 \
                 masthead reads (send a shorter one)"
            )
        );

        // The 60,000-member Signature-Input that once took 6.6 s of CPU.
        let members: Vec<String> = (0..60_000).map(|i| format!("s{i}=(\"a\")")).collect();
        let rfc9421 = header_map(&[
            ("signature-input", &members.join(",")),
            ("signature", "sig1=:AAAA:"),
        ]);
        assert!(matches!(
            parse_post(&rfc9421).unwrap_err(),
            SignatureError::TooLong { header, max: MAX_SIGNATURE_HEADER_BYTES, .. }
                if header == "Signature-Input"
        ));
    }

    #[test]
    fn rejects_an_over_long_header_before_copying_it_into_a_signing_string() {
        let long = "v".repeat(MAX_SIGNED_FIELD_BYTES + 1);
        let headers = cavage_post(
            "host date digest",
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date digest x-long"),
            ],
        );
        assert_eq!(
            parse_post(&with_extra(&headers, "x-long", &long)).unwrap_err(),
            SignatureError::TooLong {
                header: "X-Long".to_owned(),
                len: MAX_SIGNED_FIELD_BYTES + 1,
                max: MAX_SIGNED_FIELD_BYTES
            }
        );
        // Repeated lines of an ordinary header are joined, and the joined value is capped.
        let half = "v".repeat(MAX_SIGNED_FIELD_BYTES / 2);
        let twice = with_extra(&with_extra(&headers, "x-long", &half), "x-long", &half);
        assert!(matches!(
            parse_post(&twice).unwrap_err(),
            SignatureError::TooLong { len, .. } if len == MAX_SIGNED_FIELD_BYTES + 2
        ));
    }

    #[test]
    fn can_check_time_digest_and_key_id_before_the_key_is_fetched() {
        let signed = parse_post(&mastodon_post(0)).unwrap();
        let strict = KeyIdRules::default();
        assert_eq!(
            signed
                .check_without_key(at(5), FOLLOW, strict)
                .unwrap()
                .as_str(),
            REMOTE_KEY_ID
        );
        assert!(matches!(
            signed.check_without_key(at(2 * HOUR), FOLLOW, strict),
            Err(SignatureError::TooOld { .. })
        ));
        assert!(matches!(
            signed.check_without_key(at(5), b"{}", strict),
            Err(SignatureError::DigestMismatch { .. })
        ));
        let mut on_a_port = signed.clone();
        on_a_port.key_id = "https://remote.example:8443/users/alice#main-key".to_owned();
        assert!(matches!(
            on_a_port.check_without_key(at(5), FOLLOW, strict),
            Err(SignatureError::BadKeyId { .. })
        ));
        let dev = KeyIdRules {
            allow_any_port: true,
            ..strict
        };
        assert!(on_a_port.check_without_key(at(5), FOLLOW, dev).is_ok());
    }

    #[test]
    fn can_survive_clocks_and_times_at_the_ends_of_i64() {
        let mut signed = parse_post(&mastodon_post(0)).unwrap();
        // Each of these overflowed (a panic in debug builds) before the arithmetic saturated.
        for (created, expires, now, accepted) in [
            (0, None, i64::MAX, false),
            (i64::MAX, None, i64::MAX, true),
            (i64::MAX, Some(i64::MAX), i64::MIN, false),
            (0, Some(i64::MAX), -i64::MAX, false),
            (i64::MAX - 1, None, 0, false),
        ] {
            signed.created = created;
            signed.expires = expires;
            let outcome = check_time_window(&signed, now);
            assert_eq!(
                outcome.is_ok(),
                accepted,
                "{created} {expires:?} {now}: {outcome:?}"
            );
        }
        signed.created = T0;
        signed.expires = Some(i64::MAX);
        assert!(check_time_window(&signed, T0 + 12 * HOUR).is_ok());
        assert!(matches!(
            check_time_window(&signed, i64::MAX),
            Err(SignatureError::PastLifetimeCap { .. })
        ));
    }

    #[test]
    fn can_say_each_limit_from_its_constant() {
        assert_eq!(
            spoken(DEFAULT_LIFETIME_SECS + CLOCK_SKEW_SECS),
            "65 minutes"
        );
        assert_eq!(spoken(CLOCK_SKEW_SECS), "1 hour");
        assert_eq!(spoken(MAX_LIFETIME_SECS), "12 hours");
        assert_eq!(spoken(90), "90 seconds");
        assert_eq!(spoken(60), "1 minute");
    }

    #[test]
    fn rejects_an_unsigned_request() {
        let headers = header_map(&[("host", "masthead.example")]);
        assert_eq!(
            parse(&Method::POST, INBOX, &headers).unwrap_err(),
            SignatureError::Unsigned
        );
    }

    #[test]
    fn can_accept_what_mastodons_time_window_accepts_and_rejects_the_rest() {
        assert!(!hs2019_post(T0, None).contains_key("date"));
        let in_3_hours = hs2019_post(T0, Some(T0 + 3 * HOUR));
        let in_10_minutes = hs2019_post(T0, Some(T0 + 10 * MIN));
        let in_24_hours = hs2019_post(T0, Some(T0 + 24 * HOUR));
        // `expires` is a parameter anyone replaying the request could add; only a signed one
        // counts.
        let unsigned_expires = cavage_post(
            "host date digest",
            &[
                ("algorithm", "hs2019"),
                ("headers", "(request-target) host date digest"),
                ("expires", &(T0 + 6 * HOUR).to_string()),
            ],
        );
        assert_outcomes(&[
            (
                "a Date 59 minutes ahead",
                verify_post(&mastodon_post(59 * MIN), 0),
                Ok(()),
            ),
            (
                "a Date 61 minutes ahead",
                verify_post(&mastodon_post(61 * MIN), 0),
                Err(
                    "signature refused: Date is 1h1m in the future, more than the 1 hour allowed \
                     for clock skew (check the sender's clock)",
                ),
            ),
            (
                "a Date 64 minutes old",
                verify_post(&mastodon_post(0), 64 * MIN),
                Ok(()),
            ),
            (
                "a Date 66 minutes old",
                verify_post(&mastodon_post(0), 66 * MIN),
                Err(
                    "signature refused: Date is 1h6m old, more than the 65 minutes allowed \
                     (sign with the current time)",
                ),
            ),
            (
                "a Date 2h10m old",
                verify_post(&mastodon_post(0), 2 * HOUR + 10 * MIN),
                Err("...Date is 2h10m old..."),
            ),
            (
                "a Date exactly 1 hour ahead",
                verify_post(&mastodon_post(HOUR), 0),
                Ok(()),
            ),
            (
                "a Date 1 hour and 1 second ahead",
                verify_post(&mastodon_post(HOUR + 1), 0),
                Err("...1h0m in the future..."),
            ),
            (
                "a Date exactly 65 minutes old",
                verify_post(&mastodon_post(0), 65 * MIN),
                Ok(()),
            ),
            (
                "a Date 65 minutes and 1 second old",
                verify_post(&mastodon_post(0), 65 * MIN + 1),
                Err("...1h5m old..."),
            ),
            (
                "an hs2019 created 30 seconds old",
                verify_post(&hs2019_post(T0, None), 30),
                Ok(()),
            ),
            (
                "an hs2019 created 66 minutes old",
                verify_post(&hs2019_post(T0, None), 66 * MIN),
                Err(
                    "signature refused: created is 1h6m old, more than the 65 minutes allowed \
                     (sign with the current time)",
                ),
            ),
            (
                "a signed expires beyond 65 minutes",
                verify_post(&in_3_hours, 2 * HOUR),
                Ok(()),
            ),
            (
                // As Mastodon: the 1 h clock skew margin applies to `expires` too.
                "an expires passed by less than the clock skew",
                verify_post(&in_10_minutes, 10 * MIN + 59 * MIN),
                Ok(()),
            ),
            (
                "an expires passed by more than the clock skew",
                verify_post(&in_10_minutes, 10 * MIN + 61 * MIN),
                Err(
                    "signature refused: expires passed 1h1m ago, more than the 1 hour allowed \
                     for clock skew (sign again)",
                ),
            ),
            (
                // expires is clamped to created + 12 h (plus the 1 h margin), not honoured to 24 h.
                "an expires 24 hours on, 12h59m after created",
                verify_post(&in_24_hours, 12 * HOUR + 59 * MIN),
                Ok(()),
            ),
            (
                "an expires 24 hours on, 13h1m after created",
                verify_post(&in_24_hours, 13 * HOUR + MIN),
                Err(
                    "signature refused: created is 13h1m old; no signature lives longer than \
                     12 hours (+1 hour clock skew), whatever its expires says (sign again)",
                ),
            ),
            (
                "an old Date with an unsigned expires",
                verify_post(&unsigned_expires, 2 * HOUR),
                Err("...Date is 2h0m old..."),
            ),
        ]);
    }
}
