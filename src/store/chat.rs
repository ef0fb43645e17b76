//! `chat.sqlite3`: its schema (SQLite's; PostgreSQL's is `pg/schema.rs`). Groups and memberships (`groups.rs`),
//! invites (`invites.rs`), messages, reactions and read positions
//! (`messages.rs`) live in this file; the search index has a file of its
//! own (`search.rs`).

use rusqlite::{Transaction, params};

use super::events;
use super::sqlite::Migration;
use crate::text::look_alike_key;

pub const FILE: &str = "chat.sqlite3";

/// `messages.client_id` and the index that makes it one per sender and
/// group (both engines).
pub const CLIENT_IDS: &str = "ALTER TABLE messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX messages_client_id ON messages(group_id, author_id, client_id)
    WHERE client_id IS NOT NULL;";

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
    // Conversation features: replies, mentions, reactions, read positions,
    // full-text search, and what changed since a reconnecting client left.
    Migration::Sql(
        "ALTER TABLE messages ADD COLUMN reply_to INTEGER;
        ALTER TABLE messages ADD COLUMN mentions TEXT;
        -- The last edit, deletion or reaction, for reconnect replay.
        ALTER TABLE messages ADD COLUMN changed_at INTEGER;
        ALTER TABLE messages ADD COLUMN reacted_at INTEGER;
        UPDATE messages SET changed_at = max(coalesce(edited_at, 0), coalesce(deleted_at, 0))
            WHERE edited_at IS NOT NULL OR deleted_at IS NOT NULL;
        CREATE INDEX messages_changed ON messages(group_id, changed_at) WHERE changed_at IS NOT NULL;
        CREATE TABLE reactions (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            emoji      TEXT NOT NULL,
            user_id    INTEGER NOT NULL,
            username   TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (message_id, emoji, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE read_state (
            user_id      INTEGER NOT NULL,
            group_id     INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            last_read_id INTEGER NOT NULL,
            PRIMARY KEY (user_id, group_id)
        ) WITHOUT ROWID;
        CREATE INDEX read_state_group ON read_state(group_id);
        -- What members had before read positions existed counts as read.
        INSERT INTO read_state (user_id, group_id, last_read_id)
            SELECT m.user_id, m.group_id,
                   coalesce((SELECT max(id) FROM messages WHERE group_id = m.group_id), 0)
            FROM memberships m;
        -- Who a message mentions, for the mention badge's count.
        CREATE TABLE mentions (
            user_id    INTEGER NOT NULL,
            group_id   INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, group_id, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX mentions_message ON mentions(message_id);",
    ),
    Migration::Sql(SEARCH_QUEUE),
    Migration::Sql(super::files::TABLE),
    // A message's `client_id`, so a resend after a lost ack is known for
    // what it is wherever it arrives (several instances: PostgreSQL mode).
    Migration::Sql(CLIENT_IDS),
];

/// What the search index (`search.sqlite3`, see `search.rs`) needs from
/// this file: which file it indexed (`meta.epoch`, made once), and a queue
/// of the messages whose text changed or went away after they were stored —
/// filled by triggers, so no edit, deletion or cascade is missed. New
/// messages need no entry: the index follows message ids.
const SEARCH_QUEUE: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));
CREATE TABLE search_queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL
);
CREATE TRIGGER search_queue_update AFTER UPDATE OF content, deleted_at ON messages
    WHEN old.content IS NOT NULL AND old.system = 0 BEGIN
    INSERT INTO search_queue (message_id) VALUES (old.id);
END;
CREATE TRIGGER search_queue_delete AFTER DELETE ON messages
    WHEN old.content IS NOT NULL AND old.system = 0 BEGIN
    INSERT INTO search_queue (message_id) VALUES (old.id);
END;";

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
