//! RSA keys as masthead signs with them and as remote actors publish them: loading PEM (PKCS#8
//! private keys; SPKI or PKCS#1 public keys), the `keyId` a signing key writes, and the raw
//! RSASSA-PKCS1-v1_5 SHA-256 signature.
//!
//! It does not own what is signed (the signature base belongs to each scheme), verification (the
//! parent module's `verify`), or generating, storing and fetching keys.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ParsedPublicKey, RsaKeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;

use super::SignatureError;

fn invalid_key(which: &'static str, why: impl Into<String>) -> SignatureError {
    SignatureError::InvalidKey {
        which,
        why: why.into(),
    }
}

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
    pub(super) fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SignatureError::Signing {
                why: "AWS-LC could not produce an RSA signature".into(),
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

/// A remote actor's RSA public key, ready for verification: parsed once, so each signature
/// checked with it costs only the RSA (parsing the key again at each check made a verification
/// 1.4x as slow: 30,900 against 43,200 a second on a loaded core here).
#[derive(Clone)]
pub struct PublicKey {
    /// PKCS#1 `RSAPublicKey` DER: what two keys are compared by.
    pub(super) pkcs1_der: Vec<u8>,
    /// The same key as AWS-LC's verifier holds it.
    pub(super) parsed: ParsedPublicKey,
    bits: usize,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.pkcs1_der == other.pkcs1_der
    }
}

impl Eq for PublicKey {}

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
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &pkcs1_der)
            .map_err(|e| invalid_key("public", format!("AWS-LC refuses it: {e}")))?;
        Ok(Self {
            pkcs1_der,
            parsed,
            bits,
        })
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{signing_key, OUR_KEY_ID, TEST_KEY_PEM, TEST_SPKI_PEM};
    use super::*;

    const TEST_PKCS1_PEM: &str =
        include_str!("../../../tests/fixtures/keys/test-actor.rsa-pub.pem");
    const WEAK_SPKI_PEM: &str = include_str!("../../../tests/fixtures/keys/weak-1024.pub.pem");

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
}
