//! Percent-decoding and `application/x-www-form-urlencoded` parsing.

/// Most fields a form or query string may have.
const MAX_FIELDS: usize = 64;

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`). Returns
/// `None` for a malformed escape.
pub fn percent_decode(input: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hi = hex_val(*input.get(i + 1)?)?;
                let lo = hex_val(*input.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

pub use crate::text::percent_encode;

/// A form or query string that could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct BadForm;

/// Parses `a=1&b=2` into decoded pairs. Errors on bad escapes, invalid
/// UTF-8, or more than 64 fields.
pub fn parse_urlencoded(input: &[u8]) -> Result<Vec<(String, String)>, BadForm> {
    let mut out = Vec::new();
    for part in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if out.len() == MAX_FIELDS {
            return Err(BadForm);
        }
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &b""[..]),
        };
        let k = String::from_utf8(percent_decode(k, true).ok_or(BadForm)?).map_err(|_| BadForm)?;
        let v = String::from_utf8(percent_decode(v, true).ok_or(BadForm)?).map_err(|_| BadForm)?;
        out.push((k, v));
    }
    Ok(out)
}

/// A parsed form with lookup by name (first value wins).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, BadForm> {
        parse_urlencoded(body).map(Form)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode(b"a%20b+c", true).unwrap(), b"a b c");
        assert_eq!(percent_decode(b"a+b", false).unwrap(), b"a+b");
        assert_eq!(percent_decode(b"%e2%82%AC", false).unwrap(), "€".as_bytes());
        assert!(percent_decode(b"%", false).is_none());
        assert!(percent_decode(b"%4", false).is_none());
        assert!(percent_decode(b"%g0", false).is_none());
        let odd = "/invite/a b?c=d&é";
        assert_eq!(
            percent_decode(percent_encode(odd).as_bytes(), false).unwrap(),
            odd.as_bytes()
        );
        assert_eq!(percent_encode("/x"), "%2Fx");
    }

    #[test]
    fn forms() {
        let f = Form::parse(b"username=al%21ce&password=p+w&&flag").unwrap();
        assert_eq!(f.get("username"), Some("al!ce"));
        assert_eq!(f.get("password"), Some("p w"));
        assert_eq!(f.get("flag"), Some(""));
        assert_eq!(f.get("nope"), None);
        assert!(Form::parse(b"a=%ff").is_err());
        let many = "a=1&".repeat(65);
        assert!(Form::parse(many.as_bytes()).is_err());
    }
}
