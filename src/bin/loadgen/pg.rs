//! The benchmark's PostgreSQL: the throwaway cluster `tests/with-postgres`
//! runs (its URL in `SECURECHAT_TEST_PG`, as `make bench` sets it), a
//! fresh database in it for each run (dropped again afterwards), the
//! cluster's durability settings for the record, and counting what the
//! server stored.
//!
//! Only ever a cluster on 127.0.0.1 (or `localhost`): anything else is
//! refused before a connection is made.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::host::parent_of;

/// Where `tests/with-postgres` puts the cluster's URL.
pub const CLUSTER_ENV: &str = "SECURECHAT_TEST_PG";

/// Databases made by this process so far (part of their names).
static MADE: AtomicUsize = AtomicUsize::new(0);

/// The cluster to use, or why there is none (`SECURECHAT_TEST_PG` unset,
/// or not a `postgres://` URL on this machine).
pub fn cluster_url() -> Result<String, BenchError> {
    let url = std::env::var(CLUSTER_ENV).unwrap_or_default();
    let url = url.trim();
    if url.is_empty() {
        return Err(BenchError::NoPostgres { unset: true });
    }
    if !is_local(url) {
        return Err(BenchError::NoPostgres { unset: false });
    }
    Ok(url.to_string())
}

/// Whether `url` is `postgres://…@127.0.0.1:…` or `…@localhost:…` (or
/// without a user), with a database path.
fn is_local(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return false;
    };
    let Some((authority, _db)) = rest.split_once('/') else {
        return false;
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost")
}

/// `url` with its database replaced by `db` (any `?query` kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

fn pg_err(doing: &'static str) -> impl FnOnce(postgres::Error) -> BenchError {
    move |error| BenchError::Postgres { doing, error }
}

/// A connection to `url`, given up after 10 s.
fn connect(url: &str) -> Result<Client, BenchError> {
    let mut cfg: Config = url.parse().map_err(pg_err("parse the URL"))?;
    cfg.connect_timeout(Duration::from_secs(10));
    cfg.connect(NoTls).map_err(pg_err("connect"))
}

/// A database made for one run, dropped (with whatever connections are
/// left) when this goes away.
pub struct Database {
    cluster: String,
    name: String,
    /// The URL the server gets (`--database`).
    pub url: String,
}

impl Database {
    /// `CREATE DATABASE bench_{tag}_{pid}_{n}` in the cluster at `cluster`.
    pub fn create(cluster: &str, tag: &str) -> Result<Database, BenchError> {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let name = format!("bench_{tag}_{}_{n}", std::process::id());
        let mut c = connect(cluster)?;
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(pg_err("create the run's database"))?;
        Ok(Database {
            cluster: cluster.to_string(),
            url: with_database(cluster, &name),
            name,
        })
    }

    /// The cluster's version and the settings that decide how durable a
    /// commit is (what the comparison with SQLite is fair to).
    pub fn settings(&self) -> Result<Value, BenchError> {
        let mut c = connect(&self.url)?;
        let mut out = serde_json::Map::new();
        for name in [
            "server_version",
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_sync_method",
            "shared_buffers",
            "max_connections",
        ] {
            let row = c
                .query_one(&format!("SHOW {name}"), &[])
                .map_err(pg_err("read the cluster's settings"))?;
            out.insert(name.into(), json!(row.get::<_, String>(0)));
        }
        let durable = out["fsync"] == "on" && out["synchronous_commit"] != "off";
        out.insert("durable".into(), json!(durable));
        Ok(Value::Object(out))
    }

    /// The cluster's postmaster (the parent of a backend; it must run on
    /// this machine), whose process tree's CPU the scenarios read.
    pub fn postmaster(&self) -> Result<i32, BenchError> {
        let mut c = connect(&self.url)?;
        let row = c
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(pg_err("ask for the backend's pid"))?;
        let backend: i32 = row.get(0);
        parent_of(backend).ok_or(BenchError::ProcStatus {
            field: "PPid",
            pid: backend,
        })
    }

    /// Chat messages (not system lines) stored in the database.
    pub fn chat_messages(&self) -> Result<i64, BenchError> {
        let mut c = connect(&self.url)?;
        let row = c
            .query_one("SELECT count(*) FROM messages WHERE system = 0", &[])
            .map_err(pg_err("count the stored messages"))?;
        Ok(row.get(0))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let dropped = connect(&self.cluster).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .map_err(pg_err("drop the run's database"))
        });
        if let Err(e) = dropped {
            eprintln!("loadgen: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine() {
        assert!(is_local("postgres://securechat@127.0.0.1:5432/postgres"));
        assert!(is_local("postgresql://u:pw@localhost:1/db?sslmode=disable"));
        assert!(is_local("postgres://127.0.0.1:5432/postgres"));
        assert!(!is_local("postgres://securechat@10.0.0.1:5432/postgres"));
        assert!(!is_local("postgres://u@127.0.0.1.evil.example:5432/db"));
        assert!(!is_local("postgres://u@127.0.0.1:5432"));
        assert!(!is_local("mysql://u@127.0.0.1:3306/db"));
    }

    #[test]
    fn database_replaced() {
        assert_eq!(
            with_database(
                "postgres://securechat@127.0.0.1:5432/postgres",
                "bench_x_1_0"
            ),
            "postgres://securechat@127.0.0.1:5432/bench_x_1_0"
        );
        assert_eq!(
            with_database("postgres://u@localhost:1/db?connect_timeout=3", "b"),
            "postgres://u@localhost:1/b?connect_timeout=3"
        );
    }
}
