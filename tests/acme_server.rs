//! `--acme` through the real binary against a real ACME server (pebble,
//! validating over the network against the server: DNS from
//! pebble-challtestsrv answers 127.0.0.1 for every name) and against
//! misbehaving ones (`common::fake_ca`): the certificate issued over
//! TLS-ALPN-01 and over HTTP-01 and served for the domain, chaining to
//! pebble's root; renewal on request and at two thirds of the lifetime,
//! swapped in while a WebSocket stays open; kept across a restart; a CA
//! that is down, refuses a challenge, rate-limits, answers garbage, far
//! too much or nothing at all, or offers no TLS-ALPN-01 — a clear error, a
//! back-off, and a server that keeps serving. SQLite-only: ACME touches no
//! database, so the PostgreSQL pass skips these.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fake_ca::{FakeCa, Mode};
use common::https::{self, Https};
use common::pebble::{self, Options, Pebble, free_port};
use common::ws::*;
use common::*;
use serde_json::json;

const DOMAIN: &str = "chat.test";

/// The flags for an `--acme` server on `port` (0: any) in `tmp`.
fn acme_args(tmp: &Path, directory: &str, ca_pem: &[u8], port: u16) -> Vec<String> {
    let ca = tmp.join("acme-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    [
        "--port",
        &port.to_string(),
        "--acme",
        DOMAIN,
        "--acme-email",
        "admin@example.org",
        "--acme-directory",
        directory,
        "--acme-ca",
        &ca.display().to_string(),
        "--certfile",
        &tmp.join("tls/cert.pem").display().to_string(),
        "--keyfile",
        &tmp.join("tls/key.pem").display().to_string(),
        "--tls-config",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tls_config.json"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start(tmp: &Path, args: &[String]) -> Server {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_in(&tmp.join("data"), tmp, &args)
}

fn status(data: &Path) -> String {
    ok(admin(data, &["acme", "status"], ""))
}

fn wait_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Clients trusting pebble's issuing root.
fn pebble_roots(p: &Pebble) -> Arc<rustls::ClientConfig> {
    https::trusting(p.root_pem().as_bytes(), rustls::DEFAULT_VERSIONS)
}

/// The leaf served for the domain once it chains to `roots`.
fn acme_leaf(addr: SocketAddr, roots: &Arc<rustls::ClientConfig>) -> Option<Vec<u8>> {
    https::served_leaf(addr, DOMAIN, roots).ok()
}

/// The self-signed certificate served before the first ACME one.
fn self_signed_serves(s: &Server, tmp: &Path) -> bool {
    let own = https::trusting(
        &std::fs::read(tmp.join("tls/cert.pem")).unwrap(),
        rustls::DEFAULT_VERSIONS,
    );
    let mut c = Https::new(s.addr, "localhost", own);
    c.get("/healthz").status == 200
}

/// alice, registered through the ACME certificate, on a group's socket.
fn socket_through(server: &Server, roots: &Arc<rustls::ClientConfig>) -> (Https, Ws<https::Tls>) {
    let mut alice = Https::new(server.addr, DOMAIN, Arc::clone(roots));
    assert_eq!(alice.register("alice").status, 303);
    let id = alice
        .json("POST", "/api/groups", &json!({"name": "acme room"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    let mut ws = alice.wss(&format!("/ws/chat/{id}"));
    expect(&mut ws, "hello");
    (alice, ws)
}

/// The socket still carries messages both ways.
fn still_open(ws: &mut Ws<https::Tls>, text: &str) {
    send_text(ws, text, text);
    let m = expect(ws, "message");
    assert_eq!(m["content"], text);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn log_count(s: &Server, needle: &str) -> usize {
    s.log_text().matches(needle).count()
}

#[test]
fn tls_alpn_01_certificate_is_served_renewed_under_an_open_socket_and_kept() {
    sqlite_only!();
    let tls_port = free_port();
    let pebble = Pebble::start(free_port(), tls_port);
    let roots = pebble_roots(&pebble);
    let tmp = TempDir::new("acme-alpn");
    let args = acme_args(tmp.path(), &pebble.directory, &pebble.https_ca, tls_port);
    let started = Instant::now();
    let mut server = start(tmp.path(), &args);
    let first = wait_until("an ACME certificate", Duration::from_secs(60), || {
        acme_leaf(server.addr, &roots)
    });
    eprintln!(
        "start to a served ACME certificate (tls-alpn-01): {} ms",
        started.elapsed().as_millis()
    );
    let st = status(&server.data);
    assert!(st.contains(&format!("domains:      {DOMAIN}")), "{st}");
    assert!(st.contains("issued over tls-alpn-01"), "{st}");
    assert!(
        st.contains("renewal due:") && st.contains("next attempt:"),
        "{st}"
    );
    let acme_dir = server.data.join("acme");
    assert_eq!(mode(&acme_dir.join("account.key")), 0o600);
    assert_eq!(mode(&acme_dir.join("key.pem")), 0o600);
    let log = server.log_text();
    assert!(log.contains("issued over tls-alpn-01"), "{log}");
    let key_pem = std::fs::read_to_string(acme_dir.join("key.pem")).unwrap();
    let key_line = key_pem.lines().nth(1).unwrap();
    assert!(
        !log.contains(key_line),
        "the log holds the certificate's key"
    );

    // A user on a socket through the ACME certificate.
    let (_alice, mut ws) = socket_through(&server, &roots);

    // Forced renewal: a new certificate for new handshakes, the open
    // socket untouched.
    ok(admin(&server.data, &["acme", "renew"], ""));
    let second = wait_until("the renewed certificate", Duration::from_secs(60), || {
        acme_leaf(server.addr, &roots).filter(|l| *l != first)
    });
    still_open(&mut ws, "still here after the renewal");
    assert!(server.log_text().contains("renewal asked for"));

    // A restart serves the kept certificate at once and asks for none.
    server.terminate();
    let server = start(tmp.path(), &args);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("TLS certificate (ACME)")),
        "{:?}",
        server.stdout
    );
    assert_eq!(acme_leaf(server.addr, &roots), Some(second));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        log_count(&server, "acme: asking"),
        0,
        "{}",
        server.log_text()
    );
}

#[test]
fn http_01_is_used_when_tls_alpn_01_fails_and_renewal_comes_at_two_thirds() {
    sqlite_only!();
    let (tls_port, http_port) = (free_port(), free_port());
    // Pebble validates TLS-ALPN-01 on a port nobody listens on: that
    // challenge fails, HTTP-01 on the redirect listener is what works.
    let pebble = Pebble::start_with(
        http_port,
        free_port(),
        Options {
            validity_s: Some(30),
            ..Options::default()
        },
    );
    let roots = pebble_roots(&pebble);
    let tmp = TempDir::new("acme-http");
    let mut args = acme_args(tmp.path(), &pebble.directory, &pebble.https_ca, tls_port);
    args.extend(["--redirect-http".to_string(), http_port.to_string()]);
    let server = start(tmp.path(), &args);
    let first = wait_until("an ACME certificate", Duration::from_secs(60), || {
        acme_leaf(server.addr, &roots)
    });
    let st = status(&server.data);
    assert!(st.contains("issued over http-01"), "{st}");
    let log = server.log_text();
    assert!(
        log.contains(&format!("could not validate {DOMAIN} over tls-alpn-01"))
            && log.contains("trying http-01"),
        "{log}"
    );
    // The plain listener still redirects, and answers only open tokens.
    let plain: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let r = parse_response(&raw(
        plain,
        b"GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: chat.test\r\n\r\n",
        Duration::from_secs(5),
    ));
    assert_eq!(r.status, 404);
    let r = parse_response(&raw(
        plain,
        b"GET /chat HTTP/1.1\r\nHost: chat.test\r\n\r\n",
        Duration::from_secs(5),
    ));
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://chat.test:{tls_port}/chat").as_str())
    );
    // Valid 30 s: renewed by itself about 20 s in, under an open socket.
    let (_alice, mut ws) = socket_through(&server, &roots);
    wait_until("the renewal at two thirds", Duration::from_secs(45), || {
        acme_leaf(server.addr, &roots).filter(|l| *l != first)
    });
    still_open(&mut ws, "still here after the renewal");
    // (Pebble may reuse the valid authorization: then no challenge.)
    assert_eq!(
        log_count(&server, &format!("acme: certificate for {DOMAIN} issued")),
        2
    );
    assert_eq!(log_count(&server, "renewal asked for"), 0);
}

#[test]
fn a_ca_that_is_down_is_retried_and_a_renew_request_gets_the_certificate_once_it_is_up() {
    sqlite_only!();
    let (acme_port, tls_port) = (free_port(), free_port());
    let identity = pebble::https_identity();
    let tmp = TempDir::new("acme-down");
    let directory = format!("https://127.0.0.1:{acme_port}/dir");
    let args = acme_args(tmp.path(), &directory, identity.0.as_bytes(), tls_port);
    let server = start(tmp.path(), &args);
    let st = wait_until("the failed attempt", Duration::from_secs(20), || {
        Some(status(&server.data)).filter(|s| s.contains("failed:"))
    });
    assert!(st.contains("failures:     1 in a row"), "{st}");
    assert!(st.contains("certificate:  none issued yet"), "{st}");
    assert!(server.log_text().contains("next attempt in 60 s"));
    assert!(self_signed_serves(&server, tmp.path()));

    let pebble = Pebble::start_as(
        free_port(),
        tls_port,
        Options {
            acme_port: Some(acme_port),
            ..Options::default()
        },
        identity,
    );
    let roots = pebble_roots(&pebble);
    ok(admin(&server.data, &["acme", "renew"], ""));
    wait_until("the certificate", Duration::from_secs(60), || {
        acme_leaf(server.addr, &roots)
    });
    let st = status(&server.data);
    assert!(
        st.contains("issued over tls-alpn-01") && !st.contains("failures:"),
        "{st}"
    );
}

#[test]
fn misbehaving_cas_get_clear_bounded_errors_and_the_server_keeps_serving() {
    sqlite_only!();
    let cases = [
        (Mode::NotJson, "the directory is not JSON"),
        (Mode::Incomplete, "the directory has no newAccount"),
        (Mode::Oversized, "limit"),
        (Mode::RateLimited, "rateLimited"),
        (Mode::Hangs, "timeout"),
        (
            Mode::OnlyHttp01,
            "could not validate chat.test over http-01: fake CA: nothing was checked",
        ),
    ];
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(m, says)| {
            std::thread::spawn(move || {
                let ca = FakeCa::start(m);
                let tmp = TempDir::new("acme-bad");
                let mut args = acme_args(tmp.path(), &ca.directory, ca.ca_pem.as_bytes(), 0);
                if m == Mode::OnlyHttp01 {
                    args.extend(["--redirect-http".to_string(), free_port().to_string()]);
                }
                let started = Instant::now();
                let server = start(tmp.path(), &args);
                let st = wait_until("the failed attempt", Duration::from_secs(50), || {
                    Some(status(&server.data)).filter(|s| s.contains("failed:"))
                });
                let took = started.elapsed();
                assert!(
                    st.to_lowercase().contains(&says.to_lowercase()),
                    "{m:?}: {st}"
                );
                assert!(self_signed_serves(&server, tmp.path()), "{m:?}");
                (m, took, server.log_text())
            })
        })
        .collect();
    for run in runs {
        let (m, took, log) = run.join().unwrap();
        match m {
            // The CA's Retry-After (an hour) outweighs the first back-off.
            Mode::RateLimited => assert!(log.contains("next attempt in 60 min"), "{log}"),
            // Bounded by the 30 s an exchange may take.
            Mode::Hangs => assert!(took < Duration::from_secs(45), "{took:?}"),
            // Not offered: the next kind is tried.
            Mode::OnlyHttp01 => assert!(
                log.contains("chat.test: the CA offers no tls-alpn-01 challenge; trying http-01"),
                "{log}"
            ),
            _ => assert!(log.contains("next attempt in 60 s"), "{m:?}: {log}"),
        }
    }
}

#[test]
fn acme_flags_are_checked_before_anything_starts() {
    sqlite_only!();
    let tmp = TempDir::new("acme-flags");
    let run = |args: &[String]| {
        std::process::Command::new(bin())
            .args(["--data-dir", &tmp.path().join("data").display().to_string()])
            .args(args)
            .output()
            .unwrap()
    };
    let missing: PathBuf = tmp.path().join("nothing.pem");
    let not_pem = tmp.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let valid = ["--acme", "chat.test", "--acme-email", "a@b.org"];
    let with = |extra: &[&str]| -> Vec<String> {
        valid.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let own = |args: &[&str]| -> Vec<String> { args.iter().map(|s| s.to_string()).collect() };
    for (args, says) in [
        (own(&["--acme", "chat.test"]), "--acme-email"),
        (
            own(&["--acme", "*.chat.test", "--acme-email", "a@b.org"]),
            "--acme",
        ),
        (
            own(&["--acme", "127.0.0.1", "--acme-email", "a@b.org"]),
            "--acme",
        ),
        (
            own(&["--acme", "chat.test", "--acme-email", "nobody"]),
            "--acme-email",
        ),
        (
            own(&["--acme", "chat.test", "--acme-email", "mailto:a@b.org"]),
            "--acme-email",
        ),
        (own(&["--acme-email", "a@b.org"]), "go with --acme"),
        (
            with(&["--acme-staging", "--acme-directory", "https://ca.test/dir"]),
            "not both",
        ),
        (
            with(&["--acme-directory", "http://ca.test/dir"]),
            "https://",
        ),
        (with(&["--acme-challenge", "http-01"]), "--redirect-http"),
        (with(&["--acme-challenge", "dns-01"]), "--acme-challenge"),
        (
            with(&["--acme-ca", missing.to_str().unwrap()]),
            "nothing.pem",
        ),
        (with(&["--acme-ca", not_pem.to_str().unwrap()]), "not.pem"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = ok(admin(&tmp.path().join("data"), &["acme", "status"], ""));
    assert!(out.contains("No ACME certificate yet"), "{out}");
    // No request is left where no server ever kept ACME data.
    let out = admin(&tmp.path().join("data"), &["acme", "renew"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("has not run with --acme"));
}

#[test]
fn a_certificate_due_as_soon_as_it_is_issued_is_not_asked_for_in_a_loop() {
    sqlite_only!();
    // Pebble issuing certificates that live a second: each is due for
    // renewal by the time it arrives (as with a clock far ahead of the
    // CA's). Served, and asked for again only after a back-off.
    let tls_port = free_port();
    let pebble = Pebble::start_with(
        free_port(),
        tls_port,
        Options {
            validity_s: Some(1),
            ..Options::default()
        },
    );
    let tmp = TempDir::new("acme-due");
    let args = acme_args(tmp.path(), &pebble.directory, &pebble.https_ca, tls_port);
    let server = start(tmp.path(), &args);
    wait_until("the first attempt", Duration::from_secs(30), || {
        Some(()).filter(|_| server.log_text().contains("already due for renewal"))
    });
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        log_count(&server, "acme: asking"),
        1,
        "{}",
        server.log_text()
    );
    assert!(server.log_text().contains("next attempt in 60 s"));
}
