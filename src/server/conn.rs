//! One connection's life, accept to close: admit it under the connection
//! caps, run the TLS handshake, read requests in a keep-alive loop under
//! the limits of `http::request`, dispatch them to the web layer with
//! panics contained (an upload's body streams to its handler), write the
//! responses (file bodies in chunks) and log one line per request; on
//! a WebSocket upgrade, write the `101` and hand the socket to the chat on
//! a fresh thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::App;
use crate::chat::socket::Entered;
use crate::http::body::Streamed;
use crate::http::request::{self, Limits, ReadError};
use crate::http::{Request, Response};
use crate::net::registry::Refused;
use crate::net::transport::{Conn, HttpSource};
use crate::web::{Outcome, WebError};

/// Stack for connection threads: enough for templates and SQLite, small
/// enough that thousands of threads cost little (only touched pages count).
pub const STACK_SIZE: usize = 256 * 1024;

/// Stack for WebSocket reader threads. Deliberately a different size from
/// `STACK_SIZE`: glibc reuses a cached stack only for a request of similar
/// size, and a stack left by an exited HTTP thread keeps ~16 KiB resident,
/// which every idle socket would then carry.
pub const WS_STACK_SIZE: usize = 1024 * 1024;

/// Idle keep-alive connections close after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A request's head and body must arrive within this long of its first byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A response must be accepted by the client within this long.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a thread for an accepted connection (or refuses it at once when
/// the server is full).
pub fn spawn(app: &Arc<App>, stream: TcpStream, peer: SocketAddr) {
    let sock = Arc::new(stream);
    if app.connections.len() >= app.config.max_connections {
        at_the_edge(app.config.max_connections);
        refuse_busy(&sock);
        return;
    }
    let app2 = Arc::clone(app);
    let sock2 = Arc::clone(&sock);
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(STACK_SIZE)
        .spawn(move || serve(&app2, sock2, peer));
    if let Err(e) = spawned {
        crate::warn!("cannot start a connection thread: {e}");
        refuse_busy(&sock);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Says, at most once a minute, that the connection cap turns clients
/// away (how to raise it: README, "How many sockets one server holds").
fn at_the_edge(cap: usize) {
    static REFUSED: crate::log::Tally = crate::log::Tally::new();
    if let Some(n) = REFUSED.count() {
        crate::warn!(
            "{cap} connections open (--max-connections): {n} new connection(s) refused with 503 since the last report"
        );
    }
}

/// Answers `503` without blocking the accept loop, then closes.
fn refuse_busy(sock: &TcpStream) {
    crate::metrics::inc(&crate::metrics::CONNECTIONS_REFUSED);
    let _ = sock.set_nonblocking(true);
    let body = "Server busy, try again shortly.";
    let resp = Response::text(503, body).with_header("Retry-After", "1");
    let _ = (&*sock).write(&resp.serialize(false, false, false));
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

/// Serves one accepted connection until it closes.
fn serve(app: &Arc<App>, sock: Arc<TcpStream>, peer: SocketAddr) {
    let cfg = &app.config;
    // Behind a trusted proxy every connection comes from the proxy: its cap
    // would throttle everyone, so it does not apply there.
    let per_ip = if cfg.trusted_proxies.contains(peer.ip()) {
        0
    } else {
        cfg.max_per_ip
    };
    let admitted = app
        .connections
        .add(Arc::clone(&sock), peer.ip(), cfg.max_connections, per_ip);
    let _entry = match admitted {
        Ok(entry) => entry,
        Err(why) => {
            crate::metrics::inc(&crate::metrics::CONNECTIONS_REFUSED);
            let (status, text) = match why {
                Refused::Full => (503, "Server busy, try again shortly."),
                Refused::TooManyFromIp => (429, "Too many connections from your address."),
            };
            let resp = Response::text(status, text).with_header("Retry-After", "5");
            let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&*sock).write_all(&resp.serialize(false, false, false));
            crate::debug!("refused a connection from {}: {why:?}", peer.ip());
            linger(&sock);
            return;
        }
    };
    crate::metrics::inc(&crate::metrics::CONNECTIONS_TOTAL);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(Some(WRITE_TIMEOUT));
    let limits = Limits {
        idle: IDLE_TIMEOUT,
        request: REQUEST_TIMEOUT,
    };
    let tls = match &app.tls {
        None => None,
        Some(cfg) => match rustls::ServerConnection::new(Arc::clone(cfg)) {
            Ok(c) => Some(Arc::new(std::sync::Mutex::new(c))),
            Err(e) => {
                crate::warn!("TLS session setup failed: {e}");
                return;
            }
        },
    };
    let secure = tls.is_some();
    let conn = Conn {
        sock: Arc::clone(&sock),
        tls,
    };
    // The handshake shares the first request's deadline, counted from accept.
    if let Err(e) = conn.handshake(Instant::now() + REQUEST_TIMEOUT) {
        crate::debug!("TLS handshake with {} failed: {e}", peer.ip());
        let _ = sock.shutdown(std::net::Shutdown::Both);
        return;
    }
    if conn.alpn().as_deref() == Some(crate::tls::acme::alpn::ACME_TLS) {
        // A CA's TLS-ALPN-01 validation: the handshake was the answer
        // (RFC 8737 §3); nothing else is spoken on it.
        conn.close_notify();
        linger(&sock);
        return;
    }
    let tls_info = conn.describe_tls();
    let mut buf = Vec::new();
    let mut src = HttpSource(&conn);
    while !app.connections.stopping() {
        let streams = |r: &Request| app.web.streams_body(r);
        let read = request::read_request_streaming(
            &mut src,
            &mut buf,
            limits,
            peer.ip(),
            secure,
            &streams,
        );
        let mut req = match read {
            Ok(req) => req,
            Err(ReadError::Closed) => break,
            Err(ReadError::Status(status, why)) => {
                let resp = Response::text(status, why);
                let _ = conn.write_all(&resp.serialize(secure, false, false));
                crate::info!("- - {status} 0ms {} ({why})", peer.ip());
                conn.close_notify();
                linger(&sock);
                break;
            }
        };
        req.tls_info = tls_info.clone();
        app.config.trusted_proxies.apply(&mut req);
        let started = Instant::now();
        if let Some(length) = req.streamed {
            let expects = req
                .header("expect")
                .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
            let mut body = Streamed::new(&mut src, &mut buf, length, expects);
            let low = super::priority::lower();
            let mut resp = dispatch_streamed(app, &req, &mut body);
            if !low.restore() {
                resp.close = true;
            }
            // Unread body bytes would be taken for the next request.
            if body.unread() > 0 {
                resp.close = true;
            }
            let keep_alive = req.keep_alive() && !resp.close && !app.connections.stopping();
            let written = send(&conn, &resp, secure, keep_alive, req.method == "HEAD");
            log_request(&req, resp.status, started);
            crate::metrics::observe(class_of(&req), started.elapsed());
            if written.is_err() || !keep_alive {
                if resp.close {
                    linger(&sock);
                }
                break;
            }
            continue;
        }
        let resp = match dispatch(app, &req) {
            Outcome::Respond(resp) => resp,
            Outcome::Upgrade(up) => {
                let head = crate::ws::handshake::switching_protocols(&up.accept);
                if conn.write_all(&head).is_err() {
                    break;
                }
                log_request(&req, 101, started);
                // Getting in (database checks, hello, replay) happens here;
                // the socket then lives on in a fresh thread whose stack
                // holds only what its reads need, and this one (with the
                // pages its HTTP and database work touched) exits.
                let entering =
                    AssertUnwindSafe(|| app.chat.enter_socket(&conn, req.peer, up.admission));
                let Ok(entered) = catch_unwind(entering) else {
                    crate::error!("websocket admission panicked");
                    break;
                };
                let job = WsJob {
                    app: Arc::clone(app),
                    conn,
                    leftover: buf[..].to_vec(),
                    entered,
                    _entry,
                };
                // Kept here until the thread has it, so that a thread that
                // cannot be had does not leave the socket in its room.
                let slot = Arc::new(std::sync::Mutex::new(Some(job)));
                let theirs = Arc::clone(&slot);
                let spawned = std::thread::Builder::new()
                    .name("ws".into())
                    .stack_size(WS_STACK_SIZE)
                    .spawn(move || {
                        if let Some(job) = crate::sync::lock(&theirs).take() {
                            job.run();
                        }
                    });
                if spawned.is_err() {
                    crate::warn!("cannot start a WebSocket thread; closing");
                    if let Some(job) = crate::sync::lock(&slot).take() {
                        job.abandon();
                    }
                }
                return;
            }
        };
        let keep_alive = req.keep_alive() && !resp.close && !app.connections.stopping();
        let written = send(&conn, &resp, secure, keep_alive, req.method == "HEAD");
        log_request(&req, resp.status, started);
        crate::metrics::observe(class_of(&req), started.elapsed());
        if written.is_err() || !keep_alive {
            break;
        }
    }
    conn.close_notify();
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

/// An upgraded connection handed to its own thread.
struct WsJob {
    app: Arc<App>,
    conn: Conn,
    leftover: Vec<u8>,
    entered: Entered,
    /// Keeps the connection registered while the socket lives.
    _entry: crate::net::registry::Entry,
}

impl WsJob {
    /// Takes the socket out of its room and closes it, unread.
    fn abandon(self) {
        self.app.chat.leave_socket(self.entered);
        self.conn.close_notify();
        let _ = self.conn.sock.shutdown(std::net::Shutdown::Both);
    }

    fn run(self) {
        let WsJob {
            app,
            conn,
            leftover,
            entered,
            _entry,
        } = self;
        let run = AssertUnwindSafe(|| app.chat.run_socket(&conn, leftover, entered));
        if catch_unwind(run).is_err() {
            crate::error!("websocket handler panicked");
        }
        conn.close_notify();
        let _ = conn.sock.shutdown(std::net::Shutdown::Both);
    }
}

/// Closes after an error answer without resetting the connection: stop
/// writing, then read and discard what the client is still sending (a
/// bounded amount, briefly), so our answer is not lost to a TCP reset.
fn linger(sock: &TcpStream) {
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + Duration::from_millis(500);
    let mut scratch = [0u8; 4096];
    let mut budget = 256 * 1024;
    while budget > 0 {
        let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        let _ = sock.set_read_timeout(Some(left));
        match (&*sock).read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget -= n.min(budget),
        }
    }
}

/// Bytes of a file body sent at a time.
const FILE_CHUNK: usize = 256 * 1024;

/// Writes a response: its head and body, then a file body in chunks
/// (never the whole file in memory).
fn send(
    conn: &Conn,
    resp: &Response,
    secure: bool,
    keep_alive: bool,
    head_only: bool,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    conn.write_all(&resp.serialize(secure, keep_alive, head_only))?;
    let Some(f) = resp.file.as_ref().filter(|_| !head_only) else {
        return Ok(());
    };
    let mut chunk = vec![0u8; FILE_CHUNK.min(usize::try_from(f.len).unwrap_or(FILE_CHUNK))];
    let (mut at, end) = (f.offset, f.offset + f.len);
    while at < end {
        let want = usize::try_from(end - at)
            .unwrap_or(FILE_CHUNK)
            .min(chunk.len());
        let n = f.file.read_at(&mut chunk[..want], at)?;
        if n == 0 {
            // The file shrank under us: the client sees a short body.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        conn.write_all(&chunk[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// `dispatch` for a request whose body streams.
fn dispatch_streamed(app: &App, req: &Request, body: &mut Streamed<'_>) -> Response {
    match catch_unwind(AssertUnwindSafe(|| app.web.handle_streamed(req, body))) {
        Ok(resp) => resp,
        Err(_) => {
            crate::error!("handler panicked: {} {}", req.method, req.path);
            let internal = WebError::Refused(crate::chat::Refusal::Internal);
            let mut resp = app.web.error(req, &internal);
            resp.close = true;
            resp
        }
    }
}

/// Runs the handler; a panic becomes a `500` and the server carries on.
fn dispatch(app: &App, req: &Request) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| app.web.handle(req))) {
        Ok(outcome) => outcome,
        Err(_) => {
            crate::error!("handler panicked: {} {}", req.method, req.path);
            let internal = WebError::Refused(crate::chat::Refusal::Internal);
            let mut resp = app.web.error(req, &internal);
            resp.close = true;
            Outcome::Respond(resp)
        }
    }
}

fn class_of(req: &Request) -> crate::metrics::Class {
    use crate::metrics::Class;
    match req.segments.first().map(String::as_str) {
        Some("api") => Class::Api,
        Some("static") => Class::Static,
        Some("ws") => Class::WebSocket,
        Some("login" | "register" | "logout" | "chat" | "account") | None => Class::Page,
        _ => Class::Other,
    }
}

fn log_request(req: &Request, status: u16, started: Instant) {
    crate::info!(
        "{} {} {} {}ms {}",
        req.method,
        logged_path(&req.segments),
        status,
        started.elapsed().as_millis(),
        req.peer
    );
}

/// The path as the log shows it: secrets in it (reset tokens, invite
/// codes) and file names (what people shared) become `…`.
fn logged_path(segments: &[String]) -> String {
    let secret = |i: usize| match (segments.first().map(String::as_str), i) {
        (Some("reset" | "invite"), 1) | (Some("files"), 2) => true,
        _ => i > 0 && segments[i - 1] == "invites",
    };
    let shown: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| if secret(i) { "…" } else { s.as_str() })
        .collect();
    format!("/{}", shown.join("/"))
}

#[cfg(test)]
mod tests {
    use super::logged_path;

    #[test]
    fn logged_paths_hide_tokens_codes_and_file_names() {
        let p = |s: &str| {
            let segs: Vec<String> = s
                .trim_start_matches('/')
                .split('/')
                .map(String::from)
                .collect();
            logged_path(&segs)
        };
        assert_eq!(p("/reset/abc123"), "/reset/…");
        assert_eq!(p("/invite/XYZ"), "/invite/…");
        assert_eq!(p("/api/invites/XYZ/accept"), "/api/invites/…/accept");
        assert_eq!(p("/api/groups/4/invites/XYZ"), "/api/groups/4/invites/…");
        assert_eq!(p("/api/admin/invites/XYZ"), "/api/admin/invites/…");
        assert_eq!(p("/files/9/payroll.pdf"), "/files/9/…");
        assert_eq!(p("/api/groups/4/invites"), "/api/groups/4/invites");
        assert_eq!(p("/api/groups/4/messages"), "/api/groups/4/messages");
        assert_eq!(logged_path(&[]), "/");
    }
}
