//! HTTPS: the rustls server configuration (ring provider, TLS 1.2 and 1.3,
//! rustls' default suites, ALPN `http/1.1`) and the certificate it serves.

pub mod cert;
pub mod der;
pub mod settings;

use std::sync::Arc;

use rustls::ServerConfig;

use crate::config::Config;

/// Builds the server's TLS configuration, loading or generating the
/// certificate; prints where it came from and its fingerprint.
pub fn server_config(cfg: &Config) -> Result<Arc<ServerConfig>, String> {
    let id = cert::load_or_generate(&cfg.certfile, &cfg.keyfile, &cfg.tls_config)?;
    describe(cfg, &id);
    build(id)
}

/// `securechat gen-cert`: writes a new self-signed certificate.
pub fn gen_cert(cfg: &Config, force: bool) -> Result<(), String> {
    if !force && (cfg.certfile.exists() || cfg.keyfile.exists()) {
        return Err(format!(
            "{} or {} already exists; add --force to replace them",
            cfg.certfile.display(),
            cfg.keyfile.display()
        ));
    }
    let settings = settings::CertSettings::load(&cfg.tls_config)?;
    let id = cert::generate(&cfg.certfile, &cfg.keyfile, &settings)?;
    describe(cfg, &id);
    println!("  key: {} (mode 0600)", cfg.keyfile.display());
    Ok(())
}

/// Prints what a user compares with the browser's certificate warning.
pub fn describe(cfg: &Config, id: &cert::Identity) {
    let how = if id.generated {
        "generated self-signed"
    } else {
        "loaded"
    };
    println!("TLS certificate ({how}): {}", cfg.certfile.display());
    println!("  SHA-256 fingerprint: {}", id.fingerprint);
    println!("  expires: {}", cert::date(id.not_after));
}

fn build(id: cert::Identity) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(id.chain, id.key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not match the certificate".to_string()
            }
            other => format!("unusable certificate or key: {other}"),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
