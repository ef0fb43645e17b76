//! Validation of what a message carries: plaintext content (1–4000
//! characters) in plain groups, an E2E envelope (≤ 64 KiB, shape only) in
//! encrypted ones. The server never reads inside an envelope.

use serde_json::Value;

use crate::db::chat::Body;

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Device keys an envelope may be wrapped for.
const MAX_ENVELOPE_KEYS: usize = 1000;

/// Why a body was refused: an error code and a human message.
pub type Refusal = (&'static str, &'static str);

/// The body of a message (or edit) request `v` for a group.
pub fn from_request(e2e: bool, v: &Value) -> Result<Body, Refusal> {
    let content = v.get("content").filter(|c| !c.is_null());
    let envelope = v.get("envelope").filter(|e| !e.is_null());
    if e2e {
        if content.is_some() {
            return Err((
                "bad_request",
                "this group is end-to-end encrypted: plaintext content is refused",
            ));
        }
        let env = envelope.ok_or(("bad_request", "an encrypted envelope is required"))?;
        envelope_body(env)
    } else {
        if envelope.is_some() {
            return Err((
                "bad_request",
                "this group is not end-to-end encrypted: send content",
            ));
        }
        let text = content
            .ok_or(("bad_request", "content is required"))?
            .as_str()
            .ok_or(("bad_request", "content must be a string"))?;
        if text.trim().is_empty() {
            return Err(("bad_request", "content must not be empty"));
        }
        if text.chars().count() > MAX_CONTENT_CHARS {
            return Err(("too_large", "content is longer than 4000 characters"));
        }
        Ok(Body::Content(text.to_string()))
    }
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

fn envelope_body(env: &Value) -> Result<Body, Refusal> {
    let bad = (
        "bad_request",
        "envelope must be {iv, ciphertext, keys} with base64 strings",
    );
    let obj = env.as_object().ok_or(bad)?;
    let iv = obj.get("iv").and_then(Value::as_str).ok_or(bad)?;
    let ct = obj.get("ciphertext").and_then(Value::as_str).ok_or(bad)?;
    let keys = obj.get("keys").and_then(Value::as_object).ok_or(bad)?;
    if !is_base64(iv) || iv.len() > 64 || !is_base64(ct) {
        return Err(bad);
    }
    if keys.is_empty() || keys.len() > MAX_ENVELOPE_KEYS {
        return Err((
            "bad_request",
            "envelope must wrap the key for at least one device",
        ));
    }
    for (fp, wrapped) in keys {
        let ok = !fp.is_empty() && fp.len() <= 128 && wrapped.as_str().is_some_and(is_base64);
        if !ok {
            return Err(bad);
        }
    }
    if obj.len() > 3 {
        return Err(("bad_request", "envelope has unknown fields"));
    }
    let text = env.to_string();
    if text.len() > MAX_ENVELOPE_BYTES {
        return Err(("too_large", "envelope is larger than 64 KiB"));
    }
    Ok(Body::Envelope(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plaintext_rules() {
        assert_eq!(
            from_request(false, &json!({"content": "hi"})),
            Ok(Body::Content("hi".into()))
        );
        assert_eq!(
            from_request(false, &json!({"content": ""})).unwrap_err().0,
            "bad_request"
        );
        assert_eq!(
            from_request(false, &json!({"content": "  \n"}))
                .unwrap_err()
                .0,
            "bad_request"
        );
        assert_eq!(
            from_request(false, &json!({"content": 5})).unwrap_err().0,
            "bad_request"
        );
        assert_eq!(
            from_request(false, &json!({})).unwrap_err().0,
            "bad_request"
        );
        assert!(from_request(false, &json!({"content": "é".repeat(4000)})).is_ok());
        assert_eq!(
            from_request(false, &json!({"content": "x".repeat(4001)}))
                .unwrap_err()
                .0,
            "too_large"
        );
        assert!(from_request(false, &json!({"envelope": {}})).is_err());
    }

    #[test]
    fn envelope_rules() {
        let env = json!({"iv": "AAAA", "ciphertext": "QUJD", "keys": {"ab:cd": "S0VZ"}});
        assert!(matches!(
            from_request(true, &json!({"envelope": env})),
            Ok(Body::Envelope(_))
        ));
        assert!(from_request(true, &json!({"content": "plain"})).is_err());
        assert!(from_request(true, &json!({"content": "plain", "envelope": env})).is_err());
        assert!(
            from_request(
                true,
                &json!({"envelope": {"iv": "AAAA", "ciphertext": "QUJD", "keys": {}}})
            )
            .is_err()
        );
        assert!(
            from_request(
                true,
                &json!({"envelope": {"iv": "<b>", "ciphertext": "QUJD", "keys": {"a": "S0VZ"}}})
            )
            .is_err()
        );
        assert!(from_request(true, &json!({"envelope": "string"})).is_err());
        let big = json!({"iv": "AAAA", "ciphertext": "A".repeat(70_000), "keys": {"a": "S0VZ"}});
        assert_eq!(
            from_request(true, &json!({"envelope": big})).unwrap_err().0,
            "too_large"
        );
    }
}
