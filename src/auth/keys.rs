//! Device public keys for end-to-end encryption: what a registered key must
//! be (an RSA SubjectPublicKeyInfo of 2048–4096 bits, base64), its
//! fingerprint (SHA-256 of the DER, hex) and the canonical base64 it is
//! stored and served as.

use crate::util;

/// Longest base64 public key accepted.
const MAX_B64: usize = 1024;

/// The DER `AlgorithmIdentifier` OID of rsaEncryption (1.2.840.113549.1.1.1).
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// A key ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    /// Standard base64 with padding.
    pub base64: String,
}

/// Why a key was refused.
pub const BAD_KEY: &str =
    "public_key must be a base64 RSA-OAEP SubjectPublicKeyInfo (2048-4096 bits).";

/// Whether `der` looks like an RSA SubjectPublicKeyInfo of 2048–4096 bits.
fn is_rsa_spki(der: &[u8]) -> bool {
    (280..=560).contains(&der.len())
        && der[0] == 0x30
        && der.windows(RSA_OID.len()).take(16).any(|w| w == RSA_OID)
}

/// Checks a base64 (standard or URL-safe) public key.
pub fn parse_public_key(b64: &str) -> Result<PublicKey, &'static str> {
    if b64.len() > MAX_B64 {
        return Err(BAD_KEY);
    }
    let der = util::base64_decode(b64).ok_or(BAD_KEY)?;
    if !is_rsa_spki(&der) {
        return Err(BAD_KEY);
    }
    let canonical = b64
        .trim_end_matches('=')
        .replace('-', "+")
        .replace('_', "/");
    let padding = "=".repeat((4 - canonical.len() % 4) % 4);
    Ok(PublicKey {
        fingerprint: util::hex(&util::sha256(&der)),
        base64: format!("{canonical}{padding}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_rsa_key() {
        assert!(parse_public_key("not base64!").is_err());
        assert!(parse_public_key("AAAA").is_err());
        assert!(parse_public_key(&"A".repeat(2000)).is_err());
        // A 2048-bit-sized DER with the RSA OID near the start.
        let mut der = vec![0x30, 0x82, 0x01, 0x22, 0x30, 0x0d];
        der.extend_from_slice(RSA_OID);
        der.resize(294, 0);
        let b64 = b64(&der);
        let key = parse_public_key(&b64.replace('+', "-").replace('/', "_")).unwrap();
        assert_eq!(key.base64, b64);
        assert_eq!(key.fingerprint, util::hex(&util::sha256(&der)));
    }

    fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
