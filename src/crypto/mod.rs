//! Cryptography: the only module that talks to openssl, josekit and argon2.
//!
//! - random secrets (tokens, codes, tickets, identifiers) from the OpenSSL CSPRNG;
//! - SHA-256 hashes under which those secrets are stored, and constant-time comparison;
//! - PKCE S256;
//! - HMAC-SHA256, which signs webhook deliveries;
//! - signing keys, JWT signing and verification, the JWKS ([`keys`]);
//! - other issuers' JWK Sets and verification of their tokens ([`jwks`]);
//! - password hashing with argon2id ([`password`]).

pub mod jwks;
pub mod keys;
pub mod password;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("random number generator failed: {0}")]
    Random(#[from] openssl::error::ErrorStack),
    #[error("JOSE error: {0}")]
    Jose(#[from] josekit::JoseError),
    #[error("{0}")]
    Key(String),
}

/// A fresh secret of 256 random bits, base64url without padding (43 characters).
pub fn random_token() -> Result<String, CryptoError> {
    random_string(32)
}

/// `bytes` random bytes, base64url without padding.
pub fn random_string(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The SHA-256 of `secret`, lowercase hex: the form in which secrets are stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    let digest = openssl::sha::sha256(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// Checks a presented secret against its stored SHA-256 hash in constant time.
pub fn secret_matches(presented: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_secret(presented).as_bytes(), stored_hash.as_bytes())
}

/// PKCE (RFC 7636 §4.2): `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()))
}

/// The SHA-256 of `bytes`, base64url without padding (43 characters).
pub fn sha256_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(openssl::sha::sha256(bytes))
}

/// HMAC-SHA256 of `data` under `key` (RFC 2104), lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> Result<String, CryptoError> {
    let key = openssl::pkey::PKey::hmac(key)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
    signer.update(data)?;
    let mac = signer.sign_to_vec()?;
    let mut out = String::with_capacity(mac.len() * 2);
    for byte in mac {
        out.push_str(&format!("{byte:02x}"));
    }
    Ok(out)
}

/// base64url without padding, for callers outside this module that must not depend on base64 themselves.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    /// RFC 4231 test case 2.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        assert_eq!(
            super::hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?").expect("hmac"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    use super::*;

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token().expect("rng");
        let b = random_token().expect("rng");
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(secret_matches("abc", &hash_secret("abc")));
        assert!(!secret_matches("abd", &hash_secret("abc")));
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn constant_time_eq_checks_length_and_content() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sam"));
        assert!(!constant_time_eq(b"same", b"samf"));
    }
}
