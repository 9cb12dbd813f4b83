//! The UserInfo endpoint (OpenID Connect Core §5.3, RFC 6750 §2.1 and §3): `GET` or `POST` with a bearer
//! access token carrying scope `openid`, answered with the account's `sub` and, when the account has them,
//! `email` (with `email_verified`: an administrator recorded it, so this server vouches for it) and `name`.
//!
//! What this module must never do: answer for a token that is expired, revoked or lacks `openid`, or reveal
//! anything about an account other than the token's subject.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::bearer::{active_access_token, bearer_token};
use super::{AppState, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::scope::OPENID;
use crate::store::tokens::SubjectKind;
use crate::store::users;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::USERINFO)
            .route(web::get().to(userinfo))
            .route(web::post().to(userinfo))
            .default_service(method_not_allowed("GET, POST")),
    );
}

async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let token = bearer_token(&req)?;
    let body = state.run(move |st| claims(st, &token)).await?;
    Ok(no_store_json(StatusCode::OK, &body))
}

fn claims(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    let record = active_access_token(state, token)?.ok_or_else(|| {
        OAuthError::invalid_token("the access token is unknown, expired or revoked")
    })?;
    // Client-credentials tokens speak for a client, not a person: there is no user to describe.
    if !record.has_scope(OPENID) || record.subject_kind != SubjectKind::User {
        return Err(OAuthError::insufficient_scope(OPENID));
    }
    let user = state
        .store
        .read(|c| users::get(c, &record.subject))?
        .ok_or_else(|| OAuthError::invalid_token("the account of this token no longer exists"))?;
    let mut body = Map::new();
    body.insert("sub".into(), Value::from(user.username));
    if let Some(email) = user.email {
        body.insert("email".into(), Value::from(email));
        body.insert("email_verified".into(), Value::from(true));
    }
    if let Some(name) = user.name {
        body.insert("name".into(), Value::from(name));
    }
    Ok(Value::Object(body))
}
