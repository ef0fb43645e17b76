//! The bus between instances that share one PostgreSQL database: what one
//! instance publishes reaches every other one through `LISTEN`/`NOTIFY` on
//! one channel, in the order it was published. A payload is text the chat
//! layer defines; this module only carries it, with the sender's instance
//! id in front so that nobody hears itself. PostgreSQL caps a notification
//! at 8,000 bytes: a longer payload is kept in the `relay` table and the
//! notification carries its row id (rows are pruned after a minute).
//!
//! Beside it, what lets a starting instance and a surviving one know who
//! is where: `presence` rows (each instance's open sockets per room and
//! user address, written with the notification that announces them) and
//! `instances` heartbeats; an instance whose heartbeat is older than
//! `DEAD_AFTER_MS` is swept by whichever instance notices first, which
//! tells the others (`Swept`).

use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use super::Pool;
use crate::store::{Engine, Result, Store};
use crate::sync::lock;

/// The channel every instance listens on.
pub const CHANNEL: &str = "securechat";
/// Longest payload sent inside the notification itself.
const INLINE_MAX: usize = 7900;
/// Relayed rows older than this are pruned.
const RELAY_KEEP_MS: i64 = 60_000;
/// An instance silent this long is taken for dead.
pub const DEAD_AFTER_MS: i64 = 10_000;

/// One row of `presence`: sockets of a user from one address, in a room
/// (`group_id` > 0) or on the server-wide `/ws` (0), on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    pub instance: String,
    pub group_id: i64,
    pub user_id: i64,
    pub username: String,
    pub ip: String,
    pub sockets: i64,
}

/// Sends `payload` from `instance` to every other instance, in one
/// transaction with `also` (a presence row's change), on a connection of
/// the pool.
pub fn publish(
    pool: &Pool,
    instance: &str,
    payload: &str,
    also: Option<&PresenceRow>,
) -> Result<()> {
    let mut conn = pool.get()?;
    let c = conn.client();
    let mut tx = c.transaction()?;
    if let Some(row) = also {
        if row.sockets > 0 {
            // Only for an instance the others know of (a row written after
            // it left, or before its first heartbeat, would never be swept:
            // its first heartbeat publishes every count again).
            tx.execute(
                "INSERT INTO presence (instance, group_id, user_id, username, ip, sockets)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM instances WHERE id = $1)
                 ON CONFLICT (instance, group_id, user_id, ip) DO UPDATE SET sockets = excluded.sockets",
                &[
                    &row.instance,
                    &row.group_id,
                    &row.user_id,
                    &row.username,
                    &row.ip,
                    &row.sockets,
                ],
            )?;
        } else {
            tx.execute(
                "DELETE FROM presence WHERE instance = $1 AND group_id = $2 AND user_id = $3 AND ip = $4",
                &[&row.instance, &row.group_id, &row.user_id, &row.ip],
            )?;
        }
    }
    let text = format!("{instance} {payload}");
    if text.len() <= INLINE_MAX {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &text])?;
    } else {
        let id: i64 = tx
            .query_one(
                &format!(
                    "INSERT INTO relay (payload, created_at) VALUES ($1, {DB_NOW}) RETURNING id"
                ),
                &[&text],
            )?
            .get(0);
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &format!("{instance} @{id}")],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The presence rows of every instance but `instance`.
pub fn others_presence(pool: &Pool, instance: &str) -> Result<Vec<PresenceRow>> {
    let mut conn = pool.get()?;
    let rows = conn.client().query(
        "SELECT instance, group_id, user_id, username, ip, sockets FROM presence WHERE instance != $1",
        &[&instance],
    )?;
    Ok(rows
        .iter()
        .map(|r| PresenceRow {
            instance: r.get(0),
            group_id: r.get(1),
            user_id: r.get(2),
            username: r.get(3),
            ip: r.get(4),
            sockets: r.get(5),
        })
        .collect())
}

/// What a heartbeat found.
#[derive(Debug, Default)]
pub struct Beat {
    /// Instances that went silent, swept now.
    pub swept: Vec<String>,
    /// This instance had no row: it is new, or it was swept while alive
    /// (its presence must be published again).
    pub rejoined: bool,
}

/// Records that `instance` is alive, sweeps instances that went silent
/// (their presence rows go; the sweeper tells the others with `Swept`) and
/// prunes old relayed rows.
pub fn heartbeat(c: &mut Client, instance: &str) -> Result<Beat> {
    // The database's clock, not each instance's: hosts whose clocks
    // disagree still agree on who went silent.
    let rejoined: bool = c
        .query_one(
            &format!(
                "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, {DB_NOW}, {DB_NOW})
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
                 RETURNING xmax = 0"
            ),
            &[&instance],
        )?
        .get(0);
    let mut tx = c.transaction()?;
    let dead: Vec<String> = tx
        .query(
            &format!("DELETE FROM instances WHERE heartbeat_at < {DB_NOW} - $1 RETURNING id"),
            &[&DEAD_AFTER_MS],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &dead {
        tx.execute("DELETE FROM presence WHERE instance = $1", &[id])?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &format!("{instance} {SWEPT}{id}")],
        )?;
    }
    tx.execute(
        &format!("DELETE FROM relay WHERE created_at < {DB_NOW} - $1"),
        &[&RELAY_KEEP_MS],
    )?;
    // Heard back by this instance's own subscription: proof it still hears.
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &format!("{instance} {BEAT}")],
    )?;
    tx.commit()?;
    Ok(Beat {
        swept: dead,
        rejoined,
    })
}

/// The payload of a heartbeat's notification.
pub const BEAT: &str = "beat";

/// Now, in Unix milliseconds, by the database's clock.
const DB_NOW: &str = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)";

/// The payload prefix that says an instance was swept (followed by its id).
pub const SWEPT: &str = "swept ";

/// Takes `instance` off the bus at shutdown: its presence rows and its
/// heartbeat go, and the others hear it as swept.
pub fn leave(pool: &Pool, instance: &str) -> Result<()> {
    let mut conn = pool.get()?;
    let mut tx = conn.client().transaction()?;
    tx.execute("DELETE FROM presence WHERE instance = $1", &[&instance])?;
    tx.execute("DELETE FROM instances WHERE id = $1", &[&instance])?;
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &format!("{instance} {SWEPT}{instance}")],
    )?;
    tx.commit()?;
    Ok(())
}

/// A connection that listens on the channel (its own, outside the pool).
pub struct Subscription {
    client: Client,
    instance: String,
}

impl Subscription {
    pub fn open(config: &postgres::Config, instance: &str) -> Result<Subscription> {
        let mut client = super::pool::connect(config)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        Ok(Subscription {
            client,
            instance: instance.to_string(),
        })
    }

    /// What instances published (this one too: its beats tell that the
    /// subscription still hears), in order, as (instance, payload): waits
    /// up to `timeout` for the first, then takes what else arrived.
    pub fn next(&mut self, timeout: Duration) -> Result<Vec<(String, String)>> {
        let mut raw = Vec::new();
        {
            let mut n = self.client.notifications();
            let first = n.timeout_iter(timeout).next()?;
            if let Some(first) = first {
                raw.push(first.payload().to_string());
            }
            let mut ready = n.iter();
            while let Some(more) = ready.next()? {
                raw.push(more.payload().to_string());
            }
        }
        let mut out = Vec::with_capacity(raw.len());
        for mut text in raw {
            // `INSTANCE @ID`: the payload is kept in `relay` (not fetched
            // when it is this instance's own).
            let spilled = text
                .split_once(' ')
                .filter(|(from, _)| *from != self.instance)
                .and_then(|(_, p)| p.strip_prefix('@'))
                .and_then(|id| id.parse::<i64>().ok());
            if let Some(id) = spilled {
                let row = self
                    .client
                    .query_opt("SELECT payload FROM relay WHERE id = $1", &[&id])?;
                // Pruned already (a listener a minute behind): lost.
                let Some(row) = row else { continue };
                text = row.get(0);
            }
            if let Some((from, payload)) = text.split_once(' ') {
                out.push((from.to_string(), payload.to_string()));
            }
        }
        Ok(out)
    }
}

/// The bus as the rest of the program sees it: nothing happens on SQLite
/// (one process serves a data directory; there is nobody to tell).
impl Store {
    /// This process's name on the bus (random per start).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn pool(&self) -> Option<&Pool> {
        match &self.engine {
            Engine::Postgres(pool) => Some(pool),
            Engine::Sqlite(_) => None,
        }
    }

    /// Publishes `payload` to the other instances (with `presence`'s
    /// change in the same transaction).
    pub fn publish(&self, payload: &str, presence: Option<&PresenceRow>) -> Result<()> {
        match self.pool() {
            Some(pool) => publish(pool, &self.instance, payload, presence),
            None => Ok(()),
        }
    }

    /// A listening connection; `None` on SQLite.
    pub fn subscribe(&self) -> Result<Option<Subscription>> {
        match self.pool() {
            Some(pool) => Subscription::open(pool.config(), &self.instance).map(Some),
            None => Ok(None),
        }
    }

    /// Where the other instances' sockets are.
    pub fn others_presence(&self) -> Result<Vec<PresenceRow>> {
        match self.pool() {
            Some(pool) => others_presence(pool, &self.instance),
            None => Ok(Vec::new()),
        }
    }

    /// See `heartbeat`: on a connection of its own, so that a busy pool
    /// never makes a live instance look dead (dropped when it breaks).
    pub fn heartbeat(&self) -> Result<Beat> {
        let Some(pool) = self.pool() else {
            return Ok(Beat::default());
        };
        let mut own = lock(&self.beat);
        if own.as_ref().is_none_or(Client::is_closed) {
            *own = Some(super::pool::connect(pool.config())?);
        }
        let Some(c) = own.as_mut() else {
            return Ok(Beat::default());
        };
        let beat = heartbeat(c, &self.instance);
        if beat.is_err() {
            *own = None;
        }
        beat
    }

    /// See `leave`.
    pub fn leave_bus(&self) -> Result<()> {
        match self.pool() {
            Some(pool) => leave(pool, &self.instance),
            None => Ok(()),
        }
    }
}
