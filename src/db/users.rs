//! `users.sqlite3`: accounts (argon2id PHC strings), sessions (SHA-256 of the
//! token only) and device public keys.

use rusqlite::{OptionalExtension, params};

use super::Db;

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

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
}

/// Inserts a user; `Ok(None)` when the name is taken (case-insensitively).
pub fn create(
    db: &Db,
    username: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<User>> {
    let r = db.write(|c| {
        c.execute(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![username, password_hash, now],
        )?;
        Ok(c.last_insert_rowid())
    });
    match r {
        Ok(id) => Ok(Some(User {
            id,
            username: username.to_string(),
        })),
        Err(e) if super::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user with this name (case-insensitively) and their password hash.
pub fn find_by_name(db: &Db, username: &str) -> rusqlite::Result<Option<(User, String)>> {
    db.read(|c| {
        c.query_row(
            "SELECT id, username, password_hash FROM users WHERE username = ?1",
            [username],
            |r| {
                Ok((
                    User {
                        id: r.get(0)?,
                        username: r.get(1)?,
                    },
                    r.get(2)?,
                ))
            },
        )
        .optional()
    })
}

/// Stores a new session (by the hash of its token).
pub fn create_session(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    db.write(|c| {
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
pub fn session_user(db: &Db, token_hash: &str, now: i64) -> rusqlite::Result<Option<User>> {
    db.read(|c| {
        c.query_row(
            "SELECT u.id, u.username FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            params![token_hash, now],
            |r| {
                Ok(User {
                    id: r.get(0)?,
                    username: r.get(1)?,
                })
            },
        )
        .optional()
    })
}

pub fn delete_session(db: &Db, token_hash: &str) -> rusqlite::Result<()> {
    db.write(|c| {
        c.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
            .map(|_| ())
    })
}

/// A user by id.
pub fn get(db: &Db, id: i64) -> rusqlite::Result<Option<User>> {
    db.read(|c| {
        c.query_row("SELECT id, username FROM users WHERE id = ?1", [id], |r| {
            Ok(User {
                id: r.get(0)?,
                username: r.get(1)?,
            })
        })
        .optional()
    })
}

/// Most device keys kept per user; registering more drops the oldest.
pub const MAX_DEVICE_KEYS: i64 = 20;

/// Registers (or refreshes) a device key for a user.
pub fn put_device_key(
    db: &Db,
    user_id: i64,
    fingerprint: &str,
    public_key: &str,
    now: i64,
) -> rusqlite::Result<()> {
    db.write(|c| {
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

/// A user's name and device keys `(fingerprint, public_key)`, oldest first.
pub type DeviceKeys = (String, Vec<(String, String)>);

pub fn device_keys(db: &Db, user_id: i64) -> rusqlite::Result<Option<DeviceKeys>> {
    db.read(|c| {
        let Some(name) = c
            .query_row("SELECT username FROM users WHERE id = ?1", [user_id], |r| r.get::<_, String>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let mut st = c.prepare_cached(
            "SELECT fingerprint, public_key FROM device_keys WHERE user_id = ?1 ORDER BY created_at, id",
        )?;
        let keys = st
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some((name, keys)))
    })
}

/// Replaces a user's password hash.
pub fn set_password(db: &Db, user_id: i64, password_hash: &str) -> rusqlite::Result<()> {
    db.write(|c| {
        c.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user_id, password_hash],
        )
        .map(|_| ())
    })
}

/// Ends every session of a user except `keep` (a token hash); returns how many.
pub fn revoke_other_sessions(db: &Db, user_id: i64, keep: &str) -> rusqlite::Result<usize> {
    db.write(|c| {
        c.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
            params![user_id, keep],
        )
    })
}

/// The password hash of a user.
pub fn password_hash(db: &Db, user_id: i64) -> rusqlite::Result<Option<String>> {
    db.read(|c| {
        c.query_row(
            "SELECT password_hash FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()
    })
}
