//! glibc malloc tuning: at most two arenas (thousands of short-lived
//! connection threads would otherwise spread allocations over eight arenas
//! per core, each keeping freed memory), and handing freed heap back to the
//! OS so the footprint returns to baseline after a burst. std has no
//! wrapper for `mallopt`/`malloc_trim`; these are the program's only calls
//! (`unsafe`, documented below).
#![allow(unsafe_code)]

/// Limits malloc to two arenas. Call before starting any thread.
pub fn limit_arenas() {
    // SAFETY: mallopt with a valid parameter, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap pages to the OS.
pub fn trim() {
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}
