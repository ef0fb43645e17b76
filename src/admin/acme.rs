//! `securechat acme status` and `acme renew`: what the running server's
//! certificate keeper (`tls::acme::renew`) last wrote, read back for a
//! person; and a request file it picks up within a second.

use std::path::Path;

use super::{AdminError, Result};
use crate::tls::acme::renew::{self, RENEW_REQUEST};
use crate::tls::acme::status::Status;
use crate::tls::cert::date_time;
use crate::util::now_ms;

/// Prints domains, the kept certificate, the last attempt and the next.
pub fn status(data_dir: &Path) -> Result<()> {
    let dir = renew::dir(data_dir);
    if !Status::exists(&dir) {
        println!(
            "No ACME certificate yet in {}: start the server with --acme DOMAIN --acme-email ADDR.",
            dir.display()
        );
        return Ok(());
    }
    let s = Status::load(&dir);
    let at = date_time;
    let now = now_ms() / 1000;
    println!("domains:      {}", s.domains.join(", "));
    println!("directory:    {}", s.directory);
    match (s.not_before, s.not_after) {
        (Some(from), Some(until)) => {
            let left = (until - now) / 86_400;
            println!(
                "certificate:  {} (issued {}, expires {}; {})",
                dir.join("chain.pem").display(),
                at(from),
                at(until),
                if until <= now {
                    "EXPIRED".to_string()
                } else {
                    format!("{left} days left")
                }
            );
        }
        _ => println!("certificate:  none issued yet"),
    }
    if let Some(r) = s.renew_at {
        println!("renewal due:  {}", at(r));
    }
    match &s.last_attempt {
        Some(a) => {
            let outcome = match (&a.error, &a.challenge) {
                (Some(e), _) => format!("failed: {e}"),
                (None, Some(kind)) => format!("issued over {kind}"),
                (None, None) => "issued (the CA's authorizations were still valid)".to_string(),
            };
            println!("last attempt: {} ({} ms) — {outcome}", at(a.at), a.took_ms);
        }
        None => println!("last attempt: none"),
    }
    if s.failures > 0 {
        println!("failures:     {} in a row", s.failures);
    }
    if let Some(n) = s.next_attempt {
        println!("next attempt: {}", at(n));
    }
    if dir.join(RENEW_REQUEST).exists() {
        println!(
            "renewal asked for: the running server renews within a second (or at its next start)"
        );
    }
    Ok(())
}

/// Leaves the request for the running server.
pub fn renew(data_dir: &Path) -> Result<()> {
    let dir = renew::dir(data_dir);
    if !dir.is_dir() {
        // Not made here: created by another user (root, say), the server
        // could neither write its key there nor take the request away.
        return Err(AdminError::Invalid(
            "no ACME data here yet: the server has not run with --acme on this data directory",
        ));
    }
    std::fs::write(dir.join(RENEW_REQUEST), b"")?;
    println!(
        "Asked for a new certificate: a server running with --acme on {} gets one within a second \
         (or at its next start); see its log or `securechat acme status`.",
        data_dir.display()
    );
    Ok(())
}
