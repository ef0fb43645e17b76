//! Storage: everything SecureChat keeps, behind one `Store`. Callers hand
//! in plain values and get rows back (the types below), never SQL and never
//! wire JSON; every query of the program — the server's and the admin
//! commands' alike — lives in this module, so a second engine can stand
//! beside SQLite without anyone above noticing.
//!
//! Today's engine is SQLite, in two files (see `sqlite.rs`):
//! `users.sqlite3` (accounts, sessions, device keys; `users.rs`) and
//! `chat.sqlite3` (groups, memberships, messages; `chat.rs`). User ids cross
//! the two files by value.

mod backup;
mod chat;
mod lock;
mod sqlite;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};

pub use backup::BackupFile;
pub use lock::DirLock;
use sqlite::Db;

/// A failure of the storage engine, for callers to map (disk full and busy
/// are worth telling apart from the rest: they pass).
#[derive(Debug)]
pub enum StoreError {
    /// The disk or the file system's quota is full: writes fail until space
    /// returns; reads keep working.
    Full,
    /// The database stayed locked past the busy timeout.
    Busy,
    /// A database from a newer program: refused so it is not damaged.
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    /// A file or directory could not be created or read.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A backup source or copy is not a sound database.
    Unsound { path: PathBuf, check: String },
    /// A running server holds the data directory.
    InUse(PathBuf),
    /// Anything else the engine reported.
    Engine(rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Full => f.write_str("the disk is full"),
            StoreError::Busy => f.write_str("the database stayed busy"),
            StoreError::NewerSchema { path, found, known } => write!(
                f,
                "{}: schema version {found} is newer than this program knows ({known}); refusing to open",
                path.display()
            ),
            StoreError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            StoreError::Unsound { path, check } => {
                write!(f, "{}: not a sound database ({check})", path.display())
            }
            StoreError::InUse(dir) => {
                write!(
                    f,
                    "{} is in use by a running SecureChat server",
                    dir.display()
                )
            }
            StoreError::Engine(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Engine(e),
        }
    }
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// A user as the admin command lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub created_at: i64,
    pub live_sessions: i64,
}

/// A live session as the admin command lists it; `id` is the first 12 hex
/// digits of its token's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: String,
    pub username: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What `revoke_session_by_prefix` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMatch {
    /// No session starts with the prefix.
    None,
    /// Exactly one did, and it is revoked.
    Revoked,
    /// This many do: give more digits.
    Ambiguous(i64),
}

/// One registered device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKey {
    pub fingerprint: String,
    pub public_key: String,
}

/// A user's name with their device keys, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeys {
    pub username: String,
    pub keys: Vec<DeviceKey>,
}

/// A group or DM room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub is_dm: bool,
    pub e2e: bool,
    pub created_at: i64,
}

/// Plaintext, or an E2E envelope (stored as the JSON text the sender sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Content(String),
    Envelope(String),
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: i64,
    pub group_id: i64,
    pub author_id: i64,
    pub author: String,
    pub body: Body,
    pub created_at: i64,
    pub edited_at: Option<i64>,
}

/// What deleting an account changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserDeleted {
    pub memberships: usize,
    pub messages: usize,
}

/// Every table of a data directory.
pub struct Store {
    dir: PathBuf,
    users: Db,
    chat: Db,
}

impl Store {
    /// Opens (creating) the data directory and both databases, bringing
    /// their schemas up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        Ok(Store {
            dir: dir.to_path_buf(),
            users: Db::open(&dir.join(users::FILE), users::MIGRATIONS)?,
            chat: Db::open(&dir.join(chat::FILE), chat::MIGRATIONS)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies the write-ahead logs into the main files (at shutdown).
    pub fn checkpoint(&self) -> Result<()> {
        self.users.checkpoint()?;
        self.chat.checkpoint()
    }
}
