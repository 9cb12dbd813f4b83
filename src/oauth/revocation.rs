//! Token revocation (RFC 7009), for access and refresh tokens; UMA Grant §3.3.5 and §8 add RPTs and PCTs. A
//! service against [`TokenStore`], [`PctStore`] and [`RptStore`], run inside one write transaction so the
//! check of ownership and the revocation cannot be separated by a concurrent change.
//!
//! - An access token is revoked alone; the other tokens of its grant keep working.
//! - A refresh token revokes its whole grant, every access and refresh token issued under it (§2.1: the
//!   server SHOULD invalidate the access tokens of the same grant).
//! - Unknown tokens and tokens that are no longer active (expired, revoked, rotated away) change nothing
//!   (§2.2): the client wanted the token dead and it is.
//! - An active token issued to another client is refused with `unauthorized_client` and left untouched.
//!   §2.1 has the server verify that the token was issued to the caller and, when that fails, refuse and say
//!   so; answering success would tell the caller its revocation happened when it did not. The distinction is
//!   no oracle worth having: it needs valid client credentials and a 256-bit token value.
//! - An RPT is revoked by the client it was issued to, a PCT by the client it is bound to (UMA Grant §3.3.5).
//!   `token_type_hint` only changes the lookup order (RFC 7009 §2.1): `pct` looks for a PCT first; any other
//!   hint is not needed, since one lookup by hash finds access and refresh tokens alike.
//!
//! This service must never revoke a token for a client it was not issued to, and never reveal anything about
//! a token beyond whether the caller may revoke it.

use crate::clock::UnixTime;
use crate::error::OAuthError;
use crate::protocol::tokens::{TokenKind, TokenRecord};
use crate::protocol::uma::{Pct, Rpt};
use crate::store::oauth::TokenStore;
use crate::store::traits::{PctStore, RptStore};

use super::Client;
use super::presented::PresentedToken;

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq)]
enum Revocable {
    /// An access or refresh token of an OAuth grant.
    Grant(TokenRecord),
    /// A persisted claims token (UMA Grant §3.3.5).
    Pct(Pct),
    /// An RPT, found by the `jti` of its verified JWT.
    Rpt(Rpt),
}

/// Looks the token up as an OAuth token, a PCT, or an RPT. The hint only changes the order, as RFC 7009
/// §2.1 allows.
fn find(
    tx: &(impl TokenStore + PctStore + RptStore + ?Sized),
    token: &PresentedToken,
    hint: Option<&str>,
) -> Result<Option<Revocable>, OAuthError> {
    let pct = || -> Result<Option<Revocable>, OAuthError> {
        Ok(tx.pct(&token.hash)?.map(Revocable::Pct))
    };
    if hint == Some("pct")
        && let Some(found) = pct()?
    {
        return Ok(Some(found));
    }
    if let Some(record) = tx.token(&token.hash)? {
        return Ok(Some(Revocable::Grant(record)));
    }
    if let Some(found) = pct()? {
        return Ok(Some(found));
    }
    if let Some(jti) = &token.rpt_jti {
        return Ok(tx.rpt(jti)?.map(Revocable::Rpt));
    }
    Ok(None)
}

fn not_yours() -> OAuthError {
    OAuthError::unauthorized_client(
        "this token was not issued to the authenticated client, so it cannot revoke it",
    )
}

/// What revoking did; the response is the same either way, the distinction is for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    /// Unknown or already inactive: nothing to do (RFC 7009 §2.2).
    NothingToDo,
}

/// Revokes `token` for `client` inside the caller's write transaction.
pub fn revoke(
    tx: &(impl TokenStore + PctStore + RptStore + ?Sized),
    client: &Client,
    token: &PresentedToken,
    hint: Option<&str>,
    now: UnixTime,
) -> Result<Revoked, OAuthError> {
    let Some(found) = find(tx, token, hint)? else {
        return Ok(Revoked::NothingToDo);
    };
    let (active, owner) = match &found {
        Revocable::Grant(record) => (record.is_active(now), &record.client_id),
        Revocable::Pct(pct) => (pct.is_active(now), &pct.client_id),
        Revocable::Rpt(rpt) => (rpt.is_active(now), &rpt.client_id),
    };
    if !active {
        return Ok(Revoked::NothingToDo);
    }
    if *owner != client.client_id {
        return Err(not_yours());
    }
    match found {
        Revocable::Grant(record) => match record.kind {
            TokenKind::Access => {
                tx.revoke_token(&token.hash)?;
            }
            TokenKind::Refresh => tx.revoke_grant(record.grant_id)?,
        },
        Revocable::Pct(pct) => {
            tx.revoke_pct(&pct.hash)?;
        }
        Revocable::Rpt(rpt) => {
            tx.revoke_rpt(&rpt.jti)?;
        }
    }
    Ok(Revoked::Revoked)
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::error::ErrorCode;
    use crate::protocol::tokens::{NewGrant, SubjectKind};
    use crate::store::oauth::{NewToken, TokenRead};
    use crate::store::testing::{public_client, temp_store};
    use crate::store::traits::{PctRead, RptRead};
    use crate::store::{Store, clients, users};

    const NOW: UnixTime = 1_000;

    /// Client `app` holding the access tokens `a0`, `a1` and the refresh token `r0` of one grant, the PCT
    /// `p0` and the RPT `j1`; client `other` holding nothing.
    fn fixture() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(tx, &public_client("app"))?;
                clients::insert(tx, &public_client("other"))?;
                users::insert(tx, &crate::store::testing::test_user("alice"))?;
                let grant_id = tx.create_grant(
                    &NewGrant {
                        client_id: "app",
                        subject: "alice",
                        subject_kind: SubjectKind::User,
                        scope: "openid",
                        auth_time: Some(NOW),
                        nonce: None,
                    },
                    NOW,
                )?;
                for (token, kind) in [
                    ("a0", TokenKind::Access),
                    ("a1", TokenKind::Access),
                    ("r0", TokenKind::Refresh),
                ] {
                    tx.insert_token(&NewToken {
                        hash: &PresentedToken::opaque(token).hash,
                        kind,
                        grant_id,
                        scope: "openid",
                        issued_at: NOW,
                        expires_at: NOW + 100,
                    })?;
                }
                tx.insert_pct(&Pct {
                    hash: PresentedToken::opaque("p0").hash,
                    client_id: "app".into(),
                    party: "alice".into(),
                    claims: Map::new(),
                    created_at: NOW,
                    expires_at: NOW + 100,
                    revoked: false,
                })?;
                tx.insert_rpt(&Rpt {
                    jti: "j1".into(),
                    client_id: "app".into(),
                    party: "alice".into(),
                    owner: "other".into(),
                    resource_server: "other".into(),
                    permissions: Vec::new(),
                    claims: Map::new(),
                    issued_at: NOW,
                    expires_at: NOW + 100,
                    revoked: false,
                })
            })
            .expect("fixture");
        (dir, store)
    }

    fn revoke_as(
        store: &Store,
        client: &str,
        token: &PresentedToken,
        hint: Option<&str>,
    ) -> Result<Revoked, OAuthError> {
        store.write(|tx| revoke(tx, &public_client(client), token, hint, NOW + 1))
    }

    fn active(store: &Store, token: &str) -> bool {
        let hash = PresentedToken::opaque(token).hash;
        store
            .read(|tx| tx.token(&hash))
            .expect("read")
            .is_some_and(|t| t.is_active(NOW + 1))
    }

    fn rpt() -> PresentedToken {
        PresentedToken {
            hash: "not-a-token-hash".into(),
            rpt_jti: Some("j1".into()),
        }
    }

    #[test]
    fn an_access_token_goes_alone_and_a_refresh_token_takes_its_grant() {
        let (_dir, store) = fixture();
        let access = PresentedToken::opaque("a0");
        assert_eq!(
            revoke_as(&store, "app", &access, None).expect("revoke"),
            Revoked::Revoked
        );
        assert!(!active(&store, "a0"));
        assert!(
            active(&store, "a1") && active(&store, "r0"),
            "the rest of the grant lives"
        );
        assert_eq!(
            revoke_as(&store, "app", &access, None).expect("again"),
            Revoked::NothingToDo,
            "an inactive token changes nothing"
        );
        let refresh = PresentedToken::opaque("r0");
        assert_eq!(
            revoke_as(&store, "app", &refresh, None).expect("revoke"),
            Revoked::Revoked
        );
        assert!(!active(&store, "a1") && !active(&store, "r0"));
        assert_eq!(
            revoke_as(&store, "app", &PresentedToken::opaque("nope"), None).expect("unknown"),
            Revoked::NothingToDo
        );
    }

    #[test]
    fn another_clients_tokens_are_refused_and_left_alone() {
        let (_dir, store) = fixture();
        for (token, hint) in [
            (PresentedToken::opaque("a0"), None),
            (PresentedToken::opaque("r0"), Some("refresh_token")),
            (PresentedToken::opaque("p0"), Some("pct")),
            (rpt(), None),
        ] {
            let err = revoke_as(&store, "other", &token, hint).expect_err("not yours");
            assert_eq!(err.code, ErrorCode::UnauthorizedClient, "{err}");
        }
        assert!(active(&store, "a0") && active(&store, "r0"));
        let pct = PresentedToken::opaque("p0").hash;
        assert!(
            store
                .read(|tx| tx.pct(&pct))
                .expect("read")
                .is_some_and(|p| !p.revoked)
        );
        assert!(
            store
                .read(|tx| tx.rpt("j1"))
                .expect("read")
                .is_some_and(|r| !r.revoked)
        );
    }

    #[test]
    fn pcts_and_rpts_are_revoked_by_their_client() {
        let (_dir, store) = fixture();
        let pct = PresentedToken::opaque("p0");
        assert_eq!(
            revoke_as(&store, "app", &pct, Some("pct")).expect("pct"),
            Revoked::Revoked
        );
        assert!(
            store
                .read(|tx| tx.pct(&pct.hash))
                .expect("read")
                .is_some_and(|p| p.revoked)
        );
        assert_eq!(
            revoke_as(&store, "app", &rpt(), None).expect("rpt"),
            Revoked::Revoked
        );
        assert!(
            store
                .read(|tx| tx.rpt("j1"))
                .expect("read")
                .is_some_and(|r| r.revoked)
        );
        assert_eq!(
            revoke_as(&store, "app", &rpt(), None).expect("again"),
            Revoked::NothingToDo
        );
    }
}
