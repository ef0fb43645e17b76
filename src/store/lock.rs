//! The data directory's lock: held by a running server (and by `restore`,
//! which must not run beside one), so two servers never share one data
//! directory and a restore never replaces files under a live server.

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
}
