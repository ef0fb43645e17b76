//! Consistent copies of the databases through SQLite's backup API: one
//! step per file, so each copy is a single snapshot even while the server
//! writes, and every copy is integrity-checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{Result, Store, StoreError, chat, users};

const FILES: [&str; 2] = [users::FILE, chat::FILE];

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
        for (name, db) in FILES.iter().zip([&self.users, &self.chat]) {
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
        Ok(written)
    }

    /// Replaces every database with the copy in `src`, after checking that
    /// all of them are sound. Run with the server stopped.
    pub fn restore_from(&self, src: &Path) -> Result<Vec<PathBuf>> {
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
        for ((name, db), from) in FILES.iter().zip([&self.users, &self.chat]).zip(&sources) {
            db.write(|to| copy_db(from, to))?;
            db.checkpoint()?;
            restored.push(self.dir.join(name));
        }
        // The index described the old messages: it is rebuilt from these.
        self.reset_index()?;
        Ok(restored)
    }
}
