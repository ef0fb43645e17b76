//! Fuzzes request reading: arbitrary bytes, delivered in arbitrary chunks,
//! must yield a request or a clean refusal, never a panic.
#![no_main]

use std::io;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use securechat::http::request::{Limits, Source, read_request};

struct Chunks<'a> {
    data: &'a [u8],
    step: usize,
}

impl Source for Chunks<'_> {
    fn read_timeout(&mut self, buf: &mut [u8], _t: Duration) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
    fn send(&mut self, _b: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, data)) = data.split_first() else { return };
    let mut src = Chunks { data, step: usize::from(step).max(1) };
    let limits = Limits { idle: Duration::from_millis(1), request: Duration::from_millis(50) };
    let mut buf = Vec::new();
    for _ in 0..4 {
        match read_request(&mut src, &mut buf, limits, [127, 0, 0, 1].into(), false) {
            Ok(req) => {
                assert!(req.path.starts_with('/'));
                assert!(req.body.len() <= securechat::http::request::MAX_BODY);
                let _ = req.keep_alive();
                let _ = req.query_param("v");
            }
            Err(_) => break,
        }
    }
});
