//! One WebSocket's send side. Frames go straight to the socket with a
//! non-blocking send while nothing is queued (the fast path); whatever the
//! kernel does not take is queued, and a writer thread exists only while
//! that backlog does, flushing all pending frames with one `writev`. All of
//! it happens under a small per-socket lock, so concurrent senders can never
//! interleave or reorder frames. A socket whose backlog passes the byte
//! budget is a slow consumer: it is closed (1008) without slowing anyone.
//!
//! The bytes leave through a `Wire`: the connection's TCP socket in the
//! server, a buffer that can play a full socket in the unit tests below.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use socket2::SockRef;

use super::frame::{self, Frame};
use crate::net::transport::{self, Tls, lock_tls};

/// Unsent bytes a socket may hold before it counts as a slow consumer.
pub const BUDGET: usize = 4 * 1024 * 1024;
/// A writer gives up on a client that accepts nothing for this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames per `writev`.
const BATCH: usize = 64;
const WRITER_STACK: usize = 64 * 1024;

/// Who is on the other end, and by which session.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub ip: IpAddr,
    /// The SHA-256 (hex) of the session token the socket opened with.
    pub session: Arc<str>,
    /// When that session expires (Unix ms).
    pub expires_at: i64,
}

/// Where a socket's bytes go.
pub trait Wire: Send + Sync {
    /// Sends what the kernel takes now without waiting; an error of kind
    /// `WouldBlock` when it takes nothing.
    fn send_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Sends, waiting up to the socket's write timeout (the writer thread).
    fn send_wait(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Ends one or both directions; ending reads wakes the socket's reader.
    fn shutdown(&self, how: Shutdown);
}

impl Wire for TcpStream {
    fn send_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        loop {
            match SockRef::from(self).send_vectored_with_flags(bufs, flags) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn send_wait(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn shutdown(&self, how: Shutdown) {
        let _ = TcpStream::shutdown(self, how);
    }
}

pub struct Peer {
    pub id: u64,
    pub who: Identity,
    wire: Arc<dyn Wire>,
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
    /// Frames at the front of `queue` the writer is writing now (outside
    /// the lock); they must stay there until it has counted them.
    in_flight: usize,
    /// A close frame is queued; nothing more is accepted.
    closing: bool,
    /// The socket is shut down.
    dead: bool,
}

impl Peer {
    /// The send side of a socket writing to `wire`, sealing records with
    /// `tls` when the connection is TLS.
    pub fn new(id: u64, who: Identity, wire: Arc<dyn Wire>, tls: Option<Tls>) -> Arc<Peer> {
        Arc::new(Peer {
            id,
            who,
            wire,
            tls,
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
        crate::sync::lock(&self.out)
    }

    /// Whether a close was queued (or the socket is gone).
    pub fn is_closing(&self) -> bool {
        let out = self.lock();
        out.closing || out.dead
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
            match send_now(&*self.wire, frames) {
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
    pub(super) fn feed_tls(self: &Arc<Self>, tls: &Tls, bytes: &[u8]) -> io::Result<()> {
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
        match self.wire.send_now(&[IoSlice::new(&frame)]) {
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
                out.in_flight = batch.len();
                offset = out.offset;
            }
            let slices: Vec<IoSlice<'_>> = batch
                .iter()
                .enumerate()
                .map(|(i, f)| IoSlice::new(if i == 0 { &f[offset..] } else { &f[..] }))
                .collect();
            let written = self.wire.send_wait(&slices);
            let mut out = self.lock();
            out.in_flight = 0;
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

    /// Slow consumer: drop what is queued (keeping a partly written frame
    /// and whatever the writer is writing now, so the stream stays
    /// well-formed), queue a 1008 close, and wake the reader so the socket
    /// leaves its rooms now.
    fn evict(self: &Arc<Self>, out: &mut Out) {
        crate::metrics::inc(&crate::metrics::SLOW_CONSUMERS);
        let keep = out.in_flight.max(usize::from(out.offset > 0));
        out.queue.truncate(keep);
        // A non-zero offset always belongs to a kept front frame.
        out.queued = out.queue.iter().map(|f| f.len()).sum::<usize>() - out.offset;
        let close = self
            .seal(&frame::close(1008, "too slow: messages were not read"))
            .unwrap_or_else(|| Frame::from(&b""[..]));
        out.queued += close.len();
        out.queue.push_back(close);
        out.closing = true;
        self.wire.shutdown(Shutdown::Read);
    }

    /// Once a closing socket has nothing left to write, end it.
    fn maybe_finish(&self, out: &mut Out) {
        if out.closing && out.queue.is_empty() && !out.dead {
            self.wire.shutdown(Shutdown::Write);
        }
    }

    fn kill(&self, out: &mut Out) {
        out.dead = true;
        out.queue.clear();
        out.queued = 0;
        self.wire.shutdown(Shutdown::Both);
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

/// Writes as much of `frames` as the wire takes now; taking nothing counts
/// as 0 bytes.
fn send_now(wire: &dyn Wire, frames: &[Frame]) -> io::Result<usize> {
    let mut total = 0;
    for chunk in frames.chunks(BATCH) {
        let slices: Vec<IoSlice<'_>> = chunk.iter().map(|f| IoSlice::new(f)).collect();
        let want: usize = chunk.iter().map(|f| f.len()).sum();
        match wire.send_now(&slices) {
            Ok(n) => {
                total += n;
                if n < want {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// The stream tungstenite reads from (the connection's socket, through
/// rustls under TLS) and writes its own control frames to (the peer).
pub struct PeerIo {
    pub peer: Arc<Peer>,
    pub sock: Arc<TcpStream>,
}

impl io::Read for PeerIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.peer.tls {
            None => io::Read::read(&mut &*self.sock, buf),
            Some(tls) => read_tls(&self.peer, &self.sock, tls, buf),
        }
    }
}

/// A read under TLS. Apart from the plain path on purpose: its 4 KiB
/// buffer would otherwise sit in the frame of every read, and the stack
/// probe of a frame that large touches its pages — resident stack every
/// idle plain socket would keep (measured: 4 KiB each).
#[inline(never)]
fn read_tls(peer: &Arc<Peer>, sock: &TcpStream, tls: &Tls, buf: &mut [u8]) -> io::Result<usize> {
    let mut raw = [0u8; 4096];
    loop {
        if let Some(r) = transport::take_plain(&mut lock_tls(tls), buf) {
            return r;
        }
        // Wait for the socket without holding the TLS lock.
        let n = io::Read::read(&mut &*sock, &mut raw)?;
        if n == 0 {
            return Ok(transport::end_of_stream(&mut lock_tls(tls), buf));
        }
        peer.feed_tls(tls, &raw[..n])?;
    }
}

impl io::Write for PeerIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.peer.send_raw(buf).map(|_| buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::sync::Condvar;
    use std::time::Instant;

    /// A socket in memory: takes at most `room` more bytes until the test
    /// makes more room (the client reading), and records every shutdown.
    #[derive(Default)]
    pub struct MemWire {
        state: Mutex<MemState>,
        more: Condvar,
    }

    #[derive(Default)]
    pub struct MemState {
        pub bytes: Vec<u8>,
        pub room: usize,
        pub shut: Vec<Shutdown>,
        /// `send_now` calls that took something, and how many slices each had.
        pub writes: Vec<usize>,
        /// Writers blocked in `send_wait` right now.
        pub waiting: usize,
    }

    impl MemWire {
        pub fn with_room(room: usize) -> Arc<MemWire> {
            let w = Arc::new(MemWire::default());
            w.state.lock().unwrap().room = room;
            w
        }

        pub fn state(&self) -> MutexGuard<'_, MemState> {
            self.state.lock().unwrap()
        }

        /// The client reads: `n` more bytes fit.
        pub fn make_room(&self, n: usize) {
            self.state().room += n;
            self.more.notify_all();
        }

        fn take(st: &mut MemState, bufs: &[IoSlice<'_>]) -> usize {
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(st.room - n);
                st.bytes.extend_from_slice(&b[..k]);
                n += k;
                if k < b.len() {
                    break;
                }
            }
            st.room -= n;
            st.writes.push(bufs.len());
            n
        }
    }

    impl Wire for MemWire {
        fn send_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut st = self.state();
            if st.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(Self::take(&mut st, bufs))
        }

        fn send_wait(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let until = Instant::now() + Duration::from_secs(5);
            let mut st = self.state();
            st.waiting += 1;
            while st.room == 0 {
                let Some(left) = until.checked_duration_since(Instant::now()) else {
                    st.waiting -= 1;
                    return Err(io::ErrorKind::TimedOut.into());
                };
                st = self.more.wait_timeout(st, left).unwrap().0;
            }
            st.waiting -= 1;
            Ok(Self::take(&mut st, bufs))
        }

        fn shutdown(&self, how: Shutdown) {
            self.state().shut.push(how);
        }
    }

    /// Socket `id` of user `user_id`, from 127.0.0.1.
    pub fn peer(id: u64, user_id: i64, name: &str, wire: &Arc<MemWire>) -> Arc<Peer> {
        let who = Identity {
            user_id,
            username: name.into(),
            ip: [127, 0, 0, 1].into(),
            session: Arc::from(format!("session-{id}")),
            expires_at: i64::MAX,
        };
        Peer::new(id, who, Arc::clone(wire) as Arc<dyn Wire>, None)
    }

    fn text(s: &str) -> Frame {
        frame::text(s.as_bytes())
    }

    /// Waits (bounded) until `cond` holds for the wire's state.
    fn eventually(wire: &MemWire, cond: impl Fn(&MemState) -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if cond(&wire.state()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn frames_go_straight_out_while_the_socket_takes_them() {
        let wire = MemWire::with_room(1 << 20);
        let p = peer(1, 1, "a", &wire);
        assert!(p.send(&text("one")));
        assert!(p.send_many(&[text("two"), text("three")]));
        let want = [text("one"), text("two"), text("three")].concat();
        let st = wire.state();
        assert_eq!(st.bytes, want);
        // Two frames sent together went out in one vectored write.
        assert_eq!(st.writes, vec![1, 2]);
        assert!(!p.lock().writer, "no writer thread for an idle socket");
    }

    #[test]
    fn a_full_socket_queues_in_order_and_the_writer_flushes_it() {
        let wire = MemWire::with_room(5);
        let p = peer(1, 1, "a", &wire);
        let frames: Vec<Frame> = (0..50).map(|i| text(&format!("frame {i}"))).collect();
        for f in &frames[..10] {
            assert!(p.send(f));
        }
        assert!(p.send_many(&frames[10..]));
        assert!(p.lock().queued > 0, "the rest waits for the client");
        wire.make_room(1 << 20);
        let want = frames.concat();
        assert!(eventually(&wire, |st| st.bytes.len() == want.len()));
        assert_eq!(
            wire.state().bytes,
            want,
            "every byte, in order, frames whole"
        );
        assert!(eventually(&wire, |_| !p.lock().writer), "the writer exits");
    }

    #[test]
    fn a_slow_consumer_is_evicted_with_1008_and_its_reader_woken() {
        let wire = MemWire::with_room(0);
        let p = peer(1, 1, "a", &wire);
        let big = frame::text(&vec![b'x'; 64 * 1024]);
        // The writer is mid-write (blocked on the client) when the budget
        // runs out: what it is writing must stay, or the stream breaks.
        assert!(p.send(&big));
        assert!(eventually(&wire, |st| st.waiting == 1));
        let mut open = true;
        for _ in 0..(BUDGET / big.len() + 2) {
            open = p.send(&big);
            if !open {
                break;
            }
        }
        assert!(!open, "over the budget the socket is refused");
        assert!(!p.send(&text("late")), "nothing more is accepted");
        assert_eq!(wire.state().shut, vec![Shutdown::Read]);
        wire.make_room(usize::MAX / 2);
        let close = frame::close(1008, "too slow: messages were not read");
        assert!(eventually(&wire, |st| st.bytes.ends_with(&close)));
        assert!(eventually(&wire, |st| st.shut.contains(&Shutdown::Write)));
    }

    #[test]
    fn close_goes_after_what_is_queued_then_the_socket_ends() {
        let wire = MemWire::with_room(3);
        let p = peer(1, 1, "a", &wire);
        p.send(&text("hello"));
        p.close(4000, "bye");
        assert!(!p.send(&text("after close")));
        wire.make_room(1 << 20);
        let want = [text("hello"), frame::close(4000, "bye")].concat();
        assert!(eventually(&wire, |st| st.shut.contains(&Shutdown::Write)));
        assert_eq!(wire.state().bytes, want);
    }
}
