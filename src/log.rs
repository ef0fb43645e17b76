//! Leveled logging to stderr. The level comes from `SECURECHAT_LOG`
//! (`error`, `warn`, `info` — the default —, `debug`). Callers must never pass
//! message content, passwords, tokens or cookies.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};

pub const ERROR: u8 = 1;
pub const WARN: u8 = 2;
pub const INFO: u8 = 3;
pub const DEBUG: u8 = 4;

static LEVEL: AtomicU8 = AtomicU8::new(INFO);

/// Reads the level from the environment once at start.
pub fn init_from_env() {
    let level = match std::env::var("SECURECHAT_LOG").as_deref() {
        Ok("error") => ERROR,
        Ok("warn") => WARN,
        Ok("debug") => DEBUG,
        Ok("off") => 0,
        _ => INFO,
    };
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn enabled(level: u8) -> bool {
    level <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line; use the macros below.
pub fn write(level: u8, args: std::fmt::Arguments<'_>) {
    let name = match level {
        ERROR => "ERROR",
        WARN => "WARN",
        INFO => "INFO",
        _ => "DEBUG",
    };
    let ms = crate::util::now_ms();
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    eprintln!("{h:02}:{m:02}:{s:02}.{:03} {name} {args}", ms % 1000);
}

/// Something that may happen many times a second (a refused write, a
/// refused connection), reported at most once a minute with how often it
/// happened since the last report: `static X: Tally = Tally::new();`.
pub struct Tally {
    count: AtomicU64,
    last_ms: AtomicI64,
}

impl Tally {
    const EVERY_MS: i64 = 60_000;

    pub const fn new() -> Tally {
        Tally {
            count: AtomicU64::new(0),
            last_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one; when a report is due, returns how many happened since
    /// the last one (this one included) for the caller to log.
    pub fn count(&self) -> Option<u64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let now = crate::util::now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == i64::MIN || now - last >= Self::EVERY_MS;
        (due && self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok())
        .then(|| self.count.swap(0, Ordering::Relaxed))
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*));
        }
    };
}
#[macro_export]
macro_rules! error { ($($arg:tt)*) => { $crate::log_at!($crate::log::ERROR, $($arg)*) }; }
#[macro_export]
macro_rules! warn { ($($arg:tt)*) => { $crate::log_at!($crate::log::WARN, $($arg)*) }; }
#[macro_export]
macro_rules! info { ($($arg:tt)*) => { $crate::log_at!($crate::log::INFO, $($arg)*) }; }
#[macro_export]
macro_rules! debug { ($($arg:tt)*) => { $crate::log_at!($crate::log::DEBUG, $($arg)*) }; }
