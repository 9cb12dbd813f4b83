//! What every domain service runs with: the clock, a source of randomness and the settings.
//!
//! Services never read the wall clock or the system RNG themselves; they ask the [`Context`], so tests can pin
//! both (see [`FixedRandom`] and [`crate::clock::ManualClock`]). This module does no I/O of its own beyond
//! what [`OsRandom`] asks of the crypto module.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::{Clock, UnixTime};
use crate::config::Settings;
use crate::crypto::{self, CryptoError};
use crate::error::OAuthError;

/// Where unguessable values come from: tickets, RPT ids, PCTs, refresh tokens, resource ids.
pub trait Random: Send + Sync {
    /// A fresh secret of 256 bits, base64url without padding (43 characters).
    fn token(&self) -> Result<String, CryptoError>;
    /// `bytes` random bytes, base64url without padding (identifiers that need not be secret-sized).
    fn string(&self, bytes: usize) -> Result<String, CryptoError>;
}

/// The operating system's RNG, through openssl.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn token(&self) -> Result<String, CryptoError> {
        crypto::random_token()
    }

    fn string(&self, bytes: usize) -> Result<String, CryptoError> {
        crypto::random_string(bytes)
    }
}

/// Predictable values for tests: `prefix-1`, `prefix-2`, ... Never use it to serve.
#[derive(Debug)]
pub struct FixedRandom {
    prefix: String,
    next: AtomicU64,
}

impl FixedRandom {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            next: AtomicU64::new(1),
        }
    }
}

impl Random for FixedRandom {
    fn token(&self) -> Result<String, CryptoError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}-{n}", self.prefix))
    }

    fn string(&self, _bytes: usize) -> Result<String, CryptoError> {
        self.token()
    }
}

/// The clock, randomness and settings a domain service is handed. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub settings: Arc<Settings>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// A fresh secret; a failing RNG is an internal error.
    pub fn token(&self) -> Result<String, OAuthError> {
        self.random
            .token()
            .map_err(|e| OAuthError::server_error(&e))
    }

    /// `bytes` random bytes as text; a failing RNG is an internal error.
    pub fn random_string(&self, bytes: usize) -> Result<String, OAuthError> {
        self.random
            .string(bytes)
            .map_err(|e| OAuthError::server_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_random_is_predictable_and_distinct() {
        let random = FixedRandom::new("t");
        assert_eq!(random.token().expect("token"), "t-1");
        assert_eq!(random.string(16).expect("string"), "t-2");
    }

    #[test]
    fn os_random_tokens_are_distinct() {
        let a = OsRandom.token().expect("token");
        assert_ne!(a, OsRandom.token().expect("token"));
        assert_eq!(a.len(), 43);
    }
}
