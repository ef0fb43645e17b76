//! The benchmark's clocks: one monotonic origin shared by senders and
//! receivers (message contents carry `now_ns()` send times), and wall-clock
//! milliseconds for the run records.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static T0: OnceLock<Instant> = OnceLock::new();

/// Fixes the origin of [`now_ns`] (call first thing in `main`).
pub fn start() {
    T0.get_or_init(Instant::now);
}

/// Nanoseconds since the benchmark started (one clock for senders and receivers).
pub fn now_ns() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
