//! Storage: everything SecureChat keeps, behind one `Store`. Callers hand
//! in plain values and get rows back (the types below), never SQL and never
//! wire JSON; every query of the program — the server's and the admin
//! commands' alike — lives in this module, written once for both engines
//! (`sql.rs`: the dialect both read).
//!
//! SQLite, the embedded default, keeps two files (see `sqlite.rs`):
//! `users.sqlite3` (accounts, sessions, device keys; `users.rs`) and
//! `chat.sqlite3` (groups, memberships, messages; `chat.rs`). User ids cross
//! the two files by value. A third, `search.sqlite3`, is derived: the
//! full-text index of the messages, rebuilt from them when missing
//! (`search.rs`). PostgreSQL (`--database`, `pg/`) keeps every table in one
//! database, shared by any number of instances (`pg/bus.rs` carries what
//! they tell each other). Uploaded files' bytes are kept by their hash in a
//! directory of their own (`blobs.rs`), their rows with the rest
//! (`files.rs`). Every change that live sockets elsewhere must hear of is
//! also appended to an `events` table in the same transaction
//! (`events.rs`): the one path by which this process, the admin commands
//! beside it and other instances reach every socket.

mod backup;
mod blobs;
mod buckets;
mod chat;
mod events;
mod files;
mod groups;
mod invites;
mod lock;
mod messages;
mod pg;
mod search;
mod sql;
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
pub use pg::{
    BEAT, Beat, Copied, DEAD_AFTER_MS, PresenceRow, SWEPT, Subscription, without_password,
};
pub use search::{Indexed, SearchQuery, Term};
use sql::Sql;
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
    /// What PostgreSQL reported.
    Postgres(postgres::Error),
    /// PostgreSQL cannot be reached (down, restarting, every connection
    /// busy): the request may be retried.
    Unavailable(String),
    /// A column held another type than its reader expects.
    Mismatch(String),
    /// What this engine does not do (with what to use instead).
    Unsupported(&'static str),
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
            StoreError::Unavailable(why) => write!(f, "PostgreSQL is unavailable: {why}"),
            StoreError::Mismatch(what) => write!(f, "database: {what}"),
            StoreError::Unsupported(what) => f.write_str(what),
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
        use std::error::Error;
        let io = e.source().is_some_and(|s| s.is::<std::io::Error>());
        // Connection exceptions (08…), a statement past its timeout (57014),
        // a server shutting down or starting (57P…): worth a retry later.
        let passing = e
            .code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57"));
        if e.is_closed() || io || passing {
            return StoreError::unavailable(e);
        }
        StoreError::Postgres(e)
    }
}

impl StoreError {
    /// PostgreSQL could not be reached; `e` says why (never the URL).
    pub fn unavailable(e: impl fmt::Display) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        let e = match e {
            rusqlite::Error::ToSqlConversionFailure(inner) => {
                match inner.downcast::<StoreError>() {
                    Ok(store) => return *store,
                    Err(other) => rusqlite::Error::ToSqlConversionFailure(other),
                }
            }
            e => e,
        };
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
    /// A new device, or a device's first signing key.
    Stored,
    /// Already registered as it is: when it was last used moves.
    Refreshed,
    /// Another user registered this fingerprint first.
    TakenByOther,
    /// The user removed this device; its key stays out.
    Removed,
    /// The device already has another signing key: a signing key, once
    /// registered, never changes (a new one would verify as the device).
    SigningKeyFixed,
}

/// A device key as registered: its fingerprint, public key and, from
/// clients that sign, its signing key (all base64 SPKI).
#[derive(Debug, Clone, Copy)]
pub struct NewDeviceKey<'a> {
    pub fingerprint: &'a str,
    pub public_key: &'a str,
    pub signing_key: Option<&'a str>,
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
    /// End-to-end encrypted (a room apart from the plaintext DM).
    pub e2e: bool,
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
    /// ECDSA P-256 (base64 SPKI); `None` for a device that never sent one.
    pub signing_key: Option<String>,
    /// First seen (ms).
    pub created_at: i64,
    /// Last registration refresh or signed message (ms).
    pub last_used_at: Option<i64>,
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
    /// The author sent it before, with the same `client_id`: stored then,
    /// under this id.
    Resent(i64),
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
    engine: Engine,
    /// This process's name among the instances on one PostgreSQL database.
    instance: String,
    /// The last PostgreSQL call did not find it unreachable.
    reachable: std::sync::atomic::AtomicBool,
    /// When a PostgreSQL call last succeeded (Unix ms).
    answered_at: std::sync::atomic::AtomicI64,
    /// The heartbeat's own connection (see `pg::bus`).
    beat: Mutex<Option<postgres::Client>>,
    /// Uploaded files' bytes (see `blobs.rs`; their rows are in the database).
    blobs: blobs::Blobs,
    /// Counts events this process appended, to wake whoever follows them.
    appended: Mutex<u64>,
    wake: Condvar,
    /// Messages were stored or changed since the indexer last looked.
    unindexed: Mutex<bool>,
    index_wake: Condvar,
}

/// Where the tables live.
// One per process, made once: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Sqlite(Lite),
    Postgres(pg::Pool),
}

/// The SQLite files of a data directory.
pub(crate) struct Lite {
    users: Db,
    chat: Db,
    /// The search index, with `chat` attached (see `search.rs`).
    search: Db,
}

/// Which of the SQLite files a call reads or writes (PostgreSQL holds
/// every table in one database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Users,
    Chat,
}

/// A PostgreSQL URL, shown (`Debug`, `Display`) without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: String) -> DatabaseUrl {
        DatabaseUrl(url)
    }

    /// The URL itself, password and all: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_password(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Where a server's (or an admin command's) data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The data directory: the SQLite files, and what stays per instance.
    pub data_dir: PathBuf,
    /// Uploaded files' bytes.
    pub files_dir: PathBuf,
    /// `--database postgres://…`: the tables are in PostgreSQL.
    pub database: Option<DatabaseUrl>,
}

impl Location {
    /// Opens the store there.
    pub fn open(&self) -> Result<Store> {
        match &self.database {
            Some(url) => Store::open_postgres(url.expose(), &self.data_dir, &self.files_dir),
            None => Store::open_with_files(&self.data_dir, &self.files_dir),
        }
    }

    /// What a server holds while it runs: the data directory, and in SQLite
    /// mode a files directory outside it too (see `lock.rs`); in PostgreSQL
    /// mode the files directory is every instance's.
    pub fn lock(&self) -> Result<Vec<DirLock>> {
        match self.database {
            Some(_) => Ok(vec![DirLock::acquire(&self.data_dir)?]),
            None => DirLock::acquire_with_files(&self.data_dir, &self.files_dir),
        }
    }

    /// Where the tables are, for a log line: the data directory, or the
    /// database's URL without its password.
    pub fn shown(&self) -> String {
        match &self.database {
            Some(url) => url.to_string(),
            None => self.data_dir.display().to_string(),
        }
    }
}

/// How long without one answer from PostgreSQL makes `/healthz` say so.
pub const UNREACHABLE_AFTER_MS: i64 = 3000;

/// Connections to PostgreSQL one server keeps open at most.
pub const PG_CONNECTIONS: usize = 16;
/// How long a call waits for a free PostgreSQL connection.
pub const PG_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Store {
    /// Opens (creating, mode 0700) the data directory and both databases
    /// (mode 0600), bringing their schemas up to date; files are kept in
    /// `files/` inside it.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_with_files(dir, &dir.join("files"))
    }

    /// `open`, with the files' bytes kept in `files_dir`.
    pub fn open_with_files(dir: &Path, files_dir: &Path) -> Result<Store> {
        create_dir(dir)?;
        let lite = Lite {
            users: Db::open(&dir.join(users::FILE), users::MIGRATIONS)?,
            chat: Db::open(&dir.join(chat::FILE), chat::MIGRATIONS)?,
            search: Db::open_attached(
                &dir.join(search::FILE),
                search::MIGRATIONS,
                Some((dir.join(chat::FILE), search::CHAT)),
            )?,
        };
        let reserve = lite.users.found_version == 1;
        let store = Store::with_engine(dir, files_dir, Engine::Sqlite(lite))?;
        if reserve {
            store.reserve_user_ids_seen_in_chat()?;
        }
        Ok(store)
    }

    /// Opens the PostgreSQL database at `url` (bringing its schema up to
    /// date) with the files' bytes in `files_dir`; `dir` keeps what stays
    /// per instance (certificates).
    pub fn open_postgres(url: &str, dir: &Path, files_dir: &Path) -> Result<Store> {
        create_dir(dir)?;
        let pool = pg::Pool::connect(url, PG_CONNECTIONS, PG_WAIT)?;
        pg::migrate(&mut *pool.get()?)?;
        Store::with_engine(dir, files_dir, Engine::Postgres(pool))
    }

    fn with_engine(dir: &Path, files_dir: &Path, engine: Engine) -> Result<Store> {
        Ok(Store {
            dir: dir.to_path_buf(),
            engine,
            instance: crate::util::random_token()[..12].to_string(),
            reachable: std::sync::atomic::AtomicBool::new(true),
            answered_at: std::sync::atomic::AtomicI64::new(crate::util::now_ms()),
            beat: Mutex::new(None),
            blobs: blobs::Blobs::open(files_dir).map_err(|error| StoreError::Io {
                path: files_dir.to_path_buf(),
                error,
            })?,
            appended: Mutex::new(0),
            wake: Condvar::new(),
            unindexed: Mutex::new(false),
            index_wake: Condvar::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the tables are in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// The SQLite files, for what only that engine has (backup, its search
    /// index, its checkpoints).
    fn lite(&self) -> Option<&Lite> {
        match &self.engine {
            Engine::Sqlite(lite) => Some(lite),
            Engine::Postgres(_) => None,
        }
    }

    /// Runs `f` on a connection that reads `part`.
    fn read<T>(&self, part: Part, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
        match &self.engine {
            Engine::Sqlite(lite) => lite.db(part).read_sql(|c| run(&mut Sql::Lite(c), f)),
            Engine::Postgres(pool) => {
                self.noted(pool.get().and_then(|mut c| run(&mut Sql::Pg(&mut c), f)))
            }
        }
    }

    /// Runs `f` on the connection that writes `part` (in SQLite, the one
    /// writer: keep it short).
    fn write<T>(&self, part: Part, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
        match &self.engine {
            Engine::Sqlite(lite) => lite.db(part).write_sql(|c| run(&mut Sql::Lite(c), f)),
            Engine::Postgres(pool) => {
                self.noted(pool.get().and_then(|mut c| run(&mut Sql::Pg(&mut c), f)))
            }
        }
    }

    /// Records whether PostgreSQL answered (see `reachable`).
    fn noted<T>(&self, r: Result<T>) -> Result<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let down = matches!(r, Err(StoreError::Unavailable(_)));
        self.reachable.store(!down, Relaxed);
        if r.is_ok() {
            self.answered_at.store(crate::util::now_ms(), Relaxed);
        }
        r
    }

    /// Whether the database is answering (SQLite: always): the last call
    /// found it, or one did within `UNREACHABLE_AFTER` (one slow query or a
    /// busy moment does not pull an instance out of a load balancer). A
    /// server calls it at least every quarter second (its event log), so
    /// `/healthz` can tell without waiting on it.
    pub fn reachable(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.reachable.load(Relaxed)
            || crate::util::now_ms() - self.answered_at.load(Relaxed) < UNREACHABLE_AFTER_MS
    }

    /// Copies the write-ahead logs into the main files (at shutdown).
    pub fn checkpoint(&self) -> Result<()> {
        let Some(lite) = self.lite() else {
            return Ok(());
        };
        lite.users.checkpoint()?;
        lite.chat.checkpoint()?;
        lite.search.checkpoint()
    }
}

impl Lite {
    fn db(&self, part: Part) -> &Db {
        match part {
            Part::Users => &self.users,
            Part::Chat => &self.chat,
        }
    }
}

/// `f` on `sql`, with a transaction it left open rolled back.
fn run<T>(sql: &mut Sql<'_>, f: impl FnOnce(&mut Sql<'_>) -> Result<T>) -> Result<T> {
    let out = f(sql);
    let finished = sql.finish();
    let out = out?;
    finished.map(|()| out)
}

/// Creates the data directory (mode 0700), tightening an existing one.
fn create_dir(dir: &Path) -> Result<()> {
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
    Ok(())
}
