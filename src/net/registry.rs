//! Every open connection, so that shutdown can wake idle readers and wait
//! for in-flight requests, and so the connection cap can be enforced.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
    stopping: AtomicBool,
}

/// Removes its connection from the registry when dropped.
pub struct Entry<'a> {
    registry: &'a Registry,
    id: u64,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<TcpStream>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection unless `max` are already open.
    pub fn add(&self, sock: Arc<TcpStream>, max: usize) -> Option<Entry<'_>> {
        let mut open = self.lock();
        if open.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, sock);
        Some(Entry { registry: self, id })
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether shutdown has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Begins shutdown: no new requests are read; idle readers wake up.
    /// Returns once every connection has closed or `grace` has passed.
    pub fn drain(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Release);
        for sock in self.lock().values() {
            let _ = sock.shutdown(Shutdown::Read);
        }
        let until = Instant::now() + grace;
        while !self.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for sock in self.lock().values() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}
