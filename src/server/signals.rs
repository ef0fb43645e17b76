//! SIGINT and SIGTERM: blocked in every thread at start, then received by
//! one thread with `sigwait`, so shutdown runs as ordinary code rather than
//! in a signal handler. std has no safe wrapper for signal masks; these are
//! the program's only signal calls (`unsafe`, documented below).
#![allow(unsafe_code)]

/// The blocked signals; pass to `wait`.
pub struct Blocked(libc::sigset_t);

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts
/// afterwards. Call before starting any thread.
pub fn block() -> Blocked {
    // SAFETY: plain libc signal-mask calls on a local, initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        Blocked(set)
    }
}

/// Waits for one of the blocked signals; returns its number.
pub fn wait(blocked: &Blocked) -> i32 {
    let mut sig = 0;
    // SAFETY: sigwait on an initialised set, writing into a local int.
    unsafe {
        libc::sigwait(&blocked.0, &mut sig);
    }
    sig
}
