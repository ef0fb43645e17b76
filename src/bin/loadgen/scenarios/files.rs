//! The `files` scenario: file uploads and downloads through the server
//! (`POST /api/groups/{id}/files`, `GET /files/{id}/{name}`), on one
//! server started with `--max-upload 200MiB --max-storage-per-user 4GiB`.
//! The bytes come from `transfer`'s pattern, streamed from one buffer.
//!
//! 1. Baseline: the large file (`--file-mib`, 100 MiB) through a bare
//!    loopback TCP socket into a sink thread of loadgen (what this box
//!    moves at all), then, after a 1 MiB upload and download to warm the
//!    server up, the large file uploaded and downloaded once each: MiB/s
//!    each way, every downloaded byte checked against the pattern and the
//!    server's ETag against the pattern's SHA-256; the server's VmRSS
//!    sampled every 10 ms during each transfer (growth = the largest
//!    sample minus the one just before), and its CPU.
//! 2. `--file-uploads` (100) 1 MiB uploads at once, a thread and a
//!    connection each, spread over the users and released together: how
//!    many got their `201` (the rest are lost), the wall time from release
//!    to the last answer, aggregate MiB/s; then every stored file is
//!    downloaded again and its length and SHA-256 checked.
//! 3. A room's live latency: a sender and a receiving socket in the group,
//!    200 messages at 50/s, send→receive (and send→ack) p50/p99, first
//!    with nothing else going on (after a second's pause), then (another
//!    sender, so no `client_id` repeats) while 4 threads upload 5 MiB
//!    files back to back; the ratio of the two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::Opts;
use crate::error::BenchError;
use crate::host::{loadavg, system_busy};
use crate::recv::{RecvResult, Shared, StopOnDrop, receive};
use crate::room::{User, setup_room};
use crate::sender::spawn_sender;
use crate::server::{Server, stop_json};
use crate::stats::pct;
use crate::sys::self_cpu;
use crate::transfer::{MIB, Pattern, download, raw_tcp, upload};
use crate::ws::ws_connect;

/// Users in the room; the concurrent uploads are spread over all of them.
const USERS: usize = 10;
/// The large transfers' and the idle-latency sender's user, the receiver,
/// the loaded-latency sender, and the first of the background uploaders.
const BIG: usize = 0;
const RECEIVER: usize = 1;
const LOADED_SENDER: usize = 2;
const FIRST_LOADER: usize = 3;
const SERVER_FLAGS: [&str; 4] = ["--max-upload", "200MiB", "--max-storage-per-user", "4GiB"];
const RSS_EVERY: Duration = Duration::from_millis(10);
/// A pause before the idle latency is measured.
const SETTLE: Duration = Duration::from_secs(1);
const LAT_MESSAGES: usize = 200;
const LAT_RATE: f64 = 50.0;
const LOAD_THREADS: usize = 4;
const LOAD_MIB: u64 = 5;
/// Threads that download the concurrent uploads again to check them.
const CHECK_THREADS: usize = 4;
/// Seeds: the large file, the warm-up, the concurrent uploads (+ index),
/// the background uploads (+ thread * 100,000 + index).
const SEED_BIG: u64 = 1;
const SEED_WARM: u64 = 2;
const SEED_MANY: u64 = 1_000;
const SEED_LOAD: u64 = 1_000_000;

fn mib_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / MIB as f64 / secs
    } else {
        f64::NAN
    }
}

/// The server's RSS while `f` runs: (f's result, KiB just before, largest
/// sample, samples taken), sampled every `RSS_EVERY` by a second thread.
fn watch_rss<T>(
    srv: &Server,
    f: impl FnOnce() -> Result<T, BenchError>,
) -> Result<(T, u64, u64, usize), BenchError> {
    let before = srv.rss_kib()?;
    let stop = AtomicBool::new(false);
    let (r, max, n) = thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut max, mut n) = (before, 0usize);
            while !stop.load(Ordering::Relaxed) {
                if let Ok(kib) = srv.rss_kib() {
                    max = max.max(kib);
                    n += 1;
                }
                thread::sleep(RSS_EVERY);
            }
            (max, n)
        });
        let r = f();
        stop.store(true, Ordering::Relaxed);
        let (max, n) = sampler.join().unwrap_or((0, 0));
        (r, max, n)
    });
    let after = srv.rss_kib()?;
    Ok((r?, before, max.max(after), n + 1))
}

/// One large transfer's record.
fn transfer_json(bytes: u64, secs: f64, before: u64, max: u64, samples: usize, cpu: f64) -> Value {
    json!({
        "mib_s": mib_s(bytes, secs),
        "seconds": secs,
        "rss_before_kib": before,
        "rss_max_kib": max,
        "rss_growth_kib": max.saturating_sub(before),
        "rss_samples": samples,
        "server_cpu_s": cpu,
    })
}

/// Part 1: the baseline, the warm-up and the large upload and download.
fn large(
    srv: &Server,
    users: &[User],
    group: i64,
    pat: &Pattern,
    mib: u64,
) -> Result<Value, BenchError> {
    let ep = &srv.ep;
    let bytes = mib * MIB as u64;
    let raw_s = raw_tcp(pat, SEED_BIG, mib)?;
    let want_sha = pat.sha256(SEED_BIG, mib);
    let user = &users[BIG];
    // The first transfers' RSS growth (a connection thread's first
    // buffers), apart from the measured ones.
    let ((), warm_before, warm_max, _) = watch_rss(srv, || {
        let warm = upload(ep, user, group, "warm-up.bin", pat, SEED_WARM, 1)?;
        download(ep, user, &warm.url, pat, SEED_WARM, 1, true).map(|_| ())
    })?;

    let (cpu0, me0) = (srv.cpu(), self_cpu());
    let name = format!("large-{mib}MiB.bin");
    let (up, up_before, up_max, up_n) =
        watch_rss(srv, || upload(ep, user, group, &name, pat, SEED_BIG, mib))?;
    let (cpu1, me1) = (srv.cpu(), self_cpu());
    let (down, down_before, down_max, down_n) = watch_rss(srv, || {
        download(ep, user, &up.url, pat, SEED_BIG, mib, false)
    })?;
    let (cpu2, me2) = (srv.cpu(), self_cpu());
    if !want_sha.starts_with(&down.etag) || down.etag.len() < 32 {
        return Err(BenchError::Wrong {
            check: "the large file's ETag is its SHA-256",
            detail: format!("ETag {} for SHA-256 {want_sha}", down.etag),
        });
    }
    let mut u = transfer_json(bytes, up.total_s, up_before, up_max, up_n, cpu1 - cpu0);
    u["body_seconds"] = json!(up.body_s);
    u["body_mib_s"] = json!(mib_s(bytes, up.body_s));
    u["finish_ms"] = json!((up.total_s - up.body_s) * 1e3);
    u["client_cpu_s"] = json!(me1 - me0);
    let mut d = transfer_json(
        down.bytes,
        down.secs,
        down_before,
        down_max,
        down_n,
        cpu2 - cpu1,
    );
    d["client_cpu_s"] = json!(me2 - me1);
    d["verified"] = json!("every byte, and the ETag against the SHA-256");
    Ok(json!({
        "bytes": bytes,
        "file_id": up.id,
        "sha256": want_sha,
        "warmup_rss_growth_kib": warm_max.saturating_sub(warm_before),
        "raw_tcp_seconds": raw_s,
        "raw_tcp_mib_s": mib_s(bytes, raw_s),
        "upload": u,
        "download": d,
    }))
}

/// A job's result and when it came.
type Finished<T> = (Result<T, BenchError>, Instant);

/// Runs `f(i)` for `i` in `0..n` on threads of their own, released
/// together; returns each result and when it came, and the release time.
fn at_once<T: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<T, BenchError> + Sync,
) -> Result<(Vec<Finished<T>>, Instant), BenchError> {
    let go = AtomicBool::new(false);
    thread::scope(|s| {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (go, f) = (&go, &f);
            let h = thread::Builder::new()
                .name(format!("upload-{i}"))
                .stack_size(256 * 1024)
                .spawn_scoped(s, move || {
                    let until = Instant::now() + Duration::from_secs(10);
                    while !go.load(Ordering::Acquire) && Instant::now() < until {
                        thread::sleep(Duration::from_micros(200));
                    }
                    let r = f(i);
                    (r, Instant::now())
                });
            match h {
                Ok(h) => handles.push(h),
                Err(error) => {
                    go.store(true, Ordering::Release);
                    let name = format!("upload-{i}");
                    return Err(BenchError::Thread { name, error });
                }
            }
        }
        let t0 = Instant::now();
        go.store(true, Ordering::Release);
        let done = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| BenchError::Panicked("upload")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((done, t0))
    })
}

/// Part 2: `n` 1 MiB uploads at once, then each checked.
fn concurrent(
    srv: &Server,
    users: &[User],
    group: i64,
    pat: &Pattern,
    n: usize,
) -> Result<Value, BenchError> {
    let ep = &srv.ep;
    let cpu0 = srv.cpu();
    let (done, t0) = at_once(n, |i| {
        let name = format!("many-{i:04}.bin");
        upload(
            ep,
            &users[i % users.len()],
            group,
            &name,
            pat,
            SEED_MANY + i as u64,
            1,
        )
    })?;
    let cpu = srv.cpu() - cpu0;
    let wall = done
        .iter()
        .map(|(_, t)| t.saturating_duration_since(t0))
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    let mut stored = Vec::new();
    let mut first_error = None;
    let mut times: Vec<f64> = Vec::new();
    for (i, (r, _)) in done.into_iter().enumerate() {
        match r {
            Ok(u) => {
                times.push(u.total_s);
                stored.push((i, u));
            }
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let completed = stored.len();
    // Check every stored file, a few downloads at a time.
    let mismatched = std::sync::atomic::AtomicUsize::new(0);
    let first_bad = std::sync::Mutex::new(None::<String>);
    thread::scope(|s| {
        for t in 0..CHECK_THREADS {
            let (stored, mismatched, first_bad) = (&stored, &mismatched, &first_bad);
            s.spawn(move || {
                for (i, u) in stored.iter().skip(t).step_by(CHECK_THREADS) {
                    let seed = SEED_MANY + *i as u64;
                    let user = &users[i % users.len()];
                    let r = download(ep, user, &u.url, pat, seed, 1, true).and_then(|d| {
                        let want = pat.sha256(seed, 1);
                        match d.sha256 {
                            Some(got) if got == want && d.bytes == u.size => Ok(()),
                            got => Err(BenchError::Wrong {
                                check: "a concurrent upload downloads back identical",
                                detail: format!("{}: {} bytes, SHA-256 {got:?}", u.url, d.bytes),
                            }),
                        }
                    });
                    if let Err(e) = r {
                        mismatched.fetch_add(1, Ordering::Relaxed);
                        let mut fb = first_bad.lock().unwrap_or_else(|e| e.into_inner());
                        fb.get_or_insert_with(|| e.to_string());
                    }
                }
            });
        }
    });
    let mismatched = mismatched.into_inner();
    let first_bad = first_bad.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(json!({
        "uploads": n,
        "completed": completed,
        "lost": n - completed,
        "first_error": first_error,
        "verified": completed - mismatched,
        "mismatched": mismatched,
        "first_mismatch": first_bad,
        "wall_seconds": wall,
        "mib_s": mib_s(completed as u64 * MIB as u64, wall),
        "upload_p50_s": times.get(times.len() / 2),
        "upload_max_s": times.last(),
        "server_cpu_s": cpu,
    }))
}

/// Latency of `LAT_MESSAGES` messages at `LAT_RATE`/s from `sender` to a
/// socket of `RECEIVER`'s.
fn latency(
    srv: &Server,
    users: &[User],
    group: i64,
    sender: usize,
    size: usize,
) -> Result<Value, BenchError> {
    let ep = &srv.ep;
    let rx = ws_connect(ep, group, &users[RECEIVER])?;
    let tx = ws_connect(ep, group, &users[sender])?;
    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(Arc::clone(&shared));
    let sh = Arc::clone(&shared);
    let receiver = thread::Builder::new()
        .name("recv".into())
        .spawn(move || receive(vec![(0, rx)], sh, LAT_MESSAGES, 0))
        .map_err(|error| BenchError::Thread {
            name: "recv".into(),
            error,
        })?;
    thread::sleep(Duration::from_millis(300)); // hello and presence frames
    let (cpu0, me0, busy0, t0) = (srv.cpu(), self_cpu(), system_busy(), Instant::now());
    let span = LAT_MESSAGES as f64 / LAT_RATE;
    let limit = Instant::now() + Duration::from_secs_f64(span + 60.0);
    let sending = spawn_sender(tx, LAT_MESSAGES, size, Some(LAT_RATE), limit)?;
    let outcome =
        shared.wait_delivered(LAT_MESSAGES as u64, || sending.is_finished(), limit, || {});
    shared.stop.store(true, Ordering::Relaxed);
    let (cpu, me) = (srv.cpu() - cpu0, self_cpu() - me0);
    let other = (system_busy() - busy0 - cpu - me).max(0.0);
    let secs = t0.elapsed().as_secs_f64();
    let snd = sending.join().map_err(|_| BenchError::Panicked("sender"))?;
    let mut rs: RecvResult = receiver
        .join()
        .map_err(|_| BenchError::Panicked("receiver"))?;
    rs.lat_ns.sort_unstable();
    Ok(json!({
        "outcome": outcome,
        "sent": snd.sent,
        "received": rs.msgs,
        "lost": snd.sent as i64 - rs.msgs as i64,
        "sender_errors": snd.errors,
        "sender_first_error": snd.first_error,
        "out_of_order": rs.out_of_order,
        "p50_ms": pct(&rs.lat_ns, 0.50),
        "p99_ms": pct(&rs.lat_ns, 0.99),
        "max_ms": pct(&rs.lat_ns, 1.0),
        // Send→ack: the message stored (a slow store shows here too).
        "ack_p50_ms": pct(&snd.ack_lat_ns, 0.50),
        "ack_p99_ms": pct(&snd.ack_lat_ns, 0.99),
        "seconds": secs,
        "server_cpu_s": cpu,
        "client_cpu_s": me,
        // CPU other processes used meanwhile (a shared box skews latency).
        "other_cpu_s": other,
    }))
}

/// Part 3's background: `LOAD_THREADS` threads uploading `LOAD_MIB` MiB
/// files back to back until `stop` (or two minutes): (uploads, failures,
/// first failure, bytes stored).
fn load_uploads(
    srv: &Server,
    users: &[User],
    group: i64,
    pat: &Pattern,
    stop: &AtomicBool,
) -> Vec<(usize, usize, Option<String>, u64)> {
    let ep = &srv.ep;
    thread::scope(|s| {
        let handles: Vec<_> = (0..LOAD_THREADS)
            .map(|t| {
                s.spawn(move || {
                    let until = Instant::now() + Duration::from_secs(120);
                    let (mut ok, mut bad, mut first, mut bytes) = (0, 0, None, 0);
                    let user = &users[FIRST_LOADER + t];
                    let mut k = 0u64;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        let seed = SEED_LOAD + t as u64 * 100_000 + k;
                        let name = format!("load-{t}-{k:05}.bin");
                        match upload(ep, user, group, &name, pat, seed, LOAD_MIB) {
                            Ok(u) => {
                                ok += 1;
                                bytes += u.size;
                            }
                            Err(e) => {
                                bad += 1;
                                first.get_or_insert_with(|| e.to_string());
                                thread::sleep(Duration::from_millis(50));
                            }
                        }
                        k += 1;
                    }
                    (ok, bad, first, bytes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or((0, 1, Some("uploader panicked".into()), 0))
            })
            .collect()
    })
}

/// Part 3: idle latency, then latency under uploads.
fn live(
    srv: &Server,
    users: &[User],
    group: i64,
    pat: &Pattern,
    size: usize,
) -> Result<Value, BenchError> {
    // Whatever the uploads before left to do (writeback, a checkpoint) first.
    thread::sleep(SETTLE);
    let idle = latency(srv, users, group, BIG, size)?;
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let cpu0 = srv.cpu();
    let (loaded, uploads) = thread::scope(|s| {
        let bg = s.spawn(|| load_uploads(srv, users, group, pat, &stop));
        thread::sleep(Duration::from_millis(300)); // uploads under way
        let loaded = latency(srv, users, group, LOADED_SENDER, size);
        stop.store(true, Ordering::Relaxed);
        let uploads = bg.join().unwrap_or_default();
        (loaded, uploads)
    });
    let loaded = loaded?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = srv.cpu() - cpu0;
    let ok: usize = uploads.iter().map(|u| u.0).sum();
    let bad: usize = uploads.iter().map(|u| u.1).sum();
    let bytes: u64 = uploads.iter().map(|u| u.3).sum();
    let first = uploads.iter().find_map(|u| u.2.clone());
    let ratio = |k: &str| {
        let (i, l) = (idle[k].as_f64(), loaded[k].as_f64());
        i.zip(l).map(|(i, l)| l / i)
    };
    Ok(json!({
        "messages": LAT_MESSAGES,
        "rate": LAT_RATE,
        "idle": idle,
        "loaded": loaded,
        "p50_ratio": ratio("p50_ms"),
        "p99_ratio": ratio("p99_ms"),
        "load_threads": LOAD_THREADS,
        "load_file_mib": LOAD_MIB,
        "load_uploads": ok,
        "load_upload_failures": bad,
        "load_first_failure": first,
        "load_seconds": secs,
        "load_mib_s": mib_s(bytes, secs),
        "load_server_cpu_s": cpu,
    }))
}

/// The whole scenario (see the module doc).
pub fn files_run(o: &Opts) -> Result<Value, BenchError> {
    let load = loadavg();
    let mut srv = Server::start_with(&o.server, false, &SERVER_FLAGS)?;
    if o.keep_data {
        srv.keep_dir();
    }
    let (group, users) = setup_room(&srv.ep, USERS)?;
    let pat = Pattern::new();
    let large = large(&srv, &users, group, &pat, o.file_mib as u64)?;
    let many = concurrent(&srv, &users, group, &pat, o.file_uploads)?;
    let live = live(&srv, &users, group, &pat, o.size)?;
    let stop = srv.stop();
    let up = &large["upload"];
    let down = &large["download"];
    let raw = large["raw_tcp_mib_s"].as_f64().unwrap_or(f64::NAN);
    let of_raw = |v: &Value| v["mib_s"].as_f64().map(|x| x / raw);
    Ok(json!({
        "scenario": "files",
        "tls": false,
        "users": USERS,
        "server_flags": SERVER_FLAGS,
        "file_mib": o.file_mib,
        // Flat, for the table.
        "raw_tcp_mib_s": raw,
        "upload_mib_s": up["mib_s"],
        "upload_body_mib_s": up["body_mib_s"],
        "upload_finish_ms": up["finish_ms"],
        "upload_of_raw": of_raw(up),
        "upload_rss_growth_kib": up["rss_growth_kib"],
        "warmup_rss_growth_kib": large["warmup_rss_growth_kib"],
        "upload_server_cpu_s": up["server_cpu_s"],
        "download_mib_s": down["mib_s"],
        "download_of_raw": of_raw(down),
        "download_rss_growth_kib": down["rss_growth_kib"],
        "download_server_cpu_s": down["server_cpu_s"],
        "concurrent_uploads": many["uploads"],
        "concurrent_completed": many["completed"],
        "concurrent_lost": many["lost"],
        "concurrent_mismatched": many["mismatched"],
        "concurrent_wall_s": many["wall_seconds"],
        "concurrent_mib_s": many["mib_s"],
        "idle_p50_ms": live["idle"]["p50_ms"],
        "idle_p99_ms": live["idle"]["p99_ms"],
        "loaded_p50_ms": live["loaded"]["p50_ms"],
        "loaded_p99_ms": live["loaded"]["p99_ms"],
        "idle_ack_p99_ms": live["idle"]["ack_p99_ms"],
        "loaded_ack_p99_ms": live["loaded"]["ack_p99_ms"],
        "latency_p50_ratio": live["p50_ratio"],
        "latency_p99_ratio": live["p99_ratio"],
        "latency_lost": live["idle"]["lost"].as_i64().unwrap_or(0)
            + live["loaded"]["lost"].as_i64().unwrap_or(0),
        "load_mib_s": live["load_mib_s"],
        "load_upload_failures": live["load_upload_failures"],
        // The latency phases: for the report's note on a shared box.
        "other_cpu_s": live["idle"]["other_cpu_s"].as_f64().unwrap_or(0.0)
            + live["loaded"]["other_cpu_s"].as_f64().unwrap_or(0.0),
        "window_seconds": live["idle"]["seconds"].as_f64().unwrap_or(0.0)
            + live["loaded"]["seconds"].as_f64().unwrap_or(0.0),
        "idle_other_cpu_s": live["idle"]["other_cpu_s"],
        "loaded_other_cpu_s": live["loaded"]["other_cpu_s"],
        // In full.
        "large": large,
        "concurrent": many,
        "live": live,
        "loadavg_before": load,
        "server": stop_json(&stop),
    }))
}
