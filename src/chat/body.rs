//! Validation of what a message carries: plaintext content (1–4000
//! characters) in plain groups, an E2E envelope (≤ 64 KiB, shape only) in
//! encrypted ones. The server never reads inside an envelope.

use serde_json::Value;

use super::protocol::Draft;
use super::refusal::Refusal;
use crate::store::Body;

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Device keys an envelope may be wrapped for.
const MAX_ENVELOPE_KEYS: usize = 1000;

/// The body a draft message (or edit) makes in a group, if it is valid
/// there.
pub fn from_draft(e2e: bool, draft: &Draft) -> Result<Body, Refusal> {
    let bad = Refusal::bad_request;
    let (content, envelope) = (draft.content.as_ref(), draft.envelope.as_ref());
    if e2e {
        if content.is_some() {
            return Err(bad(
                "this group is end-to-end encrypted: plaintext content is refused",
            ));
        }
        envelope_body(envelope.ok_or_else(|| bad("an encrypted envelope is required"))?)
    } else {
        if envelope.is_some() {
            return Err(bad("this group is not end-to-end encrypted: send content"));
        }
        let text = content
            .ok_or_else(|| bad("content is required"))?
            .as_str()
            .ok_or_else(|| bad("content must be a string"))?;
        if text.trim().is_empty() {
            return Err(bad("content must not be empty"));
        }
        if text.chars().count() > MAX_CONTENT_CHARS {
            return Err(Refusal::too_large("content is longer than 4000 characters"));
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
    let bad =
        || Refusal::bad_request("envelope must be {iv, ciphertext, keys} with base64 strings");
    let obj = env.as_object().ok_or_else(bad)?;
    let iv = obj.get("iv").and_then(Value::as_str).ok_or_else(bad)?;
    let ct = obj
        .get("ciphertext")
        .and_then(Value::as_str)
        .ok_or_else(bad)?;
    let keys = obj.get("keys").and_then(Value::as_object).ok_or_else(bad)?;
    if !is_base64(iv) || iv.len() > 64 || !is_base64(ct) {
        return Err(bad());
    }
    if keys.is_empty() || keys.len() > MAX_ENVELOPE_KEYS {
        return Err(Refusal::bad_request(
            "envelope must wrap the key for at least one device",
        ));
    }
    for (fp, wrapped) in keys {
        let ok = !fp.is_empty() && fp.len() <= 128 && wrapped.as_str().is_some_and(is_base64);
        if !ok {
            return Err(bad());
        }
    }
    if obj.len() > 3 {
        return Err(Refusal::bad_request("envelope has unknown fields"));
    }
    let text = env.to_string();
    if text.len() > MAX_ENVELOPE_BYTES {
        return Err(Refusal::too_large("envelope is larger than 64 KiB"));
    }
    Ok(Body::Envelope(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(e2e: bool, v: Value) -> Result<Body, &'static str> {
        let draft = Draft {
            content: v.get("content").cloned().filter(|c| !c.is_null()),
            envelope: v.get("envelope").cloned().filter(|e| !e.is_null()),
        };
        from_draft(e2e, &draft).map_err(|r| r.code())
    }

    #[test]
    fn plaintext_rules() {
        assert_eq!(
            check(false, json!({"content": "hi"})),
            Ok(Body::Content("hi".into()))
        );
        assert_eq!(check(false, json!({"content": ""})), Err("bad_request"));
        assert_eq!(check(false, json!({"content": "  \n"})), Err("bad_request"));
        assert_eq!(check(false, json!({"content": 5})), Err("bad_request"));
        assert_eq!(check(false, json!({})), Err("bad_request"));
        assert!(check(false, json!({"content": "é".repeat(4000)})).is_ok());
        assert_eq!(
            check(false, json!({"content": "x".repeat(4001)})),
            Err("too_large")
        );
        assert!(check(false, json!({"envelope": {}})).is_err());
    }

    #[test]
    fn envelope_rules() {
        let env = json!({"iv": "AAAA", "ciphertext": "QUJD", "keys": {"ab:cd": "S0VZ"}});
        assert!(matches!(
            check(true, json!({"envelope": env})),
            Ok(Body::Envelope(_))
        ));
        assert!(check(true, json!({"content": "plain"})).is_err());
        assert!(check(true, json!({"content": "plain", "envelope": env})).is_err());
        assert!(
            check(
                true,
                json!({"envelope": {"iv": "AAAA", "ciphertext": "QUJD", "keys": {}}})
            )
            .is_err()
        );
        assert!(
            check(
                true,
                json!({"envelope": {"iv": "<b>", "ciphertext": "QUJD", "keys": {"a": "S0VZ"}}})
            )
            .is_err()
        );
        assert!(check(true, json!({"envelope": "string"})).is_err());
        let big = json!({"iv": "AAAA", "ciphertext": "A".repeat(70_000), "keys": {"a": "S0VZ"}});
        assert_eq!(check(true, json!({"envelope": big})), Err("too_large"));
    }
}
