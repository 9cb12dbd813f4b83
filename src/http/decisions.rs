//! The decision log for owners (an extension of this server, not part of UMA; published in discovery as
//! `uma_cedar_decisions_endpoint`): every answer the UMA grant gave about the caller's resources, newest
//! first. The caller is the owner, authenticated as for the policy API (a token with scope `uma_policy`).
//!
//! This endpoint must never show one owner's decisions to another.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::forms;
use super::policies::require_owner;
use super::{AppState, get_only, no_store_json, paths};
use crate::error::OAuthError;
use crate::owner::decisions::{self, Limit};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(paths::DECISIONS, list));
}

fn limit(req: &HttpRequest) -> Result<Limit, OAuthError> {
    let query = forms::query(req)?;
    Limit::parse(query.get("limit")).map_err(|e| OAuthError::invalid_request(e.to_string()))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let limit = limit(&req)?;
    let owner = require_owner(&req, &state).await?;
    let log = state
        .run(move |st| Ok(st.store.read(|c| decisions::recent(c, &owner, limit))?))
        .await?;
    let body = serde_json::to_value(&log).map_err(|e| OAuthError::server_error(&e))?;
    Ok(no_store_json(StatusCode::OK, &body))
}
