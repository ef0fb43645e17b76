//! Reading one request (head and body) from a connection under limits:
//! the head must arrive in full before a deadline that trickled bytes cannot
//! extend; heads over 16 KiB, bodies over 64 KiB and anything malformed are
//! refused with the matching status. A route that takes its body as a
//! stream (an upload) gets the head only, with the body's declared length;
//! its handler reads the bytes through `body::Streamed`.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Largest request head we accept.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest request body we accept.
pub const MAX_BODY: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// A byte source whose reads can be bounded in time (a socket, a TLS stream).
pub trait Source {
    /// Reads at most `buf.len()` bytes, waiting no longer than `timeout`.
    /// Returns `Ok(0)` at end of stream and an error of kind `WouldBlock` or
    /// `TimedOut` when the time ran out.
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Sends bytes that must reach the client before the body is read
    /// (`100 Continue`).
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The decoded path, always starting with `/`.
    pub path: String,
    /// The decoded path segments (no empty first segment).
    pub segments: Vec<String>,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// For a request whose body is streamed: its `Content-Length` (`body`
    /// stays empty; the handler reads the bytes itself).
    pub streamed: Option<u64>,
    /// HTTP/1.x minor version.
    pub minor_version: u8,
    pub peer: IpAddr,
    /// Whether this request arrived over TLS.
    pub secure: bool,
    /// False when the request came through a trusted proxy that did not
    /// say (in a form we can read) who the client is: `peer` is then the
    /// proxy, not the client.
    pub client_known: bool,
    /// The negotiated TLS version and suite, under TLS.
    pub tls_info: Option<String>,
}

impl Request {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection may stay open after this request.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|p| p.trim() == t);
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    /// The value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        super::form::parse_urlencoded(self.query.as_bytes())
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The peer closed, or stayed idle past the keep-alive limit, before
    /// sending a byte: close quietly.
    Closed,
    /// An error status to send before closing.
    Status(u16, &'static str),
}

/// Time limits for one request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long an idle keep-alive connection may wait for the first byte.
    pub idle: Duration,
    /// How long the whole request (head and body) may take from its first byte.
    pub request: Duration,
}

/// Reads one request. `buf` holds bytes already received on this connection
/// and keeps whatever follows the request (pipelined bytes, WebSocket frames).
pub fn read_request(
    src: &mut dyn Source,
    buf: &mut Vec<u8>,
    limits: Limits,
    peer: IpAddr,
    secure: bool,
) -> Result<Request, ReadError> {
    read_request_streaming(src, buf, limits, peer, secure, &|_| false)
}

/// `read_request`, except that for a request `streams` picks the body is
/// left unread: the request says how long it is (`streamed`; a missing
/// length is a `411`) and its handler reads it.
pub fn read_request_streaming(
    src: &mut dyn Source,
    buf: &mut Vec<u8>,
    limits: Limits,
    peer: IpAddr,
    secure: bool,
    streams: &dyn Fn(&Request) -> bool,
) -> Result<Request, ReadError> {
    let mut deadline = None;
    if !buf.is_empty() {
        deadline = Some(Instant::now() + limits.request);
    }
    // Head.
    let head_len = loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(n)) => break n,
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(ReadError::Status(431, "too many headers"));
                }
                Err(_) => return Err(ReadError::Status(400, "malformed request")),
            }
            if buf.len() >= MAX_HEAD {
                return Err(ReadError::Status(431, "request head too large"));
            }
        }
        let timeout = match deadline {
            None => limits.idle,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(t) if !t.is_zero() => t,
                _ => return Err(ReadError::Status(408, "request timeout")),
            },
        };
        let want = (MAX_HEAD + 1).saturating_sub(buf.len()).clamp(1, 4096);
        match read_some(src, buf, want, timeout) {
            Ok(0) if deadline.is_none() => return Err(ReadError::Closed),
            Ok(0) => return Err(ReadError::Status(400, "incomplete request")),
            Ok(_) => {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + limits.request);
                }
            }
            Err(e) if is_timeout(&e) && deadline.is_none() => return Err(ReadError::Closed),
            Err(e) if is_timeout(&e) => return Err(ReadError::Status(408, "request timeout")),
            Err(_) => return Err(ReadError::Closed),
        }
    };
    let deadline = deadline.unwrap_or_else(|| Instant::now() + limits.request);

    let mut req = parse_head(&buf[..head_len], peer, secure)?;
    buf.drain(..head_len);

    // Body, by Content-Length only.
    if req.header("transfer-encoding").is_some() {
        return Err(ReadError::Status(400, "transfer-encoding is not supported"));
    }
    let mut lengths = req
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.trim());
    let declared = match (lengths.next(), lengths.next()) {
        (None, _) => None,
        (Some(v), None) => {
            if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ReadError::Status(400, "bad content-length"));
            }
            let n: u64 = v
                .parse()
                .map_err(|_| ReadError::Status(400, "bad content-length"))?;
            Some(n)
        }
        (Some(_), Some(_)) => return Err(ReadError::Status(400, "repeated content-length")),
    };
    if streams(&req) {
        req.streamed = Some(declared.ok_or(ReadError::Status(411, "content-length required"))?);
        return Ok(req);
    }
    let len = match declared {
        None => 0,
        Some(n) if n > MAX_BODY as u64 => {
            return Err(ReadError::Status(413, "request body too large"));
        }
        Some(n) => n as usize,
    };
    if len > buf.len()
        && req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        src.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| ReadError::Closed)?;
    }
    while buf.len() < len {
        let timeout = match deadline.checked_duration_since(Instant::now()) {
            Some(t) if !t.is_zero() => t,
            _ => return Err(ReadError::Status(408, "request timeout")),
        };
        match read_some(src, buf, len - buf.len(), timeout) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Err(ReadError::Status(408, "request timeout")),
            Err(_) => return Err(ReadError::Closed),
        }
    }
    req.body = buf.drain(..len).collect();
    Ok(req)
}

fn read_some(
    src: &mut dyn Source,
    buf: &mut Vec<u8>,
    want: usize,
    timeout: Duration,
) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + want.min(16 * 1024), 0);
    let r = src.read_timeout(&mut buf[old..], timeout);
    let n = *r.as_ref().unwrap_or(&0);
    buf.truncate(old + n);
    r
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn parse_head(head: &[u8], peer: IpAddr, secure: bool) -> Result<Request, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ReadError::Status(400, "malformed request")),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("");
    let minor_version = parsed.version.unwrap_or(1);
    let (raw_path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q.to_string()),
        None => (target, String::new()),
    };
    if !raw_path.starts_with('/') {
        return Err(ReadError::Status(400, "bad request target"));
    }
    let segments = decode_path(raw_path).ok_or(ReadError::Status(400, "bad request path"))?;
    let path = format!("/{}", segments.join("/"));
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect::<Vec<_>>();
    if minor_version >= 1 && !headers.iter().any(|(n, _)| n == "host") {
        return Err(ReadError::Status(400, "missing host header"));
    }
    Ok(Request {
        method,
        path,
        segments,
        query,
        headers,
        body: Vec::new(),
        streamed: None,
        minor_version,
        peer,
        secure,
        client_known: true,
        tls_info: None,
    })
}

/// Splits a raw path on `/` and percent-decodes each segment. Refuses
/// anything that could name a different path than it appears to: bad
/// escapes, invalid UTF-8, control characters, encoded or literal
/// backslashes, encoded slashes, and `.`/`..` segments.
pub fn decode_path(raw: &str) -> Option<Vec<String>> {
    let rest = raw.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for seg in rest.split('/') {
        let bytes = super::form::percent_decode(seg.as_bytes(), false)?;
        let s = String::from_utf8(bytes).ok()?;
        if s == "." || s == ".." || s.contains(['/', '\\']) || s.chars().any(char::is_control) {
            return None;
        }
        out.push(s);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunks(Vec<Vec<u8>>, Vec<u8>);
    impl Source for Chunks {
        fn read_timeout(&mut self, buf: &mut [u8], _t: Duration) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let c = self.0.remove(0);
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.insert(0, c[n..].to_vec());
            }
            Ok(n)
        }
        fn send(&mut self, b: &[u8]) -> io::Result<()> {
            self.1.extend_from_slice(b);
            Ok(())
        }
    }

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(1),
        request: Duration::from_secs(1),
    };

    fn read(chunks: &[&[u8]]) -> (Result<Request, ReadError>, Vec<u8>) {
        let mut src = Chunks(chunks.iter().map(|c| c.to_vec()).collect(), Vec::new());
        let mut buf = Vec::new();
        let r = read_request(&mut src, &mut buf, LIMITS, [127, 0, 0, 1].into(), false);
        (r, buf)
    }

    #[test]
    fn parses_a_request_in_pieces() {
        let (r, rest) = read(&[
            b"POST /a%20b/c?x=1 HTTP/1.1\r\nHo",
            b"st: h\r\nContent-Length: 3\r\n\r\nabcGET",
        ]);
        let r = r.unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/a b/c");
        assert_eq!(r.segments, vec!["a b", "c"]);
        assert_eq!(r.query, "x=1");
        assert_eq!(r.body, b"abc");
        assert_eq!(r.header("host"), Some("h"));
        assert_eq!(rest, b"GET");
        assert!(r.keep_alive());
    }

    #[test]
    fn refusals() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            read(&[big.as_bytes()]).0.unwrap_err(),
            ReadError::Status(431, "request head too large")
        );
        assert!(matches!(
            read(&[b"\x16\x03\x01garbage\r\n\r\n"]).0,
            Err(ReadError::Status(400, _))
        ));
        assert!(matches!(
            read(&[b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\n"]).0,
            Err(ReadError::Status(413, _))
        ));
        assert!(matches!(
            read(&[
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            ])
            .0,
            Err(ReadError::Status(400, _))
        ));
        assert!(matches!(
            read(&[b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"]).0,
            Err(ReadError::Status(400, _))
        ));
        assert!(matches!(
            read(&[b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"]).0,
            Err(ReadError::Status(400, _))
        ));
        assert!(matches!(
            read(&[b"GET / HTTP/1.1\r\n\r\n"]).0,
            Err(ReadError::Status(400, _))
        ));
        // Nothing at all: a quiet close; a partial head: a timeout.
        assert_eq!(read(&[]).0.unwrap_err(), ReadError::Closed);
        assert_eq!(
            read(&[b"GET / HT"]).0.unwrap_err(),
            ReadError::Status(408, "request timeout")
        );
    }

    #[test]
    fn expect_continue_is_answered() {
        let mut src = Chunks(
            vec![
                b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
                    .to_vec(),
                b"hi".to_vec(),
            ],
            Vec::new(),
        );
        let mut buf = Vec::new();
        let r = read_request(&mut src, &mut buf, LIMITS, [127, 0, 0, 1].into(), false).unwrap();
        assert_eq!(r.body, b"hi");
        assert_eq!(src.1, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn path_decoding_refuses_traversal() {
        assert_eq!(decode_path("/"), Some(vec![]));
        assert_eq!(
            decode_path("/static/app.css"),
            Some(vec!["static".into(), "app.css".into()])
        );
        for bad in [
            "/static/../x",
            "/static/%2e%2e/x",
            "/static/%2E%2E",
            "/a/./b",
            "/a%2fb",
            "/a%5cb",
            "/a\\b",
            "/a%00b",
            "/a%zz",
            "/a%",
            "/a%c3%28",
            "relative",
        ] {
            assert_eq!(decode_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn keep_alive_rules() {
        let (r, _) = read(&[b"GET / HTTP/1.0\r\n\r\n"]);
        assert!(!r.unwrap().keep_alive());
        let (r, _) = read(&[b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"]);
        assert!(!r.unwrap().keep_alive());
    }
}
