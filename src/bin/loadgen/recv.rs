//! The receivers: threads that each poll many non-blocking WebSockets
//! with epoll, decrypt (TLS runs), parse the server frames by hand and
//! record each message's send→receive latency and order.

use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use rustls::ClientConnection;

use crate::client::tls_feed;
use crate::clock::now_ns;
use crate::sys::{Epoll, EpollEvent};
use crate::ws::{Event, Ws, find, parse_frames, parse_u64, pong};

/// Where a message's stamp starts (`sender` writes `t=<ns> i=<index> ...`).
const CONTENT_MARK: &[u8] = b"\"content\":\"t=";

/// (send time, message index) from a `message` frame of this benchmark.
fn stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let at = find(payload, CONTENT_MARK)? + CONTENT_MARK.len();
    let (t, n) = parse_u64(&payload[at..])?;
    let rest = payload[at + n..].strip_prefix(b" i=")?;
    let (i, _) = parse_u64(rest)?;
    Some((t, i))
}

#[derive(Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub received: AtomicU64,
    /// `hello` frames seen: a socket is in its room once it has one.
    pub hellos: AtomicU64,
    /// Frames seen that are not this benchmark's messages (hellos,
    /// presence): while they still come, the room has not settled.
    pub others: AtomicU64,
}

const HELLO_MARK: &[u8] = b"{\"type\":\"hello\"";

/// Stops the receiver threads however the run ends.
pub struct StopOnDrop(pub Arc<Shared>);

impl Shared {
    /// Waits, looking every 20 ms (running `tick` each time), until
    /// `expected` deliveries came ("complete"), none came for `QUIET` since
    /// `sender_done` ("quiet"), or `limit` passed ("time limit").
    pub fn wait_delivered(
        &self,
        expected: u64,
        sender_done: impl Fn() -> bool,
        limit: std::time::Instant,
        mut tick: impl FnMut(),
    ) -> &'static str {
        let (mut last, mut since) = (0, std::time::Instant::now());
        loop {
            thread::sleep(Duration::from_millis(20));
            tick();
            let got = self.received.load(Ordering::Relaxed);
            if got >= expected {
                return "complete";
            }
            if got != last {
                (last, since) = (got, std::time::Instant::now());
            }
            if sender_done() && since.elapsed() > crate::sender::QUIET {
                return "quiet";
            }
            if std::time::Instant::now() > limit {
                return "time limit";
            }
        }
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

struct Conn {
    /// Its place among all receiving sockets.
    index: usize,
    sock: TcpStream,
    tls: Option<Box<ClientConnection>>,
    pending: Vec<u8>,
    msgs: u64,
    next: u64,
    close: Option<u16>,
    eof: bool,
}

#[derive(Default)]
pub struct RecvResult {
    pub lat_ns: Vec<u64>,
    pub msgs: u64,
    pub last_ns: u64,
    pub per_conn: Vec<u64>,
    pub out_of_order: u64,
    pub evicted: u64,
    pub closed_other: u64,
    pub eof: u64,
    pub frames_other: u64,
    pub reads: u64,
    pub polls: u64,
    pub tls_errors: u64,
    pub first_tls_error: Option<String>,
    /// The first few skipped runs seen: (socket, first missing index,
    /// index that came instead).
    pub gaps: Vec<(usize, u64, u64)>,
}

/// Gaps kept for the record (enough to see whether they share a message).
const GAPS_KEPT: usize = 20;

impl RecvResult {
    /// Adds another receiver thread's result to this one.
    pub fn merge(&mut self, r: RecvResult) {
        self.lat_ns.extend(r.lat_ns);
        self.msgs += r.msgs;
        self.last_ns = self.last_ns.max(r.last_ns);
        self.per_conn.extend(r.per_conn);
        self.out_of_order += r.out_of_order;
        self.evicted += r.evicted;
        self.closed_other += r.closed_other;
        self.eof += r.eof;
        self.frames_other += r.frames_other;
        self.reads += r.reads;
        self.polls += r.polls;
        self.tls_errors += r.tls_errors;
        if self.first_tls_error.is_none() {
            self.first_tls_error = r.first_tls_error;
        }
        let room = GAPS_KEPT.saturating_sub(self.gaps.len());
        self.gaps.extend(r.gaps.into_iter().take(room));
    }
}

#[derive(Default)]
struct Tally {
    hellos: u64,
    /// `frames_other` not yet added to [`Shared::others`].
    others: u64,
    lat_ns: Vec<u64>,
    out_of_order: u64,
    frames_other: u64,
    gaps: Vec<(usize, u64, u64)>,
}

/// Handles the frames in `c.pending` + `chunk` that arrived at `now`;
/// returns the message frames counted.
fn consume(c: &mut Conn, chunk: &[u8], now: u64, t: &mut Tally) -> u64 {
    let mut data = std::mem::take(&mut c.pending);
    let from_chunk = data.is_empty();
    if !from_chunk {
        data.extend_from_slice(chunk);
    }
    let buf: &[u8] = if from_chunk { chunk } else { &data };
    let before = c.msgs;
    let mut ping: Option<Vec<u8>> = None;
    let (msgs, next, close, index) = (&mut c.msgs, &mut c.next, &mut c.close, c.index);
    let used = parse_frames(buf, |ev| match ev {
        Event::Text(p) => match stamp(p) {
            Some((sent, idx)) => {
                *msgs += 1;
                t.lat_ns.push(now.saturating_sub(sent));
                if idx != *next {
                    t.out_of_order += 1;
                    if t.gaps.len() < GAPS_KEPT {
                        t.gaps.push((index, *next, idx));
                    }
                }
                *next = idx + 1;
            }
            None => {
                t.frames_other += 1;
                t.others += 1;
                t.hellos += u64::from(p.starts_with(HELLO_MARK));
            }
        },
        Event::Ping(p) => ping = Some(p.to_vec()),
        Event::Close(code) => *close = Some(code),
        Event::Other => {
            t.frames_other += 1;
            t.others += 1;
        }
    });
    if let Some(p) = ping {
        pong(&c.sock, c.tls.as_deref_mut(), &p);
    }
    if from_chunk {
        c.pending.extend_from_slice(&chunk[used..]);
    } else {
        data.drain(..used);
        c.pending = data;
    }
    c.msgs - before
}

fn publish_hellos(shared: &Shared, t: &mut Tally) {
    if t.hellos > 0 {
        shared
            .hellos
            .fetch_add(std::mem::take(&mut t.hellos), Ordering::Relaxed);
    }
    if t.others > 0 {
        shared
            .others
            .fetch_add(std::mem::take(&mut t.others), Ordering::Relaxed);
    }
}

/// One receiver thread: epoll over its sockets until `stop`.
///
/// While data is flowing the thread sleeps `poll_us` between polls instead
/// of blocking in `epoll_wait`: frames pile up per socket, every `read`
/// takes many of them at once, and the server's sends do not have to wake
/// a sleeping thread each time. This adds at most `poll_us` of latency.
pub fn receive(
    socks: Vec<(usize, Ws)>,
    shared: Arc<Shared>,
    expect: usize,
    poll_us: u64,
) -> RecvResult {
    let mut tally = Tally {
        lat_ns: Vec::with_capacity(expect),
        ..Tally::default()
    };
    let mut res = RecvResult::default();
    let ep = match Epoll::new() {
        Ok(ep) => ep,
        Err(e) => {
            eprintln!("epoll_create1: {e}");
            return res;
        }
    };
    let mut conns: Vec<Conn> = Vec::with_capacity(socks.len());
    for (i, (index, ws)) in socks.into_iter().enumerate() {
        let _ = ws.sock.set_nonblocking(true);
        ep.add(ws.sock.as_raw_fd(), i);
        let mut c = Conn {
            index,
            sock: ws.sock,
            tls: ws.tls,
            pending: Vec::new(),
            msgs: 0,
            next: 0,
            close: None,
            eof: false,
        };
        let n = consume(&mut c, &ws.leftover, now_ns(), &mut tally);
        shared.received.fetch_add(n, Ordering::Relaxed);
        publish_hellos(&shared, &mut tally);
        conns.push(c);
    }
    let mut events = vec![EpollEvent { events: 0, u64: 0 }; conns.len().clamp(16, 4096)];
    let mut buf = vec![0u8; 256 * 1024];
    // Decrypted bytes of one read (TLS runs).
    let mut plain: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut busy = false;
    while !shared.stop.load(Ordering::Relaxed) {
        if busy && poll_us > 0 {
            thread::sleep(Duration::from_micros(poll_us));
        }
        let timeout = if busy { 0 } else { 50 };
        let n = match ep.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("epoll_wait: {e}");
                break;
            }
        };
        busy = n > 0;
        res.polls += 1;
        let mut got = 0;
        for ev in &events[..n] {
            let idx = ev.u64 as usize;
            let c = &mut conns[idx];
            res.reads += 1;
            match (&c.sock).read(&mut buf) {
                Ok(0) => {
                    c.eof = true;
                    ep.delete(c.sock.as_raw_fd(), idx);
                }
                Ok(k) => {
                    let now = now_ns();
                    let data: &[u8] = match c.tls.as_deref_mut() {
                        None => &buf[..k],
                        Some(conn) => {
                            plain.clear();
                            match tls_feed(conn, &buf[..k], &mut plain) {
                                Ok(closed) => c.eof |= closed,
                                Err(e) => {
                                    res.tls_errors += 1;
                                    if res.first_tls_error.is_none() {
                                        res.first_tls_error = Some(e.to_string());
                                    }
                                    c.eof = true;
                                    ep.delete(c.sock.as_raw_fd(), idx);
                                }
                            }
                            &plain
                        }
                    };
                    let msgs = consume(c, data, now, &mut tally);
                    if msgs > 0 {
                        got += msgs;
                        res.last_ns = res.last_ns.max(now);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    c.eof = true;
                    ep.delete(c.sock.as_raw_fd(), idx);
                }
            }
        }
        if got > 0 {
            shared.received.fetch_add(got, Ordering::Relaxed);
        }
        publish_hellos(&shared, &mut tally);
    }
    drop(ep);
    for c in &conns {
        res.msgs += c.msgs;
        res.per_conn.push(c.msgs);
        match c.close {
            Some(1008) => res.evicted += 1,
            Some(_) => res.closed_other += 1,
            None if c.eof => res.eof += 1,
            None => {}
        }
    }
    res.lat_ns = tally.lat_ns;
    res.out_of_order = tally.out_of_order;
    res.frames_other = tally.frames_other;
    res.gaps = tally.gaps;
    res
}
