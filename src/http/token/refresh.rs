//! Refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): every refresh token is single use and
//! is exchanged, in one transaction, for a new access token and a new refresh token under the same grant.
//!
//! What this module must never do: widen a grant's scope, accept a refresh token from a client other than
//! the one it was issued to, or let a rotated-away refresh token work again — presenting one is a replay and
//! revokes the whole grant, so a stolen token and its legitimate twin both stop working.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::crypto;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::issue::{self, Issued};
use crate::oauth::RefreshToken;
use crate::scope::Scopes;
use crate::store::clients::Client;
use crate::store::tokens::{self, TokenKind};
use crate::store::{Outcome, WriteTx};

/// Rotates the refresh token. The caller has checked that the client may use this grant.
pub fn grant(
    state: &AppState,
    client: &Client,
    refresh_token: &RefreshToken,
    requested: Option<&Scopes>,
) -> Result<Value, OAuthError> {
    let hash = crypto::hash_secret(refresh_token.secret());
    let now = state.now();
    let issued = state
        .store
        .write_outcome(|tx| rotate(state, tx, client, &hash, requested, now))?;
    Ok(issued.response(Map::new()))
}

/// A replay is still an error, but the revocation of the grant it triggered must be committed.
fn replayed() -> Outcome<Issued, OAuthError> {
    Outcome::commit_then(OAuthError::invalid_grant(
        "the refresh token was already used; every token of this grant has been revoked",
    ))
}

fn rotate(
    state: &AppState,
    tx: &WriteTx<'_>,
    client: &Client,
    hash: &str,
    requested: Option<&Scopes>,
    now: UnixTime,
) -> Result<Outcome<Issued, OAuthError>, OAuthError> {
    let not_valid = || OAuthError::invalid_grant("the refresh token is not valid");
    let token = tokens::find(tx, hash)?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(not_valid)?;
    if token.used {
        tokens::revoke_grant(tx, token.grant_id)?;
        log::warn!(
            "rotated refresh token of client `{}` presented again by `{}`; grant {} revoked",
            token.client_id,
            client.client_id,
            token.grant_id
        );
        return Ok(replayed());
    }
    if token.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if token.revoked {
        return Err(OAuthError::invalid_grant("the refresh token was revoked"));
    }
    if now >= token.expires_at {
        return Err(OAuthError::invalid_grant("the refresh token expired"));
    }
    // Refresh tokens carry the grant's full scope; a narrower request narrows only the new access token
    // (RFC 6749 §6: the new refresh token keeps the scope of the one presented).
    let granted = Scopes::parse(&token.scope)?;
    let access_scope = match requested {
        Some(requested) if !requested.is_subset(&granted) => {
            return Err(OAuthError::invalid_scope(format!(
                "`{requested}` asks for more than was granted (`{granted}`); ask for a subset or omit `scope`"
            )));
        }
        Some(requested) => requested.to_string(),
        None => token.scope.clone(),
    };
    if !tokens::mark_used(tx, hash)? {
        tokens::revoke_grant(tx, token.grant_id)?;
        return Ok(replayed());
    }
    let mut issued = issue::issue_tokens(
        tx,
        &state.settings,
        token.grant_id,
        &access_scope,
        false,
        now,
    )?;
    let refresh = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
    tokens::insert_token(
        tx,
        &crypto::hash_secret(&refresh),
        TokenKind::Refresh,
        token.grant_id,
        &token.scope,
        now,
        now + state.settings.refresh_token_ttl,
    )?;
    issued.refresh_token = Some(refresh);
    Ok(Outcome::done(issued))
}
