//! Refresh token grant (RFC 6749 §6) with rotation.

use serde_json::Value;

use crate::error::OAuthError;
use crate::http::AppState;
use crate::http::forms::Params;
use crate::store::clients::Client;

pub fn grant(_state: &AppState, _client: &Client, _params: &Params) -> Result<Value, OAuthError> {
    Err(OAuthError::new(
        crate::error::ErrorCode::UnsupportedGrantType,
        "the refresh_token grant is not available yet",
    ))
}
