//! Client credentials grant at the token endpoint (RFC 6749 §4.4): runs [`crate::oauth::client_credentials`]
//! in one write transaction and renders the RFC 6749 §5.1 response.

use serde_json::{Map, Value};

use crate::error::OAuthError;
use crate::http::AppState;
use crate::oauth::{Client, client_credentials};
use crate::scope::Scopes;

/// Issues a PAT to the client itself. The caller has checked that the client is confidential and may use
/// this grant ([`crate::oauth::token::check_eligible`]).
pub fn grant(
    state: &AppState,
    client: &Client,
    scope: Option<Scopes>,
) -> Result<Value, OAuthError> {
    let scope = client_credentials::granted_scope(scope)?;
    let now = state.now();
    let issued = state
        .store
        .write(|tx| client_credentials::issue(tx, &state.settings, client, &scope, now))?;
    Ok(issued.response(Map::new()))
}
