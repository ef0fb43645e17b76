//! Fuzzes what an upload or a download request brings: the first bytes of
//! a file (image type and size from the header, never a panic, sizes in
//! range), its name (always a safe display name) and a `Range` header
//! (always within the body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::chat::{files, sniff};
use securechat::http::range::{self, Range};

fuzz_target!(|data: &[u8]| {
    if let Some(img) = sniff::image(data) {
        assert!((1..=1 << 16).contains(&img.width) && (1..=1 << 16).contains(&img.height));
    }
    let text = String::from_utf8_lossy(data);
    let name = files::display_name(&text);
    assert!(!name.is_empty() && name.len() <= 200);
    assert!(!name.contains(['/', '\\']) && !name.starts_with('.'));
    assert!(!name.chars().any(char::is_control));
    for len in [0u64, 1, 100, u64::MAX] {
        match range::parse(Some(&text), len) {
            Range::Part { start, end } => assert!(start <= end && end < len),
            Range::Whole | Range::Unsatisfiable => {}
        }
    }
});
