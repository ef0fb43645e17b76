//! `tls_config.json`: what a generated self-signed certificate says.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use super::TlsError;

/// The settings, with defaults for every field.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CertSettings {
    /// Subject common name.
    pub common_name: String,
    /// Subject organisation.
    pub organization: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP address subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// How long the certificate is valid, from now.
    pub validity_days: u32,
    /// `ecdsa-p256` (default), `ecdsa-p384` or `ed25519`.
    pub key_algorithm: String,
}

impl Default for CertSettings {
    fn default() -> Self {
        CertSettings {
            common_name: "localhost".into(),
            organization: "SecureChat (self-signed)".into(),
            dns_names: vec!["localhost".into()],
            ip_addresses: vec![
                [127, 0, 0, 1].into(),
                "::1".parse().unwrap_or(IpAddr::from([0u8; 16])),
            ],
            validity_days: 365,
            key_algorithm: "ecdsa-p256".into(),
        }
    }
}

impl CertSettings {
    /// Reads and checks the file; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<CertSettings, TlsError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|e| match e {
                TlsError::Settings { why, .. } => TlsError::Settings {
                    path: Some(path.to_path_buf()),
                    why,
                },
                other => other,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CertSettings::default()),
            Err(error) => Err(TlsError::Io {
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Parses and checks the settings; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<CertSettings, TlsError> {
        Self::parse_checked(bytes).map_err(|why| TlsError::Settings { path: None, why })
    }

    fn parse_checked(bytes: &[u8]) -> Result<CertSettings, String> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !v.is_object() {
            return Err("expected a JSON object".into());
        }
        let s: CertSettings = serde_json::from_value(v).map_err(|e| e.to_string())?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        if self.common_name.trim().is_empty() || self.common_name.len() > 64 {
            return Err("common_name must be 1 to 64 characters".into());
        }
        if self.organization.len() > 64 {
            return Err("organization must be at most 64 characters".into());
        }
        if self.dns_names.is_empty() && self.ip_addresses.is_empty() {
            return Err("give at least one of dns_names or ip_addresses".into());
        }
        for name in &self.dns_names {
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
                });
            if !ok {
                return Err(format!("not a DNS name: {name:?}"));
            }
        }
        if !(1..=3650).contains(&self.validity_days) {
            return Err("validity_days must be 1 to 3650".into());
        }
        if !matches!(
            self.key_algorithm.as_str(),
            "ecdsa-p256" | "ecdsa-p384" | "ed25519"
        ) {
            return Err(format!(
                "key_algorithm {:?} is not one of ecdsa-p256, ecdsa-p384, ed25519",
                self.key_algorithm
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_the_shipped_file_agree() {
        let shipped = include_bytes!("../../tls_config.json");
        assert_eq!(
            CertSettings::parse(shipped).unwrap(),
            CertSettings::default()
        );
        assert_eq!(CertSettings::parse(b"{}").unwrap(), CertSettings::default());
    }

    #[test]
    fn refusals() {
        for bad in [
            &br#"{"validity_days": 0}"#[..],
            br#"{"validity_days": 99999}"#,
            br#"{"key_algorithm": "rsa-512"}"#,
            br#"{"dns_names": ["bad name"]}"#,
            br#"{"dns_names": [], "ip_addresses": []}"#,
            br#"{"ip_addresses": ["300.1.1.1"]}"#,
            br#"{"common_name": ""}"#,
            br#"{"unknown": 1}"#,
            br#"[]"#,
            b"not json",
        ] {
            assert!(
                CertSettings::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
