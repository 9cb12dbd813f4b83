//! Token introspection (RFC 7662, with UMA Federated Authorization §5 for the protection API).
//!
//! The caller proves who it is with a PAT (`Authorization: Bearer`, scope `uma_protection`, Federated
//! Authorization §5) or with its client credentials (RFC 7662 §2.1, HTTP Basic or `client_secret_post`).
//! Public clients cannot introspect: with nothing to prove, anyone could scan tokens (RFC 7662 §4).
//!
//! This endpoint must never tell a caller anything about a token that is not both active and meant for it:
//! unknown, expired, revoked, rotated-away tokens and other clients' tokens all get the same bare
//! `{"active": false}` (RFC 7662 §2.2), so the answer cannot be used to probe for tokens.
//!
//! `token_type_hint` is accepted and not needed: one lookup by hash finds access and refresh tokens alike,
//! and RFC 7662 §2.1 requires searching every type anyway, so an unknown hint is simply ignored.

use crate::store::RptRead;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::forms::{self, Params};
use super::{AppState, bearer, client_auth, method_not_allowed, no_store_json, paths};
use crate::clock::UnixTime;
use crate::crypto;
use crate::error::OAuthError;
use crate::store::rpts::{GrantedPermission, Rpt};
use crate::store::tokens::{self, SubjectKind, TokenKind, TokenRecord};
use crate::uma::{self, requesting_party, rpt_subject};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::INTROSPECT)
            .route(web::post().to(introspect))
            .default_service(method_not_allowed("POST")),
    );
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
        Proof::Pat(token) => Ok(bearer::check_pat(state, token)?.client_id),
        Proof::Client(creds) => {
            let client = client_auth::authenticate(state, creds)?;
            if client.is_public() {
                return Err(OAuthError::invalid_client(
                    "public clients cannot introspect tokens; use a confidential client or a PAT",
                    false,
                ));
            }
            Ok(client.client_id)
        }
    }
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Presented {
    /// An access or refresh token of an OAuth grant: PATs and users' access tokens.
    Grant(TokenRecord),
    /// An RPT, with the permissions the owner's policies still grant now: answered with `permissions` and
    /// never `scope` (Federated Authorization §5.1.1), and visible to the resource server that is its
    /// audience rather than to the client holding it.
    Rpt {
        rpt: Rpt,
        permissions: Vec<GrantedPermission>,
    },
}

/// The stored RPT a token stands for: a JWT whose signature verifies with one of our published keys and
/// whose `jti` we issued. Anything else (an ID token, a foreign JWT, a tampered RPT) is not an RPT.
pub fn find_rpt(state: &AppState, token: &str) -> Result<Option<Rpt>, OAuthError> {
    match rpt_jti(state, token)? {
        Some(jti) => Ok(state.store.read(|c| c.rpt(&jti))?),
        None => Ok(None),
    }
}

/// The `jti` of a JWT signed with one of our published keys (the RPT's key in the `rpts` table).
pub fn rpt_jti(state: &AppState, token: &str) -> Result<Option<String>, OAuthError> {
    Ok(uma::rpt::rpt_jti(&*state.key_set()?, token))
}

/// Finds what `token` is. `None` when this server never issued it (or has purged it).
pub fn classify(state: &AppState, token: &str) -> Result<Option<Presented>, OAuthError> {
    if let Some(rpt) = find_rpt(state, token)? {
        let now = state.now();
        let permissions = if rpt.is_active(now) {
            let compiled = state.policies.compiled_for(&state.store, &rpt.owner)?;
            state
                .store
                .read(|r| uma::rpt::current_permissions(&compiled, r, &rpt, now))?
        } else {
            Vec::new()
        };
        return Ok(Some(Presented::Rpt { rpt, permissions }));
    }
    let hash = crypto::hash_secret(token);
    Ok(state
        .store
        .read(|c| tokens::find(c, &hash))?
        .map(Presented::Grant))
}

impl Presented {
    fn is_active(&self, now: UnixTime) -> bool {
        match self {
            Self::Grant(record) => record.is_active(now),
            // An RPT whose every permission was narrowed away grants nothing: inactive.
            Self::Rpt { rpt, permissions } => rpt.is_active(now) && !permissions.is_empty(),
        }
    }

    /// Whether the client `caller` may learn about this token: an OAuth token only to the client it was
    /// issued to, since nobody else has a use for its metadata.
    fn visible_to(&self, caller: &str) -> bool {
        match self {
            Self::Grant(record) => record.client_id == caller,
            Self::Rpt { rpt, .. } => rpt.resource_server == caller,
        }
    }

    /// The RFC 7662 §2.2 members of an active token.
    fn claims(&self, issuer: &str) -> Map<String, Value> {
        match self {
            Self::Grant(record) => {
                let token_type = match record.kind {
                    TokenKind::Access => "Bearer",
                    TokenKind::Refresh => "refresh_token",
                };
                let mut claims = Map::new();
                claims.insert("active".into(), Value::Bool(true));
                claims.insert("scope".into(), Value::from(record.scope.as_str()));
                claims.insert("client_id".into(), Value::from(record.client_id.as_str()));
                claims.insert("sub".into(), Value::from(record.subject.as_str()));
                if record.subject_kind == SubjectKind::User {
                    claims.insert("username".into(), Value::from(record.subject.as_str()));
                }
                claims.insert("token_type".into(), Value::from(token_type));
                claims.insert("exp".into(), Value::from(record.expires_at));
                claims.insert("iat".into(), Value::from(record.issued_at));
                claims.insert("iss".into(), Value::from(issuer));
                claims
            }
            Self::Rpt { rpt, permissions } => {
                let mut claims = Map::new();
                claims.insert("active".into(), Value::Bool(true));
                claims.insert(
                    "permissions".into(),
                    crate::uma::wire::permissions(permissions),
                );
                claims.insert("client_id".into(), Value::from(rpt.client_id.as_str()));
                claims.insert("aud".into(), Value::from(rpt.resource_server.as_str()));
                // The same `sub` and `requesting_party` as the RPT itself carries.
                let text = |name: &str| rpt.claims.get(name).and_then(Value::as_str);
                let party = text("iss").zip(text("sub"));
                claims.insert(
                    "sub".into(),
                    Value::from(rpt_subject(issuer, party, &rpt.client_id)),
                );
                if let Some((iss, sub)) = party {
                    claims.insert("requesting_party".into(), requesting_party(iss, sub));
                }
                claims.insert("token_type".into(), Value::from("Bearer"));
                claims.insert("exp".into(), Value::from(rpt.expires_at));
                claims.insert("iat".into(), Value::from(rpt.issued_at));
                claims.insert("iss".into(), Value::from(issuer));
                claims
            }
        }
    }
}

/// The introspection answer for `token` as seen by the client `caller`.
pub fn answer(state: &AppState, caller: &str, token: &str) -> Result<Value, OAuthError> {
    let (issuer, now) = (state.settings.issuer.as_str(), state.now());
    Ok(match classify(state, token)? {
        Some(found) if found.is_active(now) && found.visible_to(caller) => {
            Value::Object(found.claims(issuer))
        }
        _ => json!({"active": false}),
    })
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
