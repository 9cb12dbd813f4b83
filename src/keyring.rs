//! The server's signing keys as the running server sees them: built once from the store, and rebuilt when the
//! key table changes (for example after `uma-cedar keys rotate` on the same data directory). The check is a
//! single cheap query made at most once per [`RECHECK_SECONDS`], so signing stays off the database.

use std::sync::{Arc, RwLock};

use crate::clock::UnixTime;
use crate::crypto::CryptoError;
use crate::crypto::keys::{self, Alg, KeySet};
use crate::store::{self, Store, StoreError};

pub const RECHECK_SECONDS: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Crypto(#[from] CryptoError),
}

#[derive(Debug)]
struct Cached {
    generation: (i64, i64),
    checked_at: UnixTime,
    set: Arc<KeySet>,
}

#[derive(Debug)]
pub struct KeyRing {
    store: Arc<Store>,
    cached: RwLock<Cached>,
}

/// Creates the first signing key when the store has none. Returns true when a key was created.
pub fn ensure_signing_key(store: &Store, alg: Alg, now: UnixTime) -> Result<bool, KeyError> {
    let existing = store.read(|c| store::keys::published(c, now))?;
    if existing.iter().any(|k| k.retired_at.is_none()) {
        return Ok(false);
    }
    let key = keys::generate(alg, now)?;
    store.write(|tx| store::keys::rotate(tx, &key, now, 0))?;
    log::info!("generated {alg} signing key `{}`", key.kid);
    Ok(true)
}

/// Adds a new signing key; the previous ones stay published for `keep_published` seconds.
pub fn rotate(
    store: &Store,
    alg: Alg,
    now: UnixTime,
    keep_published: i64,
) -> Result<String, KeyError> {
    let key = keys::generate(alg, now)?;
    store.write(|tx| store::keys::rotate(tx, &key, now, keep_published))?;
    Ok(key.kid)
}

impl KeyRing {
    pub fn load(store: Arc<Store>, now: UnixTime) -> Result<Self, KeyError> {
        let cached = Self::build(&store, now)?;
        Ok(Self {
            store,
            cached: RwLock::new(cached),
        })
    }

    fn build(store: &Store, now: UnixTime) -> Result<Cached, KeyError> {
        let (generation, stored) =
            store.read(|c| Ok((store::keys::generation(c)?, store::keys::published(c, now)?)))?;
        Ok(Cached {
            generation,
            checked_at: now,
            set: Arc::new(KeySet::from_stored(&stored)?),
        })
    }

    /// The keys in force at `now`.
    pub fn current(&self, now: UnixTime) -> Result<Arc<KeySet>, KeyError> {
        if let Ok(cached) = self.cached.read()
            && now - cached.checked_at < RECHECK_SECONDS
        {
            return Ok(cached.set.clone());
        }
        let generation = self.store.read(store::keys::generation)?;
        let mut cached = self
            .cached
            .write()
            .map_err(|_| CryptoError::Key("key cache poisoned".into()))?;
        if generation != cached.generation {
            *cached = Self::build(&self.store, now)?;
            log::info!(
                "signing keys reloaded; signing with `{}`",
                cached.set.signing_kid()
            );
        }
        cached.checked_at = now;
        Ok(cached.set.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    #[test]
    fn first_key_is_created_once() {
        let (_dir, store) = temp_store();
        assert!(ensure_signing_key(&store, Alg::ES256, 10).expect("ensure"));
        assert!(!ensure_signing_key(&store, Alg::ES256, 11).expect("ensure again"));
    }

    #[test]
    fn ring_notices_a_rotation_made_elsewhere() {
        let (_dir, store) = temp_store();
        let store = Arc::new(store);
        ensure_signing_key(&store, Alg::ES256, 10).expect("ensure");
        let ring = KeyRing::load(store.clone(), 10).expect("load");
        let first = ring.current(10).expect("current").signing_kid().to_owned();

        let new_kid = rotate(&store, Alg::RS256, 20, 3600).expect("rotate");
        let set = ring.current(20).expect("current");
        assert_eq!(set.signing_kid(), new_kid);
        assert_eq!(set.signing_alg(), "RS256");
        let kids: Vec<_> = set.jwks()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(kids.contains(&first), "old key still published");
    }
}
