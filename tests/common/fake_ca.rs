//! A misbehaving ACME server for one test, over real HTTPS on 127.0.0.1:
//! a directory that is not JSON, one that lacks what RFC 8555 says it
//! carries, one far too large, a CA that rate-limits new accounts (with
//! `Retry-After`), one that accepts connections and never answers, and
//! one that offers only HTTP-01 challenges and fails them all.
//! Stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    NotJson,
    Incomplete,
    Oversized,
    RateLimited,
    Hangs,
    /// Offers only http-01, and fails every validation.
    OnlyHttp01,
}

pub struct FakeCa {
    pub directory: String,
    /// Its HTTPS certificate (trust it with `--acme-ca`).
    pub ca_pem: String,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeCa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl FakeCa {
    pub fn start(mode: Mode) -> FakeCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        listener.set_nonblocking(true).unwrap();
        let (stop2, base2) = (Arc::clone(&stop), base.clone());
        let challenged = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let Ok((sock, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = sock.set_nonblocking(false);
                let (config, stop, base, challenged) = (
                    Arc::clone(&config),
                    Arc::clone(&stop2),
                    base2.clone(),
                    Arc::clone(&challenged),
                );
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, sock);
                    let _ = answer(&mut tls, mode, &base, &stop, &challenged);
                });
            }
        });
        FakeCa {
            directory: format!("{base}/dir"),
            ca_pem: cert.pem(),
            stop,
        }
    }
}

fn answer(
    tls: &mut impl ReadWrite,
    mode: Mode,
    base: &str,
    stop: &AtomicBool,
    challenged: &AtomicBool,
) -> std::io::Result<()> {
    loop {
        // One request head (bodies are small signed JWS, read and ignored).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte)? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let length: usize = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        tls.read_exact(&mut body)?;
        let (method, path) = {
            let mut w = text.split_whitespace();
            (
                w.next().unwrap_or("").to_string(),
                w.next().unwrap_or("").to_string(),
            )
        };
        if mode == Mode::Hangs {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
            return Ok(());
        }
        let directory = format!(
            r#"{{"newNonce":"{base}/nonce","newAccount":"{base}/account","newOrder":"{base}/order"}}"#
        );
        let (status, headers, body): (u16, String, Vec<u8>) = match (mode, method.as_str(), path.as_str()) {
            (Mode::NotJson, _, "/dir") => (200, String::new(), b"<html>a login page</html>".to_vec()),
            (Mode::Incomplete, _, "/dir") => (200, String::new(), format!(r#"{{"newNonce":"{base}/nonce"}}"#).into_bytes()),
            (Mode::Oversized, _, "/dir") => {
                let mut big = br#"{"newNonce":""#.to_vec();
                big.extend(std::iter::repeat_n(b'x', 2 << 20));
                big.extend_from_slice(br#""}"#);
                (200, String::new(), big)
            }
            (_, _, "/dir") => (200, String::new(), directory.into_bytes()),
            (Mode::OnlyHttp01, "POST", "/account") => (
                201,
                format!("Replay-Nonce: bm9uY2U\r\nLocation: {base}/acct/1\r\n"),
                br#"{"status":"valid"}"#.to_vec(),
            ),
            (Mode::OnlyHttp01, "POST", "/order") => (
                201,
                format!("Replay-Nonce: bm9uY2U\r\nLocation: {base}/order/1\r\n"),
                format!(r#"{{"status":"pending","authorizations":["{base}/authz/1"],"finalize":"{base}/finalize"}}"#).into_bytes(),
            ),
            (Mode::OnlyHttp01, "POST", "/authz/1") => {
                let status = if challenged.load(Ordering::Relaxed) { "invalid" } else { "pending" };
                (
                    200,
                    "Replay-Nonce: bm9uY2U\r\n".into(),
                    format!(r#"{{"status":"{status}","identifier":{{"type":"dns","value":"chat.test"}},"challenges":[{{"type":"http-01","url":"{base}/chall/1","token":"dG9rZW4","status":"{status}","error":{{"detail":"fake CA: nothing was checked"}}}}]}}"#).into_bytes(),
                )
            }
            (Mode::OnlyHttp01, "POST", "/chall/1") => {
                challenged.store(true, Ordering::Relaxed);
                (200, "Replay-Nonce: bm9uY2U\r\n".into(), b"{}".to_vec())
            }
            (_, _, "/nonce") => (200, "Replay-Nonce: bm9uY2U\r\n".into(), Vec::new()),
            (Mode::RateLimited, "POST", "/account") => (
                429,
                "Replay-Nonce: bm9uY2U\r\nRetry-After: 3600\r\nContent-Type: application/problem+json\r\n".into(),
                br#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new accounts from this address"}"#.to_vec(),
            ),
            _ => (404, String::new(), b"{}".to_vec()),
        };
        let status_line = match status {
            200 => "200 OK",
            201 => "201 Created",
            429 => "429 Too Many Requests",
            _ => "404 Not Found",
        };
        let head = format!(
            "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\n{headers}Connection: keep-alive\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes())?;
        if method != "HEAD" {
            tls.write_all(&body)?;
        }
        tls.flush()?;
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
