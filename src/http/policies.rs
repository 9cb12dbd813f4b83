//! Policy API: an owner reads, writes and removes their own sharing policies (Cedar) over HTTP. An extension of
//! this server, not part of UMA; published in discovery as `uma_cedar_policy_endpoint`.
//!
//! - `GET /uma/policies`: the owner's policies, `[{"name", "updated_at", "size"}]`;
//! - `GET /uma/policies/{name}`: one, `{"name", "text", "updated_at"}`;
//! - `PUT /uma/policies/{name}`: stores the Cedar text sent as `text/plain`, or as `{"text": "..."}` in
//!   `application/json`; 201 when new, 200 when it replaced the policy of that name, with
//!   `{"name", "policies", "replaced", "warnings"}`. A policy that does not validate against the schema is
//!   refused with 400 `invalid_request` and its located `diagnostics`; nothing is stored;
//! - `DELETE /uma/policies/{name}`: 204.
//!
//! The caller is the owner: a bearer access token with scope `uma_policy` whose subject (a username, or a
//! client id for a client-owned organisation) owns the policies. A PAT with only `uma_protection` gets 403
//! `insufficient_scope`: a resource server must never rewrite an owner's policies. This module must never read
//! or change the policies of anyone but the token's subject.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::bearer::{active_access_token, bearer_token};
use super::forms::read_body;
use super::{AppState, method_not_allowed, paths};
use crate::error::OAuthError;
use crate::owner::policies::{self, PolicyError};
use crate::policy::Source;
use crate::scope::UMA_POLICY;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(vec![
            paths::POLICIES.to_owned(),
            format!("{}/", paths::POLICIES),
        ])
        .route(web::get().to(list))
        .default_service(method_not_allowed("GET")),
    );
    cfg.service(
        web::resource(format!("{}/{{name}}", paths::POLICIES))
            .route(web::get().to(read))
            .route(web::put().to(put))
            .route(web::delete().to(remove))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    );
}

/// The owner the request speaks for: the subject of a valid access token with scope `uma_policy`.
pub(crate) async fn require_owner(
    req: &HttpRequest,
    state: &AppState,
) -> Result<String, OAuthError> {
    let token = bearer_token(req)?;
    state
        .run(move |st| {
            let record = active_access_token(st, &token)?.ok_or_else(|| {
                OAuthError::invalid_token("the access token is unknown, expired or revoked")
            })?;
            if !record.has_scope(UMA_POLICY) {
                return Err(OAuthError::insufficient_scope(UMA_POLICY));
            }
            Ok(record.subject)
        })
        .await
}

fn not_found(name: &str) -> OAuthError {
    OAuthError::not_found(format!("you have no policy named `{name}`"))
}

fn from_policy_error(err: PolicyError) -> OAuthError {
    match err {
        PolicyError::Invalid(validation) => {
            let first = validation
                .errors()
                .next()
                .map(|d| format!(": line {}, column {}: {}", d.line, d.column, d.message))
                .unwrap_or_default();
            OAuthError::invalid_request(format!(
                "the policy does not validate against the schema ({} error(s)){first}",
                validation.errors().count()
            ))
            .with(
                "diagnostics",
                Value::Array(validation.diagnostics.iter().map(|d| d.to_json()).collect()),
            )
        }
        PolicyError::BadName { .. } | PolicyError::DuplicateName(_) => {
            OAuthError::invalid_request(err.to_string())
        }
        PolicyError::UnknownOwner(_) => {
            OAuthError::invalid_token("the token's subject no longer exists")
        }
        PolicyError::Store(e) => OAuthError::server_error(&e),
    }
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let list = state
        .run(move |st| Ok(st.store.read(|c| policies::list(c, &owner))?))
        .await?;
    let body: Vec<Value> = list
        .iter()
        .map(|p| json!({"name": p.name, "updated_at": p.updated_at, "size": p.size}))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

async fn read(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let name = name.into_inner();
    let found = {
        let name = name.clone();
        state
            .run(move |st| Ok(st.store.read(|c| policies::get(c, &owner, &name))?))
            .await?
    };
    let policy = found.ok_or_else(|| not_found(&name))?;
    Ok(HttpResponse::Ok().json(json!({
        "name": policy.name,
        "text": policy.text,
        "updated_at": policy.updated_at,
    })))
}

/// The Cedar text of a PUT body: `text/plain`, or `{"text": "..."}` as `application/json`.
fn policy_text(req: &HttpRequest, body: &[u8]) -> Result<String, OAuthError> {
    let media = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match media.as_deref() {
        Some("text/plain") => String::from_utf8(body.to_vec())
            .map_err(|_| OAuthError::invalid_request("the policy text is not UTF-8")),
        Some("application/json") => {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                OAuthError::invalid_request(format!("the body is not valid JSON: {e}"))
            })?;
            match value.get("text") {
                Some(Value::String(text)) => Ok(text.clone()),
                _ => Err(OAuthError::invalid_request(
                    "the JSON body must be an object with the policy text as the string member `text`",
                )),
            }
        }
        _ => Err(OAuthError::invalid_request(
            "send the policy as `Content-Type: text/plain` (Cedar text), or as `application/json` \
             `{\"text\": \"...\"}`",
        )),
    }
}

async fn put(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let name = name.into_inner();
    policies::check_name(&name).map_err(from_policy_error)?;
    let body = read_body(payload, &state).await?;
    let text = policy_text(&req, &body)?;
    let outcome = state
        .run(move |st| {
            st.policies
                .push(&st.store, &owner, &[Source::new(name, text)], st.now())
                .map_err(from_policy_error)
        })
        .await?;
    let Some(pushed) = outcome.pushed.first() else {
        return Err(OAuthError::server_error(
            &"a push of one policy stored none",
        ));
    };
    let status = if pushed.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(json!({
        "name": pushed.name,
        "policies": pushed.policies,
        "replaced": pushed.replaced,
        "warnings": outcome.warnings.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
    })))
}

async fn remove(
    req: HttpRequest,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let owner = require_owner(&req, &state).await?;
    let name = name.into_inner();
    let removed = {
        let name = name.clone();
        state
            .run(move |st| {
                st.policies
                    .remove(&st.store, &owner, &name, st.now())
                    .map_err(from_policy_error)
            })
            .await?
    };
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found(&name))
    }
}
