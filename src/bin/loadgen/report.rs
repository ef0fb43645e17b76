//! The report: targets, medians, the table printed at the end (with the
//! notes it earns) and appending the JSON-lines records.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::error::BenchError;
use crate::stats::median;

/// Targets printed beside the measurements.
const TARGET_IDLE_KIB: f64 = 18.0;
const TARGET_DELIVERIES: f64 = 3_000_000.0;
const TARGET_PACED_P50_MS: f64 = 20.0;
const TARGET_PACED_P99_MS: f64 = 50.0;
const TARGET_IDLE_TLS_KIB: f64 = 26.0;
/// Distinct users arriving at once in a large room: every member's view
/// of who is online right within this long.
const TARGET_STORM_SETTLE_S: f64 = 3.0;
/// TLS burst deliveries/s, as a fraction of the plain burst's (same invocation).
const TARGET_TLS_BURST_RATIO: f64 = 0.5;
const TARGET_SEARCH_P99_MS: f64 = 50.0;
/// Insert throughput lost to the search index, in % of the rate without it.
const TARGET_INSERT_DROP_PCT: f64 = 20.0;
/// A large upload's and download's MiB/s on loopback.
const TARGET_FILE_MIB_S: f64 = 200.0;
/// Server RSS growth during a large transfer, KiB.
const TARGET_FILE_RSS_KIB: f64 = 2048.0;
/// A room's latency while uploads run, as a multiple of idle.
const TARGET_FILE_LATENCY_RATIO: f64 = 2.0;
/// Across two instances on PostgreSQL: a receiver on the other instance
/// than the sender, p99 as a multiple of a receiver on the sender's (paced).
const TARGET_CROSS_P99_RATIO: f64 = 2.0;
/// The search scenario's p99 per kind of query (JSON key, label).
const SEARCH_CLASS_P99: [(&str, &str); 10] = [
    ("p99_common_ms", "  p99 common word (ms)"),
    ("p99_mid_ms", "  p99 mid word (ms)"),
    ("p99_rare_ms", "  p99 rare word (ms)"),
    ("p99_prefix2_ms", "  p99 2-letter prefix (ms)"),
    ("p99_prefix1_ms", "  p99 1-letter prefix (ms)"),
    ("p99_and2_ms", "  p99 two words (ms)"),
    ("p99_phrase_ms", "  p99 quoted phrase (ms)"),
    ("p99_in_group_ms", "  p99 word + group_id (ms)"),
    ("p99_paged_ms", "  p99 word + before (ms)"),
    ("p99_miss_ms", "  p99 no match (ms)"),
];

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x.abs() >= 10_000.0 {
        let s = format!("{:.0}", x);
        // Thousands separators.
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// One table row: the label, the runs' values, and an optional target.
pub struct Row {
    label: String,
    values: Vec<f64>,
    target: Target,
}

/// A target: comparison ("<=", ">=", "==") and value.
type Target = Option<(&'static str, f64)>;
/// A table metric: JSON key (or a JSON pointer, "/a/b"), label, target.
type Metric = (&'static str, &'static str, Target);

/// A run's value for a metric's key.
fn value(run: &Value, key: &str) -> f64 {
    let v = if key.starts_with('/') {
        run.pointer(key)
    } else {
        run.get(key)
    };
    v.and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn rows_for(group: &str, runs: &[Value], metrics: &[Metric]) -> Vec<Row> {
    metrics
        .iter()
        .map(|(key, name, target)| Row {
            label: format!("{group:<22} {name}"),
            values: runs.iter().map(|r| value(r, key)).collect(),
            target: *target,
        })
        .collect()
}

pub fn print_table(rows: &[Row], runs: usize) -> Vec<String> {
    let mut missed = Vec::new();
    println!();
    println!(
        "{:<50} {:>12}  {:<12} {}",
        "measurement",
        if runs > 1 { "median" } else { "value" },
        "target",
        if runs > 1 { "runs" } else { "" }
    );
    println!("{}", "-".repeat(96));
    for r in rows {
        let m = median(&r.values);
        let (target, verdict) = match r.target {
            Some((op, t)) => {
                let ok = match op {
                    "<=" => m <= t,
                    ">=" => m >= t,
                    _ => m == t,
                };
                if !ok {
                    missed.push(format!(
                        "{}: {} (target {op} {})",
                        r.label.trim(),
                        fmt_num(m),
                        fmt_num(t)
                    ));
                }
                (
                    format!("{op} {}", fmt_num(t)),
                    if ok { "ok" } else { "MISSED" },
                )
            }
            None => (String::new(), ""),
        };
        let all = if runs > 1 {
            let v: Vec<String> = r.values.iter().map(|x| fmt_num(*x)).collect();
            format!("[{}]", v.join(", "))
        } else {
            String::new()
        };
        println!(
            "{:<50} {:>12}  {:<12} {:<6} {}",
            r.label,
            fmt_num(m),
            target,
            verdict,
            all
        );
    }
    missed
}

pub fn append_results(path: &Path, lines: &[Value]) -> Result<(), BenchError> {
    let file = |action, path: &Path| {
        let path = path.to_path_buf();
        move |error| BenchError::File {
            action,
            path,
            error,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(file("create", dir))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(file("open", path))?;
    let mut out = String::new();
    for l in lines {
        out.push_str(&l.to_string());
        out.push('\n');
    }
    f.write_all(out.as_bytes()).map_err(file("append to", path))
}

/// The table rows and the notes for every scenario's runs (`results`:
/// scenario name and its runs' records, in plan order).
pub fn summarize(results: &[(String, Vec<Value>)]) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    // The plain burst's deliveries/s (median), for the TLS burst's target.
    let plain_burst: Vec<f64> = results
        .iter()
        .flat_map(|(_, runs)| runs)
        .filter(|v| v["scenario"] == "burst" && v["tls"] == false)
        .filter_map(|v| v["deliveries_per_s"].as_f64())
        .collect();
    let plain_burst = (!plain_burst.is_empty()).then(|| median(&plain_burst));
    for (name, runs) in results {
        if runs.is_empty() {
            continue;
        }
        let kind = runs[0]["scenario"].as_str().unwrap_or("");
        let tls = runs[0]["tls"].as_bool().unwrap_or(false);
        let mut metrics: Vec<Metric> = match kind {
            "idle" => vec![
                (
                    "rss_per_socket_kib",
                    "RSS per idle socket (KiB)",
                    Some(("<=", TARGET_IDLE_KIB)),
                ),
                (
                    "stack_rss_per_socket_kib",
                    "  of which thread stacks (KiB)",
                    None,
                ),
                ("rss_before_kib", "server RSS before (KiB)", None),
                ("rss_after_kib", "server RSS after (KiB)", None),
                ("threads_after", "server threads after", None),
                ("mappings_per_socket", "memory mappings per socket", None),
                (
                    "closed_sockets",
                    "sockets closed by server",
                    Some(("==", 0.0)),
                ),
            ],
            "burst" => vec![
                (
                    "deliveries_per_s",
                    "deliveries/s",
                    Some((">=", TARGET_DELIVERIES)),
                ),
                ("p50_ms", "latency p50 (ms)", None),
                ("p99_ms", "latency p99 (ms)", None),
                ("lost", "lost deliveries", Some(("==", 0.0))),
                (
                    "evicted_sockets",
                    "sockets evicted (1008)",
                    Some(("==", 0.0)),
                ),
                ("ack_p50_ms", "sender ack p50 (ms)", None),
                ("server_cpu_s", "server CPU (s)", None),
                (
                    "server_us_per_delivery",
                    "server CPU per delivery (us)",
                    None,
                ),
                ("client_cpu_s", "loadgen CPU (s)", None),
            ],
            "search" => {
                let mut m: Vec<Metric> = vec![
                    ("search_p50_ms", "search p50 (ms)", None),
                    (
                        "search_p99_ms",
                        "search p99 (ms)",
                        Some(("<=", TARGET_SEARCH_P99_MS)),
                    ),
                    ("search_max_ms", "search max (ms)", None),
                    (
                        "search_p99_no_prefix1_ms",
                        "search p99 ex 1-letter (ms)",
                        None,
                    ),
                ];
                m.extend(SEARCH_CLASS_P99.iter().map(|&(k, l)| (k, l, None)));
                m.extend([
                    ("seed_seconds", "seeding (s)", None),
                    ("seed_msgs_per_s", "seeding msgs/s", None),
                    ("index_build_seconds", "index build (s)", None),
                    ("index_build_msgs_per_s", "index build msgs/s", None),
                    ("insert_on_msgs_per_s", "insert msgs/s, index on", None),
                    ("insert_off_msgs_per_s", "insert msgs/s, index off", None),
                    (
                        "insert_drop_pct",
                        "insert drop with index (%)",
                        Some(("<=", TARGET_INSERT_DROP_PCT)),
                    ),
                    (
                        "insert_on_cpu_us_per_msg",
                        "server CPU/insert on (us)",
                        None,
                    ),
                    (
                        "insert_off_cpu_us_per_msg",
                        "server CPU/insert off (us)",
                        None,
                    ),
                ]);
                m
            }
            "files" => vec![
                ("raw_tcp_mib_s", "raw loopback TCP MiB/s", None),
                (
                    "upload_mib_s",
                    "large upload MiB/s",
                    Some((">=", TARGET_FILE_MIB_S)),
                ),
                ("upload_body_mib_s", "  body sent MiB/s", None),
                ("upload_finish_ms", "  body sent to 201 (ms)", None),
                ("upload_of_raw", "  of raw TCP", None),
                (
                    "upload_rss_growth_kib",
                    "  server RSS growth (KiB)",
                    Some(("<=", TARGET_FILE_RSS_KIB)),
                ),
                ("upload_server_cpu_s", "  server CPU (s)", None),
                (
                    "warmup_rss_growth_kib",
                    "  RSS growth, 1 MiB warm-up (KiB)",
                    None,
                ),
                (
                    "download_mib_s",
                    "large download MiB/s",
                    Some((">=", TARGET_FILE_MIB_S)),
                ),
                ("download_of_raw", "  of raw TCP", None),
                (
                    "download_rss_growth_kib",
                    "  server RSS growth (KiB)",
                    Some(("<=", TARGET_FILE_RSS_KIB)),
                ),
                ("download_server_cpu_s", "  server CPU (s)", None),
                (
                    "concurrent_completed",
                    "1 MiB uploads at once: stored",
                    None,
                ),
                ("concurrent_lost", "  lost", Some(("==", 0.0))),
                (
                    "concurrent_mismatched",
                    "  read back wrong",
                    Some(("==", 0.0)),
                ),
                ("concurrent_wall_s", "  wall time (s)", None),
                ("concurrent_mib_s", "  aggregate MiB/s", None),
                ("idle_p50_ms", "room latency idle p50 (ms)", None),
                ("idle_p99_ms", "room latency idle p99 (ms)", None),
                ("loaded_p50_ms", "  while uploading p50 (ms)", None),
                ("loaded_p99_ms", "  while uploading p99 (ms)", None),
                (
                    "latency_p50_ratio",
                    "  p50 uploading / idle",
                    Some(("<=", TARGET_FILE_LATENCY_RATIO)),
                ),
                (
                    "latency_p99_ratio",
                    "  p99 uploading / idle",
                    Some(("<=", TARGET_FILE_LATENCY_RATIO)),
                ),
                ("idle_ack_p99_ms", "  ack p99 idle (ms)", None),
                ("loaded_ack_p99_ms", "  ack p99 uploading (ms)", None),
                ("idle_other_cpu_s", "  other processes' CPU idle (s)", None),
                (
                    "loaded_other_cpu_s",
                    "  other processes' CPU upl. (s)",
                    None,
                ),
                ("latency_lost", "  messages lost", Some(("==", 0.0))),
                ("load_mib_s", "  background upload MiB/s", None),
                (
                    "load_upload_failures",
                    "  background upload failures",
                    Some(("==", 0.0)),
                ),
            ],
            "storm" => vec![
                (
                    "settle_seconds",
                    "every view right after (s)",
                    Some(("<=", TARGET_STORM_SETTLE_S)),
                ),
                ("open_seconds", "  joiners' sockets open (s)", None),
                ("views_wrong", "  views wrong at the end", Some(("==", 0.0))),
                (
                    "server_view_wrong",
                    "  server's list wrong",
                    Some(("==", 0.0)),
                ),
                ("sockets_ended", "  sockets closed", Some(("==", 0.0))),
                (
                    "presence_bytes_per_early_socket",
                    "  presence bytes per member",
                    None,
                ),
                (
                    "presence_frames_per_early_socket",
                    "  presence frames per member",
                    None,
                ),
                ("server_cpu_s", "  server CPU (s)", None),
                ("fill_seconds", "room filled, settled (s)", None),
            ],
            "instances" => instances_metrics(),
            "stored" => stored_metrics(),
            _ => vec![
                (
                    "p50_ms",
                    "latency p50 (ms)",
                    Some(("<=", TARGET_PACED_P50_MS)),
                ),
                (
                    "p99_ms",
                    "latency p99 (ms)",
                    Some(("<=", TARGET_PACED_P99_MS)),
                ),
                ("lost", "lost deliveries", Some(("==", 0.0))),
                (
                    "evicted_sockets",
                    "sockets evicted (1008)",
                    Some(("==", 0.0)),
                ),
            ],
        };
        if tls {
            match kind {
                "idle" => metrics[0].2 = Some(("<=", TARGET_IDLE_TLS_KIB)),
                "burst" => {
                    metrics[0] = match plain_burst {
                        Some(p) => (
                            "deliveries_per_s",
                            "deliveries/s (>= 50% plain)",
                            Some((">=", TARGET_TLS_BURST_RATIO * p)),
                        ),
                        None => ("deliveries_per_s", "deliveries/s (no plain run)", None),
                    };
                    if let Some(p) = plain_burst.filter(|p| *p > 0.0) {
                        let tls_dps: Vec<f64> = runs
                            .iter()
                            .filter_map(|v| v["deliveries_per_s"].as_f64())
                            .collect();
                        notes.push(format!(
                            "{name}: {:.0}% of the plain burst's deliveries/s ({} vs {})",
                            100.0 * median(&tls_dps) / p,
                            fmt_num(median(&tls_dps)),
                            fmt_num(p)
                        ));
                    }
                }
                _ => {}
            }
        }
        rows.extend(rows_for(name, runs, &metrics));
        for v in runs {
            let srv = &v["server"];
            let run = v["run"].as_u64().unwrap_or(0);
            if srv["evictions_logged"].as_u64().unwrap_or(0) > 0
                || srv["errors"].as_u64().unwrap_or(0) > 0
                || srv["warnings"].as_u64().unwrap_or(0) > 0
                || !srv["graceful_exit"].as_bool().unwrap_or(true)
            {
                notes.push(format!("{name} run {run}: server {srv}"));
            }
            for key in [
                "out_of_order",
                "sender_errors",
                "closed_sockets_other",
                "eof_sockets",
                "tls_errors",
            ] {
                if v[key].as_u64().unwrap_or(0) > 0 {
                    notes.push(format!("{name} run {run}: {key} = {}", v[key]));
                }
            }
            if let Some(o) = v["outcome"].as_str().filter(|o| *o != "complete") {
                notes.push(format!(
                    "{name} run {run}: ended by {o}; acks {}/{}, sockets short {}, min per socket {}",
                    v["acks"], v["sent"], v["sockets_short"], v["min_per_socket"]
                ));
            }
            let other = v["other_cpu_s"].as_f64().unwrap_or(0.0);
            let secs = v["window_seconds"].as_f64().unwrap_or(0.0);
            if other > (0.1 * secs).max(0.5) {
                notes.push(format!(
                    "{name} run {run}: other processes used {other:.1} CPU-s during the \
                     measurement (load average {:.2} before it): the box was shared",
                    v["loadavg_before"].as_f64().unwrap_or(f64::NAN)
                ));
            }
            if let Some(e) = v["sender_write_error"].as_str() {
                notes.push(format!("{name} run {run}: sender: {e}"));
            }
            if kind == "search" {
                search_notes(name, run, v, &mut notes);
            }
            if kind == "instances" || kind == "stored" {
                engine_notes(name, run, v, &mut notes);
            }
            for (key, what) in [
                ("/concurrent/first_error", "a concurrent upload failed"),
                (
                    "/concurrent/first_mismatch",
                    "a concurrent upload read back wrong",
                ),
                ("/live/load_first_failure", "a background upload failed"),
            ] {
                if let Some(e) = v.pointer(key).and_then(Value::as_str) {
                    notes.push(format!("{name} run {run}: {what}: {e}"));
                }
            }
        }
    }
    comparison_notes(results, &mut notes);
    (rows, notes)
}

fn instances_metrics() -> Vec<Metric> {
    let ratio = Some(("<=", TARGET_CROSS_P99_RATIO));
    let none = Some(("==", 0.0));
    vec![
        ("paced_cross_same_p99_ratio", "paced: p99 cross/same", ratio),
        ("pg_paced_same_p50_ms", "  same-instance p50 (ms)", None),
        ("pg_paced_same_p99_ms", "  same-instance p99 (ms)", None),
        ("pg_paced_cross_p50_ms", "  cross-instance p50 (ms)", None),
        ("pg_paced_cross_p99_ms", "  cross-instance p99 (ms)", None),
        ("paced_cross_same_p50_ratio", "  p50 cross/same", None),
        ("sqlite_paced_p50_ms", "  SQLite p50 (ms)", None),
        ("sqlite_paced_p99_ms", "  SQLite p99 (ms)", None),
        ("pg_paced_ack_p99_ms", "  PG sender ack p99 (ms)", None),
        ("sqlite_paced_ack_p99_ms", "  SQLite ack p99 (ms)", None),
        (
            "/postgres/paced/settle_seconds",
            "  PG room settled after (s)",
            None,
        ),
        (
            "/sqlite/paced/settle_seconds",
            "  SQLite settled after (s)",
            None,
        ),
        ("pg_paced_lost", "  lost, PG pair", none),
        ("sqlite_paced_lost", "  lost, SQLite", none),
        (
            "burst_pg_sqlite_dps_ratio",
            "burst: dlv/s PG pair/SQLite",
            None,
        ),
        ("pg_burst_deliveries_per_s", "  PG pair deliveries/s", None),
        (
            "sqlite_burst_deliveries_per_s",
            "  SQLite deliveries/s",
            None,
        ),
        ("burst_cross_same_p99_ratio", "  p99 cross/same", None),
        ("pg_burst_same_p50_ms", "  same-instance p50 (ms)", None),
        ("pg_burst_same_p99_ms", "  same-instance p99 (ms)", None),
        ("pg_burst_cross_p50_ms", "  cross-instance p50 (ms)", None),
        ("pg_burst_cross_p99_ms", "  cross-instance p99 (ms)", None),
        ("sqlite_burst_p50_ms", "  SQLite p50 (ms)", None),
        ("sqlite_burst_p99_ms", "  SQLite p99 (ms)", None),
        ("pg_burst_ack_p50_ms", "  PG sender ack p50 (ms)", None),
        ("sqlite_burst_ack_p50_ms", "  SQLite ack p50 (ms)", None),
        (
            "/postgres/burst/server_us_per_delivery",
            "  PG server CPU/dlv (us)",
            None,
        ),
        (
            "/postgres/burst/postgres_us_per_delivery",
            "  PostgreSQL CPU/dlv (us)",
            None,
        ),
        (
            "/sqlite/burst/server_us_per_delivery",
            "  SQLite server CPU/dlv (us)",
            None,
        ),
        ("pg_burst_lost", "  lost, PG pair", none),
        ("sqlite_burst_lost", "  lost, SQLite", none),
    ]
}

fn stored_metrics() -> Vec<Metric> {
    let none = Some(("==", 0.0));
    vec![
        ("pg_sqlite_ratio", "msgs/s PG / SQLite", None),
        ("pg_msgs_per_s", "  PG stored msgs/s", None),
        ("sqlite_msgs_per_s", "  SQLite stored msgs/s", None),
        ("pg_ack_p50_ms", "  PG ack p50 (ms)", None),
        ("pg_ack_p99_ms", "  PG ack p99 (ms)", None),
        ("sqlite_ack_p50_ms", "  SQLite ack p50 (ms)", None),
        ("sqlite_ack_p99_ms", "  SQLite ack p99 (ms)", None),
        (
            "/postgres/server_cpu_us_per_msg",
            "  PG server CPU/msg (us)",
            None,
        ),
        (
            "/sqlite/server_cpu_us_per_msg",
            "  SQLite server CPU/msg (us)",
            None,
        ),
        (
            "/postgres/postgres_cpu_us_per_msg",
            "  PostgreSQL CPU/msg (us)",
            None,
        ),
        ("pg_errors", "  PG errors", none),
        ("sqlite_errors", "  SQLite errors", none),
        ("pg_unacked", "  PG unacknowledged", none),
        ("sqlite_unacked", "  SQLite unacknowledged", none),
        ("pg_acked_not_stored", "  PG acked, not stored", none),
        (
            "sqlite_acked_not_stored",
            "  SQLite acked, not stored",
            none,
        ),
    ]
}

/// What went wrong (or was unfair) in an `instances` or `stored` run:
/// PostgreSQL without durable commits, every server's log, every part's
/// end and its receivers' and sender's trouble.
fn engine_notes(name: &str, run: u64, v: &Value, notes: &mut Vec<String>) {
    if v["pg_durable"] == false {
        notes.push(format!(
            "{name} run {run}: PostgreSQL commits were not durable ({}); \
             SECURECHAT_PG_DURABLE=1 tests/with-postgres, as make bench runs it, keeps them on",
            v["postgres"]["settings"]
        ));
    }
    for engine in ["postgres", "sqlite"] {
        let e = &v[engine];
        let servers: Vec<(&str, &Value)> = match e["servers"].as_object() {
            Some(m) => m.iter().map(|(k, s)| (k.as_str(), s)).collect(),
            None => vec![("", &e["server"])],
        };
        for (which, srv) in servers {
            if srv["evictions_logged"].as_u64().unwrap_or(0) > 0
                || srv["errors"].as_u64().unwrap_or(0) > 0
                || srv["warnings"].as_u64().unwrap_or(0) > 0
                || !srv["graceful_exit"].as_bool().unwrap_or(true)
            {
                notes.push(format!("{name} run {run}: {engine} server {which} {srv}"));
            }
        }
        if let Some(err) = e["first_error"].as_str() {
            notes.push(format!("{name} run {run}: {engine}: first error: {err}"));
        }
        shared_box(&format!("{name} run {run}: {engine}"), e, notes);
        for part in ["paced", "burst"] {
            let p = &e[part];
            if p.is_null() {
                continue;
            }
            let at = format!("{name} run {run}: {engine} {part}");
            if let Some(o) = p["outcome"].as_str().filter(|o| *o != "complete") {
                notes.push(format!(
                    "{at}: ended by {o}; acks {}/{}, received {}/{}",
                    p["acks"], p["sent"], p["received"], p["expected"]
                ));
            }
            if p["settled"] == false {
                notes.push(format!(
                    "{at}: presence frames still came {} s after the last hello; sent anyway",
                    fmt_num(p["settle_seconds"].as_f64().unwrap_or(f64::NAN))
                ));
            }
            if p["hellos_before_sending"]
                != p["a"]["sockets"].as_u64().unwrap_or(0) + p["b"]["sockets"].as_u64().unwrap_or(0)
            {
                notes.push(format!(
                    "{at}: {} hellos before sending",
                    p["hellos_before_sending"]
                ));
            }
            for key in ["sender_errors"] {
                if p[key].as_u64().unwrap_or(0) > 0 {
                    notes.push(format!(
                        "{at}: {key} = {} ({})",
                        p[key], p["sender_first_error"]
                    ));
                }
            }
            if let Some(w) = p["sender_write_error"].as_str() {
                notes.push(format!("{at}: sender: {w}"));
            }
            shared_box(&at, p, notes);
            for half in ["a", "b"] {
                for key in [
                    "out_of_order",
                    "evicted_sockets",
                    "closed_sockets_other",
                    "eof_sockets",
                ] {
                    if p[half][key].as_u64().unwrap_or(0) > 0 {
                        notes.push(format!("{at}: half {half}: {key} = {}", p[half][key]));
                    }
                }
            }
        }
    }
}

/// A note when processes other than the server, PostgreSQL and loadgen
/// used more than a tenth of the measurement's wall time in CPU.
fn shared_box(at: &str, v: &Value, notes: &mut Vec<String>) {
    let other = v["other_cpu_s"].as_f64().unwrap_or(0.0);
    let secs = v["window_seconds"]
        .as_f64()
        .or_else(|| v["wall_seconds"].as_f64())
        .unwrap_or(0.0);
    if other > (0.1 * secs).max(0.5) {
        notes.push(format!(
            "{at}: other processes used {other:.1} CPU-s in the {secs:.1} s measured: the box was shared"
        ));
    }
}

/// The comparisons these scenarios are for, as sentences (medians).
fn comparison_notes(results: &[(String, Vec<Value>)], notes: &mut Vec<String>) {
    let med = |runs: &[Value], key: &str| {
        let v: Vec<f64> = runs.iter().map(|r| value(r, key)).collect();
        median(&v)
    };
    for (name, runs) in results {
        match runs.first().and_then(|r| r["scenario"].as_str()) {
            Some("instances") => {
                notes.push(format!(
                    "{name}: paced p99 across instances {} ms vs {} ms on the sender's \
                     ({:.2}x, target <= {TARGET_CROSS_P99_RATIO}x); p50 {} vs {} ms; \
                     SQLite p99 {} ms",
                    fmt_num(med(runs, "pg_paced_cross_p99_ms")),
                    fmt_num(med(runs, "pg_paced_same_p99_ms")),
                    med(runs, "paced_cross_same_p99_ratio"),
                    fmt_num(med(runs, "pg_paced_cross_p50_ms")),
                    fmt_num(med(runs, "pg_paced_same_p50_ms")),
                    fmt_num(med(runs, "sqlite_paced_p99_ms")),
                ));
                notes.push(format!(
                    "{name}: burst deliveries/s, PostgreSQL pair {} vs SQLite {} ({:.0}%)",
                    fmt_num(med(runs, "pg_burst_deliveries_per_s")),
                    fmt_num(med(runs, "sqlite_burst_deliveries_per_s")),
                    100.0 * med(runs, "burst_pg_sqlite_dps_ratio"),
                ));
            }
            Some("stored") => notes.push(format!(
                "{name}: stored msgs/s, PostgreSQL {} vs SQLite {} ({:.0}%); ack p99 {} vs {} ms",
                fmt_num(med(runs, "pg_msgs_per_s")),
                fmt_num(med(runs, "sqlite_msgs_per_s")),
                100.0 * med(runs, "pg_sqlite_ratio"),
                fmt_num(med(runs, "pg_ack_p99_ms")),
                fmt_num(med(runs, "sqlite_ack_p99_ms")),
            )),
            _ => continue,
        }
        let r = &runs[0];
        let pg = &r["postgres"]["settings"];
        notes.push(format!(
            "{name}: durability: PostgreSQL fsync={} synchronous_commit={}; \
             SQLite WAL with synchronous={} (a commit is not fsynced unless FULL)",
            pg["fsync"].as_str().unwrap_or("?"),
            pg["synchronous_commit"].as_str().unwrap_or("?"),
            r["sqlite_synchronous"].as_str().unwrap_or("?"),
        ));
    }
}

/// The search scenario's notes: its query plan, and CPU others used.
fn search_notes(name: &str, run: u64, v: &Value, notes: &mut Vec<String>) {
    let plan: Vec<&str> = v["query_plan"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).map(str::trim).collect())
        .unwrap_or_default();
    notes.push(format!(
        "{name} run {run}: query plan: {}",
        plan.join(" | ")
    ));
    let mut other = v["search_other_cpu_s"].as_f64().unwrap_or(0.0);
    let mut secs = v["query_seconds"].as_f64().unwrap_or(0.0);
    for r in v["insert_runs"].as_array().into_iter().flatten() {
        other += r["other_cpu_s"].as_f64().unwrap_or(0.0);
        secs += r["seconds"].as_f64().unwrap_or(0.0);
    }
    if other > (0.1 * secs).max(0.5) {
        notes.push(format!(
            "{name} run {run}: other processes used {other:.1} CPU-s while it measured \
             ({secs:.0} s; load average {:.2} before): the box was shared",
            v["loadavg_before"].as_f64().unwrap_or(f64::NAN)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pg_scenarios_rows_and_notes() {
        let inst = json!({
            "scenario": "instances", "tls": false, "pg_durable": true,
            "paced_cross_same_p99_ratio": 2.5,
            "pg_paced_cross_p99_ms": 25.0, "pg_paced_same_p99_ms": 10.0,
            "pg_burst_deliveries_per_s": 500_000.0,
            "sqlite_burst_deliveries_per_s": 2_000_000.0,
            "burst_pg_sqlite_dps_ratio": 0.25,
            "postgres": {"burst": {"server_us_per_delivery": 2.0},
                         "paced": {"settled": false, "settle_seconds": 60.0,
                                   "hellos_before_sending": 10,
                                   "a": {"sockets": 5}, "b": {"sockets": 5, "out_of_order": 1}},
                         "servers": {"a": {"errors": 1}, "b": {}}},
            "sqlite": {"servers": {"a": {}}},
            "run": 1,
        });
        let stored = json!({
            "scenario": "stored", "tls": false, "pg_durable": false,
            "pg_msgs_per_s": 1000.0, "sqlite_msgs_per_s": 4000.0, "pg_sqlite_ratio": 0.25,
            "postgres": {"server": {}, "settings": {"fsync": "off"}},
            "sqlite": {"server": {}},
            "run": 1,
        });
        let (rows, notes) = summarize(&[
            ("instances 5+5".into(), vec![inst]),
            ("stored 4x10/2r".into(), vec![stored]),
        ]);
        let row = |label: &str| {
            rows.iter()
                .find(|r| r.label.ends_with(label))
                .unwrap_or_else(|| panic!("no row {label}"))
        };
        let ratio = row("paced: p99 cross/same");
        assert_eq!(ratio.values, vec![2.5]);
        assert_eq!(ratio.target, Some(("<=", TARGET_CROSS_P99_RATIO)));
        // A JSON pointer reaches into the record.
        assert_eq!(row("PG server CPU/dlv (us)").values, vec![2.0]);
        assert_eq!(row("PG stored msgs/s").values, vec![1000.0]);
        assert!(row("SQLite p99 (ms)").values[0].is_nan());
        let has = |part: &str| notes.iter().any(|n| n.contains(part));
        assert!(has("postgres server a"), "{notes:?}");
        assert!(has("presence frames still came 60 s"), "{notes:?}");
        assert!(has("half b: out_of_order = 1"), "{notes:?}");
        assert!(
            has("PostgreSQL pair 500,000 vs SQLite 2,000,000 (25%)"),
            "{notes:?}"
        );
        assert!(
            has("stored 4x10/2r run 1: PostgreSQL commits were not durable"),
            "{notes:?}"
        );
        assert!(has("PostgreSQL 1000 vs SQLite 4000 (25%)"), "{notes:?}");
    }
}
