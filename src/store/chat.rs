//! `chat.sqlite3`: groups (plain, E2E, or two-person DM rooms), memberships
//! and messages (plaintext content or an E2E envelope; soft-deleted).

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::events::{self, Event};
use super::sqlite::{Migration, is_unique_violation};
use super::{Body, DmRow, Group, Message, NotStored, Result, Store};
use crate::text::look_alike_key;

pub const FILE: &str = "chat.sqlite3";

pub const MIGRATIONS: &[Migration] = &[
    Migration::Sql(V1),
    // Ids are never reused (AUTOINCREMENT); a DM can be closed.
    Migration::Rebuild(
        "CREATE TABLE groups_v2 (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            name       TEXT NOT NULL,
            name_key   TEXT NOT NULL,
            kind       TEXT NOT NULL CHECK (kind IN ('group', 'dm')),
            e2e        INTEGER NOT NULL DEFAULT 0,
            created_by INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            closed_at  INTEGER
        );
        INSERT INTO groups_v2 (id, name, name_key, kind, e2e, created_by, created_at)
            SELECT id, name, name_key, kind, e2e, created_by, created_at FROM groups;
        DROP TABLE groups;
        ALTER TABLE groups_v2 RENAME TO groups;",
    ),
    // Group names conflict when they look alike, not only when equal.
    Migration::Code(rekey_group_names),
    Migration::Sql(
        "CREATE UNIQUE INDEX groups_name_key ON groups(kind, name_key);
        -- A v1 DM whose other member's account was deleted has one member
        -- left; it takes no new messages.
        UPDATE groups SET closed_at = created_at, name = 'deleted user'
            WHERE kind = 'dm'
              AND (SELECT count(*) FROM memberships m WHERE m.group_id = groups.id) < 2;",
    ),
    Migration::Sql(events::TABLE),
];

/// The key under which a group's name is unique: names that look alike
/// share it.
pub fn group_name_key(name: &str) -> String {
    look_alike_key(name)
}

/// Gives every group the look-alike key of its name. Names that were
/// distinct before but look alike keep working: the later one's key gets
/// its id appended (new names are refused instead).
fn rekey_group_names(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let groups: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM groups WHERE kind = 'group' ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut seen = std::collections::HashSet::new();
    for (id, name) in groups {
        let mut key = group_name_key(&name);
        if !seen.insert(key.clone()) {
            key = format!("{key}#{id}");
        }
        tx.execute(
            "UPDATE groups SET name_key = ?2 WHERE id = ?1",
            params![id, key],
        )?;
    }
    Ok(())
}

const V1: &str = r#"
CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('group', 'dm')),
    e2e        INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX groups_name_key ON groups(kind, name_key);
CREATE TABLE memberships (
    group_id  INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_id);
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL,
    author     TEXT NOT NULL,
    content    TEXT,
    envelope   TEXT,
    created_at INTEGER NOT NULL,
    edited_at  INTEGER,
    deleted_at INTEGER
);
CREATE INDEX messages_group ON messages(group_id, id);
"#;

const GROUP_COLS: &str = "id, name, kind, e2e, created_at, closed_at";
/// How many columns `GROUP_COLS` names: the next one is a query's own.
const GROUP_COLS_LEN: usize = 6;

fn group_row(r: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        is_dm: r.get::<_, String>(2)? == "dm",
        e2e: r.get(3)?,
        created_at: r.get(4)?,
        closed_at: r.get(5)?,
    })
}

const MSG_COLS: &str = "id, group_id, author_id, author, content, envelope, created_at, edited_at";

fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let content: Option<String> = r.get(4)?;
    let envelope: Option<String> = r.get(5)?;
    Ok(Message {
        id: r.get(0)?,
        group_id: r.get(1)?,
        author_id: r.get(2)?,
        author: r.get(3)?,
        body: match (content, envelope) {
            (_, Some(e)) => Body::Envelope(e),
            (c, None) => Body::Content(c.unwrap_or_default()),
        },
        created_at: r.get(6)?,
        edited_at: r.get(7)?,
    })
}

fn body_columns(body: &Body) -> (Option<&str>, Option<&str>) {
    match body {
        Body::Content(c) => (Some(c.as_str()), None),
        Body::Envelope(e) => (None, Some(e.as_str())),
    }
}

fn is_member_on(c: &Connection, group_id: i64, user_id: i64) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)",
        params![group_id, user_id],
        |r| r.get(0),
    )
}

impl Store {
    /// Creates a group with its creator as the first member; `Ok(None)` when
    /// the name is taken (case-insensitively).
    pub fn create_group(
        &self,
        name: &str,
        e2e: bool,
        creator: i64,
        now: i64,
    ) -> Result<Option<Group>> {
        let id = self.chat.write(|c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO groups (name, name_key, kind, e2e, created_by, created_at) VALUES (?1, ?2, 'group', ?3, ?4, ?5)",
                params![name, group_name_key(name), e2e, creator, now],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO memberships (group_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
                params![id, creator, now],
            )?;
            tx.commit()?;
            Ok(Some(id))
        })?;
        Ok(id.map(|id| Group {
            id,
            name: name.to_string(),
            is_dm: false,
            e2e,
            created_at: now,
            closed_at: None,
        }))
    }

    pub fn group(&self, id: i64) -> Result<Option<Group>> {
        self.chat.read(|c| {
            c.query_row(
                &format!("SELECT {GROUP_COLS} FROM groups WHERE id = ?1"),
                [id],
                group_row,
            )
            .optional()
        })
    }

    /// A non-DM group by its name (or one that looks like it).
    pub fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        self.chat.read(|c| {
            c.query_row(
                &format!("SELECT {GROUP_COLS} FROM groups WHERE kind = 'group' AND name_key = ?1"),
                [group_name_key(name)],
                group_row,
            )
            .optional()
        })
    }

    /// Every non-DM group with whether `user_id` is a member, oldest first.
    pub fn list_groups(&self, user_id: i64) -> Result<Vec<(Group, bool)>> {
        self.chat.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {GROUP_COLS}, EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = groups.id AND m.user_id = ?1)
                 FROM groups WHERE kind = 'group' ORDER BY id"
            ))?;
            let rows = st.query_map([user_id], |r| Ok((group_row(r)?, r.get(GROUP_COLS_LEN)?)))?;
            rows.collect()
        })
    }

    pub fn is_member(&self, group_id: i64, user_id: i64) -> Result<bool> {
        self.chat.read(|c| is_member_on(c, group_id, user_id))
    }

    /// The user ids of a group's members.
    pub fn members(&self, group_id: i64) -> Result<Vec<i64>> {
        self.chat.read(|c| {
            let mut st =
                c.prepare("SELECT user_id FROM memberships WHERE group_id = ?1 ORDER BY user_id")?;
            let rows = st.query_map([group_id], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Adds a member (idempotent). Returns whether they were newly added.
    pub fn join(&self, group_id: i64, user_id: i64, now: i64) -> Result<bool> {
        let added = self.chat.write(|c| {
            let tx = c.transaction()?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO memberships (group_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
                params![group_id, user_id, now],
            )? > 0;
            if added {
                events::append(&tx, Event::MemberJoined { group_id, user_id }, now)?;
            }
            tx.commit()?;
            Ok(added)
        })?;
        if added {
            self.appended();
        }
        Ok(added)
    }

    /// Removes a member. Returns whether they were a member.
    pub fn leave(&self, group_id: i64, user_id: i64, now: i64) -> Result<bool> {
        let left = self.chat.write(|c| {
            let tx = c.transaction()?;
            let left = tx.execute(
                "DELETE FROM memberships WHERE group_id = ?1 AND user_id = ?2",
                params![group_id, user_id],
            )? > 0;
            if left {
                events::append(&tx, Event::MemberLeft { group_id, user_id }, now)?;
            }
            tx.commit()?;
            Ok(left)
        })?;
        if left {
            self.appended();
        }
        Ok(left)
    }

    /// The DM room of two users, created (with both as members) on first use.
    /// Returns the group and whether it was just created.
    pub fn open_dm(&self, a: i64, b: i64, now: i64) -> Result<(Group, bool)> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let key = format!("dm:{lo}:{hi}");
        self.chat.write(|c| {
            let tx = c.transaction()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {GROUP_COLS} FROM groups WHERE kind = 'dm' AND name_key = ?1"),
                    [&key],
                    group_row,
                )
                .optional()?;
            if let Some(g) = existing {
                return Ok((g, false));
            }
            tx.execute(
                "INSERT INTO groups (name, name_key, kind, e2e, created_by, created_at) VALUES ('Direct message', ?1, 'dm', 0, ?2, ?3)",
                params![key, a, now],
            )?;
            let id = tx.last_insert_rowid();
            for user in [lo, hi] {
                tx.execute(
                    "INSERT OR IGNORE INTO memberships (group_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
                    params![id, user, now],
                )?;
            }
            tx.commit()?;
            let group = Group {
                id,
                name: "Direct message".into(),
                is_dm: true,
                e2e: false,
                created_at: now,
                closed_at: None,
            };
            Ok((group, true))
        })
    }

    /// The DM room of two users, if they have one.
    pub fn dm_between(&self, a: i64, b: i64) -> Result<Option<i64>> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.chat.read(|c| {
            c.query_row(
                "SELECT id FROM groups WHERE kind = 'dm' AND name_key = ?1",
                [format!("dm:{lo}:{hi}")],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The DM rooms of a user, oldest first.
    pub fn list_dms(&self, user_id: i64) -> Result<Vec<DmRow>> {
        self.chat.read(|c| {
            let mut st = c.prepare(
                "SELECT g.id, g.name, g.closed_at IS NOT NULL,
                        (SELECT o.user_id FROM memberships o WHERE o.group_id = g.id AND o.user_id != ?1)
                 FROM groups g JOIN memberships me ON me.group_id = g.id AND me.user_id = ?1
                 WHERE g.kind = 'dm' ORDER BY g.id",
            )?;
            let rows = st.query_map([user_id], |r| {
                Ok(DmRow {
                    group_id: r.get(0)?,
                    name: r.get(1)?,
                    closed: r.get(2)?,
                    other: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Stores a message, if its author is a member of the group and the
    /// group takes messages — checked in the same statement as the insert,
    /// so no leave, removal or deletion committed before it can be missed.
    pub fn insert_message(
        &self,
        group_id: i64,
        author_id: i64,
        author: &str,
        body: &Body,
        now: i64,
    ) -> Result<std::result::Result<Message, NotStored>> {
        let (content, envelope) = body_columns(body);
        let id = self.chat.write(|c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO messages (group_id, author_id, author, content, envelope, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6
                     WHERE EXISTS (SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2)
                       AND EXISTS (SELECT 1 FROM groups WHERE id = ?1 AND closed_at IS NULL)",
                )?
                .execute(params![group_id, author_id, author, content, envelope, now])?;
            Ok((n > 0).then(|| c.last_insert_rowid()))
        })?;
        let Some(id) = id else {
            let member = self.is_member(group_id, author_id)?;
            return Ok(Err(if member {
                NotStored::Closed
            } else {
                NotStored::NotMember
            }));
        };
        Ok(Ok(Message {
            id,
            group_id,
            author_id,
            author: author.to_string(),
            body: body.clone(),
            created_at: now,
            edited_at: None,
        }))
    }

    /// A page of history, newest first, below `before` (or from the newest).
    /// Returns the messages and whether older ones exist.
    pub fn history(
        &self,
        group_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool)> {
        self.chat.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM messages WHERE group_id = ?1 AND id < ?2 AND deleted_at IS NULL
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = st.query_map(
                params![group_id, before.unwrap_or(i64::MAX), limit as i64 + 1],
                message_row,
            )?;
            let mut msgs: Vec<Message> = rows.collect::<rusqlite::Result<_>>()?;
            let more = msgs.len() > limit;
            msgs.truncate(limit);
            Ok((msgs, more))
        })
    }

    /// Messages with id above `after`, oldest first, at most `limit`.
    pub fn messages_after(&self, group_id: i64, after: i64, limit: usize) -> Result<Vec<Message>> {
        self.chat.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM messages WHERE group_id = ?1 AND id > ?2 AND deleted_at IS NULL
                 ORDER BY id ASC LIMIT ?3"
            ))?;
            let rows = st.query_map(params![group_id, after, limit as i64], message_row)?;
            rows.collect()
        })
    }

    /// A live (not deleted) message by id.
    pub fn message(&self, id: i64) -> Result<Option<Message>> {
        self.chat.read(|c| {
            c.query_row(
                &format!("SELECT {MSG_COLS} FROM messages WHERE id = ?1 AND deleted_at IS NULL"),
                [id],
                message_row,
            )
            .optional()
        })
    }

    /// Replaces a message's body (the caller checked authorship).
    pub fn edit_message(&self, id: i64, body: &Body, now: i64) -> Result<Option<Message>> {
        let (content, envelope) = body_columns(body);
        self.chat.write(|c| {
            c.execute(
                "UPDATE messages SET content = ?2, envelope = ?3, edited_at = ?4 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, content, envelope, now],
            )?;
            c.query_row(
                &format!("SELECT {MSG_COLS} FROM messages WHERE id = ?1 AND deleted_at IS NULL"),
                [id],
                message_row,
            )
            .optional()
        })
    }

    /// Soft-deletes a message and forgets its body. Returns whether it was live.
    pub fn delete_message(&self, id: i64, now: i64) -> Result<bool> {
        self.chat.write(|c| {
            c.execute(
                "UPDATE messages SET deleted_at = ?2, content = NULL, envelope = NULL WHERE id = ?1 AND deleted_at IS NULL",
                params![id, now],
            )
            .map(|n| n > 0)
        })
    }
}
