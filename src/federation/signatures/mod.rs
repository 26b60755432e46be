//! HTTP signatures: signing the requests masthead sends and verifying the ones it receives.
//!
//! This module owns the wire formats and the cryptography:
//! - signing with draft-cavage-http-signatures-12 `rsa-sha256`, which every fediverse server accepts
//!   ([`sign_request`], [`SigningKey`], [`digest_header`]);
//! - verifying draft-cavage signatures by the rules Mastodon applies (app/lib/signed_request.rb),
//!   and RFC 9421 HTTP Message Signatures (`Signature-Input`/`Signature`, `rsa-v1_5-sha256`) as
//!   Mastodon 4.5+ and Fedify send them ([`parse`], [`verify`], [`PublicKey`]).
//!
//! Verification is split in two so the inbox can look up the key in between: [`parse`] reads the
//! headers, refuses weak or malformed signatures before any network work, and yields the `keyId`;
//! [`verify`] then checks the time window, the body digest and the RSA signature.
//!
//! It does not own fetching or caching keys, checking that the key belongs to the activity's actor,
//! refetching a rotated key, rate limits, or what the inbox answers: those are inbox and fetch
//! policy. Every [`SignatureError`] means "do not trust this request" (the inbox maps it to 401).
//!
//! RSA signing and verification go through `ring` (constant time, fast); the `rsa` crate is used
//! only to parse and convert key encodings.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::header::{HeaderValue, DATE, HOST};
use http::{HeaderMap, Method};
use ring::rand::SystemRandom;
use ring::signature::{
    RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use sha2::{Digest as _, Sha256, Sha512};
use thiserror::Error;
use url::Url;

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

/// The draft-cavage algorithms Mastodon accepts. `hs2019` means "whatever the key is"; our keys are
/// RSA, so it is verified as RSASSA-PKCS1-v1_5 SHA-256 like `rsa-sha256`.
const CAVAGE_ALGORITHMS: &str = "rsa-sha256 or hs2019";

/// The only RFC 9421 algorithm we verify (RSASSA-PKCS1-v1_5 with SHA-256, RFC 9421 §3.3.2).
const RFC9421_ALGORITHM: &str = "rsa-v1_5-sha256";

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
        "signature refused: {field} is {age} old, more than the 65 minutes allowed \
         (sign with the current time)"
    )]
    TooOld { field: &'static str, age: String },

    #[error(
        "signature refused: {field} is {ahead} in the future, more than the 1 hour allowed for \
         clock skew (check the sender's clock)"
    )]
    TooFarAhead { field: &'static str, ahead: String },

    #[error(
        "signature refused: expires passed {ago} ago, more than the 1 hour allowed for clock skew \
         (sign again)"
    )]
    Expired { ago: String },

    #[error(
        "signature refused: {field} is {age} old; no signature lives longer than 12 hours \
         (+1 hour clock skew), whatever its expires says (sign again)"
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

fn invalid_key(which: &'static str, why: impl Into<String>) -> SignatureError {
    SignatureError::InvalidKey {
        which,
        why: why.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// An actor's private key together with the `keyId` that names its public half.
pub struct SigningKey {
    key_id: String,
    pair: RsaKeyPair,
}

impl SigningKey {
    /// Loads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what masthead stores) RSA key.
    /// `key_id` is the public key's id, `<actor id>#main-key`.
    pub fn from_pkcs8_pem(key_id: impl Into<String>, pem: &str) -> Result<Self, SignatureError> {
        let key_id = key_id.into();
        if key_id.is_empty()
            || key_id
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control() || !c.is_ascii())
        {
            return Err(invalid_key(
                "private",
                format!("key id {key_id:?} cannot be written in a Signature header (use the actor URL + #main-key)"),
            ));
        }
        let (label, der) = pem_decode(pem).map_err(|why| invalid_key("private", why))?;
        match label.as_str() {
            "PRIVATE KEY" => {}
            "RSA PRIVATE KEY" => {
                return Err(invalid_key(
                    "private",
                    "this is a PKCS#1 \"RSA PRIVATE KEY\" PEM, masthead expects PKCS#8 \"PRIVATE KEY\" \
                     (convert with `openssl pkcs8 -topk8 -nocrypt`)",
                ))
            }
            other => {
                return Err(invalid_key(
                    "private",
                    format!("expected a PKCS#8 \"PRIVATE KEY\" PEM, got \"{other}\""),
                ))
            }
        }
        let pair = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| invalid_key("private", format!("not a usable RSA PKCS#8 key: {e}")))?;
        Ok(Self { key_id, pair })
    }

    /// The `keyId` written into every signature.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// RSASSA-PKCS1-v1_5 SHA-256 over `message`.
    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SignatureError::Signing {
                why: "ring could not produce an RSA signature".into(),
            })?;
        Ok(signature)
    }
}

impl fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A remote actor's RSA public key, ready for verification.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// PKCS#1 `RSAPublicKey` DER, the form ring's verifier takes.
    pkcs1_der: Vec<u8>,
    bits: usize,
}

impl PublicKey {
    /// Parses an actor's `publicKeyPem`: SPKI (`-----BEGIN PUBLIC KEY-----`, what Mastodon
    /// publishes) or PKCS#1 (`-----BEGIN RSA PUBLIC KEY-----`). Line wrapping is not checked, since
    /// servers wrap their PEM differently. Keys under 2048 or over 8192 bits are refused.
    pub fn from_pem(pem: &str) -> Result<Self, SignatureError> {
        let (label, der) = pem_decode(pem).map_err(|why| invalid_key("public", why))?;
        let key = match label.as_str() {
            "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der).map_err(|e| {
                invalid_key("public", format!("not an RSA \"PUBLIC KEY\" (SPKI): {e}"))
            })?,
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&der).map_err(|e| {
                invalid_key(
                    "public",
                    format!("not an RSA \"RSA PUBLIC KEY\" (PKCS#1): {e}"),
                )
            })?,
            other => {
                return Err(invalid_key(
                    "public",
                    format!("expected a \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" PEM, got \"{other}\""),
                ))
            }
        };
        let bits = key.n().bits();
        if !(2048..=8192).contains(&bits) {
            return Err(invalid_key(
                "public",
                format!("a {bits}-bit RSA key cannot be verified (2048 to 8192 bits are accepted)"),
            ));
        }
        let pkcs1_der = key
            .to_pkcs1_der()
            .map_err(|e| invalid_key("public", format!("cannot re-encode as PKCS#1: {e}")))?
            .as_bytes()
            .to_vec();
        Ok(Self { pkcs1_der, bits })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(RSA-{})", self.bits)
    }
}

/// Splits a PEM into its label and DER bytes. Tolerates any line wrapping and surrounding
/// whitespace; refuses encrypted PEM (which carries `Proc-Type:` headers).
fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), String> {
    let pem = pem.trim();
    let rest = pem
        .strip_prefix("-----BEGIN ")
        .ok_or("not PEM: it does not start with -----BEGIN")?;
    let (label, rest) = rest
        .split_once("-----")
        .ok_or("not PEM: the BEGIN line is not closed with -----")?;
    let end = format!("-----END {label}-----");
    let body = rest
        .strip_suffix(end.as_str())
        .ok_or_else(|| format!("not PEM: it does not end with {end}"))?;
    if body.contains(':') {
        return Err("encrypted PEM is not supported (store the key unencrypted)".into());
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM body is not base64: {e}"))?;
    Ok((label.to_owned(), der))
}

// ---------------------------------------------------------------------------------------------
// Signing (draft-cavage-http-signatures-12)
// ---------------------------------------------------------------------------------------------

/// The `Digest` header value for `body`: `SHA-256=<base64>` (RFC 3230, what draft-cavage signs).
pub fn digest_header(body: &[u8]) -> String {
    format!("SHA-256={}", STANDARD.encode(Sha256::digest(body)))
}

/// The `Content-Digest` header value for `body`: `sha-256=:<base64>:` (RFC 9530, what RFC 9421
/// signs).
pub fn content_digest_header(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
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
        key.key_id,
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

// ---------------------------------------------------------------------------------------------
// Verification, step 1: parse
// ---------------------------------------------------------------------------------------------

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
    if headers.contains_key("signature-input") {
        parse_rfc9421(url_scheme, method, path_and_query, headers)
    } else if headers.contains_key("signature") {
        parse_cavage(method, path_and_query, headers)
    } else {
        Err(SignatureError::Unsigned)
    }
}

/// All values of a header, trimmed and joined with `, ` (how both standards combine repeated
/// fields), or `None` when the request lacks it.
fn field_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, SignatureError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let value = value
            .to_str()
            .map_err(|_| malformed(name, "it contains bytes that are not visible ASCII"))?;
        values.push(value.trim());
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// Like [`field_value`] for a header the signature covers: missing means refused.
fn signed_field(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    field_value(headers, name)?.ok_or_else(|| SignatureError::MissingSignedHeader {
        name: name.to_owned(),
    })
}

fn parse_cavage(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
) -> Result<SignedRequest, SignatureError> {
    let raw = field_value(headers, "signature")?.ok_or(SignatureError::Unsigned)?;
    let params = parse_cavage_params(&raw).map_err(|why| malformed("Signature", why))?;
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
    let covered: Vec<String> = params
        .get("headers")
        .map_or(default_covered, String::as_str)
        .to_ascii_lowercase()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect();
    let covers = |name: &str| covered.iter().any(|c| c == name);
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
    let mut with_query = Vec::with_capacity(covered.len());
    let mut without_query = Vec::with_capacity(covered.len());
    for name in &covered {
        let line = match name.as_str() {
            "(request-target)" => {
                with_query.push(format!("(request-target): {method_lower} {target}"));
                without_query.push(format!("(request-target): {method_lower} {path}"));
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
        with_query.push(line.clone());
        without_query.push(line);
    }
    let mut bases = vec![with_query.join("\n")];
    if path != target {
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

/// Parses draft-cavage `name="value",name=value` parameters. Names are case-sensitive; a name
/// given twice is refused rather than guessed at.
fn parse_cavage_params(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let mut rest = raw.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected name=\"value\" at {rest:?}"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(format!("{name:?} is not a parameter name"));
        }
        let after = after.trim_start();
        let value;
        if let Some(quoted) = after.strip_prefix('"') {
            let mut unescaped = String::new();
            let mut end = None;
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => unescaped.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => unescaped.push(c),
                }
            }
            let end = end.ok_or_else(|| format!("the value of `{name}` has no closing quote"))?;
            value = unescaped;
            rest = quoted[end..].trim_start();
        } else {
            let end = after.find(',').unwrap_or(after.len());
            value = after[..end].trim().to_owned();
            if value.is_empty() {
                return Err(format!("`{name}` has no value"));
            }
            rest = &after[end..];
        }
        if params.insert(name.to_owned(), value).is_some() {
            return Err(format!("`{name}` is given twice"));
        }
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("expected a comma after `{name}`"));
        }
    }
    Ok(params)
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
/// several comma-separated ones and ignores the others.
fn parse_digest(raw: &str) -> Result<BodyDigest, SignatureError> {
    let mut offered = Vec::new();
    let mut sha256 = None;
    for part in raw.split(',') {
        let (algorithm, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        if algorithm.eq_ignore_ascii_case("sha-256") && sha256.is_none() {
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

fn parse_rfc9421(
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
    let inputs =
        sf::parse_dictionary(&input_raw).map_err(|why| malformed("Signature-Input", why))?;
    let signatures =
        sf::parse_dictionary(&signature_raw).map_err(|why| malformed("Signature", why))?;

    // Verify the first signature whose label both headers carry.
    let Some((label, components, params, inner_list)) =
        inputs.iter().find_map(|(label, member)| match member {
            sf::Member::InnerList { items, params, raw }
                if signatures.iter().any(|(l, _)| l == label) =>
            {
                Some((label, items, params, raw))
            }
            _ => None,
        })
    else {
        let labels: Vec<&str> = inputs.iter().map(|(l, _)| l.as_str()).collect();
        return Err(malformed(
            "Signature-Input",
            format!(
                "no signature label ({}) that the Signature header also carries",
                labels.join(", ")
            ),
        ));
    };
    let signature = match signatures.iter().find(|(l, _)| l == label) {
        Some((
            _,
            sf::Member::Item(sf::Item {
                bare: sf::BareItem::Bytes(bytes),
                ..
            }),
        )) => bytes.clone(),
        _ => {
            return Err(malformed(
                "Signature",
                format!("`{label}` is not a byte sequence like :base64:"),
            ))
        }
    };

    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
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

    let mut covered: Vec<&str> = Vec::with_capacity(components.len());
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
        if covered.contains(&name.as_str()) {
            return Err(malformed(
                "Signature-Input",
                format!("`{name}` is covered twice"),
            ));
        }
        covered.push(name);
    }
    let covers = |name: &str| covered.contains(&name);
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
        let value = rfc9421_component(name, url_scheme, method, target, headers)?;
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
fn rfc9421_component(
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
    let members = sf::parse_dictionary(raw).map_err(|why| malformed("Content-Digest", why))?;
    let mut claims = Vec::new();
    for (algorithm, member) in &members {
        let algorithm = match algorithm.as_str() {
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
        let offered: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
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

// ---------------------------------------------------------------------------------------------
// Verification, step 2: verify
// ---------------------------------------------------------------------------------------------

/// Verifies a parsed signature against the sender's public key: the time window (Date / `created`
/// at most 1 h ahead and at most 65 min old, or a signed `expires` capped at 12 h), the body
/// digest when one is signed, then the RSA signature (with ring). `body` is the raw request body
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
    let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.pkcs1_der);
    if signed
        .bases
        .iter()
        .any(|base| verifier.verify(base.as_bytes(), &signed.signature).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::BadSignature {
            key_id: signed.key_id.clone(),
        })
    }
}

/// Mastodon's `matches_time_window?`: the signature lives from `created` until `expires` (default
/// `created + 5 min`, never past `created + 12 h`), give or take the 1 h clock skew margin.
fn check_time_window(signed: &SignedRequest, now: i64) -> Result<(), SignatureError> {
    let created = signed.created;
    let field = signed.created_field;
    if created > now + CLOCK_SKEW_SECS {
        return Err(SignatureError::TooFarAhead {
            field,
            ahead: human_duration(created - now),
        });
    }
    let cap = created + MAX_LIFETIME_SECS;
    let lifetime_end = signed
        .expires
        .unwrap_or(created + DEFAULT_LIFETIME_SECS)
        .min(cap);
    if now > lifetime_end + CLOCK_SKEW_SECS {
        return Err(match signed.expires {
            None => SignatureError::TooOld {
                field,
                age: human_duration(now - created),
            },
            Some(expires) if expires <= cap => SignatureError::Expired {
                ago: human_duration(now - expires),
            },
            Some(_) => SignatureError::PastLifetimeCap {
                field,
                age: human_duration(now - created),
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

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
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

/// The part of RFC 8941 Structured Field Values that RFC 9421 and RFC 9530 headers use:
/// dictionaries whose members are items or inner lists, with parameters. Inner lists keep their
/// raw text, which RFC 9421's `@signature-params` line repeats.
mod sf {
    use super::{is_tchar, LENIENT_BASE64};
    use base64::Engine as _;

    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum BareItem {
        Integer(i64),
        /// Kept as text: nothing we verify uses decimals.
        Decimal(String),
        String(String),
        Token(String),
        Bytes(Vec<u8>),
        Boolean(bool),
    }

    pub(super) type Params = Vec<(String, BareItem)>;

    #[derive(Debug, Clone, PartialEq)]
    pub(super) struct Item {
        pub bare: BareItem,
        pub params: Params,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Member {
        Item(Item),
        InnerList {
            items: Vec<Item>,
            params: Params,
            /// The inner list and its parameters exactly as received.
            raw: String,
        },
    }

    /// RFC 8941 §4.2.2. A repeated key replaces the earlier member, as the RFC says.
    pub(super) fn parse_dictionary(input: &str) -> Result<Vec<(String, Member)>, String> {
        let mut p = Parser {
            s: input.as_bytes(),
            pos: 0,
        };
        let mut members: Vec<(String, Member)> = Vec::new();
        p.skip_spaces();
        if p.at_end() {
            return Ok(members);
        }
        loop {
            let key = p.key()?;
            let member = if p.eat(b'=') {
                p.member()?
            } else {
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params: p.params()?,
                })
            };
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = member,
                None => members.push((key, member)),
            }
            p.skip_ows();
            if p.at_end() {
                return Ok(members);
            }
            if !p.eat(b',') {
                return Err(p.error("expected `,` between members"));
            }
            p.skip_ows();
            if p.at_end() {
                return Err(p.error("a trailing comma"));
            }
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.pos).copied()
        }

        fn at_end(&self) -> bool {
            self.pos >= self.s.len()
        }

        fn eat(&mut self, byte: u8) -> bool {
            let hit = self.peek() == Some(byte);
            if hit {
                self.pos += 1;
            }
            hit
        }

        fn skip_spaces(&mut self) {
            while self.eat(b' ') {}
        }

        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
        }

        fn error(&self, what: &str) -> String {
            format!("{what} at byte {}", self.pos)
        }

        fn text(&self, start: usize) -> String {
            String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
        }

        fn take_while(&mut self, keep: impl Fn(u8) -> bool) {
            while self.peek().is_some_and(&keep) {
                self.pos += 1;
            }
        }

        fn key(&mut self) -> Result<String, String> {
            if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
                return Err(self.error("expected a key (a lowercase letter or *)"));
            }
            let start = self.pos;
            self.take_while(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c)
            });
            Ok(self.text(start))
        }

        fn member(&mut self) -> Result<Member, String> {
            if self.peek() != Some(b'(') {
                return Ok(Member::Item(self.item()?));
            }
            let start = self.pos;
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                self.skip_spaces();
                if self.eat(b')') {
                    break;
                }
                items.push(self.item()?);
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return Err(self.error("expected a space or `)` in an inner list"));
                }
            }
            let params = self.params()?;
            Ok(Member::InnerList {
                items,
                params,
                raw: self.text(start),
            })
        }

        fn item(&mut self) -> Result<Item, String> {
            let bare = self.bare_item()?;
            let params = self.params()?;
            Ok(Item { bare, params })
        }

        fn params(&mut self) -> Result<Params, String> {
            let mut params: Params = Vec::new();
            while self.eat(b';') {
                self.skip_spaces();
                let key = self.key()?;
                let value = if self.eat(b'=') {
                    self.bare_item()?
                } else {
                    BareItem::Boolean(true)
                };
                match params.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = value,
                    None => params.push((key, value)),
                }
            }
            Ok(params)
        }

        fn bare_item(&mut self) -> Result<BareItem, String> {
            match self.peek() {
                Some(b'-' | b'0'..=b'9') => self.number(),
                Some(b'"') => self.string(),
                Some(b':') => self.bytes(),
                Some(b'?') => self.boolean(),
                Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                    let start = self.pos;
                    self.take_while(|c| is_tchar(c) || c == b':' || c == b'/');
                    Ok(BareItem::Token(self.text(start)))
                }
                _ => Err(self.error("expected an item")),
            }
        }

        fn number(&mut self) -> Result<BareItem, String> {
            let start = self.pos;
            self.eat(b'-');
            let digits_start = self.pos;
            self.take_while(|c| c.is_ascii_digit());
            let whole = self.pos - digits_start;
            if whole == 0 {
                return Err(self.error("expected a digit"));
            }
            if self.eat(b'.') {
                let fraction_start = self.pos;
                self.take_while(|c| c.is_ascii_digit());
                let fraction = self.pos - fraction_start;
                if whole > 12 || !(1..=3).contains(&fraction) {
                    return Err(self.error("a decimal out of range"));
                }
                return Ok(BareItem::Decimal(self.text(start)));
            }
            if whole > 15 {
                return Err(self.error("an integer out of range"));
            }
            self.text(start)
                .parse()
                .map(BareItem::Integer)
                .map_err(|_| self.error("an integer out of range"))
        }

        fn string(&mut self) -> Result<BareItem, String> {
            self.pos += 1;
            let mut value = String::new();
            loop {
                let Some(c) = self.peek() else {
                    return Err(self.error("a string without its closing quote"));
                };
                self.pos += 1;
                match c {
                    b'\\' => match self.peek() {
                        Some(escaped @ (b'"' | b'\\')) => {
                            self.pos += 1;
                            value.push(char::from(escaped));
                        }
                        _ => return Err(self.error("a backslash escaping neither \" nor \\")),
                    },
                    b'"' => return Ok(BareItem::String(value)),
                    0x20..=0x7e => value.push(char::from(c)),
                    _ => return Err(self.error("a control or non-ASCII character in a string")),
                }
            }
        }

        fn bytes(&mut self) -> Result<BareItem, String> {
            self.pos += 1;
            let start = self.pos;
            self.take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
            let encoded = self.text(start);
            if !self.eat(b':') {
                return Err(self.error("a byte sequence without its closing `:`"));
            }
            LENIENT_BASE64
                .decode(encoded)
                .map(BareItem::Bytes)
                .map_err(|e| self.error(&format!("a byte sequence that is not base64 ({e})")))
        }

        fn boolean(&mut self) -> Result<BareItem, String> {
            self.pos += 1;
            if self.eat(b'1') {
                Ok(BareItem::Boolean(true))
            } else if self.eat(b'0') {
                Ok(BareItem::Boolean(false))
            } else {
                Err(self.error("a boolean that is neither ?1 nor ?0"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TEST_KEY_PEM: &str = include_str!("../../../tests/fixtures/keys/test-actor.pem");
    const TEST_SPKI_PEM: &str = include_str!("../../../tests/fixtures/keys/test-actor.pub.pem");
    const TEST_PKCS1_PEM: &str = include_str!("../../../tests/fixtures/keys/test-actor.rsa-pub.pem");
    const OTHER_SPKI_PEM: &str = include_str!("../../../tests/fixtures/keys/other-actor.pub.pem");
    const WEAK_SPKI_PEM: &str = include_str!("../../../tests/fixtures/keys/weak-1024.pub.pem");
    const FOLLOW: &[u8] = include_bytes!("../../../tests/fixtures/signatures/follow.json");
    /// `openssl dgst -sha256 -binary follow.json | base64`
    const FOLLOW_SHA256: &str = "rfKHzj9Hpgx37cWSiSaizuRvwPZYVUiojU+yFy1ugUQ=";

    /// 2026-01-01T00:00:00Z, a Thursday: every test's clock is set relative to it.
    const T0: i64 = 1_767_225_600;
    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const OUR_KEY_ID: &str = "https://masthead.example/users/news#main-key";
    const REMOTE_KEY_ID: &str = "https://remote.example/users/alice#main-key";
    const INBOX: &str = "/users/news/inbox";
    const INBOX_URI: &str = "https://masthead.example/users/news/inbox";

    fn at(offset: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(T0 + offset).unwrap())
    }

    fn http_date(offset: i64) -> String {
        httpdate::fmt_http_date(at(offset))
    }

    fn signing_key() -> SigningKey {
        SigningKey::from_pkcs8_pem(OUR_KEY_ID, TEST_KEY_PEM).unwrap()
    }

    fn public_key() -> PublicKey {
        PublicKey::from_pem(TEST_SPKI_PEM).unwrap()
    }

    fn other_public_key() -> PublicKey {
        PublicKey::from_pem(OTHER_SPKI_PEM).unwrap()
    }

    fn sign_base64(base: &str) -> String {
        STANDARD.encode(signing_key().sign_bytes(base.as_bytes()).unwrap())
    }

    fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    /// A draft-cavage request signed by hand with the test key. The signing string is written out
    /// here from the `headers` param (or the default for the algorithm), independently of the code
    /// under test. `params` go into the Signature header in order, before `signature`.
    fn cavage_signed(
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

    /// An inbox POST of `FOLLOW` as Mastodon signs it, dated `date_offset` seconds from T0.
    fn mastodon_post(date_offset: i64) -> HeaderMap {
        let date = http_date(date_offset);
        let digest = digest_header(FOLLOW);
        cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", &digest),
            ],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date digest"),
            ],
        )
    }

    /// An hs2019 POST covering `(created)` and, if given, `(expires)`; it has no Date header.
    fn hs2019_post(created: i64, expires: Option<i64>) -> HeaderMap {
        let digest = digest_header(FOLLOW);
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
        cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example"), ("digest", &digest)],
            &params,
        )
    }

    fn verify_post(headers: &HeaderMap, now: i64) -> Result<(), SignatureError> {
        let signed = parse(&Method::POST, INBOX, headers)?;
        verify(&signed, &public_key(), FOLLOW, at(now))
    }

    fn refusal(result: Result<(), SignatureError>) -> String {
        result
            .expect_err("the signature should be refused")
            .to_string()
    }

    // --- keys ---------------------------------------------------------------------------------

    #[test]
    fn can_load_the_pkcs8_test_key_with_its_key_id() {
        let key = signing_key();
        assert_eq!(key.key_id(), OUR_KEY_ID);
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn can_load_spki_and_pkcs1_public_keys_alike() {
        let spki = PublicKey::from_pem(TEST_SPKI_PEM).unwrap();
        let pkcs1 = PublicKey::from_pem(TEST_PKCS1_PEM).unwrap();
        assert_eq!(spki, pkcs1);
        assert_eq!(spki.bits(), 2048);
        // Mastodon's JSON carries the PEM with its own wrapping; any wrapping is fine.
        let one_line: String = TEST_SPKI_PEM
            .lines()
            .map(|l| {
                if l.starts_with("-----") {
                    format!("\n{l}\n")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_eq!(PublicKey::from_pem(&one_line).unwrap(), spki);
    }

    #[test]
    fn rejects_a_public_key_under_2048_bits() {
        let error = PublicKey::from_pem(WEAK_SPKI_PEM).unwrap_err();
        assert_eq!(
            error.to_string(),
            "public key: a 1024-bit RSA key cannot be verified (2048 to 8192 bits are accepted)"
        );
    }

    #[test]
    fn rejects_a_private_key_that_is_not_pkcs8() {
        let error = SigningKey::from_pkcs8_pem(OUR_KEY_ID, TEST_SPKI_PEM).unwrap_err();
        assert_eq!(
            error.to_string(),
            "private key: expected a PKCS#8 \"PRIVATE KEY\" PEM, got \"PUBLIC KEY\""
        );
        let error = PublicKey::from_pem("ssh-rsa AAAA").unwrap_err();
        assert_eq!(
            error.to_string(),
            "public key: not PEM: it does not start with -----BEGIN"
        );
    }

    #[test]
    fn rejects_a_key_id_that_cannot_go_in_a_signature_header() {
        let error =
            SigningKey::from_pkcs8_pem("https://x.example/\"a\"", TEST_KEY_PEM).unwrap_err();
        assert!(matches!(
            error,
            SignatureError::InvalidKey {
                which: "private",
                ..
            }
        ));
    }

    // --- signing ------------------------------------------------------------------------------

    #[test]
    fn can_compute_digest_headers() {
        assert_eq!(digest_header(FOLLOW), format!("SHA-256={FOLLOW_SHA256}"));
        assert_eq!(
            content_digest_header(FOLLOW),
            format!("sha-256=:{FOLLOW_SHA256}:")
        );
        assert_eq!(
            digest_header(b""),
            "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn can_sign_a_post_with_the_headers_mastodon_expects() {
        let url = Url::parse("https://remote.example/users/alice/inbox").unwrap();
        let mut headers = header_map(&[("content-type", "application/activity+json")]);
        sign_request(
            &signing_key(),
            &Method::POST,
            &url,
            &mut headers,
            Some(FOLLOW),
            at(0),
        )
        .unwrap();

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
        let url = Url::parse("http://localhost:8080/users/alice?page=2").unwrap();
        let mut headers = HeaderMap::new();
        sign_request(
            &signing_key(),
            &Method::GET,
            &url,
            &mut headers,
            None,
            at(0),
        )
        .unwrap();
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
        let url = Url::parse("https://masthead.example/users/news/inbox").unwrap();
        let mut headers = HeaderMap::new();
        sign_request(
            &signing_key(),
            &Method::POST,
            &url,
            &mut headers,
            Some(FOLLOW),
            at(0),
        )
        .unwrap();
        let signed = parse(&Method::POST, INBOX, &headers).unwrap();
        assert_eq!(signed.key_id(), OUR_KEY_ID);
        assert_eq!(signed.spec(), Spec::DraftCavage12);
        verify(&signed, &public_key(), FOLLOW, at(2)).unwrap();
    }

    #[test]
    fn can_round_trip_a_signed_get() {
        let url = Url::parse("https://masthead.example/users/news/outbox?page=1").unwrap();
        let mut headers = HeaderMap::new();
        sign_request(
            &signing_key(),
            &Method::GET,
            &url,
            &mut headers,
            None,
            at(0),
        )
        .unwrap();
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
        sign_request(
            &key,
            &Method::POST,
            &url,
            &mut headers,
            Some(FOLLOW),
            at(90 * MIN),
        )
        .unwrap();
        assert_eq!(headers["date"], http_date(90 * MIN).as_str());
        assert_eq!(headers.get_all("signature").iter().count(), 1);
        assert_ne!(headers["signature"], first);
        assert_eq!(headers.get_all("host").iter().count(), 1);
        verify_post(&headers, 91 * MIN).unwrap();
    }

    // --- draft-cavage verification ------------------------------------------------------------

    #[test]
    fn can_verify_an_openssl_signed_cavage_fixture() {
        // tests/fixtures/signatures/cavage-post.txt was signed by `openssl dgst -sha256 -sign`.
        let base = include_str!("../../../tests/fixtures/signatures/cavage-post.txt");
        let signature = include_str!("../../../tests/fixtures/signatures/cavage-post.sig").trim();
        let headers = header_map(&[
            ("host", "masthead.example"),
            ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
            ("digest", &format!("SHA-256={FOLLOW_SHA256}")),
            ("content-type", "application/activity+json"),
            (
                "signature",
                &format!(
                    "keyId=\"{REMOTE_KEY_ID}\",algorithm=\"rsa-sha256\",\
                     headers=\"(request-target) host date digest content-type\",\
                     signature=\"{signature}\""
                ),
            ),
        ]);
        let signed = parse(&Method::POST, INBOX, &headers).unwrap();
        assert_eq!(signed.key_id(), REMOTE_KEY_ID);
        assert_eq!(signed.bases[0], base);
        verify(&signed, &public_key(), FOLLOW, at(10)).unwrap();
    }

    #[test]
    fn can_verify_a_mastodon_style_post() {
        verify_post(&mastodon_post(0), 5).unwrap();
    }

    #[test]
    fn rejects_a_post_whose_body_does_not_match_the_digest() {
        let signed = parse(&Method::POST, INBOX, &mastodon_post(0)).unwrap();
        let error = verify(&signed, &public_key(), b"{\"type\":\"Delete\"}", at(5)).unwrap_err();
        assert!(matches!(
            error,
            SignatureError::DigestMismatch {
                header: "Digest",
                algorithm: "SHA-256",
                ..
            }
        ));
        assert!(error
            .to_string()
            .starts_with("signature refused: the Digest header's SHA-256 does not match the body"));
    }

    #[test]
    fn rejects_a_post_that_does_not_sign_digest() {
        let date = http_date(0);
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example"), ("date", &date)],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date"),
            ],
        );
        assert_eq!(
            refusal(verify_post(&headers, 5)),
            "signature refused: the signature must cover digest on a POST \
             (it covers: (request-target) host date)"
        );
    }

    #[test]
    fn rejects_a_get_that_does_not_sign_host() {
        let date = http_date(0);
        let headers = cavage_signed(
            &Method::GET,
            "/users/news",
            &[("host", "masthead.example"), ("date", &date)],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) date"),
            ],
        );
        let error = parse(&Method::GET, "/users/news", &headers).unwrap_err();
        assert_eq!(
            error.to_string(),
            "signature refused: the signature must cover host on a GET \
             (it covers: (request-target) date)"
        );
    }

    #[test]
    fn rejects_a_signature_covering_neither_request_target_nor_digest() {
        let date = http_date(0);
        let headers = cavage_signed(
            &Method::GET,
            "/users/news",
            &[("host", "masthead.example"), ("date", &date)],
            &[("algorithm", "rsa-sha256"), ("headers", "host date")],
        );
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
    fn rejects_a_signature_covering_neither_date_nor_created() {
        let digest = digest_header(FOLLOW);
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example"), ("digest", &digest)],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host digest"),
            ],
        );
        assert!(refusal(verify_post(&headers, 0)).contains("must cover date or (created)"));
    }

    #[test]
    fn can_accept_a_date_59_minutes_ahead() {
        verify_post(&mastodon_post(59 * MIN), 0).unwrap();
    }

    #[test]
    fn rejects_a_date_61_minutes_ahead() {
        assert_eq!(
            refusal(verify_post(&mastodon_post(61 * MIN), 0)),
            "signature refused: Date is 1h1m in the future, more than the 1 hour allowed for \
             clock skew (check the sender's clock)"
        );
    }

    #[test]
    fn can_accept_a_date_64_minutes_old() {
        verify_post(&mastodon_post(0), 64 * MIN).unwrap();
    }

    #[test]
    fn rejects_a_date_66_minutes_old() {
        assert_eq!(
            refusal(verify_post(&mastodon_post(0), 66 * MIN)),
            "signature refused: Date is 1h6m old, more than the 65 minutes allowed \
             (sign with the current time)"
        );
        assert!(refusal(verify_post(&mastodon_post(0), 2 * HOUR + 10 * MIN))
            .contains("Date is 2h10m old"));
    }

    #[test]
    fn can_accept_exactly_the_window_edges_and_rejects_one_second_beyond() {
        verify_post(&mastodon_post(HOUR), 0).unwrap();
        assert!(refusal(verify_post(&mastodon_post(HOUR + 1), 0)).contains("1h0m in the future"));
        verify_post(&mastodon_post(0), 65 * MIN).unwrap();
        assert!(refusal(verify_post(&mastodon_post(0), 65 * MIN + 1)).contains("1h5m old"));
    }

    #[test]
    fn can_verify_hs2019_with_created() {
        let headers = hs2019_post(T0, None);
        assert!(!headers.contains_key("date"));
        verify_post(&headers, 30).unwrap();
        assert_eq!(
            refusal(verify_post(&headers, 66 * MIN)),
            "signature refused: created is 1h6m old, more than the 65 minutes allowed \
             (sign with the current time)"
        );
    }

    #[test]
    fn can_accept_an_absent_algorithm_as_hs2019() {
        let digest = digest_header(FOLLOW);
        let created = T0.to_string();
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example"), ("digest", &digest)],
            &[
                ("headers", "(request-target) host (created) digest"),
                ("created", &created),
            ],
        );
        verify_post(&headers, 30).unwrap();
    }

    #[test]
    fn rejects_an_absent_headers_list_because_its_default_is_too_weak() {
        // Defaults: `(created)` for hs2019, `date` for rsa-sha256; neither covers the request.
        let created = T0.to_string();
        let hs2019 = cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example")],
            &[("algorithm", "hs2019"), ("created", &created)],
        );
        assert!(refusal(verify_post(&hs2019, 0)).ends_with("(it covers: (created))"));
        let date = http_date(0);
        let rsa = cavage_signed(
            &Method::POST,
            INBOX,
            &[("date", &date)],
            &[("algorithm", "rsa-sha256")],
        );
        assert!(refusal(verify_post(&rsa, 0)).ends_with("(it covers: date)"));
    }

    #[test]
    fn rejects_created_with_rsa_sha256() {
        let digest = digest_header(FOLLOW);
        let created = T0.to_string();
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[("host", "masthead.example"), ("digest", &digest)],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host (created) digest"),
                ("created", &created),
            ],
        );
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: `(created)` cannot be verified: only an hs2019 signature may \
             cover it, and this one is rsa-sha256"
        );
    }

    #[test]
    fn can_honour_a_signed_expires_beyond_65_minutes() {
        verify_post(&hs2019_post(T0, Some(T0 + 3 * HOUR)), 2 * HOUR).unwrap();
    }

    #[test]
    fn can_accept_an_expires_passed_by_less_than_the_clock_skew() {
        // As Mastodon: the 1 h clock skew margin applies to `expires` too.
        verify_post(&hs2019_post(T0, Some(T0 + 10 * MIN)), 10 * MIN + 59 * MIN).unwrap();
    }

    #[test]
    fn rejects_an_expired_signature() {
        assert_eq!(
            refusal(verify_post(
                &hs2019_post(T0, Some(T0 + 10 * MIN)),
                10 * MIN + 61 * MIN
            )),
            "signature refused: expires passed 1h1m ago, more than the 1 hour allowed for clock \
             skew (sign again)"
        );
    }

    #[test]
    fn rejects_expires_more_than_12_hours_after_created_once_12_hours_pass() {
        let headers = hs2019_post(T0, Some(T0 + 24 * HOUR));
        // expires is clamped to created + 12 h (plus the 1 h margin), not honoured to 24 h.
        verify_post(&headers, 12 * HOUR + 59 * MIN).unwrap();
        assert_eq!(
            refusal(verify_post(&headers, 13 * HOUR + MIN)),
            "signature refused: created is 13h1m old; no signature lives longer than 12 hours \
             (+1 hour clock skew), whatever its expires says (sign again)"
        );
    }

    #[test]
    fn rejects_an_old_date_even_with_an_unsigned_expires() {
        // `expires` is a parameter anyone replaying the request could add; only a signed one counts.
        let date = http_date(0);
        let digest = digest_header(FOLLOW);
        let expires = (T0 + 6 * HOUR).to_string();
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", &digest),
            ],
            &[
                ("algorithm", "hs2019"),
                ("headers", "(request-target) host date digest"),
                ("expires", &expires),
            ],
        );
        assert!(refusal(verify_post(&headers, 2 * HOUR)).contains("Date is 2h0m old"));
    }

    #[test]
    fn rejects_an_unknown_algorithm() {
        let date = http_date(0);
        let digest = digest_header(FOLLOW);
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", &digest),
            ],
            &[
                ("algorithm", "rsa-sha512"),
                ("headers", "(request-target) host date digest"),
            ],
        );
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: algorithm `rsa-sha512` in the Signature header is not supported \
             (use rsa-sha256 or hs2019)"
        );
    }

    #[test]
    fn rejects_a_tampered_signature() {
        let mut headers = mastodon_post(0);
        let value = headers["signature"].to_str().unwrap().to_owned();
        // Flip one base64 character inside the signature value.
        let at_sig = value.find("signature=\"").unwrap() + "signature=\"".len() + 10;
        let mut bytes = value.into_bytes();
        bytes[at_sig] = if bytes[at_sig] == b'A' { b'B' } else { b'A' };
        headers.insert("signature", HeaderValue::from_bytes(&bytes).unwrap());
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            format!(
                "signature refused: the signature does not verify with the key {REMOTE_KEY_ID} \
                 (the request was altered, or it was signed with another key)"
            )
        );
    }

    #[test]
    fn rejects_a_request_sent_to_another_path_than_signed() {
        let signed = parse(&Method::POST, "/users/other/inbox", &mastodon_post(0)).unwrap();
        let error = verify(&signed, &public_key(), FOLLOW, at(0)).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature { .. }));
    }

    #[test]
    fn rejects_a_signature_made_with_another_key() {
        let signed = parse(&Method::POST, INBOX, &mastodon_post(0)).unwrap();
        let error = verify(&signed, &other_public_key(), FOLLOW, at(0)).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature { .. }));
    }

    fn signed_get(signed_target: &str) -> HeaderMap {
        let date = http_date(0);
        cavage_signed(
            &Method::GET,
            signed_target,
            &[("host", "masthead.example"), ("date", &date)],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date"),
            ],
        )
    }

    #[test]
    fn can_accept_a_request_target_signed_with_the_query_string() {
        let target = "/users/news/outbox?page=2";
        let signed = parse(&Method::GET, target, &signed_get(target)).unwrap();
        verify(&signed, &public_key(), b"", at(0)).unwrap();
    }

    #[test]
    fn can_accept_a_request_target_signed_without_the_query_string() {
        // Older Mastodon signed the path alone; Mastodon still accepts that variant.
        let headers = signed_get("/users/news/outbox");
        let signed = parse(&Method::GET, "/users/news/outbox?page=2", &headers).unwrap();
        assert_eq!(signed.bases.len(), 2);
        verify(&signed, &public_key(), b"", at(0)).unwrap();
    }

    #[test]
    fn rejects_a_signed_header_missing_from_the_request() {
        let date = http_date(0);
        let digest = digest_header(FOLLOW);
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", &digest),
            ],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date digest content-type"),
            ],
        );
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: `content-type` is signed but the request has no content-type header"
        );
    }

    #[test]
    fn can_accept_several_digest_values_when_sha256_matches() {
        let date = http_date(0);
        let digest = format!("SHA-512=bm90IGNoZWNrZWQ=, SHA-256={FOLLOW_SHA256}");
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", &digest),
            ],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date digest"),
            ],
        );
        verify_post(&headers, 0).unwrap();
    }

    #[test]
    fn rejects_a_digest_without_sha256() {
        let date = http_date(0);
        let headers = cavage_signed(
            &Method::POST,
            INBOX,
            &[
                ("host", "masthead.example"),
                ("date", &date),
                ("digest", "SHA-512=bm9wZQ=="),
            ],
            &[
                ("algorithm", "rsa-sha256"),
                ("headers", "(request-target) host date digest"),
            ],
        );
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the Digest header offers SHA-512, but SHA-256 is required"
        );
    }

    #[test]
    fn rejects_a_signature_header_without_key_id() {
        let headers = header_map(&[("signature", "algorithm=\"rsa-sha256\",signature=\"AAAA\"")]);
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the Signature header has no `keyId` parameter"
        );
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
    fn rejects_a_malformed_signature_header() {
        let headers = header_map(&[("signature", "keyId=\"https://x.example,signature=\"AAAA")]);
        assert!(refusal(verify_post(&headers, 0))
            .starts_with("signature refused: the Signature header is malformed:"));
    }

    #[test]
    fn can_parse_cavage_params_with_tokens_spaces_and_escapes() {
        let params = parse_cavage_params(
            "keyId=\"https://a.example/u#k\", algorithm=hs2019 ,created=1767225600,\
             headers=\"(created)\",note=\"a \\\"b\\\"\"",
        )
        .unwrap();
        assert_eq!(params["keyId"], "https://a.example/u#k");
        assert_eq!(params["algorithm"], "hs2019");
        assert_eq!(params["created"], "1767225600");
        assert_eq!(params["note"], "a \"b\"");
        assert!(parse_cavage_params("keyId=\"a\",keyId=\"b\"")
            .unwrap_err()
            .contains("twice"));
    }

    // --- RFC 9421 verification ----------------------------------------------------------------

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

    fn standard_params(created: i64) -> String {
        format!(";alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\";created={created}")
    }

    #[test]
    fn can_verify_an_openssl_signed_rfc9421_post_fixture() {
        // The shape Fedify sends; tests/fixtures/signatures/rfc9421-post.txt was signed by openssl.
        let base = include_str!("../../../tests/fixtures/signatures/rfc9421-post.txt");
        let signature = include_str!("../../../tests/fixtures/signatures/rfc9421-post.sig").trim();
        let headers = header_map(&[
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
            ("signature", &format!("sig1=:{signature}:")),
        ]);
        let signed = parse(&Method::POST, INBOX, &headers).unwrap();
        assert_eq!(signed.spec(), Spec::Rfc9421);
        assert_eq!(signed.key_id(), REMOTE_KEY_ID);
        assert_eq!(signed.bases, [base]);
        verify(&signed, &public_key(), FOLLOW, at(10)).unwrap();
    }

    #[test]
    fn can_verify_an_openssl_signed_rfc9421_get_fixture_with_derived_components() {
        // Covers @scheme @authority @path @query @request-target, no `alg`, `expires` and a nonce.
        let base = include_str!("../../../tests/fixtures/signatures/rfc9421-get.txt");
        let signature = include_str!("../../../tests/fixtures/signatures/rfc9421-get.sig").trim();
        let headers = header_map(&[
            ("host", "Masthead.Example:443"),
            ("accept", "application/activity+json"),
            (
                "signature-input",
                "sig1=(\"@method\" \"@scheme\" \"@authority\" \"@path\" \"@query\" \
                 \"@request-target\" \"@target-uri\" \"accept\");created=1767225600;\
                 expires=1767229200;keyid=\"https://remote.example/actor#main-key\";\
                 nonce=\"b3k2pp5k7z\"",
            ),
            ("signature", &format!("sig1=:{signature}:")),
        ]);
        let signed = parse(&Method::GET, "/users/news/outbox?page=2&min_id=7", &headers).unwrap();
        assert_eq!(signed.bases, [base]);
        verify(&signed, &public_key(), b"", at(10)).unwrap();
    }

    #[test]
    fn can_verify_an_rfc9421_post() {
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &standard_params(T0));
        verify_post(&headers, 30).unwrap();
    }

    #[test]
    fn rejects_an_rfc9421_post_without_content_digest() {
        let headers = rfc9421_signed(
            &[("host", "masthead.example")],
            &[
                "\"@method\": POST".to_owned(),
                format!("\"@target-uri\": {INBOX_URI}"),
            ],
            &format!("(\"@method\" \"@target-uri\"){}", standard_params(T0)),
        );
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the signature must cover content-digest on a POST \
             (it covers: @method @target-uri)"
        );
    }

    #[test]
    fn rejects_an_rfc9421_content_digest_that_does_not_match_the_body() {
        let headers = rfc9421_post(&content_digest_header(b"{}"), &standard_params(T0));
        let error = verify_post(&headers, 0).unwrap_err();
        assert!(matches!(
            error,
            SignatureError::DigestMismatch {
                header: "Content-Digest",
                algorithm: "sha-256",
                ..
            }
        ));
    }

    #[test]
    fn can_accept_a_sha512_content_digest() {
        let sha512 = format!("sha-512=:{}:", STANDARD.encode(Sha512::digest(FOLLOW)));
        verify_post(&rfc9421_post(&sha512, &standard_params(T0)), 0).unwrap();
        let both = format!("{sha512}, {}", content_digest_header(FOLLOW));
        verify_post(&rfc9421_post(&both, &standard_params(T0)), 0).unwrap();
    }

    #[test]
    fn rejects_a_content_digest_without_sha256_or_sha512() {
        let headers = rfc9421_post("md5=:bm9wZQ==:", &standard_params(T0));
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the Content-Digest header offers md5, but sha-256 or sha-512 is \
             required"
        );
    }

    #[test]
    fn rejects_an_rfc9421_signature_without_created() {
        let params = format!(";alg=\"rsa-v1_5-sha256\";keyid=\"{REMOTE_KEY_ID}\"");
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &params);
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the Signature-Input header has no `created` parameter"
        );
    }

    #[test]
    fn rejects_an_rfc9421_signature_without_keyid() {
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &format!(";created={T0}"));
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: the Signature-Input header has no `keyid` parameter"
        );
    }

    #[test]
    fn rejects_an_rfc9421_signature_without_target_uri() {
        let digest = content_digest_header(FOLLOW);
        let headers = rfc9421_signed(
            &[("host", "masthead.example"), ("content-digest", &digest)],
            &[
                "\"@method\": POST".to_owned(),
                format!("\"content-digest\": {digest}"),
            ],
            &format!("(\"@method\" \"content-digest\"){}", standard_params(T0)),
        );
        assert!(refusal(verify_post(&headers, 0))
            .contains("must cover @method and @target-uri (it covers: @method content-digest)"));
    }

    #[test]
    fn rejects_an_unknown_rfc9421_algorithm() {
        let params = format!(";alg=\"rsa-pss-sha512\";keyid=\"{REMOTE_KEY_ID}\";created={T0}");
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &params);
        assert_eq!(
            refusal(verify_post(&headers, 0)),
            "signature refused: algorithm `rsa-pss-sha512` in the Signature-Input header is not \
             supported (use rsa-v1_5-sha256)"
        );
    }

    #[test]
    fn rejects_an_rfc9421_created_66_minutes_old_but_accepts_64() {
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &standard_params(T0));
        verify_post(&headers, 64 * MIN).unwrap();
        assert!(refusal(verify_post(&headers, 66 * MIN)).contains("created is 1h6m old"));
    }

    #[test]
    fn rejects_an_rfc9421_created_61_minutes_ahead_but_accepts_59() {
        let ahead = rfc9421_post(
            &content_digest_header(FOLLOW),
            &standard_params(T0 + 61 * MIN),
        );
        assert!(refusal(verify_post(&ahead, 0)).contains("created is 1h1m in the future"));
        let ok = rfc9421_post(
            &content_digest_header(FOLLOW),
            &standard_params(T0 + 59 * MIN),
        );
        verify_post(&ok, 0).unwrap();
    }

    #[test]
    fn rejects_an_expired_rfc9421_signature() {
        let params = format!("{};expires={}", standard_params(T0), T0 + MIN);
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &params);
        verify_post(&headers, 30).unwrap();
        assert!(refusal(verify_post(&headers, MIN + HOUR + 1)).contains("expires passed 1h0m ago"));
    }

    #[test]
    fn rejects_an_rfc9421_request_sent_to_another_path_than_signed() {
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &standard_params(T0));
        let signed = parse(&Method::POST, "/users/other/inbox", &headers).unwrap();
        let error = verify(&signed, &public_key(), FOLLOW, at(0)).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature { .. }));
    }

    #[test]
    fn rejects_an_rfc9421_signature_made_with_another_key() {
        let headers = rfc9421_post(&content_digest_header(FOLLOW), &standard_params(T0));
        let signed = parse(&Method::POST, INBOX, &headers).unwrap();
        let error = verify(&signed, &other_public_key(), FOLLOW, at(0)).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature { .. }));
    }

    #[test]
    fn can_pick_the_label_both_headers_carry() {
        let mut headers = rfc9421_post(&content_digest_header(FOLLOW), &standard_params(T0));
        let input = headers["signature-input"].to_str().unwrap().to_owned();
        headers.insert(
            "signature-input",
            format!("proxy=(\"@method\");created=1;keyid=\"x\", {input}")
                .parse()
                .unwrap(),
        );
        verify_post(&headers, 0).unwrap();
    }

    #[test]
    fn rejects_rfc9421_components_masthead_cannot_verify() {
        let headers = rfc9421_signed(
            &[("host", "masthead.example")],
            &[],
            &format!(
                "(\"@method\" \"@target-uri\" \"@query-param\";name=\"page\"){}",
                standard_params(T0)
            ),
        );
        let error = parse(&Method::GET, "/users/news?page=1", &headers).unwrap_err();
        assert!(
            matches!(error, SignatureError::UnsupportedComponent { ref component, .. } if component == "@query-param")
        );
        let headers = rfc9421_signed(
            &[("host", "masthead.example")],
            &[],
            &format!(
                "(\"@method\" \"@target-uri\" \"@status\"){}",
                standard_params(T0)
            ),
        );
        let error = parse(&Method::GET, "/users/news", &headers).unwrap_err();
        assert!(
            matches!(error, SignatureError::UnsupportedComponent { ref component, .. } if component == "@status")
        );
    }

    #[test]
    fn rejects_a_signature_input_without_a_signature() {
        let headers = header_map(&[(
            "signature-input",
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"k\"",
        )]);
        assert!(refusal(verify_post(&headers, 0))
            .starts_with("signature refused: the Signature header is malformed: it is missing"));
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

    // --- structured fields --------------------------------------------------------------------

    #[test]
    fn can_parse_structured_field_dictionaries() {
        let members = sf::parse_dictionary(
            "sig1=(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\",  sig2=:AAEC:;x, ok",
        )
        .unwrap();
        assert_eq!(members.len(), 3);
        let sf::Member::InnerList { items, params, raw } = &members[0].1 else {
            panic!("sig1 should be an inner list");
        };
        assert_eq!(items.len(), 2);
        assert_eq!(
            raw,
            "(\"@method\" \"@target-uri\");created=1767225600;keyid=\"a\""
        );
        assert_eq!(
            params[0],
            ("created".to_owned(), sf::BareItem::Integer(1_767_225_600))
        );
        let sf::Member::Item(sig2) = &members[1].1 else {
            panic!("sig2 should be an item");
        };
        assert_eq!(sig2.bare, sf::BareItem::Bytes(vec![0, 1, 2]));
        assert_eq!(sig2.params, [("x".to_owned(), sf::BareItem::Boolean(true))]);
        assert_eq!(members[2].0, "ok");
    }

    #[test]
    fn rejects_malformed_structured_fields() {
        for bad in [
            "sig1=(\"@method\"",
            "sig1=:AAEC",
            "Sig1=?1",
            "a=1,",
            "a=\"unterminated",
            "a=(\"x\"\"y\")",
            "a=1234567890123456",
        ] {
            assert!(
                sf::parse_dictionary(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
