//! File transfers for the `files` scenario: a cheap deterministic content
//! pattern streamed from one reused 1 MiB buffer (never a whole file in
//! memory), an upload that streams it as the body of
//! `POST /api/groups/{id}/files`, a download that checks every byte it
//! gets back against the pattern as it arrives (and, if asked, hashes
//! them), and the same bytes through a bare loopback TCP socket into a
//! sink thread, for how fast this box moves bytes at all.
//!
//! File `seed` of `blocks` MiB is `blocks` copies of one pseudo-random
//! MiB, each with its first 8 bytes replaced by `seed`'s stamp for that
//! block: files of different seeds differ (the server stores by content
//! hash, so they must), a block out of place is caught, and making,
//! checking and sending the bytes costs next to nothing.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ring::digest;

use crate::client::{Ep, Stream, connect, parse_head, read_response};
use crate::error::BenchError;
use crate::room::User;

pub const MIB: usize = 1024 * 1024;
/// Bytes of each block that carry its stamp.
const STAMP: usize = 8;
/// The client's read size for downloads and the sink's for the baseline
/// (the server takes an upload's body 64 KiB at a time).
const DOWNLOAD_READ: usize = 256 * 1024;
const SINK_READ: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The pattern's one MiB.
pub struct Pattern {
    base: Vec<u8>,
}

impl Default for Pattern {
    fn default() -> Pattern {
        Pattern::new()
    }
}

impl Pattern {
    pub fn new() -> Pattern {
        let mut base = vec![0u8; MIB];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for w in base.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        Pattern { base }
    }

    /// Block `k` of file `seed`'s stamp.
    fn stamp(seed: u64, k: u64) -> [u8; STAMP] {
        (seed.wrapping_mul(0x1000_0000_01B3) ^ k ^ 0xA5A5_5A5A_0000_0000).to_le_bytes()
    }

    /// Calls `f` with file `seed`'s bytes in order: for each block its
    /// stamp, then the rest of the one shared MiB (nothing is copied).
    fn each_block(
        &self,
        seed: u64,
        blocks: u64,
        mut f: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        for k in 0..blocks {
            f(&Pattern::stamp(seed, k))?;
            f(&self.base[STAMP..])?;
        }
        Ok(())
    }

    /// File `seed`'s SHA-256, in hex (what the server's ETag starts with).
    pub fn sha256(&self, seed: u64, blocks: u64) -> String {
        let mut h = digest::Context::new(&digest::SHA256);
        let _ = self.each_block(seed, blocks, |b| {
            h.update(b);
            Ok(())
        });
        hex(h.finish().as_ref())
    }

    /// The offset of the first byte of `got` (which starts at file offset
    /// `at`) that is not file `seed`'s, if any.
    fn mismatch(&self, seed: u64, at: u64, got: &[u8]) -> Option<u64> {
        let mut pos = 0usize;
        while pos < got.len() {
            let off = at + pos as u64;
            let (k, inner) = (off / MIB as u64, (off % MIB as u64) as usize);
            let n = (MIB - inner).min(got.len() - pos);
            let part = &got[pos..pos + n];
            let stamp = Pattern::stamp(seed, k);
            let from = STAMP.saturating_sub(inner).min(n);
            if let Some(i) = (0..from).find(|&i| part[i] != stamp[inner + i]) {
                return Some(off + i as u64);
            }
            if part[from..] != self.base[inner + from..inner + n] {
                let i = (from..n)
                    .find(|&i| part[i] != self.base[inner + i])
                    .unwrap_or(from);
                return Some(off + i as u64);
            }
            pos += n;
        }
        None
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A stored upload, as the server described it, and how long it took.
pub struct Uploaded {
    pub id: i64,
    pub url: String,
    pub size: u64,
    /// First byte sent to the last body byte written.
    pub body_s: f64,
    /// First byte sent to the `201` in hand.
    pub total_s: f64,
}

fn io_err(doing: &'static str) -> impl Fn(io::Error) -> BenchError {
    move |error| BenchError::Io { doing, error }
}

/// Uploads file `seed` of `blocks` MiB to `group` as `user`, named `name`
/// (letters, digits, `-` and `.` only: no percent-encoding needed), on a
/// connection of its own; fails unless the answer is a `201` for exactly
/// that many bytes.
pub fn upload(
    ep: &Ep,
    user: &User,
    group: i64,
    name: &str,
    pat: &Pattern,
    seed: u64,
    blocks: u64,
) -> Result<Uploaded, BenchError> {
    let path = format!("/api/groups/{group}/files");
    let failed = |e| BenchError::in_request(format!("POST {path} ({name})"), e);
    let size = blocks * MIB as u64;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/octet-stream\r\nX-Filename: {name}\r\n\
         Cookie: session={session}\r\nX-CSRF-Token: {csrf}\r\nOrigin: {origin}\r\n\
         Content-Length: {size}\r\n\r\n",
        port = ep.port,
        session = user.session,
        csrf = user.csrf(),
        origin = ep.origin(),
    );
    let t = Instant::now();
    let mut s = connect(ep).map_err(failed)?;
    s.write_all(head.as_bytes())
        .and_then(|()| pat.each_block(seed, blocks, |b| s.write_all(b)))
        .and_then(|()| s.flush())
        .map_err(|e| failed(io_err("send")(e)))?;
    let body_s = t.elapsed().as_secs_f64();
    let r = read_response(&mut s, &mut Vec::new(), true).map_err(failed)?;
    let total_s = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    let (id, url, got) = (v["id"].as_i64(), v["url"].as_str(), v["size"].as_u64());
    match (r.status, id, url, got) {
        (201, Some(id), Some(url), Some(got)) if got == size => Ok(Uploaded {
            id,
            url: url.to_string(),
            size,
            body_s,
            total_s,
        }),
        _ => Err(BenchError::Status {
            request: format!("POST {path} ({name}, {size} bytes)"),
            status: r.status,
            body: Some(v),
        }),
    }
}

/// What a download brought back.
pub struct Downloaded {
    pub bytes: u64,
    /// Request sent to the last byte in hand (and checked).
    pub secs: f64,
    /// The response's `ETag`, unquoted.
    pub etag: String,
    /// SHA-256 of the bytes received, if asked for.
    pub sha256: Option<String>,
}

/// Downloads `url` as `user` and checks every byte against file `seed` of
/// `blocks` MiB as it arrives (no more than one read's worth is held);
/// with `hash`, also hashes what came. Fails on any other status, length
/// or byte.
pub fn download(
    ep: &Ep,
    user: &User,
    url: &str,
    pat: &Pattern,
    seed: u64,
    blocks: u64,
    hash: bool,
) -> Result<Downloaded, BenchError> {
    let failed = |e| BenchError::in_request(format!("GET {url}"), e);
    let want = blocks * MIB as u64;
    let req = format!(
        "GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Cookie: session={}\r\n\r\n",
        ep.port, user.session
    );
    let t = Instant::now();
    let mut s = connect(ep).map_err(failed)?;
    s.write_all(req.as_bytes())
        .and_then(|()| s.flush())
        .map_err(|e| failed(io_err("send")(e)))?;
    let mut buf = vec![0u8; DOWNLOAD_READ];
    let mut head: Vec<u8> = Vec::with_capacity(4096);
    let read = |s: &mut Stream, buf: &mut [u8]| loop {
        match s.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(io_err("receive")(e))),
        }
    };
    // The head, and any body bytes that came with it.
    let (status, headers, first) = loop {
        let n = read(&mut s, &mut buf)?;
        if n == 0 {
            return Err(failed(BenchError::Closed));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some((len, status, headers)) = parse_head(&head).map_err(failed)? {
            break (status, headers, head.split_off(len));
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    if status != 200 || length != Some(want) {
        return Err(BenchError::Status {
            request: format!("GET {url} (content-length {length:?}, want {want})"),
            status,
            body: None,
        });
    }
    let etag = header("etag")
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let mut hasher = hash.then(|| digest::Context::new(&digest::SHA256));
    let mut at = 0u64;
    let mut take = |got: &[u8], at: &mut u64| -> Result<(), BenchError> {
        if *at + got.len() as u64 > want {
            return Err(BenchError::Wrong {
                check: "downloaded length",
                detail: format!("more than the {want} bytes of {url}"),
            });
        }
        if let Some(off) = pat.mismatch(seed, *at, got) {
            return Err(BenchError::Wrong {
                check: "downloaded bytes",
                detail: format!("{url}: byte {off} differs from what was uploaded"),
            });
        }
        if let Some(h) = hasher.as_mut() {
            h.update(got);
        }
        *at += got.len() as u64;
        Ok(())
    };
    take(&first, &mut at)?;
    while at < want {
        let n = read(&mut s, &mut buf)?;
        if n == 0 {
            return Err(BenchError::Wrong {
                check: "downloaded length",
                detail: format!("{url} ended after {at} of {want} bytes"),
            });
        }
        take(&buf[..n], &mut at)?;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(Downloaded {
        bytes: at,
        secs,
        etag,
        sha256: hasher.map(|h| hex(h.finish().as_ref())),
    })
}

/// File `seed` of `blocks` MiB written to a plain loopback TCP socket and
/// read (64 KiB at a time, discarded) by a sink thread of this process:
/// seconds from connect to the sink's last byte.
pub fn raw_tcp(pat: &Pattern, seed: u64, blocks: u64) -> Result<f64, BenchError> {
    let want = blocks * MIB as u64;
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(io_err("bind the sink"))?;
    let addr = l.local_addr().map_err(io_err("bind the sink"))?;
    l.set_nonblocking(true).map_err(io_err("bind the sink"))?;
    let sink = thread::Builder::new()
        .name("tcp-sink".into())
        .spawn(move || -> Result<(u64, Instant), BenchError> {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut s = loop {
                match l.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            let what = "the sink's connection";
                            return Err(BenchError::Timeout { what, secs: 10 });
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(io_err("accept")(e)),
                }
            };
            s.set_nonblocking(false).map_err(io_err("accept"))?;
            s.set_read_timeout(Some(IO_TIMEOUT))
                .map_err(io_err("accept"))?;
            let mut buf = vec![0u8; SINK_READ];
            let mut got = 0u64;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok((got, Instant::now())),
                    Ok(n) => got += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err("sink receive")(e)),
                }
            }
        })
        .map_err(|error| BenchError::Thread {
            name: "tcp-sink".into(),
            error,
        })?;
    let t = Instant::now();
    let sent = TcpStream::connect(addr).and_then(|mut c| {
        c.set_nodelay(true)?;
        c.set_write_timeout(Some(IO_TIMEOUT))?;
        pat.each_block(seed, blocks, |b| c.write_all(b))?;
        c.shutdown(Shutdown::Write)
    });
    let (got, end) = sink.join().map_err(|_| BenchError::Panicked("sink"))??;
    sent.map_err(io_err("send to the sink"))?;
    if got != want {
        return Err(BenchError::Incomplete {
            verb: "sank",
            noun: "bytes",
            got: got as usize,
            want: want as usize,
        });
    }
    Ok(end.duration_since(t).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_checks_itself() {
        let p = Pattern::new();
        let mut file = Vec::new();
        let _ = p.each_block(7, 3, |b| {
            file.extend_from_slice(b);
            Ok(())
        });
        assert_eq!(file.len(), 3 * MIB);
        for (at, len) in [(0, 3 * MIB), (5, 100), (MIB - 3, 20), (2 * MIB + 1, 7)] {
            assert_eq!(p.mismatch(7, at as u64, &file[at..at + len]), None);
        }
        assert_eq!(
            p.mismatch(8, MIB as u64 - 3, &file[MIB - 3..MIB + 20]),
            Some(MIB as u64)
        );
        file[MIB + 100] ^= 1;
        assert_eq!(p.mismatch(7, 0, &file), Some(MIB as u64 + 100));
        assert_ne!(p.sha256(7, 3), p.sha256(8, 3));
    }
}
