//! Authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).

use serde_json::Value;

use crate::error::OAuthError;
use crate::http::AppState;
use crate::http::forms::Params;
use crate::store::clients::Client;

pub fn grant(_state: &AppState, _client: &Client, _params: &Params) -> Result<Value, OAuthError> {
    Err(OAuthError::new(
        crate::error::ErrorCode::UnsupportedGrantType,
        "the authorization_code grant is not available yet",
    ))
}
