//! Accounts (argon2id PHC strings), sessions (SHA-256 of the token only),
//! device public keys, server settings and password reset links: in SQLite
//! the file `users.sqlite3`, in PostgreSQL tables of the one database.

use std::collections::HashSet;

use super::events::{self, Event};
use super::sql::{Row, Sql};
use super::sqlite::Migration;
use super::{
    DeviceKey, KeyPut, LastAdmin, NewDeviceKey, Part, PrefixMatch, Result, SessionSummary,
    SessionUser, Store, Unregistered, User, UserDeleted, UserKeys, UserSummary,
};

/// `last_seen_at` is written at most this often per account.
pub const LAST_SEEN_EVERY_MS: i64 = 5 * 60 * 1000;

/// Whether `user_id` is the only admin whose account is not disabled.
fn last_admin(sql: &mut Sql<'_>, user_id: i64) -> Result<bool> {
    sql.value(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND admin = 1)
            AND NOT EXISTS (SELECT 1 FROM users WHERE admin = 1 AND disabled_at IS NULL AND id != ?1)",
        &[&user_id],
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
    Migration::Sql(DEVICE_SIGNING),
];

/// Signed messages and device management: each device's ECDSA P-256
/// signing key, when it was last used, and removed devices kept as
/// tombstones (a removed key is not registered again).
pub const DEVICE_SIGNING: &str = "
ALTER TABLE device_keys ADD COLUMN signing_key TEXT;
ALTER TABLE device_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE device_keys ADD COLUMN removed_at BIGINT;
";

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

fn user_row(r: &Row<'_>) -> Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        admin: r.get(2)?,
    })
}

/// `u.username` equal to the parameter `param` (`?1`), ignoring case, as
/// each engine's unique index on names reads it: SQLite's column is
/// `COLLATE NOCASE` (a plain `=` ignores case and uses its index),
/// PostgreSQL's index is on `lower(username)`.
fn name_is(sql: &Sql<'_>, param: &str) -> String {
    if sql.pg() {
        format!("lower(u.username) = lower({param})")
    } else {
        format!("u.username = {param}")
    }
}

/// Inserts an account inside the caller's transaction; the first ever
/// made is a server admin. `None` when the name is taken (both engines'
/// unique index on names ignores case; `ON CONFLICT DO NOTHING` without
/// columns covers it).
fn insert_user(
    sql: &mut Sql<'_>,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<User>> {
    // "Was an id ever handed out": SQLite's AUTOINCREMENT counter, the
    // identity's sequence in PostgreSQL (both remember deleted accounts).
    let first_ever = if sql.pg() {
        // Registrations take turns, as behind SQLite's one writer: two
        // first accounts at once would both find no id handed out yet (a
        // sequence is outside transactions). Released at commit.
        sql.exec(
            "SELECT pg_advisory_xact_lock(hashtext('securechat: insert_user'))",
            &[],
        )?;
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('users', 'id')) IS NULL"
    } else {
        "SELECT NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users' AND seq > 0)"
    };
    let first: bool = sql.value(first_ever, &[])?;
    let id = sql.row(
        "INSERT INTO users (username, password_hash, created_at, admin) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING RETURNING id",
        &[&username, &password_hash, &now, &first],
        |r| r.get::<i64>(0),
    )?;
    Ok(id.map(|id| User {
        id,
        username: username.to_string(),
        admin: first,
    }))
}

impl Store {
    /// Inserts a user; `Ok(None)` when the name is taken (case-insensitively).
    pub fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<Option<User>> {
        self.write(Part::Users, |sql| {
            sql.begin()?;
            let user = insert_user(sql, username, password_hash, now)?;
            sql.commit()?;
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
        self.write(Part::Users, |sql| {
            sql.begin()?;
            if !Store::use_server_invite_on(sql, invite, now)? {
                return Ok(Err(Unregistered::BadInvite));
            }
            // Left uncommitted: the invite's use is rolled back.
            let Some(user) = insert_user(sql, username, password_hash, now)? else {
                return Ok(Err(Unregistered::NameTaken));
            };
            sql.commit()?;
            Ok(Ok(user))
        })
    }

    /// The account with this name (case-insensitively), unless disabled,
    /// and its password hash.
    pub fn user_by_name(&self, username: &str) -> Result<Option<(User, String)>> {
        self.read(Part::Users, |sql| {
            let q = format!(
                "SELECT {USER_COLS}, u.password_hash FROM users u
                 WHERE {} AND u.disabled_at IS NULL",
                name_is(sql, "?1")
            );
            sql.row(&q, &[&username], |r| Ok((user_row(r)?, r.get(3)?)))
        })
    }

    /// The account with this name, disabled or not, and whether it is.
    pub fn any_user_by_name(&self, username: &str) -> Result<Option<(User, bool)>> {
        self.read(Part::Users, |sql| {
            let q = format!(
                "SELECT {USER_COLS}, u.disabled_at IS NOT NULL FROM users u WHERE {}",
                name_is(sql, "?1")
            );
            sql.row(&q, &[&username], |r| Ok((user_row(r)?, r.get(3)?)))
        })
    }

    /// An account by id (disabled ones too).
    pub fn user(&self, id: i64) -> Result<Option<User>> {
        self.read(Part::Users, |sql| {
            sql.row(
                &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
                &[&id],
                user_row,
            )
        })
    }

    /// Every user with their creation time and live sessions, by id.
    pub fn list_users(&self, now: i64) -> Result<Vec<UserSummary>> {
        self.read(Part::Users, |sql| {
            sql.rows(
                "SELECT u.id, u.username, u.created_at,
                        (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?1),
                        u.admin, u.disabled_at IS NOT NULL, u.last_seen_at
                 FROM users u ORDER BY u.id",
                &[&now],
                |r| {
                    Ok(UserSummary {
                        id: r.get(0)?,
                        username: r.get(1)?,
                        created_at: r.get(2)?,
                        live_sessions: r.get(3)?,
                        admin: r.get(4)?,
                        disabled: r.get(5)?,
                        last_seen_at: r.get(6)?,
                    })
                },
            )
        })
    }

    /// Makes an account a server admin or not; the last admin cannot stop
    /// being one. Returns whether the account exists.
    pub fn set_admin(
        &self,
        user_id: i64,
        admin: bool,
    ) -> Result<std::result::Result<bool, LastAdmin>> {
        self.write(Part::Users, |sql| {
            sql.begin()?;
            sql.serialize("admins")?;
            if !admin && last_admin(sql, user_id)? {
                return Ok(Err(LastAdmin));
            }
            let n = sql.exec(
                "UPDATE users SET admin = ?2 WHERE id = ?1",
                &[&user_id, &admin],
            )?;
            sql.commit()?;
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
        let done = self.write(Part::Users, |sql| {
            sql.begin()?;
            sql.serialize("admins")?;
            if disabled && last_admin(sql, user_id)? {
                return Ok(Err(LastAdmin));
            }
            let n = sql.exec(
                "UPDATE users SET disabled_at = CASE WHEN ?2 = 1 THEN coalesce(disabled_at, ?3) END
                 WHERE id = ?1",
                &[&user_id, &disabled, &now],
            )?;
            if disabled && n > 0 {
                sql.exec("DELETE FROM sessions WHERE user_id = ?1", &[&user_id])?;
                events::append(sql, Event::SessionsEnded { user_id }, now)?;
            }
            sql.commit()?;
            Ok(Ok(n > 0))
        })?;
        if disabled && matches!(done, Ok(true)) {
            self.appended();
        }
        Ok(done)
    }

    /// Notes that a user was here, at most once every `LAST_SEEN_EVERY_MS`.
    pub fn touch_last_seen(&self, user_id: i64, now: i64) -> Result<()> {
        self.write(Part::Users, |sql| {
            sql.exec(
                "UPDATE users SET last_seen_at = ?2
                 WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at < ?3)",
                &[&user_id, &now, &(now - LAST_SEEN_EVERY_MS)],
            )
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
        self.write(Part::Users, |sql| {
            sql.exec(
                "INSERT INTO reset_links (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                &[&token_hash, &user_id, &now, &expires_at],
            )
            .map(drop)
        })
    }

    /// The account a reset link is for, while it is unused and unexpired.
    pub fn reset_link_user(&self, token_hash: &str, now: i64) -> Result<Option<User>> {
        self.read(Part::Users, |sql| {
            sql.row(
                &format!(
                    "SELECT {USER_COLS} FROM reset_links l JOIN users u ON u.id = l.user_id
                     WHERE l.token_hash = ?1 AND l.used_at IS NULL AND l.expires_at > ?2"
                ),
                &[&token_hash, &now],
                user_row,
            )
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
        let user = self.write(Part::Users, |sql| {
            sql.begin()?;
            let Some(user_id) = sql.row(
                "UPDATE reset_links SET used_at = ?2
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING user_id",
                &[&token_hash, &now],
                |r| r.get::<i64>(0),
            )?
            else {
                return Ok(None);
            };
            sql.exec(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                &[&user_id, &password_hash],
            )?;
            sql.exec("DELETE FROM sessions WHERE user_id = ?1", &[&user_id])?;
            events::append(sql, Event::SessionsEnded { user_id }, now)?;
            let user = sql.row(
                &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"),
                &[&user_id],
                user_row,
            )?;
            sql.commit()?;
            Ok(user)
        })?;
        if user.is_some() {
            self.appended();
        }
        Ok(user)
    }

    /// A stored setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(Part::Users, |sql| {
            sql.row("SELECT value FROM settings WHERE key = ?1", &[&key], |r| {
                r.get(0)
            })
        })
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(Part::Users, |sql| {
            sql.exec(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .map(drop)
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        self.write(Part::Users, |sql| {
            sql.exec(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                &[&user_id, &password_hash],
            )
            .map(drop)
        })
    }

    /// The password hash of a user.
    pub fn password_hash(&self, user_id: i64) -> Result<Option<String>> {
        self.read(Part::Users, |sql| {
            sql.row(
                "SELECT password_hash FROM users WHERE id = ?1",
                &[&user_id],
                |r| r.get(0),
            )
        })
    }

    /// Deletes an account, its sessions, device keys and memberships. Its
    /// messages stay, credited to `renamed`, so conversations remain
    /// readable and nobody who later registers the name appears as their
    /// author; its direct conversations stay readable and are closed.
    ///
    /// Two transactions, the chat tables' and then the account's (two files
    /// in SQLite; PostgreSQL takes the same two steps in its one database).
    pub fn delete_user(&self, user_id: i64, renamed: &str, now: i64) -> Result<UserDeleted> {
        // Sessions end first, so their sockets hear "session ended" (4401)
        // before the memberships' removals (4403) in either engine's log.
        self.write(Part::Users, |sql| {
            sql.begin()?;
            sql.exec("DELETE FROM sessions WHERE user_id = ?1", &[&user_id])?;
            events::append(sql, Event::SessionsEnded { user_id }, now)?;
            sql.commit()
        })?;
        let (memberships, messages) = self.write(Part::Chat, |sql| {
            sql.begin()?;
            // A DM between two closes; a group DM goes on without them.
            sql.exec(
                "UPDATE groups SET closed_at = ?3, name = ?2
                 WHERE kind = 'dm' AND closed_at IS NULL
                   AND id IN (SELECT group_id FROM memberships WHERE user_id = ?1)
                   AND (SELECT count(*) FROM memberships m WHERE m.group_id = groups.id) <= 2",
                &[&user_id, &renamed, &now],
            )?;
            sql.exec("DELETE FROM read_state WHERE user_id = ?1", &[&user_id])?;
            let groups: Vec<i64> = sql.rows(
                "SELECT group_id FROM memberships WHERE user_id = ?1",
                &[&user_id],
                |r| r.get(0),
            )?;
            let owned: Vec<i64> = sql.rows(
                "SELECT group_id FROM memberships WHERE user_id = ?1 AND role = 'owner'",
                &[&user_id],
                |r| r.get(0),
            )?;
            sql.exec("DELETE FROM memberships WHERE user_id = ?1", &[&user_id])?;
            // Groups they owned pass on as if they had left; private groups
            // nobody is left in are gone.
            for group_id in owned {
                if let Some(next) = super::groups::successor(sql, group_id)? {
                    sql.exec(
                        "UPDATE memberships SET role = 'owner' WHERE group_id = ?1 AND user_id = ?2",
                        &[&group_id, &next],
                    )?;
                }
            }
            sql.exec(
                "DELETE FROM groups WHERE kind = 'group' AND private = 1
                   AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = groups.id)",
                &[],
            )?;
            let n = sql.exec(
                "UPDATE messages SET author = ?2 WHERE author_id = ?1",
                &[&user_id, &renamed],
            )?;
            // Last: in PostgreSQL the log's turn is held from the first
            // append to the commit, so the long updates happen before it.
            for &group_id in &groups {
                events::append(sql, Event::MemberLeft { group_id, user_id }, now)?;
            }
            sql.commit()?;
            Ok((groups.len(), usize::try_from(n).unwrap_or(usize::MAX)))
        })?;
        // Again with the account: a login made meanwhile ends with it.
        self.write(Part::Users, |sql| {
            sql.begin()?;
            sql.exec("DELETE FROM users WHERE id = ?1", &[&user_id])?;
            events::append(sql, Event::SessionsEnded { user_id }, now)?;
            sql.commit()
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
    ///
    /// SQLite only (its counter, its scalar `max`): a fix-up of its own
    /// migration. PostgreSQL never had v1 files; `migrate` sets its
    /// identity past every id the SQLite files gave.
    pub(super) fn reserve_user_ids_seen_in_chat(&self) -> Result<()> {
        if self.lite().is_none() {
            return Ok(());
        }
        let highest: i64 = self.read(Part::Chat, |sql| {
            let mut max: i64 = sql.value(
                "SELECT max(coalesce((SELECT max(author_id) FROM messages), 0),
                            coalesce((SELECT max(user_id) FROM memberships), 0),
                            coalesce((SELECT max(created_by) FROM groups), 0))",
                &[],
            )?;
            let keys = sql.rows("SELECT name_key FROM groups WHERE kind = 'dm'", &[], |r| {
                r.get::<String>(0)
            })?;
            for key in keys {
                for part in key.split(':').skip(1) {
                    max = max.max(part.parse().unwrap_or(0));
                }
            }
            Ok(max)
        })?;
        self.write(Part::Users, |sql| {
            sql.begin()?;
            let seq = sql.row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'users'",
                &[],
                |r| r.get::<i64>(0),
            )?;
            match seq {
                Some(s) if s >= highest => {}
                Some(_) => {
                    sql.exec(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'users'",
                        &[&highest],
                    )?;
                }
                None => {
                    sql.exec(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('users', ?1)",
                        &[&highest],
                    )?;
                }
            }
            sql.commit()
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
        self.write(Part::Users, |sql| {
            sql.exec(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                &[&token_hash, &user_id, &now, &expires_at],
            )?;
            // Expired sessions are pruned whenever anyone logs in.
            sql.exec("DELETE FROM sessions WHERE expires_at <= ?1", &[&now])?;
            Ok(())
        })
    }

    /// The user of an unexpired session (of an account not disabled).
    pub fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<SessionUser>> {
        self.read(Part::Users, |sql| {
            sql.row(
                &format!(
                    "SELECT {USER_COLS}, s.expires_at, u.last_seen_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL"
                ),
                &[&token_hash, &now],
                |r| {
                    Ok(SessionUser {
                        user: user_row(r)?,
                        expires_at: r.get(3)?,
                        last_seen_at: r.get(4)?,
                    })
                },
            )
        })
    }

    /// The token hashes of a user's unexpired sessions.
    pub fn live_sessions(&self, user_id: i64, now: i64) -> Result<HashSet<String>> {
        let hashes = self.read(Part::Users, |sql| {
            sql.rows(
                "SELECT token_hash FROM sessions WHERE user_id = ?1 AND expires_at > ?2",
                &[&user_id, &now],
                |r| r.get(0),
            )
        })?;
        Ok(hashes.into_iter().collect())
    }

    /// Ends one session (logout).
    pub fn delete_session(&self, token_hash: &str, now: i64) -> Result<()> {
        let ended = self.write(Part::Users, |sql| {
            sql.begin()?;
            let user = sql.row(
                "DELETE FROM sessions WHERE token_hash = ?1 RETURNING user_id",
                &[&token_hash],
                |r| r.get::<i64>(0),
            )?;
            if let Some(user_id) = user {
                events::append(sql, Event::SessionsEnded { user_id }, now)?;
            }
            sql.commit()?;
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
        let n = self.write(Part::Users, |sql| {
            sql.begin()?;
            let n = sql.exec(
                "DELETE FROM sessions
                 WHERE user_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR token_hash != ?2)",
                &[&user_id, &keep],
            )?;
            if n > 0 {
                events::append(sql, Event::SessionsEnded { user_id }, now)?;
            }
            sql.commit()?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })?;
        if n > 0 {
            self.appended();
        }
        Ok(n)
    }

    /// Revokes the one session whose token hash starts with `prefix` (hex).
    pub fn revoke_session_by_prefix(&self, prefix: &str, now: i64) -> Result<PrefixMatch> {
        // Token hashes are lowercase hex, so `LIKE` matching case (as in
        // PostgreSQL) or not (as in SQLite) finds the same sessions.
        let pattern = format!("{}%", prefix.to_ascii_lowercase());
        let found = self.write(Part::Users, |sql| {
            sql.begin()?;
            let matching: Vec<i64> = sql.rows(
                "SELECT user_id FROM sessions WHERE token_hash LIKE ?1",
                &[&pattern],
                |r| r.get(0),
            )?;
            let found = match matching.as_slice() {
                [] => PrefixMatch::None,
                [user_id] => {
                    sql.exec("DELETE FROM sessions WHERE token_hash LIKE ?1", &[&pattern])?;
                    events::append(sql, Event::SessionsEnded { user_id: *user_id }, now)?;
                    PrefixMatch::Revoked
                }
                many => PrefixMatch::Ambiguous(many.len() as i64),
            };
            sql.commit()?;
            Ok(found)
        })?;
        if found == PrefixMatch::Revoked {
            self.appended();
        }
        Ok(found)
    }

    /// Live sessions, oldest first, of one user or of everyone.
    pub fn list_sessions(&self, username: Option<&str>, now: i64) -> Result<Vec<SessionSummary>> {
        self.read(Part::Users, |sql| {
            let q = format!(
                "SELECT substr(s.token_hash, 1, 12), u.username, s.created_at, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.expires_at > ?1 AND (CAST(?2 AS TEXT) IS NULL OR {})
                 ORDER BY s.created_at",
                name_is(sql, "?2")
            );
            sql.rows(&q, &[&now, &username], |r| {
                Ok(SessionSummary {
                    id: r.get(0)?,
                    username: r.get(1)?,
                    created_at: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            })
        })
    }

    /// Registers (or refreshes) a device key and its signing key for a
    /// user, unless another user registered the same key first or the user
    /// removed it. Refreshing keeps when it was first seen.
    pub fn put_device_key(&self, user_id: i64, key: &NewDeviceKey<'_>, now: i64) -> Result<KeyPut> {
        let fingerprint = key.fingerprint;
        self.write(Part::Users, |sql| {
            sql.begin()?;
            sql.serialize(&format!("device key {fingerprint}"))?;
            // Whose this fingerprint is already, whether it was removed,
            // and its signing key.
            let existing = sql.rows(
                "SELECT user_id, removed_at IS NOT NULL, signing_key FROM device_keys
                 WHERE fingerprint = ?1",
                &[&fingerprint],
                |r| {
                    Ok((
                        r.get::<i64>(0)?,
                        r.get::<bool>(1)?,
                        r.get::<Option<String>>(2)?,
                    ))
                },
            )?;
            if existing.iter().any(|(owner, ..)| *owner != user_id) {
                return Ok(KeyPut::TakenByOther);
            }
            let mine = existing.into_iter().next();
            if let Some((_, removed, signing)) = &mine {
                if *removed {
                    return Ok(KeyPut::Removed);
                }
                if signing.is_some()
                    && key.signing_key.is_some()
                    && signing.as_deref() != key.signing_key
                {
                    return Ok(KeyPut::SigningKeyFixed);
                }
            }
            let known = mine.is_some_and(|(_, _, signing)| {
                key.signing_key.is_none() || signing.as_deref() == key.signing_key
            });
            sql.exec(
                "INSERT INTO device_keys
                    (user_id, fingerprint, public_key, created_at, signing_key, last_used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?4)
                 ON CONFLICT (user_id, fingerprint) DO UPDATE SET
                    last_used_at = excluded.last_used_at,
                    signing_key = coalesce(excluded.signing_key, device_keys.signing_key)",
                &[
                    &user_id,
                    &fingerprint,
                    &key.public_key,
                    &now,
                    &key.signing_key,
                ],
            )?;
            // At most MAX_DEVICE_KEYS in use (the least recently used go)
            // and as many tombstones.
            for state in ["removed_at IS NULL", "removed_at IS NOT NULL"] {
                sql.exec(
                    &format!(
                        "DELETE FROM device_keys WHERE user_id = ?1 AND {state}
                         AND id NOT IN (SELECT id FROM device_keys WHERE user_id = ?1 AND {state}
                            ORDER BY coalesce(removed_at, last_used_at, created_at) DESC, id DESC
                            LIMIT ?2)"
                    ),
                    &[&user_id, &MAX_DEVICE_KEYS],
                )?;
            }
            sql.commit()?;
            Ok(if known {
                KeyPut::Refreshed
            } else {
                KeyPut::Stored
            })
        })
    }

    /// A user's name and device keys in use, oldest first; `None` for no
    /// such user.
    pub fn device_keys(&self, user_id: i64) -> Result<Option<UserKeys>> {
        self.read(Part::Users, |sql| {
            let Some(username) = sql.row(
                "SELECT username FROM users WHERE id = ?1",
                &[&user_id],
                |r| r.get::<String>(0),
            )?
            else {
                return Ok(None);
            };
            let keys = sql.rows(
                "SELECT fingerprint, public_key, signing_key, created_at, last_used_at
                 FROM device_keys WHERE user_id = ?1 AND removed_at IS NULL
                 ORDER BY created_at, id",
                &[&user_id],
                |r| {
                    Ok(DeviceKey {
                        fingerprint: r.get(0)?,
                        public_key: r.get(1)?,
                        signing_key: r.get(2)?,
                        created_at: r.get(3)?,
                        last_used_at: r.get(4)?,
                    })
                },
            )?;
            Ok(Some(UserKeys { username, keys }))
        })
    }

    /// Whether `fingerprint` is one of the user's devices in use with a
    /// signing key (who may sign the user's messages); notes it was used
    /// (at most once a minute: a busy room writes no row per message).
    pub fn signing_device(&self, user_id: i64, fingerprint: &str, now: i64) -> Result<bool> {
        let used = self.read(Part::Users, |sql| {
            sql.row(
                "SELECT coalesce(last_used_at, created_at) FROM device_keys
                 WHERE user_id = ?1 AND fingerprint = ?2 AND removed_at IS NULL
                 AND signing_key IS NOT NULL",
                &[&user_id, &fingerprint],
                |r| r.get::<i64>(0),
            )
        })?;
        match used {
            None => Ok(false),
            Some(at) if now - at < 60_000 => Ok(true),
            Some(_) => self.write(Part::Users, |sql| {
                sql.exec(
                    "UPDATE device_keys SET last_used_at = ?3 WHERE user_id = ?1 AND fingerprint = ?2",
                    &[&user_id, &fingerprint, &now],
                )?;
                Ok(true)
            }),
        }
    }

    /// Removes one of the user's devices: its key is no longer handed out
    /// and cannot be registered again. False if it is not theirs (or gone).
    pub fn remove_device_key(&self, user_id: i64, fingerprint: &str, now: i64) -> Result<bool> {
        self.write(Part::Users, |sql| {
            let n = sql.exec(
                "UPDATE device_keys SET removed_at = ?3
                 WHERE user_id = ?1 AND fingerprint = ?2 AND removed_at IS NULL",
                &[&user_id, &fingerprint, &now],
            )?;
            Ok(n > 0)
        })
    }
}
