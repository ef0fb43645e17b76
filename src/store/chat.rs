//! `chat.sqlite3`: its schema, and messages (plaintext content or an E2E
//! envelope; soft-deleted; system lines for what moderators did). Groups,
//! memberships and invites, which live in the same file, are in
//! `groups.rs` and `invites.rs`.

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::events;
use super::sqlite::Migration;
use super::{Body, Message, NotStored, Result, Store};
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
    // Private groups, roles, moderation, invite links.
    Migration::Sql(
        "ALTER TABLE groups ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memberships ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
            CHECK (role IN ('owner', 'admin', 'member'));
        -- The creator owns a group; where they left, the longest-standing
        -- member does.
        UPDATE memberships SET role = 'owner'
            WHERE (group_id, user_id) IN (SELECT id, created_by FROM groups WHERE kind = 'group');
        UPDATE memberships SET role = 'owner'
            WHERE (group_id, user_id) IN (
                SELECT m.group_id, m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id
                WHERE g.kind = 'group'
                  AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.group_id = g.id AND o.role = 'owner')
                  AND (m.joined_at, m.user_id) = (SELECT joined_at, user_id FROM memberships f
                       WHERE f.group_id = g.id ORDER BY joined_at, user_id LIMIT 1));
        -- Public names are unique; private ones only among a user's groups
        -- (checked by the store when a group is made or renamed).
        DROP INDEX groups_name_key;
        CREATE UNIQUE INDEX groups_public_name ON groups(name_key) WHERE kind = 'group' AND private = 0;
        CREATE UNIQUE INDEX groups_dm_key ON groups(name_key) WHERE kind = 'dm';
        CREATE INDEX groups_name_key ON groups(name_key);
        CREATE TABLE invites (
            code       TEXT PRIMARY KEY,
            group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            created_by INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            max_uses   INTEGER,
            uses       INTEGER NOT NULL DEFAULT 0,
            revoked_at INTEGER
        );
        CREATE INDEX invites_group ON invites(group_id);
        UPDATE groups SET private = 1 WHERE kind = 'dm';
        ALTER TABLE messages ADD COLUMN system INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN deleted_by TEXT;",
    ),
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

const MSG_COLS: &str =
    "id, group_id, author_id, author, content, envelope, created_at, edited_at, system";

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
        system: r.get(8)?,
    })
}

fn body_columns(body: &Body) -> (Option<&str>, Option<&str>) {
    match body {
        Body::Content(c) => (Some(c.as_str()), None),
        Body::Envelope(e) => (None, Some(e.as_str())),
    }
}

impl Store {
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
            system: false,
        }))
    }

    /// Stores a system line (what `actor` did, as text) in a group.
    pub fn insert_system(
        &self,
        group_id: i64,
        actor_id: i64,
        actor: &str,
        text: &str,
        now: i64,
    ) -> Result<Message> {
        let id = self.chat.write(|c| {
            c.prepare_cached(
                "INSERT INTO messages (group_id, author_id, author, content, created_at, system)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            )?
            .execute(params![group_id, actor_id, actor, text, now])?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(Message {
            id,
            group_id,
            author_id: actor_id,
            author: actor.to_string(),
            body: Body::Content(text.to_string()),
            created_at: now,
            edited_at: None,
            system: true,
        })
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

    /// Soft-deletes a message and forgets its body; `by` names a moderator
    /// who deleted someone else's. Returns whether it was live.
    pub fn delete_message(&self, id: i64, now: i64, by: Option<&str>) -> Result<bool> {
        self.chat.write(|c| {
            c.execute(
                "UPDATE messages SET deleted_at = ?2, deleted_by = ?3, content = NULL, envelope = NULL
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![id, now, by],
            )
            .map(|n| n > 0)
        })
    }
}
