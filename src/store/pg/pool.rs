//! Connections to PostgreSQL, shared by every thread of the server: at most
//! `max` open, a caller waits at most `wait` for one (then the store reports
//! `Unavailable` rather than hang a page), each connection keeps its
//! prepared statements (up to `STATEMENTS`; those with ids written in are
//! prepared each time), and a connection that broke (the server restarted,
//! the network dropped) is thrown away, so the next caller opens a fresh
//! one: the pool reconnects by itself.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use crate::store::sql::{Value, dollar_params};
use crate::store::{Result, StoreError};
use crate::sync::{lock, wait_timeout};

/// Prepared statements kept per connection (queries built with a list of
/// ids vary; past this many the cache starts over).
const STATEMENTS: usize = 512;

/// How long one statement may run before PostgreSQL cancels it.
const STATEMENT_TIMEOUT: &str = "10s";

/// One connection and what it has prepared.
pub struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
    in_transaction: bool,
}

/// A new connection with the settings every one of ours has.
pub fn connect(config: &postgres::Config) -> Result<Client> {
    let mut client = config.connect(NoTls).map_err(StoreError::unavailable)?;
    client.batch_execute(&format!(
        "SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET TIME ZONE 'UTC'"
    ))?;
    Ok(client)
}

impl Conn {
    fn open(config: &postgres::Config) -> Result<Conn> {
        let client = connect(config)?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        })
    }

    /// The client itself, for what the common layer does not cover (COPY,
    /// the schema's migrations).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(&dollar_params(sql))?;
        // A query with its ids written in (`IN (1,2,3)`) is another text
        // every time: caching it would only push the others out.
        if has_inline_list(sql) {
            return Ok(st);
        }
        if self.statements.len() >= STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<u64> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(self.client.execute(&st, &params)?)
    }

    pub fn query(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Vec<postgres::Row>> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(self.client.query(&st, &params)?)
    }

    pub fn batch(&mut self, sql: &str) -> Result<()> {
        let result = self.client.batch_execute(sql);
        match sql {
            "BEGIN" => self.in_transaction = result.is_ok(),
            "COMMIT" | "ROLLBACK" => self.in_transaction = false,
            _ => {}
        }
        Ok(result?)
    }

    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Whether the connection can be lent again.
    fn sound(&self) -> bool {
        !self.client.is_closed() && !self.in_transaction
    }
}

/// Whether `sql` holds a list of literal ids (`IN (` then a digit).
fn has_inline_list(sql: &str) -> bool {
    sql.match_indices("IN (")
        .any(|(at, m)| sql[at + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

struct Slots {
    idle: Vec<Conn>,
    open: usize,
}

/// The pool (see the module doc).
pub struct Pool {
    config: postgres::Config,
    slots: Mutex<Slots>,
    freed: Condvar,
    max: usize,
    wait: Duration,
}

/// A connection lent from the pool; it goes back when dropped.
pub struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
}

impl Pool {
    /// A pool for `url` (`postgres://user:password@host:port/db`); opens one
    /// connection at once, so a wrong URL or an unreachable server is told
    /// at start.
    pub fn connect(url: &str, max: usize, wait: Duration) -> Result<Pool> {
        let mut config: postgres::Config = url.parse().map_err(StoreError::unavailable)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("securechat");
        let first = Conn::open(&config)?;
        Ok(Pool {
            config,
            slots: Mutex::new(Slots {
                idle: vec![first],
                open: 1,
            }),
            freed: Condvar::new(),
            max: max.max(1),
            wait,
        })
    }

    /// A connection: an idle one, a new one while fewer than `max` are
    /// open, or the next one returned within `wait`.
    pub fn get(&self) -> Result<Lease<'_>> {
        let deadline = Instant::now() + self.wait;
        let mut slots = lock(&self.slots);
        loop {
            if let Some(conn) = slots.idle.pop() {
                // One the server closed meanwhile (it restarted) is not lent.
                if conn.client.is_closed() {
                    slots.open -= 1;
                    continue;
                }
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match Conn::open(&self.config) {
                    Ok(conn) => Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        lock(&self.slots).open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Unavailable(
                    "every PostgreSQL connection stayed busy".into(),
                ));
            }
            slots = wait_timeout(&self.freed, slots, left);
        }
    }

    /// What new connections are opened with.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }
}

impl Deref for Lease<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        // Present until drop.
        self.conn.as_ref().expect("a lease holds its connection")
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("a lease holds its connection")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut slots = lock(&self.pool.slots);
        if conn.sound() {
            slots.idle.push(conn);
        } else {
            slots.open -= 1;
        }
        drop(slots);
        self.pool.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_with_ids_written_in_are_told_apart() {
        assert!(super::has_inline_list(
            "SELECT x FROM t WHERE id IN (1,2,3)"
        ));
        assert!(!super::has_inline_list(
            "SELECT x FROM t WHERE id IN (SELECT id FROM u WHERE a = ?1)"
        ));
    }
}
