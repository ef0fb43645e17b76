//! The data directory's lock: held by a running server (and by `restore`,
//! which must not run beside one), so two servers never share one data
//! directory and a restore never replaces files under a live server. A
//! files directory outside the data directory is locked the same way: a
//! second server on it would take every blob its own database does not
//! name for an interrupted upload's, and remove it at start.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::{Result, StoreError};

/// An exclusive lock on a data directory, released when dropped.
pub struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    /// Takes the lock, or fails at once with `StoreError::InUse`.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let io = |path: &Path| {
            let path: PathBuf = path.to_path_buf();
            move |error| StoreError::Io { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("securechat.lock");
        let f = File::create(&path).map_err(io(&path))?;
        match f.try_lock() {
            Ok(()) => Ok(DirLock(f)),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse(dir.to_path_buf())),
            Err(TryLockError::Error(error)) => Err(StoreError::Io { path, error }),
        }
    }

    /// The data directory's lock, and the files directory's too when it is
    /// not inside the data directory.
    pub fn acquire_with_files(data: &Path, files: &Path) -> Result<Vec<DirLock>> {
        let mut locks = vec![DirLock::acquire(data)?];
        if !files.starts_with(data) {
            locks.push(DirLock::acquire(files)?);
        }
        Ok(locks)
    }
}
