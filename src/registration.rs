//! Creating clients: the rules shared by the admin CLI (`uma-cedar client add`) and dynamic client
//! registration (RFC 7591). Redirect URIs are absolute, have no fragment (RFC 6749 §3.1.2) and are later
//! matched exactly.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::crypto;
use crate::store::clients::Client;

/// Why a client description was refused. The message names the field and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    RedirectUri(String),
    #[error("{0}")]
    Metadata(String),
}

/// A client as the admin or a registering client describes it.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    /// The secret in clear; `None` makes a public client.
    pub secret: Option<String>,
    /// `client_secret_basic` (default for confidential clients), `client_secret_post` or `none`.
    pub auth_method: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub claims_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub metadata: Map<String, Value>,
}

/// Client identifiers: 1 to 128 characters, printable ASCII without spaces or `:` (which Basic
/// authentication would split on).
pub fn check_client_id(id: &str) -> Result<(), ClientError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic() && c != ':') {
        return Err(ClientError::Metadata(format!(
            "client id `{id}` must be 1 to 128 printable ASCII characters without spaces or `:`"
        )));
    }
    Ok(())
}

/// Checks one redirect URI.
pub fn check_redirect_uri(uri: &str) -> Result<(), ClientError> {
    let parsed = url::Url::parse(uri).map_err(|e| {
        ClientError::RedirectUri(format!("redirect URI `{uri}` is not an absolute URI: {e}"))
    })?;
    if parsed.fragment().is_some() {
        return Err(ClientError::RedirectUri(format!(
            "redirect URI `{uri}` must not contain a fragment"
        )));
    }
    if parsed.cannot_be_a_base() && parsed.scheme() != "urn" {
        return Err(ClientError::RedirectUri(format!(
            "redirect URI `{uri}` is not a usable URI"
        )));
    }
    Ok(())
}

const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:uma-ticket",
];

impl NewClient {
    /// Validates the description and builds the record to store (the secret hashed).
    pub fn build(self, now: UnixTime) -> Result<Client, ClientError> {
        check_client_id(&self.client_id)?;
        for uri in self.redirect_uris.iter().chain(&self.claims_redirect_uris) {
            check_redirect_uri(uri)?;
        }
        if let Some(unknown) = self
            .grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(ClientError::Metadata(format!(
                "grant type `{unknown}` is not supported (supported: {})",
                GRANT_TYPES.join(", ")
            )));
        }
        let auth_method = match (self.auth_method.as_deref(), &self.secret) {
            (None, Some(_)) => "client_secret_basic".to_owned(),
            (None | Some("none"), None) => "none".to_owned(),
            (Some(m @ ("client_secret_basic" | "client_secret_post")), Some(_)) => m.to_owned(),
            (Some("none"), Some(_)) => {
                return Err(ClientError::Metadata(
                    "a client with token_endpoint_auth_method `none` cannot have a secret".into(),
                ));
            }
            (Some(m @ ("client_secret_basic" | "client_secret_post")), None) => {
                return Err(ClientError::Metadata(format!(
                    "auth method `{m}` needs a client secret"
                )));
            }
            (Some(other), _) => {
                return Err(ClientError::Metadata(format!(
                    "token_endpoint_auth_method `{other}` is not supported \
                     (supported: client_secret_basic, client_secret_post, none)"
                )));
            }
        };
        if self.secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ClientError::Metadata(
                "a client secret must be at least 16 characters".into(),
            ));
        }
        Ok(Client {
            client_id: self.client_id,
            secret_hash: self.secret.as_deref().map(crypto::hash_secret),
            auth_method,
            client_name: self.client_name,
            redirect_uris: self.redirect_uris,
            claims_redirect_uris: self.claims_redirect_uris,
            grant_types: self.grant_types,
            metadata: self.metadata,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewClient {
        NewClient {
            client_id: "rs1".into(),
            secret: Some("0123456789abcdef".into()),
            redirect_uris: vec!["https://rs.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn confidential_client_gets_basic_and_a_hashed_secret() {
        let client = base().build(5).expect("valid");
        assert_eq!(client.auth_method, "client_secret_basic");
        assert_eq!(
            client.secret_hash,
            Some(crypto::hash_secret("0123456789abcdef"))
        );
    }

    #[test]
    fn public_client_has_no_secret() {
        let client = NewClient {
            secret: None,
            ..base()
        }
        .build(5)
        .expect("valid");
        assert!(client.is_public());
        assert_eq!(client.auth_method, "none");
    }

    #[test]
    fn bad_descriptions_are_refused_with_a_reason() {
        let cases = [
            NewClient {
                redirect_uris: vec!["/relative".into()],
                ..base()
            },
            NewClient {
                redirect_uris: vec!["https://a.example/cb#frag".into()],
                ..base()
            },
            NewClient {
                client_id: "has space".into(),
                ..base()
            },
            NewClient {
                client_id: "a:b".into(),
                ..base()
            },
            NewClient {
                secret: Some("short".into()),
                ..base()
            },
            NewClient {
                grant_types: vec!["password".into()],
                ..base()
            },
            NewClient {
                auth_method: Some("private_key_jwt".into()),
                ..base()
            },
            NewClient {
                auth_method: Some("client_secret_post".into()),
                secret: None,
                ..base()
            },
        ];
        for case in cases {
            let id = case.client_id.clone();
            assert!(case.build(0).is_err(), "{id} should be refused");
        }
    }
}
