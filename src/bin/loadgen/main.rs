//! `loadgen`: the SecureChat load benchmark (`make bench`).
//!
//! It starts the release server itself on 127.0.0.1 (`--port 0`, a fresh
//! temporary data directory, rate limits off) once per scenario run, talks
//! only to that server, and stops it again. Scenarios:
//!
//! - `idle`: server RSS per idle WebSocket at 1,000 and 5,000 sockets
//!   (VmRSS after a warm-up, then again ~2 s after the sockets are open).
//! - `burst`: one sender sends 2,000 ~100-byte messages as fast as it can
//!   into a 1,000-socket room; deliveries/s, send→receive p50/p99, lost.
//! - `paced`: the same room at 50 messages/s; p50/p99 and lost.
//! - `search`: 1,000,000 messages stored straight into the server's
//!   database (its triggers build the search index), then search p50/p99
//!   by kind of query through the API, every answer checked, and insert
//!   throughput over a WebSocket with the search index's triggers and
//!   without them (interleaved runs, same database), with the query plan.
//! - `files`: one `--file-mib` (100 MiB) upload and its download, MiB/s
//!   each way beside the same bytes through a bare loopback socket, every
//!   byte checked, and the server's RSS growth during each (VmRSS every
//!   10 ms); `--file-uploads` (100) 1 MiB uploads at once, all of which
//!   must be stored and read back identical; and a room's send→receive
//!   p50/p99 at 50 messages/s, idle and while 4 threads upload 5 MiB files.
//! - `storm`: 5,000 distinct users online in one room (seeded straight
//!   into the databases with the server stopped: no argon2 per user), then
//!   2,000 more open their first socket at once from 8 threads; seconds
//!   until every socket's view of who is online (hello, lists, deltas)
//!   holds exactly the 7,000, which the server's own list must match too.
//! - `instances` (PostgreSQL): instances A and B of the server on one
//!   fresh PostgreSQL database, a room of `--sockets` receivers, half on
//!   each, the sender on A; paced (50 messages/s) and burst: deliveries/s,
//!   p50/p99 of the receivers on A (same instance as the sender) and on B
//!   (cross-instance), lost; one SQLite instance with the same room as the
//!   baseline in the same run.
//! - `stored` (PostgreSQL): 40 senders in 10 rooms, each storing its
//!   messages one ack at a time: stored messages/s and send→ack p50/p99
//!   on one PostgreSQL instance and on one SQLite instance, and whether
//!   every acknowledged message is in the database.
//!
//! The PostgreSQL scenarios use the cluster in `SECURECHAT_TEST_PG` (a
//! database of their own per run, dropped afterwards); `make bench` runs
//! loadgen under `tests/with-postgres` with `SECURECHAT_PG_DURABLE=1`
//! (fsync and synchronous commits on). Without that variable they are
//! skipped, and say so.
//!
//! `idle` and `burst` also run over TLS (`--transport`, `--tls`): the
//! server gets `--tls` with a certificate it generates into the temporary
//! directory, and every client connection (HTTP and WebSocket) is a rustls
//! `ClientConnection` that trusts exactly that certificate (server name
//! `localhost`). The receivers feed the raw bytes through the connection
//! before the frame parser.
//!
//! Sockets are spread over a few users so presence frames do not dominate.
//! Receivers are a few threads, each polling many non-blocking sockets with
//! epoll and parsing the (unmasked) server frames by hand; each message's
//! content carries its send time (`t=<ns since start> i=<index> ...`).
//!
//! Prints a table (medians with `--runs N`) and appends every run as one
//! JSON line to `target/bench-results.jsonl`. Everything is bounded: every
//! wait has a deadline and a watchdog ends the process after `--timeout`.
//!
//! Layout, lowest layer first (a module uses only those before it; `main`
//! wires them together): `error` ([`BenchError`](error::BenchError), what
//! every fallible function returns), `sys` (every `unsafe` libc call),
//! `clock`, `stats` (medians and quantiles), `corpus` (made-up chat text), `cli`, `host`, `client`
//! (HTTP/TLS), `room`, `transfer` (file uploads and downloads streamed
//! from a pattern, the raw-socket baseline), `ws`, `server`, `chatdb` (the benchmark's own access
//! to a stopped server's databases), `pg` (its access to PostgreSQL), `recv`,
//! `sender`, `scenarios`, `report`.

// serde_json's `json!` recurses once per field; the run records are wide.
#![recursion_limit = "256"]

mod chatdb;
mod cli;
mod client;
mod clock;
mod corpus;
mod error;
mod host;
mod pg;
mod recv;
mod report;
mod room;
mod scenarios;
mod sender;
mod server;
mod stats;
mod sys;
mod transfer;
mod ws;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::cli::{Opts, USAGE, parse_args};
use crate::clock::unix_ms;
use crate::error::BenchError;
use crate::host::{git_commit, wait_for_quiet};
use crate::report::{append_results, print_table, summarize};
use crate::server::BinCopy;

/// A scenario to run: its name and the run itself.
type Plan = Vec<(String, Box<dyn Fn() -> Result<Value, BenchError>>)>;

/// The scenario runs `o` asks for, in order (each is repeated `o.runs`
/// times), and those that cannot run here (with why).
fn plan(o: &Opts) -> (Plan, Vec<String>) {
    let mut plan: Plan = Vec::new();
    let mut skipped = Vec::new();
    let transports: Vec<(bool, &str)> = [(false, ""), (true, " tls")]
        .into_iter()
        .filter(|&(tls, _)| if tls { o.tls } else { o.plain })
        .collect();
    if o.idle {
        for &(tls, sfx) in &transports {
            for &n in &o.idle_sizes {
                let oo = o.clone();
                plan.push((
                    format!("idle {n}{sfx}"),
                    Box::new(move || scenarios::idle(&oo, n, tls)),
                ));
            }
        }
    }
    if o.burst {
        for &(tls, sfx) in &transports {
            let oo = o.clone();
            plan.push((
                format!("burst {}x{}{sfx}", o.sockets, o.messages),
                Box::new(move || scenarios::fanout(&oo, oo.messages, None, tls)),
            ));
        }
    }
    if o.paced && o.plain {
        let oo = o.clone();
        plan.push((
            format!("paced {}x{}@{}/s", o.sockets, o.paced_messages, o.rate),
            Box::new(move || scenarios::fanout(&oo, oo.paced_messages, Some(oo.rate), false)),
        ));
    }
    if o.search && o.plain {
        let oo = o.clone();
        plan.push((
            format!("search {}", o.search_messages),
            Box::new(move || scenarios::search(&oo)),
        ));
    }
    if o.files && o.plain {
        let oo = o.clone();
        plan.push((
            format!("files {}MiB+{}x1MiB", o.file_mib, o.file_uploads),
            Box::new(move || scenarios::files(&oo)),
        ));
    }
    if o.storm && o.plain {
        let oo = o.clone();
        plan.push((
            format!("storm {}+{}", o.storm_room, o.storm_joiners),
            Box::new(move || scenarios::storm(&oo)),
        ));
    }
    let postgres = pg::cluster_url();
    if o.instances && o.plain {
        let (a, b) = (o.sockets.div_ceil(2), o.sockets / 2);
        match &postgres {
            Ok(_) => {
                let oo = o.clone();
                plan.push((
                    format!("instances {a}+{b}"),
                    Box::new(move || scenarios::instances(&oo)),
                ));
            }
            Err(e) => skipped.push(format!("instances: {e}")),
        }
    }
    if o.stored && o.plain {
        match &postgres {
            Ok(_) => {
                let oo = o.clone();
                plan.push((
                    format!(
                        "stored {}x{}/{}r",
                        o.stored_senders, o.stored_messages, o.stored_rooms
                    ),
                    Box::new(move || scenarios::stored(&oo)),
                ));
            }
            Err(e) => skipped.push(format!("stored: {e}")),
        }
    }
    (plan, skipped)
}

fn main() {
    clock::start();
    let o = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            eprintln!("loadgen: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let nofile = sys::raise_nofile();
    let need = o
        .idle_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(o.sockets)
        .max(o.file_uploads)
        + 200;
    if (nofile as usize) < need {
        eprintln!("loadgen: RLIMIT_NOFILE is {nofile}, need about {need}; raise the hard limit");
        std::process::exit(2);
    }
    let server_src = o.server.clone();
    let bin = match BinCopy::new(&o.server) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let built = fs::metadata(&o.server)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let o = Opts {
        server: bin.path().to_path_buf(),
        ..o
    };
    // Watchdog: the benchmark always ends.
    let timeout = o.timeout;
    let copy_dir = bin.path().parent().map(Path::to_path_buf);
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(timeout));
        eprintln!("loadgen: --timeout of {timeout} s reached; stopping");
        server::kill_running_server();
        if let Some(dir) = copy_dir {
            let _ = fs::remove_dir_all(dir);
        }
        std::process::exit(3);
    });
    let started = Instant::now();
    let run_id = format!("{}-{}", unix_ms(), std::process::id());
    let commit = git_commit();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "SecureChat load benchmark: server {} (copied), {cores} cores, RLIMIT_NOFILE {nofile}, {} run(s)",
        server_src.display(),
        o.runs
    );

    let (plan, skipped) = plan(&o);
    for s in &skipped {
        println!("SKIPPED {s}");
    }
    if plan.is_empty() {
        if !skipped.is_empty() {
            println!("nothing else to run");
            return;
        }
        eprintln!("loadgen: nothing to run (only idle and burst have TLS variants)");
        std::process::exit(2);
    }

    let mut results: Vec<(String, Vec<Value>)> = Vec::new();
    let mut failures = 0;
    for (name, run) in &plan {
        let mut runs = Vec::new();
        for r in 1..=o.runs {
            if o.wait_idle > 0 {
                let busy = wait_for_quiet(Duration::from_secs(o.wait_idle));
                if busy >= 0.15 {
                    eprintln!(
                        "loadgen: the box is still {:.0}% busy after {} s; running anyway",
                        busy * 100.0,
                        o.wait_idle
                    );
                }
            }
            let t = Instant::now();
            eprint!(
                "[{:>5.1}s] {name} run {r}/{} ... ",
                started.elapsed().as_secs_f64(),
                o.runs
            );
            match run() {
                Ok(mut v) => {
                    v["run_id"] = json!(run_id);
                    v["run"] = json!(r);
                    v["time_unix_ms"] = json!(unix_ms());
                    v["commit"] = json!(commit);
                    v["server_binary"] = json!(server_src.display().to_string());
                    v["server_binary_mtime"] = json!(built);
                    v["cores"] = json!(cores);
                    v["wall_seconds"] = json!(t.elapsed().as_secs_f64());
                    eprintln!("done in {:.1}s", t.elapsed().as_secs_f64());
                    if let Err(e) = append_results(&o.results, std::slice::from_ref(&v)) {
                        eprintln!("loadgen: cannot write results: {e}");
                    }
                    runs.push(v);
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("FAILED: {e}");
                }
            }
        }
        results.push((name.clone(), runs));
    }

    let (rows, notes) = summarize(&results);
    let missed = print_table(&rows, o.runs);
    println!();
    for n in &notes {
        println!("note: {n}");
    }
    for s in &skipped {
        println!("SKIPPED {s}");
    }
    if missed.is_empty() && failures == 0 {
        println!("all targets met");
    } else {
        for m in &missed {
            println!("MISSED: {m}");
        }
        if failures > 0 {
            println!("{failures} run(s) failed (see above)");
        }
    }
    println!(
        "raw results appended to {} ({:.0} s total)",
        o.results.display(),
        started.elapsed().as_secs_f64()
    );
}
