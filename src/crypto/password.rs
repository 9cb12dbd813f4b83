//! Password hashes for local accounts: argon2id with a random salt, stored as a PHC string.
//! Only the login page uses this; no machine client's request ever pays for it.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::CryptoError;

pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| CryptoError::Key(format!("cannot hash password: {e}")))
}

/// True when `password` matches the PHC string `stored`; a malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A hash of a password nobody knows, verified against when the username does not exist so that a failed
/// login takes the same time either way (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jy2Xhz5uGWc9hpmBp9IapuTc7Q+SFcgkqzJ8N4LgIuA"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn dummy_hash_parses_and_matches_nothing_obvious() {
        assert!(!verify_password("", dummy_hash()));
        assert!(!verify_password("password", dummy_hash()));
    }
}
