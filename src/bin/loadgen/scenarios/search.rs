//! The `search` scenario: full-text search over a million stored messages
//! (latency by kind of query, every answer checked) and what keeping the
//! search index costs when the server stores messages (index on vs off,
//! interleaved, on the same database, in the same run).
//!
//! 1. Users and 50 groups through the real API; the searcher is in 20 of
//!    them, so results must be filtered by membership.
//! 2. The server stopped, `--search-messages` messages go straight into
//!    chat.sqlite3 in large transactions. The server started again builds
//!    its search index (search.sqlite3) from them in the background, as
//!    after an upgrade: timed until it has them all. Then the search SQL's
//!    query plan on that data.
//! 3. Warm-up, then `--search-queries` queries in a fixed mix of kinds
//!    (see `queries`), timed one by one.
//! 4. Insert throughput through the server over one WebSocket, a bounded
//!    window of unacknowledged messages: `--insert-runs` runs with the
//!    search index and as many with `--no-search` (no indexer), in the
//!    order on, off, off, on, on, off … so a drift over the run (the
//!    database grows) weighs on both alike. Each run has a fresh server
//!    process and a warm-up; an "on" run starts once the index has caught
//!    up with what an "off" run stored, and records how far behind the
//!    index was at its last acknowledgement and how long it took to catch
//!    up (how fresh search stays at full speed).

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::queries::{self, CLASSES, Timed, World};
use crate::chatdb;
use crate::cli::Opts;
use crate::corpus::{Rng, Vocab};
use crate::error::BenchError;
use crate::host::{loadavg, system_busy};
use crate::room::{User, create_group, join_group, register_users};
use crate::sender::send_windowed;
use crate::server::{Server, stop_json};
use crate::stats::median;
use crate::sys::self_cpu;
use crate::ws::ws_connect;

/// Users: the searcher (0) and the others, who make and fill the groups.
const USERS: usize = 8;
const GROUPS: usize = 50;
/// The searcher is in groups whose index % 5 is below this: 20 of 50.
const SEARCHER_IN: usize = 2;
const VOCAB_WORDS: usize = 4000;
/// About this many stored messages are kept to ask for (phrases, pairs).
const SAMPLE: usize = 4000;
/// Warm-up before the measured queries, and before each insert run.
const WARM_QUERIES: usize = 50;
const WARM_INSERTS: usize = 500;
const USER_PREFIX: &str = "search";

/// The users and groups the scenario made through the API.
struct Layout {
    /// The searcher first.
    users: Vec<User>,
    /// The searcher's groups.
    mine: Vec<i64>,
    /// The groups the searcher is not in.
    not_mine: Vec<i64>,
}

/// Registers the users and lays out the groups.
fn lay_out(srv: &Server) -> Result<Layout, BenchError> {
    let ep = &srv.ep;
    let users = register_users(ep, USER_PREFIX, USERS)?;
    let others = USERS - 1;
    let (mut mine, mut not_mine) = (Vec::new(), Vec::new());
    for g in 0..GROUPS {
        let owner = &users[1 + g % others];
        let id = create_group(ep, owner, &format!("search {g:02}"))?;
        for k in [1, 3] {
            join_group(ep, &users[1 + (g + k) % others], id)?;
        }
        if g % 5 < SEARCHER_IN {
            join_group(ep, &users[0], id)?;
            mine.push(id);
        } else {
            not_mine.push(id);
        }
    }
    Ok(Layout {
        users,
        mine,
        not_mine,
    })
}

/// One insert run's record.
struct InsertRun {
    index_on: bool,
    record: Value,
}

/// Sends `o.insert_messages` (after a warm-up) as the searcher into
/// `group` on a freshly started server.
fn insert_run(
    o: &Opts,
    srv: &Server,
    searcher: &User,
    group: i64,
    vocab: &Vocab,
    k: usize,
    index_on: bool,
) -> Result<InsertRun, BenchError> {
    let mut ws = ws_connect(&srv.ep, group, searcher)?;
    thread::sleep(Duration::from_millis(200)); // hello and presence frames
    let mut rng = Rng::new(1000 + k as u64);
    let mut text = |_: usize, out: &mut String| vocab.message(&mut rng, out);
    let limit = Instant::now() + Duration::from_secs(120);
    let warm = send_windowed(
        &mut ws,
        WARM_INSERTS,
        o.insert_window,
        &format!("r{k}w"),
        &mut text,
        limit,
    )?;
    let limit = Instant::now() + Duration::from_secs(60 + o.insert_messages as u64 / 100);
    let (cpu0, wb0, me0, busy0) = (srv.cpu(), srv.write_bytes(), self_cpu(), system_busy());
    let t = Instant::now();
    let r = send_windowed(
        &mut ws,
        o.insert_messages,
        o.insert_window,
        &format!("r{k}m"),
        &mut text,
        limit,
    )?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = srv.cpu() - cpu0;
    let written = srv.write_bytes().zip(wb0).map(|(a, b)| a.saturating_sub(b));
    let other = (system_busy() - busy0 - cpu - (self_cpu() - me0)).max(0.0);
    drop(ws);
    let errors = warm.errors + r.errors;
    if errors > 0 {
        return Err(BenchError::Wrong {
            check: "every message stored",
            detail: format!(
                "{errors} refused; first: {}",
                r.first_error.or(warm.first_error).unwrap_or_default()
            ),
        });
    }
    let n = r.acks.max(1) as f64;
    let lat = |q: f64| {
        crate::stats::quantile(
            &r.ack_lat_ns
                .iter()
                .map(|&x| x as f64 / 1e6)
                .collect::<Vec<_>>(),
            q,
        )
    };
    let per_s = r.per_second();
    Ok(InsertRun {
        index_on,
        record: json!({
            "index": if index_on { "on" } else { "off" },
            "msgs_per_s": per_s,
            "acks": r.acks,
            "seconds": secs,
            "ack_p50_ms": lat(0.50),
            "ack_p99_ms": lat(0.99),
            "server_cpu_us_per_msg": cpu * 1e6 / n,
            "server_write_bytes_per_msg": written.map(|w| w as f64 / n),
            "other_cpu_s": other,
        }),
    })
}

/// The whole scenario (see the module doc).
pub fn search_run(o: &Opts) -> Result<Value, BenchError> {
    let load = loadavg();
    let started = Instant::now();
    let mut srv = Server::start(&o.server, false)?;
    if o.keep_data {
        srv.keep_dir();
    }
    let Layout {
        users,
        mine,
        not_mine,
    } = lay_out(&srv)?;
    let setup_s = started.elapsed().as_secs_f64();

    // Seed, with the server stopped.
    srv.stop_cleanly()?;
    let data = srv.data_dir();
    let groups = chatdb::groups(&data)?;
    let searcher_name = format!("{USER_PREFIX}000");
    let searcher_id = groups
        .iter()
        .flat_map(|g| &g.members)
        .find(|(_, name)| *name == searcher_name)
        .map(|(id, _)| *id)
        .ok_or(BenchError::Wrong {
            check: "the searcher's memberships",
            detail: format!("{searcher_name} is in no group"),
        })?;
    let vocab = Vocab::new(VOCAB_WORDS, 1);
    let mut rng = Rng::new(2);
    let every = (o.search_messages / SAMPLE).max(1);
    let seeded = chatdb::seed(&data, &groups, &vocab, o.search_messages, &mut rng, every)?;

    // The server indexes them.
    srv.relaunch(&o.server)?;
    let limit = Instant::now() + Duration::from_secs(600);
    let index_build_s = chatdb::wait_indexed(&data, seeded.last_id, limit)?;
    let sizes = chatdb::sizes(&data)?;
    let (sql, sql_from) = chatdb::search_sql();
    let plan = chatdb::query_plan(&data, &sql, "\"would\" *", None, searcher_id)?;
    let plan_group = chatdb::query_plan(&data, &sql, "\"would\" *", Some(mine[0]), searcher_id)?;

    // Search.
    let sample: Vec<(i64, String)> = seeded
        .sample
        .iter()
        .filter(|(g, _)| mine.contains(g))
        .cloned()
        .collect();
    if sample.is_empty() {
        return Err(BenchError::Invalid("too few messages to sample from"));
    }
    let world = World {
        vocab: &vocab,
        mine: &mine,
        others: &not_mine,
        sample: &sample,
        ids: (seeded.first_id, seeded.last_id),
    };
    let searcher = &users[0];
    let refused = queries::foreign(&srv.ep, searcher, &world, &mut rng)?;
    let warm = queries::mix(&world, WARM_QUERIES, 11);
    let (_, warm_faults, _) = queries::ask(&srv.ep, searcher, &warm, &mine)?;
    let asked = queries::mix(&world, o.search_queries, 12);
    let (cpu0, me0, busy0) = (srv.cpu(), self_cpu(), system_busy());
    let t = Instant::now();
    let (timed, faults, connects) = queries::ask(&srv.ep, searcher, &asked, &mine)?;
    let query_s = t.elapsed().as_secs_f64();
    let search_cpu = srv.cpu() - cpu0;
    let query_other = (system_busy() - busy0 - search_cpu - (self_cpu() - me0)).max(0.0);
    if faults.count + warm_faults.count > 0 {
        let mut ex = warm_faults.examples;
        ex.extend(faults.examples);
        return Err(BenchError::Wrong {
            check: "search answers",
            detail: format!(
                "{} faulty of {}: {}",
                faults.count + warm_faults.count,
                asked.len() + warm.len(),
                ex.join("; ")
            ),
        });
    }
    let all: Vec<&Timed> = timed.iter().collect();
    let overall = queries::stats(&all);
    // Without the kind no index serves (see "prefix1"), for comparison.
    let longer: Vec<&Timed> = timed.iter().filter(|t| t.class != "prefix1").collect();
    let longer = queries::stats(&longer);
    let mut classes = serde_json::Map::new();
    for &(name, _, what) in CLASSES {
        let of: Vec<&Timed> = timed.iter().filter(|t| t.class == name).collect();
        let mut s = queries::stats(&of);
        s["what"] = json!(what);
        classes.insert(name.into(), s);
    }

    // Inserts, index on and off.
    let insert_group = mine[0];
    let mut runs: Vec<InsertRun> = Vec::new();
    let t_ins = Instant::now();
    for k in 0..2 * o.insert_runs {
        let index_on = (k / 2) % 2 == k % 2;
        srv.stop_cleanly()?;
        if index_on {
            srv.relaunch(&o.server)?;
            let last = chatdb::max_message_id(&data)?;
            chatdb::wait_indexed(&data, last, Instant::now() + Duration::from_secs(300))?;
        } else {
            srv.relaunch_with(&o.server, &["--no-search"])?;
        }
        let mut run = insert_run(o, &srv, searcher, insert_group, &vocab, k, index_on)?;
        if index_on {
            let last = chatdb::max_message_id(&data)?;
            let behind = last - chatdb::indexed_upto(&data)?;
            let catch_up =
                chatdb::wait_indexed(&data, last, Instant::now() + Duration::from_secs(300))?;
            run.record["index_behind_at_end"] = json!(behind);
            run.record["index_catch_up_s"] = json!(catch_up);
        }
        runs.push(run);
    }
    let insert_s = t_ins.elapsed().as_secs_f64();
    let stop = srv.stop();
    let side = |on: bool, key: &str| -> f64 {
        let v: Vec<f64> = runs
            .iter()
            .filter(|r| r.index_on == on)
            .filter_map(|r| r.record[key].as_f64())
            .collect();
        median(&v)
    };
    let (on, off) = (side(true, "msgs_per_s"), side(false, "msgs_per_s"));
    let drop_pct = if off > 0.0 {
        100.0 * (off - on) / off
    } else {
        f64::NAN
    };

    let mut v = json!({
        "scenario": "search",
        "tls": false,
        "users": USERS,
        "groups": GROUPS,
        "searcher_groups": mine.len(),
        "vocab_words": VOCAB_WORDS,
        "setup_seconds": setup_s,
        "messages_seeded": seeded.messages,
        "seed_seconds": seeded.seconds,
        "seed_msgs_per_s": seeded.messages as f64 / seeded.seconds.max(1e-9),
        "db": sizes,
        "search_sql_source": sql_from,
        "search_sql": sql.split_whitespace().collect::<Vec<_>>().join(" "),
        "query_plan": plan,
        "query_plan_group": plan_group,
        "queries": asked.len(),
        "warmup_queries": warm.len(),
        "foreign_group_refused": refused,
        "http_connections": connects,
        "query_seconds": query_s,
        "search_server_cpu_s": search_cpu,
        "search_other_cpu_s": query_other,
        "search_p50_ms": overall["p50_ms"],
        "search_p99_ms": overall["p99_ms"],
        "search_max_ms": overall["max_ms"],
        "search_mean_ms": overall["mean_ms"],
        "search_p99_no_prefix1_ms": longer["p99_ms"],
        "classes": classes,
        "insert_messages": o.insert_messages,
        "insert_window": o.insert_window,
        "insert_runs": runs.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
        "insert_seconds": insert_s,
        "insert_on_msgs_per_s": on,
        "insert_off_msgs_per_s": off,
        "insert_drop_pct": drop_pct,
        "insert_on_cpu_us_per_msg": side(true, "server_cpu_us_per_msg"),
        "insert_off_cpu_us_per_msg": side(false, "server_cpu_us_per_msg"),
        "insert_on_write_bytes_per_msg": side(true, "server_write_bytes_per_msg"),
        "insert_off_write_bytes_per_msg": side(false, "server_write_bytes_per_msg"),
        "index_build_seconds": index_build_s,
        "index_build_msgs_per_s": seeded.messages as f64 / index_build_s.max(1e-9),
        "loadavg_before": load,
        "server": stop_json(&stop),
    });
    // Flat per-class quantiles, for the table.
    let flat: BTreeMap<String, Value> = CLASSES
        .iter()
        .flat_map(|&(name, _, _)| {
            let c = &v["classes"][name];
            [
                (format!("p50_{name}_ms"), c["p50_ms"].clone()),
                (format!("p99_{name}_ms"), c["p99_ms"].clone()),
            ]
        })
        .collect();
    for (k, x) in flat {
        v[k] = x;
    }
    Ok(v)
}
