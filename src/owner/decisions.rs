//! The decision log as its owner reads it: every answer the UMA grant gave about the owner's resources, newest
//! first, a bounded number at a time. It must never return one owner's decisions to another.

use crate::protocol::decisions::Decision;
use crate::store::{DecisionRead, StoreError};

/// Entries returned when no limit is given, and the most ever returned at once.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// How many entries to return: 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(usize);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`limit` must be a number from 1 to {MAX_LIMIT}, got {}", crate::error::quoted(.0))]
pub struct BadLimit(pub String);

impl Limit {
    /// The limit a request names, or [`DEFAULT_LIMIT`] when it names none.
    pub fn parse(text: Option<&str>) -> Result<Self, BadLimit> {
        match text {
            None => Ok(Self(DEFAULT_LIMIT)),
            Some(text) => match text.parse::<usize>() {
                Ok(n) => Self::new(n).ok_or_else(|| BadLimit(text.to_owned())),
                Err(_) => Err(BadLimit(text.to_owned())),
            },
        }
    }

    /// `n` when it is within 1 to [`MAX_LIMIT`].
    pub fn new(n: usize) -> Option<Self> {
        (1..=MAX_LIMIT).contains(&n).then_some(Self(n))
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// `owner`'s most recent decisions, newest first, at most `limit`.
pub fn recent(
    reader: &impl DecisionRead,
    owner: &str,
    limit: Limit,
) -> Result<Vec<Decision>, StoreError> {
    reader.decisions_of_owner(owner, limit.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_one_to_the_maximum_and_defaults_when_absent() {
        assert_eq!(Limit::parse(None), Ok(Limit(DEFAULT_LIMIT)));
        assert_eq!(Limit::parse(Some("1")).map(Limit::get), Ok(1));
        assert_eq!(Limit::parse(Some("1000")).map(Limit::get), Ok(MAX_LIMIT));
        for bad in ["0", "1001", "-1", "ten", ""] {
            assert_eq!(
                Limit::parse(Some(bad)),
                Err(BadLimit(bad.to_owned())),
                "{bad:?}"
            );
        }
        let message = BadLimit("0".into()).to_string();
        assert!(message.contains("from 1 to 1000"), "{message}");
    }
}
