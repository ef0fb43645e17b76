//! End-to-end encryption helpers for tests: RSA-OAEP device keys made
//! for tests (the server accepts RSA SPKIs only; neither ring nor rcgen
//! makes RSA keys), a device registered with a fresh ECDSA P-256 signing
//! key, and envelopes signed by a device. The server checks a signature's
//! shape and signer, never its bytes, so a test signs with zeros.

use serde_json::{Value, json};

use super::Client;

/// Three RSA-2048 SubjectPublicKeyInfo keys (public; generated for tests).
pub const KEY_A: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyc2QGhPBHqJsYh2wLG+uCRS0gn4/GMNvjfsdC6FVwPrbXD/PACq+DCwgxAFYLjKKYWXoHqu+rpinBnu7I6xVBdusV/7tfgU92tAaiSqdUJ2vfIQf/Pfw19m5xSNph5xhOOgjSeWz0z7H+y3hXU/mNKTCB7c6t6TlXRxVWsDL5IBs52inJ1KILifZrMed1NA41VxVPgg3zNI0y7r9ESsMWOfJ3rLyvm7wf+q/q0eAbx9DOvVIRrkjf3jfSC2QpSKrldJx2vRQYzZSTabByRS2Vp7FuP3q3+ifCzfLHwn59FHFRiPs+oXiroq4BAtFVs2vHY4/qeB0ZtepfWJQZt1WxwIDAQAB";
pub const KEY_B: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAw2HgyNzYaFhxczhdxZX16dZmfVddiOUgLPrgG4aKrJEsfvTXFwZcA6bCKbRauqV8tRY7ZCm2O/0+1Ig8tkKmZzikdG8nzrtwQ9Op0CpRbBrwcPwW0HJvOgNVN5ni8Ki2N3MjnH7fHHDg1Y1p3vjGRMMIlOlAQlD5pC8cmJbEk4+NuwxOb8+tCaDutQSxcYFjpnGyFv73i47QzGUmGVIT+pjmWombukulVrlmnoPCco5Ubgl7rf5ti+cVJum+B8sYL1PkOFcuYIesRUnZpfQIkW3vibX1RtfY/r9N/2xWmLrU/rtNIjrBGWA3OcY+/ycraIlBL0T8A0Xq3dCwjKMLDwIDAQAB";
/// A third RSA-2048 key (alice's second device, say).
pub const KEY_C: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu5K1DxqvSR07xVOtgnd28RjCPuGeVNwmwpLnUGTn52WUcW65OPJDSNl/JG3VuU/GhenD2tbe1dFAjm9JzbqP0A28XsvTMbmqyXNuKgqPbBwZbyDPPNgxVSCZlzfpCUCB7UIkad5czw+YRntJ2fCCtfYeR7sGGRoDeo+aoFxn9qNgWEX27bBQofIqAF8+Az2exqBQhjSh9TDJEUOQ/O9HxcGwOOwCSBrG5Yoz6/+Ju4tLWl0f6VNGWFEvyrCawS8Sk08mQH26qioF9tBh2RChicQt8fla99yZ6qJDmKeCrg1OoCQz14cm1la9+n3WUcIX9XPBDWIHUtMfhys1vn1TAQIDAQAB";

/// A fresh ECDSA P-256 public key (base64 SPKI), as a browser's
/// signing key.
pub fn signing_key() -> String {
    use rcgen::PublicKeyData;
    let der = rcgen::KeyPair::generate()
        .unwrap()
        .subject_public_key_info();
    base64(&der)
}

/// Registers `rsa` with a fresh signing key for `c`'s user; the device's
/// fingerprint.
pub fn device(c: &mut Client, rsa: &str) -> String {
    let r = c.json(
        "PUT",
        "/api/keys",
        &json!({ "public_key": rsa, "signing_key": signing_key() }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["fingerprint"].as_str().unwrap().to_string()
}

/// `env` signed by the device `signer` (64 zero bytes: the server never
/// reads a signature's bytes).
pub fn signed(mut env: Value, signer: &str) -> Value {
    env["signer"] = json!(signer);
    env["sig"] = json!(base64(&[0u8; 64]));
    env
}

pub fn base64(data: &[u8]) -> String {
    securechat::util::base64_encode(data)
}
