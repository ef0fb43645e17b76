//! Files shared in a conversation: who may upload (members, within the
//! size cap and their storage quota — both checked before a byte of the
//! body is read, the quota again when it is kept), how the bytes are taken
//! (in chunks to disk, never whole in memory, up to the declared length and
//! not a byte more), what a file is (decided from its bytes: PNG, JPEG, GIF
//! and WebP are images shown inline, everything else an attachment), what
//! its name may show (see `display_name`), and who may read it (members of
//! its group; anyone else is told it does not exist). Uploads never
//! attached to a message expire after an hour.

use std::io::Read;
use std::time::Duration;

use super::{Action, Chat, Refusal, sniff};
use crate::store::{NewFile, NotKept, StoredFile, User};
use crate::util;

/// Default `--max-upload`.
pub const MAX_UPLOAD: u64 = 25 * 1024 * 1024;
/// Default `--max-storage-per-user`.
pub const MAX_STORAGE: u64 = 1024 * 1024 * 1024;
/// Attachments a message may carry.
pub const MAX_ATTACHMENTS: usize = 10;
/// An upload not attached to a message within this long is removed.
pub const UNATTACHED_TTL: Duration = Duration::from_secs(3600);
/// Longest display name, in bytes of UTF-8 (a file name on any disk).
const MAX_NAME_BYTES: usize = 200;
/// Bytes read from the body at a time.
const CHUNK: usize = 64 * 1024;

/// What an upload says about itself, from its headers.
#[derive(Debug, Clone, Copy)]
pub struct UploadHead<'a> {
    /// `X-Filename`, percent-decoded (lossily, if it was not UTF-8).
    pub name: &'a str,
    /// `Content-Type` as the client sent it.
    pub content_type: Option<&'a str>,
    /// `Content-Length`.
    pub length: u64,
}

/// Bidirectional-text controls: they can make `txt.exe` read as `exe.txt`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A name safe to show and to offer as a download name: no control or
/// bidi characters, no path separators, no leading dots (so never `.` or
/// `..`), at most 200 bytes; `file` if nothing is left. It is only
/// ever shown — files are stored under their hash.
pub fn display_name(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| if matches!(c, '/' | '\\') { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let mut name = String::new();
    for c in trimmed.chars() {
        if name.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    if name.is_empty() {
        "file".to_string()
    } else {
        name
    }
}

/// A client's declared type, if it is a plain `type/subtype` and not an
/// image type (its bytes said it is not one we show) — shown for files
/// that are not images; never used to serve them.
fn declared_type(t: Option<&str>) -> String {
    let t = t.unwrap_or("").split(';').next().unwrap_or("").trim();
    if t.to_ascii_lowercase().starts_with("image/") {
        return "application/octet-stream".to_string();
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match t.split_once('/') {
        Some((a, b)) if token(a) && token(b) => t.to_ascii_lowercase(),
        _ => "application/octet-stream".to_string(),
    }
}

fn size_text(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{} KiB", n.div_ceil(1024))
    }
}

fn over_quota(left: u64) -> Refusal {
    Refusal::too_large(format!(
        "This is more than your remaining storage: {} left.",
        size_text(left)
    ))
}

fn no_such_file() -> Refusal {
    Refusal::not_found("No such file.")
}

impl Chat {
    /// Whether `user` may upload `length` bytes to `group_id` — asked
    /// before the body is read, so a refusal costs the client nothing.
    pub fn may_upload(&self, user: &User, group_id: i64, length: u64) -> Result<(), Refusal> {
        let (g, _) = self.member_group(user, group_id)?;
        if g.closed_at.is_some() {
            return Err(Refusal::forbidden(
                "This conversation is closed: the other account was deleted.",
            ));
        }
        if length == 0 {
            return Err(Refusal::bad_request("The file is empty."));
        }
        if length > self.files.max_upload {
            return Err(Refusal::too_large(format!(
                "Files may be at most {}.",
                size_text(self.files.max_upload)
            )));
        }
        let left = self.store.storage_left(user.id, self.files.quota)?;
        if length > left {
            return Err(over_quota(left));
        }
        self.take(user.id, Action::Write)
    }

    /// Takes an upload's body (exactly `head.length` bytes from `body`)
    /// to disk and keeps it, after `may_upload` said yes. A body that ends
    /// early or fails leaves nothing behind.
    pub fn upload(
        &self,
        user: &User,
        group_id: i64,
        head: &UploadHead<'_>,
        body: &mut dyn Read,
    ) -> Result<StoredFile, Refusal> {
        let (g, _) = self.member_group(user, group_id)?;
        let mut incoming = self.store.new_upload()?;
        let mut buf = vec![0u8; CHUNK];
        while incoming.size() < head.length {
            let want = usize::try_from(head.length - incoming.size())
                .unwrap_or(CHUNK)
                .min(CHUNK);
            let n = match body.read(&mut buf[..want]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => {
                    return Err(Refusal::bad_request(
                        "The upload ended before all its bytes arrived.",
                    ));
                }
                Ok(n) => n,
            };
            incoming
                .write(&buf[..n])
                .map_err(|e| self.store.file_error(e))?;
        }
        let written = incoming.finish().map_err(|e| self.store.file_error(e))?;
        // End-to-end encrypted files are ciphertext: never an image here.
        let image = (!g.e2e).then(|| sniff::image(&written.head)).flatten();
        let new = NewFile {
            group_id,
            uploader_id: user.id,
            name: display_name(head.name),
            content_type: match (image, g.e2e) {
                (Some(i), _) => i.content_type.to_string(),
                (None, true) => "application/octet-stream".to_string(),
                (None, false) => declared_type(head.content_type),
            },
            width: image.map(|i| i.width),
            height: image.map(|i| i.height),
            inline: image.is_some(),
        };
        match self
            .store
            .keep_file(&new, written, self.files.quota, util::now_ms())?
        {
            Ok(f) => {
                crate::metrics::inc(&crate::metrics::FILES_STORED);
                Ok(f)
            }
            Err(NotKept::NotMember) => {
                Err(Refusal::forbidden("You are not a member of this group."))
            }
            Err(NotKept::OverQuota { left }) => Err(over_quota(left)),
        }
    }

    /// A file `user` may read, with its bytes open (404 for everyone else,
    /// the same as for a file that does not exist).
    pub fn file(&self, user: &User, id: i64) -> Result<(StoredFile, std::fs::File), Refusal> {
        let f = self.store.file_for(user.id, id)?.ok_or_else(no_such_file)?;
        match self.store.open_file(&f) {
            Ok(bytes) => Ok((f, bytes)),
            Err(e) => {
                crate::error!("stored file {id} cannot be opened: {e}");
                Err(no_such_file())
            }
        }
    }

    /// Removes uploads nobody attached within `UNATTACHED_TTL` (or
    /// `SECURECHAT_UNATTACHED_TTL` seconds, for tests and operators).
    pub fn expire_uploads(&self) {
        let ttl = std::env::var("SECURECHAT_UNATTACHED_TTL")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(UNATTACHED_TTL, Duration::from_secs);
        let cutoff = util::now_ms() - ttl.as_millis() as i64;
        match self.store.expire_unattached(cutoff) {
            Ok(0) => {}
            Ok(n) => crate::info!("removed {n} upload(s) never attached to a message"),
            Err(e) => crate::warn!("cannot remove old uploads: {e}"),
        }
    }

    /// Checks a message's attachment list (the store checks whose they are).
    pub(super) fn attachment_ids(ids: Option<&[i64]>) -> Result<&[i64], Refusal> {
        let ids = ids.unwrap_or(&[]);
        if ids.len() > MAX_ATTACHMENTS {
            return Err(Refusal::bad_request(
                "A message may carry at most 10 attachments.",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if !ids.iter().all(|id| seen.insert(*id)) {
            return Err(Refusal::bad_request("An attachment is listed twice."));
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_never_paths_nor_deceptive() {
        assert_eq!(display_name("report.pdf"), "report.pdf");
        assert_eq!(display_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(display_name(".."), "file");
        assert_eq!(display_name("a\0b\r\nc"), "abc");
        assert_eq!(display_name("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(display_name("  .hidden "), "hidden");
        assert_eq!(display_name(". .   ,x"), ",x");
        assert_eq!(display_name(""), "file");
        assert_eq!(display_name("C:\\x"), "C:_x");
        assert_eq!(display_name(&"é".repeat(500)).chars().count(), 100);
    }

    #[test]
    fn declared_types_are_plain_or_octet_stream() {
        assert_eq!(
            declared_type(Some("application/PDF; x=1")),
            "application/pdf"
        );
        assert_eq!(
            declared_type(Some("text/html\r\nX: y")),
            "application/octet-stream"
        );
        assert_eq!(declared_type(None), "application/octet-stream");
        assert_eq!(declared_type(Some("nonsense")), "application/octet-stream");
        assert_eq!(
            declared_type(Some("image/svg+xml")),
            "application/octet-stream"
        );
    }
}
