//! The event log. A change that sockets owned by some other thread,
//! process or instance must hear of — a session ended, a member left or
//! joined — appends a row to the `events` table of the file it changes, in
//! the same transaction as the change. A server follows both files: it
//! reads new rows when `PRAGMA data_version` says another connection
//! committed (another process: within one poll), and at once when this
//! process appended one (the writers wake it). Events are hints to look
//! again, not the truth: whoever applies one re-reads the store.

use std::time::Duration;

use rusqlite::{Connection, Transaction, params};

use super::{Result, Store};
use crate::sync::{lock, wait_timeout};

/// The schema both files add.
pub const TABLE: &str = "
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    user_id    INTEGER,
    group_id   INTEGER,
    created_at INTEGER NOT NULL
);";

/// Events older than this are pruned.
pub const KEEP_MS: i64 = 3600 * 1000;

/// Something live sockets must hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// One or more sessions of the user ended (logout, password change,
    /// revocation, reset, account deleted).
    SessionsEnded { user_id: i64 },
    /// The user became a member of the group.
    MemberJoined { group_id: i64, user_id: i64 },
    /// The user stopped being a member of the group.
    MemberLeft { group_id: i64, user_id: i64 },
}

impl Event {
    fn columns(self) -> (&'static str, i64, Option<i64>) {
        match self {
            Event::SessionsEnded { user_id } => ("sessions_ended", user_id, None),
            Event::MemberJoined { group_id, user_id } => ("member_joined", user_id, Some(group_id)),
            Event::MemberLeft { group_id, user_id } => ("member_left", user_id, Some(group_id)),
        }
    }

    fn from_columns(kind: &str, user_id: Option<i64>, group_id: Option<i64>) -> Option<Event> {
        Some(match (kind, user_id?, group_id) {
            ("sessions_ended", user_id, _) => Event::SessionsEnded { user_id },
            ("member_joined", user_id, Some(group_id)) => Event::MemberJoined { group_id, user_id },
            ("member_left", user_id, Some(group_id)) => Event::MemberLeft { group_id, user_id },
            // A kind from a newer program: not ours to apply.
            _ => return None,
        })
    }
}

/// Appends `event` inside the caller's transaction.
pub fn append(tx: &Transaction<'_>, event: Event, now: i64) -> rusqlite::Result<()> {
    let (kind, user_id, group_id) = event.columns();
    tx.prepare_cached(
        "INSERT INTO events (kind, user_id, group_id, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![kind, user_id, group_id, now])?;
    Ok(())
}

/// Where a follower has read up to, per file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCursor {
    users: i64,
    chat: i64,
    /// This process's appends already seen.
    appended: u64,
}

fn max_id(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))
}

fn read_after(c: &Connection, after: &mut i64) -> rusqlite::Result<Vec<Event>> {
    let mut st = c.prepare_cached(
        "SELECT id, kind, user_id, group_id FROM events WHERE id > ?1 ORDER BY id",
    )?;
    let mut rows = st.query([*after])?;
    let (mut out, mut last) = (Vec::new(), *after);
    while let Some(r) = rows.next()? {
        last = r.get(0)?;
        let kind: String = r.get(1)?;
        out.extend(Event::from_columns(&kind, r.get(2)?, r.get(3)?));
    }
    *after = last;
    Ok(out)
}

impl Store {
    /// Wakes followers after this process appended events.
    pub(super) fn appended(&self) {
        *lock(&self.appended) += 1;
        self.wake.notify_all();
    }

    /// A cursor at the end of the log: a server starting now owes nothing
    /// to what happened before it started.
    pub fn event_cursor(&self) -> Result<EventCursor> {
        Ok(EventCursor {
            users: self.users.read(max_id)?,
            chat: self.chat.read(max_id)?,
            appended: *lock(&self.appended),
        })
    }

    /// Waits until this process appends an event or `timeout` passes.
    pub fn wait_for_events(&self, cursor: &EventCursor, timeout: Duration) {
        let seen = lock(&self.appended);
        if *seen == cursor.appended {
            drop(wait_timeout(&self.wake, seen, timeout));
        }
    }

    /// The events after `cursor` (reading a file only when some connection
    /// committed to it since the last look), advancing the cursor.
    pub fn events_since(&self, cursor: &mut EventCursor) -> Result<Vec<Event>> {
        cursor.appended = *lock(&self.appended);
        let mut out = Vec::new();
        let (users_at, chat_at) = (&mut cursor.users, &mut cursor.chat);
        if let Some(events) = self.users.if_changed(|c| read_after(c, users_at))? {
            out.extend(events);
        }
        if let Some(events) = self.chat.if_changed(|c| read_after(c, chat_at))? {
            out.extend(events);
        }
        Ok(out)
    }

    /// Forgets events older than `KEEP_MS`.
    pub fn prune_events(&self, now: i64) -> Result<()> {
        for db in [&self.users, &self.chat] {
            db.write(|c| c.execute("DELETE FROM events WHERE created_at < ?1", [now - KEEP_MS]))?;
        }
        Ok(())
    }
}
