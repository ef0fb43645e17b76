//! Talking to an ACME server (RFC 8555 §7): its directory, nonces, and
//! signed POSTs (retried once on `badNonce`), over ureq — a blocking HTTPS
//! client on the rustls the server already has (no async runtime). Every
//! answer is bounded: 30 s for the whole exchange, 1 MiB of body, no
//! redirects; a problem document (RFC 7807) becomes `AcmeError::Problem`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::jws::AccountKey;

/// Largest answer read from the CA.
const MAX_BODY: u64 = 1 << 20;
/// The longest one exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one attempt (a client's life) may take, however many
/// exchanges the CA asks for.
const ATTEMPT: Duration = Duration::from_secs(600);
/// Debian's bundle of the system's trusted roots.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug)]
pub enum AcmeError {
    /// The CA could not be reached or answered something unreadable.
    Http(String),
    /// The CA answered with a problem document.
    Problem {
        status: u16,
        kind: String,
        detail: String,
        /// `Retry-After` in seconds, when the CA said (rate limits).
        retry_after: Option<u64>,
    },
    /// The CA could not validate a domain with the challenge answered.
    Invalid {
        domain: String,
        challenge: &'static str,
        detail: String,
    },
    /// The CA offers no challenge of this kind for a domain.
    NotOffered {
        domain: String,
        challenge: &'static str,
    },
    /// The CA's answer lacks what the protocol says it carries.
    Protocol(String),
    Io(std::io::Error),
}

impl std::fmt::Display for AcmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcmeError::Http(e) => write!(f, "ACME server: {e}"),
            AcmeError::Problem {
                status,
                kind,
                detail,
                ..
            } => write!(f, "ACME server refused ({status} {kind}): {detail}"),
            AcmeError::Invalid {
                domain,
                challenge,
                detail,
            } => write!(
                f,
                "the CA could not validate {domain} over {challenge}: {detail}"
            ),
            AcmeError::NotOffered { domain, challenge } => {
                write!(f, "{domain}: the CA offers no {challenge} challenge")
            }
            AcmeError::Protocol(e) => write!(f, "ACME server: {e}"),
            AcmeError::Io(e) => write!(f, "ACME: {e}"),
        }
    }
}

impl std::error::Error for AcmeError {}

impl From<ureq::Error> for AcmeError {
    fn from(e: ureq::Error) -> Self {
        AcmeError::Http(e.to_string())
    }
}

impl From<std::io::Error> for AcmeError {
    fn from(e: std::io::Error) -> Self {
        AcmeError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, AcmeError>;

/// The URLs of a directory this client uses.
#[derive(Debug, Clone)]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
}

/// An answer to a signed request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    /// `Retry-After` in seconds (a polled order or authorization).
    pub retry_after: Option<u64>,
    pub body: Value,
}

pub struct Client {
    agent: ureq::Agent,
    pub directory: Directory,
    /// `meta.termsOfService`, when the directory names one.
    pub terms: Option<String>,
    nonce: Option<String>,
    until: std::time::Instant,
}

fn field(v: &Value, name: &str) -> Result<String> {
    v[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| AcmeError::Protocol(format!("the directory has no {name}")))
}

/// The start of a body that is not the JSON expected (an HTML error page).
fn snippet(text: &str) -> String {
    super::ca_text(&text.chars().take(120).collect::<String>())
}

impl Client {
    /// A client for the directory at `url`; `extra_ca` (PEM) is trusted
    /// beside the system's roots (a test CA such as pebble's).
    pub fn new(url: &str, extra_ca: Option<&[u8]>) -> Result<Client> {
        use ureq::tls::{PemItem, RootCerts, TlsConfig};
        let roots = match extra_ca {
            None => RootCerts::WebPki,
            Some(pem) => {
                let system = std::fs::read(SYSTEM_ROOTS).unwrap_or_else(|e| {
                    crate::warn!(
                        "acme: cannot read the system's roots ({SYSTEM_ROOTS}: {e}); trusting --acme-ca alone"
                    );
                    Vec::new()
                });
                let mut certs = Vec::new();
                for item in ureq::tls::parse_pem(pem).chain(ureq::tls::parse_pem(&system)) {
                    if let Ok(PemItem::Certificate(c)) = item {
                        certs.push(c);
                    }
                }
                if certs.is_empty() {
                    return Err(AcmeError::Protocol("no certificate in the CA file".into()));
                }
                RootCerts::Specific(Arc::new(certs))
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .https_only(true)
            .build()
            .into();
        let until = std::time::Instant::now() + ATTEMPT;
        let mut resp = agent.get(url).call()?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()?;
        if status != 200 {
            return Err(AcmeError::Http(format!(
                "the directory answered {status}: {}",
                snippet(&text)
            )));
        }
        let dir: Value = serde_json::from_str(&text).map_err(|e| {
            AcmeError::Protocol(format!(
                "the directory is not JSON ({e}): {}",
                snippet(&text)
            ))
        })?;
        let directory = Directory {
            new_nonce: field(&dir, "newNonce")?,
            new_account: field(&dir, "newAccount")?,
            new_order: field(&dir, "newOrder")?,
        };
        Ok(Client {
            agent,
            directory,
            terms: dir["meta"]["termsOfService"].as_str().map(super::ca_text),
            nonce: None,
            until,
        })
    }

    fn fresh_nonce(&mut self) -> Result<String> {
        if let Some(n) = self.nonce.take() {
            return Ok(n);
        }
        let resp = self.agent.head(&self.directory.new_nonce).call()?;
        resp.headers()
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| AcmeError::Protocol("no Replay-Nonce".into()))
    }

    /// A signed POST (`payload` `None`: POST-as-GET), retried once with a
    /// fresh nonce when the server says the nonce was bad.
    pub fn post(
        &mut self,
        key: &AccountKey,
        url: &str,
        kid: Option<&str>,
        payload: Option<&Value>,
    ) -> Result<Reply> {
        for attempt in 0..2 {
            if std::time::Instant::now() > self.until {
                return Err(AcmeError::Protocol(format!(
                    "the attempt took longer than {ATTEMPT:?}"
                )));
            }
            let nonce = self.fresh_nonce()?;
            let body = key.sign(url, &nonce, kid, payload)?.to_string();
            let mut resp = self
                .agent
                .post(url)
                .header("Content-Type", "application/jose+json")
                .send(body)?;
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            self.nonce = header("replay-nonce");
            let location = header("location");
            let retry_after = header("retry-after").and_then(|s| s.trim().parse().ok());
            let text = resp
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()?;
            let body: Value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            // No redirect is followed, so a 3xx is as wrong as a 4xx.
            if status >= 300 {
                let kind = super::ca_text(body["type"].as_str().unwrap_or(""));
                if attempt == 0 && kind.ends_with(":badNonce") {
                    continue;
                }
                let detail = match (&body["detail"], &body) {
                    (Value::String(d), _) => super::ca_text(d),
                    (_, Value::String(page)) => snippet(page),
                    _ => String::new(),
                };
                return Err(AcmeError::Problem {
                    status,
                    kind,
                    detail,
                    retry_after,
                });
            }
            return Ok(Reply {
                status,
                location,
                retry_after,
                body,
            });
        }
        Err(AcmeError::Protocol("the nonce was refused twice".into()))
    }

    /// The account of `key` (created, with `email` as its contact and the
    /// terms agreed, when the CA does not know the key yet); its URL.
    pub fn account(&mut self, key: &AccountKey, email: &str) -> Result<String> {
        let payload = serde_json::json!({
            "termsOfServiceAgreed": true,
            "contact": [format!("mailto:{email}")],
        });
        let url = self.directory.new_account.clone();
        let reply = self.post(key, &url, None, Some(&payload))?;
        if !matches!(reply.status, 200 | 201) {
            return Err(AcmeError::Protocol(format!(
                "newAccount answered {}",
                reply.status
            )));
        }
        reply
            .location
            .ok_or_else(|| AcmeError::Protocol("the new account has no Location".into()))
    }
}
