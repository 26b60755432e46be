//! Serving HTTPS directly, for operators without a reverse proxy and for tests that need real
//! `https://` URLs (Fedify looks handles up over https only).
//!
//! This module owns reading a PEM certificate chain and key into a rustls server config. Most
//! deployments terminate TLS in a proxy in front of masthead and never use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("TLS {what} {path}: {message} (give a PEM file, e.g. from Let's Encrypt: fullchain.pem and privkey.pem)")]
pub struct TlsError {
    /// `certificate` or `key`.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// What was wrong.
    pub message: String,
}

/// A rustls server config from a PEM certificate chain and a PEM private key, HTTP/1.1 only.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let err = |what, path: &Path, message: String| TlsError {
        what,
        path: path.to_path_buf(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err("certificate", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(err(
            "certificate",
            cert,
            "no certificate in the file".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| err("key", key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| err("key", key, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
