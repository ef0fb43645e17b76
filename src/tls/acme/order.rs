//! Getting a certificate (RFC 8555 §7.4): an order for the domains, each
//! authorization answered with the challenge kind asked for — the answer
//! itself is the caller's (`Responder`: a token's key authorization served
//! over HTTP, or a certificate on `acme-tls/1`) — polled until valid, then
//! finalized with a CSR for a key made here, and the chain downloaded.
//! Every wait is bounded.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{AcmeError, Client, Result};
use super::jws::AccountKey;

/// How challenges are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `http-01`: `GET /.well-known/acme-challenge/TOKEN` on port 80.
    Http01,
    /// `tls-alpn-01` (RFC 8737): a certificate on the HTTPS port for ALPN
    /// `acme-tls/1`.
    TlsAlpn01,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http01 => "http-01",
            Kind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// One challenge to answer: for `domain`, `token`, with `key_authorization`
/// (`token.thumbprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub kind: Kind,
    pub domain: String,
    pub token: String,
    pub key_authorization: String,
}

/// Whoever answers challenges (the redirect listener for HTTP-01, the TLS
/// listener's certificate resolver for TLS-ALPN-01).
pub trait Responder {
    fn publish(&self, challenge: &Challenge);
    fn withdraw(&self, challenge: &Challenge);
}

/// A certificate obtained: the chain (PEM, leaf first) and its key (PEM).
#[derive(Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
    /// Challenges answered for it (0: the CA still held a valid
    /// authorization for every domain, as Let's Encrypt does for 30 days).
    pub answered: usize,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

/// How long an authorization or the order may take to become valid.
const PATIENCE: Duration = Duration::from_secs(90);
/// Between polls, unless the CA's `Retry-After` says longer (up to
/// `POLL_MAX`).
const POLL: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(10);

fn text(v: &Value, name: &str) -> Result<String> {
    v[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| AcmeError::Protocol(format!("no {name} in the CA's answer")))
}

/// The CSR for `domains`: the names as subject alternative names and an
/// empty subject (a CA reads a subject CN as one more name to validate;
/// rcgen's default one, "rcgen self signed cert", would be refused).
fn csr(domains: &[String], key: &rcgen::KeyPair) -> Result<Vec<u8>> {
    let mut params = rcgen::CertificateParams::new(domains.to_vec())
        .map_err(|e| AcmeError::Protocol(format!("cannot make the CSR: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(key)
        .map_err(|e| AcmeError::Protocol(format!("cannot make the CSR: {e}")))?;
    Ok(csr.der().to_vec())
}

/// What the CA says went wrong with an order or authorization.
fn problem_of(v: &Value) -> String {
    v["error"]["detail"]
        .as_str()
        .map(super::ca_text)
        .unwrap_or_else(|| format!("it is {}", v["status"]))
}

impl Client {
    /// Polls `url` (POST-as-GET) until its `status` leaves `pending` /
    /// `processing`; the last answer.
    fn poll(&mut self, key: &AccountKey, kid: &str, url: &str) -> Result<Value> {
        let until = Instant::now() + PATIENCE;
        loop {
            let reply = self.post(key, url, Some(kid), None)?;
            let wait = reply
                .retry_after
                .map_or(POLL, Duration::from_secs)
                .clamp(POLL, POLL_MAX);
            let body = reply.body;
            match body["status"].as_str() {
                Some("pending" | "processing") if Instant::now() + wait < until => {
                    std::thread::sleep(wait)
                }
                Some("pending" | "processing") => {
                    return Err(AcmeError::Protocol(format!(
                        "{url} still pending after {PATIENCE:?}"
                    )));
                }
                _ => return Ok(body),
            }
        }
    }

    /// A certificate for `domains`, every authorization answered with a
    /// `kind` challenge through `responder`.
    pub fn obtain(
        &mut self,
        key: &AccountKey,
        kid: &str,
        domains: &[String],
        kind: Kind,
        responder: &dyn Responder,
    ) -> Result<Issued> {
        let identifiers: Vec<Value> = domains
            .iter()
            .map(|d| json!({"type": "dns", "value": d}))
            .collect();
        let new_order = self.directory.new_order.clone();
        let placed = self.post(
            key,
            &new_order,
            Some(kid),
            Some(&json!({ "identifiers": identifiers })),
        )?;
        let order_url = placed
            .location
            .ok_or_else(|| AcmeError::Protocol("the order has no Location".into()))?;
        if placed.status != 201 {
            return Err(AcmeError::Protocol(format!(
                "newOrder answered {}",
                placed.status
            )));
        }
        let authorizations: Vec<String> = placed.body["authorizations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        // One authorization per name asked for, no more: a CA listing
        // thousands would otherwise keep one attempt going for hours.
        if authorizations.is_empty() || authorizations.len() > domains.len() {
            return Err(AcmeError::Protocol(format!(
                "the order lists {} authorizations for {} names",
                authorizations.len(),
                domains.len()
            )));
        }
        let mut answered = 0;
        for authz_url in authorizations {
            let authz = self.post(key, &authz_url, Some(kid), None)?.body;
            if authz["status"] == "valid" {
                continue;
            }
            answered += 1;
            let domain = text(&authz["identifier"], "value")?.to_ascii_lowercase();
            if !domains.contains(&domain) {
                return Err(AcmeError::Protocol(format!(
                    "the order asks to prove a name not asked for: {}",
                    super::ca_text(&domain)
                )));
            }
            let chosen = authz["challenges"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == kind.name()))
                .cloned()
                .ok_or_else(|| AcmeError::NotOffered {
                    domain: domain.clone(),
                    challenge: kind.name(),
                })?;
            let token = text(&chosen, "token")?;
            let challenge = Challenge {
                kind,
                domain: domain.clone(),
                key_authorization: format!("{token}.{}", key.thumbprint()),
                token,
            };
            responder.publish(&challenge);
            let answered = (|| {
                self.post(key, &text(&chosen, "url")?, Some(kid), Some(&json!({})))?;
                self.poll(key, kid, &authz_url)
            })();
            responder.withdraw(&challenge);
            let authz = answered?;
            if authz["status"] != "valid" {
                // What the CA says went wrong (RFC 8555 §8: the
                // challenge's `error`), else the authorization's status.
                let detail = authz["challenges"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == kind.name()))
                    .and_then(|c| c["error"]["detail"].as_str())
                    .map(super::ca_text)
                    .unwrap_or_else(|| format!("the authorization is {}", authz["status"]));
                return Err(AcmeError::Invalid {
                    domain,
                    challenge: kind.name(),
                    detail,
                });
            }
        }
        // The key and CSR for the certificate.
        let cert_key = rcgen::KeyPair::generate()
            .map_err(|e| AcmeError::Protocol(format!("cannot make a key: {e}")))?;
        let csr = csr(domains, &cert_key)?;
        let order = self.poll(key, kid, &order_url)?;
        if order["status"] != "ready" {
            return Err(AcmeError::Protocol(format!(
                "the order is not ready to finalize: {}",
                problem_of(&order)
            )));
        }
        let finalize = text(&order, "finalize")?;
        let b64 = super::jws::b64url(&csr);
        self.post(key, &finalize, Some(kid), Some(&json!({ "csr": b64 })))?;
        let order = self.poll(key, kid, &order_url)?;
        if order["status"] != "valid" {
            return Err(AcmeError::Protocol(format!(
                "the order was not issued: {}",
                problem_of(&order)
            )));
        }
        let chain = self
            .post(key, &text(&order, "certificate")?, Some(kid), None)?
            .body;
        let chain_pem = chain
            .as_str()
            .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
            .ok_or_else(|| AcmeError::Protocol("the certificate is not PEM".into()))?
            .to_string();
        Ok(Issued {
            chain_pem,
            key_pem: cert_key.serialize_pem(),
            answered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csr_names_the_domains_and_has_an_empty_subject() {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = csr(&["chat.example.org".into(), "b.example.org".into()], &key).unwrap();
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        assert!(has(b"chat.example.org") && has(b"b.example.org"));
        assert!(!has(b"rcgen"), "rcgen's default subject");
        // CertificationRequestInfo: version 0, then the subject — an empty
        // SEQUENCE (30 00).
        let (request, _) = crate::der::sequence(&der).unwrap();
        let (info, _) = crate::der::sequence(request).unwrap();
        assert_eq!(&info[..5], &[0x02, 0x01, 0x00, 0x30, 0x00]);
    }
}
