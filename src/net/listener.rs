//! The listening socket (socket2, backlog 4096) and the accept loop: one
//! small-stack thread per connection, a connection cap answered with `503`,
//! and accept errors that back off instead of ending the loop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::web::App;

/// Stack for connection threads: enough for templates and SQLite, small
/// enough that thousands of threads cost little (only touched pages count).
pub const STACK_SIZE: usize = 256 * 1024;

/// Stack for WebSocket reader threads. Deliberately a different size from
/// `STACK_SIZE`: glibc reuses a cached stack only for a request of similar
/// size, and a stack left by an exited HTTP thread keeps ~16 KiB resident,
/// which every idle socket would then carry.
pub const WS_STACK_SIZE: usize = 1024 * 1024;

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Wakes a thread blocked in `accept` on `listener` (Linux returns `EINVAL`
/// from `accept` once the socket is shut down).
pub fn interrupt(fd: i32) {
    // SAFETY: shutdown(2) on a descriptor we own; no memory is involved.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

pub fn raw_fd(listener: &TcpListener) -> i32 {
    listener.as_raw_fd()
}

/// Accepts until shutdown begins.
pub fn accept_loop(app: &Arc<App>, listener: &TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        if app.connections.stopping() {
            return;
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                spawn(app, stream, peer);
            }
            Err(e) => {
                if app.connections.stopping() {
                    return;
                }
                match e.raw_os_error() {
                    Some(libc::EINTR | libc::ECONNABORTED | libc::EPROTO) => {}
                    _ => {
                        crate::warn!("accept failed: {e}; retrying in {backoff:?}");
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    }
}

fn spawn(app: &Arc<App>, stream: std::net::TcpStream, peer: SocketAddr) {
    let sock = Arc::new(stream);
    if app.connections.len() >= app.config.max_connections {
        refuse(&sock);
        return;
    }
    let app2 = Arc::clone(app);
    let sock2 = Arc::clone(&sock);
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(STACK_SIZE)
        .spawn(move || crate::net::conn::serve(&app2, sock2, peer));
    if let Err(e) = spawned {
        crate::warn!("cannot start a connection thread: {e}");
        refuse(&sock);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Answers `503` without blocking the accept loop, then closes.
fn refuse(sock: &std::net::TcpStream) {
    crate::metrics::inc(&crate::metrics::CONNECTIONS_REFUSED);
    let _ = sock.set_nonblocking(true);
    let body = "Server busy, try again shortly.";
    let resp = crate::http::Response::text(503, body).with_header("Retry-After", "1");
    let _ = (&*sock).write(&resp.serialize(false, false, false));
    let _ = sock.shutdown(std::net::Shutdown::Both);
}
