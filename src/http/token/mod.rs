//! The token endpoint (RFC 6749 §3.2): parses the form, authenticates the client, checks that it may use the
//! grant, parses the typed [`TokenRequest`] and dispatches it to one module per grant. Every answer carries
//! `Cache-Control: no-store`.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh;
pub mod uma_ticket;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::forms;
use super::{AppState, client_auth, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::oauth::token::{TokenRequest, check_eligible};
use crate::oauth::{Client, GrantType};

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
    let Ok(grant_type) = params.require("grant_type")?.parse::<GrantType>();
    let http_request_id = super::ops::request_id(&req);
    let body = state
        .run(move |st| {
            let client = client_auth::authenticate(st, &creds)?;
            check_eligible(&client, &grant_type)?;
            let request = TokenRequest::parse(&grant_type, &params)?;
            dispatch(st, &client, request, http_request_id.as_deref())
        })
        .await?;
    Ok(no_store_json(StatusCode::OK, &body))
}

fn dispatch(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    http_request_id: Option<&str>,
) -> Result<Value, OAuthError> {
    match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => authorization_code::grant(
            state,
            client,
            &code,
            redirect_uri.as_deref(),
            code_verifier.as_ref(),
        ),
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh::grant(state, client, &refresh_token, scope.as_ref()),
        TokenRequest::ClientCredentials { scope } => {
            client_credentials::grant(state, client, scope)
        }
        TokenRequest::UmaTicket(request) => {
            uma_ticket::grant(state, client, &request, http_request_id)
        }
    }
}
