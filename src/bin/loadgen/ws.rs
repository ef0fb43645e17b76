//! The WebSocket client: the upgrade handshake, opening many sockets at
//! once, masked client frames, and a parser for the (unmasked,
//! unfragmented) server frames, plus the byte scanning used on payloads.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;

use rustls::ClientConnection;

use crate::client::{Ep, Head, Stream, connect, parse_head};
use crate::error::BenchError;
use crate::room::User;

const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A handshaken WebSocket: the socket and any bytes read past the 101 head.
pub struct Ws {
    pub sock: TcpStream,
    /// The TLS connection over `sock` (TLS runs only).
    pub tls: Option<Box<ClientConnection>>,
    pub leftover: Vec<u8>,
}

/// Opens a WebSocket on `group` as `user`: the upgrade request, its 101
/// answer and the accept key; errors name the `ws handshake`.
pub fn ws_connect(ep: &Ep, group: i64, user: &User) -> Result<Ws, BenchError> {
    let (s, mut buf, (n, status, headers)) =
        upgrade(ep, group, user).map_err(|e| BenchError::in_request("ws handshake", e))?;
    if status != 101 {
        return Err(BenchError::Status {
            request: "ws handshake".into(),
            status,
            body: None,
        });
    }
    let want = tungstenite::handshake::derive_accept_key(WS_KEY.as_bytes());
    if !headers
        .iter()
        .any(|(k, v)| k == "sec-websocket-accept" && v.trim() == want)
    {
        return Err(BenchError::in_request(
            "ws handshake",
            BenchError::WrongAccept,
        ));
    }
    let mut leftover = buf.split_off(n);
    let (sock, tls) = s.into_parts(&mut leftover);
    let _ = sock.set_read_timeout(None);
    Ok(Ws {
        sock,
        tls,
        leftover,
    })
}

/// Sends the upgrade request and reads up to the end of the answer's head:
/// (stream, bytes read, head).
fn upgrade(ep: &Ep, group: i64, user: &User) -> Result<(Stream, Vec<u8>, Head), BenchError> {
    let mut s = connect(ep)?;
    let req = format!(
        "GET /ws/chat/{group} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Origin: {}\r\nCookie: session={}\r\n\r\n",
        ep.port,
        ep.origin(),
        user.session
    );
    s.write_all(req.as_bytes())
        .and_then(|()| s.flush())
        .map_err(|error| BenchError::Io {
            doing: "send",
            error,
        })?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(h) = parse_head(&buf)? {
            return Ok((s, buf, h));
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err(BenchError::Closed),
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(BenchError::Io {
                    doing: "receive",
                    error,
                });
            }
        }
    }
}

/// Opens `n` sockets on `group`, socket i for user i % users, from a few
/// threads at once.
pub fn open_many(ep: &Ep, group: i64, users: &[User], n: usize) -> Result<Vec<Ws>, BenchError> {
    const THREADS: usize = 4;
    let results: Vec<Vec<(usize, Result<Ws, BenchError>)>> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for i in (t..n).step_by(THREADS) {
                        let r = ws_connect(ep, group, &users[i % users.len()]);
                        let failed = r.is_err();
                        out.push((i, r));
                        if failed {
                            break;
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<(usize, Result<Ws, BenchError>)> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    let total = all.len();
    let mut out = Vec::with_capacity(n);
    for (i, r) in all {
        match r {
            Ok(ws) => out.push(ws),
            Err(e) => {
                return Err(BenchError::Socket {
                    index: i,
                    of: n,
                    tried: total,
                    error: Box::new(e),
                });
            }
        }
    }
    if out.len() != n {
        return Err(BenchError::Incomplete {
            verb: "opened",
            noun: "sockets",
            got: out.len(),
            want: n,
        });
    }
    Ok(out)
}

/// A masked client text frame.
pub fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// One server frame.
pub enum Event<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close(u16),
    Other,
}

/// Parses whole frames from `buf`, calling `f` for each; returns the bytes
/// used. Server frames are unmasked and unfragmented.
pub fn parse_frames(buf: &[u8], mut f: impl FnMut(Event<'_>)) -> usize {
    let mut pos = 0;
    loop {
        let rest = &buf[pos..];
        if rest.len() < 2 {
            return pos;
        }
        let (b0, b1) = (rest[0], rest[1]);
        let (mut hdr, len) = match b1 & 0x7f {
            126 if rest.len() >= 4 => (4, u16::from_be_bytes([rest[2], rest[3]]) as usize),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (10, u64::from_be_bytes(b) as usize)
            }
            126 | 127 => return pos,
            l => (2, l as usize),
        };
        let masked = b1 & 0x80 != 0;
        if masked {
            hdr += 4;
        }
        if rest.len() < hdr + len {
            return pos;
        }
        let payload = &rest[hdr..hdr + len];
        match b0 & 0x0f {
            0x1 => f(Event::Text(payload)),
            0x8 => f(Event::Close(if len >= 2 {
                u16::from_be_bytes([payload[0], payload[1]])
            } else {
                1005
            })),
            0x9 => f(Event::Ping(payload)),
            _ => f(Event::Other),
        }
        pos += hdr + len;
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn parse_u64(b: &[u8]) -> Option<(u64, usize)> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = b[..n]
        .iter()
        .fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0'));
    Some((v, n))
}

/// Writes `data` on a WebSocket's socket, through its TLS connection if it
/// has one. (Non-blocking sockets: best effort, as for pongs.)
pub fn ws_write(
    sock: &TcpStream,
    tls: Option<&mut ClientConnection>,
    data: &[u8],
) -> io::Result<()> {
    match tls {
        None => (&*sock).write_all(data),
        Some(c) => {
            c.writer().write_all(data)?;
            while c.wants_write() {
                c.write_tls(&mut &*sock)?;
            }
            Ok(())
        }
    }
}

/// A masked pong answering a ping with `payload`.
pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 6);
    client_frame(
        0xA,
        &payload[..payload.len().min(125)],
        [7, 1, 3, 9],
        &mut f,
    );
    f
}

/// Answers a ping on a receiving socket (best effort).
pub fn pong(sock: &TcpStream, tls: Option<&mut ClientConnection>, payload: &[u8]) {
    let _ = ws_write(sock, tls, &pong_frame(payload));
}
