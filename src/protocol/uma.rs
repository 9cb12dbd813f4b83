//! The UMA artifacts the server remembers, as plain values: requesting party tokens with the permissions
//! they grant (UMA Grant §3.3.5, Federated Authorization §5.1.1) and persisted claims tokens (UMA Grant
//! §3.3.5, §5.6). The store maps its rows to them; neither holds a token in clear.

use serde::{Deserialize, Serialize};
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

/// One requested permission: a resource and zero or more of its registered scopes (F §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Permission {
    pub resource_id: String,
    pub resource_scopes: Vec<String>,
}

/// A ticket as stored, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// SHA-256 of the ticket value.
    pub hash: String,
    /// The resource owner every permission belongs to.
    pub owner: String,
    /// The resource server that asked for the ticket.
    pub client_id: String,
    pub permissions: Vec<Permission>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set on a ticket rotated by the UMA grant: only this client may present it (UMA Grant §5.4).
    pub bound_client: Option<String>,
}

/// The outcome of presenting a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// The ticket was live; it is now used and can never be presented again.
    Valid(Ticket),
    /// No such ticket (never issued, or purged after expiry).
    Unknown,
    /// The ticket ran out before it was used.
    Expired,
    /// The ticket was already presented once: a replay.
    AlreadyUsed,
}

/// A resource description (Federated Authorization §3.1) without its `_id`, which the server assigns and keeps
/// beside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Description {
    /// The scopes the resource can be accessed with, without duplicates, in the order first registered.
    pub resource_scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Members the specification does not define, kept as sent so the RS gets back what it registered.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl Description {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.resource_scopes.iter().any(|s| s == scope)
    }
}

/// A stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: String,
    /// The resource owner: a username, or a client id for a client-owned resource.
    pub owner: String,
    /// The resource server that registered it.
    pub client_id: String,
    pub description: Description,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// A browser visit waiting for the requesting party's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// SHA-256 of the CSRF token bound to the visit.
    pub csrf_hash: String,
    pub client_id: String,
    /// SHA-256 of the ticket the client sent the browser with.
    pub ticket_hash: String,
    /// The resource owner the ticket is for (shown on the page).
    pub owner: String,
    /// The claims redirect URI the answer goes to, already checked against the client's registration.
    pub redirect_uri: String,
    pub state: Option<String>,
    pub expires_at: UnixTime,
}

/// Claims gathered interactively and bound to a ticket and the client it was handed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    pub client_id: String,
    pub claims: Map<String, Value>,
}
