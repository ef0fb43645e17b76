//! The machine and checkout the benchmark runs on: how busy the CPUs are
//! (other work on a shared box skews results) and which commit is built.

use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::clk_tck;

/// CPU seconds all processes have used (every core, idle and iowait excluded).
pub fn system_busy() -> f64 {
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
pub fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Waits (at most `limit`) until other processes leave the CPUs nearly
/// idle for a whole second; returns the busy fraction last seen.
pub fn wait_for_quiet(limit: Duration) -> f64 {
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

pub fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
