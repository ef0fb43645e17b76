//! WebSocket helpers: open a socket with a client's session cookie and
//! Origin (from a chosen source address, with extra headers, over plain TCP
//! or TLS), send JSON, and read JSON frames with timeouts.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use super::{Client, connect_from};

/// A client WebSocket, over TCP unless said otherwise.
pub type Ws<S = TcpStream> = WebSocket<S>;

/// A stream a socket can run over, whose reads can be given a time limit.
pub trait Stream: Read + Write {
    fn set_read_limit(&self, limit: Duration);
}

impl Stream for TcpStream {
    fn set_read_limit(&self, limit: Duration) {
        self.set_read_timeout(Some(limit)).unwrap();
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_read_limit(&self, limit: Duration) {
        self.sock.set_read_timeout(Some(limit)).unwrap();
    }
}

/// The headers an upgrade request from `c` carries: its cookies, `Origin`
/// (its own `http://` origin), then `extra`, which may replace either.
fn upgrade_headers(c: &Client, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![("Origin".to_string(), format!("http://{}", c.addr))];
    if !c.cookies.is_empty() {
        headers.push(("Cookie".into(), c.cookie_header()));
    }
    for (name, value) in extra {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value.to_string()));
    }
    headers
}

/// The WebSocket handshake for `url` over `stream`, with `c`'s cookies,
/// Origin and `extra` headers (see `connect_with`). Returns the socket, or
/// the HTTP status the server refused with.
pub fn handshake<S: Read + Write>(
    stream: S,
    url: &str,
    c: &Client,
    extra: &[(&str, &str)],
) -> Result<Ws<S>, u16> {
    let mut req = url.into_client_request().unwrap();
    for (name, value) in upgrade_headers(c, extra) {
        let name: tungstenite::http::HeaderName = name.parse().unwrap();
        req.headers_mut().insert(name, value.parse().unwrap());
    }
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// A TCP connection to `c`'s server, from the source address `from` when
/// given (e.g. `127.0.0.2`), with a 10 s read timeout.
fn tcp_to(c: &Client, from: Option<&str>) -> TcpStream {
    let stream = match from {
        Some(src) => connect_from(src, c.addr),
        None => TcpStream::connect(c.addr).unwrap(),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Opens `path` with the client's cookies and its own Origin, connecting
/// from `from` (a local address such as `127.0.0.2`, for presence by IP)
/// when given, and sending the `extra` headers too (an `Origin` among them
/// replaces the default). Returns the socket or the status it was refused with.
pub fn connect_with(
    c: &Client,
    path: &str,
    from: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<Ws, u16> {
    let url = format!("ws://{}{}", c.addr, path);
    handshake(tcp_to(c, from), &url, c, extra)
}

/// Opens `path` with the client's cookies and `origin` (by default its
/// own); returns the socket or the HTTP status the server refused with.
pub fn try_connect(c: &Client, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
    match origin {
        Some(o) => connect_with(c, path, None, &[("Origin", o)]),
        None => connect_with(c, path, None, &[]),
    }
}

pub fn connect(c: &Client, path: &str) -> Ws {
    try_connect(c, path, None).unwrap_or_else(|s| panic!("connect {path}: HTTP {s}"))
}

/// Opens a group's socket and reads its hello.
pub fn open_group(c: &Client, id: i64) -> (Ws, Value) {
    let mut ws = connect(c, &format!("/ws/chat/{id}"));
    let hello = expect(&mut ws, "hello");
    (ws, hello)
}

/// The upgrade `connect_with` makes, done by hand for tests that read the
/// server's raw frame bytes: the stream after `101 Switching Protocols` and
/// the bytes that came after the response head, or what came instead.
pub fn upgrade_raw(
    c: &Client,
    path: &str,
    from: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<(TcpStream, Vec<u8>), String> {
    let mut sock = tcp_to(c, from);
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        c.addr
    );
    for (name, value) in upgrade_headers(c, extra) {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    sock.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = sock
            .read(&mut buf)
            .map_err(|e| format!("no handshake answer: {e}"))?;
        if n == 0 {
            return Err(format!(
                "no handshake answer: closed after {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    if !got.starts_with(b"HTTP/1.1 101") {
        return Err(format!(
            "not upgraded: {:?}",
            String::from_utf8_lossy(&got[..head_end])
        ));
    }
    Ok((sock, got.split_off(head_end)))
}

pub fn send<S: Stream>(ws: &mut Ws<S>, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

pub fn send_text<S: Stream>(ws: &mut Ws<S>, content: &str, client_id: &str) {
    send(
        ws,
        json!({ "type": "message", "content": content, "client_id": client_id }),
    );
}

/// Reads one message, waiting no later than `until`; None once it passed.
fn read_before<S: Stream>(ws: &mut Ws<S>, until: Instant) -> Option<tungstenite::Result<Message>> {
    let left = until.checked_duration_since(Instant::now())?;
    ws.get_ref()
        .set_read_limit(left.max(Duration::from_millis(1)));
    Some(ws.read())
}

/// The next JSON text frame, or None on timeout or close.
pub fn next<S: Stream>(ws: &mut Ws<S>, timeout: Duration) -> Option<Value> {
    let until = Instant::now() + timeout;
    loop {
        match read_before(ws, until)? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) => return None,
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Reads frames until one has `"type": kind` (skipping others); panics on timeout.
pub fn expect<S: Stream>(ws: &mut Ws<S>, kind: &str) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match next(ws, left) {
            Some(v) if v["type"] == kind => return v,
            Some(_) => continue,
            None => panic!("no {kind} frame"),
        }
    }
}

/// Reads frames until one satisfies `pred`; None on timeout.
pub fn wait_for<S: Stream>(
    ws: &mut Ws<S>,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match next(ws, left) {
            Some(v) if pred(&v) => return Some(v),
            Some(_) => continue,
            None => return None,
        }
    }
}

/// All frames that arrive within `quiet` of each other.
pub fn drain<S: Stream>(ws: &mut Ws<S>, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(v) = next(ws, quiet) {
        out.push(v);
    }
    out
}

/// Reads until the server closes; returns the close code if one came.
/// The JSON text frames read until the socket closes (`true`) or
/// `timeout` passes (`false`).
pub fn frames_until_close<S: Stream>(ws: &mut Ws<S>, timeout: Duration) -> (Vec<Value>, bool) {
    let until = Instant::now() + timeout;
    let mut frames = Vec::new();
    loop {
        match read_before(ws, until) {
            None => return (frames, false),
            Some(Ok(Message::Text(t))) => frames.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) => return (frames, true),
            Some(Ok(_)) => continue,
            Some(Err(tungstenite::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return (frames, false);
            }
            Some(Err(_)) => return (frames, true),
        }
    }
}

pub fn close_code<S: Stream>(ws: &mut Ws<S>, timeout: Duration) -> Option<u16> {
    let until = Instant::now() + timeout;
    loop {
        match read_before(ws, until)? {
            Ok(Message::Close(Some(f))) => return Some(f.code.into()),
            Ok(Message::Close(None)) => return Some(1005),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None;
            }
            Err(_) => return Some(1006),
        }
    }
}
