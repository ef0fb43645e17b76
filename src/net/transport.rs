//! A connection's byte stream: plain TCP, or TLS split the DESIGN way. The
//! rustls session sits in a mutex next to the shared socket; a reader waits
//! on the raw socket *without* the lock and takes it only to feed records in
//! and plaintext out. Before a WebSocket upgrade only the connection thread
//! writes; after it, every TLS record goes out through the socket's send
//! queue (see `ws::peer`), so records always reach the wire in order.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use crate::http::request::Source;

pub type Tls = Arc<Mutex<ServerConnection>>;

pub fn lock_tls(tls: &Tls) -> MutexGuard<'_, ServerConnection> {
    crate::sync::lock(tls)
}

/// One accepted connection.
pub struct Conn {
    pub sock: Arc<TcpStream>,
    pub tls: Option<Tls>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

/// Feeds received TLS bytes to a session. On error, the alert rustls wants
/// to send is left for the caller's next drain.
pub fn ingest(c: &mut ServerConnection, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        c.read_tls(&mut bytes)?;
        c.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(())
}

/// Encrypts `bytes` and appends the records to `out`. rustls buffers at
/// most 64 KiB of records, so this drains as it goes; a large response or
/// a batch of frames would otherwise be cut short.
pub fn seal(c: &mut ServerConnection, mut bytes: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = c.writer().write(bytes)?;
        out.extend_from_slice(&drain(c));
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Everything the session has ready to send.
pub fn drain(c: &mut ServerConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while c.wants_write() {
        if c.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Takes plaintext the session already holds: `Some(n)` (0 = closed), or
/// `None` when more bytes must be read from the socket.
pub fn take_plain(c: &mut ServerConnection, buf: &mut [u8]) -> Option<io::Result<usize>> {
    match c.reader().read(buf) {
        Ok(n) => Some(Ok(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Some(Ok(0)),
        Err(e) => Some(Err(e)),
    }
}

/// The socket reached end of stream: tell the session, and return what
/// plaintext remains (0 once it is all read).
pub fn end_of_stream(c: &mut ServerConnection, buf: &mut [u8]) -> usize {
    let _ = c.read_tls(&mut &[][..]);
    let _ = c.process_new_packets();
    c.reader().read(buf).unwrap_or(0)
}

/// Reads from the socket, waiting no later than `deadline`.
fn read_by(sock: &TcpStream, deadline: Instant, raw: &mut [u8]) -> io::Result<usize> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(timed_out)?;
    sock.set_read_timeout(Some(left))?;
    (&*sock).read(raw)
}

impl Conn {
    /// Runs the TLS handshake to completion before `deadline` (no-op for
    /// plain TCP). A client that stalls or sends garbage is cut off.
    pub fn handshake(&self, deadline: Instant) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        let mut raw = [0u8; 4096];
        loop {
            let (handshaking, wants_write) = {
                let c = lock_tls(tls);
                (c.is_handshaking(), c.wants_write())
            };
            if wants_write {
                self.flush_tls()?;
            }
            if !handshaking {
                return Ok(());
            }
            let n = read_by(&self.sock, deadline, &mut raw)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.feed(&raw[..n])?;
        }
    }

    /// Feeds received bytes to rustls; on a TLS error the alert is sent
    /// before the error is returned.
    fn feed(&self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        let result = ingest(&mut lock_tls(tls), bytes);
        self.flush_tls()?;
        result
    }

    /// Writes whatever rustls has to send (connection thread only).
    fn flush_tls(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else { return Ok(()) };
        let out = drain(&mut lock_tls(tls));
        (&*self.sock).write_all(&out)
    }

    /// Sends bytes (encrypting them under TLS). Connection thread only.
    pub fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.tls {
            None => (&*self.sock).write_all(bytes),
            Some(tls) => {
                let mut out = Vec::with_capacity(bytes.len() + 64);
                seal(&mut lock_tls(tls), bytes, &mut out)?;
                (&*self.sock).write_all(&out)
            }
        }
    }

    /// Sends TLS close_notify (no-op for plain TCP).
    pub fn close_notify(&self) {
        if let Some(tls) = &self.tls {
            lock_tls(tls).send_close_notify();
            let _ = self.flush_tls();
        }
    }

    /// The ALPN protocol the handshake agreed on, if any.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        lock_tls(self.tls.as_ref()?)
            .alpn_protocol()
            .map(<[u8]>::to_vec)
    }

    /// "TLS 1.3 · TLS13_AES_128_GCM_SHA256" for the connection badge.
    pub fn describe_tls(&self) -> Option<String> {
        let c = lock_tls(self.tls.as_ref()?);
        let version = match c.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_string(),
            other => format!("{other:?}"),
        };
        let suite = c
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        Some(format!("{version} · {suite}"))
    }

    /// Reads plaintext, waiting at most `timeout` for more bytes. `Ok(0)`
    /// is end of stream (for TLS: close_notify or a bare FIN).
    fn read_plain(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            self.sock.set_read_timeout(Some(timeout))?;
            return (&*self.sock).read(buf);
        };
        let deadline = Instant::now() + timeout;
        let mut raw = [0u8; 4096];
        loop {
            if let Some(r) = take_plain(&mut lock_tls(tls), buf) {
                return r;
            }
            let n = read_by(&self.sock, deadline, &mut raw)?;
            if n == 0 {
                return Ok(end_of_stream(&mut lock_tls(tls), buf));
            }
            self.feed(&raw[..n])?;
        }
    }
}

/// `Conn` as a source of HTTP requests.
pub struct HttpSource<'a>(pub &'a Conn);

impl Source for HttpSource<'_> {
    fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.0.read_plain(buf, timeout)
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}
