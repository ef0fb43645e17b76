//! Reading the `Cookie` header and writing `Set-Cookie` values.

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn get<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Lax; Path=/`, `Secure` when
/// `secure`, and `Max-Age` (0 deletes the cookie).
pub fn set(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}");
    if secure {
        s.push_str("; Secure");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let h = "a=1; session=abc ; other=x=y";
        assert_eq!(get(h, "session"), Some("abc"));
        assert_eq!(get(h, "a"), Some("1"));
        assert_eq!(get(h, "other"), Some("x=y"));
        assert_eq!(get(h, "sess"), None);
        assert_eq!(get("", "a"), None);
        assert_eq!(get("garbage;;;=", "a"), None);
        assert_eq!(get("xsession=1", "session"), None);
    }

    #[test]
    fn writes_cookies() {
        let c = set("session", "t", 60, true);
        assert!(c.starts_with("session=t; Path=/; HttpOnly; SameSite=Lax"));
        assert!(c.ends_with("; Secure"));
        assert!(!set("session", "t", 0, false).contains("Secure"));
    }
}
