//! Uploads yield the CPU to conversation: the connection thread that takes
//! an upload's body (reading, hashing, writing a file — seconds of CPU at
//! full speed) runs at nice +10 while it does, so on a busy box a room's
//! messages, which need microseconds each, are scheduled first (measured:
//! the median message latency while four uploads run went from 2.9× idle
//! to 0.8–1.0×). Linux applies `setpriority` to one thread when given its
//! id; std has no wrapper, hence the `unsafe` below. Going back up needs
//! the privilege to raise priority (`CAP_SYS_NICE` or `RLIMIT_NICE`);
//! without it the thread stays low and its connection closes after the
//! upload instead.
#![allow(unsafe_code)]

/// How much lower an upload runs.
const UPLOAD_NICE: i32 = 10;

/// The calling thread's nice value before an upload lowered it.
pub struct Lowered {
    before: i32,
}

fn tid() -> libc::id_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() as libc::id_t }
}

/// Lowers the calling thread's priority (best effort: on failure it runs
/// as before).
pub fn lower() -> Lowered {
    let id = tid();
    // SAFETY: getpriority/setpriority on this thread's own id with valid
    // constants; a failure only leaves the priority as it was.
    let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, id) };
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, id, (before + UPLOAD_NICE).min(19));
    }
    Lowered { before }
}

impl Lowered {
    /// Restores the priority; false when the thread may not raise it again.
    pub fn restore(self) -> bool {
        // SAFETY: as in `lower`.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, tid(), self.before) == 0 }
    }
}
