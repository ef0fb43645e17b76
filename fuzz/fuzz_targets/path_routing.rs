//! Fuzzes path decoding and routing: no panic, and no decoded segment may
//! ever climb out of its directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::http::request::decode_path;
use securechat::http::router::{Route, route};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Some(segments) = decode_path(s) else { return };
    for seg in &segments {
        assert!(seg != "." && seg != ".." && !seg.contains('/') && !seg.contains('\\'));
    }
    for method in ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "BREW"] {
        if let Ok(Route::Static(p)) = route(method, &segments) {
            assert!(!p.split('/').any(|part| part == ".." || part.is_empty()));
        }
    }
});
