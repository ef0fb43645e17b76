//! Fuzzes the decoding of client WebSocket frames: JSON text into a message
//! body for plain and E2E groups. Anything accepted must respect the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::chat::body::{MAX_CONTENT_CHARS, MAX_ENVELOPE_BYTES, from_request};
use securechat::db::chat::Body;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    for e2e in [false, true] {
        match from_request(e2e, &v) {
            Ok(Body::Content(c)) => {
                assert!(!e2e);
                assert!(!c.trim().is_empty() && c.chars().count() <= MAX_CONTENT_CHARS);
            }
            Ok(Body::Envelope(e)) => {
                assert!(e2e);
                assert!(e.len() <= MAX_ENVELOPE_BYTES);
                assert!(serde_json::from_str::<serde_json::Value>(&e).is_ok());
            }
            Err(_) => {}
        }
    }
});
