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

// serde_json's `json!` recurses once per field; the run records are wide.
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use serde_json::{Value, json};

const USAGE: &str = "\
loadgen — SecureChat load benchmark (starts its own server on 127.0.0.1)

Usage: loadgen [OPTIONS]

Options:
  --server PATH          server binary (default: securechat next to loadgen,
                         else target/release/securechat)
  --scenario LIST        idle,burst,paced or all (default all); repeatable
  --transport LIST       plain,tls or all (default all): TLS variants exist
                         for idle and burst (paced is plain only)
  --tls                  TLS variants only (= --transport tls)
  --plain                plain-text only (= --transport plain)
  --idle-sockets LIST    socket counts for the idle scenario (default 1000,5000)
  --users N              users the sockets are spread over (default 20)
  --sockets N            receiving sockets in the fan-out room (default 1000)
  --messages N           messages in the burst scenario (default 2000)
  --paced-messages N     messages in the paced scenario (default 500)
  --rate N               messages/s in the paced scenario (default 50)
  --size N               message content bytes (default 100)
  --recv-threads N       receiver threads (default 1)
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
  --timeout SECS         hard limit for the whole benchmark (default 900)
  --quick                small numbers for a smoke test (flags after it override)
  -h, --help             print this help
";

/// Targets printed beside the measurements.
const TARGET_IDLE_KIB: f64 = 32.0;
const TARGET_DELIVERIES: f64 = 250_000.0;
const TARGET_PACED_P99_MS: f64 = 50.0;
const TARGET_IDLE_TLS_KIB: f64 = 60.0;
/// TLS burst deliveries/s, as a fraction of the plain burst's (same invocation).
const TARGET_TLS_BURST_RATIO: f64 = 0.5;
/// The name the client verifies the server's certificate against.
const TLS_SERVER_NAME: &str = "localhost";

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const PASSWORD: &str = "bench-password-123";
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// A fan-out run ends when nothing arrives for this long after the last send.
const QUIET: Duration = Duration::from_secs(5);

static T0: OnceLock<Instant> = OnceLock::new();
/// The server being benchmarked, for the watchdog.
static SERVER_PID: AtomicI32 = AtomicI32::new(0);

/// Nanoseconds since the benchmark started (one clock for senders and receivers).
fn now_ns() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------- options

#[derive(Debug, Clone)]
struct Opts {
    server: PathBuf,
    idle: bool,
    burst: bool,
    paced: bool,
    plain: bool,
    tls: bool,
    idle_sizes: Vec<usize>,
    users: usize,
    sockets: usize,
    messages: usize,
    paced_messages: usize,
    rate: f64,
    size: usize,
    recv_threads: usize,
    burst_poll_us: u64,
    paced_poll_us: u64,
    runs: usize,
    wait_idle: u64,
    no_restart: bool,
    results: PathBuf,
    timeout: u64,
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

fn parse_args() -> Result<Option<Opts>, String> {
    use lexopt::prelude::*;
    let mut o = Opts::default();
    let mut scenarios: Vec<String> = Vec::new();
    let mut transports: Vec<String> = Vec::new();
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("server") => o.server = PathBuf::from(p.value().map_err(|e| e.to_string())?),
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
                    .map_err(|_| format!("invalid --idle-sockets '{v}'"))?;
            }
            Long("users") => o.users = number(&mut p, "--users")?,
            Long("sockets") => o.sockets = number(&mut p, "--sockets")?,
            Long("messages") => o.messages = number(&mut p, "--messages")?,
            Long("paced-messages") => o.paced_messages = number(&mut p, "--paced-messages")?,
            Long("rate") => o.rate = number(&mut p, "--rate")?,
            Long("size") => o.size = number(&mut p, "--size")?,
            Long("recv-threads") => o.recv_threads = number(&mut p, "--recv-threads")?,
            Long("burst-poll-us") => o.burst_poll_us = number(&mut p, "--burst-poll-us")?,
            Long("paced-poll-us") => o.paced_poll_us = number(&mut p, "--paced-poll-us")?,
            Long("idle-no-restart") => o.no_restart = true,
            Long("wait-idle") => o.wait_idle = number(&mut p, "--wait-idle")?,
            Long("runs") => o.runs = number(&mut p, "--runs")?,
            Long("results") => o.results = PathBuf::from(p.value().map_err(|e| e.to_string())?),
            Long("timeout") => o.timeout = number(&mut p, "--timeout")?,
            Long("quick") => {
                o.idle_sizes = vec![200, 1000];
                o.sockets = 200;
                o.messages = 300;
                o.paced_messages = 100;
                o.users = 5;
            }
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if !scenarios.is_empty() && !scenarios.iter().any(|s| s == "all") {
        o.idle = false;
        o.burst = false;
        o.paced = false;
        for s in &scenarios {
            match s.as_str() {
                "idle" => o.idle = true,
                "burst" | "fanout" => o.burst = true,
                "paced" => o.paced = true,
                other => {
                    return Err(format!(
                        "unknown scenario '{other}' (idle, burst, paced, all)"
                    ));
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
                other => return Err(format!("unknown transport '{other}' (plain, tls, all)")),
            }
        }
    }
    if o.users == 0 || o.recv_threads == 0 || o.runs == 0 || o.sockets == 0 {
        return Err("--users, --sockets, --recv-threads and --runs must be at least 1".into());
    }
    if !(o.rate > 0.0 && o.rate.is_finite()) {
        return Err("--rate must be positive".into());
    }
    if o.size < 40 || o.size > 3900 {
        return Err("--size must be 40..=3900".into());
    }
    if o.users > 100 || o.sockets > 8000 || o.idle_sizes.iter().any(|&n| n == 0 || n > 8000) {
        return Err("at most 100 users and 8000 sockets".into());
    }
    if o.burst_poll_us > 200_000 || o.paced_poll_us > 200_000 {
        return Err("poll intervals are at most 200000 us".into());
    }
    if o.messages.max(o.paced_messages) * o.sockets > 20_000_000 {
        return Err("messages x sockets is at most 20,000,000 (latencies are kept)".into());
    }
    Ok(Some(o))
}

fn string(p: &mut lexopt::Parser) -> Result<String, String> {
    p.value()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "arguments must be UTF-8".to_string())
}

fn number<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T, String> {
    let v = string(p)?;
    v.parse()
        .map_err(|_| format!("invalid value '{v}' for {flag}"))
}

// ---------------------------------------------------------------- system

/// Raises the soft RLIMIT_NOFILE to the hard limit (the server inherits it).
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local, initialised struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur
    }
}

/// CPU seconds (user + system) used by this process so far.
fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into a local, zeroed struct.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// CPU seconds all processes have used (every core, idle and iowait excluded).
fn system_busy() -> f64 {
    let s = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle) / clk_tck()
}

/// The 1-minute load average (other work on the box shows up here).
fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Waits (at most `limit`) until other processes leave the CPUs nearly
/// idle for a whole second; returns the busy fraction last seen.
fn wait_for_quiet(limit: Duration) -> f64 {
    let until = Instant::now() + limit;
    let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    loop {
        let b0 = system_busy();
        thread::sleep(Duration::from_secs(1));
        let busy = (system_busy() - b0) / cores;
        if busy < 0.15 || Instant::now() >= until {
            return busy;
        }
    }
}

/// The server's `--help`, to pass only flags this build knows.
fn server_help(bin: &Path) -> String {
    Command::new(bin)
        .arg("--help")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A private copy of the server binary: the cargo target directory is
/// shared, and a rebuild there must not swap the server between runs.
struct BinCopy(PathBuf);

impl BinCopy {
    fn new(src: &Path) -> Result<BinCopy, String> {
        let dir = std::env::temp_dir().join(format!("securechat-bench-bin-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let dst = dir.join("securechat");
        fs::copy(src, &dst).map_err(|e| {
            let _ = fs::remove_dir_all(&dir);
            format!(
                "cannot copy {} ({e}); run `cargo build --release` first",
                src.display()
            )
        })?;
        Ok(BinCopy(dst))
    }
}

impl Drop for BinCopy {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

// ---------------------------------------------------------------- server

/// Where the server listens, and (for TLS) the client configuration that
/// trusts exactly its certificate.
#[derive(Clone)]
struct Ep {
    port: u16,
    tls: Option<Arc<ClientConfig>>,
}

impl Ep {
    fn origin(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// A rustls client configuration whose only trust anchor is the
/// certificate in `cert` (the one the server generated); verification on.
fn client_config(cert: &Path) -> Result<Arc<ClientConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", cert.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Spawns the server on `dir/data` (with `tls`: HTTPS/WSS, certificate in
/// `dir`), logging to `log`; waits for its address line and a healthy
/// `/healthz`. Returns (child, pid, endpoint).
fn launch(bin: &Path, dir: &Path, log: &Path, tls: bool) -> Result<(Child, i32, Ep), String> {
    let logf = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    // Every socket comes from 127.0.0.1: lift a per-address cap if this
    // build has one.
    let mut extra: Vec<&str> = Vec::new();
    if server_help(bin).contains("--max-per-ip") {
        extra.extend(["--max-per-ip", "0"]);
    }
    let mut cmd = Command::new(bin);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to send
    // SIGTERM to the server if loadgen dies first (Ctrl-C, kill).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg("0")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args([
            "--msg-rate",
            "0",
            "--register-rate",
            "0",
            "--login-rate",
            "0",
        ])
        .args(&extra);
    if tls {
        cmd.arg("--tls")
            .arg("--certfile")
            .arg(dir.join("cert.pem"))
            .arg("--keyfile")
            .arg(dir.join("key.pem"));
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(logf)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} ({e}); run `cargo build --release` first",
                bin.display()
            )
        })?;
    let pid = child.id() as i32;
    SERVER_PID.store(pid, Ordering::SeqCst);
    let fail = |child: &mut Child, msg: String| {
        let _ = child.kill();
        let _ = child.wait();
        SERVER_PID.store(0, Ordering::SeqCst);
        let tail = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = tail.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        Err(format!("{msg}; server log:\n{tail}"))
    };
    let Some(stdout) = child.stdout.take() else {
        return fail(&mut child, "no stdout pipe".into());
    };
    let (tx, rx) = mpsc::channel::<String>();
    let reader = thread::Builder::new()
        .name("server-stdout".into())
        .spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                let _ = tx.send(std::mem::take(&mut line));
            }
        });
    if let Err(e) = reader {
        return fail(&mut child, e.to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            return fail(
                &mut child,
                "server did not print its address within 20 s".into(),
            );
        };
        let scheme = if tls { "https://" } else { "http://" };
        let prefix = format!("SecureChat listening on {scheme}");
        if let Some(rest) = line.trim().strip_prefix(prefix.as_str()) {
            match rest.rsplit_once(':') {
                Some(("127.0.0.1", port)) if port.parse::<u16>().is_ok() => {
                    break port.parse::<u16>().unwrap_or(0);
                }
                _ => return fail(&mut child, format!("unexpected address line: {line}")),
            }
        }
    };
    let ep = Ep {
        port,
        tls: if tls {
            match client_config(&dir.join("cert.pem")) {
                Ok(c) => Some(c),
                Err(e) => return fail(&mut child, e),
            }
        } else {
            None
        },
    };
    match http(&ep, "GET", "/healthz", &[], b"") {
        Ok(r) if r.status == 200 => Ok((child, pid, ep)),
        Ok(r) => fail(&mut child, format!("/healthz answered {}", r.status)),
        Err(e) => fail(&mut child, format!("/healthz: {e}")),
    }
}

struct Server {
    child: Child,
    pid: i32,
    ep: Ep,
    tls: bool,
    dir: PathBuf,
    log: PathBuf,
}

/// How the server ended and what its log says.
#[derive(Debug, Default)]
struct StopReport {
    graceful: bool,
    stop_ms: u64,
    evictions_logged: usize,
    warnings: usize,
    errors: usize,
    samples: Vec<String>,
}

impl Server {
    /// Starts the server with a fresh temporary data directory.
    fn start(bin: &Path, tls: bool) -> Result<Server, String> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("securechat-bench-{}-{stamp}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = dir.join("server.log");
        match launch(bin, &dir, &log, tls) {
            Ok((child, pid, ep)) => Ok(Server {
                child,
                pid,
                ep,
                tls,
                dir,
                log,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Stops the server and starts a new process on the same data (users,
    /// sessions and groups survive), so that the new process has done no
    /// password hashing and holds none of its freed memory.
    fn restart(&mut self, bin: &Path) -> Result<(), String> {
        let rep = self.stop();
        if !rep.graceful {
            return Err(format!("server did not stop cleanly: {:?}", rep.samples));
        }
        let (child, pid, ep) = launch(bin, &self.dir, &self.log, self.tls)?;
        self.child = child;
        self.pid = pid;
        self.ep = ep;
        Ok(())
    }

    fn status_field(&self, key: &str) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    fn rss_kib(&self) -> Result<u64, String> {
        self.status_field("VmRSS")
            .ok_or_else(|| format!("cannot read VmRSS of pid {}", self.pid))
    }

    /// Resident KiB by mapping size: {size_kib: (mappings, rss_kib)}.
    /// Thread stacks show up as one size class with a mapping per thread.
    fn smaps_by_size(&self) -> BTreeMap<u64, (i64, i64)> {
        let mut out: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
        let Ok(s) = fs::read_to_string(format!("/proc/{}/smaps", self.pid)) else {
            return out;
        };
        let mut size = 0u64;
        for line in s.lines() {
            let mut it = line.split_whitespace();
            match it.next() {
                Some("Size:") => size = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
                Some("Rss:") => {
                    let rss: i64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                    let e = out.entry(size).or_default();
                    e.0 += 1;
                    e.1 += rss;
                }
                _ => {}
            }
        }
        out
    }

    fn threads(&self) -> u64 {
        self.status_field("Threads").unwrap_or(0)
    }

    /// User + system CPU seconds of the server.
    fn cpu(&self) -> f64 {
        let Ok(s) = fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return 0.0;
        };
        // Fields after the ")" that ends the command name; utime and stime
        // are fields 14 and 15 of the whole line.
        let Some((_, rest)) = s.rsplit_once(')') else {
            return 0.0;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / clk_tck()
    }

    /// SIGTERM, wait up to 15 s (then SIGKILL), and scan the log.
    fn stop(&mut self) -> StopReport {
        let mut rep = StopReport::default();
        let started = Instant::now();
        kill(self.pid, libc::SIGTERM);
        let deadline = started + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    rep.graceful = status.success();
                    break;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    rep.samples
                        .push("server did not exit within 15 s of SIGTERM; killed".into());
                    break;
                }
            }
        }
        rep.stop_ms = started.elapsed().as_millis() as u64;
        SERVER_PID.store(0, Ordering::SeqCst);
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        for line in log.lines() {
            let evicted = line.contains("slow consumer evicted");
            let warn = line.contains(" WARN ");
            let error = line.contains(" ERROR ") || line.contains("panicked");
            rep.evictions_logged += usize::from(evicted);
            rep.warnings += usize::from(warn);
            rep.errors += usize::from(error);
            if (evicted || warn || error) && rep.samples.len() < 5 {
                rep.samples.push(line.to_string());
            }
        }
        rep
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        SERVER_PID.store(0, Ordering::SeqCst);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------- HTTP

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    /// A cookie set by this response.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

type Head = (usize, u16, Vec<(String, String)>);

/// Parses a response head: (head length, status, lower-cased headers).
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some((
            n,
            r.code.unwrap_or(0),
            r.headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        ))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("bad response head: {e}")),
    }
}

/// A blocking client connection: plain TCP or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket and, for TLS, its connection (with no plaintext left
    /// buffered: that is appended to `leftover`).
    fn into_parts(self, leftover: &mut Vec<u8>) -> (TcpStream, Option<Box<ClientConnection>>) {
        match self {
            Stream::Plain(s) => (s, None),
            Stream::Tls(t) => {
                let rustls::StreamOwned { mut conn, sock } = *t;
                // Err(WouldBlock) once the buffered plaintext is taken.
                let _ = conn.reader().read_to_end(leftover);
                (sock, Some(Box::new(conn)))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

fn connect(ep: &Ep) -> Result<Stream, String> {
    let s = TcpStream::connect(("127.0.0.1", ep.port)).map_err(|e| format!("connect: {e}"))?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    match &ep.tls {
        None => Ok(Stream::Plain(s)),
        Some(cfg) => {
            let name = ServerName::try_from(TLS_SERVER_NAME).map_err(|e| e.to_string())?;
            let conn = ClientConnection::new(Arc::clone(cfg), name)
                .map_err(|e| format!("tls client: {e}"))?;
            Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, s))))
        }
    }
}

/// Feeds raw TLS bytes through `conn` and appends the plaintext to `out`.
/// Returns whether the peer has closed (close_notify); errors are TLS errors.
fn tls_feed(conn: &mut ClientConnection, mut raw: &[u8], out: &mut Vec<u8>) -> io::Result<bool> {
    let mut closed = false;
    while !raw.is_empty() {
        if conn.read_tls(&mut raw)? == 0 {
            break;
        }
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.plaintext_bytes_to_read() > 0 {
            match conn.reader().read_to_end(out) {
                Ok(_) => closed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        closed |= state.peer_has_closed();
    }
    Ok(closed)
}

/// Writes `data` on a WebSocket's socket, through its TLS connection if it
/// has one. (Non-blocking sockets: best effort, as for pongs.)
fn ws_write(sock: &TcpStream, tls: Option<&mut ClientConnection>, data: &[u8]) -> io::Result<()> {
    match tls {
        None => (&*sock).write_all(data),
        Some(c) => {
            c.writer().write_all(data)?;
            while c.wants_write() {
                c.write_tls(&mut &*sock)?;
            }
            Ok(())
        }
    }
}

/// One request on its own connection (`Connection: close`).
fn http(
    ep: &Ep,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    let mut s = connect(ep)?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        ep.port,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out)
        .and_then(|()| s.flush())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<Head> = None;
    loop {
        if head.is_none() {
            head = parse_head(&buf)?;
        }
        if let Some((n, _, h)) = &head {
            let len = h
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            if len.is_some_and(|l| buf.len() >= n + l) {
                buf.truncate(n + len.unwrap_or(0));
                break;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A TLS peer that closed without close_notify.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("{method} {path}: {e}")),
        }
    }
    let (n, status, headers) =
        head.ok_or_else(|| format!("{method} {path}: connection closed before a response"))?;
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&buf[n..]).into_owned(),
    })
}

/// The text between `prefix` and the next `"`.
fn attr(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_string())
}

#[derive(Clone)]
struct User {
    session: String,
    csrf: String,
}

fn register(ep: &Ep, name: &str) -> Result<User, String> {
    let form = http(ep, "GET", "/register", &[], b"")?;
    let cookie = form
        .cookie("csrf")
        .ok_or("GET /register set no csrf cookie")?;
    let token = attr(&form.body, "name=\"csrf_token\" value=\"")
        .ok_or("GET /register has no csrf_token input")?;
    let body = format!("username={name}&password={PASSWORD}&csrf_token={token}");
    let r = http(
        ep,
        "POST",
        "/register",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &format!("csrf={cookie}")),
            ("Origin", &ep.origin()),
        ],
        body.as_bytes(),
    )?;
    let session = r
        .cookie("session")
        .filter(|_| r.status == 303)
        .ok_or_else(|| format!("POST /register for {name} answered {}", r.status))?;
    let chat = http(
        ep,
        "GET",
        "/chat",
        &[("Cookie", &format!("session={session}"))],
        b"",
    )?;
    let csrf = attr(&chat.body, "<meta name=\"csrf-token\" content=\"")
        .ok_or_else(|| format!("GET /chat answered {} without a csrf-token", chat.status))?;
    Ok(User { session, csrf })
}

fn api_post(ep: &Ep, user: &User, path: &str, body: &str) -> Result<(u16, Value), String> {
    let r = http(
        ep,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Cookie", &format!("session={}", user.session)),
            ("X-CSRF-Token", &user.csrf),
            ("Origin", &ep.origin()),
        ],
        body.as_bytes(),
    )?;
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    Ok((r.status, v))
}

/// Registers `n` users, creates group "bench" and has everyone join it.
fn setup_room(ep: &Ep, n: usize) -> Result<(i64, Vec<User>), String> {
    let users: Vec<Result<User, String>> = thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    (w..n)
                        .step_by(4)
                        .map(|i| (i, register(ep, &format!("bench{i:03}"))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Result<User, String>)> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, u)| u).collect()
    });
    let users: Vec<User> = users.into_iter().collect::<Result<_, _>>()?;
    if users.len() != n {
        return Err("a registration thread failed".into());
    }
    let (status, g) = api_post(ep, &users[0], "/api/groups", r#"{"name":"bench"}"#)?;
    let id = g["id"]
        .as_i64()
        .filter(|_| status == 201)
        .ok_or_else(|| format!("POST /api/groups answered {status}: {g}"))?;
    for u in &users[1..] {
        let (status, v) = api_post(ep, u, &format!("/api/groups/{id}/join"), "")?;
        if status != 200 {
            return Err(format!("join answered {status}: {v}"));
        }
    }
    Ok((id, users))
}

// ---------------------------------------------------------------- WebSockets

/// A handshaken WebSocket: the socket and any bytes read past the 101 head.
struct Ws {
    sock: TcpStream,
    /// The TLS connection over `sock` (TLS runs only).
    tls: Option<Box<ClientConnection>>,
    leftover: Vec<u8>,
}

fn ws_connect(ep: &Ep, group: i64, user: &User) -> Result<Ws, String> {
    let mut s = connect(ep)?;
    let req = format!(
        "GET /ws/chat/{group} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {}\r\nCookie: session={}\r\n\r\n",
        ep.port,
        ep.origin(),
        user.session
    );
    s.write_all(req.as_bytes())
        .and_then(|()| s.flush())
        .map_err(|e| format!("ws handshake: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let (n, status, headers) = loop {
        if let Some(h) = parse_head(&buf)? {
            break h;
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err("ws handshake: closed before a response".into()),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("ws handshake: {e}")),
        }
    };
    if status != 101 {
        return Err(format!("ws handshake answered {status}"));
    }
    let want = tungstenite::handshake::derive_accept_key(WS_KEY.as_bytes());
    if !headers
        .iter()
        .any(|(k, v)| k == "sec-websocket-accept" && v.trim() == want)
    {
        return Err("ws handshake: wrong Sec-WebSocket-Accept".into());
    }
    let mut leftover = buf.split_off(n);
    let (sock, tls) = s.into_parts(&mut leftover);
    let _ = sock.set_read_timeout(None);
    Ok(Ws {
        sock,
        tls,
        leftover,
    })
}

/// Opens `n` sockets on `group`, socket i for user i % users, from a few
/// threads at once.
fn open_many(ep: &Ep, group: i64, users: &[User], n: usize) -> Result<Vec<Ws>, String> {
    const THREADS: usize = 4;
    let results: Vec<Vec<(usize, Result<Ws, String>)>> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in (t..n).step_by(THREADS) {
                        let r = ws_connect(ep, group, &users[i % users.len()]);
                        let failed = r.is_err();
                        out.push((i, r));
                        if failed {
                            break;
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<(usize, Result<Ws, String>)> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    let total = all.len();
    let mut out = Vec::with_capacity(n);
    for (i, r) in all {
        match r {
            Ok(ws) => out.push(ws),
            Err(e) => return Err(format!("socket {i} of {n} failed ({total} tried): {e}")),
        }
    }
    if out.len() != n {
        return Err(format!("opened only {} of {n} sockets", out.len()));
    }
    Ok(out)
}

/// A masked client text frame.
fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// One server frame.
enum Event<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close(u16),
    Other,
}

/// Parses whole frames from `buf`, calling `f` for each; returns the bytes
/// used. Server frames are unmasked and unfragmented.
fn parse_frames(buf: &[u8], mut f: impl FnMut(Event<'_>)) -> usize {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        if rest.len() < 2 {
            return pos;
        }
        let (b0, b1) = (rest[0], rest[1]);
        let (mut hdr, len) = match b1 & 0x7f {
            126 if rest.len() >= 4 => (4, u16::from_be_bytes([rest[2], rest[3]]) as usize),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (10, u64::from_be_bytes(b) as usize)
            }
            126 | 127 => return pos,
            l => (2, l as usize),
        };
        let masked = b1 & 0x80 != 0;
        if masked {
            hdr += 4;
        }
        if rest.len() < hdr + len {
            return pos;
        }
        let payload = &rest[hdr..hdr + len];
        match b0 & 0x0f {
            0x1 => f(Event::Text(payload)),
            0x8 => f(Event::Close(if len >= 2 {
                u16::from_be_bytes([payload[0], payload[1]])
            } else {
                1005
            })),
            0x9 => f(Event::Ping(payload)),
            _ => f(Event::Other),
        }
        pos += hdr + len;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_u64(b: &[u8]) -> Option<(u64, usize)> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = b[..n]
        .iter()
        .fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0'));
    Some((v, n))
}

const CONTENT_MARK: &[u8] = b"\"content\":\"t=";

/// (send time, message index) from a `message` frame of this benchmark.
fn stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let at = find(payload, CONTENT_MARK)? + CONTENT_MARK.len();
    let (t, n) = parse_u64(&payload[at..])?;
    let rest = payload[at + n..].strip_prefix(b" i=")?;
    let (i, _) = parse_u64(rest)?;
    Some((t, i))
}

fn pong_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 6);
    client_frame(
        0xA,
        &payload[..payload.len().min(125)],
        [7, 1, 3, 9],
        &mut f,
    );
    f
}

fn pong(sock: &TcpStream, tls: Option<&mut ClientConnection>, payload: &[u8]) {
    let _ = ws_write(sock, tls, &pong_frame(payload));
}

// ---------------------------------------------------------------- receivers

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    received: AtomicU64,
}

/// Stops the receiver threads however the run ends.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

struct Conn {
    sock: TcpStream,
    tls: Option<Box<ClientConnection>>,
    pending: Vec<u8>,
    msgs: u64,
    next: u64,
    close: Option<u16>,
    eof: bool,
}

#[derive(Default)]
struct RecvResult {
    lat_ns: Vec<u64>,
    msgs: u64,
    last_ns: u64,
    per_conn: Vec<u64>,
    out_of_order: u64,
    evicted: u64,
    closed_other: u64,
    eof: u64,
    frames_other: u64,
    reads: u64,
    polls: u64,
    tls_errors: u64,
    first_tls_error: Option<String>,
}

#[derive(Default)]
struct Tally {
    lat_ns: Vec<u64>,
    out_of_order: u64,
    frames_other: u64,
}

/// Handles the frames in `c.pending` + `chunk` that arrived at `now`;
/// returns the message frames counted.
fn consume(c: &mut Conn, chunk: &[u8], now: u64, t: &mut Tally) -> u64 {
    let mut data = std::mem::take(&mut c.pending);
    let from_chunk = data.is_empty();
    if !from_chunk {
        data.extend_from_slice(chunk);
    }
    let buf: &[u8] = if from_chunk { chunk } else { &data };
    let before = c.msgs;
    let mut ping: Option<Vec<u8>> = None;
    let (msgs, next, close) = (&mut c.msgs, &mut c.next, &mut c.close);
    let used = parse_frames(buf, |ev| match ev {
        Event::Text(p) => match stamp(p) {
            Some((sent, idx)) => {
                *msgs += 1;
                t.lat_ns.push(now.saturating_sub(sent));
                if idx != *next {
                    t.out_of_order += 1;
                }
                *next = idx + 1;
            }
            None => t.frames_other += 1,
        },
        Event::Ping(p) => ping = Some(p.to_vec()),
        Event::Close(code) => *close = Some(code),
        Event::Other => t.frames_other += 1,
    });
    if let Some(p) = ping {
        pong(&c.sock, c.tls.as_deref_mut(), &p);
    }
    if from_chunk {
        c.pending.extend_from_slice(&chunk[used..]);
    } else {
        data.drain(..used);
        c.pending = data;
    }
    c.msgs - before
}

fn epoll_ctl(ep: i32, op: i32, fd: i32, idx: usize) {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        u64: idx as u64,
    };
    // SAFETY: epoll_ctl on our epoll fd with a live event struct.
    unsafe {
        libc::epoll_ctl(ep, op, fd, &mut ev);
    }
}

/// One receiver thread: epoll over its sockets until `stop`.
///
/// While data is flowing the thread sleeps `poll_us` between polls instead
/// of blocking in `epoll_wait`: frames pile up per socket, every `read`
/// takes many of them at once, and the server's sends do not have to wake
/// a sleeping thread each time. This adds at most `poll_us` of latency.
fn receive(socks: Vec<Ws>, shared: Arc<Shared>, expect: usize, poll_us: u64) -> RecvResult {
    let mut tally = Tally {
        lat_ns: Vec::with_capacity(expect),
        ..Tally::default()
    };
    let mut res = RecvResult::default();
    // SAFETY: creates a new epoll descriptor, closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        eprintln!("epoll_create1: {}", io::Error::last_os_error());
        return res;
    }
    let mut conns: Vec<Conn> = Vec::with_capacity(socks.len());
    for (i, ws) in socks.into_iter().enumerate() {
        let _ = ws.sock.set_nonblocking(true);
        epoll_ctl(ep, libc::EPOLL_CTL_ADD, ws.sock.as_raw_fd(), i);
        let mut c = Conn {
            sock: ws.sock,
            tls: ws.tls,
            pending: Vec::new(),
            msgs: 0,
            next: 0,
            close: None,
            eof: false,
        };
        let n = consume(&mut c, &ws.leftover, now_ns(), &mut tally);
        shared.received.fetch_add(n, Ordering::Relaxed);
        conns.push(c);
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.len().clamp(16, 4096)];
    let mut buf = vec![0u8; 256 * 1024];
    // Decrypted bytes of one read (TLS runs).
    let mut plain: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut busy = false;
    while !shared.stop.load(Ordering::Relaxed) {
        if busy && poll_us > 0 {
            thread::sleep(Duration::from_micros(poll_us));
        }
        let timeout = if busy { 0 } else { 50 };
        // SAFETY: the events buffer outlives the call and its length is passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, timeout) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            eprintln!("epoll_wait: {}", io::Error::last_os_error());
            break;
        }
        busy = n > 0;
        res.polls += 1;
        let mut got = 0;
        for ev in &events[..n as usize] {
            let idx = ev.u64 as usize;
            let c = &mut conns[idx];
            res.reads += 1;
            match (&c.sock).read(&mut buf) {
                Ok(0) => {
                    c.eof = true;
                    epoll_ctl(ep, libc::EPOLL_CTL_DEL, c.sock.as_raw_fd(), idx);
                }
                Ok(k) => {
                    let now = now_ns();
                    let data: &[u8] = match c.tls.as_deref_mut() {
                        None => &buf[..k],
                        Some(conn) => {
                            plain.clear();
                            match tls_feed(conn, &buf[..k], &mut plain) {
                                Ok(closed) => c.eof |= closed,
                                Err(e) => {
                                    res.tls_errors += 1;
                                    if res.first_tls_error.is_none() {
                                        res.first_tls_error = Some(e.to_string());
                                    }
                                    c.eof = true;
                                    epoll_ctl(ep, libc::EPOLL_CTL_DEL, c.sock.as_raw_fd(), idx);
                                }
                            }
                            &plain
                        }
                    };
                    let msgs = consume(c, data, now, &mut tally);
                    if msgs > 0 {
                        got += msgs;
                        res.last_ns = res.last_ns.max(now);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    c.eof = true;
                    epoll_ctl(ep, libc::EPOLL_CTL_DEL, c.sock.as_raw_fd(), idx);
                }
            }
        }
        if got > 0 {
            shared.received.fetch_add(got, Ordering::Relaxed);
        }
    }
    // SAFETY: closes the epoll descriptor created above.
    unsafe {
        libc::close(ep);
    }
    for c in &conns {
        res.msgs += c.msgs;
        res.per_conn.push(c.msgs);
        match c.close {
            Some(1008) => res.evicted += 1,
            Some(_) => res.closed_other += 1,
            None if c.eof => res.eof += 1,
            None => {}
        }
    }
    res.lat_ns = tally.lat_ns;
    res.out_of_order = tally.out_of_order;
    res.frames_other = tally.frames_other;
    res
}

// ---------------------------------------------------------------- sender

#[derive(Default)]
struct SenderResult {
    first_ns: u64,
    last_ns: u64,
    sent: usize,
    acks: u64,
    ack_lat_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    close: Option<u16>,
    write_error: Option<String>,
}

/// The sender's TLS connection, shared by its writer and reader threads.
struct SharedTls {
    conn: Mutex<Box<ClientConnection>>,
    /// Held from sealing a record until it is on the socket, so records
    /// reach the wire in sequence-number order.
    write: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `data` on the sender's (blocking) socket, through TLS if any.
/// The connection lock is not held while the socket write blocks.
fn send_on(
    sock: &TcpStream,
    tls: Option<&SharedTls>,
    data: &[u8],
    sealed: &mut Vec<u8>,
) -> io::Result<()> {
    let Some(t) = tls else {
        return (&*sock).write_all(data);
    };
    let _order = lock(&t.write);
    sealed.clear();
    {
        let mut c = lock(&t.conn);
        c.writer().write_all(data)?;
        while c.wants_write() {
            c.write_tls(sealed)?;
        }
    }
    (&*sock).write_all(sealed)
}

/// Sends `n` messages (as fast as possible, or at `rate`/s) and reads the
/// sender's own socket (acks, errors) on a second thread.
fn send_messages(ws: Ws, n: usize, size: usize, rate: Option<f64>, limit: Instant) -> SenderResult {
    let mut res = SenderResult::default();
    let tls: Option<Arc<SharedTls>> = ws.tls.map(|c| {
        Arc::new(SharedTls {
            conn: Mutex::new(c),
            write: Mutex::new(()),
        })
    });
    let reader_tls = tls.clone();
    let reader_sock = match ws.sock.try_clone() {
        Ok(s) => s,
        Err(e) => {
            res.write_error = Some(format!("try_clone: {e}"));
            return res;
        }
    };
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let acks_target = n as u64;
    let reader = thread::spawn(move || {
        let _ = reader_sock.set_read_timeout(Some(Duration::from_millis(100)));
        let mut pending = ws.leftover;
        let mut buf = vec![0u8; 64 * 1024];
        let (mut acks, mut errors, mut first_error, mut close) = (0u64, 0u64, None, None);
        let mut acked: Vec<(usize, u64)> = Vec::with_capacity(acks_target as usize);
        let mut quiet_since: Option<Instant> = None;
        let mut now = now_ns();
        let mut sealed = Vec::new();
        let mut tls_error: Option<String> = None;
        loop {
            let mut ping: Option<Vec<u8>> = None;
            let used = parse_frames(&pending, |ev| match ev {
                Event::Text(p) => {
                    if find(p, b"\"type\":\"ack\"").is_some() {
                        acks += 1;
                        const CID: &[u8] = b"\"client_id\":\"c";
                        let at = find(p, CID).map(|i| i + CID.len());
                        if let Some((i, _)) = at.and_then(|at| parse_u64(&p[at..])) {
                            acked.push((i as usize, now));
                        }
                    } else if find(p, b"\"type\":\"error\"").is_some() {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(String::from_utf8_lossy(p).into_owned());
                        }
                    }
                }
                Event::Ping(p) => ping = Some(p.to_vec()),
                Event::Close(c) => close = Some(c),
                Event::Other => {}
            });
            pending.drain(..used);
            if let Some(p) = ping {
                let _ = send_on(
                    &reader_sock,
                    reader_tls.as_deref(),
                    &pong_frame(&p),
                    &mut sealed,
                );
            }
            if done2.load(Ordering::Relaxed) {
                // Sending is over: stop once every ack is in or it went quiet.
                let q = *quiet_since.get_or_insert_with(Instant::now);
                if acks >= acks_target || q.elapsed() > QUIET || close.is_some() {
                    break;
                }
            }
            match (&reader_sock).read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    now = now_ns();
                    match reader_tls.as_deref() {
                        None => pending.extend_from_slice(&buf[..k]),
                        Some(t) => {
                            if let Err(e) = tls_feed(&mut lock(&t.conn), &buf[..k], &mut pending) {
                                tls_error = Some(format!("tls: {e}"));
                                break;
                            }
                        }
                    }
                    quiet_since = None;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
        if first_error.is_none() {
            first_error = tls_error;
        }
        (acks, errors, first_error, close, acked)
    });

    let sock = ws.sock;
    let mut sealed = Vec::with_capacity(size + 256);
    let mut frame = Vec::with_capacity(size + 128);
    let mut mask_state: u32 = 0x9E37_79B9;
    let mut sent_at: Vec<u64> = Vec::with_capacity(n);
    let start = now_ns();
    for i in 0..n {
        if let Some(r) = rate {
            let due = start + (i as f64 * 1e9 / r) as u64;
            let now = now_ns();
            if due > now {
                thread::sleep(Duration::from_nanos(due - now));
            }
        }
        if Instant::now() > limit {
            res.write_error = Some(format!("time limit reached after {i} messages"));
            break;
        }
        let t = now_ns();
        let mut content = format!("t={t} i={i} ");
        while content.len() < size {
            content.push('x');
        }
        let payload = format!(r#"{{"type":"message","content":"{content}","client_id":"c{i}"}}"#);
        mask_state ^= mask_state << 13;
        mask_state ^= mask_state >> 17;
        mask_state ^= mask_state << 5;
        frame.clear();
        client_frame(
            0x1,
            payload.as_bytes(),
            mask_state.to_be_bytes(),
            &mut frame,
        );
        if let Err(e) = send_on(&sock, tls.as_deref(), &frame, &mut sealed) {
            res.write_error = Some(format!("write after {i} messages: {e}"));
            break;
        }
        sent_at.push(t);
        if i == 0 {
            res.first_ns = t;
        }
        res.last_ns = t;
        res.sent = i + 1;
    }
    done.store(true, Ordering::Relaxed);
    if let Ok((acks, errors, first_error, close, acked)) = reader.join() {
        res.ack_lat_ns = acked
            .iter()
            .filter_map(|&(i, t)| Some(t.saturating_sub(*sent_at.get(i)?)))
            .collect();
        res.ack_lat_ns.sort_unstable();
        res.acks = acks;
        res.errors = errors;
        res.first_error = first_error;
        res.close = close;
    }
    res
}

// ---------------------------------------------------------------- scenarios

fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i] as f64 / 1e6
}

/// (a) Server RSS per idle WebSocket.
fn idle_run(o: &Opts, n: usize, tls: bool) -> Result<Value, String> {
    let load = loadavg();
    let mut srv = Server::start(&o.server, tls)?;
    let (group, users) = setup_room(&srv.ep, o.users)?;
    // Measure a process that has hashed no passwords (registration's
    // argon2 buffers would leave freed, resident memory for sockets to
    // reuse and hide part of their cost).
    let restart = !o.no_restart;
    if restart {
        srv.restart(&o.server)?;
    }
    // Warm-up: one socket per user stays open, so every user is already
    // present and the measured sockets change no presence.
    let warm = open_many(&srv.ep, group, &users, users.len())?;
    thread::sleep(Duration::from_secs(1));
    let rss_before = srv.rss_kib()?;
    let threads_before = srv.threads();
    let maps_before = srv.smaps_by_size();
    let t = Instant::now();
    let mut socks = open_many(&srv.ep, group, &users, n)?;
    let open_s = t.elapsed().as_secs_f64();
    thread::sleep(Duration::from_secs(2));
    let rss_after = srv.rss_kib()?;
    let threads_after = srv.threads();
    let maps_after = srv.smaps_by_size();
    // Where the growth went, by mapping size (largest RSS growth first).
    let mut growth: Vec<(u64, i64, i64)> = maps_after
        .iter()
        .map(|(&size, &(c, r))| {
            let (c0, r0) = maps_before.get(&size).copied().unwrap_or((0, 0));
            (size, c - c0, r - r0)
        })
        .filter(|&(_, c, r)| c != 0 || r != 0)
        .collect();
    let vmas_added: i64 = growth.iter().map(|&(_, c, _)| c).sum();
    growth.sort_by_key(|&(_, _, r)| std::cmp::Reverse(r));
    // The size class that gained about one mapping per socket: thread stacks.
    let stacks = growth
        .iter()
        .filter(|&&(_, c, _)| c as f64 >= 0.9 * n as f64 && c as f64 <= 1.1 * n as f64)
        .map(|&(_, _, r)| r)
        .max();
    let breakdown: Vec<Value> = growth
        .iter()
        .take(4)
        .map(|&(size, c, r)| {
            json!({
                "mapping_kib": size,
                "mappings_added": c,
                "rss_added_kib": r,
                "rss_per_socket_kib": r as f64 / n as f64,
            })
        })
        .collect();
    // Are they all still open? (Read what is waiting; look for closes.)
    let (mut closed, mut pending_bytes) = (0usize, 0usize);
    let mut buf = vec![0u8; 64 * 1024];
    let mut tls_errors = 0usize;
    for ws in &mut socks {
        let _ = ws.sock.set_nonblocking(true);
        let mut data = ws.leftover.clone();
        let mut eof = false;
        loop {
            match (&ws.sock).read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => match ws.tls.as_deref_mut() {
                    None => data.extend_from_slice(&buf[..k]),
                    Some(conn) => match tls_feed(conn, &buf[..k], &mut data) {
                        Ok(closed) => eof |= closed,
                        Err(_) => {
                            tls_errors += 1;
                            eof = true;
                            break;
                        }
                    },
                },
                Err(_) => break,
            }
        }
        pending_bytes += data.len();
        let mut c = eof;
        parse_frames(&data, |ev| c |= matches!(ev, Event::Close(_)));
        closed += usize::from(c);
    }
    let stop = srv.stop();
    drop(socks);
    drop(warm);
    let delta = rss_after.saturating_sub(rss_before);
    Ok(json!({
        "scenario": "idle",
        "tls": tls,
        "sockets": n,
        "users": o.users,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_per_socket_kib": delta as f64 / n as f64,
        "threads_before": threads_before,
        "threads_after": threads_after,
        "open_seconds": open_s,
        "closed_sockets": closed,
        "tls_errors": tls_errors,
        "client_bytes_per_socket": pending_bytes as f64 / n as f64,
        "loadavg_before": load,
        "restarted_before_measuring": restart,
        "rss_growth_by_mapping_size": breakdown,
        "stack_rss_per_socket_kib": stacks.map(|r| r as f64 / n as f64),
        "mappings_per_socket": vmas_added as f64 / n as f64,
        "server": stop_json(&stop),
    }))
}

fn stop_json(s: &StopReport) -> Value {
    json!({
        "graceful_exit": s.graceful,
        "stop_ms": s.stop_ms,
        "evictions_logged": s.evictions_logged,
        "warnings": s.warnings,
        "errors": s.errors,
        "log_samples": s.samples,
    })
}

/// (b)/(c) Fan-out into a room of `o.sockets` receivers.
fn fanout_run(o: &Opts, messages: usize, rate: Option<f64>, tls: bool) -> Result<Value, String> {
    let mut srv = Server::start(&o.server, tls)?;
    let (group, users) = setup_room(&srv.ep, o.users)?;
    let sender = ws_connect(&srv.ep, group, &users[0])?;
    let socks = open_many(&srv.ep, group, &users, o.sockets)?;
    // Deal the sockets out to the receiver threads.
    let nthreads = o.recv_threads.min(socks.len());
    let mut parts: Vec<Vec<Ws>> = (0..nthreads).map(|_| Vec::new()).collect();
    for (i, ws) in socks.into_iter().enumerate() {
        parts[i % nthreads].push(ws);
    }
    let shared = Arc::new(Shared::default());
    let _stop_receivers = StopOnDrop(Arc::clone(&shared));
    let per_thread = messages * o.sockets.div_ceil(nthreads);
    let poll_us = if rate.is_some() {
        o.paced_poll_us
    } else {
        o.burst_poll_us
    };
    let handles: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let sh = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("recv-{i}"))
                .spawn(move || receive(part, sh, per_thread, poll_us))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    thread::sleep(Duration::from_millis(500)); // hello/presence frames drain
    let expected = (messages * o.sockets) as u64;
    let send_span = rate.map_or(0.0, |r| messages as f64 / r);
    let limit = Instant::now() + Duration::from_secs_f64(send_span + 120.0);

    let load = loadavg();
    let cpu_srv0 = srv.cpu();
    let cpu_me0 = self_cpu();
    let busy0 = system_busy();
    let window = Instant::now();
    let sender_thread = {
        let size = o.size;
        thread::Builder::new()
            .name("sender".into())
            .spawn(move || send_messages(sender, messages, size, rate, limit))
            .map_err(|e| e.to_string())?
    };
    // Wait: all delivered, or quiet for QUIET after sending ended, or limit.
    let mut max_threads = srv.threads();
    let mut last = 0;
    let mut last_change = Instant::now();
    let outcome = loop {
        thread::sleep(Duration::from_millis(20));
        max_threads = max_threads.max(srv.threads());
        let got = shared.received.load(Ordering::Relaxed);
        if got >= expected {
            break "complete";
        }
        if got != last {
            last = got;
            last_change = Instant::now();
        }
        if sender_thread.is_finished() && last_change.elapsed() > QUIET {
            break "quiet";
        }
        if Instant::now() > limit {
            break "time limit";
        }
    };
    // Give stragglers (and any duplicate) a brief moment, then stop.
    thread::sleep(Duration::from_millis(100));
    let cpu_srv = srv.cpu() - cpu_srv0;
    let busy = system_busy() - busy0;
    let window_s = window.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);
    let snd = sender_thread
        .join()
        .map_err(|_| "sender thread panicked".to_string())?;
    let cpu_me = self_cpu() - cpu_me0;
    let foreign = (busy - cpu_srv - cpu_me).max(0.0);
    let mut rs = RecvResult::default();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "receiver thread panicked".to_string())?;
        rs.lat_ns.extend(r.lat_ns);
        rs.msgs += r.msgs;
        rs.last_ns = rs.last_ns.max(r.last_ns);
        rs.per_conn.extend(r.per_conn);
        rs.out_of_order += r.out_of_order;
        rs.evicted += r.evicted;
        rs.closed_other += r.closed_other;
        rs.eof += r.eof;
        rs.frames_other += r.frames_other;
        rs.reads += r.reads;
        rs.polls += r.polls;
        rs.tls_errors += r.tls_errors;
        if rs.first_tls_error.is_none() {
            rs.first_tls_error = r.first_tls_error;
        }
    }
    let stop = srv.stop();
    rs.lat_ns.sort_unstable();
    let span_s = rs.last_ns.saturating_sub(snd.first_ns) as f64 / 1e9;
    let short = rs.per_conn.iter().filter(|&&m| m < messages as u64).count();
    let min_per_conn = rs.per_conn.iter().copied().min().unwrap_or(0);
    Ok(json!({
        "scenario": if rate.is_some() { "paced" } else { "burst" },
        "tls": tls,
        "sockets": o.sockets,
        "users": o.users,
        "messages": messages,
        "rate": rate,
        "size": o.size,
        "recv_threads": nthreads,
        "poll_us": poll_us,
        "client_reads": rs.reads,
        "client_polls": rs.polls,
        "frames_per_read": if rs.reads > 0 { rs.msgs as f64 / rs.reads as f64 } else { 0.0 },
        "outcome": outcome,
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
        "received": rs.msgs,
        "lost": expected as i64 - rs.msgs as i64,
        "sockets_short": short,
        "min_per_socket": min_per_conn,
        "evicted_sockets": rs.evicted,
        "closed_sockets_other": rs.closed_other,
        "eof_sockets": rs.eof,
        "tls_errors": rs.tls_errors,
        "first_tls_error": rs.first_tls_error,
        "out_of_order": rs.out_of_order,
        "seconds": span_s,
        "deliveries_per_s": if span_s > 0.0 { rs.msgs as f64 / span_s } else { 0.0 },
        "p50_ms": pct(&rs.lat_ns, 0.50),
        "p99_ms": pct(&rs.lat_ns, 0.99),
        "max_ms": pct(&rs.lat_ns, 1.0),
        "server_cpu_s": cpu_srv,
        "server_us_per_delivery": if rs.msgs > 0 { cpu_srv * 1e6 / rs.msgs as f64 } else { f64::NAN },
        "client_cpu_s": cpu_me,
        "other_cpu_s": foreign,
        "window_seconds": window_s,
        "loadavg_before": load,
        "server_max_threads": max_threads,
        "server": stop_json(&stop),
    }))
}

// ---------------------------------------------------------------- report

fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

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
struct Row {
    label: String,
    values: Vec<f64>,
    target: Target,
}

/// A target: comparison ("<=", ">=", "==") and value.
type Target = Option<(&'static str, f64)>;
/// A table metric: JSON key, label, target.
type Metric = (&'static str, &'static str, Target);
/// A scenario to run: its name and the run itself.
type Plan = Vec<(String, Box<dyn Fn() -> Result<Value, String>>)>;

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

fn print_table(rows: &[Row], runs: usize) -> Vec<String> {
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

fn append_results(path: &Path, lines: &[Value]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = String::new();
    for l in lines {
        out.push_str(&l.to_string());
        out.push('\n');
    }
    f.write_all(out.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn main() {
    T0.get_or_init(Instant::now);
    let o = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            eprintln!("loadgen: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let nofile = raise_nofile();
    let need = o
        .idle_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(o.sockets)
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
        server: bin.0.clone(),
        ..o
    };
    // Watchdog: the benchmark always ends.
    let timeout = o.timeout;
    let copy_dir = bin.0.parent().map(Path::to_path_buf);
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(timeout));
        eprintln!("loadgen: --timeout of {timeout} s reached; stopping");
        kill(SERVER_PID.load(Ordering::SeqCst), libc::SIGKILL);
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

    let mut plan: Plan = Vec::new();
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
                    Box::new(move || idle_run(&oo, n, tls)),
                ));
            }
        }
    }
    if o.burst {
        for &(tls, sfx) in &transports {
            let oo = o.clone();
            plan.push((
                format!("burst {}x{}{sfx}", o.sockets, o.messages),
                Box::new(move || fanout_run(&oo, oo.messages, None, tls)),
            ));
        }
    }
    if o.paced && o.plain {
        let oo = o.clone();
        plan.push((
            format!("paced {}x{}@{}/s", o.sockets, o.paced_messages, o.rate),
            Box::new(move || fanout_run(&oo, oo.paced_messages, Some(oo.rate), false)),
        ));
    }
    if plan.is_empty() {
        eprintln!("loadgen: nothing to run (paced has no TLS variant)");
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
    for (name, runs) in &results {
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
            _ => vec![
                ("p50_ms", "latency p50 (ms)", None),
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
        }
    }
    let missed = print_table(&rows, o.runs);
    println!();
    for n in &notes {
        println!("note: {n}");
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
