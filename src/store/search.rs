//! Full-text search over plaintext messages, in a file of its own:
//! `search.sqlite3` holds an FTS5 index (contentless, rows deletable by
//! id) of `chat.sqlite3`'s messages, with `chat.sqlite3` attached to every
//! connection so that one statement matches the index and filters by
//! membership.
//!
//! Why a separate file, filled behind the messages rather than by a
//! trigger in their transaction: measured on 1,000,000 stored messages, a
//! trigger-kept index more than halved message throughput (an FTS segment
//! written per commit: 82 µs a message against 20 µs), and anything in the
//! same file would hold the one writer lock that every message waits for.
//! Here the indexer (`keep_index`, a thread of the server) takes new
//! messages by id, and edits and deletions from `chat.search_queue`, in
//! batches, in its own file's transactions: a message is searchable a
//! fraction of a second after it is stored. The index is derived data: if
//! the file is lost, or belongs to another chat file (`meta.epoch`), or
//! the chat file was restored to an older state, it is rebuilt.
//!
//! The query comes in already parsed (`SearchQuery`); each term is quoted
//! into the FTS5 expression, so nothing a user types is FTS5 syntax.
//!
//! In PostgreSQL the index is the messages table's own: a generated
//! `tsvector` column (words split at punctuation and spaces, as FTS5's
//! `unicode61` splits them; the `simple` configuration: lowercased by the
//! database's locale, no stemming; accents kept) with a GIN index,
//! written in the message's transaction — PostgreSQL has no single writer
//! lock for it to hold up. There is no indexer: a message is searchable
//! when it is stored. Each term goes in as a parameter that PostgreSQL
//! parses into a phrase query (`phraseto_tsquery`: words, never operators).

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::Migration;
use super::{Lite, Message, Part, Result, Store};
use crate::sync::lock;

pub const FILE: &str = "search.sqlite3";

/// The schema name `chat.sqlite3` is attached under.
pub const CHAT: &str = "chat";

pub const MIGRATIONS: &[Migration] = &[Migration::Sql(
    "CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
    );
    -- How far the index has read chat.sqlite3: messages up to
    -- `indexed_upto`, changes up to `queue_done`, of the file `epoch`.
    CREATE TABLE progress (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        epoch        TEXT NOT NULL,
        indexed_upto INTEGER NOT NULL,
        queue_done   INTEGER NOT NULL
    );",
)];

/// Most messages (and most queued changes) one indexing transaction takes.
pub const BATCH: i64 = 2000;
/// How long the indexer lets new messages gather before a batch.
const GATHER: Duration = Duration::from_millis(100);
/// How long it sleeps when nobody wakes it.
const IDLE: Duration = Duration::from_secs(1);

/// One thing a message must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A word, matched as a prefix (`deplo` finds "deploy", "deployed").
    Prefix(String),
    /// A word, matched whole.
    Word(String),
    /// Words in this order, exactly.
    Phrase(Vec<String>),
}

/// Every term must match (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Term>,
}

/// `"…"` with inner quotes doubled: an FTS5 string, never an operator.
fn quoted(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

impl SearchQuery {
    /// The FTS5 MATCH expression.
    pub fn fts5(&self) -> String {
        self.terms
            .iter()
            .map(|t| match t {
                Term::Prefix(w) => format!("{} *", quoted(w)),
                Term::Word(w) => quoted(w),
                Term::Phrase(ws) => quoted(&ws.join(" ")),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// What one indexing round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Indexed {
    /// Message ids read (indexed, or skipped as E2E, system or deleted).
    pub messages: i64,
    /// Queued changes applied.
    pub changes: i64,
    /// The index was found stale and started over.
    pub rebuilt: bool,
}

/// The chat file's identity and how many message ids it ever handed out.
fn chat_state(c: &Connection) -> rusqlite::Result<(String, i64)> {
    let epoch: String =
        c.query_row("SELECT value FROM chat.meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })?;
    let issued: i64 = c
        .query_row(
            "SELECT seq FROM chat.sqlite_sequence WHERE name = 'messages'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    Ok((epoch, issued))
}

/// Empties the index and starts it over for the chat file `epoch`.
fn start_over(c: &Connection, epoch: &str) -> rusqlite::Result<()> {
    c.execute_batch(
        "INSERT INTO messages_fts (messages_fts) VALUES ('delete-all'); DELETE FROM progress;",
    )?;
    // Changes queued so far are in the messages' current text.
    c.execute(
        "INSERT INTO progress (id, epoch, indexed_upto, queue_done)
         VALUES (1, ?1, 0, (SELECT coalesce(max(seq), 0) FROM chat.search_queue))",
        [epoch],
    )?;
    Ok(())
}

/// Indexes up to `BATCH` new messages and applies up to `BATCH` queued
/// changes, in one transaction of the index file (reading the chat file at
/// one snapshot).
fn index_round(c: &mut Connection) -> rusqlite::Result<Indexed> {
    let tx = c.transaction()?;
    let (epoch, issued) = chat_state(&tx)?;
    let progress: Option<(String, i64, i64)> = tx
        .query_row(
            "SELECT epoch, indexed_upto, queue_done FROM progress WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let mut out = Indexed::default();
    let (upto, done) = match progress {
        Some((e, upto, done)) if e == epoch && upto <= issued => (upto, done),
        _ => {
            start_over(&tx, &epoch)?;
            out.rebuilt = true;
            let done: i64 = tx.query_row("SELECT queue_done FROM progress", [], |r| r.get(0))?;
            (0, done)
        }
    };
    let new_upto: i64 = tx.query_row(
        "SELECT coalesce(max(id), ?1) FROM
            (SELECT id FROM chat.messages WHERE id > ?1 ORDER BY id LIMIT ?2)",
        params![upto, BATCH],
        |r| r.get(0),
    )?;
    if new_upto > upto {
        tx.execute(
            "INSERT INTO messages_fts (rowid, content)
             SELECT id, content FROM chat.messages
             WHERE id > ?1 AND id <= ?2 AND content IS NOT NULL AND system = 0
               AND deleted_at IS NULL",
            params![upto, new_upto],
        )?;
    }
    let new_done: i64 = tx.query_row(
        "SELECT coalesce(max(seq), ?1) FROM
            (SELECT seq FROM chat.search_queue WHERE seq > ?1 ORDER BY seq LIMIT ?2)",
        params![done, BATCH],
        |r| r.get(0),
    )?;
    if new_done > done {
        // Messages indexed before this round: out with the old text, in
        // with what they say now (nothing, when deleted). Those indexed
        // just now already have their current text.
        let changed = "SELECT DISTINCT message_id FROM chat.search_queue
                       WHERE seq > ?1 AND seq <= ?2 AND message_id <= ?3";
        tx.execute(
            &format!("DELETE FROM messages_fts WHERE rowid IN ({changed})"),
            params![done, new_done, upto],
        )?;
        tx.execute(
            &format!(
                "INSERT INTO messages_fts (rowid, content)
                 SELECT id, content FROM chat.messages
                 WHERE id IN ({changed}) AND content IS NOT NULL AND system = 0
                   AND deleted_at IS NULL"
            ),
            params![done, new_done, upto],
        )?;
    }
    tx.execute(
        "UPDATE progress SET indexed_upto = ?1, queue_done = ?2 WHERE id = 1",
        params![new_upto, new_done],
    )?;
    tx.commit()?;
    out.messages = new_upto - upto;
    out.changes = new_done - done;
    Ok(out)
}

impl Store {
    /// One round of indexing (see `index_round`); the server's indexer
    /// calls it in a loop, tests and tools directly.
    /// In PostgreSQL, nothing to do (see the module doc).
    pub fn index_pending(&self) -> Result<Indexed> {
        let Some(lite) = self.lite() else {
            return Ok(Indexed::default());
        };
        let done = lite.search.write(index_round)?;
        if done.changes > 0 {
            // The applied changes are no longer needed in the chat file.
            let upto = lite.search.read(|c| {
                c.query_row("SELECT queue_done FROM progress", [], |r| {
                    r.get::<_, i64>(0)
                })
            })?;
            lite.chat.write(|c| {
                c.execute("DELETE FROM search_queue WHERE seq <= ?1", [upto])
                    .map(drop)
            })?;
        }
        Ok(done)
    }

    /// Empties the index, to be rebuilt from the messages (after a restore).
    pub(super) fn reset_index(&self) -> Result<()> {
        let Some(lite) = self.lite() else {
            return Ok(());
        };
        lite.search.write(|c| {
            let tx = c.transaction()?;
            let (epoch, _) = chat_state(&tx)?;
            start_over(&tx, &epoch)?;
            tx.commit()
        })
    }

    /// Tells the indexer that messages were stored.
    pub(super) fn new_messages(&self) {
        *lock(&self.unindexed) = true;
        self.index_wake.notify_one();
    }

    /// Keeps the index up with the messages until `stop` says so: a round
    /// whenever messages were stored (after letting more gather for a
    /// moment), at least once a second for changes made by other
    /// processes, and back to back while a backlog lasts.
    /// In PostgreSQL it returns at once: there is nothing to keep.
    pub fn keep_index(&self, stop: impl Fn() -> bool) {
        if self.is_postgres() {
            return;
        }
        let mut rebuilding = false;
        while !stop() {
            match self.index_pending() {
                Ok(done) => {
                    if done.rebuilt {
                        crate::info!("search index: building it from the stored messages");
                        rebuilding = true;
                    }
                    if done.messages >= BATCH || done.changes >= BATCH {
                        continue;
                    }
                    if rebuilding {
                        crate::info!("search index: up to date");
                        rebuilding = false;
                    }
                }
                Err(e) => crate::warn!("search index: {e}"),
            }
            let pending = lock(&self.unindexed);
            let (mut pending, _) = self
                .index_wake
                .wait_timeout_while(pending, IDLE, |p| !*p)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *pending = false;
            drop(pending);
            std::thread::sleep(GATHER);
        }
    }

    /// Messages matching `q` in the groups `user_id` belongs to (or in
    /// `group_id`, when given — the caller checked membership), newest
    /// first, below `before`; and whether there are more.
    pub fn search(
        &self,
        user_id: i64,
        q: &SearchQuery,
        group_id: Option<i64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool)> {
        let before = before.unwrap_or(i64::MAX);
        let ids = match self.lite() {
            Some(lite) => search_lite(lite, user_id, q, group_id, before, limit)?,
            None => self.search_pg(user_id, q, group_id, before, limit)?,
        };
        let more = ids.len() > limit;
        let found = self.messages_by_id(&ids[..ids.len().min(limit)])?;
        Ok((found, more))
    }

    /// `search`'s ids (at most `limit + 1`) from the messages' `tsvector`.
    fn search_pg(
        &self,
        user_id: i64,
        q: &SearchQuery,
        group_id: Option<i64>,
        before: i64,
        limit: usize,
    ) -> Result<Vec<i64>> {
        // Each term's words go to PostgreSQL as a parameter and are parsed
        // there by the same parser that made the messages' vectors (so
        // `example.com` or `report.pdf` is one word on both sides): a
        // phrase query, a prefix one with `:*` on its last word; terms
        // joined by `&&`. Only placeholders are written into the SQL.
        let texts: Vec<String> = q
            .terms
            .iter()
            .map(|t| match t {
                Term::Prefix(w) | Term::Word(w) => w.clone(),
                Term::Phrase(ws) => ws.join(" "),
            })
            .collect();
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let query = q
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let phrase = format!("phraseto_tsquery('simple', ?{})", i + 5);
                match t {
                    Term::Prefix(_) => format!(
                        "CAST(regexp_replace(CAST({phrase} AS TEXT), '''$', ''':*') AS tsquery)"
                    ),
                    Term::Word(_) | Term::Phrase(_) => phrase,
                }
            })
            .collect::<Vec<_>>()
            .join(" && ");
        let sql_text = format!(
            "SELECT m.id FROM messages m
             WHERE m.search @@ ({query}) AND m.id < ?1
               AND m.deleted_at IS NULL
               AND (CAST(?2 AS BIGINT) IS NULL OR m.group_id = ?2)
               AND m.group_id IN (SELECT group_id FROM memberships WHERE user_id = ?3)
             ORDER BY m.id DESC LIMIT ?4"
        );
        let limit = limit + 1;
        let mut params: Vec<&dyn super::sql::Param> = vec![&before, &group_id, &user_id, &limit];
        params.extend(texts.iter().map(|t| t as &dyn super::sql::Param));
        self.read(Part::Chat, |sql| sql.rows(&sql_text, &params, |r| r.get(0)))
    }
}

/// `search`'s ids (at most `limit + 1`) from the FTS5 index.
fn search_lite(
    lite: &Lite,
    user_id: i64,
    q: &SearchQuery,
    group_id: Option<i64>,
    before: i64,
    limit: usize,
) -> Result<Vec<i64>> {
    let expr = q.fts5();
    lite.search.read(|c| {
        let mut st = c.prepare_cached(
            "SELECT m.id FROM messages_fts f JOIN chat.messages m ON m.id = f.rowid
                 WHERE messages_fts MATCH ?1 AND f.rowid < ?2
                   AND m.deleted_at IS NULL
                   AND (?3 IS NULL OR m.group_id = ?3)
                   AND m.group_id IN (SELECT group_id FROM chat.memberships WHERE user_id = ?4)
                 ORDER BY f.rowid DESC LIMIT ?5",
        )?;
        let rows = st.query_map(
            params![expr, before, group_id, user_id, limit as i64 + 1],
            |r| r.get(0),
        )?;
        rows.collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Body, Extras};

    fn found(store: &Store, word: &str) -> Vec<i64> {
        let q = SearchQuery {
            terms: vec![Term::Prefix(word.into())],
        };
        let (msgs, _) = store.search(1, &q, None, None, 10).unwrap();
        msgs.iter().map(|m| m.id).collect()
    }

    #[test]
    fn edits_deletions_and_an_in_place_restore_reach_the_index() {
        let dir = std::env::temp_dir().join(format!("sc-search-{}", crate::util::random_token()));
        let store = Store::open(&dir.join("data")).unwrap();
        let g = store
            .create_group("g", false, false, 1, 1)
            .unwrap()
            .unwrap();
        let post = |text: &str| {
            let body = Body::Content(text.into());
            let m = store.insert_message(g.id, 1, "alice", &body, &Extras::default(), 2);
            m.unwrap().unwrap().id
        };
        let (a, b) = (post("original words"), post("doomed words"));
        assert_eq!(
            found(&store, "orig"),
            Vec::<i64>::new(),
            "not before the indexer ran"
        );
        store.index_pending().unwrap();
        assert_eq!(found(&store, "words"), [b, a]);
        store.backup_to(&dir.join("backup")).unwrap();

        let edit = Body::Content("rewritten text".into());
        store.edit_message(a, &edit, 3).unwrap();
        store.delete_message(b, 3, None).unwrap();
        let done = store.index_pending().unwrap();
        assert_eq!((done.messages, done.changes), (0, 2));
        assert_eq!(found(&store, "words"), Vec::<i64>::new());
        assert_eq!(found(&store, "rewrit"), [a]);
        assert_eq!(
            store.index_pending().unwrap(),
            Indexed::default(),
            "the queue was emptied"
        );

        // Restored over the live files: the index follows the old messages.
        store.restore_from(&dir.join("backup")).unwrap();
        let done = store.index_pending().unwrap();
        assert_eq!(done.messages, 2);
        assert_eq!(found(&store, "rewrit"), Vec::<i64>::new());
        assert_eq!(found(&store, "words"), [b, a]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_term_is_quoted() {
        let q = SearchQuery {
            terms: vec![
                Term::Prefix("deplo".into()),
                Term::Phrase(vec!["green".into(), "light".into()]),
                Term::Prefix("NEAR\"".into()),
                Term::Word("t".into()),
            ],
        };
        assert_eq!(
            q.fts5(),
            r#""deplo" * AND "green light" AND "NEAR""" * AND "t""#
        );
    }
}
