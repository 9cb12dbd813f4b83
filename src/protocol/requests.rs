//! Requests held for an owner's decision (UMA Grant §3.3.6), as the domain and the store share them.

use serde_json::{Map, Value};

use crate::clock::UnixTime;

/// Where a held request stands. An expired request is one still `Pending` at or after its `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }
}

/// One held request.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequest {
    pub id: String,
    pub owner: String,
    pub resource_server: String,
    pub resource_id: String,
    /// Sorted, without duplicates.
    pub scopes: Vec<String>,
    /// The requesting party's id (`crate::uma::party_id`).
    pub party: String,
    /// The party's verified claims when the request was held.
    pub claims: Map<String, Value>,
    /// The client that asked first.
    pub client_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub state: RequestState,
    pub decided_at: Option<UnixTime>,
}
