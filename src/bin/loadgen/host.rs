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

/// (parent pid, own CPU s, reaped children's CPU s) from /proc/<pid>/stat.
fn proc_stat(pid: i32) -> Option<(i32, f64, f64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" that ends the command name: state is field 3 of
    // the line, ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    let (_, rest) = s.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let ppid = f.get(1)?.parse().ok()?;
    Some((
        ppid,
        (num(11) + num(12)) / clk_tck(),
        (num(13) + num(14)) / clk_tck(),
    ))
}

/// CPU seconds process `root` and its children have used: its own, its
/// reaped children's and its live children's (for a PostgreSQL cluster:
/// the postmaster, its backends and helpers, also those that have exited).
pub fn tree_cpu(root: i32) -> f64 {
    let Some((_, own, reaped)) = proc_stat(root) else {
        return f64::NAN;
    };
    let live: f64 = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .filter(|&(ppid, _, _)| ppid == root)
        .map(|(_, cpu, _)| cpu)
        .sum();
    own + reaped + live
}

/// The parent of process `pid`.
pub fn parent_of(pid: i32) -> Option<i32> {
    proc_stat(pid).map(|(ppid, _, _)| ppid)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_tree_is_read_from_proc() {
        let me = std::process::id() as i32;
        let parent = parent_of(me).expect("own /proc/<pid>/stat");
        assert_eq!(parent, std::os::unix::process::parent_id() as i32);
        // Burn a little CPU: the tree counts its root's own time too.
        let before = tree_cpu(me);
        assert!(before.is_finite() && before >= 0.0);
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(tree_cpu(me) >= before);
        assert!(tree_cpu(-1).is_nan());
    }
}
