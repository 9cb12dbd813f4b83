//! The token endpoint (RFC 6749 §3.2): parses the form, authenticates the client, and dispatches on
//! `grant_type` to one module per grant. Every answer carries `Cache-Control: no-store`.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh;
pub mod uma_ticket;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::forms::{self, Params};
use super::{AppState, client_auth, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::store::clients::Client;

/// The UMA grant type (UMA Grant §3.3.1).
pub const UMA_TICKET: &str = "urn:ietf:params:oauth:grant-type:uma-ticket";

/// Grant types the token endpoint accepts, as published in discovery.
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "refresh_token",
    UMA_TICKET,
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::TOKEN)
            .route(web::post().to(token))
            .default_service(method_not_allowed("POST")),
    );
}

async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = forms::read_form(&req, payload, &state).await?;
    let creds = client_auth::credentials(&req, &params)?;
    let grant_type = params.require("grant_type")?.to_owned();
    let body = state
        .run(move |st| {
            let client = client_auth::authenticate(st, &creds)?;
            dispatch(st, &client, &grant_type, &params)
        })
        .await?;
    Ok(no_store_json(StatusCode::OK, &body))
}

fn dispatch(
    state: &AppState,
    client: &Client,
    grant_type: &str,
    params: &Params,
) -> Result<Value, OAuthError> {
    match grant_type {
        "authorization_code" => authorization_code::grant(state, client, params),
        "refresh_token" => refresh::grant(state, client, params),
        "client_credentials" => client_credentials::grant(state, client, params),
        UMA_TICKET => uma_ticket::grant(state, client, params),
        other => Err(OAuthError::new(
            crate::error::ErrorCode::UnsupportedGrantType,
            format!(
                "grant type {} is not supported (supported: {})",
                crate::error::quoted(other),
                GRANT_TYPES.join(", ")
            ),
        )),
    }
}

/// Refuses a grant type the client is not registered for. Clients registered with no grant types may use
/// any grant their type allows.
pub fn check_client_grant(client: &Client, grant_type: &str) -> Result<(), OAuthError> {
    if client.grant_types.is_empty() || client.grant_types.iter().any(|g| g == grant_type) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "client `{}` is not registered for grant type {}",
            client.client_id,
            crate::error::quoted(grant_type)
        )))
    }
}
