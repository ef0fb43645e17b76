//! The PostgreSQL schema: the same tables as the two SQLite files (one
//! database holds both), as versioned migrations kept in `schema_version`.
//! Integers are `BIGINT` (Rust's `i64`, as in SQLite); ids are identities
//! that are never reused; names are unique case-insensitively by an index
//! on `lower(...)`; a message's searchable text is a generated `tsvector`
//! with a GIN index. Derived data (SQLite's search queue and index) and the
//! short-lived `events` rows are not copied by a migration.

use postgres::Client;

use crate::store::{Result, StoreError};

/// Each entry one version, applied in order, each in its own transaction.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    admin         BIGINT NOT NULL DEFAULT 0,
    disabled_at   BIGINT,
    last_seen_at  BIGINT
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE device_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (user_id, fingerprint)
);
CREATE INDEX device_keys_fingerprint ON device_keys(fingerprint);
CREATE TABLE server_invites (
    code       TEXT PRIMARY KEY,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT
);
CREATE TABLE reset_links (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE groups (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('group', 'dm')),
    e2e        BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    closed_at  BIGINT,
    private    BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX groups_public_name ON groups(name_key) WHERE kind = 'group' AND private = 0;
CREATE UNIQUE INDEX groups_dm_key ON groups(name_key) WHERE kind = 'dm';
CREATE INDEX groups_name_key ON groups(name_key);
CREATE TABLE memberships (
    group_id  BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    role      TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);
CREATE TABLE messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id   BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    author_id  BIGINT NOT NULL,
    author     TEXT NOT NULL,
    content    TEXT,
    envelope   TEXT,
    created_at BIGINT NOT NULL,
    edited_at  BIGINT,
    deleted_at BIGINT,
    system     BIGINT NOT NULL DEFAULT 0,
    deleted_by TEXT,
    reply_to   BIGINT,
    mentions   TEXT,
    changed_at BIGINT,
    reacted_at BIGINT,
    search     TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('simple', CASE WHEN system = 0 AND deleted_at IS NULL THEN coalesce(content, '') ELSE '' END)
    ) STORED
);
CREATE INDEX messages_group ON messages(group_id, id);
CREATE INDEX messages_changed ON messages(group_id, changed_at) WHERE changed_at IS NOT NULL;
CREATE INDEX messages_search ON messages USING GIN (search);
CREATE TABLE invites (
    code       TEXT PRIMARY KEY,
    group_id   BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT
);
CREATE INDEX invites_group ON invites(group_id);
CREATE TABLE reactions (
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    username   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);
CREATE TABLE read_state (
    user_id      BIGINT NOT NULL,
    group_id     BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    last_read_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX read_state_group ON read_state(group_id);
CREATE TABLE mentions (
    user_id    BIGINT NOT NULL,
    group_id   BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    message_id BIGINT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id, message_id)
);
CREATE INDEX mentions_message ON mentions(message_id);
CREATE TABLE files (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id     BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    uploader_id  BIGINT NOT NULL,
    message_id   BIGINT REFERENCES messages(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    width        BIGINT,
    height       BIGINT,
    inline       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX files_message ON files(message_id);
CREATE INDEX files_group ON files(group_id);
CREATE INDEX files_sha256 ON files(sha256);
CREATE INDEX files_uploader ON files(uploader_id);
CREATE INDEX files_unattached ON files(created_at) WHERE message_id IS NULL;
CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    BIGINT,
    group_id   BIGINT,
    created_at BIGINT NOT NULL
);
"#,
    // Several instances on one database (see `bus.rs`).
    r#"
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE TABLE presence (
    instance TEXT NOT NULL,
    group_id BIGINT NOT NULL,
    user_id  BIGINT NOT NULL,
    username TEXT NOT NULL,
    ip       TEXT NOT NULL,
    sockets  BIGINT NOT NULL,
    PRIMARY KEY (instance, group_id, user_id, ip)
);
CREATE TABLE relay (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX relay_created ON relay(created_at);
CREATE INDEX events_created ON events(created_at);
CREATE INDEX messages_author ON messages(author_id);
CREATE TABLE buckets (
    kind    TEXT NOT NULL,
    subject BIGINT NOT NULL,
    tokens  DOUBLE PRECISION NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (kind, subject)
);
"#,
    crate::store::chat::CLIENT_IDS,
    // Words split where SQLite's tokenizer splits them (at punctuation and
    // spaces: `example.com/report.pdf` is four words), not where
    // PostgreSQL's parser would (one host, one path), so a search finds
    // the same messages on both engines.
    r#"
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search TSVECTOR GENERATED ALWAYS AS (
    to_tsvector('simple', CASE WHEN system = 0 AND deleted_at IS NULL
        THEN regexp_replace(coalesce(content, ''), '[[:punct:][:space:]]+', ' ', 'g') ELSE '' END)
) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
"#,
    crate::store::users::DEVICE_SIGNING,
];

/// The schema version a database is at (0: none of ours).
fn version(c: &mut Client) -> Result<usize> {
    c.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let row = c.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])?;
    Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Brings the schema up to date; refuses a database from a newer program.
/// Instances starting together take turns (a session advisory lock), so
/// one migrates and the others find it done.
pub fn migrate(c: &mut Client) -> Result<()> {
    c.batch_execute("SELECT pg_advisory_lock(7230002)")?;
    let done = migrate_locked(c);
    let unlocked = c.batch_execute("SELECT pg_advisory_unlock(7230002)");
    done?;
    Ok(unlocked?)
}

fn migrate_locked(c: &mut Client) -> Result<()> {
    let at = version(c)?;
    if at > MIGRATIONS.len() {
        return Err(StoreError::NewerSchema {
            path: "the PostgreSQL database".into(),
            found: at as i64,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(at) {
        let mut tx = c.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&((i + 1) as i64)],
        )?;
        tx.commit()?;
    }
    Ok(())
}
