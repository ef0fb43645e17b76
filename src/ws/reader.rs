//! The reader loop: tungstenite parses client frames (4 KiB read buffer,
//! 64 KiB caps) and answers pings and closes; text frames go to the chat.
//! A socket silent for longer than `IDLE` (clients answer our pings every
//! 30 s) is closed.

use std::sync::Arc;
use std::time::Duration;

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

use super::peer::{Peer, PeerIo};

/// Largest client message: a 64 KiB E2E envelope plus its JSON wrapping.
pub const MAX_MESSAGE: usize = 64 * 1024 + 1024;
/// Close a socket that has sent nothing (not even a pong) for this long.
pub const IDLE: Duration = Duration::from_secs(75);

/// Reads until the socket closes, passing each text message to `on_text`.
pub fn run(peer: &Arc<Peer>, leftover: Vec<u8>, mut on_text: impl FnMut(&str)) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let _ = peer.socket().set_read_timeout(Some(IDLE));
    let mut ws = WebSocket::from_partially_read(
        PeerIo(Arc::clone(peer)),
        leftover,
        Role::Server,
        Some(config),
    );
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => on_text(text.as_str()),
            Ok(Message::Binary(_)) => on_binary(peer),
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

fn on_binary(peer: &Arc<Peer>) {
    peer.send(&super::frame::text(&serde_json::json!({
        "type": "error",
        "code": "bad_request",
        "message": "frames must be JSON text",
    })));
}
