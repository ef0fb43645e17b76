//! Device public keys for end-to-end encryption: what a registered key must
//! be — a DER SubjectPublicKeyInfo for rsaEncryption whose modulus has
//! 2048 to 4096 bits and whose exponent is 65537, nothing more and nothing
//! less — its fingerprint (SHA-256 of the DER, lowercase hex) and the
//! canonical base64 it is stored and served as; and a device's signing key
//! for signed messages: exactly an ECDSA P-256 SPKI (uncompressed point).

use crate::der::{self, BIT_STRING, INTEGER, NULL, OID};
use crate::util;

/// Longest base64 public key accepted (a 4096-bit SPKI is 550 bytes).
const MAX_B64: usize = 1024;

/// rsaEncryption, 1.2.840.113549.1.1.1.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const F4: &[u8] = &[0x01, 0x00, 0x01];
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

/// A key ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    /// Standard base64 with padding.
    pub base64: String,
}

/// Why a key was refused.
pub const BAD_KEY: &str = "public_key must be a base64 RSA-OAEP SubjectPublicKeyInfo with a 2048-4096-bit modulus and exponent 65537.";

/// Why a signing key was refused.
pub const BAD_SIGNING_KEY: &str =
    "signing_key must be a base64 ECDSA P-256 SubjectPublicKeyInfo (uncompressed point).";

/// The DER of a P-256 SPKI up to its point: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (0 unused bits, 0x04 = uncompressed) }.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
];

/// Bytes of an ECDSA P-256 signature as WebCrypto makes it (r‖s).
pub const SIGNATURE_BYTES: usize = 64;

/// Checks a base64 signing key; its canonical base64.
pub fn parse_signing_key(b64: &str) -> Result<String, &'static str> {
    if b64.len() > 200 {
        return Err(BAD_SIGNING_KEY);
    }
    let der = util::base64_decode(b64).ok_or(BAD_SIGNING_KEY)?;
    if der.len() != P256_SPKI_PREFIX.len() + 64 || !der.starts_with(P256_SPKI_PREFIX) {
        return Err(BAD_SIGNING_KEY);
    }
    Ok(canonical_base64(b64))
}

/// Standard base64 with padding for standard or URL-safe input.
fn canonical_base64(b64: &str) -> String {
    let canonical = b64
        .trim_end_matches('=')
        .replace('-', "+")
        .replace('_', "/");
    let padding = "=".repeat((4 - canonical.len() % 4) % 4);
    format!("{canonical}{padding}")
}

/// Whether a fingerprint has the shape of ours: 64 lowercase hex digits.
pub fn is_fingerprint(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The modulus size in bits when `der` is exactly an RSA SPKI with
/// exponent 65537.
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    let (spki, rest) = der::sequence(der)?;
    if !rest.is_empty() {
        return None;
    }
    let (alg, rest) = der::sequence(spki)?;
    let (oid, params) = der::expect(alg, OID)?;
    let (null, after) = der::expect(params, NULL)?;
    if oid != RSA_ENCRYPTION || !null.is_empty() || !after.is_empty() {
        return None;
    }
    let (bits, rest) = der::expect(rest, BIT_STRING)?;
    if !rest.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let (rsa, rest) = der::sequence(key)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, rest) = der::expect(rsa, INTEGER)?;
    let (e, rest) = der::expect(rest, INTEGER)?;
    if !rest.is_empty() || der::unsigned(e)? != F4 {
        return None;
    }
    let n = der::unsigned(n)?;
    let top = *n.first()?;
    Some(n.len() * 8 - top.leading_zeros() as usize)
}

/// Checks a base64 (standard or URL-safe) public key.
pub fn parse_public_key(b64: &str) -> Result<PublicKey, &'static str> {
    if b64.len() > MAX_B64 {
        return Err(BAD_KEY);
    }
    let der = util::base64_decode(b64).ok_or(BAD_KEY)?;
    match rsa_modulus_bits(&der) {
        Some(bits) if (MIN_BITS..=MAX_BITS).contains(&bits) => {}
        _ => return Err(BAD_KEY),
    }
    Ok(PublicKey {
        fingerprint: util::hex(&util::sha256(&der)),
        base64: canonical_base64(b64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of a TLV (lengths up to 65535).
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match body.len() {
            n @ 0..=127 => out.push(n as u8),
            n @ 128..=255 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(body);
        out
    }

    /// An RSA SPKI with a modulus of `bits` bits and exponent `e`.
    fn spki(bits: usize, e: &[u8]) -> Vec<u8> {
        let mut n = vec![0xffu8; bits / 8];
        n.insert(0, 0);
        let rsa = tlv(0x30, &[tlv(INTEGER, &n), tlv(INTEGER, e)].concat());
        let alg = tlv(0x30, &[tlv(OID, RSA_ENCRYPTION), tlv(NULL, &[])].concat());
        let bits = tlv(BIT_STRING, &[&[0u8][..], &rsa].concat());
        tlv(0x30, &[alg, bits].concat())
    }

    fn b64(data: &[u8]) -> String {
        crate::util::base64_encode(data)
    }

    #[test]
    fn rsa_keys_of_2048_to_4096_bits_with_exponent_65537_are_accepted() {
        for bits in [2048, 3072, 4096] {
            let der = spki(bits, F4);
            assert_eq!(rsa_modulus_bits(&der), Some(bits));
            let key = parse_public_key(&b64(&der)).unwrap();
            assert_eq!(key.fingerprint, util::hex(&util::sha256(&der)));
            assert!(is_fingerprint(&key.fingerprint));
        }
        let url_safe = b64(&spki(2048, F4)).replace('+', "-").replace('/', "_");
        assert_eq!(
            parse_public_key(&url_safe).unwrap().base64,
            b64(&spki(2048, F4))
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(
            parse_public_key(&b64(&spki(1024, F4))).is_err(),
            "too short"
        );
        assert!(parse_public_key(&b64(&spki(8192, F4))).is_err(), "too long");
        assert!(
            parse_public_key(&b64(&spki(2048, &[0x03]))).is_err(),
            "exponent 3"
        );
        let mut trailing = spki(2048, F4);
        trailing.push(0);
        assert!(
            parse_public_key(&b64(&trailing)).is_err(),
            "bytes after the key"
        );
        let mut ec = spki(2048, F4);
        let at = ec
            .windows(RSA_ENCRYPTION.len())
            .position(|w| w == RSA_ENCRYPTION)
            .unwrap();
        ec[at + 8] = 0x02;
        assert!(parse_public_key(&b64(&ec)).is_err(), "another algorithm");
        assert!(parse_public_key("not base64!").is_err());
        assert!(parse_public_key("AAAA").is_err());
        assert!(parse_public_key(&"A".repeat(2000)).is_err());
        assert!(!is_fingerprint("AB"));
        assert!(
            !is_fingerprint(&"A".repeat(64)),
            "uppercase is not our shape"
        );
    }

    #[test]
    fn signing_keys() {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend([7u8; 64]);
        let ok = b64(&der);
        assert_eq!(parse_signing_key(&ok).as_deref(), Ok(ok.as_str()));
        let url_safe = ok
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string();
        assert_eq!(parse_signing_key(&url_safe).as_deref(), Ok(ok.as_str()));
        der.push(0);
        assert!(parse_signing_key(&b64(&der)).is_err(), "too long");
        let mut p384 = P256_SPKI_PREFIX.to_vec();
        p384[20] = 0x22;
        p384.extend([7u8; 64]);
        assert!(parse_signing_key(&b64(&p384)).is_err(), "another curve");
        assert!(parse_signing_key("not base64!").is_err());
        assert!(
            parse_signing_key(&b64(&spki(2048, F4))).is_err(),
            "an RSA key"
        );
    }
}
