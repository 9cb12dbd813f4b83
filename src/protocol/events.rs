//! The kinds of events owners are notified of by webhook ([`crate::notify`] raises and delivers them; the
//! settings name them in a webhook's `events` list). Plain data.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of an event, as the payload's `type` and a webhook's `events` list spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A request that only `@ask` policies would grant is held for the owner's decision.
    #[serde(rename = "request.submitted")]
    RequestSubmitted,
    /// The owner approved or denied a held request.
    #[serde(rename = "request.decided")]
    RequestDecided,
    /// Policies of the owner were stored, replaced or removed.
    #[serde(rename = "policy.changed")]
    PolicyChanged,
}

impl EventKind {
    pub const ALL: [Self; 3] = [
        Self::RequestSubmitted,
        Self::RequestDecided,
        Self::PolicyChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestSubmitted => "request.submitted",
            Self::RequestDecided => "request.decided",
            Self::PolicyChanged => "policy.changed",
        }
    }

    /// The kind spelled `text`, if there is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
