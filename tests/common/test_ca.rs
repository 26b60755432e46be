//! A test certificate authority and a certificate it signed for `127.0.0.1` and `localhost`,
//! made with rcgen. Shared by the integration tests (`common::test_ca`) and the client's unit tests
//! (`src/federation/client/tests.rs` includes this file by path), so both make it one way.

/// The CA's root and the leaf it signed, in the encodings the two sides use.
pub struct Issued {
    /// The CA's certificate, DER: what a client is told to trust.
    pub root_der: Vec<u8>,
    /// The leaf certificate, DER and PEM, for a server to present.
    pub leaf_der: Vec<u8>,
    pub leaf_pem: String,
    /// The leaf's private key, PKCS#8 DER and PEM.
    pub key_der: Vec<u8>,
    pub key_pem: String,
}

/// A fresh CA and a leaf for `127.0.0.1` and `localhost` signed by it.
pub fn issue() -> Issued {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "masthead test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    Issued {
        root_der: ca.der().to_vec(),
        leaf_der: leaf.der().to_vec(),
        leaf_pem: leaf.pem(),
        key_der: leaf_key.serialize_der(),
        key_pem: leaf_key.serialize_pem(),
    }
}
