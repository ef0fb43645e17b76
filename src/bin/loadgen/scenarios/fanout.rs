//! The `burst` and `paced` scenarios: one sender into a room of receiving
//! sockets; deliveries/s, latency percentiles, losses and CPU use.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::Opts;
use crate::error::BenchError;
use crate::host::{loadavg, system_busy};
use crate::recv::{RecvResult, Shared, StopOnDrop, receive};
use crate::room::setup_room;
use crate::sender::spawn_sender;
use crate::server::{Server, stop_json};
use crate::stats::pct;
use crate::sys::self_cpu;
use crate::ws::{Ws, open_many, ws_connect};

/// (b)/(c) Fan-out into a room of `o.sockets` receivers.
pub fn fanout_run(
    o: &Opts,
    messages: usize,
    rate: Option<f64>,
    tls: bool,
) -> Result<Value, BenchError> {
    let mut srv = Server::start(&o.server, tls)?;
    let (group, users) = setup_room(&srv.ep, o.users)?;
    let sender = ws_connect(&srv.ep, group, &users[0])?;
    let socks = open_many(&srv.ep, group, &users, o.sockets)?;
    // Deal the sockets out to the receiver threads.
    let nthreads = o.recv_threads.min(socks.len());
    let mut parts: Vec<Vec<(usize, Ws)>> = (0..nthreads).map(|_| Vec::new()).collect();
    for (i, ws) in socks.into_iter().enumerate() {
        parts[i % nthreads].push((i, ws));
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
            let name = format!("recv-{i}");
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || receive(part, sh, per_thread, poll_us))
                .map_err(|error| BenchError::Thread { name, error })
        })
        .collect::<Result<_, _>>()?;
    // A socket is in the room once its `hello` came (the 101 comes first);
    // a message sent before that would be missed, not lost.
    let hellos_by = Instant::now() + Duration::from_secs(60);
    while shared.hellos.load(Ordering::Relaxed) < o.sockets as u64 && Instant::now() < hellos_by {
        thread::sleep(Duration::from_millis(20));
    }
    let hellos = shared.hellos.load(Ordering::Relaxed);
    thread::sleep(Duration::from_millis(500)); // presence frames drain
    let expected = (messages * o.sockets) as u64;
    let send_span = rate.map_or(0.0, |r| messages as f64 / r);
    let limit = Instant::now() + Duration::from_secs_f64(send_span + 120.0);

    let load = loadavg();
    let cpu_srv0 = srv.cpu();
    let cpu_me0 = self_cpu();
    let busy0 = system_busy();
    let window = Instant::now();
    let sender_thread = spawn_sender(sender, messages, o.size, rate, limit)?;
    // Wait: all delivered, or quiet for QUIET after sending ended, or limit.
    let mut max_threads = srv.threads();
    let outcome = shared.wait_delivered(
        expected,
        || sender_thread.is_finished(),
        limit,
        || max_threads = max_threads.max(srv.threads()),
    );
    // Give stragglers (and any duplicate) a brief moment, then stop.
    thread::sleep(Duration::from_millis(100));
    let cpu_srv = srv.cpu() - cpu_srv0;
    let busy = system_busy() - busy0;
    let window_s = window.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);
    let snd = sender_thread
        .join()
        .map_err(|_| BenchError::Panicked("sender"))?;
    let cpu_me = self_cpu() - cpu_me0;
    let foreign = (busy - cpu_srv - cpu_me).max(0.0);
    let mut rs = RecvResult::default();
    for h in handles {
        let r = h.join().map_err(|_| BenchError::Panicked("receiver"))?;
        rs.merge(r);
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
        "hellos_before_sending": hellos,
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
        "first_gaps": rs.gaps.iter().map(|&(socket, missing, got)| json!({"socket": socket, "missing_from": missing, "got": got})).collect::<Vec<_>>(),
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
