//! RPT verification by token introspection (RFC 7662, UMA Federated Authorization §5), with a bounded cache.
//!
//! An active answer is kept for at most `ttl` (and never past the RPT's own `exp`), so a permission the owner
//! withdraws stops working at most `ttl` later; the cache holds at most `capacity` entries and is keyed by the
//! SHA-256 of the token, so it never holds RPTs in clear. Inactive answers are not cached: an RPT never becomes
//! active again, and caching garbage tokens would only push good entries out.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::error::TokenError;
use crate::grant::{Granted, parse_permissions};

/// Reads an introspection answer (uma-cedar's, F §5.1.1): `active`, `permissions`, `exp`.
pub fn parse_answer(answer: &Value, audience: &str) -> Result<Granted, TokenError> {
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err(TokenError::Inactive);
    }
    let exp = answer.get("exp").and_then(Value::as_i64);
    let exp = exp.ok_or_else(|| TokenError::claim("exp", "missing or not an integer"))?;
    let audience_ok = match answer.get("aud") {
        None => true,
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        Some(_) => false,
    };
    if !audience_ok {
        return Err(TokenError::claim("aud", "not this resource server"));
    }
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Granted {
        permissions: parse_permissions(answer.get("permissions"))?,
        subject: text("sub"),
        client_id: text("client_id"),
        expires_at: exp,
    })
}

struct Entry {
    until: i64,
    granted: Granted,
}

/// Active introspection answers by token hash, bounded in time and size.
pub struct IntrospectionCache {
    ttl: i64,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl IntrospectionCache {
    pub fn new(ttl_seconds: i64, capacity: usize) -> Self {
        Self {
            ttl: ttl_seconds.max(0),
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        openssl::sha::sha256(token.as_bytes())
    }

    /// The cached answer for `token`, if one is still fresh at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<Granted> {
        let mut entries = self.entries.lock().ok()?;
        let key = Self::key(token);
        match entries.get(&key) {
            Some(entry) if entry.until > now => Some(entry.granted.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps an active answer until `now + ttl` or the RPT's expiry, whichever comes first.
    pub fn put(&self, token: &str, granted: &Granted, now: i64) {
        let until = now.saturating_add(self.ttl).min(granted.expires_at);
        if until <= now || self.capacity == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.until > now);
        }
        if entries.len() >= self.capacity {
            // Still full of fresh entries: drop the one that would expire first.
            let oldest = entries.iter().min_by_key(|(_, e)| e.until).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        let granted = granted.clone();
        entries.insert(Self::key(token), Entry { until, granted });
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn granted(expires_at: i64) -> Granted {
        Granted {
            permissions: Vec::new(),
            subject: None,
            client_id: None,
            expires_at,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl_or_with_the_token() {
        let cache = IntrospectionCache::new(30, 10);
        cache.put("a", &granted(1_000), 100);
        assert!(cache.get("a", 129).is_some());
        assert!(cache.get("a", 130).is_none());
        // The RPT expires before the TTL: the entry goes with it.
        cache.put("b", &granted(110), 100);
        assert!(cache.get("b", 109).is_some());
        assert!(cache.get("b", 110).is_none());
        // An already expired RPT is not cached.
        cache.put("c", &granted(100), 100);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_never_grows_past_its_capacity() {
        let cache = IntrospectionCache::new(30, 3);
        for (i, token) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            cache.put(token, &granted(110 + i as i64), 100);
            assert!(cache.len() <= 3);
        }
        // The soonest to expire went first; the newest is there.
        assert!(cache.get("a", 101).is_none());
        assert!(cache.get("e", 101).is_some());
        // Expired entries make room before fresh ones are evicted.
        let cache = IntrospectionCache::new(10, 2);
        cache.put("old", &granted(1_000), 0);
        cache.put("fresh", &granted(1_000), 100);
        cache.put("new", &granted(1_000), 100);
        assert!(cache.get("fresh", 101).is_some() && cache.get("new", 101).is_some());
    }

    #[test]
    fn an_answer_must_be_active_and_for_this_resource_server() {
        let active = json!({"active": true, "exp": 200, "aud": "bank",
                            "permissions": [{"resource_id": "r", "resource_scopes": ["view"]}]});
        let granted = parse_answer(&active, "bank").unwrap();
        assert!(granted.allows("r", "view", 100));
        assert!(matches!(
            parse_answer(&active, "other"),
            Err(TokenError::Claim { claim: "aud", .. })
        ));
        assert_eq!(
            parse_answer(&json!({"active": false}), "bank"),
            Err(TokenError::Inactive)
        );
        assert_eq!(
            parse_answer(&json!({"active": "true"}), "bank"),
            Err(TokenError::Inactive)
        );
        let no_exp = json!({"active": true, "permissions": []});
        assert!(parse_answer(&no_exp, "bank").is_err());
    }
}
