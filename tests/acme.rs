//! The ACME client against a real ACME server (pebble, `common::pebble`):
//! the account — made once with a key kept 0600, found again with it — an
//! order taken to a certificate over HTTP-01 and over TLS-ALPN-01 with
//! pebble validating, and an unanswered challenge. (`acme_server.rs`
//! drives the same through the server binary.) SQLite-only: nothing here
//! touches a database, so the PostgreSQL pass skips it.

mod common;

use common::pebble::{Pebble, free_port};
use common::*;
use rustls::client::danger::ServerCertVerifier;
use securechat::tls::acme::client::{AcmeError, Client};
use securechat::tls::acme::jws::AccountKey;

#[test]
fn an_account_is_made_once_and_found_again_with_its_key() {
    sqlite_only!();
    let pebble = Pebble::start(free_port(), free_port());
    let dir = TempDir::new("acme");
    let key_path = dir.path().join("acme").join("account.key");
    let key = AccountKey::load_or_create(&key_path).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    let first = client.account(&key, "admin@example.org").unwrap();
    assert!(first.starts_with("https://127.0.0.1:"), "{first}");
    // A second start: the same key finds the same account.
    let again = AccountKey::load_or_create(&key_path).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    assert_eq!(client.account(&again, "admin@example.org").unwrap(), first);
    // Another key is another account.
    let other = AccountKey::load_or_create(&dir.path().join("other.key")).unwrap();
    assert_ne!(client.account(&other, "admin@example.org").unwrap(), first);
}

#[test]
fn a_directory_that_is_not_trusted_or_not_there_is_a_clear_error() {
    sqlite_only!();
    let pebble = Pebble::start(free_port(), free_port());
    // Pebble's certificate is not among the system's roots.
    match Client::new(&pebble.directory, None) {
        Err(AcmeError::Http(e)) => assert!(!e.is_empty()),
        other => panic!("trusted an unknown CA: {:?}", other.err()),
    }
    let port = free_port();
    assert!(matches!(
        Client::new(
            &format!("https://127.0.0.1:{port}/dir"),
            Some(&pebble.https_ca)
        ),
        Err(AcmeError::Http(_))
    ));
}

/// An HTTP-01 responder on 127.0.0.1:`port`: answers
/// `/.well-known/acme-challenge/TOKEN` with what was published for it.
struct Http01 {
    tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Http01 {
    fn serve(port: u16) -> Http01 {
        use std::io::{BufRead, BufReader, Write};
        let tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>> =
            Default::default();
        let asked: std::sync::Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (t, a) = (tokens.clone(), asked.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                let mut r = BufReader::new(stream.try_clone().unwrap());
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let answer = path
                    .strip_prefix("/.well-known/acme-challenge/")
                    .and_then(|tok| t.lock().unwrap().get(tok).cloned());
                a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut s = stream;
                let _ = match answer {
                    Some(body) => write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None => write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
            }
        });
        Http01 { tokens, asked }
    }
}

impl securechat::tls::acme::order::Responder for Http01 {
    fn publish(&self, c: &securechat::tls::acme::order::Challenge) {
        self.tokens
            .lock()
            .unwrap()
            .insert(c.token.clone(), c.key_authorization.clone());
    }
    fn withdraw(&self, c: &securechat::tls::acme::order::Challenge) {
        self.tokens.lock().unwrap().remove(&c.token);
    }
}

#[test]
fn a_certificate_is_issued_over_http_01_and_chains_to_the_cas_root() {
    sqlite_only!();
    use securechat::tls::acme::order::Kind;
    let http_port = free_port();
    let pebble = Pebble::start(http_port, free_port());
    let responder = Http01::serve(http_port);
    let dir = TempDir::new("acme-order");
    let key = AccountKey::load_or_create(&dir.path().join("account.key")).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    let kid = client.account(&key, "admin@example.org").unwrap();
    let domains = vec!["chat.test".to_string(), "www.chat.test".to_string()];
    let issued = client
        .obtain(&key, &kid, &domains, Kind::Http01, &responder)
        .unwrap();
    assert!(
        responder.asked.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "pebble validated each domain against the responder"
    );
    assert!(issued.key_pem.contains("PRIVATE KEY"));
    // Kept beside the account key; fresh, so not due for renewal.
    let kept = securechat::tls::acme::kept::save(&dir.path().join("cert"), &issued).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        kept.not_before <= now + 60 && now < kept.not_after,
        "{kept:?}"
    );
    assert!(!kept.due(now), "a new certificate is not due: {kept:?}");
    // The chain verifies against pebble's root, for both names.
    let ders = |pem: &str| -> Vec<rustls::pki_types::CertificateDer<'static>> {
        ureq::tls::parse_pem(pem.as_bytes())
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => {
                    Some(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                }
                _ => None,
            })
            .collect()
    };
    let mut roots = rustls::RootCertStore::empty();
    for r in ders(&pebble.root_pem()) {
        roots.add(r).unwrap();
    }
    let chain = ders(&issued.chain_pem);
    assert!(chain.len() >= 2, "leaf and intermediate");
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        std::sync::Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    for name in domains.iter().map(String::as_str).chain(["other.test"]) {
        let server = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let verified = verifier.verify_server_cert(
            &chain[0],
            &chain[1..],
            &server,
            &[],
            rustls::pki_types::UnixTime::now(),
        );
        assert_eq!(
            verified.is_ok(),
            name != "other.test",
            "{name}: {verified:?}"
        );
    }
}

#[test]
fn a_challenge_nobody_answers_fails_the_order_clearly() {
    sqlite_only!();
    use securechat::tls::acme::order::Kind;
    let http_port = free_port();
    let pebble = Pebble::start(http_port, free_port());
    // A responder that publishes nothing: pebble gets 404s.
    struct Silent;
    impl securechat::tls::acme::order::Responder for Silent {
        fn publish(&self, _: &securechat::tls::acme::order::Challenge) {}
        fn withdraw(&self, _: &securechat::tls::acme::order::Challenge) {}
    }
    let _http = Http01::serve(http_port);
    let dir = TempDir::new("acme-refused");
    let key = AccountKey::load_or_create(&dir.path().join("account.key")).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    let kid = client.account(&key, "admin@example.org").unwrap();
    let err = client
        .obtain(
            &key,
            &kid,
            &["nobody.test".to_string()],
            Kind::Http01,
            &Silent,
        )
        .unwrap_err();
    assert!(err.to_string().contains("nobody.test"), "{err}");
}

/// A TLS listener on 127.0.0.1:`port` whose certificates come from an
/// `AlpnResponder` (offering `acme-tls/1`); it completes each handshake and
/// hangs up, as a server answering the challenge does.
fn serve_alpn(port: u16) -> std::sync::Arc<securechat::tls::acme::alpn::AlpnResponder> {
    use securechat::tls::acme::alpn::{ACME_TLS, AlpnResponder};
    let responder = std::sync::Arc::new(AlpnResponder::new(None));
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_cert_resolver(responder.clone());
    config.alpn_protocols = vec![ACME_TLS.to_vec()];
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = stream;
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                while conn.is_handshaking() {
                    if conn.complete_io(&mut s).is_err() {
                        return;
                    }
                }
                conn.send_close_notify();
                let _ = conn.complete_io(&mut s);
            });
        }
    });
    responder
}

#[test]
fn a_certificate_is_issued_over_tls_alpn_01() {
    sqlite_only!();
    use securechat::tls::acme::order::Kind;
    let tls_port = free_port();
    let pebble = Pebble::start(free_port(), tls_port);
    let responder = serve_alpn(tls_port);
    let dir = TempDir::new("acme-alpn");
    let key = AccountKey::load_or_create(&dir.path().join("account.key")).unwrap();
    let mut client = Client::new(&pebble.directory, Some(&pebble.https_ca)).unwrap();
    let kid = client.account(&key, "admin@example.org").unwrap();
    let issued = client
        .obtain(
            &key,
            &kid,
            &["alpn.test".to_string()],
            Kind::TlsAlpn01,
            &*responder,
        )
        .unwrap();
    assert!(issued.chain_pem.contains("-----BEGIN CERTIFICATE-----"));
    // The challenge certificate is gone once the authorization is valid.
    assert!(
        format!("{responder:?}").contains("open: 0"),
        "{responder:?}"
    );
}

/// Accepts any certificate: to see which one a server picks.
#[derive(Debug)]
struct AnyCert;

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[test]
fn only_a_client_offering_acme_tls_alone_gets_the_challenge_certificate() {
    sqlite_only!();
    use securechat::tls::acme::alpn::{ACME_TLS, AlpnResponder};
    use securechat::tls::acme::order::{Challenge, Kind, Responder};
    use std::sync::Arc;
    // The server's usual certificate, and the responder in front of it,
    // configured as `--acme` configures the HTTPS listener.
    let key = rcgen::KeyPair::generate().unwrap();
    let usual = rcgen::CertificateParams::new(vec!["alpn.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let live = Arc::new(securechat::tls::live::LiveCert::new(
        securechat::tls::live::certified_pem(&usual.pem(), &key.serialize_pem()).unwrap(),
    ));
    let responder = Arc::new(AlpnResponder::new(Some(live as _)));
    let config = securechat::tls::build(responder.clone() as _, true).unwrap();
    responder.publish(&Challenge {
        kind: Kind::TlsAlpn01,
        domain: "alpn.test".into(),
        token: "t".into(),
        key_authorization: "t.k".into(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut s = stream;
            while conn.is_handshaking() {
                if conn.complete_io(&mut s).is_err() {
                    break;
                }
            }
        }
    });
    let served = |alpn: Vec<Vec<u8>>| {
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert))
        .with_no_client_auth();
        cfg.alpn_protocols = alpn;
        let mut conn = rustls::ClientConnection::new(
            Arc::new(cfg),
            rustls::pki_types::ServerName::try_from("alpn.test").unwrap(),
        )
        .unwrap();
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).unwrap();
        }
        (
            conn.peer_certificates().unwrap()[0].to_vec(),
            conn.alpn_protocol().map(<[u8]>::to_vec),
        )
    };
    let (cert, alpn) = served(vec![ACME_TLS.to_vec()]);
    assert_ne!(
        cert,
        usual.der().to_vec(),
        "the CA gets the challenge certificate"
    );
    assert_eq!(alpn.as_deref(), Some(ACME_TLS));
    let (cert, alpn) = served(vec![ACME_TLS.to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(
        cert,
        usual.der().to_vec(),
        "a browser-like client gets the usual one"
    );
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}
