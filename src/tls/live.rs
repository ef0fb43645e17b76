//! The certificate the HTTPS listener serves, replaceable while it runs:
//! a rustls certificate resolver holding the current chain and key, which
//! every new handshake reads and `replace` swaps. Connections already open
//! keep the session they negotiated, so a renewal drops nobody.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::TlsError;
use super::cert::Identity;

/// The served certificate.
pub struct LiveCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for LiveCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LiveCert")
    }
}

/// A chain and key rustls can serve, checked to belong together.
pub fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, TlsError> {
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(TlsError::Unusable)?;
    let pair = CertifiedKey::new(chain, signer);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch),
        Err(other) => Err(TlsError::Unusable(other)),
    }
}

/// The same from PEM text (an ACME chain, leaf first, and its key).
pub fn certified_pem(chain_pem: &str, key_pem: &str) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::Unusable(rustls::Error::NoCertificatesPresented))?;
    if chain.is_empty() {
        return Err(TlsError::Unusable(rustls::Error::NoCertificatesPresented));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| TlsError::Unusable(rustls::Error::General("no private key".into())))?;
    certified(chain, key)
}

impl LiveCert {
    pub fn new(first: CertifiedKey) -> LiveCert {
        LiveCert {
            current: RwLock::new(Arc::new(first)),
        }
    }

    pub fn from_identity(id: Identity) -> Result<LiveCert, TlsError> {
        Ok(LiveCert::new(certified(id.chain, id.key)?))
    }

    /// Serves `next` from the next handshake on.
    pub fn replace(&self, next: CertifiedKey) {
        let next = Arc::new(next);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_replaced_certificate_is_the_one_handed_out_next() {
        let (c1, k1) = pair("one.test");
        let (c2, k2) = pair("two.test");
        let live = LiveCert::new(certified_pem(&c1, &k1).unwrap());
        let first = live.get();
        live.replace(certified_pem(&c2, &k2).unwrap());
        assert_ne!(first.cert[0], live.get().cert[0]);
        // A key that is not the chain's, or no PEM at all, is refused.
        assert!(matches!(
            certified_pem(&c1, &k2),
            Err(TlsError::KeyMismatch)
        ));
        assert!(certified_pem("nothing", &k1).is_err());
        assert!(certified_pem(&c1, "nothing").is_err());
    }
}
