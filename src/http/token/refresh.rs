//! Refresh token grant at the token endpoint (RFC 6749 §6): runs [`crate::oauth::refresh::rotate`] in one
//! write transaction, committing a replay's revocation, and renders the RFC 6749 §5.1 response.

use serde_json::{Map, Value};

use crate::crypto;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::oauth::{Client, RefreshToken, refresh};
use crate::scope::Scopes;

/// Rotates the refresh token. The caller has checked that the client may use this grant.
pub fn grant(
    state: &AppState,
    client: &Client,
    refresh_token: &RefreshToken,
    requested: Option<&Scopes>,
) -> Result<Value, OAuthError> {
    let hash = crypto::hash_secret(refresh_token.secret());
    let now = state.now();
    let issued = state
        .store
        .write_outcome(|tx| refresh::rotate(tx, &state.settings, client, &hash, requested, now))?;
    Ok(issued.response(Map::new()))
}
