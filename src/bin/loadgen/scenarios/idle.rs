//! The `idle` scenario: server RSS per idle WebSocket, and where the
//! growth went by mapping size.

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::Opts;
use crate::client::tls_feed;
use crate::error::BenchError;
use crate::host::loadavg;
use crate::room::setup_room;
use crate::server::{Server, stop_json};
use crate::ws::{Event, open_many, parse_frames};

/// (a) Server RSS per idle WebSocket.
pub fn idle_run(o: &Opts, n: usize, tls: bool) -> Result<Value, BenchError> {
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
