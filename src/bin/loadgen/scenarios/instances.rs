//! The `instances` scenario: one room across two instances of the server
//! on one PostgreSQL database, beside one SQLite instance in the same run.
//!
//! PostgreSQL: a fresh database in the cluster of `SECURECHAT_TEST_PG`,
//! instances A and B on it (each its own data directory, one shared
//! `--files-dir`). The users register on A; their session cookies work on
//! B as well. Each part (paced, then burst) gets a room of its own: the
//! sender on A, `--sockets` receivers, half of them on A (same instance
//! as the sender) and half on B (every frame crosses instances through
//! the database's `LISTEN`/`NOTIFY`). Each half has its own receiver
//! threads (`--recv-threads` each), so its latencies are its own.
//! Sending starts once the room has settled: every socket's `hello` in,
//! then no frame but messages (presence) for a second, at most a minute.
//! Across instances each socket's arrival is a presence notification that
//! its instance publishes one transaction after another, so 500 sockets
//! opening at once leave seconds of them queued ahead of the first
//! message; that wait is recorded (`settle_seconds`), not measured as
//! message latency.
//!
//! SQLite, the baseline: one instance, the same users, rooms, parts and
//! receiver threads (both halves of the sockets on that one instance).
//!
//! Measured per part: deliveries/s overall (first send to last receive),
//! send→receive p50/p99 of each half, lost deliveries (must be 0) and the
//! sender's acks. The record's headline figures: cross-instance p99 over
//! same-instance p99 (target ≤ 2 in the paced part) and the PostgreSQL
//! pair's burst deliveries/s over SQLite's. Which engine goes first
//! alternates from run to run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::chatdb;
use crate::cli::Opts;
use crate::client::Ep;
use crate::error::BenchError;
use crate::host::{system_busy, tree_cpu};
use crate::pg::{Database, cluster_url};
use crate::recv::{RecvResult, Shared, StopOnDrop, receive};
use crate::room::{User, create_group, join_group, register_users};
use crate::sender::spawn_sender;
use crate::server::{Scratch, Server, stop_json};
use crate::stats::pct;
use crate::sys::self_cpu;
use crate::ws::{Ws, open_many, ws_connect};

/// Runs of this scenario so far (the engine order alternates).
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A pause after a part's sockets close, before the next part's room.
const BETWEEN_PARTS: Duration = Duration::from_secs(1);
/// After the last hello the room has settled once no frame but messages
/// (presence, above all) has come for this long...
const SETTLED_QUIET: Duration = Duration::from_millis(1000);
/// ... or this long has passed. Across instances every socket's arrival is
/// one more presence notification each instance publishes, one transaction
/// after another: a room's sockets opening at once leave seconds of them
/// queued ahead of the first message, which is not what this measures.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Starts `threads` receiver threads over `socks` (their indices among
/// all receivers start at `first`).
fn spawn_receivers(
    socks: Vec<Ws>,
    first: usize,
    threads: usize,
    shared: &Arc<Shared>,
    messages: usize,
    poll_us: u64,
    half: &str,
) -> Result<Vec<JoinHandle<RecvResult>>, BenchError> {
    if socks.is_empty() {
        return Ok(Vec::new());
    }
    let n = threads.min(socks.len());
    let per_thread = messages * socks.len().div_ceil(n);
    let mut parts: Vec<Vec<(usize, Ws)>> = (0..n).map(|_| Vec::new()).collect();
    for (i, ws) in socks.into_iter().enumerate() {
        parts[i % n].push((first + i, ws));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let sh = Arc::clone(shared);
            let name = format!("recv-{half}-{i}");
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || receive(part, sh, per_thread, poll_us))
                .map_err(|error| BenchError::Thread { name, error })
        })
        .collect()
}

/// One half's figures.
fn half_json(rs: &RecvResult, sockets: usize, messages: usize) -> Value {
    let expected = (messages * sockets) as u64;
    json!({
        "sockets": sockets,
        "expected": expected,
        "received": rs.msgs,
        "lost": expected as i64 - rs.msgs as i64,
        "p50_ms": pct(&rs.lat_ns, 0.50),
        "p99_ms": pct(&rs.lat_ns, 0.99),
        "max_ms": pct(&rs.lat_ns, 1.0),
        "sockets_short": rs.per_conn.iter().filter(|&&m| m < messages as u64).count(),
        "evicted_sockets": rs.evicted,
        "closed_sockets_other": rs.closed_other,
        "eof_sockets": rs.eof,
        "out_of_order": rs.out_of_order,
        "first_gaps": rs.gaps.iter().map(|&(socket, missing, got)| json!({"socket": socket, "missing_from": missing, "got": got})).collect::<Vec<_>>(),
    })
}

/// The running servers the parts use.
struct Setup<'a> {
    srvs: Vec<&'a Server>,
    /// Where half a's sockets (and the sender) and half b's go.
    eps: [&'a Ep; 2],
    /// The PostgreSQL cluster's postmaster, for its CPU.
    postmaster: Option<i32>,
    users: Vec<User>,
}

/// One part on running servers: a fresh room `name` made on `eps[0]`, the
/// sender there, `o.sockets` receivers (half `a` on `eps[0]`, half `b` on
/// `eps[1]`), `messages` sent at `rate`/s (None: as fast as it goes).
fn part(
    o: &Opts,
    setup: &Setup<'_>,
    name: &str,
    messages: usize,
    rate: Option<f64>,
) -> Result<Value, BenchError> {
    let Setup {
        srvs,
        eps,
        postmaster,
        users,
    } = setup;
    let eps = *eps;
    let group = create_group(eps[0], &users[0], name)?;
    for u in &users[1..] {
        join_group(eps[0], u, group)?;
    }
    let sender = ws_connect(eps[0], group, &users[0])?;
    let n_a = o.sockets.div_ceil(2);
    let n_b = o.sockets - n_a;
    let socks_a = open_many(eps[0], group, users, n_a)?;
    let socks_b = open_many(eps[1], group, users, n_b)?;
    let poll_us = if rate.is_some() {
        o.paced_poll_us
    } else {
        o.burst_poll_us
    };
    let shared = Arc::new(Shared::default());
    let _stop_receivers = StopOnDrop(Arc::clone(&shared));
    let threads = o.recv_threads;
    let hs_a = spawn_receivers(socks_a, 0, threads, &shared, messages, poll_us, "a")?;
    let hs_b = spawn_receivers(socks_b, n_a, threads, &shared, messages, poll_us, "b")?;
    // A socket is in the room once its `hello` came (the 101 comes first).
    let hellos_by = Instant::now() + Duration::from_secs(60);
    while shared.hellos.load(Ordering::Relaxed) < o.sockets as u64 && Instant::now() < hellos_by {
        thread::sleep(Duration::from_millis(20));
    }
    let hellos = shared.hellos.load(Ordering::Relaxed);
    let settling = Instant::now();
    let mut seen = shared.others.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < SETTLED_QUIET && settling.elapsed() < SETTLE_LIMIT {
        thread::sleep(Duration::from_millis(20));
        let now = shared.others.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
    }
    let settle_s = (settling.elapsed().saturating_sub(SETTLED_QUIET)).as_secs_f64();
    let settled = quiet_since.elapsed() >= SETTLED_QUIET;
    let expected = (messages * o.sockets) as u64;
    let send_span = rate.map_or(0.0, |r| messages as f64 / r);
    let limit = Instant::now() + Duration::from_secs_f64(send_span + 120.0);

    let cpu0: Vec<f64> = srvs.iter().map(|s| s.cpu()).collect();
    let pg_cpu0 = postmaster.map(tree_cpu);
    let cpu_me0 = self_cpu();
    let busy0 = system_busy();
    let window = Instant::now();
    let sender_thread = spawn_sender(sender, messages, o.size, rate, limit)?;
    // All delivered, or quiet for QUIET after sending ended, or the limit.
    let outcome = shared.wait_delivered(expected, || sender_thread.is_finished(), limit, || {});
    thread::sleep(Duration::from_millis(100));
    let cpu: Vec<f64> = srvs.iter().zip(&cpu0).map(|(s, c0)| s.cpu() - c0).collect();
    let pg_cpu = postmaster.zip(pg_cpu0).map(|(pm, c0)| tree_cpu(pm) - c0);
    let busy = system_busy() - busy0;
    let window_s = window.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);
    let snd = sender_thread
        .join()
        .map_err(|_| BenchError::Panicked("sender"))?;
    let cpu_me = self_cpu() - cpu_me0;
    let join = |hs: Vec<JoinHandle<RecvResult>>| -> Result<RecvResult, BenchError> {
        let mut rs = RecvResult::default();
        for h in hs {
            rs.merge(h.join().map_err(|_| BenchError::Panicked("receiver"))?);
        }
        rs.lat_ns.sort_unstable();
        Ok(rs)
    };
    let a = join(hs_a)?;
    let b = join(hs_b)?;
    let received = a.msgs + b.msgs;
    let last_ns = a.last_ns.max(b.last_ns);
    let span_s = last_ns.saturating_sub(snd.first_ns) as f64 / 1e9;
    let mut all: Vec<u64> = a.lat_ns.iter().chain(&b.lat_ns).copied().collect();
    all.sort_unstable();
    let server_cpu: f64 = cpu.iter().sum();
    Ok(json!({
        "room": name,
        "messages": messages,
        "rate": rate,
        "poll_us": poll_us,
        "outcome": outcome,
        "hellos_before_sending": hellos,
        // Seconds from the last hello until presence frames stopped (the
        // room settled), or false if they never did within SETTLE_LIMIT.
        "settle_seconds": settle_s,
        "settled": settled,
        "sent": snd.sent,
        "send_seconds": snd.last_ns.saturating_sub(snd.first_ns) as f64 / 1e9,
        "acks": snd.acks,
        "ack_p50_ms": pct(&snd.ack_lat_ns, 0.50),
        "ack_p99_ms": pct(&snd.ack_lat_ns, 0.99),
        "sender_errors": snd.errors,
        "sender_first_error": snd.first_error,
        "sender_close": snd.close,
        "sender_write_error": snd.write_error,
        "expected": expected,
        "received": received,
        "lost": expected as i64 - received as i64,
        "seconds": span_s,
        "deliveries_per_s": if span_s > 0.0 { received as f64 / span_s } else { 0.0 },
        "p50_ms": pct(&all, 0.50),
        "p99_ms": pct(&all, 0.99),
        "max_ms": pct(&all, 1.0),
        "a": half_json(&a, n_a, messages),
        "b": half_json(&b, n_b, messages),
        "server_cpu_s": cpu,
        "server_us_per_delivery": if received > 0 { server_cpu * 1e6 / received as f64 } else { f64::NAN },
        "postgres_cpu_s": pg_cpu,
        "postgres_us_per_delivery": pg_cpu.map(|c| if received > 0 { c * 1e6 / received as f64 } else { f64::NAN }),
        "client_cpu_s": cpu_me,
        // Everything else on the box (other work).
        "other_cpu_s": (busy - server_cpu - pg_cpu.unwrap_or(0.0) - cpu_me).max(0.0),
        "window_seconds": window_s,
    }))
}

/// The paced part, a pause, the burst part: {"paced": …, "burst": …}.
fn both_parts(o: &Opts, setup: &Setup<'_>) -> Result<Value, BenchError> {
    let paced = part(o, setup, "paced", o.paced_messages, Some(o.rate))?;
    thread::sleep(BETWEEN_PARTS);
    let burst = part(o, setup, "burst", o.messages, None)?;
    Ok(json!({ "paced": paced, "burst": burst }))
}

/// The PostgreSQL pair: a new database, A and B on it, both parts.
fn on_postgres(o: &Opts, cluster: &str) -> Result<Value, BenchError> {
    let db = Database::create(cluster, "instances")?;
    let settings = db.settings()?;
    let postmaster = db.postmaster()?;
    let files = Scratch::new("files")?;
    let files_dir = files.path().display().to_string();
    let args = ["--database", db.url.as_str(), "--files-dir", &files_dir];
    let t = Instant::now();
    let mut a = Server::start_with(&o.server, false, &args)?;
    let mut b = Server::start_with(&o.server, false, &args)?;
    let users = register_users(&a.ep, "bench", o.users)?;
    let setup_s = t.elapsed().as_secs_f64();
    let setup = Setup {
        srvs: vec![&a, &b],
        eps: [&a.ep, &b.ep],
        postmaster: Some(postmaster),
        users,
    };
    let mut out = both_parts(o, &setup)?;
    drop(setup);
    let stop_b = b.stop();
    let stop_a = a.stop();
    drop((a, b));
    out["servers"] = json!({ "a": stop_json(&stop_a), "b": stop_json(&stop_b) });
    out["setup_seconds"] = json!(setup_s);
    out["settings"] = settings;
    Ok(out)
}

/// The SQLite baseline: one instance, both parts, both halves on it.
fn on_sqlite(o: &Opts) -> Result<Value, BenchError> {
    let t = Instant::now();
    let mut s = Server::start(&o.server, false)?;
    let users = register_users(&s.ep, "bench", o.users)?;
    let setup_s = t.elapsed().as_secs_f64();
    let setup = Setup {
        srvs: vec![&s],
        eps: [&s.ep, &s.ep],
        postmaster: None,
        users,
    };
    let mut out = both_parts(o, &setup)?;
    drop(setup);
    let stop = s.stop();
    out["servers"] = json!({ "a": stop_json(&stop) });
    out["setup_seconds"] = json!(setup_s);
    Ok(out)
}

fn ratio(num: &Value, den: &Value) -> f64 {
    match (num.as_f64(), den.as_f64()) {
        (Some(n), Some(d)) if d > 0.0 => n / d,
        _ => f64::NAN,
    }
}

pub fn instances_run(o: &Opts) -> Result<Value, BenchError> {
    let cluster = cluster_url()?;
    let pg_first = RUNS.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
    let (pg, lite) = if pg_first {
        let pg = on_postgres(o, &cluster)?;
        thread::sleep(BETWEEN_PARTS);
        (pg, on_sqlite(o)?)
    } else {
        let lite = on_sqlite(o)?;
        thread::sleep(BETWEEN_PARTS);
        (on_postgres(o, &cluster)?, lite)
    };
    let mut v = json!({
        "scenario": "instances",
        "tls": false,
        "sockets": o.sockets,
        "users": o.users,
        "size": o.size,
        "rate": o.rate,
        "paced_messages": o.paced_messages,
        "messages": o.messages,
        "recv_threads_per_half": o.recv_threads,
        "order": if pg_first { ["postgres", "sqlite"] } else { ["sqlite", "postgres"] },
        "pg_durable": pg["settings"]["durable"],
        // SQLite's side of the durability comparison (WAL mode).
        "sqlite_synchronous": chatdb::sqlite_synchronous(),
    });
    // The table's figures, flat.
    for p in ["paced", "burst"] {
        let (g, l) = (&pg[p], &lite[p]);
        v[format!("pg_{p}_same_p50_ms")] = g["a"]["p50_ms"].clone();
        v[format!("pg_{p}_same_p99_ms")] = g["a"]["p99_ms"].clone();
        v[format!("pg_{p}_cross_p50_ms")] = g["b"]["p50_ms"].clone();
        v[format!("pg_{p}_cross_p99_ms")] = g["b"]["p99_ms"].clone();
        v[format!("{p}_cross_same_p50_ratio")] = json!(ratio(&g["b"]["p50_ms"], &g["a"]["p50_ms"]));
        v[format!("{p}_cross_same_p99_ratio")] = json!(ratio(&g["b"]["p99_ms"], &g["a"]["p99_ms"]));
        v[format!("sqlite_{p}_p50_ms")] = l["p50_ms"].clone();
        v[format!("sqlite_{p}_p99_ms")] = l["p99_ms"].clone();
        for (e, r) in [("pg", g), ("sqlite", l)] {
            v[format!("{e}_{p}_deliveries_per_s")] = r["deliveries_per_s"].clone();
            v[format!("{e}_{p}_lost")] = r["lost"].clone();
            v[format!("{e}_{p}_ack_p50_ms")] = r["ack_p50_ms"].clone();
            v[format!("{e}_{p}_ack_p99_ms")] = r["ack_p99_ms"].clone();
        }
        v[format!("{p}_pg_sqlite_dps_ratio")] =
            json!(ratio(&g["deliveries_per_s"], &l["deliveries_per_s"]));
    }
    v["postgres"] = pg;
    v["sqlite"] = lite;
    Ok(v)
}
