//! What the certificate keeper last did, kept as `status.json` beside the
//! certificate: for which directory and domains the kept certificate was
//! issued (so a changed `--acme` gets a new one), its dates, the last
//! attempt and how it ended, and when the next one is due. The running
//! server writes it; `securechat acme status` reads it. Nothing secret is
//! in it.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name in the ACME directory.
pub const FILE: &str = "status.json";

/// One attempt to get a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds.
    pub at: i64,
    pub took_ms: u64,
    /// The challenge that got the certificate.
    pub challenge: Option<String>,
    /// Why it failed; `None`: a certificate was issued.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The directory and domains of the kept certificate.
    pub directory: String,
    pub domains: Vec<String>,
    /// The kept certificate's dates and renewal time (Unix seconds).
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub renew_at: Option<i64>,
    pub last_attempt: Option<Attempt>,
    /// Attempts failed in a row.
    pub failures: u32,
    /// Unix seconds.
    pub next_attempt: Option<i64>,
    /// The CA asked not to be asked before this (Unix seconds; a rate limit).
    pub not_before_retry: Option<i64>,
}

impl Status {
    /// The kept status; missing or unreadable is a blank one.
    pub fn load(dir: &Path) -> Status {
        std::fs::read(dir.join(FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Whether a status was ever written in `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join(FILE).exists()
    }

    /// Writes it under a temporary name, then renames it into place.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        super::private_dir(dir)?;
        let tmp = dir.join("status.json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(tmp, dir.join(FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_status_reads_back_and_garbage_reads_as_blank() {
        let dir = std::env::temp_dir().join(format!("sc-status-{}", crate::util::random_token()));
        assert_eq!(Status::load(&dir), Status::default());
        let s = Status {
            directory: "https://ca.test/dir".into(),
            domains: vec!["chat.test".into()],
            failures: 2,
            last_attempt: Some(Attempt {
                at: 5,
                took_ms: 7,
                challenge: None,
                error: Some("refused".into()),
            }),
            ..Status::default()
        };
        s.save(&dir).unwrap();
        assert_eq!(Status::load(&dir), s);
        std::fs::write(dir.join(FILE), "{not json").unwrap();
        assert_eq!(Status::load(&dir), Status::default());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
