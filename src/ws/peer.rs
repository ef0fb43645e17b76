//! One WebSocket's send side. Frames go straight to the socket with a
//! non-blocking send while nothing is queued (the fast path); whatever the
//! kernel does not take is queued, and a writer thread exists only while
//! that backlog does, flushing all pending frames with one `writev`. All of
//! it happens under a small per-socket lock, so concurrent senders can never
//! interleave or reorder frames. A socket whose backlog passes the byte
//! budget is a slow consumer: it is closed (1008) without slowing anyone.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::frame::{self, Frame};
use crate::net::transport::{self, Conn, Tls, lock_tls};

/// Unsent bytes a socket may hold before it counts as a slow consumer.
pub const BUDGET: usize = 4 * 1024 * 1024;
/// A writer gives up on a client that accepts nothing for this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames per `writev`.
const BATCH: usize = 64;
const WRITER_STACK: usize = 64 * 1024;

/// Who is on the other end.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub ip: IpAddr,
}

pub struct Peer {
    pub id: u64,
    pub who: Identity,
    sock: Arc<TcpStream>,
    /// Under TLS, every frame is encrypted for this socket under `out`'s
    /// lock, so records are queued in the order they were sealed.
    tls: Option<Tls>,
    out: Mutex<Out>,
}

#[derive(Default)]
struct Out {
    queue: VecDeque<Frame>,
    /// Bytes of `queue.front()` already written.
    offset: usize,
    /// Unwritten bytes in `queue`.
    queued: usize,
    /// A writer thread is running.
    writer: bool,
    /// A close frame is queued; nothing more is accepted.
    closing: bool,
    /// The socket is shut down.
    dead: bool,
}

impl Peer {
    pub fn new(id: u64, who: Identity, conn: &Conn) -> Arc<Peer> {
        let _ = conn.sock.set_write_timeout(Some(WRITE_TIMEOUT));
        Arc::new(Peer {
            id,
            who,
            sock: Arc::clone(&conn.sock),
            tls: conn.tls.clone(),
            out: Mutex::new(Out::default()),
        })
    }

    /// The bytes to put on the wire for `frame`: itself, or under TLS its
    /// encryption (call with `out` locked).
    fn seal(&self, frame: &Frame) -> Option<Frame> {
        let Some(tls) = &self.tls else {
            return Some(frame.clone());
        };
        let mut out = Vec::with_capacity(frame.len() + 64);
        match transport::seal(&mut lock_tls(tls), frame, &mut out) {
            Ok(()) => Some(out.into()),
            Err(e) => {
                crate::warn!("ws {}: TLS encryption failed: {e}", self.id);
                None
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Queues a frame. Returns false when the socket is closing or was just
    /// evicted as a slow consumer.
    pub fn send(self: &Arc<Self>, frame: &Frame) -> bool {
        let mut out = self.lock();
        if out.closing || out.dead {
            return false;
        }
        match self.seal(frame) {
            Some(sealed) => self.push(&mut out, sealed),
            None => self.kill(&mut out),
        }
        self.delivered(&mut out, 1)
    }

    /// Queues several frames at once: with nothing queued, they go out in
    /// one non-blocking vectored write (one TLS seal under TLS).
    pub fn send_many(self: &Arc<Self>, frames: &[Frame]) -> bool {
        if frames.len() == 1 {
            return self.send(&frames[0]);
        }
        let mut out = self.lock();
        if out.closing || out.dead {
            return false;
        }
        if let Some(tls) = &self.tls {
            let mut sealed = Vec::with_capacity(frames.iter().map(|f| f.len() + 32).sum());
            let mut c = lock_tls(tls);
            // One plaintext run sealed at once: full 16 KiB records instead
            // of one small record (and one AEAD pass) per frame.
            let ok = transport::seal(&mut c, &frames.concat(), &mut sealed).is_ok();
            drop(c);
            if ok {
                self.push(&mut out, sealed.into());
            } else {
                crate::warn!("ws {}: TLS encryption failed", self.id);
                self.kill(&mut out);
            }
        } else if out.queue.is_empty() && !out.writer {
            match writev_nonblocking(&self.sock, frames) {
                Ok(mut n) => {
                    for f in frames {
                        if n >= f.len() {
                            n -= f.len();
                            continue;
                        }
                        out.queued += f.len() - n;
                        if out.queue.is_empty() {
                            out.offset = n;
                        }
                        out.queue.push_back(f.clone());
                        n = 0;
                    }
                    if !out.queue.is_empty() {
                        self.start_writer(&mut out);
                    }
                }
                Err(_) => self.kill(&mut out),
            }
        } else {
            for f in frames {
                out.queued += f.len();
                out.queue.push_back(f.clone());
            }
        }
        self.delivered(&mut out, frames.len())
    }

    /// Counts delivered frames and evicts a socket over its byte budget.
    /// Returns whether the socket is still open.
    fn delivered(self: &Arc<Self>, out: &mut Out, frames: usize) -> bool {
        crate::metrics::DELIVERIES.fetch_add(frames as u64, std::sync::atomic::Ordering::Relaxed);
        if out.queued <= BUDGET {
            return true;
        }
        crate::info!(
            "ws {}: slow consumer evicted ({} bytes queued)",
            self.id,
            out.queued
        );
        self.evict(out);
        false
    }

    /// Bytes written by tungstenite itself (pongs, close replies).
    fn send_raw(self: &Arc<Self>, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.lock();
        if out.dead {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if !out.closing {
            match self.seal(&Frame::from(bytes)) {
                Some(sealed) => self.push(&mut out, sealed),
                None => self.kill(&mut out),
            }
        }
        Ok(())
    }

    /// Feeds bytes read from the socket to rustls; anything rustls must
    /// send in answer (alerts, key updates) joins the send queue in order.
    fn feed_tls(self: &Arc<Self>, tls: &Tls, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.lock();
        let mut c = lock_tls(tls);
        let result = transport::ingest(&mut c, bytes);
        if c.wants_write() {
            let records: Frame = transport::drain(&mut c).into();
            drop(c);
            self.push(&mut out, records);
        }
        result
    }

    /// Sends a close frame after everything already queued; the socket is
    /// shut down once it is written.
    pub fn close(self: &Arc<Self>, code: u16, reason: &str) {
        let mut out = self.lock();
        if out.closing || out.dead {
            return;
        }
        match self.seal(&frame::close(code, reason)) {
            Some(sealed) => self.push(&mut out, sealed),
            None => self.kill(&mut out),
        }
        if let Some(tls) = &self.tls {
            let mut c = lock_tls(tls);
            c.send_close_notify();
            let records: Frame = transport::drain(&mut c).into();
            drop(c);
            self.push(&mut out, records);
        }
        out.closing = true;
        self.maybe_finish(&mut out);
    }

    /// Called when the reader is done: shut the socket once the queue is
    /// written (at once if it is empty).
    pub fn finish(self: &Arc<Self>) {
        let mut out = self.lock();
        out.closing = true;
        self.maybe_finish(&mut out);
        if !out.writer {
            self.kill(&mut out);
        }
    }

    fn push(self: &Arc<Self>, out: &mut Out, frame: Frame) {
        if out.dead {
            return;
        }
        if !out.queue.is_empty() || out.writer {
            out.queued += frame.len();
            out.queue.push_back(frame);
            return;
        }
        match send_nonblocking(&self.sock, &frame) {
            Ok(n) if n == frame.len() => return,
            Ok(n) => {
                out.offset = n;
                out.queued += frame.len() - n;
                out.queue.push_back(frame);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                out.offset = 0;
                out.queued += frame.len();
                out.queue.push_back(frame);
            }
            Err(_) => {
                self.kill(out);
                return;
            }
        }
        self.start_writer(out);
    }

    fn start_writer(self: &Arc<Self>, out: &mut Out) {
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ws-writer".into())
            .stack_size(WRITER_STACK)
            .spawn(move || me.write_backlog());
        match spawned {
            Ok(_) => out.writer = true,
            Err(_) => self.kill(out),
        }
    }

    /// The writer thread: flush the backlog, then exit.
    fn write_backlog(self: Arc<Self>) {
        let mut batch: Vec<Frame> = Vec::with_capacity(BATCH);
        loop {
            let offset;
            {
                let mut out = self.lock();
                if out.queue.is_empty() || out.dead {
                    out.writer = false;
                    self.maybe_finish(&mut out);
                    return;
                }
                batch.clear();
                batch.extend(out.queue.iter().take(BATCH).cloned());
                offset = out.offset;
            }
            let slices: Vec<IoSlice<'_>> = batch
                .iter()
                .enumerate()
                .map(|(i, f)| IoSlice::new(if i == 0 { &f[offset..] } else { &f[..] }))
                .collect();
            let written = (&*self.sock).write_vectored(&slices);
            let mut out = self.lock();
            match written {
                Ok(n) if n > 0 => advance(&mut out, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => {
                    out.writer = false;
                    self.kill(&mut out);
                    return;
                }
            }
        }
    }

    /// Slow consumer: drop what is queued (keeping a partly written frame so
    /// the stream stays well-formed), queue a 1008 close, and wake the
    /// reader so the socket leaves its rooms now.
    fn evict(self: &Arc<Self>, out: &mut Out) {
        crate::metrics::inc(&crate::metrics::SLOW_CONSUMERS);
        let keep = usize::from(out.offset > 0);
        out.queue.truncate(keep);
        out.queued = out.queue.front().map_or(0, |f| f.len() - out.offset);
        let close = self
            .seal(&frame::close(1008, "too slow: messages were not read"))
            .unwrap_or_else(|| Frame::from(&b""[..]));
        out.queued += close.len();
        out.queue.push_back(close);
        out.closing = true;
        let _ = self.sock.shutdown(Shutdown::Read);
    }

    /// Once a closing socket has nothing left to write, end it.
    fn maybe_finish(&self, out: &mut Out) {
        if out.closing && out.queue.is_empty() && !out.dead {
            let _ = self.sock.shutdown(Shutdown::Write);
        }
    }

    fn kill(&self, out: &mut Out) {
        out.dead = true;
        out.queue.clear();
        out.queued = 0;
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

fn advance(out: &mut Out, mut n: usize) {
    while n > 0 {
        let Some(front) = out.queue.front() else {
            break;
        };
        let rest = front.len() - out.offset;
        if n >= rest {
            n -= rest;
            out.queued -= rest;
            out.queue.pop_front();
            out.offset = 0;
        } else {
            out.offset += n;
            out.queued -= n;
            n = 0;
        }
    }
}

fn send_nonblocking(sock: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: send(2) reads `bytes.len()` bytes from a live slice.
        let n = unsafe {
            libc::send(
                sock.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes as much of `frames` as the socket takes now (`MSG_DONTWAIT`);
/// `WouldBlock` counts as 0 bytes.
fn writev_nonblocking(sock: &TcpStream, frames: &[Frame]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut total = 0;
    for chunk in frames.chunks(BATCH) {
        let mut iov: Vec<libc::iovec> = chunk
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let want: usize = chunk.iter().map(|f| f.len()).sum();
        // SAFETY: a zeroed msghdr with only the iovec array set; the
        // iovecs point into frames that outlive the call.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = iov.as_mut_ptr();
            msg.msg_iovlen = iov.len() as _;
            libc::sendmsg(
                sock.as_raw_fd(),
                &msg,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(total),
                _ if total > 0 => Ok(total),
                _ => Err(e),
            };
        }
        total += n as usize;
        if (n as usize) < want {
            break;
        }
    }
    Ok(total)
}

/// The stream tungstenite reads from and writes its own control frames to.
pub struct PeerIo(pub Arc<Peer>);

impl io::Read for PeerIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let peer = &self.0;
        let Some(tls) = &peer.tls else {
            return io::Read::read(&mut &*peer.sock, buf);
        };
        let mut raw = [0u8; 4096];
        loop {
            if let Some(r) = transport::take_plain(&mut lock_tls(tls), buf) {
                return r;
            }
            // Wait for the socket without holding the TLS lock.
            let n = io::Read::read(&mut &*peer.sock, &mut raw)?;
            if n == 0 {
                return Ok(transport::end_of_stream(&mut lock_tls(tls), buf));
            }
            peer.feed_tls(tls, &raw[..n])?;
        }
    }
}

impl io::Write for PeerIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_raw(buf).map(|_| buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
