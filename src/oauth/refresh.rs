//! Refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14.2): every refresh token is single use and
//! is exchanged, in one transaction, for a new access token and a new refresh token under the same grant.
//!
//! What this module must never do: widen a grant's scope, accept a refresh token from a client other than
//! the one it was issued to, or let a rotated-away refresh token work again — presenting one is a replay and
//! revokes the whole grant (an error whose revocation is committed), so a stolen token and its legitimate
//! twin both stop working.

use crate::clock::UnixTime;
use crate::config::Settings;
use crate::crypto;
use crate::error::OAuthError;
use crate::issue::{self, Issued};
use crate::protocol::tokens::TokenKind;
use crate::scope::Scopes;
use crate::store::Outcome;
use crate::store::oauth::{NewToken, TokenStore};

use super::client::Client;

/// A replay is still an error, but the revocation of the grant it triggered must be committed.
fn replayed() -> Outcome<Issued, OAuthError> {
    Outcome::commit_then(OAuthError::invalid_grant(
        "the refresh token was already used; every token of this grant has been revoked",
    ))
}

/// Rotates the refresh token with SHA-256 `hash` inside the caller's write transaction. The caller has
/// checked that the client may use this grant.
pub fn rotate(
    tx: &(impl TokenStore + ?Sized),
    settings: &Settings,
    client: &Client,
    hash: &str,
    requested: Option<&Scopes>,
    now: UnixTime,
) -> Result<Outcome<Issued, OAuthError>, OAuthError> {
    let not_valid = || OAuthError::invalid_grant("the refresh token is not valid");
    let token = tx
        .token(hash)?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(not_valid)?;
    if token.used {
        tx.revoke_grant(token.grant_id)?;
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
    if !tx.mark_token_used(hash)? {
        tx.revoke_grant(token.grant_id)?;
        return Ok(replayed());
    }
    let mut issued = issue::issue_tokens(tx, settings, token.grant_id, &access_scope, false, now)?;
    let refresh = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
    tx.insert_token(&NewToken {
        hash: &crypto::hash_secret(&refresh),
        kind: TokenKind::Refresh,
        grant_id: token.grant_id,
        scope: &token.scope,
        issued_at: now,
        expires_at: now + settings.refresh_token_ttl,
    })?;
    issued.refresh_token = Some(refresh);
    Ok(Outcome::done(issued))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::AuthMethod;
    use crate::protocol::tokens::{NewGrant, SubjectKind};
    use crate::store::oauth::TokenRead;
    use crate::store::testing::temp_store;
    use crate::store::{Store, clients};

    const NOW: UnixTime = 1_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        settings: Settings,
        client: Client,
        grant_id: i64,
    }

    /// A client `app` holding, for itself, the refresh token with hash `r0` (scope `openid email`) and an access token.
    fn fixture() -> Fixture {
        let (dir, store) = temp_store();
        let settings = Settings::for_data_dir(dir.path());
        let client = Client::for_tests("app", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let other = Client::for_tests("other", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let grant_id = store
            .write(|tx| {
                clients::insert(tx, &client)?;
                clients::insert(tx, &other)?;
                let grant_id = tx.create_grant(
                    &NewGrant {
                        client_id: "app",
                        subject: "app",
                        subject_kind: SubjectKind::Client,
                        scope: "openid email",
                        auth_time: None,
                        nonce: None,
                    },
                    NOW,
                )?;
                for (hash, kind) in [("r0", TokenKind::Refresh), ("a0", TokenKind::Access)] {
                    tx.insert_token(&NewToken {
                        hash,
                        kind,
                        grant_id,
                        scope: "openid email",
                        issued_at: NOW,
                        expires_at: NOW + 100,
                    })?;
                }
                Ok::<_, crate::store::StoreError>(grant_id)
            })
            .expect("fixture");
        Fixture {
            _dir: dir,
            store,
            settings,
            client,
            grant_id,
        }
    }

    impl Fixture {
        fn rotate(
            &self,
            client: &Client,
            hash: &str,
            scope: Option<&str>,
            now: UnixTime,
        ) -> Result<Issued, OAuthError> {
            let requested = scope.map(|s| Scopes::parse(s).expect("scope"));
            self.store.write_outcome(|tx| {
                rotate(tx, &self.settings, client, hash, requested.as_ref(), now)
            })
        }

        fn revoked(&self, hash: &str) -> bool {
            self.store
                .read(|tx| tx.token(hash))
                .expect("read")
                .is_some_and(|t| t.revoked)
        }
    }

    #[test]
    fn rotation_issues_a_new_pair_and_a_replay_revokes_the_grant() {
        let f = fixture();
        let issued = f.rotate(&f.client, "r0", None, NOW + 1).expect("rotated");
        assert_eq!(issued.scope, "openid email", "the grant's scope as stored");
        let new_refresh = issued.refresh_token.expect("a new refresh token");
        let new_hash = crypto::hash_secret(&new_refresh);
        let record = f
            .store
            .read(|tx| tx.token(&new_hash))
            .expect("read")
            .expect("stored");
        assert_eq!(record.grant_id, f.grant_id);
        assert_eq!(record.scope, "openid email");

        let err = f
            .rotate(&f.client, "r0", None, NOW + 2)
            .expect_err("replay");
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(err.to_string().contains("already used"), "{err}");
        // The revocation was committed despite the error: the whole grant is dead.
        assert!(f.revoked("a0"));
        assert!(f.revoked(&new_hash));
        assert!(f.rotate(&f.client, &new_hash, None, NOW + 3).is_err());
    }

    #[test]
    fn a_narrower_scope_narrows_only_the_access_token() {
        let f = fixture();
        let issued = f
            .rotate(&f.client, "r0", Some("openid"), NOW + 1)
            .expect("narrowed");
        assert_eq!(issued.scope, "openid");
        let refresh = crypto::hash_secret(&issued.refresh_token.expect("refresh"));
        let record = f
            .store
            .read(|tx| tx.token(&refresh))
            .expect("read")
            .expect("stored");
        assert_eq!(
            record.scope, "openid email",
            "the refresh token keeps the grant's scope"
        );
    }

    #[test]
    fn refusals_leave_the_token_usable() {
        let f = fixture();
        let other = Client::for_tests("other", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let cases = [
            (
                f.rotate(&other, "r0", None, NOW + 1),
                ErrorCode::InvalidGrant,
                "another client",
            ),
            (
                f.rotate(&f.client, "r0", Some("openid profile"), NOW + 1),
                ErrorCode::InvalidScope,
                "more than was granted",
            ),
            (
                f.rotate(&f.client, "r0", None, NOW + 100),
                ErrorCode::InvalidGrant,
                "expired",
            ),
            (
                f.rotate(&f.client, "a0", None, NOW + 1),
                ErrorCode::InvalidGrant,
                "not valid",
            ),
            (
                f.rotate(&f.client, "nope", None, NOW + 1),
                ErrorCode::InvalidGrant,
                "not valid",
            ),
        ];
        for (result, code, needle) in cases {
            let err = result.expect_err(needle);
            assert_eq!(err.code, code, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert!(!f.revoked("a0"), "no refusal revoked the grant");
        assert!(f.rotate(&f.client, "r0", None, NOW + 1).is_ok());
    }
}
