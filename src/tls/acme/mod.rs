//! Certificates from an ACME CA (RFC 8555; `--acme`): the account key and
//! signed requests (`jws.rs`), the client for a directory, nonces and
//! accounts (`client.rs`), an order taken to a certificate with the
//! challenges answered by a `Responder` (`order.rs`) — TLS-ALPN-01 by a
//! rustls certificate resolver on the HTTPS port (`alpn.rs`), HTTP-01 by
//! the plain-HTTP listener (`http01.rs`) — the issued pair kept on disk
//! with when it is due again (`kept.rs`), what was last attempted
//! (`status.rs`), and the thread that keeps a certificate current and
//! swaps it in (`renew.rs`).

pub mod alpn;
pub mod client;
pub mod http01;
pub mod jws;
pub mod kept;
pub mod order;
pub mod renew;
pub mod status;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) for ACME's files, mode 0700 — it
/// holds the account key — and tightens an existing one looser than that.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// What a CA said, fit for a log line and `status.json`: control
/// characters (a forged log line's newline) shown as `\u{…}`, cut to 300
/// characters.
pub fn ca_text(s: &str) -> String {
    const MAX: usize = 300;
    let mut out = String::new();
    for c in s.chars().take(MAX) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ca_text_is_one_short_line() {
        assert_eq!(super::ca_text("bad\nINFO forged"), "bad\\nINFO forged");
        let long = "x".repeat(5000);
        assert_eq!(super::ca_text(&long).chars().count(), 301);
        assert_eq!(super::ca_text("it's \"fine\""), "it's \"fine\"");
    }
}
