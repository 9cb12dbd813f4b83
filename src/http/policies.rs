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
//! A write with `?dry_run=impact` is checked exactly as the write would be (the same errors) and answers 200
//! with its impact instead of making it: per scope, whether the owner's set after the change newly allows or
//! newly denies anything, each with one example request the ordinary authorizer confirms, or "undecided" when
//! the solver could not tell ([`crate::owner::impact`]). Nothing is stored. Any other `dry_run` is a 400
//! `invalid_request`, so a misspelt dry run is never taken for a write.
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
use crate::owner::impact;
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

/// What a write request asks for: the write, or only its impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Impact,
}

/// Reads `dry_run` from the query. Unlike other parameters, an empty or repeated `dry_run` is an error rather
/// than omitted: a caller who asked for a dry run must never get a write.
fn mode(req: &HttpRequest) -> Result<Mode, OAuthError> {
    let mut found: Option<String> = None;
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        if name != "dry_run" {
            continue;
        }
        if found.is_some() {
            return Err(OAuthError::invalid_request(
                "parameter `dry_run` is repeated; send it once",
            ));
        }
        found = Some(value.into_owned());
    }
    match found.as_deref() {
        None => Ok(Mode::Write),
        Some(impact::DRY_RUN) => Ok(Mode::Impact),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "`dry_run` must be `{}` (answer the change's impact, store nothing), not {}",
            impact::DRY_RUN,
            crate::error::quoted(other)
        ))),
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
    let mode = mode(&req)?;
    let name = name.into_inner();
    policies::check_name(&name).map_err(from_policy_error)?;
    let body = read_body(payload, &state).await?;
    let text = policy_text(&req, &body)?;
    if mode == Mode::Impact {
        let preview = state
            .run(move |st| {
                impact::of_push(
                    &st.policies,
                    &st.store,
                    &owner,
                    &[Source::new(name, text)],
                    Some(&st.settings.issuer),
                )
                .map_err(from_policy_error)
            })
            .await?;
        return Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(preview.to_json()));
    }
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
    let mode = mode(&req)?;
    let name = name.into_inner();
    if mode == Mode::Impact {
        let preview = {
            let name = name.clone();
            state
                .run(move |st| {
                    impact::of_remove(
                        &st.policies,
                        &st.store,
                        &owner,
                        &name,
                        Some(&st.settings.issuer),
                    )
                    .map_err(from_policy_error)
                })
                .await?
        };
        return match preview {
            Some(preview) => Ok(HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(preview.to_json())),
            None => Err(not_found(&name)),
        };
    }
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
