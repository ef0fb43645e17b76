//! The listening socket (socket2, backlog 4096) and the accept loop: accept
//! errors (EMFILE, ENFILE, …) back off instead of ending the loop, and the
//! loop ends when its owner says it is stopping. What happens to an
//! accepted connection is the caller's business.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

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

/// Wakes a thread blocked in `accept` on this listener (or a clone of it):
/// Linux fails `accept` with `EINVAL` once the socket is shut down.
pub fn interrupt(listener: &TcpListener) {
    let _ = SockRef::from(listener).shutdown(std::net::Shutdown::Both);
}

/// Accepts connections and hands each to `on_accept` until `stopping`.
pub fn accept_loop(
    listener: &TcpListener,
    stopping: impl Fn() -> bool,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) {
    let mut backoff = Duration::from_millis(5);
    while !stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                on_accept(stream, peer);
            }
            Err(e) => {
                if stopping() {
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
