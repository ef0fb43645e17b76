//! The ACME account key and the signed requests made with it (RFC 8555
//! §6.2, RFC 7515): an ECDSA P-256 key, made once and kept under the data
//! directory (mode 0600), its public half as a JWK and the JWK's SHA-256
//! thumbprint (RFC 7638, the key authorization's second half), and
//! flattened JWS objects signed ES256 (r‖s, 64 bytes).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// The account's key pair.
pub struct AccountKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

/// base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    crate::util::base64_encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

impl AccountKey {
    /// The key kept at `path`, or a new one written there (0600) first.
    pub fn load_or_create(path: &Path) -> std::io::Result<AccountKey> {
        let rng = SystemRandom::new();
        let pkcs8 = match std::fs::read(path) {
            Ok(bytes) => {
                // A key restored with a looser mode is made private again.
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
                if mode != 0o600 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| std::io::Error::other("cannot make an ECDSA P-256 key"))?;
                if let Some(dir) = path.parent() {
                    super::private_dir(dir)?;
                }
                // Written whole under another name, then renamed: a crash
                // never leaves a short key behind.
                let tmp = path.with_extension("tmp");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(doc.as_ref())?;
                f.sync_all()?;
                std::fs::rename(&tmp, path)?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(e),
        };
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not an ECDSA P-256 PKCS#8 key", path.display()),
                )
            })?;
        Ok(AccountKey { pair, rng })
    }

    /// The public key as a JWK, members in the order RFC 7638 hashes them.
    pub fn jwk(&self) -> Value {
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = self.pair.public_key().as_ref();
        json!({
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(&point[1..33]),
            "y": b64url(&point[33..65]),
        })
    }

    /// The JWK thumbprint (RFC 7638): SHA-256 of its required members in
    /// lexical order, no whitespace; base64url.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap_or(""),
            jwk["y"].as_str().unwrap_or("")
        );
        b64url(&crate::util::sha256(canonical.as_bytes()))
    }

    /// A flattened JWS of `payload` (`None`: POST-as-GET's empty payload)
    /// for `url`, with the server's `nonce`, identified by the account URL
    /// `kid` or, before there is one, by the JWK itself.
    pub fn sign(
        &self,
        url: &str,
        nonce: &str,
        kid: Option<&str>,
        payload: Option<&Value>,
    ) -> std::io::Result<Value> {
        let mut protected = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match kid {
            Some(kid) => protected["kid"] = json!(kid),
            None => protected["jwk"] = self.jwk(),
        }
        let protected = b64url(protected.to_string().as_bytes());
        let payload = match payload {
            Some(p) => b64url(p.to_string().as_bytes()),
            None => String::new(),
        };
        let input = format!("{protected}.{payload}");
        let sig = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| std::io::Error::other("signing failed"))?;
        Ok(json!({
            "protected": protected,
            "payload": payload,
            "signature": b64url(sig.as_ref()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn base64url_has_no_padding() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn the_key_is_made_once_private_and_signs_verifiably() {
        let dir = std::env::temp_dir().join(format!("sc-acme-{}", crate::util::random_token()));
        let path = dir.join("account.key");
        let key = AccountKey::load_or_create(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = AccountKey::load_or_create(&path).unwrap();
        assert_eq!(key.jwk(), again.jwk(), "the same key the second time");
        assert_eq!(key.thumbprint().len(), 43, "32 bytes, base64url");

        let jws = key
            .sign("https://ca/new-acct", "n0nce", None, Some(&json!({"a": 1})))
            .unwrap();
        let input = format!(
            "{}.{}",
            jws["protected"].as_str().unwrap(),
            jws["payload"].as_str().unwrap()
        );
        // base64url back to padded standard base64 for the decoder.
        let s = jws["signature"]
            .as_str()
            .unwrap()
            .replace('-', "+")
            .replace('_', "/");
        let padded = format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        let sig = crate::util::base64_decode(&padded).unwrap();
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.pair.public_key().as_ref());
        assert!(
            public.verify(input.as_bytes(), &sig).is_ok(),
            "ES256 verifies"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
