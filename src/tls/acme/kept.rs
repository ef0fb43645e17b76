//! The certificate an ACME CA issued, kept in a directory beside the
//! account key: `chain.pem` (the chain, leaf first) and `key.pem` (its key,
//! mode 0600). Both are written whole and synced under temporary names
//! first, then renamed, key first; a crash between the two renames leaves
//! the new key beside the new chain's complete temporary file, which the
//! next `load` renames into place — so a crash leaves the old pair or the
//! new one, never half of each. And when it is due again: at two thirds of
//! its lifetime, and on start also when it expires within 30 days (a
//! certificate kept from a long time ago) — for certificates that live
//! longer than 30 days: a shorter-lived one (Let's Encrypt's six-day ones)
//! would otherwise be renewed on every start; the two thirds govern it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::order::Issued;

/// A certificate that expires within this long is renewed on start.
pub const RENEW_WITHIN_S: i64 = 30 * 24 * 3600;

/// A kept certificate and what its leaf says of its lifetime.
#[derive(Clone)]
pub struct Kept {
    pub chain_pem: String,
    pub key_pem: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// When to get the next one (Unix seconds): two thirds in.
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    pub fn due(&self, now: i64) -> bool {
        now >= self.renew_at()
    }

    /// Whether a server starting at `now` renews it at once.
    pub fn due_on_start(&self, now: i64) -> bool {
        let lifetime = self.not_after - self.not_before;
        self.due(now) || (lifetime > RENEW_WITHIN_S && self.not_after - now <= RENEW_WITHIN_S)
    }
}

/// The leaf's validity, from the first certificate of a PEM chain.
fn validity(chain_pem: &str) -> Option<(i64, i64)> {
    let leaf = ureq::tls::parse_pem(chain_pem.as_bytes()).find_map(|i| match i {
        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.der().to_vec()),
        _ => None,
    })?;
    let facts = crate::tls::der::cert_facts(&leaf)?;
    Some((facts.not_before, facts.not_after))
}

fn tmp(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.tmp"))
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Keeps `issued` in `dir`; what was kept, with its lifetime.
pub fn save(dir: &Path, issued: &Issued) -> std::io::Result<Kept> {
    let (not_before, not_after) = validity(&issued.chain_pem).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the issued chain's first certificate cannot be read",
        )
    })?;
    super::private_dir(dir)?;
    write_synced(&tmp(dir, "key.pem"), issued.key_pem.as_bytes(), 0o600)?;
    write_synced(&tmp(dir, "chain.pem"), issued.chain_pem.as_bytes(), 0o644)?;
    std::fs::rename(tmp(dir, "key.pem"), dir.join("key.pem"))?;
    std::fs::rename(tmp(dir, "chain.pem"), dir.join("chain.pem"))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Kept {
        chain_pem: issued.chain_pem.clone(),
        key_pem: issued.key_pem.clone(),
        not_before,
        not_after,
    })
}

/// Finishes or forgets a save a crash interrupted: the key renamed but
/// not the chain — the chain's synced temporary is renamed too; neither
/// renamed — the temporaries go, the old pair stays.
fn recover(dir: &Path) -> std::io::Result<()> {
    let (key_tmp, chain_tmp) = (tmp(dir, "key.pem"), tmp(dir, "chain.pem"));
    match (key_tmp.exists(), chain_tmp.exists()) {
        (false, true) => std::fs::rename(chain_tmp, dir.join("chain.pem")),
        (true, _) => {
            let _ = std::fs::remove_file(&chain_tmp);
            std::fs::remove_file(key_tmp)
        }
        (false, false) => Ok(()),
    }
}

/// What `dir` keeps, if anything readable.
pub fn load(dir: &Path) -> std::io::Result<Option<Kept>> {
    recover(dir)?;
    let read = |name: &str| match std::fs::read_to_string(dir.join(name)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    let (Some(chain_pem), Some(key_pem)) = (read("chain.pem")?, read("key.pem")?) else {
        return Ok(None);
    };
    Ok(validity(&chain_pem).map(|(not_before, not_after)| Kept {
        chain_pem,
        key_pem,
        not_before,
        not_after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed chain valid from `from` for `days` days.
    fn issued(from: (i32, u8, u8), days: i64) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["chat.test".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = p.not_before + time_days(days);
        let cert = p.self_signed(&key).unwrap();
        Issued {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            answered: 1,
        }
    }

    fn time_days(days: i64) -> std::time::Duration {
        std::time::Duration::from_secs(days as u64 * 86_400)
    }

    #[test]
    fn renewal_is_due_at_two_thirds_or_within_thirty_days_of_the_end() {
        let ninety = Kept {
            chain_pem: String::new(),
            key_pem: String::new(),
            not_before: 0,
            not_after: 90 * 86_400,
        };
        assert_eq!(ninety.renew_at(), 60 * 86_400, "two thirds of 90 days");
        assert!(!ninety.due(59 * 86_400) && ninety.due(60 * 86_400));
        assert!(!ninety.due_on_start(59 * 86_400) && ninety.due_on_start(60 * 86_400));
        // A year: two thirds come first.
        let year = Kept {
            not_after: 365 * 86_400,
            ..ninety.clone()
        };
        assert_eq!(year.renew_at(), 365 * 86_400 * 2 / 3);
        // Sixty days, 29 left: a start renews it at once; running, it
        // waits for two thirds of its life (day 40).
        let sixty = Kept {
            not_after: 60 * 86_400,
            ..ninety.clone()
        };
        assert!(sixty.due_on_start(31 * 86_400) && !sixty.due(31 * 86_400));
        // Twenty days (shorter than the thirty): two thirds only, or it
        // would be renewed on every start.
        let short = Kept {
            not_after: 20 * 86_400,
            ..ninety
        };
        assert!(!short.due_on_start(0));
        assert!(!short.due(0) && short.due(short.renew_at()));
    }

    #[test]
    fn a_kept_pair_survives_a_restart_with_its_key_private() {
        let dir = std::env::temp_dir().join(format!("sc-kept-{}", crate::util::random_token()));
        assert!(load(&dir).unwrap().is_none(), "nothing kept yet");
        let kept = save(&dir, &issued((2026, 1, 1), 90)).unwrap();
        assert_eq!(kept.not_after - kept.not_before, 90 * 86_400);
        let again = load(&dir).unwrap().unwrap();
        assert_eq!(
            (again.not_before, again.not_after, again.key_pem.clone()),
            (kept.not_before, kept.not_after, kept.key_pem.clone())
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(dir.join("chain.pem"), "not a certificate").unwrap();
        assert!(
            load(&dir).unwrap().is_none(),
            "an unreadable chain is not kept"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_save_a_crash_interrupted_is_finished_or_forgotten() {
        let dir = std::env::temp_dir().join(format!("sc-kept-{}", crate::util::random_token()));
        let a = issued((2026, 1, 1), 90);
        let b = issued((2026, 2, 1), 90);
        save(&dir, &a).unwrap();
        // Crashed before either rename: the old pair, the leftovers gone.
        std::fs::write(tmp(&dir, "key.pem"), &b.key_pem).unwrap();
        std::fs::write(tmp(&dir, "chain.pem"), &b.chain_pem).unwrap();
        let k = load(&dir).unwrap().unwrap();
        assert_eq!(
            (k.chain_pem.as_str(), k.key_pem.as_str()),
            (a.chain_pem.as_str(), a.key_pem.as_str())
        );
        assert!(!tmp(&dir, "key.pem").exists() && !tmp(&dir, "chain.pem").exists());
        // Crashed between the renames: the new key is in place, the new
        // chain still under its temporary name — finished.
        std::fs::write(dir.join("key.pem"), &b.key_pem).unwrap();
        std::fs::write(tmp(&dir, "chain.pem"), &b.chain_pem).unwrap();
        let k = load(&dir).unwrap().unwrap();
        assert_eq!(
            (k.chain_pem.as_str(), k.key_pem.as_str()),
            (b.chain_pem.as_str(), b.key_pem.as_str())
        );
        assert!(!format!("{k:?}").contains("PRIVATE"), "Debug shows no key");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
