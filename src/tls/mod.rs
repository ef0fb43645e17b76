//! HTTPS: the rustls server configuration (ring provider, TLS 1.2 and 1.3,
//! rustls' default suites, ALPN `http/1.1`, and `acme-tls/1` when ACME
//! answers challenges on this port) and the certificate it serves.

pub mod acme;
pub mod cert;
pub mod der;
mod error;
pub mod live;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;

pub use error::TlsError;

/// Where the certificate, its key and the settings for generating one are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    /// `tls_config.json`.
    pub settings: PathBuf,
}

/// Builds the server's TLS configuration, loading or generating the
/// certificate; prints where it came from and its fingerprint.
pub fn server_config(paths: &CertPaths) -> Result<Arc<ServerConfig>, TlsError> {
    let id = cert::load_or_generate(&paths.certfile, &paths.keyfile, &paths.settings)?;
    describe(paths, &id);
    build(Arc::new(live::LiveCert::from_identity(id)?), false)
}

/// `securechat gen-cert`: writes a new self-signed certificate.
pub fn gen_cert(paths: &CertPaths, force: bool) -> Result<(), TlsError> {
    if !force && (paths.certfile.exists() || paths.keyfile.exists()) {
        return Err(TlsError::WouldReplace {
            certfile: paths.certfile.clone(),
            keyfile: paths.keyfile.clone(),
        });
    }
    let settings = settings::CertSettings::load(&paths.settings)?;
    let id = cert::generate(&paths.certfile, &paths.keyfile, &settings)?;
    describe(paths, &id);
    println!("  key: {} (mode 0600)", paths.keyfile.display());
    Ok(())
}

/// Prints what a user compares with the browser's certificate warning.
pub fn describe(paths: &CertPaths, id: &cert::Identity) {
    let how = if id.generated {
        "generated self-signed"
    } else {
        "loaded"
    };
    println!("TLS certificate ({how}): {}", paths.certfile.display());
    println!("  SHA-256 fingerprint: {}", id.fingerprint);
    println!("  expires: {}", cert::date(id.not_after));
}

/// The configuration serving whatever `resolver` picks; with `acme_tls`,
/// also ALPN `acme-tls/1` (TLS-ALPN-01 challenges, RFC 8737).
pub fn build(
    resolver: Arc<dyn ResolvesServerCert>,
    acme_tls: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Unusable)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if acme_tls {
        config.alpn_protocols.push(acme::alpn::ACME_TLS.to_vec());
    }
    Ok(Arc::new(config))
}
