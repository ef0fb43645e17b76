//! Every raw libc call the benchmark makes, so that all of its `unsafe`
//! sits in this one small module: the file-descriptor limit, CPU use,
//! signals to the server, the parent-death signal, and epoll.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Raises the soft RLIMIT_NOFILE to the hard limit (the server inherits it).
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local, initialised struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur
    }
}

/// CPU seconds (user + system) used by this process so far.
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into a local, zeroed struct.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}

/// Clock ticks per second (the unit of /proc CPU times).
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// Sends `sig` to `pid` (nothing for pid 0 or below).
pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Has the kernel send SIGTERM to the process `cmd` starts if loadgen dies
/// first (Ctrl-C, kill).
pub fn term_with_parent(cmd: &mut Command) {
    // SAFETY: the hook runs in the forked child before exec; prctl is
    // async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// One readiness event: `u64` is the index the socket was added with.
pub type EpollEvent = libc::epoll_event;

/// An epoll instance (closed on drop). Sockets are registered for input
/// and peer hang-up under an index that comes back in their events.
pub struct Epoll(RawFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: creates a new epoll descriptor, owned by the result and
        // closed in `drop`.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    pub fn add(&self, fd: RawFd, idx: usize) {
        self.ctl(libc::EPOLL_CTL_ADD, fd, idx);
    }

    pub fn delete(&self, fd: RawFd, idx: usize) {
        self.ctl(libc::EPOLL_CTL_DEL, fd, idx);
    }

    fn ctl(&self, op: i32, fd: RawFd, idx: usize) {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: idx as u64,
        };
        // SAFETY: epoll_ctl on our epoll fd with a live event struct.
        unsafe {
            libc::epoll_ctl(self.0, op, fd, &mut ev);
        }
    }

    /// Waits up to `timeout_ms` (0: just poll) and fills the front of
    /// `events`; returns how many are ready.
    pub fn wait(&self, events: &mut [EpollEvent], timeout_ms: i32) -> io::Result<usize> {
        let cap = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: the events buffer outlives the call and its length is passed.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), cap, timeout_ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor created in `new`, owned by `self`.
        unsafe {
            libc::close(self.0);
        }
    }
}
