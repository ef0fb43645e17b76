//! The command line: `loadgen`'s options, their defaults and `--help`.
//!
//! Parsing (lexopt) and validation live here and nowhere else; the rest of
//! the benchmark only reads the finished [`Opts`].

use std::path::{Path, PathBuf};

use crate::error::BenchError;

pub const USAGE: &str = "\
loadgen — SecureChat load benchmark (starts its own server on 127.0.0.1)

Usage: loadgen [OPTIONS]

Options:
  --server PATH          server binary (default: securechat next to loadgen,
                         else target/release/securechat)
  --scenario LIST        idle,burst,paced,search,files,storm,instances,stored or
                         all (default all); repeatable. instances and stored
                         need PostgreSQL (SECURECHAT_TEST_PG, as make bench
                         sets it through tests/with-postgres; skipped without)
  --transport LIST       plain,tls or all (default all): TLS variants exist
                         for idle and burst (the others are plain only)
  --tls                  TLS variants only (= --transport tls)
  --plain                plain-text only (= --transport plain)
  --idle-sockets LIST    socket counts for the idle scenario (default 1000,5000)
  --users N              users the sockets are spread over (default 20)
  --sockets N            receiving sockets in the fan-out room (default 1000);
                         in instances half of them on each instance
  --messages N           messages in the burst scenario and instances' burst
                         (default 2000)
  --paced-messages N     messages in the paced scenario and instances' paced
                         part (default 500)
  --rate N               their messages/s (default 50)
  --size N               message content bytes (default 100)
  --recv-threads N       receiver threads (default 1; in instances, per half)
  --search-messages N    messages stored for the search scenario (default
                         1000000)
  --search-queries N     measured searches (default 500)
  --insert-messages N    messages per insert run of the search scenario
                         (default 20000)
  --insert-runs N        insert runs with the search index, and as many
                         without (default 3)
  --insert-window N      unacknowledged messages at most while inserting
                         (default 64)
  --file-mib N           the files scenario's large upload and download, MiB
                         (default 100)
  --file-uploads N       its concurrent 1 MiB uploads (default 100)
  --storm-room N         users online in the storm scenario's room before it
                         (default 5000)
  --storm-joiners N      distinct users who then open a socket at once
                         (default 2000)
  --stored-senders N     the stored scenario's senders, a user and socket each
                         (default 40)
  --stored-rooms N       the rooms they are spread over (default 10)
  --stored-messages N    messages each sender stores (default 500)
  --stored-window N      a sender's messages awaiting their ack at most
                         (default 1: the next is sent when the ack came)
  --keep-data            leave the search and files scenarios' data directory
                         behind (its path is printed) to look into afterwards
  --burst-poll-us N      in the burst, receivers sleep this long between polls
                         while data flows, so each read takes many frames
                         (default 20000; 0 = always block in epoll_wait)
  --paced-poll-us N      the same for the paced scenario (default 0)
  --idle-no-restart      measure idle RSS on the process that registered the
                         users (normally a fresh process on the same data is
                         measured: argon2's freed buffers would hide RSS)
  --wait-idle SECS       before each run, wait up to SECS for the CPUs to be
                         idle (other work on a shared box skews results)
  --runs N               repeat each scenario N times, report medians (default 3)
  --results PATH         JSON lines output (default target/bench-results.jsonl)
  --timeout SECS         hard limit for the whole benchmark (default 900, plus
                         120 per instances run and 60 per stored run)
  --quick                small numbers for a smoke test (flags after it override)
  -h, --help             print this help
";

#[derive(Debug, Clone)]
pub struct Opts {
    pub server: PathBuf,
    pub idle: bool,
    pub burst: bool,
    pub paced: bool,
    pub search: bool,
    pub files: bool,
    pub storm: bool,
    pub plain: bool,
    pub tls: bool,
    pub idle_sizes: Vec<usize>,
    pub users: usize,
    pub sockets: usize,
    pub messages: usize,
    pub paced_messages: usize,
    pub rate: f64,
    pub size: usize,
    pub recv_threads: usize,
    pub search_messages: usize,
    pub search_queries: usize,
    pub insert_messages: usize,
    pub insert_runs: usize,
    pub insert_window: usize,
    pub file_mib: usize,
    pub file_uploads: usize,
    pub storm_room: usize,
    pub storm_joiners: usize,
    pub instances: bool,
    pub stored: bool,
    pub stored_senders: usize,
    pub stored_rooms: usize,
    pub stored_messages: usize,
    pub stored_window: usize,
    pub keep_data: bool,
    pub burst_poll_us: u64,
    pub paced_poll_us: u64,
    pub runs: usize,
    pub wait_idle: u64,
    pub no_restart: bool,
    pub results: PathBuf,
    pub timeout: u64,
}

fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

impl Default for Opts {
    fn default() -> Self {
        let dir = exe_dir();
        let server = dir
            .as_ref()
            .map(|d| d.join("securechat"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("target/release/securechat"));
        let results = dir
            .as_ref()
            .and_then(|d| d.parent().map(|t| t.join("bench-results.jsonl")))
            .filter(|p| p.parent().is_some_and(Path::is_dir))
            .unwrap_or_else(|| PathBuf::from("target/bench-results.jsonl"));
        Opts {
            server,
            idle: true,
            burst: true,
            paced: true,
            search: true,
            files: true,
            storm: true,
            plain: true,
            tls: true,
            idle_sizes: vec![1000, 5000],
            users: 20,
            sockets: 1000,
            messages: 2000,
            paced_messages: 500,
            rate: 50.0,
            size: 100,
            recv_threads: 1,
            search_messages: 1_000_000,
            search_queries: 500,
            insert_messages: 20_000,
            insert_runs: 3,
            insert_window: 64,
            file_mib: 100,
            file_uploads: 100,
            storm_room: 5000,
            storm_joiners: 2000,
            instances: true,
            stored: true,
            stored_senders: 40,
            stored_rooms: 10,
            stored_messages: 500,
            stored_window: 1,
            keep_data: false,
            burst_poll_us: 20_000,
            paced_poll_us: 0,
            runs: 3,
            no_restart: false,
            wait_idle: 0,
            results,
            timeout: 900,
        }
    }
}

pub fn parse_args() -> Result<Option<Opts>, BenchError> {
    use lexopt::prelude::*;
    let mut o = Opts::default();
    let mut scenarios: Vec<String> = Vec::new();
    let mut transports: Vec<String> = Vec::new();
    let mut timeout_given = false;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("server") => o.server = PathBuf::from(p.value()?),
            Long("scenario") => {
                let v = string(&mut p)?;
                scenarios.extend(v.split(',').map(|s| s.trim().to_ascii_lowercase()));
            }
            Long("transport") => {
                let v = string(&mut p)?;
                transports.extend(v.split(',').map(|s| s.trim().to_ascii_lowercase()));
            }
            Long("tls") => transports.push("tls".into()),
            Long("plain") => transports.push("plain".into()),
            Long("idle-sockets") => {
                let v = string(&mut p)?;
                o.idle_sizes = v
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| BenchError::BadValue {
                        flag: "--idle-sockets",
                        value: v.clone(),
                    })?;
            }
            Long("users") => o.users = number(&mut p, "--users")?,
            Long("sockets") => o.sockets = number(&mut p, "--sockets")?,
            Long("messages") => o.messages = number(&mut p, "--messages")?,
            Long("paced-messages") => o.paced_messages = number(&mut p, "--paced-messages")?,
            Long("rate") => o.rate = number(&mut p, "--rate")?,
            Long("size") => o.size = number(&mut p, "--size")?,
            Long("recv-threads") => o.recv_threads = number(&mut p, "--recv-threads")?,
            Long("search-messages") => o.search_messages = number(&mut p, "--search-messages")?,
            Long("search-queries") => o.search_queries = number(&mut p, "--search-queries")?,
            Long("insert-messages") => o.insert_messages = number(&mut p, "--insert-messages")?,
            Long("insert-runs") => o.insert_runs = number(&mut p, "--insert-runs")?,
            Long("insert-window") => o.insert_window = number(&mut p, "--insert-window")?,
            Long("file-mib") => o.file_mib = number(&mut p, "--file-mib")?,
            Long("file-uploads") => o.file_uploads = number(&mut p, "--file-uploads")?,
            Long("storm-room") => o.storm_room = number(&mut p, "--storm-room")?,
            Long("storm-joiners") => o.storm_joiners = number(&mut p, "--storm-joiners")?,
            Long("stored-senders") => o.stored_senders = number(&mut p, "--stored-senders")?,
            Long("stored-rooms") => o.stored_rooms = number(&mut p, "--stored-rooms")?,
            Long("stored-messages") => o.stored_messages = number(&mut p, "--stored-messages")?,
            Long("stored-window") => o.stored_window = number(&mut p, "--stored-window")?,
            Long("keep-data") => o.keep_data = true,
            Long("burst-poll-us") => o.burst_poll_us = number(&mut p, "--burst-poll-us")?,
            Long("paced-poll-us") => o.paced_poll_us = number(&mut p, "--paced-poll-us")?,
            Long("idle-no-restart") => o.no_restart = true,
            Long("wait-idle") => o.wait_idle = number(&mut p, "--wait-idle")?,
            Long("runs") => o.runs = number(&mut p, "--runs")?,
            Long("results") => o.results = PathBuf::from(p.value()?),
            Long("timeout") => {
                o.timeout = number(&mut p, "--timeout")?;
                timeout_given = true;
            }
            Long("quick") => {
                o.idle_sizes = vec![200, 1000];
                o.sockets = 200;
                o.messages = 300;
                o.paced_messages = 100;
                o.users = 5;
                o.search_messages = 50_000;
                o.search_queries = 150;
                o.insert_messages = 2_000;
                o.file_mib = 20;
                o.file_uploads = 20;
                o.storm_room = 300;
                o.storm_joiners = 100;
                o.stored_senders = 20;
                o.stored_rooms = 5;
                o.stored_messages = 50;
            }
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => return Err(other.unexpected().into()),
        }
    }
    if !scenarios.is_empty() && !scenarios.iter().any(|s| s == "all") {
        o.idle = false;
        o.burst = false;
        o.paced = false;
        o.search = false;
        o.files = false;
        o.storm = false;
        o.instances = false;
        o.stored = false;
        for s in &scenarios {
            match s.as_str() {
                "idle" => o.idle = true,
                "burst" | "fanout" => o.burst = true,
                "paced" => o.paced = true,
                "search" => o.search = true,
                "files" | "file" => o.files = true,
                "storm" => o.storm = true,
                "instances" | "instance" => o.instances = true,
                "stored" | "store" => o.stored = true,
                other => {
                    return Err(BenchError::Unknown {
                        kind: "scenario",
                        name: other.into(),
                        choices: "idle, burst, paced, search, files, storm, instances, stored, all",
                    });
                }
            }
        }
    }
    if !transports.is_empty() && !transports.iter().any(|s| s == "all") {
        o.plain = false;
        o.tls = false;
        for t in &transports {
            match t.as_str() {
                "plain" | "http" => o.plain = true,
                "tls" | "https" => o.tls = true,
                other => {
                    return Err(BenchError::Unknown {
                        kind: "transport",
                        name: other.into(),
                        choices: "plain, tls, all",
                    });
                }
            }
        }
    }
    if !timeout_given {
        // The PostgreSQL scenarios come on top of the others' 900 s (each
        // run takes about a third of its allowance).
        let per_run = 120 * u64::from(o.instances && o.plain) + 60 * u64::from(o.stored && o.plain);
        o.timeout = o
            .timeout
            .saturating_add(per_run.saturating_mul(o.runs as u64));
    }
    if o.users == 0 || o.recv_threads == 0 || o.runs == 0 || o.sockets == 0 {
        return Err(BenchError::Invalid(
            "--users, --sockets, --recv-threads and --runs must be at least 1",
        ));
    }
    if !(o.rate > 0.0 && o.rate.is_finite()) {
        return Err(BenchError::Invalid("--rate must be positive"));
    }
    if o.size < 40 || o.size > 3900 {
        return Err(BenchError::Invalid("--size must be 40..=3900"));
    }
    if o.users > 100 || o.sockets > 12_000 || o.idle_sizes.iter().any(|&n| n == 0 || n > 12_000) {
        return Err(BenchError::Invalid(
            "at most 100 users and 12,000 sockets (about 16,000 fit in one server with the default vm.max_map_count)",
        ));
    }
    if o.burst_poll_us > 200_000 || o.paced_poll_us > 200_000 {
        return Err(BenchError::Invalid("poll intervals are at most 200000 us"));
    }
    if o.messages.max(o.paced_messages) * o.sockets > 20_000_000 {
        return Err(BenchError::Invalid(
            "messages x sockets is at most 20,000,000 (latencies are kept)",
        ));
    }
    if !(1_000..=20_000_000).contains(&o.search_messages)
        || !(20..=100_000).contains(&o.search_queries)
    {
        return Err(BenchError::Invalid(
            "--search-messages must be 1000..=20000000 and --search-queries 20..=100000",
        ));
    }
    if !(100..=2_000_000).contains(&o.insert_messages)
        || !(1..=20).contains(&o.insert_runs)
        || !(1..=4096).contains(&o.insert_window)
    {
        return Err(BenchError::Invalid(
            "--insert-messages must be 100..=2000000, --insert-runs 1..=20, --insert-window 1..=4096",
        ));
    }
    if o.storm_room < 1 || o.storm_joiners < 1 || o.storm_room + o.storm_joiners > 12_000 {
        return Err(BenchError::Invalid(
            "--storm-room and --storm-joiners must be at least 1 and together at most 12,000",
        ));
    }
    if !(1..=200).contains(&o.file_mib) || !(1..=1000).contains(&o.file_uploads) {
        return Err(BenchError::Invalid(
            "--file-mib must be 1..=200 and --file-uploads 1..=1000",
        ));
    }
    if !(1..=100).contains(&o.stored_senders)
        || !(1..=o.stored_senders).contains(&o.stored_rooms)
        || !(1..=100_000).contains(&o.stored_messages)
        || !(1..=256).contains(&o.stored_window)
    {
        return Err(BenchError::Invalid(
            "--stored-senders must be 1..=100, --stored-rooms 1..=senders, --stored-messages 1..=100000, --stored-window 1..=256",
        ));
    }
    Ok(Some(o))
}

fn string(p: &mut lexopt::Parser) -> Result<String, BenchError> {
    p.value()?
        .into_string()
        .map_err(|_| BenchError::Invalid("arguments must be UTF-8"))
}

fn number<T: std::str::FromStr>(
    p: &mut lexopt::Parser,
    flag: &'static str,
) -> Result<T, BenchError> {
    let v = string(p)?;
    v.parse()
        .map_err(|_| BenchError::BadValue { flag, value: v })
}
