//! Bearer tokens on protected endpoints (RFC 6750 §2.1) and the PAT check of the protection API
//! (Federated Authorization §1.3.1): a valid access token with scope `uma_protection`.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use super::AppState;
use crate::crypto;
use crate::error::OAuthError;
use crate::scope::UMA_PROTECTION;
use crate::store::tokens::{self, SubjectKind, TokenKind, TokenRecord};

/// The bearer token in the `Authorization` header.
pub fn bearer_token(req: &HttpRequest) -> Result<String, OAuthError> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Err(OAuthError::missing_token());
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_token("the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(OAuthError::missing_token()),
    }
}

/// What a valid PAT says: which resource server acts for which owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    /// The resource server the PAT was issued to.
    pub client_id: String,
    /// The resource owner: a username, or the client id for a client-owned PAT.
    pub owner: String,
    pub owner_kind: SubjectKind,
}

/// Looks up an access token that is active now.
pub fn active_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<TokenRecord>, OAuthError> {
    let hash = crypto::hash_secret(token);
    let record = state.store.read(|c| tokens::find(c, &hash))?;
    Ok(record.filter(|t| t.kind == TokenKind::Access && t.is_active(state.now())))
}

/// Checks a PAT (blocking: call inside [`AppState::run`]).
pub fn check_pat(state: &AppState, token: &str) -> Result<Pat, OAuthError> {
    let record = active_access_token(state, token)?.ok_or_else(|| {
        OAuthError::invalid_token("the access token is unknown, expired or revoked")
    })?;
    if !record.has_scope(UMA_PROTECTION) {
        return Err(OAuthError::insufficient_scope(UMA_PROTECTION));
    }
    Ok(Pat {
        client_id: record.client_id,
        owner: record.subject,
        owner_kind: record.subject_kind,
    })
}

/// Extracts and checks the PAT of a protection API request, then runs `work` with it: both in one trip to the
/// blocking pool.
pub async fn with_pat<T, F>(req: &HttpRequest, state: &AppState, work: F) -> Result<T, OAuthError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, Pat) -> Result<T, OAuthError> + Send + 'static,
{
    let token = bearer_token(req)?;
    state.run(move |st| work(st, check_pat(st, &token)?)).await
}
