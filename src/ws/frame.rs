//! Server-to-client frames, encoded once and shared by every recipient
//! (server frames are never masked).

use std::sync::Arc;

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// An encoded frame, shared between recipients.
pub type Frame = Arc<[u8]>;

fn encode(opcode: u8, payload: &[u8]) -> Frame {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out.into()
}

/// A text frame carrying `payload` (UTF-8; the chat's JSON).
pub fn text(payload: &[u8]) -> Frame {
    encode(TEXT, payload)
}

/// A close frame with a status code and a short reason.
pub fn close(code: u16, reason: &str) -> Frame {
    let mut payload = code.to_be_bytes().to_vec();
    let reason = &reason.as_bytes()[..reason.len().min(120)];
    payload.extend_from_slice(reason);
    encode(CLOSE, &payload)
}

pub fn ping() -> Frame {
    encode(PING, b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(&*encode(TEXT, b"hi"), b"\x81\x02hi");
        let f = encode(TEXT, &[0u8; 200]);
        assert_eq!(&f[..4], &[0x81, 126, 0, 200]);
        let f = encode(TEXT, &vec![0u8; 70_000]);
        assert_eq!(&f[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(f[2..10].try_into().unwrap()), 70_000);
        assert_eq!(&*close(1000, ""), b"\x88\x02\x03\xe8");
    }
}
