//! The server's certificate: load `--certfile`/`--keyfile` when both exist,
//! otherwise generate a self-signed one with rcgen from `tls_config.json`
//! (key written with mode 0600). An expired self-signed certificate is
//! regenerated with a warning; any other expired certificate is an error.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;
use super::der::{self, CertFacts};
use super::settings::CertSettings;
use crate::util;

/// A certificate chain and key ready for rustls.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate, as `AB:CD:…`.
    pub fingerprint: String,
    /// Unix seconds.
    pub not_after: i64,
    pub generated: bool,
}

/// Loads or generates, as described above.
pub fn load_or_generate(
    certfile: &Path,
    keyfile: &Path,
    settings: &Path,
) -> Result<Identity, TlsError> {
    match (certfile.exists(), keyfile.exists()) {
        (true, true) => {
            let id = load(certfile, keyfile)?;
            let now = util::now_ms() / 1000;
            if id.not_after > now {
                return Ok(id);
            }
            let facts = der::cert_facts(&id.chain[0]);
            if facts.is_some_and(|f| f.self_signed) {
                crate::warn!(
                    "the self-signed certificate {} expired on {}; generating a new one",
                    certfile.display(),
                    date(id.not_after)
                );
                generate(certfile, keyfile, &CertSettings::load(settings)?)
            } else {
                Err(TlsError::Expired {
                    path: certfile.to_path_buf(),
                    on: date(id.not_after),
                })
            }
        }
        (false, false) => generate(certfile, keyfile, &CertSettings::load(settings)?),
        (true, false) => Err(TlsError::HalfPair {
            found: certfile.to_path_buf(),
            missing: keyfile.to_path_buf(),
            missing_what: "key",
        }),
        (false, true) => Err(TlsError::HalfPair {
            found: keyfile.to_path_buf(),
            missing: certfile.to_path_buf(),
            missing_what: "certificate",
        }),
    }
}

/// Reads a PEM certificate chain and private key.
pub fn load(certfile: &Path, keyfile: &Path) -> Result<Identity, TlsError> {
    let cert_bytes = fs::read(certfile).map_err(io(certfile))?;
    let key_bytes = fs::read(keyfile).map_err(io(keyfile))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NotPem {
            path: certfile.to_path_buf(),
            what: "a PEM certificate",
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Unreadable(certfile.to_path_buf()));
    };
    let facts: CertFacts =
        der::cert_facts(leaf).ok_or_else(|| TlsError::Unreadable(certfile.to_path_buf()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| TlsError::NotPem {
        path: keyfile.to_path_buf(),
        what: "a PEM private key",
    })?;
    Ok(Identity {
        fingerprint: fingerprint(leaf),
        chain,
        key,
        not_after: facts.not_after,
        generated: false,
    })
}

/// Generates a self-signed certificate and writes both files.
pub fn generate(certfile: &Path, keyfile: &Path, s: &CertSettings) -> Result<Identity, TlsError> {
    let alg = match s.key_algorithm.as_str() {
        "ecdsa-p384" => &rcgen::PKCS_ECDSA_P384_SHA384,
        "ed25519" => &rcgen::PKCS_ED25519,
        _ => &rcgen::PKCS_ECDSA_P256_SHA256,
    };
    let key = KeyPair::generate_for(alg)?;
    let mut params = CertificateParams::new(s.dns_names.clone())?;
    params
        .subject_alt_names
        .extend(s.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, s.common_name.as_str());
    if !s.organization.is_empty() {
        dn.push(DnType::OrganizationName, s.organization.as_str());
    }
    params.distinguished_name = dn;
    let today = util::now_ms() / 1000 / 86_400;
    let ymd = |days: i64| {
        let (y, m, d) = der::civil_from_days(days);
        rcgen::date_time_ymd(y as i32, m, d)
    };
    params.not_before = ymd(today - 1);
    params.not_after = ymd(today + i64::from(s.validity_days));
    let mut serial = [0u8; 16];
    util::random_bytes(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params.self_signed(&key)?;

    for dir in [certfile.parent(), keyfile.parent()].into_iter().flatten() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
    }
    write_file(keyfile, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(certfile, cert.pem().as_bytes(), 0o644)?;
    let der = cert.der().clone();
    let facts =
        der::cert_facts(&der).ok_or_else(|| TlsError::Unreadable(certfile.to_path_buf()))?;
    let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|_| TlsError::NotPem {
        path: keyfile.to_path_buf(),
        what: "a usable private key",
    })?;
    Ok(Identity {
        fingerprint: fingerprint(&der),
        chain: vec![der],
        key,
        not_after: facts.not_after,
        generated: true,
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TlsError + '_ {
    move |error| TlsError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let ctx = io(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(&ctx)?;
    // The mode above applies only to new files; enforce it on old ones too.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(&ctx)?;
    f.write_all(bytes).map_err(&ctx)?;
    f.sync_all().map_err(ctx)
}

/// SHA-256 of a DER certificate as colon-separated uppercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    util::hex(&util::sha256(der))
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// `YYYY-MM-DD` for Unix seconds.
pub fn date(secs: i64) -> String {
    let (y, m, d) = der::civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM UTC` for Unix seconds.
pub fn date_time(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        date(secs),
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_loads_and_reads_validity() {
        let dir = std::env::temp_dir().join(format!("sc-cert-{}", util::random_token()));
        let (c, k) = (dir.join("tls/cert.pem"), dir.join("tls/key.pem"));
        let s = CertSettings {
            validity_days: 30,
            ..CertSettings::default()
        };
        let generated = generate(&c, &k, &s).unwrap();
        let mode = fs::metadata(&k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load(&c, &k).unwrap();
        assert_eq!(loaded.fingerprint, generated.fingerprint);
        assert_eq!(loaded.fingerprint.len(), 32 * 3 - 1);
        let days = (loaded.not_after - util::now_ms() / 1000) / 86_400;
        assert!((29..=30).contains(&days), "{days}");
        assert!(der::cert_facts(&loaded.chain[0]).unwrap().self_signed);
        fs::remove_dir_all(dir).unwrap();
        assert_eq!(date_time(86_400 + 3600 + 120), "1970-01-02 01:02 UTC");
    }
}
