//! TLS-ALPN-01 (RFC 8737): the CA opens a TLS connection to the HTTPS port
//! offering only ALPN `acme-tls/1` and the domain as SNI; the answer is a
//! self-signed certificate for that domain whose critical
//! `id-pe-acmeIdentifier` extension holds the SHA-256 of the key
//! authorization. `AlpnResponder` keeps those certificates while their
//! challenge is open and picks them in the TLS handshake (it is a rustls
//! certificate resolver); every other handshake goes to the resolver it
//! stands in front of (the server's own certificate).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::order::{Challenge, Kind, Responder};
use crate::sync::lock;

/// The ALPN protocol of the challenge.
pub const ACME_TLS: &[u8] = b"acme-tls/1";

/// Challenge certificates by domain, in front of the usual resolver.
pub struct AlpnResponder {
    open: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    usual: Option<Arc<dyn ResolvesServerCert>>,
}

impl fmt::Debug for AlpnResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlpnResponder")
            .field("open", &lock(&self.open).len())
            .finish()
    }
}

/// The validation certificate for `challenge` (RFC 8737 §3).
fn validation_cert(challenge: &Challenge) -> Option<CertifiedKey> {
    let digest = crate::util::sha256(challenge.key_authorization.as_bytes());
    let key = rcgen::KeyPair::generate().ok()?;
    let mut params = rcgen::CertificateParams::new(vec![challenge.domain.clone()]).ok()?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(&digest));
    let cert = params.self_signed(&key).ok()?;
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .ok()?;
    Some(CertifiedKey::new(vec![cert.der().clone()], signer))
}

impl AlpnResponder {
    /// In front of `usual` (none: only challenges are answered).
    pub fn new(usual: Option<Arc<dyn ResolvesServerCert>>) -> AlpnResponder {
        AlpnResponder {
            open: Mutex::new(HashMap::new()),
            usual,
        }
    }
}

impl Responder for AlpnResponder {
    fn publish(&self, challenge: &Challenge) {
        if challenge.kind != Kind::TlsAlpn01 {
            return;
        }
        match validation_cert(challenge) {
            Some(cert) => {
                lock(&self.open).insert(challenge.domain.to_lowercase(), Arc::new(cert));
            }
            None => crate::warn!("acme: cannot make the tls-alpn-01 certificate"),
        }
    }

    fn withdraw(&self, challenge: &Challenge) {
        lock(&self.open).remove(&challenge.domain.to_lowercase());
    }
}

impl ResolvesServerCert for AlpnResponder {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A CA offers `acme-tls/1` alone (RFC 8737 §3); a client offering
        // it among others gets the usual certificate and its protocol.
        let acme = hello.alpn().is_some_and(|protocols| {
            let offered: Vec<&[u8]> = protocols.collect();
            offered == [ACME_TLS]
        });
        if acme {
            // Only the challenge's own certificate: never the usual one on
            // `acme-tls/1` (RFC 8737 §3), nothing for a name not asked for.
            let name = hello.server_name()?.to_lowercase();
            return lock(&self.open).get(&name).cloned();
        }
        self.usual.as_ref()?.resolve(hello)
    }
}
