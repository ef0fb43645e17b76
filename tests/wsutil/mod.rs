//! WebSocket helpers for integration tests: connect with a client's session
//! cookie and Origin, send JSON, and read JSON frames with timeouts.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::common::Client;

pub type Ws = WebSocket<TcpStream>;

/// Opens `path` with the client's cookies and Origin; returns the socket or
/// the HTTP status the server refused with.
pub fn try_connect(c: &Client, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
    let url = format!("ws://{}{}", c.addr, path);
    let mut req = url.into_client_request().unwrap();
    if !c.cookies.is_empty() {
        req.headers_mut()
            .insert("Cookie", c.cookie_header().parse().unwrap());
    }
    let origin = origin
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://{}", c.addr));
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    let stream = TcpStream::connect(c.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match tungstenite::client(req, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

pub fn connect(c: &Client, path: &str) -> Ws {
    try_connect(c, path, None).unwrap_or_else(|s| panic!("connect {path}: HTTP {s}"))
}

pub fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

pub fn send_text(ws: &mut Ws, content: &str, client_id: &str) {
    send(
        ws,
        json!({ "type": "message", "content": content, "client_id": client_id }),
    );
}

/// The next JSON text frame, or None on timeout or close.
pub fn next(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        ws.get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match ws.read() {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(_)) => return None,
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Reads frames until one has `"type": kind` (skipping others); panics on timeout.
pub fn expect(ws: &mut Ws, kind: &str) -> Value {
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
pub fn wait_for(ws: &mut Ws, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
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
pub fn drain(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(v) = next(ws, quiet) {
        out.push(v);
    }
    out
}

/// Reads until the server closes; returns the close code if one came.
pub fn close_code(ws: &mut Ws, timeout: Duration) -> Option<u16> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        ws.get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match ws.read() {
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
