//! `users.sqlite3`: accounts (argon2id PHC strings), sessions (SHA-256 of the
//! token only) and device public keys.

use rusqlite::{OptionalExtension, params};

use super::sqlite::is_unique_violation;
use super::{
    DeviceKey, PrefixMatch, Result, SessionSummary, Store, User, UserDeleted, UserKeys, UserSummary,
};

pub const FILE: &str = "users.sqlite3";

pub const MIGRATIONS: &[&str] = &[r#"
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
"#];

/// Most device keys kept per user; registering more drops the oldest.
pub const MAX_DEVICE_KEYS: i64 = 20;

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
    })
}

impl Store {
    /// Inserts a user; `Ok(None)` when the name is taken (case-insensitively).
    pub fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>> {
        let r = self.users.write(|c| {
            match c.execute(
                "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)",
                params![username, password_hash, now],
            ) {
                Ok(_) => Ok(Some(c.last_insert_rowid())),
                Err(e) if is_unique_violation(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        Ok(r.map(|id| User {
            id,
            username: username.to_string(),
        }))
    }

    /// The user with this name (case-insensitively) and their password hash.
    pub fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        self.users.read(|c| {
            c.query_row(
                "SELECT id, username, password_hash FROM users WHERE username = ?1",
                [username],
                |r| Ok((user_row(r)?, r.get(2)?)),
            )
            .optional()
        })
    }

    /// A user by id.
    pub fn user(&self, id: i64) -> Result<Option<User>> {
        self.users.read(|c| {
            c.query_row(
                "SELECT id, username FROM users WHERE id = ?1",
                [id],
                user_row,
            )
            .optional()
        })
    }

    /// Every user with their creation time and live sessions, by id.
    pub fn list_users(&self, now: i64) -> Result<Vec<UserSummary>> {
        self.users.read(|c| {
            let mut st = c.prepare(
                "SELECT u.id, u.username, u.created_at,
                        (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?1)
                 FROM users u ORDER BY u.id",
            )?;
            let rows = st.query_map([now], |r| {
                Ok(UserSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    live_sessions: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        self.users.write(|c| {
            c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, password_hash],
            )
            .map(|_| ())
        })
    }

    /// The password hash of a user.
    pub fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        self.users.read(|c| {
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
    /// author.
    pub fn delete_user(&self, user_id: i64, renamed: &str) -> Result<UserDeleted> {
        let (memberships, messages) = self.chat.write(|c| {
            let tx = c.transaction()?;
            let m = tx.execute("DELETE FROM memberships WHERE user_id = ?1", [user_id])?;
            let n = tx.execute(
                "UPDATE messages SET author = ?2 WHERE author_id = ?1",
                params![user_id, renamed],
            )?;
            tx.commit()?;
            Ok((m, n))
        })?;
        self.users
            .write(|c| c.execute("DELETE FROM users WHERE id = ?1", [user_id]))?;
        Ok(UserDeleted {
            memberships,
            messages,
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
        self.users.write(|c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![token_hash, user_id, now, expires_at],
            )?;
            // Expired sessions are pruned whenever anyone logs in.
            c.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
            Ok(())
        })
    }

    /// The user of an unexpired session.
    pub fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<User>> {
        self.users.read(|c| {
            c.query_row(
                "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![token_hash, now],
                user_row,
            )
            .optional()
        })
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.users.write(|c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                .map(|_| ())
        })
    }

    /// Ends every session of a user except `keep` (a token hash); returns
    /// how many ended.
    pub fn revoke_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<usize> {
        self.users.write(|c| {
            c.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash != ?2)",
                params![user_id, keep],
            )
        })
    }

    /// Revokes the one session whose token hash starts with `prefix` (hex).
    pub fn revoke_session_by_prefix(&self, prefix: &str) -> Result<PrefixMatch> {
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        self.users.write(|c| {
            let matching: i64 = c.query_row(
                "SELECT count(*) FROM sessions WHERE token_hash LIKE ?1",
                [&pattern],
                |r| r.get(0),
            )?;
            Ok(match matching {
                0 => PrefixMatch::None,
                1 => {
                    c.execute("DELETE FROM sessions WHERE token_hash LIKE ?1", [&pattern])?;
                    PrefixMatch::Revoked
                }
                n => PrefixMatch::Ambiguous(n),
            })
        })
    }

    /// Live sessions, oldest first, of one user or of everyone.
    pub fn list_sessions(&self, username: Option<&str>, now: i64) -> Result<Vec<SessionSummary>> {
        self.users.read(|c| {
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

    /// Registers (or refreshes) a device key for a user.
    pub fn put_device_key(
        &self,
        user_id: i64,
        fingerprint: &str,
        public_key: &str,
        now: i64,
    ) -> Result<()> {
        self.users.write(|c| {
            let tx = c.transaction()?;
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
            tx.commit()
        })
    }

    /// A user's name and device keys, oldest first; `None` for no such user.
    pub fn device_keys(&self, user_id: i64) -> Result<Option<UserKeys>> {
        self.users.read(|c| {
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
