//! The bytes of uploaded files, content-addressed on disk: a file is
//! written in chunks to a temporary name under `tmp/` while its SHA-256 is
//! computed, synced, then renamed to `<first two hex digits>/<sha256>`.
//! Identical bytes are kept once, whoever uploaded them (who may read them
//! is the metadata's business, `files.rs`). Nothing is held whole in
//! memory, a failed or abandoned upload leaves no file behind, and what a
//! crash left (a temporary file, or a blob no row names) is swept at start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use ring::digest;

/// Bytes kept from a file's start, for deciding its type and an image's size.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The content-addressed directory.
pub struct Blobs {
    root: PathBuf,
    /// Held while a blob is linked or unlinked together with its rows, so
    /// an upload of bytes being deleted cannot lose them (see `files.rs`).
    pub(super) link: Mutex<()>,
}

/// A file being written: the temporary file, its hash so far, its size
/// and its first `HEAD_BYTES`. Dropping it unfinished removes the file.
pub struct Incoming {
    path: PathBuf,
    file: Option<File>,
    hash: digest::Context,
    size: u64,
    head: Vec<u8>,
}

/// A finished, synced temporary file waiting for its blob name.
pub struct Written {
    path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub head: Vec<u8>,
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Incoming {
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or(io::ErrorKind::BrokenPipe)?;
        file.write_all(chunk)?;
        self.hash.update(chunk);
        self.size += chunk.len() as u64;
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Syncs the bytes to disk.
    pub fn finish(mut self) -> io::Result<Written> {
        let file = self.file.take().ok_or(io::ErrorKind::BrokenPipe)?;
        file.sync_all()?;
        drop(file);
        let hash = std::mem::replace(&mut self.hash, digest::Context::new(&digest::SHA256));
        Ok(Written {
            path: std::mem::take(&mut self.path),
            sha256: crate::util::hex(hash.finish().as_ref()),
            size: self.size,
            head: std::mem::take(&mut self.head),
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.file = None;
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Blobs {
    /// Opens (creating, mode 0700) the directory.
    pub fn open(root: &Path) -> io::Result<Blobs> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(super::DIR_MODE)
            .create(root.join("tmp"))?;
        Ok(Blobs {
            root: root.to_path_buf(),
            link: Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this hash lives (`None` for anything that is not
    /// a hash: no caller-made string ever becomes a path).
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        is_hash(sha256).then(|| self.root.join(&sha256[..2]).join(sha256))
    }

    /// Starts writing a new file.
    pub fn create(&self) -> io::Result<Incoming> {
        let path = self
            .root
            .join("tmp")
            .join(format!("{}.part", crate::util::random_token()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Incoming {
            path,
            file: Some(file),
            hash: digest::Context::new(&digest::SHA256),
            size: 0,
            head: Vec::new(),
        })
    }

    /// Gives a written file its content address (keeping the copy already
    /// there, if any). The caller holds `link`.
    pub(super) fn keep(&self, mut w: Written) -> io::Result<()> {
        let Some(dest) = self.path_of(&w.sha256) else {
            return Err(io::ErrorKind::InvalidData.into());
        };
        if dest.exists() {
            return Ok(()); // `w` is dropped: its temporary file goes.
        }
        if let Some(dir) = dest.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(super::DIR_MODE)
                .create(dir)?;
        }
        fs::rename(&w.path, &dest)?;
        w.path = PathBuf::new();
        if let Some(dir) = dest.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Removes a blob. The caller holds `link` and checked no row names it.
    pub(super) fn remove(&self, sha256: &str) {
        if let Some(p) = self.path_of(sha256) {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => crate::warn!("cannot remove a stored file: {e}"),
            }
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, sha256: &str) -> io::Result<File> {
        let p = self.path_of(sha256).ok_or(io::ErrorKind::NotFound)?;
        File::open(p)
    }

    /// Removes the temporary files of uploads an interrupted run left
    /// (only by the one process that holds the data directory, or — in a
    /// directory several instances share — those last written before
    /// `before`).
    pub(super) fn clear_tmp(&self, before: Option<SystemTime>) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let path = entry?.path();
            if written_before(&path, before) && fs::remove_file(path).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Copies a blob in from another directory of blobs (a backup's), if
    /// it is not here yet. The caller holds `link`.
    pub(super) fn copy_in(&self, from: &Path, sha256: &str) -> io::Result<()> {
        let Some(dest) = self.path_of(sha256) else {
            return Err(io::ErrorKind::InvalidData.into());
        };
        if dest.exists() {
            return Ok(());
        }
        let src = from.join(&sha256[..2]).join(sha256);
        let mut w = self.create()?;
        let mut f = File::open(src)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        let w = w.finish()?;
        if w.sha256 != sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a backed-up file does not match its hash",
            ));
        }
        self.keep(w)
    }

    /// Every blob's hash on disk.
    pub(super) fn all(&self, before: Option<SystemTime>) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            let name = dir.file_name();
            let Some(prefix) = name.to_str() else {
                continue;
            };
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let f = f?;
                if let Some(h) = f.file_name().to_str()
                    && is_hash(h)
                    && h.starts_with(prefix)
                    && written_before(&f.path(), before)
                {
                    out.push(h.to_string());
                }
            }
        }
        Ok(out)
    }
}

/// Whether the file at `path` was last written before `before` (always,
/// without one; never, when its time cannot be read).
fn written_before(path: &Path, before: Option<SystemTime>) -> bool {
    match before {
        None => true,
        Some(t) => fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m < t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_get_their_hash_as_name_and_abandoned_ones_vanish() {
        let dir = std::env::temp_dir().join(format!("blobs-{}", crate::util::random_token()));
        let blobs = Blobs::open(&dir).unwrap();
        let mut a = blobs.create().unwrap();
        a.write(b"hello ").unwrap();
        a.write(b"world").unwrap();
        let w = a.finish().unwrap();
        assert_eq!(
            w.sha256,
            crate::util::hex(&crate::util::sha256(b"hello world"))
        );
        assert_eq!((w.size, &w.head[..]), (11, &b"hello world"[..]));
        let sha = w.sha256.clone();
        blobs.keep(w).unwrap();
        assert_eq!(
            fs::read(blobs.path_of(&sha).unwrap()).unwrap(),
            b"hello world"
        );
        assert_eq!(blobs.all(None).unwrap(), vec![sha.clone()]);

        let mut b = blobs.create().unwrap();
        b.write(b"partial").unwrap();
        drop(b);
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        // A crash leaves its temporary file; the next start clears it.
        let c = blobs.create().unwrap();
        std::mem::forget(c);
        assert_eq!(blobs.clear_tmp(None).unwrap(), 1);
        assert!(blobs.path_of("../../etc/passwd").is_none());
        blobs.remove(&sha);
        assert!(blobs.all(None).unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
