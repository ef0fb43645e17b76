//! Fuzzes cookie-header and urlencoded-form parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::http::{cookies, form};

fuzz_target!(|data: &[u8]| {
    let _ = form::Form::parse(data).map(|f| f.get("csrf_token").map(str::len));
    let _ = form::percent_decode(data, true);
    if let Ok(s) = std::str::from_utf8(data) {
        for name in ["session", "csrf", ""] {
            if let Some(v) = cookies::get(s, name) {
                assert!(!v.contains(';'));
            }
        }
    }
});
