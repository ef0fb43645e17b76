//! `--redirect-http PORT`: a plain-HTTP listener that answers every request
//! with a permanent redirect to the same path on the HTTPS origin — except
//! an ACME CA's HTTP-01 request for an open challenge, answered with its
//! key authorization (`/.well-known/acme-challenge/TOKEN`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::http::Response;
use crate::http::request::{self, Limits, ReadError};
use crate::net::transport::{Conn, HttpSource};
use crate::tls::acme::http01::Http01Responder;

/// Redirects being answered at once at most; more connections are dropped.
const MAX_OPEN: usize = 256;
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Serves redirects forever on `listener` towards `https://HOST:tls_port`.
pub fn serve(
    listener: TcpListener,
    tls_port: u16,
    fallback_host: String,
    http01: Option<Arc<Http01Responder>>,
) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if OPEN.fetch_add(1, Ordering::AcqRel) >= MAX_OPEN {
            OPEN.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let host = fallback_host.clone();
        let http01 = http01.clone();
        let spawned = std::thread::Builder::new()
            .name("redirect".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                answer(stream, tls_port, &host, http01.as_deref());
                OPEN.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            OPEN.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn answer(stream: TcpStream, tls_port: u16, fallback_host: &str, http01: Option<&Http01Responder>) {
    let peer = stream
        .peer_addr()
        .map_or([0u8; 4].into(), |a: SocketAddr| a.ip());
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let conn = Conn {
        sock: Arc::new(stream),
        tls: None,
    };
    let limits = Limits {
        idle: Duration::from_secs(10),
        request: Duration::from_secs(10),
    };
    let mut buf = Vec::new();
    let started = Instant::now();
    let resp = match request::read_request(&mut HttpSource(&conn), &mut buf, limits, peer, false) {
        Ok(req) if http01.is_some() && is_challenge(&req.segments) => {
            // RFC 8555 §8.3: the key authorization as the whole body.
            match http01.and_then(|h| h.answer(&req.segments[2])) {
                Some(body) => Response::new(200, "application/octet-stream", body.into_bytes()),
                None => Response::text(404, "No such challenge."),
            }
        }
        Ok(req) => {
            let host = req
                .header("host")
                .and_then(hostname)
                .unwrap_or_else(|| fallback_host.to_string());
            let mut location = format!("https://{host}:{tls_port}{}", encode_path(&req.segments));
            if !req.query.is_empty() {
                location.push('?');
                location.push_str(&req.query);
            }
            let mut r = Response::text(308, "Use HTTPS.");
            r.headers.push(("Location", location));
            r
        }
        Err(ReadError::Closed) => return,
        Err(ReadError::Status(status, why)) => Response::text(status, why),
    };
    let _ = conn.write_all(&resp.serialize(false, false, false));
    crate::debug!(
        "redirect {} {}ms {peer}",
        resp.status,
        started.elapsed().as_millis()
    );
}

/// `/.well-known/acme-challenge/TOKEN`.
fn is_challenge(segments: &[String]) -> bool {
    matches!(segments, [a, b, _] if a == ".well-known" && b == "acme-challenge")
}

/// The host name of a `Host` header, if it is a plain name or IP literal.
fn hostname(host: &str) -> Option<String> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        format!("[{}]", rest.split(']').next()?)
    } else {
        host.split(':').next()?.to_string()
    };
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    ok.then_some(name)
}

/// Re-encodes decoded path segments.
fn encode_path(segments: &[String]) -> String {
    let mut out = String::new();
    for seg in segments {
        out.push('/');
        for b in seg.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_paths() {
        assert_eq!(hostname("example.com:8080").as_deref(), Some("example.com"));
        assert_eq!(hostname("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(hostname("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(hostname("evil.com/x"), None);
        assert_eq!(hostname(""), None);
        assert_eq!(encode_path(&[]), "/");
        assert_eq!(encode_path(&["a b".into(), "c".into()]), "/a%20b/c");
    }
}
