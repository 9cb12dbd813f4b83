//! Password hashes for local accounts: argon2id with a random salt, stored as a PHC string.
//! Only the login page uses this; no machine client's request ever pays for it.
//!
//! Each verification costs tens of milliseconds of CPU, so the server runs at most a fixed number at once
//! ([`HashGate`]): a flood of logins queues for a permit instead of taking every core.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

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

/// A counting semaphore bounding how many password hashes run at once.
#[derive(Debug)]
pub struct HashGate {
    free: Mutex<usize>,
    freed: Condvar,
}

/// The right to run one password hash; the slot is given back when it is dropped.
#[derive(Debug)]
pub struct HashPermit<'a> {
    gate: &'a HashGate,
}

impl HashGate {
    /// A gate letting `permits` hashes run at once (at least one).
    pub fn new(permits: usize) -> Self {
        Self {
            free: Mutex::new(permits.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits up to `wait` for a free slot (blocking the calling thread); `None` when none came free in time.
    pub fn permit(&self, wait: Duration) -> Option<HashPermit<'_>> {
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut free, _) = self
            .freed
            .wait_timeout_while(free, wait, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(HashPermit { gate: self })
    }
}

impl HashPermit<'_> {
    /// [`verify_password`] under this permit.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        verify_password(password, stored)
    }
}

impl Drop for HashPermit<'_> {
    fn drop(&mut self) {
        let mut free = self
            .gate
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.gate.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_only_its_permits_through_and_a_release_wakes_a_waiter() {
        let gate = HashGate::new(2);
        let a = gate.permit(Duration::ZERO).expect("first");
        let b = gate.permit(Duration::ZERO).expect("second");
        assert!(gate.permit(Duration::from_millis(20)).is_none());
        drop(a);
        let c = gate.permit(Duration::ZERO).expect("freed by the drop");
        std::thread::scope(|s| {
            let waiter = s.spawn(|| gate.permit(Duration::from_secs(10)).is_some());
            std::thread::sleep(Duration::from_millis(20));
            drop(b);
            assert!(
                waiter.join().expect("join"),
                "the waiter got the released slot"
            );
        });
        drop(c);
    }

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
