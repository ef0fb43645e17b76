//! An HTTPS client for the real server: a rustls client that verifies the
//! served chain against the roots a test gives (the server's self-signed
//! certificate, or an ACME test CA's root) for a name, with a cookie jar,
//! forms, JSON with the CSRF token, and WSS.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use super::html::{hidden_value, meta_content};
use super::ws::{Ws, handshake};
use super::{Client, Resp, read_response};

pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A client configuration trusting the certificates in `pem`.
pub fn trusting(
    pem: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A verified TLS connection to `addr` for `name`.
pub fn try_connect(
    addr: SocketAddr,
    name: &str,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Tls> {
    let conn = rustls::ClientConnection::new(
        Arc::clone(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.flush()?;
    Ok(tls)
}

/// The leaf certificate `addr` serves for `name`, if it verifies.
pub fn served_leaf(
    addr: SocketAddr,
    name: &str,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Vec<u8>> {
    let mut tls = try_connect(addr, name, config)?;
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    tls.conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or_else(|| std::io::Error::other("no certificate"))
}

/// An HTTPS client with a cookie jar.
pub struct Https {
    pub addr: SocketAddr,
    /// The name asked for (SNI, verification, `Host`).
    pub name: String,
    pub config: Arc<rustls::ClientConfig>,
    pub jar: Client,
}

impl Https {
    pub fn new(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>) -> Https {
        Https {
            addr,
            name: name.to_string(),
            config,
            jar: Client::new(addr),
        }
    }

    pub fn connect(&self) -> Tls {
        try_connect(self.addr, &self.name, &self.config).unwrap()
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut tls = self.connect();
        let host = format!("{}:{}", self.name, self.addr.port());
        let bytes = self.jar.request_bytes(method, path, &host, headers, body);
        tls.write_all(&bytes).unwrap();
        let resp = read_response(&mut tls).unwrap();
        self.jar.absorb_cookies(&resp);
        resp
    }

    pub fn get(&mut self, path: &str) -> Resp {
        self.request("GET", path, &[], b"")
    }

    pub fn register(&mut self, name: &str) -> Resp {
        let page = self.get("/register").text();
        let token = hidden_value(&page, "csrf_token").unwrap();
        let body = format!("username={name}&password=correct+horse+battery&csrf_token={token}");
        self.request(
            "POST",
            "/register",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    pub fn csrf(&mut self) -> String {
        meta_content(&self.get("/chat").text(), "csrf-token").unwrap()
    }

    pub fn json(&mut self, method: &str, path: &str, v: &Value) -> Resp {
        let token = self.csrf();
        self.request(
            method,
            path,
            &[
                ("X-CSRF-Token", &token),
                ("Content-Type", "application/json"),
            ],
            v.to_string().as_bytes(),
        )
    }

    /// Opens `path` over TLS with the jar's cookies and `origin` (by
    /// default the server's own https origin).
    pub fn try_wss(&self, path: &str, origin: Option<&str>) -> Result<Ws<Tls>, u16> {
        let port = self.addr.port();
        let own = format!("https://{}:{port}", self.name);
        let url = format!("wss://{}:{port}{path}", self.name);
        let origin = origin.unwrap_or(&own);
        handshake(self.connect(), &url, &self.jar, &[("Origin", origin)])
    }

    pub fn wss(&self, path: &str) -> Ws<Tls> {
        self.try_wss(path, None)
            .unwrap_or_else(|s| panic!("wss {path}: HTTP {s}"))
    }
}
