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
/// A table metric: JSON key, label, target.
type Metric = (&'static str, &'static str, Target);

fn rows_for(group: &str, runs: &[Value], metrics: &[Metric]) -> Vec<Row> {
    metrics
        .iter()
        .map(|(key, name, target)| Row {
            label: format!("{group:<22} {name}"),
            values: runs
                .iter()
                .map(|r| r[*key].as_f64().unwrap_or(f64::NAN))
                .collect(),
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
    (rows, notes)
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
