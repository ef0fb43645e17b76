//! Validation of what a message carries: plaintext content (1–4000
//! characters) in plain groups, an E2E envelope in encrypted ones. The
//! server never reads inside an envelope, but checks all it can see: at
//! most 64 KiB, no unknown fields, an AES-GCM iv (12–16 bytes) and a
//! ciphertext with room for its tag, message keys named by device
//! fingerprints and as long as an RSA-OAEP output, and a signature: the
//! `signer` (a device fingerprint; whether it is one of the author's
//! devices is the caller's check, `Chat::signed_by_author`) and `sig`, 64
//! bytes of ECDSA P-256 r‖s. The server cannot verify the signature — the
//! signed bytes are the browser's to check — only refuse what is
//! malformed.

use serde_json::Value;

use super::protocol::Draft;
use super::refusal::Refusal;
use crate::auth::keys::{SIGNATURE_BYTES, is_fingerprint};
use crate::store::Body;

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;
/// Device keys an envelope may be wrapped for.
const MAX_ENVELOPE_KEYS: usize = 1000;
/// AES-GCM nonces: 96 bits as browsers make them, up to 128.
const IV_BYTES: std::ops::RangeInclusive<usize> = 12..=16;
/// AES-GCM output carries at least its 16-byte tag.
const MIN_CIPHERTEXT_BYTES: usize = 16;
/// A message key wrapped with RSA-OAEP is as long as the device key's
/// modulus: 2048 to 4096 bits.
const WRAPPED_KEY_BYTES: std::ops::RangeInclusive<usize> = 256..=512;

/// The body of a new message: as `from_draft`, except that a plaintext
/// message carrying attachments may have no text.
pub fn from_post(e2e: bool, draft: &Draft, attachments: bool) -> Result<Body, Refusal> {
    let blank = match &draft.content {
        None => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    };
    if attachments && !e2e && blank && draft.envelope.is_none() {
        return Ok(Body::Content(String::new()));
    }
    from_draft(e2e, draft)
}

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

/// The device an envelope says signed it (checked by `envelope_body`).
pub fn signer(draft: &Draft) -> Option<&str> {
    draft.envelope.as_ref()?.get("signer")?.as_str()
}

/// How many bytes `s` decodes to, if it is base64.
fn base64_len(s: &str) -> Option<usize> {
    crate::util::base64_decode(s).map(|b| b.len())
}

fn envelope_body(env: &Value) -> Result<Body, Refusal> {
    let bad = || {
        Refusal::bad_request(
            "envelope must be {iv, ciphertext, keys, signer, sig} with base64 strings",
        )
    };
    let obj = env.as_object().ok_or_else(bad)?;
    let iv = obj.get("iv").and_then(Value::as_str).ok_or_else(bad)?;
    let ct = obj
        .get("ciphertext")
        .and_then(Value::as_str)
        .ok_or_else(bad)?;
    let keys = obj.get("keys").and_then(Value::as_object).ok_or_else(bad)?;
    if obj
        .keys()
        .any(|k| !matches!(k.as_str(), "iv" | "ciphertext" | "keys" | "signer" | "sig"))
    {
        return Err(Refusal::bad_request("envelope has unknown fields"));
    }
    let signer = obj.get("signer").and_then(Value::as_str);
    if !signer.is_some_and(is_fingerprint) {
        return Err(Refusal::bad_request(
            "envelope must be signed: signer is the sending device's fingerprint (64 hex digits)",
        ));
    }
    let sig = obj.get("sig").and_then(Value::as_str);
    if sig.and_then(base64_len) != Some(SIGNATURE_BYTES) {
        return Err(Refusal::bad_request(
            "envelope sig must be base64 of a 64-byte ECDSA P-256 signature",
        ));
    }
    let text = env.to_string();
    if text.len() > MAX_ENVELOPE_BYTES {
        return Err(Refusal::too_large("envelope is larger than 64 KiB"));
    }
    if !base64_len(iv).is_some_and(|n| IV_BYTES.contains(&n)) {
        return Err(Refusal::bad_request(
            "envelope iv must be 12 to 16 bytes of base64",
        ));
    }
    if base64_len(ct).is_none_or(|n| n < MIN_CIPHERTEXT_BYTES) {
        return Err(Refusal::bad_request(
            "envelope ciphertext must be base64 of at least 16 bytes",
        ));
    }
    if keys.is_empty() || keys.len() > MAX_ENVELOPE_KEYS {
        return Err(Refusal::bad_request(
            "envelope must wrap the key for at least one device",
        ));
    }
    for (fp, wrapped) in keys {
        if !is_fingerprint(fp) {
            return Err(Refusal::bad_request(
                "envelope keys must be named by device fingerprints (64 hex digits)",
            ));
        }
        let len = wrapped.as_str().and_then(base64_len);
        if !len.is_some_and(|n| WRAPPED_KEY_BYTES.contains(&n)) {
            return Err(Refusal::bad_request(
                "a wrapped key must be base64 of an RSA-OAEP output (256 to 512 bytes)",
            ));
        }
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

    /// A well-formed envelope: a 12-byte iv, a 32-byte ciphertext, one
    /// 256-byte wrapped key under a fingerprint, a signer and a 64-byte sig.
    fn envelope() -> Value {
        let fp = "ab".repeat(32);
        json!({"iv": "A".repeat(16), "ciphertext": "Q".repeat(44), "keys": {&fp: "S".repeat(344)},
            "signer": fp, "sig": format!("{}==", "A".repeat(86))})
    }

    #[test]
    fn envelope_rules() {
        let env = envelope();
        assert!(matches!(
            check(true, json!({"envelope": env})),
            Ok(Body::Envelope(_))
        ));
        assert!(check(true, json!({"content": "plain"})).is_err());
        assert!(check(true, json!({"content": "plain", "envelope": env})).is_err());
        let with = |k: &str, v: Value| {
            let mut e = envelope();
            e[k] = v;
            check(true, json!({ "envelope": e }))
        };
        assert_eq!(with("keys", json!({})), Err("bad_request"));
        assert_eq!(with("iv", json!("<b>")), Err("bad_request"));
        assert_eq!(with("iv", json!("AAAA")), Err("bad_request"), "3-byte iv");
        assert_eq!(
            with("ciphertext", json!("AAAA")),
            Err("bad_request"),
            "no room for a tag"
        );
        assert_eq!(
            with("keys", json!({"ab:cd": "S".repeat(344)})),
            Err("bad_request")
        );
        assert_eq!(
            with("keys", json!({"AB".repeat(32): "S".repeat(344)})),
            Err("bad_request")
        );
        assert_eq!(
            with("keys", json!({"ab".repeat(32): "S0VZ"})),
            Err("bad_request")
        );
        assert_eq!(
            with("keys", json!({"ab".repeat(32): 5})),
            Err("bad_request")
        );
        assert_eq!(with("extra", json!(1)), Err("bad_request"));
        // Signed, by a device fingerprint, with 64 bytes.
        assert_eq!(with("signer", json!(null)), Err("bad_request"));
        assert_eq!(with("signer", json!("alice")), Err("bad_request"));
        assert_eq!(with("sig", json!(null)), Err("bad_request"));
        assert_eq!(with("sig", json!("AAAA")), Err("bad_request"), "3 bytes");
        assert_eq!(with("sig", json!("not base64!")), Err("bad_request"));
        let mut unsigned = envelope();
        unsigned.as_object_mut().unwrap().remove("sig");
        unsigned.as_object_mut().unwrap().remove("signer");
        assert_eq!(
            check(true, json!({ "envelope": unsigned })),
            Err("bad_request")
        );
        assert!(check(true, json!({"envelope": "string"})).is_err());
        assert_eq!(
            with("ciphertext", json!("A".repeat(70_000))),
            Err("too_large")
        );
    }
}
