//! Session tokens: 256 random bits in the `session` cookie; the database
//! stores only their SHA-256, so a leaked database cannot log anyone in.

use super::csrf;
use crate::store::User;
use crate::util;

pub const COOKIE: &str = "session";
/// Sessions last 30 days from login.
pub const LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// A fresh token for the cookie.
pub fn new_token() -> String {
    util::random_token()
}

/// Whether `token` has the shape of the tokens we issue (64 hex digits);
/// anything else is not looked up at all.
pub fn is_token_shape(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> String {
    util::hex(&util::sha256(token.as_bytes()))
}

/// A logged-in user, their session token and when it expires (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub token: String,
    pub expires_at: i64,
}

impl Session {
    /// The CSRF token that forms and JSON requests of this session carry.
    pub fn csrf_token(&self) -> String {
        csrf::for_session(&self.token)
    }
}
