//! Token revocation (RFC 7009), for access and refresh tokens; UMA Grant §3.3.5 and §8 add RPTs and PCTs.
//!
//! The client authenticates as at the token endpoint: confidential clients with Basic or
//! `client_secret_post`, public clients with `client_id` (RFC 7009 §2.1, §5).
//!
//! - An access token is revoked alone; the other tokens of its grant keep working.
//! - A refresh token revokes its whole grant, every access and refresh token issued under it (§2.1: the
//!   server SHOULD invalidate the access tokens of the same grant).
//! - Unknown tokens and tokens that are no longer active (expired, revoked, rotated away) get 200 and change
//!   nothing (§2.2): the client wanted the token dead and it is.
//! - An active token issued to another client is refused with 400 `unauthorized_client` and left untouched.
//!   §2.1 has the server verify that the token was issued to the caller and, when that fails, refuse and say
//!   so; answering 200 would tell the caller its revocation happened when it did not. The distinction is no
//!   oracle worth having: it needs valid client credentials and a 256-bit token value.
//!
//! This endpoint must never revoke a token for a client it was not issued to, and never reveal anything about
//! a token beyond whether the caller may revoke it.
//!
//! RPTs and PCTs (UMA Grant §3.3.5) are revoked here too: an RPT by the client it was issued to, a PCT by the
//! client it is bound to. `token_type_hint` only changes the lookup order (RFC 7009 §2.1): `pct` looks for a
//! PCT first; any other hint is not needed, since one lookup by hash finds access and refresh tokens alike.

use crate::store::{PctRead, PctStore, RptRead, RptStore};
use actix_web::{HttpRequest, HttpResponse, web};

use super::forms;
use super::introspect::rpt_jti;
use super::{AppState, client_auth, method_not_allowed, paths};
use crate::clock::UnixTime;
use crate::crypto;
use crate::error::OAuthError;
use crate::store::WriteTx;
use crate::store::clients::Client;
use crate::store::pcts::Pct;
use crate::store::rpts::Rpt;
use crate::store::tokens::{self, TokenKind, TokenRecord};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::REVOKE)
            .route(web::post().to(revoke))
            .default_service(method_not_allowed("POST")),
    );
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq)]
enum Revocable {
    /// An access or refresh token of an OAuth grant, stored under `hash`.
    Grant { hash: String, record: TokenRecord },
    /// A persisted claims token (UMA Grant §3.3.5), stored under its hash.
    Pct(Pct),
    /// An RPT, found by the `jti` of its verified JWT.
    Rpt(Rpt),
}

/// Looks the token up as an OAuth token, a PCT, or an RPT (whose `jti` the caller verified beforehand,
/// outside the transaction). The hint only changes the order, as RFC 7009 §2.1 allows.
fn find(
    tx: &WriteTx<'_>,
    token: &str,
    rpt_jti: Option<&str>,
    hint: Option<&str>,
) -> Result<Option<Revocable>, OAuthError> {
    let hash = crypto::hash_secret(token);
    let pct = |tx: &WriteTx<'_>| -> Result<Option<Revocable>, OAuthError> {
        Ok(tx.pct(&hash)?.map(Revocable::Pct))
    };
    if hint == Some("pct")
        && let Some(found) = pct(tx)?
    {
        return Ok(Some(found));
    }
    if let Some(record) = tokens::find(tx, &hash)? {
        return Ok(Some(Revocable::Grant {
            hash: hash.clone(),
            record,
        }));
    }
    if let Some(found) = pct(tx)? {
        return Ok(Some(found));
    }
    if let Some(jti) = rpt_jti {
        return Ok(tx.rpt(jti)?.map(Revocable::Rpt));
    }
    Ok(None)
}

fn not_yours() -> OAuthError {
    OAuthError::unauthorized_client(
        "this token was not issued to the authenticated client, so it cannot revoke it",
    )
}

/// What revoking did; the response is 200 either way, the distinction is for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Revoked,
    /// Unknown or already inactive: nothing to do (RFC 7009 §2.2).
    NothingToDo,
}

/// Revokes `token` for `client` inside one transaction, so the check of ownership and the revocation
/// cannot be separated by a concurrent change.
pub fn revoke_for(
    tx: &WriteTx<'_>,
    client: &Client,
    token: &str,
    rpt_jti: Option<&str>,
    hint: Option<&str>,
    now: UnixTime,
) -> Result<Outcome, OAuthError> {
    let Some(found) = find(tx, token, rpt_jti, hint)? else {
        return Ok(Outcome::NothingToDo);
    };
    match found {
        Revocable::Grant { hash, record } => {
            if !record.is_active(now) {
                return Ok(Outcome::NothingToDo);
            }
            if record.client_id != client.client_id {
                return Err(not_yours());
            }
            match record.kind {
                TokenKind::Access => {
                    tokens::revoke_token(tx, &hash)?;
                }
                TokenKind::Refresh => tokens::revoke_grant(tx, record.grant_id)?,
            }
            Ok(Outcome::Revoked)
        }
        Revocable::Pct(pct) => {
            if !pct.is_active(now) {
                return Ok(Outcome::NothingToDo);
            }
            if pct.client_id != client.client_id {
                return Err(not_yours());
            }
            tx.revoke_pct(&pct.hash)?;
            Ok(Outcome::Revoked)
        }
        Revocable::Rpt(rpt) => {
            if !rpt.is_active(now) {
                return Ok(Outcome::NothingToDo);
            }
            if rpt.client_id != client.client_id {
                return Err(not_yours());
            }
            tx.revoke_rpt(&rpt.jti)?;
            Ok(Outcome::Revoked)
        }
    }
}

async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = forms::read_form(&req, payload, &state).await?;
    let creds = client_auth::credentials(&req, &params)?;
    let token = params.require("token")?.to_owned();
    let hint = params.get("token_type_hint").map(str::to_owned);
    state
        .run(move |st| {
            let client = client_auth::authenticate(st, &creds)?;
            let now = st.now();
            let rpt_jti = rpt_jti(st, &token)?;
            st.store.write(|tx| {
                revoke_for(
                    tx,
                    &client,
                    &token,
                    rpt_jti.as_deref(),
                    hint.as_deref(),
                    now,
                )
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
