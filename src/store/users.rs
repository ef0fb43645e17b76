//! `users.sqlite3`: accounts (argon2id PHC strings), sessions (SHA-256 of the
//! token only) and device public keys.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, Transaction, params};

use super::events::{self, Event};
use super::sql::Sql;
use super::sqlite::{Migration, is_unique_violation};
use super::{
    DeviceKey, KeyPut, LastAdmin, PrefixMatch, Result, SessionSummary, SessionUser, Store,
    Unregistered, User, UserDeleted, UserKeys, UserSummary,
};

/// `last_seen_at` is written at most this often per account.
pub const LAST_SEEN_EVERY_MS: i64 = 5 * 60 * 1000;

/// Whether `user_id` is the only admin whose account is not disabled.
fn last_admin(tx: &Transaction<'_>, user_id: i64) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT (SELECT admin FROM users WHERE id = ?1) = 1
            AND (SELECT count(*) FROM users WHERE admin = 1 AND disabled_at IS NULL AND id != ?1) = 0",
        [user_id],
        |r| r.get(0),
    )
}

pub const FILE: &str = "users.sqlite3";

pub const MIGRATIONS: &[Migration] = &[
    Migration::Sql(V1),
    // Ids are never reused: AUTOINCREMENT keeps the highest id ever given
    // (a plain INTEGER PRIMARY KEY hands a deleted newest id out again).
    Migration::Rebuild(
        "CREATE TABLE users_v2 (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at    INTEGER NOT NULL
        );
        INSERT INTO users_v2 (id, username, password_hash, created_at)
            SELECT id, username, password_hash, created_at FROM users;
        DROP TABLE users;
        ALTER TABLE users_v2 RENAME TO users;",
    ),
    Migration::Sql("CREATE INDEX device_keys_fingerprint ON device_keys(fingerprint);"),
    Migration::Sql(events::TABLE),
    // Server administration: admins, disabled accounts, last seen, server
    // invites, one-time password reset links, settings.
    Migration::Sql(
        "ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE users ADD COLUMN disabled_at INTEGER;
        ALTER TABLE users ADD COLUMN last_seen_at INTEGER;
        -- The first account is a server admin; an existing server's oldest.
        UPDATE users SET admin = 1 WHERE id = (SELECT min(id) FROM users);
        CREATE TABLE server_invites (
            code       TEXT PRIMARY KEY,
            created_by INTEGER,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            max_uses   INTEGER,
            uses       INTEGER NOT NULL DEFAULT 0,
            revoked_at INTEGER
        );
        CREATE TABLE reset_links (
            token_hash TEXT PRIMARY KEY,
            user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at    INTEGER
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
];

const V1: &str = r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE device_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (user_id, fingerprint)
);
"#;

/// Most device keys kept per user; registering more drops the oldest.
pub const MAX_DEVICE_KEYS: i64 = 20;

/// `id, username, admin`, the columns `user_row` reads.
const USER_COLS: &str = "u.id, u.username, u.admin";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        admin: r.get(2)?,
    })
}

/// Inserts an account; the first ever made is a server admin.
fn insert_user(
    tx: &Transaction<'_>,
    username: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<User>> {
    let first: bool = tx.query_row(
        "SELECT NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users' AND seq > 0)",
        [],
        |r| r.get(0),
    )?;
    match tx.execute(
        "INSERT INTO users (username, password_hash, created_at, admin) VALUES (?1, ?2, ?3, ?4)",
        params![username, password_hash, now, first],
    ) {
        Ok(_) => Ok(Some(User {
            id: tx.last_insert_rowid(),
            username: username.to_string(),
            admin: first,
        })),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Inserts a user; `Ok(None)` when the name is taken (case-insensitively).
    pub fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>> {
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let user = insert_user(&tx, username, password_hash, now)?;
            tx.commit()?;
            Ok(user)
        })
    }

    /// Inserts a user who registers with a server invite, counting its use
    /// in the same transaction.
    pub fn create_user_invited(
        &self,
        username: &str,
        password_hash: &str,
        invite: &str,
        now: i64,
    ) -> Result<std::result::Result<User, Unregistered>> {
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            if !Store::use_server_invite_on(&mut Sql::Lite(&tx), invite, now)? {
                return Ok(Err(Unregistered::BadInvite));
            }
            let Some(user) = insert_user(&tx, username, password_hash, now)? else {
                return Ok(Err(Unregistered::NameTaken));
            };
            tx.commit()?;
            Ok(Ok(user))
        })
    }

    /// The account with this name (case-insensitively), unless disabled,
    /// and its password hash.
    pub fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        self.sqlite_only().users.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {USER_COLS}, u.password_hash FROM users u
                     WHERE u.username = ?1 AND u.disabled_at IS NULL"
                ),
                [username],
                |r| Ok((user_row(r)?, r.get(3)?)),
            )
            .optional()
        })
    }

    /// The account with this name, disabled or not, and whether it is.
    pub fn any_user_by_name(&self, username: &str) -> Result<Option<(User, bool)>> {
        self.sqlite_only().users.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {USER_COLS}, u.disabled_at IS NOT NULL FROM users u WHERE u.username = ?1"
                ),
                [username],
                |r| Ok((user_row(r)?, r.get(3)?)),
            )
            .optional()
        })
    }

    /// An account by id (disabled ones too).
    pub fn user(&self, id: i64) -> Result<Option<User>> {
        self.sqlite_only().users.read(|c| {
            c.query_row(
                &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
                [id],
                user_row,
            )
            .optional()
        })
    }

    /// Every user with their creation time and live sessions, by id.
    pub fn list_users(&self, now: i64) -> Result<Vec<UserSummary>> {
        self.sqlite_only().users.read(|c| {
            let mut st = c.prepare(
                "SELECT u.id, u.username, u.created_at,
                        (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?1),
                        u.admin, u.disabled_at IS NOT NULL, u.last_seen_at
                 FROM users u ORDER BY u.id",
            )?;
            let rows = st.query_map([now], |r| {
                Ok(UserSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    live_sessions: r.get(3)?,
                    admin: r.get(4)?,
                    disabled: r.get(5)?,
                    last_seen_at: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Makes an account a server admin or not; the last admin cannot stop
    /// being one. Returns whether the account exists.
    pub fn set_admin(
        &self,
        user_id: i64,
        admin: bool,
    ) -> Result<std::result::Result<bool, LastAdmin>> {
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            if !admin && last_admin(&tx, user_id)? {
                return Ok(Err(LastAdmin));
            }
            let n = tx.execute(
                "UPDATE users SET admin = ?2 WHERE id = ?1",
                params![user_id, admin],
            )?;
            tx.commit()?;
            Ok(Ok(n > 0))
        })
    }

    /// Disables an account (it cannot log in; every session ends, and its
    /// sockets close) or enables it again. The last admin cannot be
    /// disabled. Returns whether the account exists.
    pub fn set_disabled(
        &self,
        user_id: i64,
        disabled: bool,
        now: i64,
    ) -> Result<std::result::Result<bool, LastAdmin>> {
        let done = self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            if disabled && last_admin(&tx, user_id)? {
                return Ok(Err(LastAdmin));
            }
            let n = tx.execute(
                "UPDATE users SET disabled_at = CASE WHEN ?2 THEN coalesce(disabled_at, ?3) END WHERE id = ?1",
                params![user_id, disabled, now],
            )?;
            if disabled && n > 0 {
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
                events::append_tx(&tx, Event::SessionsEnded { user_id }, now)?;
            }
            tx.commit()?;
            Ok(Ok(n > 0))
        })?;
        if disabled && matches!(done, Ok(true)) {
            self.appended();
        }
        Ok(done)
    }

    /// Notes that a user was here, at most once every `LAST_SEEN_EVERY_MS`.
    pub fn touch_last_seen(&self, user_id: i64, now: i64) -> Result<()> {
        self.sqlite_only().users.write(|c| {
            c.prepare_cached(
                "UPDATE users SET last_seen_at = ?2
                 WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at < ?2 - ?3)",
            )?
            .execute(params![user_id, now, LAST_SEEN_EVERY_MS])
            .map(drop)
        })
    }

    /// Stores a one-time password reset link (by its token's hash).
    pub fn create_reset_link(
        &self,
        user_id: i64,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.sqlite_only().users.write(|c| {
            c.execute(
                "INSERT INTO reset_links (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user_id, now, expires_at],
            )
            .map(drop)
        })
    }

    /// The account a reset link is for, while it is unused and unexpired.
    pub fn reset_link_user(&self, token_hash: &str, now: i64) -> Result<Option<User>> {
        self.sqlite_only().users.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {USER_COLS} FROM reset_links l JOIN users u ON u.id = l.user_id
                     WHERE l.token_hash = ?1 AND l.used_at IS NULL AND l.expires_at > ?2"
                ),
                params![token_hash, now],
                user_row,
            )
            .optional()
        })
    }

    /// Uses a reset link: sets the new password and ends every session of
    /// the account, once. Returns the account, or `None` when the link is
    /// used, expired or unknown.
    pub fn use_reset_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>> {
        let user = self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let user: Option<i64> = tx
                .query_row(
                    "UPDATE reset_links SET used_at = ?2
                     WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING user_id",
                    params![token_hash, now],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(user_id) = user else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, password_hash],
            )?;
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            events::append_tx(&tx, Event::SessionsEnded { user_id }, now)?;
            let user = tx
                .query_row(
                    &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
                    [user_id],
                    user_row,
                )
                .optional()?;
            tx.commit()?;
            Ok(user)
        })?;
        if user.is_some() {
            self.appended();
        }
        Ok(user)
    }

    /// A stored setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.sqlite_only().users.read(|c| {
            c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.sqlite_only().users.write(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        self.sqlite_only().users.write(|c| {
            c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, password_hash],
            )
            .map(|_| ())
        })
    }

    /// The password hash of a user.
    pub fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        self.sqlite_only().users.read(|c| {
            c.query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Deletes an account, its sessions, device keys and memberships. Its
    /// messages stay, credited to `renamed`, so conversations remain
    /// readable and nobody who later registers the name appears as their
    /// author; its direct conversations stay readable and are closed.
    pub fn delete_user(&self, user_id: i64, renamed: &str, now: i64) -> Result<UserDeleted> {
        let (memberships, messages) = self.sqlite_only().chat.write(|c| {
            let tx = c.transaction()?;
            // A DM between two closes; a group DM goes on without them.
            tx.execute(
                "UPDATE groups SET closed_at = ?3, name = ?2
                 WHERE kind = 'dm' AND closed_at IS NULL
                   AND id IN (SELECT group_id FROM memberships WHERE user_id = ?1)
                   AND (SELECT count(*) FROM memberships m WHERE m.group_id = groups.id) <= 2",
                params![user_id, renamed, now],
            )?;
            tx.execute("DELETE FROM read_state WHERE user_id = ?1", [user_id])?;
            let groups: Vec<i64> = tx
                .prepare("SELECT group_id FROM memberships WHERE user_id = ?1")?
                .query_map([user_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for &group_id in &groups {
                events::append_tx(&tx, Event::MemberLeft { group_id, user_id }, now)?;
            }
            let owned: Vec<i64> = tx
                .prepare("SELECT group_id FROM memberships WHERE user_id = ?1 AND role = 'owner'")?
                .query_map([user_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            tx.execute("DELETE FROM memberships WHERE user_id = ?1", [user_id])?;
            // Groups they owned pass on as if they had left; private groups
            // nobody is left in are gone.
            for group_id in owned {
                if let Some(next) = super::groups::successor(&mut Sql::Lite(&tx), group_id)? {
                    tx.execute(
                        "UPDATE memberships SET role = 'owner' WHERE group_id = ?1 AND user_id = ?2",
                        params![group_id, next],
                    )?;
                }
            }
            tx.execute(
                "DELETE FROM groups WHERE kind = 'group' AND private = 1
                   AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = groups.id)",
                [],
            )?;
            let n = tx.execute(
                "UPDATE messages SET author = ?2 WHERE author_id = ?1",
                params![user_id, renamed],
            )?;
            tx.commit()?;
            Ok((groups.len(), n))
        })?;
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
            events::append_tx(&tx, Event::SessionsEnded { user_id }, now)?;
            tx.commit()
        })?;
        self.appended();
        Ok(UserDeleted {
            memberships,
            messages,
        })
    }

    /// After a v1 users file was rebuilt with AUTOINCREMENT: ids of
    /// accounts deleted before the upgrade may still be named in the chat
    /// file (as authors, members, creators, DM keys); none is handed out
    /// again.
    pub(super) fn reserve_user_ids_seen_in_chat(&self) -> Result<()> {
        let highest: i64 = self.sqlite_only().chat.read(|c| {
            let mut max: i64 = c.query_row(
                "SELECT max(coalesce((SELECT max(author_id) FROM messages), 0),
                            coalesce((SELECT max(user_id) FROM memberships), 0),
                            coalesce((SELECT max(created_by) FROM groups), 0))",
                [],
                |r| r.get(0),
            )?;
            let mut st = c.prepare("SELECT name_key FROM groups WHERE kind = 'dm'")?;
            for key in st.query_map([], |r| r.get::<_, String>(0))? {
                let key = key?;
                for part in key.split(':').skip(1) {
                    max = max.max(part.parse().unwrap_or(0));
                }
            }
            Ok(max)
        })?;
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let seq: Option<i64> = tx
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'users'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match seq {
                Some(s) if s >= highest => {}
                Some(_) => {
                    tx.execute(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'users'",
                        [highest],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('users', ?1)",
                        [highest],
                    )?;
                }
            }
            tx.commit()
        })
    }

    /// Stores a new session (by the hash of its token) and prunes expired ones.
    pub fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.sqlite_only().users.write(|c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user_id, now, expires_at],
            )?;
            // Expired sessions are pruned whenever anyone logs in.
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            Ok(())
        })
    }

    /// The user of an unexpired session (of an account not disabled).
    pub fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<SessionUser>> {
        self.sqlite_only().users.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLS}, s.expires_at, u.last_seen_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
            ))?
            .query_row(params![token_hash, now], |r| {
                Ok(SessionUser {
                    user: user_row(r)?,
                    expires_at: r.get(3)?,
                    last_seen_at: r.get(4)?,
                })
            })
            .optional()
        })
    }

    /// The token hashes of a user's unexpired sessions.
    pub fn live_sessions(&self, user_id: i64, now: i64) -> Result<HashSet<String>> {
        self.sqlite_only().users.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT token_hash FROM sessions WHERE user_id = ?1 AND expires_at > ?2",
            )?;
            let rows = st.query_map(params![user_id, now], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Ends one session (logout).
    pub fn delete_session(&self, token_hash: &str, now: i64) -> Result<()> {
        let ended = self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let user: Option<i64> = tx
                .query_row(
                    "DELETE FROM sessions WHERE token_hash = ?1 RETURNING user_id",
                    [token_hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(user_id) = user {
                events::append_tx(&tx, Event::SessionsEnded { user_id }, now)?;
            }
            tx.commit()?;
            Ok(user.is_some())
        })?;
        if ended {
            self.appended();
        }
        Ok(())
    }

    /// Ends every session of a user except `keep` (a token hash); returns
    /// how many ended.
    pub fn revoke_sessions(&self, user_id: i64, keep: Option<&str>, now: i64) -> Result<usize> {
        let n = self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash != ?2)",
                params![user_id, keep],
            )?;
            if n > 0 {
                events::append_tx(&tx, Event::SessionsEnded { user_id }, now)?;
            }
            tx.commit()?;
            Ok(n)
        })?;
        if n > 0 {
            self.appended();
        }
        Ok(n)
    }

    /// Revokes the one session whose token hash starts with `prefix` (hex).
    pub fn revoke_session_by_prefix(&self, prefix: &str, now: i64) -> Result<PrefixMatch> {
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        let found = self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let matching: Vec<i64> = tx
                .prepare("SELECT user_id FROM sessions WHERE token_hash LIKE ?1")?
                .query_map([&pattern], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let found = match matching.as_slice() {
                [] => PrefixMatch::None,
                [user_id] => {
                    tx.execute("DELETE FROM sessions WHERE token_hash LIKE ?1", [&pattern])?;
                    events::append_tx(&tx, Event::SessionsEnded { user_id: *user_id }, now)?;
                    PrefixMatch::Revoked
                }
                many => PrefixMatch::Ambiguous(many.len() as i64),
            };
            tx.commit()?;
            Ok(found)
        })?;
        if found == PrefixMatch::Revoked {
            self.appended();
        }
        Ok(found)
    }

    /// Live sessions, oldest first, of one user or of everyone.
    pub fn list_sessions(&self, username: Option<&str>, now: i64) -> Result<Vec<SessionSummary>> {
        self.sqlite_only().users.read(|c| {
            let mut st = c.prepare(
                "SELECT substr(s.token_hash, 1, 12), u.username, s.created_at, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.expires_at > ?1 AND (?2 IS NULL OR u.username = ?2)
                 ORDER BY s.created_at",
            )?;
            let rows = st.query_map(params![now, username], |r| {
                Ok(SessionSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Registers (or refreshes) a device key for a user, unless another
    /// user registered the same key first.
    pub fn put_device_key(
        &self,
        user_id: i64,
        fingerprint: &str,
        public_key: &str,
        now: i64,
    ) -> Result<KeyPut> {
        self.sqlite_only().users.write(|c| {
            let tx = c.transaction()?;
            let theirs: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM device_keys WHERE fingerprint = ?1 AND user_id != ?2)",
                params![fingerprint, user_id],
                |r| r.get(0),
            )?;
            if theirs {
                return Ok(KeyPut::TakenByOther);
            }
            tx.execute(
                "INSERT INTO device_keys (user_id, fingerprint, public_key, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, fingerprint) DO UPDATE SET created_at = excluded.created_at",
                params![user_id, fingerprint, public_key, now],
            )?;
            tx.execute(
                "DELETE FROM device_keys WHERE user_id = ?1 AND id NOT IN
                 (SELECT id FROM device_keys WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2)",
                params![user_id, MAX_DEVICE_KEYS],
            )?;
            tx.commit()?;
            Ok(KeyPut::Stored)
        })
    }

    /// A user's name and device keys, oldest first; `None` for no such user.
    pub fn device_keys(&self, user_id: i64) -> Result<Option<UserKeys>> {
        self.sqlite_only().users.read(|c| {
            let Some(username) = c
                .query_row("SELECT username FROM users WHERE id = ?1", [user_id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
            else {
                return Ok(None);
            };
            let mut st = c.prepare_cached(
                "SELECT fingerprint, public_key FROM device_keys WHERE user_id = ?1 ORDER BY created_at, id",
            )?;
            let keys = st
                .query_map([user_id], |r| {
                    Ok(DeviceKey {
                        fingerprint: r.get(0)?,
                        public_key: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(UserKeys { username, keys }))
        })
    }
}
