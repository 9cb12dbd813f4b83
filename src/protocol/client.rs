//! The one model of a registered OAuth client (RFC 7591 §2 metadata as this server keeps it). The admin CLI,
//! dynamic registration, client authentication and the store all use this type; wire shapes are built from
//! it at the HTTP edge and rows are mapped to it in the store. It never holds a secret in clear.

use serde_json::{Map, Value};

use super::types::{AuthMethod, GrantType};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// The one method this client authenticates with (RFC 7591 §2).
    pub auth_method: AuthMethod,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub claims_redirect_uris: Vec<String>,
    /// Empty for an admin-created client that may use any grant its type allows.
    pub grant_types: Vec<GrantType>,
    /// Further registration metadata, returned as registered.
    pub metadata: Map<String, Value>,
    pub created_at: UnixTime,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Whether the client may use `grant`: clients registered with no grant types may use any.
    pub fn allows_grant(&self, grant: &GrantType) -> bool {
        self.grant_types.is_empty() || self.grant_types.contains(grant)
    }

    /// A client with nothing registered but its id and method, for tests; a secret method gets the hash of
    /// `secret`.
    #[cfg(test)]
    pub(crate) fn for_tests(id: &str, method: AuthMethod, secret: &str) -> Self {
        Client {
            client_id: id.into(),
            secret_hash: method
                .uses_secret()
                .then(|| crate::crypto::hash_secret(secret)),
            auth_method: method,
            client_name: None,
            redirect_uris: vec![],
            claims_redirect_uris: vec![],
            grant_types: vec![],
            metadata: Map::new(),
            created_at: 0,
        }
    }
}
