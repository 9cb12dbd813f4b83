//! Token introspection (RFC 7662, with UMA Federated Authorization §5 for the protection API).
//!
//! The caller proves who it is with a PAT (`Authorization: Bearer`, scope `uma_protection`, Federated
//! Authorization §5) or with its client credentials (RFC 7662 §2.1, HTTP Basic or `client_secret_post`).
//! Public clients cannot introspect: with nothing to prove, anyone could scan tokens (RFC 7662 §4).
//!
//! What a token is and what the caller may learn about it is decided by [`crate::oauth::introspection`]; this
//! file reads the proof, checks it, and renders the answer with `Cache-Control: no-store`.
//!
//! `token_type_hint` is accepted and not needed: one lookup by hash finds access and refresh tokens alike,
//! and RFC 7662 §2.1 requires searching every type anyway, so an unknown hint is simply ignored.

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::forms::{self, Params};
use super::{AppState, bearer, client_auth, no_store_json, paths, post_only};
use crate::error::OAuthError;
use crate::oauth::introspection::{self, Caller};
use crate::oauth::presented::PresentedToken;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only(paths::INTROSPECT, introspect));
}

/// How the caller proved itself, before the proof is checked.
enum Proof {
    Pat(String),
    Client(client_auth::Credentials),
}

fn sends_bearer(req: &HttpRequest) -> bool {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

fn proof(req: &HttpRequest, params: &Params) -> Result<Proof, OAuthError> {
    if sends_bearer(req) {
        if params.contains("client_id") || params.contains("client_secret") {
            return Err(OAuthError::invalid_request(
                "authenticate with a PAT or with client credentials, not both",
            ));
        }
        return Ok(Proof::Pat(bearer::bearer_token(req)?));
    }
    let sends_basic = req.headers().contains_key(AUTHORIZATION);
    if !sends_basic && !params.contains("client_id") {
        // HTTP requires a challenge with a 401; Basic names one of the two accepted ways.
        return Err(OAuthError::invalid_client(
            "introspection needs a PAT in `Authorization: Bearer`, or client authentication \
             (HTTP Basic, or `client_id` and `client_secret` in the body)",
            true,
        ));
    }
    Ok(Proof::Client(client_auth::credentials(req, params)?))
}

/// Checks the proof and returns the client id of the caller (blocking).
fn caller(state: &AppState, proof: &Proof) -> Result<String, OAuthError> {
    match proof {
        Proof::Pat(token) => {
            let pat = bearer::check_pat(state, token)?;
            introspection::caller_id(Caller::Pat {
                client_id: &pat.client_id,
            })
        }
        Proof::Client(creds) => {
            let client = client_auth::authenticate(state, creds)?;
            introspection::caller_id(Caller::Client(&client))
        }
    }
}

/// The introspection answer for `token` as seen by the client `caller` (blocking).
fn answer(state: &AppState, caller: &str, token: &str) -> Result<Value, OAuthError> {
    let token = PresentedToken::read(&*state.key_set()?, token);
    let reader = state.store.begin_read()?;
    introspection::answer(&reader, &state.context(), &state.policies, caller, &token)
}

async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = forms::read_form(&req, payload, &state).await?;
    let proof = proof(&req, &params)?;
    let token = params.require("token")?.to_owned();
    let body = state
        .run(move |st| {
            let caller = caller(st, &proof)?;
            answer(st, &caller, &token)
        })
        .await?;
    Ok(no_store_json(StatusCode::OK, &body))
}
