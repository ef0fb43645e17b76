//! Process-wide counters for `/metrics` (Prometheus text format). Plain
//! atomics, bumped where things happen; read only when scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub static CONNECTIONS_TOTAL: AtomicU64 = AtomicU64::new(0);
pub static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);
pub static MESSAGES_STORED: AtomicU64 = AtomicU64::new(0);
pub static DELIVERIES: AtomicU64 = AtomicU64::new(0);
pub static SLOW_CONSUMERS: AtomicU64 = AtomicU64::new(0);
pub static RATE_LIMITED: AtomicU64 = AtomicU64::new(0);
pub static FILES_STORED: AtomicU64 = AtomicU64::new(0);

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Kinds of request, for per-class counts and latencies.
#[derive(Clone, Copy)]
pub enum Class {
    Page,
    Api,
    Static,
    WebSocket,
    Other,
}

const CLASSES: [&str; 5] = ["page", "api", "static", "websocket", "other"];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

struct Histogram {
    count: AtomicU64,
    sum_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Histogram = Histogram {
    count: ZERO,
    sum_us: ZERO,
    buckets: [ZERO; BUCKETS.len()],
};
static REQUESTS: [Histogram; CLASSES.len()] = [EMPTY; CLASSES.len()];

/// Records one answered request.
pub fn observe(class: Class, took: Duration) {
    let h = &REQUESTS[class as usize];
    h.count.fetch_add(1, Ordering::Relaxed);
    h.sum_us
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    let secs = took.as_secs_f64();
    for (i, le) in BUCKETS.iter().enumerate() {
        if secs <= *le {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Live gauges the caller reads from the server's state.
pub struct Gauges {
    pub connections_open: usize,
    pub websockets_open: usize,
    pub rooms_active: usize,
    /// Bytes of uploaded files on disk (each distinct file once).
    pub stored_bytes: u64,
}

/// The Prometheus exposition text.
pub fn render(g: &Gauges) -> String {
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
        );
    };
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    counter(
        "securechat_connections_total",
        "Connections accepted.",
        get(&CONNECTIONS_TOTAL),
    );
    counter(
        "securechat_connections_refused_total",
        "Connections refused by the caps.",
        get(&CONNECTIONS_REFUSED),
    );
    counter(
        "securechat_messages_stored_total",
        "Messages stored.",
        get(&MESSAGES_STORED),
    );
    counter(
        "securechat_deliveries_total",
        "WebSocket frames queued to sockets.",
        get(&DELIVERIES),
    );
    counter(
        "securechat_slow_consumers_total",
        "Sockets closed for not reading.",
        get(&SLOW_CONSUMERS),
    );
    counter(
        "securechat_rate_limited_total",
        "Requests and frames refused by rate limits.",
        get(&RATE_LIMITED),
    );
    counter(
        "securechat_files_stored_total",
        "Uploads kept.",
        get(&FILES_STORED),
    );
    let mut gauge = |name: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
        );
    };
    gauge(
        "securechat_connections_open",
        "Open TCP connections.",
        g.connections_open as u64,
    );
    gauge(
        "securechat_websockets_open",
        "Open WebSockets.",
        g.websockets_open as u64,
    );
    gauge(
        "securechat_rooms_active",
        "Groups with at least one open socket.",
        g.rooms_active as u64,
    );
    gauge(
        "securechat_files_stored_bytes",
        "Bytes of uploaded files on disk.",
        g.stored_bytes,
    );
    let name = "securechat_request_duration_seconds";
    let _ = write!(
        out,
        "# HELP {name} HTTP request latency by route class.\n# TYPE {name} histogram\n"
    );
    for (class, h) in CLASSES.iter().zip(REQUESTS.iter()) {
        for (le, b) in BUCKETS.iter().zip(h.buckets.iter()) {
            let _ = writeln!(
                out,
                "{name}_bucket{{class=\"{class}\",le=\"{le}\"}} {}",
                get(b)
            );
        }
        let count = get(&h.count);
        let _ = writeln!(
            out,
            "{name}_bucket{{class=\"{class}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{class=\"{class}\"}} {}",
            get(&h.sum_us) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{class=\"{class}\"}} {count}");
    }
    out
}
