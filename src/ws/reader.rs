//! The reader loop: tungstenite parses client frames (4 KiB read buffer,
//! 64 KiB caps) and answers pings and closes; data frames go to the caller.
//! A socket silent for longer than `IDLE` (clients answer our pings every
//! 30 s) is closed.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

use super::peer::{Peer, PeerIo};

/// A data frame from the client.
pub enum Incoming<'a> {
    Text(&'a str),
    /// Binary frames carry nothing the chat understands.
    Binary,
}

/// Largest client message: a 64 KiB E2E envelope plus its JSON wrapping.
pub const MAX_MESSAGE: usize = 64 * 1024 + 1024;
/// Close a socket that has sent nothing (not even a pong) for this long.
pub const IDLE: Duration = Duration::from_secs(75);

/// tungstenite's read buffer: it zero-fills all of it before every read,
/// so every byte of it is resident for the socket's life. A chat frame is
/// a few hundred bytes; bigger ones grow it while they are read.
const READ_BUFFER: usize = 1024;

/// Reads `sock` until the socket closes, passing each data frame to
/// `on_frame`; `leftover` holds bytes read after the handshake.
pub fn run(
    peer: &Arc<Peer>,
    sock: &Arc<TcpStream>,
    leftover: Vec<u8>,
    mut on_frame: impl FnMut(Incoming<'_>),
) {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let _ = sock.set_read_timeout(Some(IDLE));
    let io = PeerIo {
        peer: Arc::clone(peer),
        sock: Arc::clone(sock),
    };
    let mut ws = WebSocket::from_partially_read(io, leftover, Role::Server, Some(config));
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => on_frame(Incoming::Text(text.as_str())),
            Ok(Message::Binary(_)) => on_frame(Incoming::Binary),
            Ok(Message::Close(asked)) => {
                // Answer with our own close (echoing the client's code), so
                // the socket stops taking frames at once: tungstenite's reply
                // would leave a moment in which a broadcast could follow it.
                let code = asked.map_or(1000, |c| u16::from(c.code));
                peer.close(code, "");
                break;
            }
            Ok(_) => {}
            Err(Error::Capacity(_)) => {
                peer.close(1009, "message too big");
                break;
            }
            Err(Error::Protocol(_)) => {
                peer.close(1002, "protocol error");
                break;
            }
            Err(Error::Utf8(_)) => {
                peer.close(1007, "invalid UTF-8");
                break;
            }
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                peer.close(1001, "idle timeout");
                break;
            }
            Err(_) => break,
        }
    }
    peer.finish();
}
