//! The sender: one WebSocket that sends the scenario's messages (as fast
//! as it can, or paced) with their send time in the content, while a second
//! thread reads its own socket for acks and errors; or, for measuring how
//! fast the server stores messages, one thread that keeps a bounded window
//! of messages awaiting their ack.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::ClientConnection;

use serde_json::json;

use crate::client::tls_feed;
use crate::clock::now_ns;
use crate::error::BenchError;
use crate::ws::{Event, Ws, client_frame, find, parse_frames, parse_u64, pong_frame, ws_write};

/// A fan-out run ends when nothing arrives for this long after the last send.
pub const QUIET: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct SenderResult {
    pub first_ns: u64,
    pub last_ns: u64,
    pub sent: usize,
    pub acks: u64,
    pub ack_lat_ns: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub close: Option<u16>,
    pub write_error: Option<String>,
}

/// The sender's TLS connection, shared by its writer and reader threads.
struct SharedTls {
    conn: Mutex<Box<ClientConnection>>,
    /// Held from sealing a record until it is on the socket, so records
    /// reach the wire in sequence-number order.
    write: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `data` on the sender's (blocking) socket, through TLS if any.
/// The connection lock is not held while the socket write blocks.
fn send_on(
    sock: &TcpStream,
    tls: Option<&SharedTls>,
    data: &[u8],
    sealed: &mut Vec<u8>,
) -> io::Result<()> {
    let Some(t) = tls else {
        return (&*sock).write_all(data);
    };
    let _order = lock(&t.write);
    sealed.clear();
    {
        let mut c = lock(&t.conn);
        c.writer().write_all(data)?;
        while c.wants_write() {
            c.write_tls(sealed)?;
        }
    }
    (&*sock).write_all(sealed)
}

/// `send_messages` on a thread of its own, named "sender".
pub fn spawn_sender(
    ws: Ws,
    n: usize,
    size: usize,
    rate: Option<f64>,
    limit: Instant,
) -> Result<thread::JoinHandle<SenderResult>, BenchError> {
    thread::Builder::new()
        .name("sender".into())
        .spawn(move || send_messages(ws, n, size, rate, limit))
        .map_err(|error| BenchError::Thread {
            name: "sender".into(),
            error,
        })
}

/// Sends `n` messages (as fast as possible, or at `rate`/s) and reads the
/// sender's own socket (acks, errors) on a second thread.
pub fn send_messages(
    ws: Ws,
    n: usize,
    size: usize,
    rate: Option<f64>,
    limit: Instant,
) -> SenderResult {
    let mut res = SenderResult::default();
    let tls: Option<Arc<SharedTls>> = ws.tls.map(|c| {
        Arc::new(SharedTls {
            conn: Mutex::new(c),
            write: Mutex::new(()),
        })
    });
    let reader_tls = tls.clone();
    let reader_sock = match ws.sock.try_clone() {
        Ok(s) => s,
        Err(e) => {
            res.write_error = Some(format!("try_clone: {e}"));
            return res;
        }
    };
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let acks_target = n as u64;
    let reader = thread::spawn(move || {
        let _ = reader_sock.set_read_timeout(Some(Duration::from_millis(100)));
        let mut pending = ws.leftover;
        let mut buf = vec![0u8; 64 * 1024];
        let (mut acks, mut errors, mut first_error, mut close) = (0u64, 0u64, None, None);
        let mut acked: Vec<(usize, u64)> = Vec::with_capacity(acks_target as usize);
        let mut quiet_since: Option<Instant> = None;
        let mut now = now_ns();
        let mut sealed = Vec::new();
        let mut tls_error: Option<String> = None;
        loop {
            let mut ping: Option<Vec<u8>> = None;
            let used = parse_frames(&pending, |ev| match ev {
                Event::Text(p) => {
                    if find(p, b"\"type\":\"ack\"").is_some() {
                        acks += 1;
                        const CID: &[u8] = b"\"client_id\":\"c";
                        let at = find(p, CID).map(|i| i + CID.len());
                        if let Some((i, _)) = at.and_then(|at| parse_u64(&p[at..])) {
                            acked.push((i as usize, now));
                        }
                    } else if find(p, b"\"type\":\"error\"").is_some() {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(String::from_utf8_lossy(p).into_owned());
                        }
                    }
                }
                Event::Ping(p) => ping = Some(p.to_vec()),
                Event::Close(c) => close = Some(c),
                Event::Other => {}
            });
            pending.drain(..used);
            if let Some(p) = ping {
                let _ = send_on(
                    &reader_sock,
                    reader_tls.as_deref(),
                    &pong_frame(&p),
                    &mut sealed,
                );
            }
            if done2.load(Ordering::Relaxed) {
                // Sending is over: stop once every ack is in or it went quiet.
                let q = *quiet_since.get_or_insert_with(Instant::now);
                if acks >= acks_target || q.elapsed() > QUIET || close.is_some() {
                    break;
                }
            }
            match (&reader_sock).read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    now = now_ns();
                    match reader_tls.as_deref() {
                        None => pending.extend_from_slice(&buf[..k]),
                        Some(t) => {
                            if let Err(e) = tls_feed(&mut lock(&t.conn), &buf[..k], &mut pending) {
                                tls_error = Some(format!("tls: {e}"));
                                break;
                            }
                        }
                    }
                    quiet_since = None;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => break,
            }
        }
        if first_error.is_none() {
            first_error = tls_error;
        }
        (acks, errors, first_error, close, acked)
    });

    let sock = ws.sock;
    let mut sealed = Vec::with_capacity(size + 256);
    let mut frame = Vec::with_capacity(size + 128);
    let mut mask_state: u32 = 0x9E37_79B9;
    let mut sent_at: Vec<u64> = Vec::with_capacity(n);
    let start = now_ns();
    for i in 0..n {
        if let Some(r) = rate {
            let due = start + (i as f64 * 1e9 / r) as u64;
            let now = now_ns();
            if due > now {
                thread::sleep(Duration::from_nanos(due - now));
            }
        }
        if Instant::now() > limit {
            res.write_error = Some(format!("time limit reached after {i} messages"));
            break;
        }
        let t = now_ns();
        let mut content = format!("t={t} i={i} ");
        while content.len() < size {
            content.push('x');
        }
        let payload = format!(r#"{{"type":"message","content":"{content}","client_id":"c{i}"}}"#);
        mask_state ^= mask_state << 13;
        mask_state ^= mask_state >> 17;
        mask_state ^= mask_state << 5;
        frame.clear();
        client_frame(
            0x1,
            payload.as_bytes(),
            mask_state.to_be_bytes(),
            &mut frame,
        );
        if let Err(e) = send_on(&sock, tls.as_deref(), &frame, &mut sealed) {
            res.write_error = Some(format!("write after {i} messages: {e}"));
            break;
        }
        sent_at.push(t);
        if i == 0 {
            res.first_ns = t;
        }
        res.last_ns = t;
        res.sent = i + 1;
    }
    done.store(true, Ordering::Relaxed);
    if let Ok((acks, errors, first_error, close, acked)) = reader.join() {
        res.ack_lat_ns = acked
            .iter()
            .filter_map(|&(i, t)| Some(t.saturating_sub(*sent_at.get(i)?)))
            .collect();
        res.ack_lat_ns.sort_unstable();
        res.acks = acks;
        res.errors = errors;
        res.first_error = first_error;
        res.close = close;
    }
    res
}

/// What [`send_windowed`] measured.
#[derive(Default)]
pub struct WindowResult {
    pub sent: usize,
    pub acks: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// When the first message was sent and the last ack came ([`now_ns`]).
    pub first_ns: u64,
    pub last_ack_ns: u64,
    /// Send→ack, sorted.
    pub ack_lat_ns: Vec<u64>,
}

impl WindowResult {
    /// Acknowledged messages per second, first send to last ack.
    pub fn per_second(&self) -> f64 {
        let span = self.last_ack_ns.saturating_sub(self.first_ns) as f64 / 1e9;
        if span > 0.0 {
            self.acks as f64 / span
        } else {
            0.0
        }
    }
}

/// Sends `n` messages on `ws`, never more than `window` of them unanswered
/// (an ack or an error answers one), reading the socket in the same thread.
/// Message `i` says `text(i)` and has client id `{tag}{i}` (`tag`: letters;
/// the server acks a client id it has seen again without storing it, so
/// every call needs its own). Fails if the server closes the socket or the
/// answers are not all in by `limit`.
pub fn send_windowed(
    ws: &mut Ws,
    n: usize,
    window: usize,
    tag: &str,
    mut text: impl FnMut(usize, &mut String),
    limit: Instant,
) -> Result<WindowResult, BenchError> {
    let io = |doing| move |error| BenchError::Io { doing, error };
    ws.sock
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(io("set a read timeout"))?;
    let mut res = WindowResult {
        ack_lat_ns: Vec::with_capacity(n),
        ..WindowResult::default()
    };
    let cid_mark = format!("\"client_id\":\"{tag}");
    let mut pending = std::mem::take(&mut ws.leftover);
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent_at: Vec<u64> = Vec::with_capacity(n);
    let mut content = String::with_capacity(256);
    let mut frame = Vec::with_capacity(512);
    let mut mask_state: u32 = 0x85EB_CA6B;
    let mut answered = 0;
    while answered < n {
        if Instant::now() > limit {
            return Err(BenchError::Incomplete {
                verb: "had answers for",
                noun: "messages before the time limit",
                got: answered,
                want: n,
            });
        }
        while res.sent < n && res.sent - answered < window {
            let i = res.sent;
            text(i, &mut content);
            let payload = json!({
                "type": "message",
                "content": content,
                "client_id": format!("{tag}{i}"),
            })
            .to_string();
            mask_state ^= mask_state << 13;
            mask_state ^= mask_state >> 17;
            mask_state ^= mask_state << 5;
            frame.clear();
            client_frame(
                0x1,
                payload.as_bytes(),
                mask_state.to_be_bytes(),
                &mut frame,
            );
            let t = now_ns();
            ws_write(&ws.sock, ws.tls.as_deref_mut(), &frame).map_err(io("send"))?;
            if i == 0 {
                res.first_ns = t;
            }
            sent_at.push(t);
            res.sent += 1;
        }
        match (&ws.sock).read(&mut buf) {
            Ok(0) => return Err(BenchError::Closed),
            Ok(k) => match ws.tls.as_deref_mut() {
                None => pending.extend_from_slice(&buf[..k]),
                Some(conn) => {
                    tls_feed(conn, &buf[..k], &mut pending).map_err(io("tls"))?;
                }
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io("receive")(e)),
        }
        let now = now_ns();
        let (mut ping, mut close) = (None, None);
        let used = parse_frames(&pending, |ev| match ev {
            Event::Text(p) if find(p, b"\"type\":\"ack\"").is_some() => {
                let at = find(p, cid_mark.as_bytes()).map(|i| i + cid_mark.len());
                if let Some((i, _)) = at.and_then(|at| parse_u64(&p[at..])) {
                    res.acks += 1;
                    answered += 1;
                    res.last_ack_ns = now;
                    if let Some(t) = sent_at.get(i as usize) {
                        res.ack_lat_ns.push(now.saturating_sub(*t));
                    }
                }
            }
            Event::Text(p) if find(p, b"\"type\":\"error\"").is_some() => {
                res.errors += 1;
                answered += 1;
                if res.first_error.is_none() {
                    res.first_error = Some(String::from_utf8_lossy(p).into_owned());
                }
            }
            Event::Ping(p) => ping = Some(pong_frame(p)),
            Event::Close(c) => close = Some(c),
            _ => {}
        });
        pending.drain(..used);
        if let Some(pong) = ping {
            ws_write(&ws.sock, ws.tls.as_deref_mut(), &pong).map_err(io("send"))?;
        }
        if let Some(code) = close {
            return Err(BenchError::Wrong {
                check: "the sending socket stays open",
                detail: format!("closed with {code} after {answered} answers"),
            });
        }
    }
    res.ack_lat_ns.sort_unstable();
    Ok(res)
}
