//! Consistent copies of the databases through SQLite's backup API: one
//! step per file, so each copy is a single snapshot even while the server
//! writes, and every copy is integrity-checked. The uploaded files the
//! copied rows name go beside them (`files/`, checked against their hash
//! when restored).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::blobs::Blobs;
use super::{Result, Store, StoreError, chat, users};

/// What to use instead in PostgreSQL mode.
const PG_BACKUP: &str = "backup and restore copy SQLite data directories; with --database, back up the database with pg_dump (restore with pg_restore) and the --files-dir with any file copy (README: Running several instances)";

const FILES: [&str; 2] = [users::FILE, chat::FILE];
/// Where a backup keeps the uploaded files (content-addressed, as in the
/// files directory).
const FILES_DIR: &str = "files";

/// One database file written by a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies `from` into `to` in one step, so the copy is one consistent
/// snapshot even while other connections write.
fn copy_db(from: &Connection, to: &mut Connection) -> rusqlite::Result<()> {
    let b = Backup::new(from, to)?;
    for _ in 0..600 {
        match b.step(-1)? {
            StepResult::Done => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the database stayed busy for 30 s".into()),
    ))
}

fn check(path: &Path, conn: &Connection) -> Result<()> {
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check == "ok" {
        Ok(())
    } else {
        Err(StoreError::Unsound {
            path: path.to_path_buf(),
            check,
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

impl Store {
    /// Writes a consistent copy of every database into `dest` (an empty or
    /// new directory; an existing database file there is an error).
    pub fn backup_to(&self, dest: &Path) -> Result<Vec<BackupFile>> {
        let lite = self.lite().ok_or(StoreError::Unsupported(PG_BACKUP))?;
        std::fs::create_dir_all(dest).map_err(io(dest))?;
        for name in FILES {
            let target = dest.join(name);
            if target.exists() {
                return Err(StoreError::Io {
                    path: target,
                    error: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists; choose an empty directory",
                    ),
                });
            }
        }
        let mut written = Vec::new();
        for (name, db) in FILES.iter().zip([&lite.users, &lite.chat]) {
            let target = dest.join(name);
            let mut to = Connection::open(&target)?;
            db.read(|from| copy_db(from, &mut to))?;
            check(&target, &to)?;
            let bytes = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
            written.push(BackupFile {
                path: target,
                bytes,
            });
        }
        // The files the copied rows name (a file deleted since the copy
        // was taken may be gone: the restore then lacks only that one).
        let to = dest.join(FILES_DIR);
        let copy = Blobs::open(&to).map_err(io(&to))?;
        let names: Vec<String> = Connection::open(dest.join(chat::FILE))?
            .prepare("SELECT DISTINCT sha256 FROM files")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let (mut count, mut bytes) = (0, 0);
        for h in &names {
            let _linking = crate::sync::lock(&copy.link);
            match copy.copy_in(self.blobs.root(), h) {
                Ok(()) => {
                    count += 1;
                    bytes += copy
                        .path_of(h)
                        .and_then(|p| std::fs::metadata(p).ok())
                        .map_or(0, |m| m.len());
                }
                Err(e) => crate::warn!("a stored file was not backed up: {e}"),
            }
        }
        let _ = std::fs::remove_dir(to.join("tmp"));
        written.push(BackupFile { path: to, bytes });
        crate::debug!("backed up {count} file(s)");
        Ok(written)
    }

    /// Replaces every database with the copy in `src`, after checking that
    /// all of them are sound. Run with the server stopped.
    pub fn restore_from(&self, src: &Path) -> Result<Vec<PathBuf>> {
        let lite = self.lite().ok_or(StoreError::Unsupported(PG_BACKUP))?;
        let mut sources = Vec::new();
        for name in FILES {
            let path = src.join(name);
            let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| StoreError::Unsound {
                    path: path.clone(),
                    check: e.to_string(),
                })?;
            check(&path, &conn)?;
            sources.push(conn);
        }
        let mut restored = Vec::new();
        for ((name, db), from) in FILES.iter().zip([&lite.users, &lite.chat]).zip(&sources) {
            db.write(|to| copy_db(from, to))?;
            db.checkpoint()?;
            restored.push(self.dir.join(name));
        }
        // The files the restored rows name, then nothing else.
        let from = src.join(FILES_DIR);
        if from.is_dir() {
            let _linking = crate::sync::lock(&self.blobs.link);
            let names: Vec<String> = lite.chat.read(|c| {
                c.prepare("SELECT DISTINCT sha256 FROM files")?
                    .query_map([], |r| r.get(0))?
                    .collect()
            })?;
            for h in &names {
                if let Err(e) = self.blobs.copy_in(&from, h) {
                    crate::warn!("a backed-up file could not be restored: {e}");
                }
            }
            restored.push(self.blobs.root().to_path_buf());
        }
        self.sweep_files()?;
        // The index described the old messages: it is rebuilt from these.
        self.reset_index()?;
        Ok(restored)
    }
}
