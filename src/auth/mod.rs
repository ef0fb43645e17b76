//! Accounts and sessions: password hashing, session tokens, CSRF tokens and
//! the input rules for usernames and passwords.

pub mod csrf;
pub mod password;
pub mod session;

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

/// Passwords: 8–1024 bytes.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    match password.len() {
        0..=7 => Err("Password must be at least 8 characters long."),
        8..=1024 => Ok(()),
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
