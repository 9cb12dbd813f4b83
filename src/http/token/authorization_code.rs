//! Authorization code grant at the token endpoint (RFC 6749 §4.1.3): runs
//! [`crate::oauth::authorization_code::redeem`] in one write transaction, committing a replay's revocation,
//! with the key set in force signing the ID token, and renders the RFC 6749 §5.1 response.

use serde_json::{Map, Value};

use crate::error::OAuthError;
use crate::http::AppState;
use crate::oauth::authorization_code::{self, CodeRequest, IdTokenSigner};
use crate::oauth::token::CodeVerifier;
use crate::oauth::{AuthCode, Client};

/// Signs with the key set in force, fetched only when an ID token is due.
struct KeysInForce<'a>(&'a AppState);

impl IdTokenSigner for KeysInForce<'_> {
    fn sign_id_token(&self, claims: Map<String, Value>) -> Result<String, OAuthError> {
        self.0
            .key_set()?
            .sign(claims, "JWT")
            .map_err(|e| OAuthError::server_error(&e))
    }
}

/// Redeems the code. The caller has checked that the client may use this grant and that the verifier, if
/// any, is well formed ([`crate::oauth::token::TokenRequest`]).
pub fn grant(
    state: &AppState,
    client: &Client,
    code: &AuthCode,
    redirect_uri: Option<&str>,
    verifier: Option<&CodeVerifier>,
) -> Result<Value, OAuthError> {
    let request = CodeRequest {
        code,
        redirect_uri,
        verifier,
    };
    let ctx = state.context();
    let signer = KeysInForce(state);
    let redeemed = state
        .store
        .write_outcome(|tx| authorization_code::redeem(tx, &ctx, &signer, client, &request))?;
    Ok(redeemed.response())
}
