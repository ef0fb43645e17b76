//! CSRF tokens. Logged in, the token is derived from the session token
//! (which the attacker cannot read), so nothing extra is stored. Before
//! login, forms use a double-submit token: a random `csrf` cookie whose value
//! the form must repeat.

use crate::util;

/// The pre-login cookie.
pub const COOKIE: &str = "csrf";

/// The CSRF token for a session.
pub fn for_session(session_token: &str) -> String {
    let mut input = b"securechat-csrf:".to_vec();
    input.extend_from_slice(session_token.as_bytes());
    util::hex(&util::sha256(&input))
}

/// Whether `given` equals `expected` (in constant time); empty never matches.
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(g) if !expected.is_empty() => {
            util::constant_time_eq(expected.as_bytes(), g.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens() {
        let t = for_session("abc");
        assert_eq!(t.len(), 64);
        assert_ne!(t, for_session("abd"));
        assert!(matches(&t, Some(&t)));
        assert!(!matches(&t, Some("x")));
        assert!(!matches(&t, None));
        assert!(!matches("", Some("")));
    }
}
