//! Why the server's certificate could not be loaded, generated or used.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read, written or created.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file is not what it should be (`what`: "a PEM certificate", …).
    NotPem {
        path: PathBuf,
        what: &'static str,
    },
    /// The certificate file holds no certificate, or one we cannot read.
    Unreadable(PathBuf),
    /// One of the pair exists without the other.
    HalfPair {
        found: PathBuf,
        missing: PathBuf,
        missing_what: &'static str,
    },
    /// A certificate that is not self-signed (so not ours to renew) expired.
    Expired {
        path: PathBuf,
        on: String,
    },
    /// `gen-cert` without `--force` would overwrite these.
    WouldReplace {
        certfile: PathBuf,
        keyfile: PathBuf,
    },
    /// `tls_config.json` (when read from a file) is malformed or breaks a rule.
    Settings {
        path: Option<PathBuf>,
        why: String,
    },
    /// rcgen could not make the key or certificate.
    Generate(rcgen::Error),
    KeyMismatch,
    /// rustls refused the certificate or key.
    Unusable(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            TlsError::NotPem { path, what } => write!(f, "{}: not {what}", path.display()),
            TlsError::Unreadable(path) => {
                write!(f, "{}: the certificate could not be read", path.display())
            }
            TlsError::HalfPair {
                found,
                missing,
                missing_what,
            } => write!(
                f,
                "found {} but not the {missing_what} {}",
                found.display(),
                missing.display()
            ),
            TlsError::Expired { path, on } => {
                write!(f, "the certificate {} expired on {on}", path.display())
            }
            TlsError::WouldReplace { certfile, keyfile } => write!(
                f,
                "{} or {} already exists; add --force to replace them",
                certfile.display(),
                keyfile.display()
            ),
            TlsError::Settings {
                path: Some(path),
                why,
            } => write!(f, "{}: {why}", path.display()),
            TlsError::Settings { path: None, why } => f.write_str(why),
            TlsError::Generate(e) => write!(f, "certificate generation failed: {e}"),
            TlsError::KeyMismatch => f.write_str("the private key does not match the certificate"),
            TlsError::Unusable(e) => write!(f, "unusable certificate or key: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Generate(e)
    }
}
