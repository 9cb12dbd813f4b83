//! The UMA artifacts the server remembers, as plain values: requesting party tokens with the permissions
//! they grant (UMA Grant §3.3.5, Federated Authorization §5.1.1) and persisted claims tokens (UMA Grant
//! §3.3.5, §5.6). The store maps its rows to them; neither holds a token in clear.

use serde_json::{Map, Value};

use crate::clock::UnixTime;

/// A permission granted by an RPT (Federated Authorization §5.1.1), each with its own expiry. What resource
/// servers receive is shaped by `uma::wire`, not by this value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedPermission {
    pub resource_id: String,
    pub resource_scopes: Vec<String>,
    pub exp: UnixTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rpt {
    pub jti: String,
    /// The client the RPT was issued to.
    pub client_id: String,
    /// The requesting party (see `uma::party_id`).
    pub party: String,
    pub owner: String,
    /// The resource server: the RPT's audience.
    pub resource_server: String,
    pub permissions: Vec<GrantedPermission>,
    /// The verified claims the decision used, kept to re-evaluate when the owner's policies change.
    pub claims: Map<String, Value>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
}

impl Rpt {
    pub fn is_active(&self, now: UnixTime) -> bool {
        !self.revoked && now < self.expires_at
    }

    /// The permissions still in force at `now`.
    pub fn live_permissions(&self, now: UnixTime) -> Vec<GrantedPermission> {
        self.permissions
            .iter()
            .filter(|p| now < p.exp)
            .cloned()
            .collect()
    }
}

/// A persisted claims token, known by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Pct {
    pub hash: String,
    pub client_id: String,
    pub party: String,
    pub claims: Map<String, Value>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
}

impl Pct {
    pub fn is_active(&self, now: UnixTime) -> bool {
        !self.revoked && now < self.expires_at
    }
}
