//! HTTP-01 (RFC 8555 §8.3): while a challenge is open, the plain-HTTP
//! listener (`--redirect-http`) answers `GET /.well-known/acme-challenge/
//! TOKEN` with the token's key authorization; `Http01Responder` keeps what
//! is open and says what to answer.

use std::collections::HashMap;
use std::sync::Mutex;

use super::order::{Challenge, Kind, Responder};
use crate::sync::lock;

/// Where the CA asks.
pub const PREFIX: &str = "/.well-known/acme-challenge/";

/// The open HTTP-01 challenges, by token.
#[derive(Debug, Default)]
pub struct Http01Responder {
    open: Mutex<HashMap<String, String>>,
}

impl Http01Responder {
    /// The body for a request to `PREFIX` + `token`, while it is open.
    pub fn answer(&self, token: &str) -> Option<String> {
        lock(&self.open).get(token).cloned()
    }
}

impl Responder for Http01Responder {
    fn publish(&self, challenge: &Challenge) {
        if challenge.kind == Kind::Http01 {
            lock(&self.open).insert(challenge.token.clone(), challenge.key_authorization.clone());
        }
    }

    fn withdraw(&self, challenge: &Challenge) {
        lock(&self.open).remove(&challenge.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_open_http_01_token_is_answered() {
        let r = Http01Responder::default();
        let c = Challenge {
            kind: Kind::Http01,
            domain: "chat.test".into(),
            token: "tok".into(),
            key_authorization: "tok.thumb".into(),
        };
        assert_eq!(r.answer("tok"), None);
        r.publish(&c);
        assert_eq!(r.answer("tok").as_deref(), Some("tok.thumb"));
        assert_eq!(r.answer("other"), None);
        r.withdraw(&c);
        assert_eq!(r.answer("tok"), None);
        r.publish(&Challenge {
            kind: Kind::TlsAlpn01,
            ..c
        });
        assert_eq!(r.answer("tok"), None, "not an HTTP-01 challenge");
    }
}
