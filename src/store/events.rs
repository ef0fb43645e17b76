//! The event log. A change that sockets owned by some other thread,
//! process or instance must hear of — a session ended, a member left or
//! joined — appends a row to the `events` table of the file it changes, in
//! the same transaction as the change. In SQLite a server follows both
//! files: it reads new rows when `PRAGMA data_version` says another
//! connection committed (another process: within one poll), and at once
//! when this process appended one (the writers wake it). In PostgreSQL
//! there is one log for every instance; an append notifies them at commit
//! (their followers wake at once) and appends take turns, so ids become
//! visible in order. Events are hints to look again, not the truth:
//! whoever applies one re-reads the store.

use std::time::Duration;

use super::sql::Sql;
use super::{Engine, Part, Result, Store};
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

/// Appends `event` inside the caller's transaction. In PostgreSQL the
/// appends of all instances take turns (a transaction-scoped advisory
/// lock), so ids become visible in id order and a follower reading "after
/// the last id seen" never skips one committed late; and a notification
/// (sent at commit) wakes every instance's follower at once. So append as
/// late in the transaction as the change allows: the turn is held to the
/// commit.
pub fn append(sql: &mut Sql<'_>, event: Event, now: i64) -> Result<()> {
    if sql.pg() {
        sql.exec("SELECT pg_advisory_xact_lock(7230001)", &[])?;
        sql.exec("SELECT pg_notify('securechat', '- E')", &[])?;
    }
    let (kind, user_id, group_id) = event.columns();
    sql.exec(
        "INSERT INTO events (kind, user_id, group_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[&kind, &user_id, &group_id, &now],
    )?;
    Ok(())
}

/// Where a follower has read up to, per file (PostgreSQL has one log: the
/// first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCursor {
    after: [i64; 2],
    /// This process's appends already seen.
    appended: u64,
}

fn max_id(sql: &mut Sql<'_>) -> Result<i64> {
    sql.value(
        "SELECT CAST(coalesce(max(id), 0) AS BIGINT) FROM events",
        &[],
    )
}

fn read_after(sql: &mut Sql<'_>, after: &mut i64) -> Result<Vec<Event>> {
    let rows = sql.rows(
        "SELECT id, kind, user_id, group_id FROM events WHERE id > ?1 ORDER BY id",
        &[&*after],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<String>(1)?,
                r.get::<Option<i64>>(2)?,
                r.get::<Option<i64>>(3)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for (id, kind, user_id, group_id) in rows {
        *after = id;
        out.extend(Event::from_columns(&kind, user_id, group_id));
    }
    Ok(out)
}

impl Store {
    /// The files that keep an event log.
    fn logs(&self) -> &'static [Part] {
        if self.is_postgres() {
            &[Part::Users]
        } else {
            &[Part::Users, Part::Chat]
        }
    }

    /// Wakes followers: another instance appended events.
    pub fn wake_followers(&self) {
        self.appended();
    }

    /// Wakes followers after this process appended events.
    pub(super) fn appended(&self) {
        *lock(&self.appended) += 1;
        self.wake.notify_all();
    }

    /// A cursor at the end of the log: a server starting now owes nothing
    /// to what happened before it started.
    pub fn event_cursor(&self) -> Result<EventCursor> {
        let mut cursor = EventCursor {
            appended: *lock(&self.appended),
            ..EventCursor::default()
        };
        for (i, part) in self.logs().iter().enumerate() {
            cursor.after[i] = self.read(*part, max_id)?;
        }
        Ok(cursor)
    }

    /// Waits until this process appends an event or `timeout` passes.
    pub fn wait_for_events(&self, cursor: &EventCursor, timeout: Duration) {
        let seen = lock(&self.appended);
        if *seen == cursor.appended {
            drop(wait_timeout(&self.wake, seen, timeout));
        }
    }

    /// The events after `cursor` (in SQLite reading a file only when some
    /// connection committed to it since the last look), advancing it.
    pub fn events_since(&self, cursor: &mut EventCursor) -> Result<Vec<Event>> {
        cursor.appended = *lock(&self.appended);
        let mut out = Vec::new();
        for (i, part) in self.logs().iter().enumerate() {
            let after = &mut cursor.after[i];
            match &self.engine {
                Engine::Sqlite(lite) => {
                    let db = lite.db(*part);
                    if let Some(events) = db.if_changed(|c| read_after(&mut Sql::Lite(c), after))? {
                        out.extend(events);
                    }
                }
                Engine::Postgres(_) => out.extend(self.read(*part, |sql| read_after(sql, after))?),
            }
        }
        Ok(out)
    }

    /// Forgets events older than `KEEP_MS`.
    pub fn prune_events(&self, now: i64) -> Result<()> {
        for part in self.logs() {
            self.write(*part, |sql| {
                sql.exec(
                    "DELETE FROM events WHERE created_at < ?1",
                    &[&(now - KEEP_MS)],
                )
            })?;
        }
        Ok(())
    }
}
