//! Accounts: registration, login, password changes and sessions
//! (`accounts`), argon2id hashing (`password`), session and CSRF tokens
//! (`session`, `csrf`), device keys for end-to-end encryption (`keys`) and
//! the input rules for usernames and passwords. The pages call in here and
//! render what comes back.

pub mod accounts;
pub mod admin;
pub mod csrf;
pub mod keys;
pub mod password;
pub mod session;

pub use accounts::{AccountError, Accounts, Registration};
pub use admin::Operator;
pub use session::Session;

/// Usernames: 3–32 characters of `[A-Za-z0-9_.-]`.
pub fn validate_username(name: &str) -> Result<(), &'static str> {
    if !(3..=32).contains(&name.len()) {
        return Err("Username must be 3 to 32 characters long.");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err("Username may only contain letters, digits, '_', '.' and '-'.");
    }
    Ok(())
}

/// Longest password, in bytes.
pub const MAX_PASSWORD: usize = 1024;

/// Passwords: 8–1024 bytes.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    match password.len() {
        0..=7 => Err("Password must be at least 8 characters long."),
        8..=MAX_PASSWORD => Ok(()),
        _ => Err("Password must be at most 1024 bytes long."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("a.b-c_9").is_ok());
        assert!(validate_username("ab").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("al ice").is_err());
        assert!(validate_username("ålice").is_err());
        assert!(validate_username("<script>").is_err());
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password(&"x".repeat(1024)).is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
