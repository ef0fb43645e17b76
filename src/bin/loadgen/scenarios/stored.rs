//! The `stored` scenario: how many messages per second the server stores
//! with many senders in many rooms, on one PostgreSQL instance and on one
//! SQLite instance in the same run.
//!
//! Each engine gets a fresh server (PostgreSQL: a fresh database in the
//! cluster of `SECURECHAT_TEST_PG`) and `--stored-senders` (40) users,
//! each with one socket in one of `--stored-rooms` (10) rooms (sender k in
//! room k % rooms; a room's members are exactly its senders, so nobody is
//! away to be notified). Released together, every sender stores
//! `--stored-messages` (500) made-up chat messages of 8–20 words, never
//! more than `--stored-window` (1: the next goes when the ack came) of
//! them unacknowledged. Measured: stored messages/s (acks, first send to
//! last ack, over all senders), send→ack p50/p99, and afterwards the rows
//! in the database, which must be every acknowledged message. Which engine
//! goes first alternates from run to run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::chatdb;
use crate::cli::Opts;
use crate::corpus::{Rng, Vocab};
use crate::error::BenchError;
use crate::host::{system_busy, tree_cpu};
use crate::pg::{Database, cluster_url};
use crate::room::{create_group, join_group, register_users};
use crate::sender::{WindowResult, send_windowed};
use crate::server::{Server, stop_json};
use crate::stats::pct;
use crate::sys::self_cpu;
use crate::ws::{Ws, ws_connect};

/// Runs of this scenario so far (the engine order alternates).
static RUNS: AtomicUsize = AtomicUsize::new(0);

const VOCAB_WORDS: usize = 4000;
/// After the sockets open: their presence frames drain.
const SETTLE: Duration = Duration::from_millis(500);

/// The senders' results together: (acks, errors, first error, first send,
/// last ack, send→ack sorted).
fn merge(results: Vec<WindowResult>) -> (usize, usize, Option<String>, u64, u64, Vec<u64>) {
    let mut acks = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut first = u64::MAX;
    let mut last = 0;
    let mut lat = Vec::new();
    for r in results {
        acks += r.acks;
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
        if r.sent > 0 {
            first = first.min(r.first_ns);
        }
        last = last.max(r.last_ack_ns);
        lat.extend(r.ack_lat_ns);
    }
    lat.sort_unstable();
    (acks, errors, first_error, first, last, lat)
}

/// The senders' rooms and sockets on `srv`, then the measured sending
/// (`postmaster`: the PostgreSQL cluster's, for its CPU).
fn measure(o: &Opts, srv: &Server, postmaster: Option<i32>) -> Result<Value, BenchError> {
    let ep = &srv.ep;
    let (senders, rooms, n) = (o.stored_senders, o.stored_rooms, o.stored_messages);
    let t = Instant::now();
    let users = register_users(ep, "store", senders)?;
    let mut groups = Vec::with_capacity(rooms);
    for r in 0..rooms {
        // Sender r is the room's first member; the rest join.
        let id = create_group(ep, &users[r], &format!("stored-{r}"))?;
        for k in (r + rooms..senders).step_by(rooms) {
            join_group(ep, &users[k], id)?;
        }
        groups.push(id);
    }
    let socks: Vec<Ws> = (0..senders)
        .map(|k| ws_connect(ep, groups[k % rooms], &users[k]))
        .collect::<Result<_, _>>()?;
    let setup_s = t.elapsed().as_secs_f64();
    thread::sleep(SETTLE);

    let vocab = Arc::new(Vocab::new(VOCAB_WORDS, 7));
    let start = Arc::new(Barrier::new(senders + 1));
    let total = senders * n;
    let limit = Instant::now() + Duration::from_secs(120 + total as u64 / 100);
    let window = o.stored_window;
    let handles: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(k, mut ws)| {
            let (vocab, start) = (Arc::clone(&vocab), Arc::clone(&start));
            let name = format!("store-{k}");
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let mut rng = Rng::new(5000 + k as u64);
                    let text = |_: usize, out: &mut String| vocab.message(&mut rng, out);
                    start.wait();
                    send_windowed(&mut ws, n, window, "s", text, limit)
                })
                .map_err(|error| BenchError::Thread { name, error })
        })
        .collect::<Result<_, _>>()?;
    let (cpu0, wb0, me0, busy0) = (srv.cpu(), srv.write_bytes(), self_cpu(), system_busy());
    let pg0 = postmaster.map(tree_cpu);
    start.wait();
    let wall = Instant::now();
    let mut results = Vec::with_capacity(senders);
    let mut failed = None;
    for h in handles {
        match h.join().map_err(|_| BenchError::Panicked("sender"))? {
            Ok(r) => results.push(r),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let cpu = srv.cpu() - cpu0;
    let written = srv.write_bytes().zip(wb0).map(|(a, b)| a.saturating_sub(b));
    let pg_cpu = postmaster.zip(pg0).map(|(pm, c0)| tree_cpu(pm) - c0);
    let me = self_cpu() - me0;
    let other = (system_busy() - busy0 - cpu - pg_cpu.unwrap_or(0.0) - me).max(0.0);
    if let Some(e) = failed {
        return Err(e);
    }
    let (acks, errors, first_error, first, last, lat) = merge(results);
    let span_s = last.saturating_sub(first) as f64 / 1e9;
    Ok(json!({
        "setup_seconds": setup_s,
        "expected": total,
        "acks": acks,
        "errors": errors,
        "first_error": first_error,
        "seconds": span_s,
        "wall_seconds": wall_s,
        "msgs_per_s": if span_s > 0.0 { acks as f64 / span_s } else { 0.0 },
        "ack_p50_ms": pct(&lat, 0.50),
        "ack_p90_ms": pct(&lat, 0.90),
        "ack_p99_ms": pct(&lat, 0.99),
        "ack_max_ms": pct(&lat, 1.0),
        "server_cpu_s": cpu,
        "server_cpu_us_per_msg": if acks > 0 { cpu * 1e6 / acks as f64 } else { f64::NAN },
        "server_write_bytes": written,
        "postgres_cpu_s": pg_cpu,
        "postgres_cpu_us_per_msg": pg_cpu.map(|c| if acks > 0 { c * 1e6 / acks as f64 } else { f64::NAN }),
        "client_cpu_s": me,
        // Everything else on the box (other work).
        "other_cpu_s": other,
    }))
}

/// One PostgreSQL instance on a new database.
fn on_postgres(o: &Opts, cluster: &str) -> Result<Value, BenchError> {
    let db = Database::create(cluster, "stored")?;
    let settings = db.settings()?;
    let mut srv = Server::start_with(&o.server, false, &["--database", db.url.as_str()])?;
    let mut v = measure(o, &srv, Some(db.postmaster()?))?;
    let stored = db.chat_messages()?;
    let stop = srv.stop();
    drop(srv);
    v["stored"] = json!(stored);
    v["server"] = stop_json(&stop);
    v["settings"] = settings;
    Ok(v)
}

/// One SQLite instance; its rows are counted once it has stopped.
fn on_sqlite(o: &Opts) -> Result<Value, BenchError> {
    let mut srv = Server::start(&o.server, false)?;
    let mut v = measure(o, &srv, None)?;
    let stop = srv.stop_cleanly()?;
    v["stored"] = json!(chatdb::chat_messages(&srv.data_dir())?);
    v["server"] = stop_json(&stop);
    Ok(v)
}

pub fn stored_run(o: &Opts) -> Result<Value, BenchError> {
    let cluster = cluster_url()?;
    let pg_first = RUNS.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
    let (pg, lite) = if pg_first {
        let pg = on_postgres(o, &cluster)?;
        (pg, on_sqlite(o)?)
    } else {
        let lite = on_sqlite(o)?;
        (on_postgres(o, &cluster)?, lite)
    };
    let ratio = match (pg["msgs_per_s"].as_f64(), lite["msgs_per_s"].as_f64()) {
        (Some(p), Some(l)) if l > 0.0 => p / l,
        _ => f64::NAN,
    };
    let mut v = json!({
        "scenario": "stored",
        "tls": false,
        "senders": o.stored_senders,
        "rooms": o.stored_rooms,
        "messages_per_sender": o.stored_messages,
        "window": o.stored_window,
        "order": if pg_first { ["postgres", "sqlite"] } else { ["sqlite", "postgres"] },
        "pg_durable": pg["settings"]["durable"],
        // SQLite's side of the durability comparison (WAL mode).
        "sqlite_synchronous": chatdb::sqlite_synchronous(),
        "pg_sqlite_ratio": ratio,
    });
    for (e, r) in [("pg", &pg), ("sqlite", &lite)] {
        for key in ["msgs_per_s", "ack_p50_ms", "ack_p99_ms", "errors"] {
            v[format!("{e}_{key}")] = r[key].clone();
        }
        let expected = r["expected"].as_i64().unwrap_or(0);
        let stored = r["stored"].as_i64().unwrap_or(0);
        let acks = r["acks"].as_i64().unwrap_or(0);
        v[format!("{e}_unacked")] = json!(expected - acks);
        v[format!("{e}_acked_not_stored")] = json!((acks - stored).max(0));
        v[format!("{e}_stored_extra")] = json!((stored - acks).max(0));
    }
    v["postgres"] = pg;
    v["sqlite"] = lite;
    Ok(v)
}
