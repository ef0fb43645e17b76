//! Fuzzes the decoding of client WebSocket frames: text through the
//! protocol's decoder, then a message's draft into a body for plain and E2E
//! groups. Anything accepted must respect the limits; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::chat::body::{MAX_CONTENT_CHARS, MAX_ENVELOPE_BYTES, from_draft, from_post};
use securechat::chat::protocol::{ClientFrame, MAX_ATTACHMENTS, MAX_CLIENT_ID, MAX_MENTIONS};
use securechat::store::Body;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(ClientFrame::Message {
        draft,
        client_id,
        reply_to,
        mentions,
        attachments,
    }) = ClientFrame::decode(text)
    else {
        return;
    };
    assert!(client_id.is_none_or(|c| c.len() <= MAX_CLIENT_ID));
    assert!(reply_to.is_none_or(|id| id > 0));
    assert!(mentions.is_none_or(|m| m.len() <= MAX_MENTIONS));
    let with_files = attachments.as_ref().is_some_and(|a| !a.is_empty());
    assert!(attachments.is_none_or(|a| a.len() <= MAX_ATTACHMENTS && a.iter().all(|id| *id > 0)));
    // A message with files may have no text; without, it is a draft's body.
    if let Ok(Body::Content(c)) = from_post(false, &draft, with_files) {
        assert!(c.chars().count() <= MAX_CONTENT_CHARS);
        assert!(with_files || !c.trim().is_empty());
    }
    for e2e in [false, true] {
        match from_draft(e2e, &draft) {
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
