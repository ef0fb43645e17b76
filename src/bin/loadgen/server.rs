//! Server control: a private copy of the release binary, starting it on
//! 127.0.0.1 with a fresh temporary data directory (optionally TLS),
//! restarting it on the same data (at once, or after the benchmark has
//! worked on its stopped databases), reading its RSS, threads, mappings,
//! CPU and storage writes from /proc, and stopping it (with a scan of its
//! log). Several servers may run at once (instances on one PostgreSQL
//! database); the watchdog kills all of them. Also a temporary directory
//! of the benchmark's own ([`Scratch`]).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::client::{Ep, client_config, http};
use crate::error::BenchError;
use crate::sys::{self, clk_tck};

/// The servers being benchmarked (a scenario may run several instances at
/// once), for the watchdog; 0 is a free slot.
static SERVER_PIDS: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];

/// Notes a started server for the watchdog.
fn track(pid: i32) {
    for s in &SERVER_PIDS {
        if s.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Forgets a server that has exited.
fn untrack(pid: i32) {
    for s in &SERVER_PIDS {
        let _ = s.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The watchdog's last resort: SIGKILL the servers being benchmarked, if any.
pub fn kill_running_server() {
    for s in &SERVER_PIDS {
        sys::kill(s.load(Ordering::SeqCst), libc::SIGKILL);
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
pub struct BinCopy(PathBuf);

impl BinCopy {
    pub fn new(src: &Path) -> Result<BinCopy, BenchError> {
        let dir = std::env::temp_dir().join(format!("securechat-bench-bin-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|error| BenchError::File {
            action: "create",
            path: dir.clone(),
            error,
        })?;
        let dst = dir.join("securechat");
        fs::copy(src, &dst).map_err(|error| {
            let _ = fs::remove_dir_all(&dir);
            BenchError::ServerBinary {
                action: "copy",
                path: src.to_path_buf(),
                error,
            }
        })?;
        Ok(BinCopy(dst))
    }
}

impl BinCopy {
    /// The copy, in a directory of its own.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BinCopy {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A temporary directory of the benchmark's own (e.g. the `--files-dir`
/// instances share), removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Result<Scratch, BenchError> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "securechat-bench-{what}-{}-{stamp}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).map_err(|error| BenchError::File {
            action: "create",
            path: dir.clone(),
            error,
        })?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Spawns the server on `dir/data` (with `tls`: HTTPS/WSS, certificate in
/// `dir`), logging to `log`; waits for its address line and a healthy
/// `/healthz`. Returns (child, pid, endpoint).
fn launch(
    bin: &Path,
    dir: &Path,
    log: &Path,
    tls: bool,
    more: &[&str],
) -> Result<(Child, i32, Ep), BenchError> {
    let logf = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| BenchError::File {
            action: "open",
            path: log.to_path_buf(),
            error,
        })?;
    // Every socket comes from 127.0.0.1: lift a per-address cap if this
    // build has one.
    let mut extra: Vec<&str> = Vec::new();
    let help = server_help(bin);
    if help.contains("--max-per-ip") {
        extra.extend(["--max-per-ip", "0"]);
    }
    // Many sockets per user, opened at once: lift the per-user rate of
    // socket opens if this build has one.
    if help.contains("--socket-rate") {
        extra.extend(["--socket-rate", "0"]);
    }
    // The largest scenarios hold more than the default 10,000 connections.
    if help.contains("--max-connections") {
        extra.extend(["--max-connections", "15000"]);
    }
    // Scenarios that lay out many groups: lift the per-user rates of new
    // groups and joins if this build has them.
    for flag in ["--group-rate", "--join-rate"] {
        if help.contains(flag) {
            extra.extend([flag, "0"]);
        }
    }
    let mut cmd = Command::new(bin);
    sys::term_with_parent(&mut cmd);
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
        .args(&extra)
        .args(more);
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
        .map_err(|error| BenchError::ServerBinary {
            action: "start",
            path: bin.to_path_buf(),
            error,
        })?;
    let pid = child.id() as i32;
    track(pid);
    let fail = |child: &mut Child, error: BenchError| {
        let _ = child.kill();
        let _ = child.wait();
        untrack(pid);
        let tail = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = tail.lines().collect();
        Err(BenchError::ServerStart {
            error: Box::new(error),
            log_tail: lines[lines.len().saturating_sub(20)..].join("\n"),
        })
    };
    let Some(stdout) = child.stdout.take() else {
        let error = io::Error::new(io::ErrorKind::BrokenPipe, "no stdout pipe");
        let doing = "read the server's address";
        return fail(&mut child, BenchError::Io { doing, error });
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
    if let Err(error) = reader {
        let name = "server-stdout".into();
        return fail(&mut child, BenchError::Thread { name, error });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let what = "server did not print its address";
            return fail(&mut child, BenchError::Timeout { what, secs: 20 });
        };
        let scheme = if tls { "https://" } else { "http://" };
        let prefix = format!("SecureChat listening on {scheme}");
        if let Some(rest) = line.trim().strip_prefix(prefix.as_str()) {
            match rest.rsplit_once(':') {
                Some(("127.0.0.1", port)) if port.parse::<u16>().is_ok() => {
                    break port.parse::<u16>().unwrap_or(0);
                }
                _ => {
                    let line = line.trim_end().to_string();
                    return fail(&mut child, BenchError::AddressLine(line));
                }
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
        Ok(r) => {
            let unhealthy = BenchError::Status {
                request: "GET /healthz".into(),
                status: r.status,
                body: None,
            };
            fail(&mut child, unhealthy)
        }
        Err(e) => fail(&mut child, e),
    }
}

/// The server under test: its process, endpoint and temporary directory
/// (removed on drop).
pub struct Server {
    child: Child,
    pid: i32,
    pub ep: Ep,
    tls: bool,
    dir: PathBuf,
    log: PathBuf,
    /// Leave the temporary directory behind (`--keep-data`).
    keep: bool,
}

/// How the server ended and what its log says.
#[derive(Debug, Default)]
pub struct StopReport {
    graceful: bool,
    stop_ms: u64,
    evictions_logged: usize,
    warnings: usize,
    errors: usize,
    samples: Vec<String>,
}

impl Server {
    /// Starts the server with a fresh temporary data directory.
    pub fn start(bin: &Path, tls: bool) -> Result<Server, BenchError> {
        Server::start_with(bin, tls, &[])
    }

    /// [`start`](Server::start) with extra flags (e.g. upload limits).
    pub fn start_with(bin: &Path, tls: bool, more: &[&str]) -> Result<Server, BenchError> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("securechat-bench-{}-{stamp}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|error| BenchError::File {
            action: "create",
            path: dir.clone(),
            error,
        })?;
        let log = dir.join("server.log");
        match launch(bin, &dir, &log, tls, more) {
            Ok((child, pid, ep)) => Ok(Server {
                child,
                pid,
                ep,
                tls,
                dir,
                log,
                keep: false,
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
    pub fn restart(&mut self, bin: &Path) -> Result<(), BenchError> {
        self.stop_cleanly()?;
        self.relaunch(bin)
    }

    /// [`stop`](Server::stop), and an error unless the server exited cleanly
    /// (its databases checkpointed: safe to open them from here).
    pub fn stop_cleanly(&mut self) -> Result<StopReport, BenchError> {
        let rep = self.stop();
        if !rep.graceful {
            return Err(BenchError::ServerStop {
                samples: rep.samples,
            });
        }
        Ok(rep)
    }

    /// Starts the server again on the same data, after a stop.
    pub fn relaunch(&mut self, bin: &Path) -> Result<(), BenchError> {
        self.relaunch_with(bin, &[])
    }

    /// [`relaunch`](Server::relaunch) with extra flags.
    pub fn relaunch_with(&mut self, bin: &Path, more: &[&str]) -> Result<(), BenchError> {
        let (child, pid, ep) = launch(bin, &self.dir, &self.log, self.tls, more)?;
        self.child = child;
        self.pid = pid;
        self.ep = ep;
        Ok(())
    }

    /// Leaves the temporary directory (data, log) in place when dropped.
    pub fn keep_dir(&mut self) {
        self.keep = true;
    }

    /// The server's data directory (its databases), in the temporary one.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn status_field(&self, key: &str) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    pub fn rss_kib(&self) -> Result<u64, BenchError> {
        let field = "VmRSS";
        self.status_field(field).ok_or(BenchError::ProcStatus {
            field,
            pid: self.pid,
        })
    }

    /// Resident KiB by mapping size: {size_kib: (mappings, rss_kib)}.
    /// Thread stacks show up as one size class with a mapping per thread.
    pub fn smaps_by_size(&self) -> BTreeMap<u64, (i64, i64)> {
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

    pub fn threads(&self) -> u64 {
        self.status_field("Threads").unwrap_or(0)
    }

    /// Bytes the server has had written to storage (`write_bytes` of
    /// /proc/<pid>/io: its database pages and log, not its sockets).
    pub fn write_bytes(&self) -> Option<u64> {
        let s = fs::read_to_string(format!("/proc/{}/io", self.pid)).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
    }

    /// User + system CPU seconds of the server.
    pub fn cpu(&self) -> f64 {
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
    pub fn stop(&mut self) -> StopReport {
        let mut rep = StopReport::default();
        let started = Instant::now();
        sys::kill(self.pid, libc::SIGTERM);
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
        untrack(self.pid);
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
        untrack(self.pid);
        if self.keep {
            eprintln!("loadgen: kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The `server` object of a run record.
pub fn stop_json(s: &StopReport) -> Value {
    json!({
        "graceful_exit": s.graceful,
        "stop_ms": s.stop_ms,
        "evictions_logged": s.evictions_logged,
        "warnings": s.warnings,
        "errors": s.errors,
        "log_samples": s.samples,
    })
}
