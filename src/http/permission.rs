//! Permission endpoint (Federated Authorization §4): parses the resource server's request, has
//! [`uma::permission`] issue the ticket in one write transaction, and answers `201` with it.
//!
//! This module must never decide which permissions are acceptable: that is [`uma::permission`]'s job.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::bearer::{bearer_token, with_pat};
use super::forms::read_json;
use super::{AppState, no_store_json, paths, post_only};
use crate::error::OAuthError;
use crate::uma::{self, Requester};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only(paths::PERMISSION, permission));
}

async fn permission(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    bearer_token(&req)?;
    // Read before the PAT is checked, so that the check and the ticket take one trip to the blocking pool; a bad
    // body is still reported only after the PAT passed.
    let body = read_json(&req, payload, &state).await;
    let ticket = with_pat(&req, &state, move |st, pat| {
        let requested = uma::permission::parse_request(body?)?;
        let requester = Requester {
            owner: &pat.owner,
            resource_server: &pat.client_id,
        };
        st.store
            .write(|tx| uma::permission::issue_ticket(&st.context(), tx, requester, requested))
    })
    .await?;
    Ok(no_store_json(
        StatusCode::CREATED,
        &json!({ "ticket": ticket }),
    ))
}
