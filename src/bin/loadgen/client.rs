//! The benchmark's own HTTP(S) client: where the server listens, the rustls
//! configuration that trusts exactly its certificate, blocking plain/TLS
//! streams, one-request-per-connection HTTP and kept-alive connections for
//! many requests, and feeding raw TLS bytes through a connection (for the
//! non-blocking WebSocket readers).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::error::BenchError;

/// The name the client verifies the server's certificate against.
const TLS_SERVER_NAME: &str = "localhost";
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server listens, and (for TLS) the client configuration that
/// trusts exactly its certificate.
#[derive(Clone)]
pub struct Ep {
    pub port: u16,
    pub tls: Option<Arc<ClientConfig>>,
}

impl Ep {
    pub fn origin(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// A rustls client configuration whose only trust anchor is the
/// certificate in `cert` (the one the server generated); verification on.
pub fn client_config(cert: &Path) -> Result<Arc<ClientConfig>, BenchError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|error| BenchError::CertFile {
            path: cert.to_path_buf(),
            error,
        })?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|error| BenchError::Tls {
            context: cert.display().to_string(),
            error,
        })?;
    }
    if roots.is_empty() {
        return Err(BenchError::NoCert(cert.to_path_buf()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| BenchError::Tls {
            context: "tls config".into(),
            error,
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

pub struct Resp {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// A cookie set by this response.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    }
}

pub type Head = (usize, u16, Vec<(String, String)>);

/// Parses a response head: (head length, status, lower-cased headers).
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, BenchError> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some((
            n,
            r.code.unwrap_or(0),
            r.headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        ))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A blocking client connection: plain TCP or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket and, for TLS, its connection (with no plaintext left
    /// buffered: that is appended to `leftover`).
    pub fn into_parts(self, leftover: &mut Vec<u8>) -> (TcpStream, Option<Box<ClientConnection>>) {
        match self {
            Stream::Plain(s) => (s, None),
            Stream::Tls(t) => {
                let rustls::StreamOwned { mut conn, sock } = *t;
                // Err(WouldBlock) once the buffered plaintext is taken.
                let _ = conn.reader().read_to_end(leftover);
                (sock, Some(Box::new(conn)))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

pub fn connect(ep: &Ep) -> Result<Stream, BenchError> {
    let s = TcpStream::connect(("127.0.0.1", ep.port)).map_err(|error| BenchError::Io {
        doing: "connect",
        error,
    })?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    match &ep.tls {
        None => Ok(Stream::Plain(s)),
        Some(cfg) => {
            let tls = |error| BenchError::Tls {
                context: "tls client".into(),
                error,
            };
            let name = ServerName::try_from(TLS_SERVER_NAME)
                .map_err(|e| tls(rustls::Error::General(e.to_string())))?;
            let conn = ClientConnection::new(Arc::clone(cfg), name).map_err(tls)?;
            Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, s))))
        }
    }
}

/// Feeds raw TLS bytes through `conn` and appends the plaintext to `out`.
/// Returns whether the peer has closed (close_notify); errors are TLS errors.
pub fn tls_feed(
    conn: &mut ClientConnection,
    mut raw: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut closed = false;
    while !raw.is_empty() {
        if conn.read_tls(&mut raw)? == 0 {
            break;
        }
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.plaintext_bytes_to_read() > 0 {
            match conn.reader().read_to_end(out) {
                Ok(_) => closed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        closed |= state.peer_has_closed();
    }
    Ok(closed)
}

/// The request's bytes: head (with `extra` header lines) and body.
fn request_bytes(
    ep: &Ep,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    extra: &str,
) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Content-Length: {}\r\n",
        ep.port,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads one response from `s`. `buf` holds bytes already read and keeps
/// any that follow the response. Without a Content-Length the body runs
/// to the end of the connection (`to_eof`) or is empty.
fn read_response(s: &mut Stream, buf: &mut Vec<u8>, to_eof: bool) -> Result<Resp, BenchError> {
    let mut chunk = [0u8; 16 * 1024];
    let mut head: Option<Head> = None;
    let mut eof = false;
    let end = loop {
        if head.is_none() {
            head = parse_head(buf)?;
        }
        if let Some((n, _, h)) = &head {
            let len = h
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            match len {
                Some(l) if buf.len() >= n + l => break n + l,
                None if !to_eof => break *n,
                _ if eof => break buf.len(),
                _ => {}
            }
        } else if eof {
            return Err(BenchError::Closed);
        }
        match s.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A TLS peer that closed without close_notify.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => eof = true,
            Err(error) => {
                return Err(BenchError::Io {
                    doing: "receive",
                    error,
                });
            }
        }
    };
    let (n, status, headers) = head.ok_or(BenchError::Closed)?;
    let rest = buf.split_off(end);
    let body = String::from_utf8_lossy(&buf[n..]).into_owned();
    *buf = rest;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// One request on its own connection (`Connection: close`); errors name
/// the request (`GET /healthz: connect: …`).
pub fn http(
    ep: &Ep,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, BenchError> {
    let failed = |e| BenchError::in_request(format!("{method} {path}"), e);
    let mut s = connect(ep).map_err(failed)?;
    let out = request_bytes(ep, method, path, headers, body, "Connection: close\r\n");
    s.write_all(&out)
        .and_then(|()| s.flush())
        .map_err(|error| {
            failed(BenchError::Io {
                doing: "send",
                error,
            })
        })?;
    read_response(&mut s, &mut Vec::new(), true).map_err(failed)
}

/// A kept-alive HTTP(S) connection for many requests in a row (so a
/// latency measures the request, not a TCP and TLS handshake). It
/// reconnects when the server closed it, retrying that request once.
pub struct KeepAlive {
    ep: Ep,
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// Connections opened so far.
    pub connects: usize,
}

impl KeepAlive {
    pub fn new(ep: &Ep) -> KeepAlive {
        KeepAlive {
            ep: ep.clone(),
            stream: None,
            buf: Vec::new(),
            connects: 0,
        }
    }

    /// A GET on the kept connection; errors name the request.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Resp, BenchError> {
        let failed = |e| BenchError::in_request(format!("GET {path}"), e);
        let out = request_bytes(&self.ep, "GET", path, headers, b"", "");
        let mut fresh = false;
        loop {
            if self.stream.is_none() {
                self.stream = Some(connect(&self.ep).map_err(failed)?);
                self.buf.clear();
                self.connects += 1;
                fresh = true;
            }
            let Some(s) = self.stream.as_mut() else {
                continue;
            };
            let sent = s.write_all(&out).and_then(|()| s.flush());
            let r = match sent {
                Ok(()) => read_response(s, &mut self.buf, false),
                Err(error) => Err(BenchError::Io {
                    doing: "send",
                    error,
                }),
            };
            match r {
                Ok(resp) => {
                    let close = resp
                        .headers
                        .iter()
                        .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
                    if close {
                        self.stream = None;
                    }
                    return Ok(resp);
                }
                // An idle connection the server had closed: once more, anew.
                Err(_) if !fresh => self.stream = None,
                Err(e) => {
                    self.stream = None;
                    return Err(failed(e));
                }
            }
        }
    }
}

/// The text between `prefix` and the next `"`.
pub fn attr(body: &str, prefix: &str) -> Option<String> {
    let start = body.find(prefix)? + prefix.len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_string())
}
