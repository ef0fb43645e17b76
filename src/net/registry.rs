//! Every open connection, so that shutdown can wake idle readers and wait
//! for in-flight requests, and so the connection cap can be enforced.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<Open>,
    stopping: AtomicBool,
}

#[derive(Default)]
struct Open {
    socks: HashMap<u64, (IpAddr, Arc<TcpStream>)>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server holds `--max-connections` already.
    Full,
    /// This address holds `--max-per-ip` already.
    TooManyFromIp,
}

/// Removes its connection from the registry when dropped.
pub struct Entry {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        if let Some((ip, _)) = open.socks.remove(&self.id)
            && let Some(n) = open.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        crate::sync::lock(&self.open)
    }

    /// Registers a connection unless `max` are open in all, or `max_per_ip`
    /// (0 = no limit) from this address.
    pub fn add(
        self: &Arc<Self>,
        sock: Arc<TcpStream>,
        ip: IpAddr,
        max: usize,
        max_per_ip: usize,
    ) -> Result<Entry, Refused> {
        let mut open = self.lock();
        if open.socks.len() >= max {
            return Err(Refused::Full);
        }
        let from_ip = open.per_ip.get(&ip).copied().unwrap_or(0);
        if max_per_ip > 0 && from_ip >= max_per_ip {
            return Err(Refused::TooManyFromIp);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.socks.insert(id, (ip, sock));
        open.per_ip.insert(ip, from_ip + 1);
        Ok(Entry {
            registry: Arc::clone(self),
            id,
        })
    }

    pub fn len(&self) -> usize {
        self.lock().socks.len()
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
        for (_, sock) in self.lock().socks.values() {
            let _ = sock.shutdown(Shutdown::Read);
        }
        let until = Instant::now() + grace;
        while !self.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, sock) in self.lock().socks.values() {
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}
