//! Session tokens: 256 random bits in the `session` cookie; the database
//! stores only their SHA-256, so a leaked database cannot log anyone in.

use crate::util;

pub const COOKIE: &str = "session";
/// Sessions last 30 days from login.
pub const LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// A fresh token for the cookie.
pub fn new_token() -> String {
    util::random_token()
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> String {
    util::hex(&util::sha256(token.as_bytes()))
}
