//! The keys of trusted issuers, kept in memory: fetched on first use, fetched again when a token names a key
//! the cached set lacks or when the cached set is older than [`CachePolicy::max_age`].
//!
//! What this module must never do: fetch for an issuer the admin did not list; fetch one issuer's keys more
//! than once per [`CachePolicy::min_refresh_interval`], whatever tokens arrive (a flood of invented `kid`s must
//! not turn us into a client hammering the issuer); or make verifications for one issuer wait on another
//! issuer's fetch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::fetch::FetchJwks;
use super::issuers::{JwksSource, TrustedIssuer};
use crate::clock::UnixTime;
use crate::crypto::jwks::{JwkSet, UnverifiedJws};

/// When keys are fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// At most one fetch per issuer in this many seconds, successful or not.
    pub min_refresh_interval: i64,
    /// Keys older than this are fetched again on next use, so a key the issuer withdrew stops verifying.
    pub max_age: i64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            min_refresh_interval: 60,
            max_age: 3600,
        }
    }
}

/// Why no keys could be had. The details went to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("the issuer is not trusted")]
    Untrusted,
    #[error("the issuer's keys could not be obtained")]
    Unavailable,
}

#[derive(Clone)]
struct Fetched {
    set: Arc<JwkSet>,
    fetched_at: UnixTime,
}

struct IssuerKeys {
    source: JwksSource,
    /// Read on every verification; written only after a fetch, so readers never wait on the network.
    current: RwLock<Option<Fetched>>,
    /// Held across a fetch: one fetch per issuer at a time, and the time of the last attempt.
    gate: Mutex<Option<UnixTime>>,
}

impl IssuerKeys {
    fn snapshot(&self) -> Option<Fetched> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self, fetched: Fetched) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(fetched);
    }
}

pub struct JwksCache {
    fetcher: Arc<dyn FetchJwks>,
    policy: CachePolicy,
    issuers: HashMap<String, IssuerKeys>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("policy", &self.policy)
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwksCache {
    pub fn new(
        trusted: &[TrustedIssuer],
        fetcher: Arc<dyn FetchJwks>,
        policy: CachePolicy,
    ) -> Self {
        let issuers = trusted
            .iter()
            .map(|t| {
                (
                    t.issuer.clone(),
                    IssuerKeys {
                        source: t.jwks.clone(),
                        current: RwLock::new(None),
                        gate: Mutex::new(None),
                    },
                )
            })
            .collect();
        Self {
            fetcher,
            policy,
            issuers,
        }
    }

    pub fn is_trusted(&self, issuer: &str) -> bool {
        self.issuers.contains_key(issuer)
    }

    /// Fetches and parses one issuer's document; the reason on failure is for the log.
    fn fetch(&self, source: &JwksSource) -> Result<Arc<JwkSet>, String> {
        let bytes = self.fetcher.fetch(source).map_err(|e| e.to_string())?;
        let set = JwkSet::parse(&bytes).map_err(|e| format!("the JWK Set is refused: {e}"))?;
        Ok(Arc::new(set))
    }

    fn log_fetched(issuer: &str, source: &JwksSource, set: &JwkSet) {
        log::info!(
            "fetched {} verification key(s) of trusted issuer `{issuer}` from {source}",
            set.len()
        );
        for skipped in set.skipped() {
            log::warn!("trusted issuer `{issuer}`: {skipped}");
        }
    }

    /// The keys of `issuer` to verify `jws` with, fetched or refreshed as the policy allows. The set returned
    /// may still lack the token's key (the refresh was rate-limited, or the issuer does not publish it): the
    /// caller's verification then reports the key as unknown.
    pub fn keys_for(
        &self,
        issuer: &str,
        jws: &UnverifiedJws<'_>,
        now: UnixTime,
    ) -> Result<Arc<JwkSet>, KeysError> {
        let entry = self.issuers.get(issuer).ok_or(KeysError::Untrusted)?;
        let usable =
            |f: &Fetched| f.set.has_key_for(jws) && now - f.fetched_at < self.policy.max_age;
        if let Some(fetched) = entry.snapshot()
            && usable(&fetched)
        {
            return Ok(fetched.set);
        }

        let mut last_attempt = entry.gate.lock().unwrap_or_else(PoisonError::into_inner);
        // Whoever held the gate before us may have fetched just what we need.
        let current = entry.snapshot();
        if let Some(fetched) = &current
            && usable(fetched)
        {
            return Ok(fetched.set.clone());
        }
        let stale = current.map(|f| f.set);
        // A clock that went backwards must not lock the issuer out for good.
        let may_fetch =
            last_attempt.is_none_or(|at| now < at || now - at >= self.policy.min_refresh_interval);
        if !may_fetch {
            log::debug!(
                "keys of trusted issuer `{issuer}` not fetched again: the last attempt was under {} seconds ago",
                self.policy.min_refresh_interval
            );
            return stale.ok_or(KeysError::Unavailable);
        }
        *last_attempt = Some(now);
        match self.fetch(&entry.source) {
            Ok(set) => {
                Self::log_fetched(issuer, &entry.source, &set);
                entry.store(Fetched {
                    set: set.clone(),
                    fetched_at: now,
                });
                Ok(set)
            }
            Err(reason) => {
                // Keys we already hold stay in use: an issuer that is briefly down must not stop every grant.
                log::warn!(
                    "keys of trusted issuer `{issuer}` could not be fetched from {}: {reason}",
                    entry.source
                );
                stale.ok_or(KeysError::Unavailable)
            }
        }
    }

    /// Reads the keys of every issuer whose JWK Set is a local file, so a broken file stops the server at
    /// startup instead of failing the first claim token. Does not count as a refresh attempt.
    pub fn load_files(&self, now: UnixTime) -> Result<(), (String, String)> {
        for (issuer, entry) in &self.issuers {
            if let JwksSource::File(_) = entry.source {
                let set = self
                    .fetch(&entry.source)
                    .map_err(|reason| (issuer.clone(), format!("{}: {reason}", entry.source)))?;
                Self::log_fetched(issuer, &entry.source, &set);
                entry.store(Fetched {
                    set,
                    fetched_at: now,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::fetch::FetchError;
    use super::*;
    use crate::crypto::jwks::SigAlg;
    use crate::crypto::jwks::testing::{TestKey, jwks_of};

    const ISS: &str = "https://idp.example";

    /// Serves whatever document it holds and counts the calls.
    struct Scripted {
        document: Mutex<Result<Vec<u8>, FetchError>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn serving(keys: &[&TestKey]) -> Arc<Self> {
            Arc::new(Self {
                document: Mutex::new(Ok(jwks_of(keys).to_string().into_bytes())),
                calls: AtomicUsize::new(0),
            })
        }

        fn set(&self, document: Result<Vec<u8>, FetchError>) {
            *self.document.lock().expect("lock") = document;
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl FetchJwks for Scripted {
        fn fetch(&self, _: &JwksSource) -> Result<Vec<u8>, FetchError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.document.lock().expect("lock").clone()
        }
    }

    fn cache(fetcher: Arc<Scripted>) -> JwksCache {
        let trusted = TrustedIssuer {
            issuer: ISS.into(),
            jwks: JwksSource::Url(url::Url::parse("https://idp.example/jwks").expect("url")),
        };
        JwksCache::new(&[trusted], fetcher, CachePolicy::default())
    }

    fn token_of(key: &TestKey) -> String {
        key.sign(&serde_json::json!({"iss": ISS, "sub": "bob"}))
    }

    fn verifies(cache: &JwksCache, token: &str, now: UnixTime) -> bool {
        let jws = UnverifiedJws::parse(token).expect("parse");
        cache
            .keys_for(ISS, &jws, now)
            .is_ok_and(|set| set.verify(&jws).is_ok())
    }

    #[test]
    fn keys_are_fetched_once_and_reused() {
        let k1 = TestKey::new(SigAlg::ES256, "k1");
        let fetcher = Scripted::serving(&[&k1]);
        let cache = cache(fetcher.clone());
        assert_eq!(fetcher.calls(), 0, "nothing is fetched before first use");
        for i in 0..5 {
            assert!(verifies(&cache, &token_of(&k1), 1_000 + i));
        }
        assert_eq!(fetcher.calls(), 1);
    }

    #[test]
    fn untrusted_issuers_are_never_fetched() {
        let fetcher = Scripted::serving(&[&TestKey::new(SigAlg::ES256, "k1")]);
        let cache = cache(fetcher.clone());
        let token = TestKey::new(SigAlg::ES256, "k1").sign(&serde_json::json!({}));
        let jws = UnverifiedJws::parse(&token).expect("parse");
        assert_eq!(
            cache.keys_for("https://evil.example", &jws, 0).unwrap_err(),
            KeysError::Untrusted
        );
        assert_eq!(fetcher.calls(), 0);
    }

    #[test]
    fn bogus_kids_cause_at_most_one_fetch_per_interval() {
        let k1 = TestKey::new(SigAlg::ES256, "k1");
        let fetcher = Scripted::serving(&[&k1]);
        let cache = cache(fetcher.clone());
        assert!(verifies(&cache, &token_of(&k1), 1_000));
        for i in 0..20 {
            let bogus = TestKey::new(SigAlg::ES256, &format!("bogus-{i}"));
            assert!(!verifies(&cache, &token_of(&bogus), 1_000 + 59));
        }
        assert_eq!(fetcher.calls(), 1, "inside the interval nothing is fetched");
        let bogus = TestKey::new(SigAlg::ES256, "bogus-late");
        assert!(!verifies(&cache, &token_of(&bogus), 1_060));
        assert!(!verifies(&cache, &token_of(&bogus), 1_061));
        assert_eq!(
            fetcher.calls(),
            2,
            "one more fetch once the interval passed"
        );
        assert!(
            verifies(&cache, &token_of(&k1), 1_061),
            "known keys still verify"
        );
    }

    #[test]
    fn a_failed_first_fetch_is_rate_limited_too() {
        let fetcher = Scripted::serving(&[]);
        fetcher.set(Err(FetchError::Status(503)));
        let cache = cache(fetcher.clone());
        let k1 = TestKey::new(SigAlg::ES256, "k1");
        let jws_token = token_of(&k1);
        let jws = UnverifiedJws::parse(&jws_token).expect("parse");
        for now in [1_000, 1_001, 1_059] {
            assert_eq!(
                cache.keys_for(ISS, &jws, now).unwrap_err(),
                KeysError::Unavailable
            );
        }
        assert_eq!(fetcher.calls(), 1);
        fetcher.set(Ok(jwks_of(&[&k1]).to_string().into_bytes()));
        assert!(verifies(&cache, &jws_token, 1_060));
        assert_eq!(fetcher.calls(), 2);
    }

    #[test]
    fn old_keys_are_refetched_and_kept_if_the_issuer_is_down() {
        let k1 = TestKey::new(SigAlg::ES256, "k1");
        let fetcher = Scripted::serving(&[&k1]);
        let cache = cache(fetcher.clone());
        assert!(verifies(&cache, &token_of(&k1), 1_000));
        fetcher.set(Err(FetchError::Transport("connection refused".into())));
        // Past max_age: a fetch is attempted, fails, and the keys held keep working.
        assert!(verifies(&cache, &token_of(&k1), 1_000 + 3_600));
        assert_eq!(fetcher.calls(), 2);
        // The issuer comes back without k1: on the next allowed fetch k1 stops verifying.
        let k2 = TestKey::new(SigAlg::ES256, "k2");
        fetcher.set(Ok(jwks_of(&[&k2]).to_string().into_bytes()));
        assert!(!verifies(&cache, &token_of(&k1), 1_000 + 3_660));
        assert_eq!(fetcher.calls(), 3);
    }

    #[test]
    fn a_malformed_refresh_keeps_the_keys_held() {
        let k1 = TestKey::new(SigAlg::ES256, "k1");
        let fetcher = Scripted::serving(&[&k1]);
        let cache = cache(fetcher.clone());
        assert!(verifies(&cache, &token_of(&k1), 1_000));
        fetcher.set(Ok(b"<html>maintenance</html>".to_vec()));
        let k2 = TestKey::new(SigAlg::ES256, "k2");
        assert!(!verifies(&cache, &token_of(&k2), 1_100));
        assert_eq!(fetcher.calls(), 2);
        assert!(verifies(&cache, &token_of(&k1), 1_100));
    }
}
