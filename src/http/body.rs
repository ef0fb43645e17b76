//! A request body read as a stream, for uploads: exactly `Content-Length`
//! bytes — first those already buffered behind the head, then from the
//! connection — and not one more, in bounded time: each read waits at most
//! 30 s, and the whole body must arrive at 32 KiB/s on average (after 10 s
//! of grace), so a client that stops or trickles is given up on. `100 Continue` is sent
//! only when the handler first reads, so a request refused from its head
//! alone (too large, not allowed) never has its body sent.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::request::Source;

/// A client that sends nothing for this long has stopped.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest a body may arrive on average (256 kbit/s, a poor mobile
/// uplink), after `GRACE`: a trickle cannot hold a connection for ever.
pub const MIN_RATE: u64 = 32 * 1024;
const GRACE: Duration = Duration::from_secs(10);

pub struct Streamed<'a> {
    src: &'a mut dyn Source,
    /// Bytes received behind the head; what follows the body stays here.
    buf: &'a mut Vec<u8>,
    left: u64,
    expects_continue: bool,
    /// The whole body must have arrived by then.
    deadline: Instant,
}

impl<'a> Streamed<'a> {
    pub fn new(
        src: &'a mut dyn Source,
        buf: &'a mut Vec<u8>,
        length: u64,
        expects_continue: bool,
    ) -> Streamed<'a> {
        Streamed {
            src,
            buf,
            left: length,
            expects_continue,
            deadline: Instant::now() + GRACE + Duration::from_secs(length / MIN_RATE),
        }
    }

    /// Body bytes not read yet: when not zero after the handler, the
    /// connection cannot carry another request and closes.
    pub fn unread(&self) -> u64 {
        self.left
    }
}

impl Read for Streamed<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let room = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(out.len());
        if room == 0 {
            return Ok(0);
        }
        if !self.buf.is_empty() {
            let n = room.min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            self.left -= n as u64;
            return Ok(n);
        }
        if std::mem::take(&mut self.expects_continue) {
            self.src.send(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let wait = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(io::ErrorKind::TimedOut)?
            .min(STALL_TIMEOUT);
        let n = self.src.read_timeout(&mut out[..room], wait)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunks(Vec<Vec<u8>>, Vec<u8>);

    impl Source for Chunks {
        fn read_timeout(&mut self, buf: &mut [u8], _: Duration) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut c = self.0.remove(0);
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.insert(0, c.split_off(n));
            }
            Ok(n)
        }
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.1.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn reads_exactly_the_declared_length() {
        let mut src = Chunks(vec![b"lo wor".to_vec(), b"ldGET /".to_vec()], Vec::new());
        let mut buf = b"hel".to_vec();
        let mut body = Streamed::new(&mut src, &mut buf, 11, true);
        let mut got = Vec::new();
        body.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello world");
        assert_eq!(body.unread(), 0);
        assert_eq!(src.1, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn a_body_past_its_deadline_is_given_up() {
        let mut src = Chunks(vec![b"abc".to_vec()], Vec::new());
        let mut buf = Vec::new();
        let mut body = Streamed::new(&mut src, &mut buf, 3, false);
        body.deadline = Instant::now() - Duration::from_millis(1);
        let e = body.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // 25 MiB may take 10 s + 800 s.
        let mut src = Chunks(Vec::new(), Vec::new());
        let body = Streamed::new(&mut src, &mut buf, 25 << 20, false);
        let allowed = body.deadline - Instant::now();
        assert!(allowed > Duration::from_secs(800) && allowed <= Duration::from_secs(810));
    }

    #[test]
    fn a_short_body_is_an_error_not_an_end() {
        let mut src = Chunks(vec![b"abc".to_vec()], Vec::new());
        let mut buf = Vec::new();
        let mut body = Streamed::new(&mut src, &mut buf, 10, false);
        let mut got = Vec::new();
        let e = body.read_to_end(&mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(body.unread(), 7);
        assert!(src.1.is_empty());
    }
}
