//! The one lock helper. A thread that panicked while holding a lock leaves
//! it poisoned; every lock here guards state that stays consistent between
//! statements (maps, queues, counters), so the server carries on with it
//! instead of turning one contained panic into a panic in every thread.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Locks `m`, recovering the guard from a poisoned lock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv`, recovering the guard as `lock` does.
pub fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` for at most `timeout`, recovering the guard as `lock` does.
pub fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    cv.wait_timeout(guard, timeout)
        .map(|(g, _)| g)
        .unwrap_or_else(|e| e.into_inner().0)
}
