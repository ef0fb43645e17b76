//! HTTPS and WSS against the real server with a rustls client that trusts
//! the server's generated certificate (verification on).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::https::{self, Https};
use common::ws::*;
use common::*;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tungstenite::Message;

struct TlsServer {
    server: Server,
    dir: PathBuf,
    _tmp: Option<TempDir>,
}

fn cert_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("tls/cert.pem"), dir.join("tls/key.pem"))
}

fn tls_args(dir: &Path) -> Vec<String> {
    let (c, k) = cert_paths(dir);
    vec![
        "--tls".into(),
        "--certfile".into(),
        c.display().to_string(),
        "--keyfile".into(),
        k.display().to_string(),
        "--tls-config".into(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/tls_config.json").into(),
    ]
}

fn start_tls_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = tls_args(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_in(&dir.join("data"), dir, &args)
}

fn start_tls(extra: &[&str]) -> TlsServer {
    let tmp = TempDir::new("tls");
    let dir = tmp.path().to_path_buf();
    TlsServer {
        server: start_tls_in(&dir, extra),
        dir,
        _tmp: Some(tmp),
    }
}

fn client_config(
    certfile: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    https::trusting(&std::fs::read(certfile).unwrap(), versions)
}

/// An HTTPS client trusting the server's own certificate.
fn https(s: &TlsServer) -> Https {
    let cfg = client_config(&cert_paths(&s.dir).0, rustls::DEFAULT_VERSIONS);
    Https::new(s.server.addr, "localhost", cfg)
}

fn fingerprint_line(s: &Server) -> String {
    s.stdout
        .iter()
        .find(|l| l.contains("SHA-256 fingerprint"))
        .cloned()
        .expect("fingerprint printed")
}

#[test]
fn pages_login_secure_cookie_and_hsts() {
    let s = start_tls(&[]);
    assert_eq!(s.server.scheme, "https");
    let fp = fingerprint_line(&s.server);
    assert!(
        fp.trim().rsplit(' ').next().unwrap().split(':').count() == 32,
        "{fp}"
    );
    assert!(s.server.stdout.iter().any(|l| l.contains("expires")));
    let mut c = https(&s);
    let login = c.get("/login");
    assert_eq!(login.status, 200);
    assert!(
        login
            .header("strict-transport-security")
            .unwrap()
            .contains("max-age=")
    );
    assert!(
        login.header("set-cookie").unwrap().contains("Secure"),
        "pre-login CSRF cookie is Secure too"
    );
    let r = c.register("alice");
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r
        .session_set_cookie()
        .expect("register sets the session cookie");
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let chat = c.get("/chat");
    let page = chat.text();
    let badge_at = page.find("aria-label=\"Connection security\"").unwrap();
    let badge = &page[badge_at..badge_at + 200];
    assert!(
        badge.contains("HTTPS") && badge.contains("TLS 1.3") && badge.contains("TLS13_"),
        "{badge}"
    );
    assert_eq!(c.get("/api/me").json()["username"], "alice");
    // Key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cert_paths(&s.dir).1)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn tls12_works_and_tls11_is_refused() {
    let s = start_tls(&[]);
    let cfg = client_config(&cert_paths(&s.dir).0, &[&rustls::version::TLS12]);
    let conn =
        rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(s.server.addr).unwrap());
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut tls).unwrap().status, 200);
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );

    // A TLS 1.1-only ClientHello gets an alert (or a close), never a ServerHello.
    let mut hello = Vec::new();
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]);
    body.extend_from_slice(&[0x01, 0x00]);
    body.extend_from_slice(&[0x00, 0x00]);
    let mut hs = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    hello.extend_from_slice(&[0x16, 0x03, 0x01, (hs.len() >> 8) as u8, hs.len() as u8]);
    hello.extend_from_slice(&hs);
    let reply = raw(s.server.addr, &hello, Duration::from_secs(5));
    assert!(
        reply.is_empty() || reply[0] == 0x15,
        "expected an alert, got {:?}",
        &reply[..reply.len().min(8)]
    );
    assert!(!reply.starts_with(&[0x16]), "no handshake record in reply");
}

/// Registers alice and bob over HTTPS; alice creates `group`, bob joins.
fn alice_and_bob_in(s: &TlsServer, group: &str) -> (Https, Https, i64) {
    let mut a = https(s);
    let mut b = https(s);
    assert_eq!(a.register("alice").status, 303);
    assert_eq!(b.register("bob").status, 303);
    let id = a
        .json("POST", "/api/groups", &json!({ "name": group }))
        .json()["id"]
        .as_i64()
        .unwrap();
    let joined = b.json("POST", &format!("/api/groups/{id}/join"), &Value::Null);
    assert_eq!(joined.status, 200);
    (a, b, id)
}

#[test]
fn wss_chat_reaches_an_idle_client() {
    let s = start_tls(&["--msg-rate", "0"]);
    let (a, b, id) = alice_and_bob_in(&s, "tls room");
    // Bob's socket sits idle in a blocking read on the server side.
    let mut wb = b.wss(&format!("/ws/chat/{id}"));
    expect(&mut wb, "hello");
    let mut wa = a.wss(&format!("/ws/chat/{id}"));
    expect(&mut wa, "hello");
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..200 {
        wa.send(Message::text(json!({"type": "message", "content": format!("over tls {i}"), "client_id": i.to_string()}).to_string())).unwrap();
    }
    for i in 0..200 {
        let m = expect(&mut wb, "message");
        assert_eq!(m["content"], format!("over tls {i}"));
    }
    // Foreign origins are refused over wss too.
    assert_eq!(
        a.try_wss(&format!("/ws/chat/{id}"), Some("https://evil.example"))
            .err(),
        Some(403)
    );
}

#[test]
fn certificate_is_reused_and_expired_one_regenerated() {
    let tmp = TempDir::new("tls-reuse");
    let dir = tmp.path();
    let first = start_tls_in(dir, &[]);
    let fp1 = fingerprint_line(&first);
    assert!(first.stdout.iter().any(|l| l.contains("generated")));
    drop(first);
    let second = start_tls_in(dir, &[]);
    assert_eq!(
        fingerprint_line(&second),
        fp1,
        "same certificate after restart"
    );
    assert!(second.stdout.iter().any(|l| l.contains("(loaded)")));
    drop(second);

    // Replace it with an expired self-signed certificate.
    let (c, k) = cert_paths(dir);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let third = start_tls_in(dir, &[]);
    let fp3 = fingerprint_line(&third);
    assert_ne!(fp3, fp1);
    assert!(third.stdout.iter().any(|l| l.contains("generated")));
    assert!(third.log_text().contains("expired"), "a warning is logged");
    let s = TlsServer {
        server: third,
        dir: dir.to_path_buf(),
        _tmp: None,
    };
    assert_eq!(
        https(&s).get("/healthz").status,
        200,
        "the new certificate verifies"
    );
}

#[test]
fn mismatched_key_and_missing_files_are_clear_errors() {
    let tmp = TempDir::new("tls-bad");
    let dir = tmp.path();
    let (c, k) = cert_paths(dir);
    std::fs::create_dir_all(c.parent().unwrap()).unwrap();
    let key_a = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key_b = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key_a)
        .unwrap();
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key_b.serialize_pem()).unwrap();
    let run = |args: &[String]| {
        Command::new(bin())
            .args(["--port", "0", "--data-dir"])
            .arg(dir.join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&tls_args(dir));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match"), "{err}");
    // Garbage key file.
    std::fs::write(&k, "not a key").unwrap();
    let err = String::from_utf8_lossy(&run(&tls_args(dir)).stderr).to_string();
    assert!(
        err.contains("key.pem") && err.contains("not a PEM private key"),
        "{err}"
    );
    // Certificate without key.
    std::fs::remove_file(&k).unwrap();
    let err = String::from_utf8_lossy(&run(&tls_args(dir)).stderr).to_string();
    assert!(err.contains("not the key"), "{err}");
}

#[test]
fn gen_cert_subcommand() {
    let tmp = TempDir::new("gen-cert");
    let (c, k) = cert_paths(tmp.path());
    let run = |force: bool| {
        let mut cmd = Command::new(bin());
        cmd.args(["gen-cert", "--certfile"])
            .arg(&c)
            .arg("--keyfile")
            .arg(&k);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SHA-256 fingerprint"));
    assert!(c.exists() && k.exists());
    let again = run(false);
    assert!(
        !again.status.success(),
        "refuses to overwrite without --force"
    );
    assert!(run(true).status.success());
}

#[test]
fn stalled_handshake_is_cut_off_at_the_deadline() {
    let s = start_tls(&[]);
    let mut sock = TcpStream::connect(s.server.addr).unwrap();
    // Half a ClientHello, then silence.
    sock.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    let _ = sock.read(&mut buf);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(8) && waited <= Duration::from_secs(15),
        "{waited:?}"
    );
    assert_eq!(https(&s).get("/healthz").status, 200);
}

#[test]
fn plain_http_to_the_tls_port_is_dropped_quickly() {
    let s = start_tls(&["--redirect-http", "0"]);
    let t0 = Instant::now();
    let reply = raw(
        s.server.addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(!reply.starts_with(b"HTTP/1.1 200"), "no plaintext answer");
    assert_eq!(https(&s).get("/healthz").status, 200);
    // The redirect listener sends plain HTTP to the HTTPS origin.
    let line = s
        .server
        .stdout
        .iter()
        .find(|l| l.starts_with("Redirecting"))
        .cloned();
    let redirect_addr: std::net::SocketAddr = line
        .as_deref()
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|l| l.split(' ').next())
        .map(|a| a.parse().unwrap())
        .unwrap_or_else(|| {
            // The line may come after "listening"; read it from the log of stdout lines we kept.
            panic!("no redirect line in {:?}", s.server.stdout)
        });
    let mut c = Client::new(redirect_addr);
    let r = c.get("/chat?x=1");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://127.0.0.1:{}/chat?x=1", s.server.addr.port())
            .replace("127.0.0.1", &redirect_addr.ip().to_string())
    );
}

#[test]
fn large_responses_and_frame_batches_over_tls() {
    let s = start_tls(&["--msg-rate", "0"]);
    let (a, mut b, id) = alice_and_bob_in(&s, "big");
    let mut wb = b.wss(&format!("/ws/chat/{id}"));
    expect(&mut wb, "hello");
    let mut wa = a.wss(&format!("/ws/chat/{id}"));
    expect(&mut wa, "hello");
    // 80 frames of ~4 KB sent at once pile up for bob and go out as batches
    // far larger than rustls' 64 KiB record buffer.
    let body = "é".repeat(2000);
    for i in 0..80 {
        wa.send(Message::text(json!({"type": "message", "content": format!("{i} {body}"), "client_id": i.to_string()}).to_string()))
            .unwrap();
    }
    for i in 0..80 {
        let m = expect(&mut wb, "message");
        assert!(m["content"].as_str().unwrap().starts_with(&format!("{i} ")));
    }
    // A 300 KB JSON answer over HTTPS arrives whole.
    let r = b.get(&format!("/api/groups/{id}/messages?limit=80"));
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 300_000, "{}", r.body.len());
    assert_eq!(r.json()["messages"].as_array().unwrap().len(), 80);
}

#[test]
fn closed_doors_over_https_private_group_invite_removal_and_revocation() {
    let s = start_tls(&[]);
    let mut a = https(&s);
    let mut b = https(&s);
    assert_eq!(a.register("alice").status, 303);
    assert_eq!(b.register("bob").status, 303);
    let g = a.json(
        "POST",
        "/api/groups",
        &json!({ "name": "vault", "private": true }),
    );
    assert_eq!(g.status, 201);
    let id = g.json()["id"].as_i64().unwrap();
    assert_eq!(b.get(&format!("/api/groups/{id}/messages")).status, 404);
    let code = a
        .json("POST", &format!("/api/groups/{id}/invites"), &json!({}))
        .json()["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b.get(&format!("/invite/{code}")).status, 200);
    assert_eq!(
        b.json("POST", &format!("/api/invites/{code}"), &Value::Null)
            .status,
        200
    );
    let mut wb = b.wss(&format!("/ws/chat/{id}"));
    expect(&mut wb, "hello");
    // Removal closes bob's wss socket with 4403.
    let removed = a.json(
        "DELETE",
        &format!("/api/groups/{id}/members/bob"),
        &Value::Null,
    );
    assert_eq!(removed.status, 204);
    assert_eq!(close_code(&mut wb, Duration::from_secs(3)), Some(4403));
    // An admin disabling bob closes his /ws with 4401.
    let mut nb = b.wss("/ws");
    expect(&mut nb, "online");
    assert_eq!(
        a.json("POST", "/api/admin/users/bob/disable", &Value::Null)
            .status,
        204
    );
    assert_eq!(close_code(&mut nb, Duration::from_secs(3)), Some(4401));
    assert_eq!(a.get("/admin").status, 200);
}

#[test]
fn files_upload_and_download_over_https() {
    let s = start_tls(&["--msg-rate", "0"]);
    let mut a = https(&s);
    assert_eq!(a.register("alice").status, 303);
    let g = a
        .json("POST", "/api/groups", &json!({"name": "files"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    let token = a.csrf();
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let r = a.request(
        "POST",
        &format!("/api/groups/{g}/files"),
        &[
            ("X-CSRF-Token", &token),
            ("X-Filename", "big.bin"),
            ("Content-Type", "application/octet-stream"),
        ],
        &bytes,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["url"].as_str().unwrap().to_string();
    let got = a.get(&url);
    assert_eq!(got.status, 200);
    assert!(got.body == bytes, "the bytes came back changed");
    let part = a.request("GET", &url, &[("Range", "bytes=1000000-1000009")], b"");
    assert_eq!(
        (part.status, &part.body[..]),
        (206, &bytes[1_000_000..1_000_010])
    );
}
