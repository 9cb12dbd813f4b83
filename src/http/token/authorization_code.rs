//! Authorization code grant at the token endpoint (RFC 6749 §4.1.3, §4.1.4, §10.5; RFC 7636 §4.5–§4.6;
//! OpenID Connect Core §3.1.3 for the ID token).
//!
//! The code is checked and consumed in the same transaction that creates the grant and its tokens, so a code
//! can never yield two grants. What this module must never do: redeem a code for a client other than the one
//! it was issued to, accept a code without its PKCE verifier, or let a reused code go unnoticed — a second
//! redemption revokes everything the first one produced (RFC 6749 §4.1.2, RFC 9700 §4.2.4).

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::crypto;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::issue;
use crate::oauth::token::CodeVerifier;
use crate::oauth::{AuthCode as AuthCodeValue, GrantType};
use crate::scope::OPENID;
use crate::store::auth::{self, AuthCode};
use crate::store::clients::Client;
use crate::store::tokens::{self, NewGrant, SubjectKind};
use crate::store::users::{self, User};
use crate::store::{Outcome, WriteTx};

/// Redeems the code. The caller has checked that the client may use this grant and that the verifier, if
/// any, is well formed ([`crate::oauth::token::TokenRequest`]).
pub fn grant(
    state: &AppState,
    client: &Client,
    code: &AuthCodeValue,
    redirect_uri: Option<&str>,
    verifier: Option<&CodeVerifier>,
) -> Result<Value, OAuthError> {
    let presented = Presented {
        hash: crypto::hash_secret(code.secret()),
        redirect_uri,
        verifier: verifier.map(CodeVerifier::secret),
    };
    let now = state.now();
    state
        .store
        .write_outcome(|tx| redeem(state, tx, client, &presented, now))
}

/// What the token request says about the code.
struct Presented<'a> {
    hash: String,
    redirect_uri: Option<&'a str>,
    verifier: Option<&'a str>,
}

fn redeem(
    state: &AppState,
    tx: &WriteTx<'_>,
    client: &Client,
    presented: &Presented<'_>,
    now: UnixTime,
) -> Result<Outcome<Value, OAuthError>, OAuthError> {
    let code = auth::get_code(tx, &presented.hash)?
        .ok_or_else(|| OAuthError::invalid_grant("the authorization code is not valid"))?;
    if code.used {
        // Whoever presents it, a second redemption means the code leaked: revoke what it produced.
        if let Some(grant_id) = code.grant_id {
            tokens::revoke_grant(tx, grant_id)?;
        }
        log::warn!(
            "authorization code of client `{}` presented again by `{}`; its grant is revoked",
            code.client_id,
            client.client_id
        );
        // A replay is still an error, but the revocation it triggered must be committed.
        return Ok(Outcome::commit_then(OAuthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it have been revoked",
        )));
    }
    // The checks below leave the code unused on failure: someone holding a stolen code without the client's
    // credentials or verifier must not be able to burn it.
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if now >= code.expires_at {
        return Err(OAuthError::invalid_grant(format!(
            "the authorization code expired; codes are valid for {} seconds",
            state.settings.code_ttl
        )));
    }
    check_redirect_uri(&code, presented.redirect_uri)?;
    check_pkce(&code, presented.verifier)?;

    let grant_id = tokens::create_grant(
        tx,
        &NewGrant {
            client_id: &client.client_id,
            subject: &code.username,
            subject_kind: SubjectKind::User,
            scope: &code.scope,
            auth_time: Some(code.auth_time),
            nonce: code.nonce.as_deref(),
        },
        now,
    )?;
    if !auth::redeem_code(tx, &presented.hash, grant_id)? {
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    let with_refresh = client.allows_grant(&GrantType::RefreshToken);
    let issued = issue::issue_tokens(
        tx,
        &state.settings,
        grant_id,
        &code.scope,
        with_refresh,
        now,
    )?;
    let mut extra = Map::new();
    if code.scope.split(' ').any(|s| s == OPENID) {
        let user = users::get(tx, &code.username)?.ok_or_else(|| {
            OAuthError::invalid_grant("the account that consented no longer exists")
        })?;
        extra.insert(
            "id_token".into(),
            Value::from(id_token(state, client, &code, &user, now)?),
        );
    }
    Ok(Outcome::done(issued.response(extra)))
}

/// RFC 6749 §4.1.3: if the authorization request named a redirect URI, the token request must repeat it.
fn check_redirect_uri(code: &AuthCode, presented: Option<&str>) -> Result<(), OAuthError> {
    match presented {
        None if code.redirect_uri_sent => Err(OAuthError::invalid_request(
            "`redirect_uri` is missing; it is required because the authorization request included it",
        )),
        Some(uri) if uri != code.redirect_uri => Err(OAuthError::invalid_grant(
            "`redirect_uri` differs from the one the authorization code was issued for",
        )),
        _ => Ok(()),
    }
}

/// RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier for a code issued without a challenge is refused too, so a
/// PKCE downgrade cannot go unnoticed.
fn check_pkce(code: &AuthCode, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (&code.code_challenge, verifier) {
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "`code_verifier` is missing; the authorization request carried a PKCE code challenge",
        )),
        (Some(challenge), Some(verifier)) => {
            if crypto::constant_time_eq(
                crypto::pkce_s256(verifier).as_bytes(),
                challenge.as_bytes(),
            ) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "`code_verifier` does not match the code challenge",
                ))
            }
        }
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "`code_verifier` was sent, but the authorization request had no code challenge",
        )),
        (None, None) => Ok(()),
    }
}

/// The ID token (OpenID Connect Core §2). It also serves later as a UMA claim token pushed to this server,
/// which is why `email` is included whenever the account has one.
fn id_token(
    state: &AppState,
    client: &Client,
    code: &AuthCode,
    user: &User,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(state.settings.issuer.as_str()));
    claims.insert("sub".into(), Value::from(user.username.as_str()));
    claims.insert("aud".into(), Value::from(client.client_id.as_str()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + state.settings.id_token_ttl));
    claims.insert("auth_time".into(), Value::from(code.auth_time));
    if let Some(nonce) = &code.nonce {
        claims.insert("nonce".into(), Value::from(nonce.as_str()));
    }
    if let Some(email) = &user.email {
        claims.insert("email".into(), Value::from(email.as_str()));
    }
    if let Some(name) = &user.name {
        claims.insert("name".into(), Value::from(name.as_str()));
    }
    state
        .key_set()?
        .sign(claims, "JWT")
        .map_err(|e| OAuthError::server_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(challenge: Option<&str>, sent: bool) -> AuthCode {
        AuthCode {
            client_id: "web".into(),
            username: "alice".into(),
            redirect_uri: "https://web.example/cb".into(),
            redirect_uri_sent: sent,
            scope: "openid".into(),
            code_challenge: challenge.map(str::to_owned),
            nonce: None,
            auth_time: 0,
            expires_at: 60,
            grant_id: None,
            used: false,
        }
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_accepts_only_the_matching_verifier() {
        let c = code(Some(CHALLENGE), false);
        assert!(check_pkce(&c, Some(VERIFIER)).is_ok());
        assert!(check_pkce(&c, None).is_err());
        assert!(check_pkce(&c, Some(&VERIFIER.replace('d', "e"))).is_err());
        assert!(check_pkce(&code(None, false), Some(VERIFIER)).is_err());
        assert!(check_pkce(&code(None, false), None).is_ok());
    }

    #[test]
    fn redirect_uri_is_required_only_when_it_was_sent() {
        assert!(check_redirect_uri(&code(None, false), None).is_ok());
        assert!(check_redirect_uri(&code(None, true), None).is_err());
        assert!(check_redirect_uri(&code(None, true), Some("https://web.example/cb")).is_ok());
        assert!(check_redirect_uri(&code(None, false), Some("https://web.example/cb/")).is_err());
    }
}
