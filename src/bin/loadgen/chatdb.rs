//! The benchmark's own hands on a server's databases, for what the API
//! would take hours to do or cannot do at all: storing a million messages
//! in large transactions (with the server stopped; the server's own
//! indexer then builds the search index from them, as it would after an
//! upgrade), how far that index has got (read while the server runs), and
//! the query plan of the server's search SQL on that data.
//!
//! Only ever on the temporary data directory of a server this benchmark
//! started.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::corpus::{Rng, Vocab};
use crate::error::BenchError;

const CHAT_DB: &str = "chat.sqlite3";
const USERS_DB: &str = "users.sqlite3";
const SEARCH_DB: &str = "search.sqlite3";

/// Messages per seeding transaction.
const SEED_BATCH: usize = 50_000;

/// The server's search SQL as this benchmark was built (read from
/// src/store/search.rs at compile time, so a changed query shows up in
/// the recorded plan), and a copy for when it cannot be found there.
const SERVER_SEARCH_RS: &str = include_str!("../../store/search.rs");
const SEARCH_SQL_COPY: &str =
    "SELECT m.id FROM messages_fts f JOIN chat.messages m ON m.id = f.rowid
                 WHERE messages_fts MATCH ?1 AND f.rowid < ?2
                   AND m.deleted_at IS NULL
                   AND (?3 IS NULL OR m.group_id = ?3)
                   AND m.group_id IN (SELECT group_id FROM chat.memberships WHERE user_id = ?4)
                 ORDER BY f.rowid DESC LIMIT ?5";

/// The server's SQLite setup as this benchmark was built (read from
/// src/store/sqlite.rs at compile time).
const SERVER_SQLITE_RS: &str = include_str!("../../store/sqlite.rs");

/// The `PRAGMA synchronous` the server sets on its SQLite connections
/// ("NORMAL": in WAL mode a commit is not fsynced, a checkpoint is), or
/// "unknown" if the source no longer says it that way.
pub fn sqlite_synchronous() -> &'static str {
    const MARK: &str = "PRAGMA synchronous = ";
    SERVER_SQLITE_RS
        .find(MARK)
        .map(|i| &SERVER_SQLITE_RS[i + MARK.len()..])
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .filter(|v| !v.is_empty())
        .unwrap_or("unknown")
}

/// The search SQL, and where it came from ("src/store/search.rs" or "copy").
pub fn search_sql() -> (String, &'static str) {
    let start = SERVER_SEARCH_RS.find("\"SELECT m.id FROM messages_fts");
    let sql = start.and_then(|s| {
        let body = &SERVER_SEARCH_RS[s + 1..];
        body.find('"').map(|e| &body[..e])
    });
    match sql {
        Some(sql) => (sql.to_string(), "src/store/search.rs"),
        None => (SEARCH_SQL_COPY.to_string(), "copy"),
    }
}

fn sqlite_err(doing: &'static str, path: &Path) -> impl FnOnce(rusqlite::Error) -> BenchError {
    let path = path.to_path_buf();
    move |error| BenchError::Sqlite { doing, path, error }
}

/// A connection to one of the server's databases, set up as the server
/// sets up its own (foreign keys on), waiting for locks like it does.
fn open(data: &Path, file: &str) -> Result<(Connection, PathBuf), BenchError> {
    let path = data.join(file);
    let c = Connection::open(&path).map_err(sqlite_err("open", &path))?;
    c.busy_timeout(Duration::from_secs(5))
        .and_then(|()| c.execute_batch("PRAGMA foreign_keys = ON;"))
        .map_err(sqlite_err("set up", &path))?;
    Ok((c, path))
}

/// A group and its members (user id, username), as the server stored them.
pub struct GroupMembers {
    pub id: i64,
    pub members: Vec<(i64, String)>,
}

/// Every group with its members (from chat.sqlite3, names from users.sqlite3).
pub fn groups(data: &Path) -> Result<Vec<GroupMembers>, BenchError> {
    let (u, upath) = open(data, USERS_DB)?;
    let names: HashMap<i64, String> = u
        .prepare("SELECT id, username FROM users")
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(sqlite_err("read users", &upath))?;
    let (c, cpath) = open(data, CHAT_DB)?;
    let rows: Vec<(i64, i64)> = c
        .prepare(
            "SELECT g.id, m.user_id FROM groups g JOIN memberships m ON m.group_id = g.id
             WHERE g.kind = 'group' ORDER BY g.id, m.user_id",
        )
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(sqlite_err("read memberships", &cpath))?;
    let mut out: Vec<GroupMembers> = Vec::new();
    for (g, user) in rows {
        let name = names.get(&user).cloned().unwrap_or_default();
        match out.last_mut() {
            Some(last) if last.id == g => last.members.push((user, name)),
            _ => out.push(GroupMembers {
                id: g,
                members: vec![(user, name)],
            }),
        }
    }
    Ok(out)
}

/// What seeding stored.
pub struct Seeded {
    pub messages: usize,
    pub seconds: f64,
    pub first_id: i64,
    pub last_id: i64,
    /// Every `sample_every`-th message: (group id, content).
    pub sample: Vec<(i64, String)>,
}

/// Stores `n` messages in `groups` (a group drawn uniformly, its author
/// among its members), `SEED_BATCH` per transaction, with the columns the
/// server sets for a plaintext message (no reply, no mentions) and
/// `created_at` rising evenly over the year before now. The server's
/// indexer indexes them when it next runs.
pub fn seed(
    data: &Path,
    groups: &[GroupMembers],
    vocab: &Vocab,
    n: usize,
    rng: &mut Rng,
    sample_every: usize,
) -> Result<Seeded, BenchError> {
    let started = Instant::now();
    let (mut c, path) = open(data, CHAT_DB)?;
    // Only this connection's durability: the file is the bench's own.
    c.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
        .map_err(sqlite_err("set up seeding", &path))?;
    let groups: Vec<&GroupMembers> = groups.iter().filter(|g| !g.members.is_empty()).collect();
    if groups.is_empty() {
        return Err(BenchError::Invalid("no group with members to seed"));
    }
    let now = crate::clock::unix_ms() as i64;
    let year_ms: i64 = 365 * 24 * 3600 * 1000;
    let step = (year_ms / n.max(1) as i64).clamp(1, 60_000);
    let t0 = now - step * n as i64;
    let mut text = String::with_capacity(256);
    let mut sample = Vec::new();
    let (mut first_id, mut last_id) = (0, 0);
    let mut done = 0;
    while done < n {
        let batch = SEED_BATCH.min(n - done);
        let tx = c.transaction().map_err(sqlite_err("begin", &path))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO messages (group_id, author_id, author, content, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sqlite_err("prepare the insert", &path))?;
            for i in done..done + batch {
                let g = groups[rng.below(groups.len())];
                let (author_id, author) = rng.pick(&g.members);
                vocab.message(rng, &mut text);
                st.execute(params![g.id, author_id, author, text, t0 + step * i as i64])
                    .map_err(sqlite_err("insert a message", &path))?;
                last_id = tx.last_insert_rowid();
                if first_id == 0 {
                    first_id = last_id;
                }
                if sample_every > 0 && i % sample_every == 0 {
                    sample.push((g.id, text.clone()));
                }
            }
        }
        tx.commit().map_err(sqlite_err("commit", &path))?;
        done += batch;
    }
    checkpoint(&c, &path)?;
    Ok(Seeded {
        messages: n,
        seconds: started.elapsed().as_secs_f64(),
        first_id,
        last_id,
        sample,
    })
}

/// Adds `n` users `{prefix}{i:05}` to the server's users (the password
/// hash of the oldest account: no argon2 per user), each with a session
/// that lasts a day, as members of group `group`; returns their session
/// tokens in order. With the server stopped: thousands of registrations
/// through the form would take minutes of password hashing.
pub fn seed_members(
    data: &Path,
    group: i64,
    prefix: &str,
    n: usize,
) -> Result<Vec<String>, BenchError> {
    let now = crate::clock::unix_ms() as i64;
    let day_ms: i64 = 24 * 3600 * 1000;
    let (mut u, upath) = open(data, USERS_DB)?;
    let tx = u.transaction().map_err(sqlite_err("begin", &upath))?;
    let hash: String = tx
        .query_row(
            "SELECT password_hash FROM users ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_err("read a password hash", &upath))?;
    let mut ids = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut seed = crate::corpus::Rng::new(now as u64);
    {
        let mut user = tx
            .prepare("INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)")
            .map_err(sqlite_err("prepare the insert", &upath))?;
        let mut session = tx
            .prepare(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sqlite_err("prepare the insert", &upath))?;
        for i in 0..n {
            user.execute(params![format!("{prefix}{i:05}"), hash, now])
                .map_err(sqlite_err("insert a user", &upath))?;
            let id = tx.last_insert_rowid();
            let token: String = (0..4)
                .map(|_| format!("{:016x}", seed.next_u64()))
                .collect();
            let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            let token_hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            session
                .execute(params![token_hash, id, now, now + day_ms])
                .map_err(sqlite_err("insert a session", &upath))?;
            ids.push(id);
            tokens.push(token);
        }
    }
    tx.commit().map_err(sqlite_err("commit", &upath))?;
    checkpoint(&u, &upath)?;
    let (mut c, cpath) = open(data, CHAT_DB)?;
    let tx = c.transaction().map_err(sqlite_err("begin", &cpath))?;
    {
        let mut member = tx
            .prepare(
                "INSERT INTO memberships (group_id, user_id, joined_at, role)
                 VALUES (?1, ?2, ?3, 'member')",
            )
            .map_err(sqlite_err("prepare the insert", &cpath))?;
        for id in &ids {
            member
                .execute(params![group, id, now])
                .map_err(sqlite_err("insert a membership", &cpath))?;
        }
    }
    tx.commit().map_err(sqlite_err("commit", &cpath))?;
    checkpoint(&c, &cpath)?;
    Ok(tokens)
}

fn checkpoint(c: &Connection, path: &Path) -> Result<(), BenchError> {
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(sqlite_err("checkpoint", path))
}

/// How far the server's search index has read the messages (its
/// `progress.indexed_upto`; 0 before the index file or its row exists).
pub fn indexed_upto(data: &Path) -> Result<i64, BenchError> {
    let path = data.join(SEARCH_DB);
    if !path.exists() {
        return Ok(0);
    }
    let (c, path) = open(data, SEARCH_DB)?;
    let upto: Option<i64> = c
        .query_row("SELECT indexed_upto FROM progress WHERE id = 1", [], |r| {
            r.get(0)
        })
        .ok();
    drop(path);
    Ok(upto.unwrap_or(0))
}

/// Waits (until `limit`) for the server's index to reach message `id`;
/// returns the seconds waited.
pub fn wait_indexed(data: &Path, id: i64, limit: Instant) -> Result<f64, BenchError> {
    let t = Instant::now();
    while indexed_upto(data)? < id {
        if Instant::now() > limit {
            return Err(BenchError::Wrong {
                check: "the search index catches up",
                detail: format!("indexed up to {} of {id}", indexed_upto(data)?),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// The highest message id.
pub fn max_message_id(data: &Path) -> Result<i64, BenchError> {
    let (c, path) = open(data, CHAT_DB)?;
    c.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
        r.get(0)
    })
    .map_err(sqlite_err("read the last message id", &path))
}

/// Chat messages (not system lines) stored (server stopped, or between
/// its commits).
pub fn chat_messages(data: &Path) -> Result<i64, BenchError> {
    let (c, path) = open(data, CHAT_DB)?;
    c.query_row("SELECT count(*) FROM messages WHERE system = 0", [], |r| {
        r.get(0)
    })
    .map_err(sqlite_err("count the stored messages", &path))
}

/// `EXPLAIN QUERY PLAN` of `sql` with these parameters (FTS5 expression,
/// before, group id, user id, limit), one line per step, indented by depth.
pub fn query_plan(
    data: &Path,
    sql: &str,
    expr: &str,
    group: Option<i64>,
    user: i64,
) -> Result<Vec<String>, BenchError> {
    let (c, path) = open(data, SEARCH_DB)?;
    c.execute(
        "ATTACH DATABASE ?1 AS chat",
        [data.join(CHAT_DB).to_string_lossy()],
    )
    .map_err(sqlite_err("attach the chat file", &path))?;
    let rows: Vec<(i64, i64, String)> = c
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .and_then(|mut st| {
            st.query_map(params![expr, i64::MAX, group, user, 21], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()
        })
        .map_err(sqlite_err("explain the search", &path))?;
    let mut depth: HashMap<i64, usize> = HashMap::new();
    Ok(rows
        .into_iter()
        .map(|(id, parent, detail)| {
            let d = depth.get(&parent).map_or(0, |d| d + 1);
            depth.insert(id, d);
            format!("{}{detail}", "  ".repeat(d))
        })
        .collect())
}

/// Sizes: the chat and search files, the messages table (bytes, from
/// `dbstat` where this SQLite has it), and rows.
pub fn sizes(data: &Path) -> Result<Value, BenchError> {
    let (c, path) = open(data, CHAT_DB)?;
    let file = |name: &str| fs::metadata(data.join(name)).map(|m| m.len()).ok();
    let messages_bytes: Option<i64> = c
        .query_row(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .ok();
    let messages: Option<i64> = c
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .ok();
    drop(path);
    Ok(json!({
        "chat_file_bytes": file(CHAT_DB),
        "search_file_bytes": file(SEARCH_DB),
        "messages_bytes": messages_bytes,
        "messages": messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_durability_is_read_from_the_server_source() {
        assert!(
            ["OFF", "NORMAL", "FULL", "EXTRA"].contains(&sqlite_synchronous()),
            "{}",
            sqlite_synchronous()
        );
    }

    #[test]
    fn the_search_sql_is_read_from_the_server_source() {
        let (sql, from) = search_sql();
        assert_eq!(from, "src/store/search.rs");
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(norm(&sql), norm(SEARCH_SQL_COPY));
    }
}
