//! Storage: everything SecureChat keeps, behind one `Store`. Callers hand
//! in plain values and get rows back (the types below), never SQL and never
//! wire JSON; every query of the program — the server's and the admin
//! commands' alike — lives in this module, so a second engine can stand
//! beside SQLite without anyone above noticing.
//!
//! Today's engine is SQLite, in two files (see `sqlite.rs`):
//! `users.sqlite3` (accounts, sessions, device keys; `users.rs`) and
//! `chat.sqlite3` (groups, memberships, messages; `chat.rs`). User ids cross
//! the two files by value. A third, `search.sqlite3`, is derived: the
//! full-text index of the messages, rebuilt from them when missing
//! (`search.rs`). Uploaded files' bytes are kept by their hash in a
//! directory of their own (`blobs.rs`), their rows in `chat.sqlite3`
//! (`files.rs`). Every change that live sockets elsewhere must
//! hear of is also appended to an `events` table in the same transaction
//! (`events.rs`): the one path by which this process, the admin commands
//! beside it and (later) other instances reach every socket.

mod backup;
mod blobs;
mod chat;
mod events;
mod files;
mod groups;
mod invites;
mod lock;
mod messages;
mod pg;
mod search;
mod sqlite;
mod users;

use std::fmt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

pub use backup::BackupFile;
pub use blobs::{HEAD_BYTES, Incoming, Written};
pub use events::{Event, EventCursor};
pub use files::{NewFile, NotKept, StoredFile};
pub use groups::Left;
pub use lock::DirLock;
pub use messages::{Change, EXCERPT_CHARS, Extras, NotReacted, ReadState, UNREAD_CAP};
pub use pg::Copied;
pub use search::{Indexed, SearchQuery, Term};
use sqlite::Db;
pub use users::LAST_SEEN_EVERY_MS;

/// The data directory is its owner's alone.
pub const DIR_MODE: u32 = 0o700;

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
    /// What PostgreSQL (or the way to it) reported.
    Postgres(postgres::Error),
    /// A migration's target already holds tables.
    NotEmpty { tables: i64 },
    /// A migration copied other counts than its source holds.
    Miscounted {
        table: &'static str,
        source: i64,
        copied: i64,
    },
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
            StoreError::Postgres(e) => write!(f, "PostgreSQL: {e}"),
            StoreError::NotEmpty { tables } => write!(
                f,
                "the target database is not empty ({tables} tables): migrate only into an empty one"
            ),
            StoreError::Miscounted {
                table,
                source,
                copied,
            } => write!(
                f,
                "{table}: {source} rows in the SQLite database but {copied} copied; nothing was kept"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                full::noted();
                StoreError::Full
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Engine(e),
        }
    }
}

/// A full disk refuses every write until space returns; one log line a
/// minute with a count says so without flooding the log.
mod full {
    static REFUSED: crate::log::Tally = crate::log::Tally::new();

    pub fn noted() {
        if let Some(n) = REFUSED.count() {
            crate::error!(
                "the disk is full: {n} write(s) refused since the last report; reads go on, writes resume when space is freed"
            );
        }
    }
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    /// A server admin.
    pub admin: bool,
}

/// The last server admin cannot stop being one, nor be disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAdmin;

/// Why a registration with a server invite made no account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unregistered {
    /// The code is unknown, revoked, expired or used up.
    BadInvite,
    NameTaken,
}

/// A group name that looks like one the user can already see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTaken;

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// One membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub role: Role,
    pub joined_at: i64,
}

/// An invite link (a group's, or the server's for registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub code: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
}

/// What using a group invite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteUse {
    /// The code is unknown, revoked, expired or used up.
    Invalid,
    /// `added`: the user was not a member before.
    Joined { group_id: i64, added: bool },
}

/// The user of a live session, and when the session expires (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user: User,
    pub expires_at: i64,
    /// When the account was last seen (see `Store::touch_last_seen`).
    pub last_seen_at: Option<i64>,
}

/// What registering a device key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPut {
    Stored,
    /// Another user registered this fingerprint first.
    TakenByOther,
}

/// One of a user's direct conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmRow {
    pub group_id: i64,
    /// The other members with accounts (one in a DM between two; none
    /// once the other account of such a DM is gone).
    pub others: Vec<i64>,
    /// What the room is called once the other account is gone.
    pub name: String,
    /// No new messages: the other account of a two-person DM was deleted.
    pub closed: bool,
}

/// A user as the admin command and page list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub created_at: i64,
    pub live_sessions: i64,
    pub admin: bool,
    pub disabled: bool,
    pub last_seen_at: Option<i64>,
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
    /// Invisible to non-members.
    pub private: bool,
    pub created_at: i64,
    /// Set when the room takes no new messages (a DM whose other member's
    /// account was deleted).
    pub closed_at: Option<i64>,
    pub member_count: i64,
}

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The author is not (or no longer) a member.
    NotMember,
    /// The room takes no new messages.
    Closed,
    /// The message it replies to is not a live message of the group.
    BadReply,
    /// An attachment is not the author's unattached upload to the group.
    BadAttachment,
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
    /// A line the room's moderators' actions left, not a member's message.
    pub system: bool,
    /// The message this one answers.
    pub reply_to: Option<ReplyRef>,
    /// Usernames mentioned.
    pub mentions: Vec<String>,
    /// Emoji → who reacted with it, in the order first used.
    pub reactions: Reactions,
    /// Files attached, in upload order.
    pub attachments: Vec<StoredFile>,
}

/// A message's reactions: each emoji with who reacted with it, emoji in
/// the order first used, people in the order they reacted.
pub type Reactions = Vec<(String, Vec<String>)>;

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRef {
    pub id: i64,
    pub author: String,
    /// Its first 100 characters; `None` for an E2E or deleted message.
    pub excerpt: Option<String>,
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
    /// The search index, with `chat` attached (see `search.rs`).
    search: Db,
    /// Uploaded files' bytes (see `blobs.rs`; their rows are in `chat`).
    blobs: blobs::Blobs,
    /// Counts events this process appended, to wake whoever follows them.
    appended: Mutex<u64>,
    wake: Condvar,
    /// Messages were stored or changed since the indexer last looked.
    unindexed: Mutex<bool>,
    index_wake: Condvar,
}

impl Store {
    /// Opens (creating, mode 0700) the data directory and both databases
    /// (mode 0600), bringing their schemas up to date; files are kept in
    /// `files/` inside it.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_with_files(dir, &dir.join("files"))
    }

    /// `open`, with the files' bytes kept in `files_dir`.
    pub fn open_with_files(dir: &Path, files_dir: &Path) -> Result<Store> {
        let io = |error| StoreError::Io {
            path: dir.to_path_buf(),
            error,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(io)?;
        let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode() & 0o777;
        if mode != DIR_MODE {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(io)?;
            crate::info!("{}: mode {mode:o} tightened to {DIR_MODE:o}", dir.display());
        }
        let store = Store {
            dir: dir.to_path_buf(),
            users: Db::open(&dir.join(users::FILE), users::MIGRATIONS)?,
            chat: Db::open(&dir.join(chat::FILE), chat::MIGRATIONS)?,
            search: Db::open_attached(
                &dir.join(search::FILE),
                search::MIGRATIONS,
                Some((dir.join(chat::FILE), search::CHAT)),
            )?,
            blobs: blobs::Blobs::open(files_dir).map_err(|error| StoreError::Io {
                path: files_dir.to_path_buf(),
                error,
            })?,
            appended: Mutex::new(0),
            wake: Condvar::new(),
            unindexed: Mutex::new(false),
            index_wake: Condvar::new(),
        };
        if store.users.found_version == 1 {
            store.reserve_user_ids_seen_in_chat()?;
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copies the write-ahead logs into the main files (at shutdown).
    pub fn checkpoint(&self) -> Result<()> {
        self.users.checkpoint()?;
        self.chat.checkpoint()?;
        self.search.checkpoint()
    }
}
