//! Pebble, Let's Encrypt's ACME test server, for one test: its HTTPS
//! certificate made here (Debian's package ships none), its DNS answered by
//! `pebble-challtestsrv`, whose default answer (127.0.0.1) sends every
//! test domain's validation to the server under test on `http_port` /
//! `tls_port` — real validation, not `PEBBLE_VA_ALWAYS_VALID`. Both run in
//! a process group of their own, stopped when dropped (also on panic).
//! `make test` installs Debian's `pebble` when missing.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;

pub struct Pebble {
    /// The ACME directory.
    pub directory: String,
    /// The certificate pebble's own HTTPS answers with (trust it).
    pub https_ca: Vec<u8>,
    /// Its management interface (the issuing roots: `/roots/0`).
    pub management: String,
    children: Vec<Child>,
    _dir: TempDir,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(cmd: &mut Command, log: &std::path::Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (`make test` installs Debian's pebble)"))
}

/// How a pebble runs beyond its validation ports.
#[derive(Default, Clone, Copy)]
pub struct Options {
    /// Its directory's port (default: a free one).
    pub acme_port: Option<u16>,
    /// How long the certificates it issues are valid (default: pebble's
    /// five years).
    pub validity_s: Option<u64>,
}

/// A certificate for pebble's own HTTPS (PEM certificate, PEM key): made
/// before it starts when a test must trust it before it runs.
pub fn https_identity() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pebble {
    /// Pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port` of 127.0.0.1.
    pub fn start(http_port: u16, tls_port: u16) -> Pebble {
        Pebble::start_with(http_port, tls_port, Options::default())
    }

    pub fn start_with(http_port: u16, tls_port: u16, opts: Options) -> Pebble {
        Pebble::start_as(http_port, tls_port, opts, https_identity())
    }

    /// With `https` (from `https_identity`) as its HTTPS certificate.
    pub fn start_as(
        http_port: u16,
        tls_port: u16,
        opts: Options,
        https: (String, String),
    ) -> Pebble {
        let dir = TempDir::new("pebble");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, &https.0).unwrap();
        std::fs::write(&key_path, &https.1).unwrap();
        let acme = opts.acme_port.unwrap_or_else(free_port);
        let (mgmt, dns, chall_mgmt) = (free_port(), free_port(), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": cert_path,
            "privateKey": key_path,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some(v) = opts.validity_s {
            config["pebble"]["certificateValidityPeriod"] = v.into();
        }
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let chall = spawn(
            Command::new("pebble-challtestsrv").args([
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
                "-management",
                &format!("127.0.0.1:{chall_mgmt}"),
            ]),
            &dir.path().join("challtestsrv.log"),
        );
        let pebble = spawn(
            Command::new("pebble")
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0"),
            &dir.path().join("pebble.log"),
        );
        let p = Pebble {
            directory: format!("https://127.0.0.1:{acme}/dir"),
            https_ca: https.0.into_bytes(),
            management: format!("https://127.0.0.1:{mgmt}"),
            children: vec![pebble, chall],
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", acme)).is_err() {
            assert!(Instant::now() < until, "pebble did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }
}

impl Pebble {
    /// The root the certificates it issues chain to (PEM).
    pub fn root_pem(&self) -> String {
        use ureq::tls::{PemItem, RootCerts, TlsConfig};
        let certs: Vec<_> = ureq::tls::parse_pem(&self.https_ca)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(std::sync::Arc::new(certs)))
                    .build(),
            )
            .build()
            .into();
        agent
            .get(format!("{}/roots/0", self.management))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.wait();
        }
    }
}
