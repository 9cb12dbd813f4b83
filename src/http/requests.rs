//! Held requests for owners (UMA Grant §3.3.6 from the owner's side; an extension of this server, published in
//! discovery as `uma_cedar_requests_endpoint`):
//!
//! - `GET /uma/requests`: the caller's requests, newest first, each with its `state` (`pending`, `approved`,
//!   `denied`, `expired`);
//! - `POST /uma/requests/{id}/approve`: writes the policy `approved-<id>` into the caller's set; an optional
//!   JSON body `{"until": "2027-01-01"}` (a date or an RFC 3339 time) ends the permission then;
//! - `POST /uma/requests/{id}/deny`.
//!
//! The caller is the owner, authenticated as for the policy API (a bearer token with scope `uma_policy`).
//! This module must never show or decide another owner's request: those are 404, like unknown ones.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::forms::read_body;
use super::policies::require_owner;
use super::{AppState, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::owner::PolicyError;
use crate::uma::requests::{self, OwnerRequests, RequestError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::REQUESTS)
            .route(web::get().to(list))
            .default_service(method_not_allowed("GET")),
    );
    cfg.service(
        web::resource(format!("{}/{{id}}/approve", paths::REQUESTS))
            .route(web::post().to(approve))
            .default_service(method_not_allowed("POST")),
    );
    cfg.service(
        web::resource(format!("{}/{{id}}/deny", paths::REQUESTS))
            .route(web::post().to(deny))
            .default_service(method_not_allowed("POST")),
    );
}

fn from_request_error(err: RequestError) -> OAuthError {
    match err {
        RequestError::NotFound(_) => OAuthError::not_found(err.to_string()),
        RequestError::Closed { .. } | RequestError::UntilPast | RequestError::BadUntil(_) => {
            OAuthError::invalid_request(err.to_string())
        }
        RequestError::Policy(PolicyError::UnknownOwner(_)) => {
            OAuthError::invalid_token("the token's subject no longer exists")
        }
        RequestError::Policy(PolicyError::Store(e)) | RequestError::Store(e) => {
            OAuthError::server_error(&e)
        }
        RequestError::Policy(_) => OAuthError::invalid_request(err.to_string()),
    }
}

/// The owner's requests service for one HTTP request; `http_request_id` goes into the decision log with what
/// the owner decides.
pub(crate) fn owner_requests(st: &AppState, http_request_id: Option<String>) -> OwnerRequests<'_> {
    OwnerRequests {
        store: &st.store,
        policies: &st.policies,
        http_request_id,
    }
}

fn json(value: &impl serde::Serialize) -> Result<HttpResponse, OAuthError> {
    let body = serde_json::to_value(value).map_err(|e| OAuthError::server_error(&e))?;
    Ok(no_store_json(StatusCode::OK, &body))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let list = state
        .run(move |st| {
            owner_requests(st, None)
                .list(&owner, st.now())
                .map_err(from_request_error)
        })
        .await?;
    json(&list)
}

/// `until` from an optional JSON body.
fn until(body: &[u8]) -> Result<Option<String>, OAuthError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| OAuthError::invalid_request(format!("the body is not valid JSON: {e}")))?;
    match value.get("until") {
        None | Some(Value::Null) if value.is_object() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        _ => Err(OAuthError::invalid_request(
            "the body must be empty or a JSON object with an optional string `until` \
             (`2027-01-01` or `2027-01-01T00:00:00Z`)",
        )),
    }
}

async fn approve(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let body = read_body(payload, &state).await?;
    let until = until(&body)?;
    let id = id.into_inner();
    let http_request_id = super::ops::request_id(&req);
    let view = state
        .run(move |st| {
            let until = until
                .as_deref()
                .map(requests::parse_until)
                .transpose()
                .map_err(from_request_error)?;
            owner_requests(st, http_request_id)
                .approve(&owner, &id, until, st.now())
                .map_err(from_request_error)
        })
        .await?;
    json(&view)
}

async fn deny(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let id = id.into_inner();
    let http_request_id = super::ops::request_id(&req);
    let view = state
        .run(move |st| {
            owner_requests(st, http_request_id)
                .deny(&owner, &id, st.now())
                .map_err(from_request_error)
        })
        .await?;
    json(&view)
}
