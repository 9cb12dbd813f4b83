//! Per-owner cache of compiled policy sets, keyed by the owner's policy version: parsing costs tens of
//! microseconds per policy, a version check one indexed query, so a decision only re-parses after a change.
//!
//! The version is whatever the caller read from the database (every policy write bumps it, whichever process
//! made the write). This module must never hand out a set compiled for another version than the one asked for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::decide::Compiled;

/// Owners whose sets are kept at most; past that, an arbitrary entry makes room (a miss only costs a parse).
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug)]
pub struct PolicyCache {
    entries: RwLock<HashMap<String, (i64, Arc<Compiled>)>>,
    capacity: usize,
}

impl Default for PolicyCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl PolicyCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The set compiled for `owner` at exactly `version`, if there is one.
    pub fn get(&self, owner: &str, version: i64) -> Option<Arc<Compiled>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        match entries.get(owner) {
            Some((v, compiled)) if *v == version => Some(compiled.clone()),
            _ => None,
        }
    }

    /// Keeps `compiled` as `owner`'s set at `version`, unless a newer one is already there.
    pub fn insert(&self, owner: &str, version: i64, compiled: Arc<Compiled>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.get(owner).is_some_and(|(v, _)| *v > version) {
            return;
        }
        if entries.len() >= self.capacity
            && !entries.contains_key(owner)
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
        entries.insert(owner.to_owned(), (version, compiled));
    }

    /// Forgets `owner`'s set (after a write in this process; other processes are caught by the version).
    pub fn forget(&self, owner: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(owner);
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySchema, Source, compile};

    fn compiled(text: &str) -> Arc<Compiled> {
        let schema = PolicySchema::base().expect("schema");
        Arc::new(compile(&schema, Some("alice"), &[Source::new("p", text)]))
    }

    #[test]
    fn a_set_is_served_only_for_its_version() {
        let cache = PolicyCache::default();
        cache.insert(
            "alice",
            3,
            compiled("permit (principal, action, resource);"),
        );
        assert!(cache.get("alice", 3).is_some());
        assert!(cache.get("alice", 4).is_none(), "a newer version is a miss");
        assert!(cache.get("bob", 3).is_none(), "another owner is a miss");
    }

    #[test]
    fn an_older_set_never_replaces_a_newer_one() {
        let cache = PolicyCache::default();
        cache.insert(
            "alice",
            5,
            compiled("permit (principal, action, resource);"),
        );
        cache.insert("alice", 4, compiled(""));
        assert_eq!(cache.get("alice", 5).map(|c| c.len()), Some(1));
        cache.forget("alice");
        assert!(cache.get("alice", 5).is_none());
    }

    #[test]
    fn capacity_is_kept() {
        let cache = PolicyCache::with_capacity(2);
        for owner in ["a", "b", "c"] {
            cache.insert(owner, 1, compiled(""));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("c", 1).is_some(), "the newest entry stays");
    }
}
