//! Issuing access and refresh tokens under a grant. Protocol logic only: the caller supplies the open
//! transaction, so a single-use artifact (a code, a refresh token) is consumed in the same transaction that
//! issues what it produces.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::config::Settings;
use crate::crypto;
use crate::error::OAuthError;
use crate::protocol::tokens::TokenKind;
use crate::store::oauth::{NewToken, TokenStore};

/// Tokens just issued, in clear, for the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

impl Issued {
    /// The RFC 6749 §5.1 response body; `extra` adds members such as `id_token`.
    pub fn response(&self, extra: Map<String, Value>) -> Value {
        let mut body = Map::new();
        body.insert(
            "access_token".into(),
            Value::from(self.access_token.as_str()),
        );
        body.insert("token_type".into(), Value::from("Bearer"));
        body.insert("expires_in".into(), Value::from(self.expires_in));
        body.insert("scope".into(), Value::from(self.scope.as_str()));
        if let Some(refresh) = &self.refresh_token {
            body.insert("refresh_token".into(), Value::from(refresh.as_str()));
        }
        body.extend(extra);
        Value::Object(body)
    }
}

fn new_secret() -> Result<String, OAuthError> {
    crypto::random_token().map_err(|e| OAuthError::server_error(&e))
}

/// Issues an access token (and a refresh token when `with_refresh`) under `grant_id`.
pub fn issue_tokens(
    tx: &(impl TokenStore + ?Sized),
    settings: &Settings,
    grant_id: i64,
    scope: &str,
    with_refresh: bool,
    now: UnixTime,
) -> Result<Issued, OAuthError> {
    let access_token = new_secret()?;
    tx.insert_token(&NewToken {
        hash: &crypto::hash_secret(&access_token),
        kind: TokenKind::Access,
        grant_id,
        scope,
        issued_at: now,
        expires_at: now + settings.access_token_ttl,
    })?;
    let refresh_token = if with_refresh {
        let refresh = new_secret()?;
        tx.insert_token(&NewToken {
            hash: &crypto::hash_secret(&refresh),
            kind: TokenKind::Refresh,
            grant_id,
            scope,
            issued_at: now,
            expires_at: now + settings.refresh_token_ttl,
        })?;
        Some(refresh)
    } else {
        None
    };
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: settings.access_token_ttl,
        scope: scope.to_owned(),
    })
}
