//! Authorization code grant at the token endpoint (RFC 6749 §4.1.3, §4.1.4, §10.5; RFC 7636 §4.5–§4.6;
//! OpenID Connect Core §3.1.3 for the ID token), as a service against [`AuthCodeStore`], [`TokenStore`] and
//! [`UserRead`], with time and settings from a [`Context`] and the ID token signed by an [`IdTokenSigner`].
//!
//! The code is checked and consumed in the same transaction that creates the grant and its tokens, so a code
//! can never yield two grants. What this module must never do: redeem a code for a client other than the one
//! it was issued to, accept a code without its PKCE verifier, or let a reused code go unnoticed — a second
//! redemption revokes everything the first one produced (RFC 6749 §4.1.2, RFC 9700 §4.2.4), and that
//! revocation is committed although the answer is an error.

use serde_json::{Map, Value};

use crate::context::Context;
use crate::crypto;
use crate::error::OAuthError;
use crate::issue::{self, Issued};
use crate::oauth::token::CodeVerifier;
use crate::oauth::{AuthCode as CodeValue, Client, GrantType};
use crate::protocol::tokens::{AuthCode, NewGrant, SubjectKind};
use crate::protocol::user::User;
use crate::scope::OPENID;
use crate::store::Outcome;
use crate::store::oauth::{AuthCodeStore, TokenStore, UserRead};

/// Signs the claims of an ID token as a JWT with the server's key in force (`typ` `JWT`).
pub trait IdTokenSigner {
    fn sign_id_token(&self, claims: Map<String, Value>) -> Result<String, OAuthError>;
}

/// What the token request says about the code (RFC 6749 §4.1.3).
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    pub code: &'a CodeValue,
    pub redirect_uri: Option<&'a str>,
    pub verifier: Option<&'a CodeVerifier>,
}

/// What a redemption produced: the tokens in clear, and the ID token when `openid` was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub issued: Issued,
    pub id_token: Option<String>,
}

impl Redeemed {
    /// The RFC 6749 §5.1 response body, with `id_token` (OpenID Connect Core §3.1.3.3) when there is one.
    pub fn response(&self) -> Value {
        let mut extra = Map::new();
        if let Some(id_token) = &self.id_token {
            extra.insert("id_token".into(), Value::from(id_token.as_str()));
        }
        self.issued.response(extra)
    }
}

/// Redeems the code inside the caller's write transaction. The caller has checked that the client may use
/// this grant and that the verifier, if any, is well formed ([`crate::oauth::token::TokenRequest`]).
pub fn redeem(
    tx: &(impl AuthCodeStore + TokenStore + UserRead + ?Sized),
    ctx: &Context,
    signer: &dyn IdTokenSigner,
    client: &Client,
    request: &CodeRequest<'_>,
) -> Result<Outcome<Redeemed, OAuthError>, OAuthError> {
    let now = ctx.now();
    let hash = crypto::hash_secret(request.code.secret());
    let code = tx
        .auth_code(&hash)?
        .ok_or_else(|| OAuthError::invalid_grant("the authorization code is not valid"))?;
    if code.used {
        // Whoever presents it, a second redemption means the code leaked: revoke what it produced.
        if let Some(grant_id) = code.grant_id {
            tx.revoke_grant(grant_id)?;
        }
        log::warn!(
            "authorization code of client `{}` presented again by `{}`; its grant is revoked",
            code.client_id,
            client.client_id
        );
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
            ctx.settings.code_ttl
        )));
    }
    check_redirect_uri(&code, request.redirect_uri)?;
    check_pkce(&code, request.verifier.map(CodeVerifier::secret))?;

    let grant_id = tx.create_grant(
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
    if !tx.redeem_auth_code(&hash, grant_id)? {
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    let with_refresh = client.allows_grant(&GrantType::RefreshToken);
    let issued = issue::issue_tokens(tx, &ctx.settings, grant_id, &code.scope, with_refresh, now)?;
    let id_token = if code.scope.split(' ').any(|s| s == OPENID) {
        let user = tx.user(&code.username)?.ok_or_else(|| {
            OAuthError::invalid_grant("the account that consented no longer exists")
        })?;
        Some(signer.sign_id_token(id_token_claims(ctx, client, &code, &user))?)
    } else {
        None
    };
    Ok(Outcome::done(Redeemed { issued, id_token }))
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

/// The ID token's claims (OpenID Connect Core §2). It also serves later as a UMA claim token pushed to this
/// server, which is why `email` is included whenever the account has one.
fn id_token_claims(
    ctx: &Context,
    client: &Client,
    code: &AuthCode,
    user: &User,
) -> Map<String, Value> {
    let now = ctx.now();
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(ctx.settings.issuer.as_str()));
    claims.insert("sub".into(), Value::from(user.username.as_str()));
    claims.insert("aud".into(), Value::from(client.client_id.as_str()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + ctx.settings.id_token_ttl));
    claims.insert("auth_time".into(), Value::from(code.auth_time));
    if let Some(nonce) = &code.nonce {
        claims.insert("nonce".into(), Value::from(nonce.as_str()));
    }
    if let Some(email) = &user.email {
        // An account's email is recorded by the administrator, so this server vouches for it.
        claims.insert("email".into(), Value::from(email.as_str()));
        claims.insert("email_verified".into(), Value::from(true));
    }
    if let Some(name) = &user.name {
        claims.insert("name".into(), Value::from(name.as_str()));
    }
    claims
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{ManualClock, UnixTime};
    use crate::config::Settings;
    use crate::context::FixedRandom;
    use crate::error::ErrorCode;
    use crate::oauth::AuthMethod;
    use crate::store::oauth::TokenRead;
    use crate::store::testing::temp_store;
    use crate::store::{Store, clients, users};

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

    /// "Signs" by writing the claims out as JSON, so tests can read them back.
    struct JsonSigner;

    impl IdTokenSigner for JsonSigner {
        fn sign_id_token(&self, claims: Map<String, Value>) -> Result<String, OAuthError> {
            Ok(Value::Object(claims).to_string())
        }
    }

    const NOW: UnixTime = 1_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        ctx: Context,
        web: Client,
        other: Client,
    }

    /// Clients `web` and `other`, the user `alice`, and the code `c1` issued to `web` for `alice` (scope
    /// `openid`, with the PKCE challenge of [`VERIFIER`] and the redirect URI sent).
    fn fixture() -> Fixture {
        let (dir, store) = temp_store();
        let ctx = Context {
            clock: Arc::new(ManualClock::new(NOW)),
            random: Arc::new(FixedRandom::new("t")),
            settings: Arc::new(Settings::for_data_dir(dir.path())),
        };
        let web = Client::for_tests("web", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let other = Client::for_tests("other", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        store
            .write(|tx| {
                clients::insert(tx, &web)?;
                clients::insert(tx, &other)?;
                users::insert(
                    tx,
                    &User {
                        username: "alice".into(),
                        password_hash: "$argon2id$unused".into(),
                        email: Some("alice@example.com".into()),
                        name: None,
                        created_at: 0,
                    },
                )?;
                let mut stored = code(Some(CHALLENGE), true);
                stored.nonce = Some("n-0".into());
                stored.expires_at = NOW + 60;
                tx.insert_auth_code(&crypto::hash_secret("c1"), &stored)
            })
            .expect("fixture");
        Fixture {
            _dir: dir,
            store,
            ctx,
            web,
            other,
        }
    }

    impl Fixture {
        fn redeem_as(
            &self,
            client: &Client,
            redirect_uri: Option<&str>,
            verifier: Option<&str>,
        ) -> Result<Redeemed, OAuthError> {
            let code = CodeValue::new("c1");
            let verifier = verifier.map(|v| CodeVerifier::parse(v).expect("verifier"));
            let request = CodeRequest {
                code: &code,
                redirect_uri,
                verifier: verifier.as_ref(),
            };
            self.store
                .write_outcome(|tx| redeem(tx, &self.ctx, &JsonSigner, client, &request))
        }

        fn redeem(&self) -> Result<Redeemed, OAuthError> {
            self.redeem_as(&self.web, Some("https://web.example/cb"), Some(VERIFIER))
        }

        fn active(&self, token: &str) -> bool {
            self.store
                .read(|tx| tx.token(&crypto::hash_secret(token)))
                .expect("read")
                .is_some_and(|t| t.is_active(NOW))
        }
    }

    #[test]
    fn a_code_yields_tokens_for_its_user_and_an_id_token() {
        let f = fixture();
        let redeemed = f.redeem().expect("redeemed");
        assert_eq!(redeemed.issued.scope, "openid");
        assert!(f.active(&redeemed.issued.access_token));
        let record = f
            .store
            .read(|tx| tx.token(&crypto::hash_secret(&redeemed.issued.access_token)))
            .expect("read")
            .expect("stored");
        assert_eq!(record.subject, "alice");
        assert_eq!(record.subject_kind, SubjectKind::User);
        assert_eq!(record.client_id, "web");
        let claims: Value = serde_json::from_str(
            redeemed
                .id_token
                .as_deref()
                .expect("openid asks for an ID token"),
        )
        .expect("json");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "web");
        assert_eq!(claims["nonce"], "n-0");
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["exp"], NOW + f.ctx.settings.id_token_ttl);
        assert!(redeemed.response().get("id_token").is_some());
    }

    #[test]
    fn a_replayed_code_revokes_what_it_produced_and_that_is_committed() {
        let f = fixture();
        let first = f.redeem().expect("first");
        let err = f.redeem().expect_err("replay");
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(err.to_string().contains("already used"), "{err}");
        assert!(
            !f.active(&first.issued.access_token),
            "the replay's revocation survived the error"
        );
        if let Some(refresh) = &first.issued.refresh_token {
            assert!(!f.active(refresh));
        }
        // Presented by another client, a used code still revokes (it leaked).
        assert!(f.redeem_as(&f.other, None, None).is_err());
    }

    #[test]
    fn refusals_leave_the_code_redeemable() {
        let f = fixture();
        let cb = Some("https://web.example/cb");
        let wrong = VERIFIER.replace('d', "e");
        let cases = [
            (
                f.redeem_as(&f.other, cb, Some(VERIFIER)),
                ErrorCode::InvalidGrant,
                "another client",
            ),
            (
                f.redeem_as(&f.web, cb, Some(&wrong)),
                ErrorCode::InvalidGrant,
                "does not match",
            ),
            (
                f.redeem_as(&f.web, cb, None),
                ErrorCode::InvalidGrant,
                "`code_verifier` is missing",
            ),
            (
                f.redeem_as(&f.web, None, Some(VERIFIER)),
                ErrorCode::InvalidRequest,
                "`redirect_uri` is missing",
            ),
            (
                f.redeem_as(&f.web, Some("https://web.example/other"), Some(VERIFIER)),
                ErrorCode::InvalidGrant,
                "differs",
            ),
        ];
        for (result, code, needle) in cases {
            let err = result.expect_err(needle);
            assert_eq!(err.code, code, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert!(f.redeem().is_ok(), "no refusal burnt the code");
    }

    #[test]
    fn an_expired_or_unknown_code_is_refused() {
        let f = fixture();
        let clock = ManualClock::new(NOW + 60);
        let late = Context {
            clock: Arc::new(clock),
            ..f.ctx.clone()
        };
        let code = CodeValue::new("c1");
        let verifier = CodeVerifier::parse(VERIFIER).expect("verifier");
        let request = CodeRequest {
            code: &code,
            redirect_uri: Some("https://web.example/cb"),
            verifier: Some(&verifier),
        };
        let err = f
            .store
            .write_outcome(|tx| redeem(tx, &late, &JsonSigner, &f.web, &request))
            .expect_err("expired");
        assert!(err.to_string().contains("expired"), "{err}");
        let unknown = CodeValue::new("c2");
        let err = f
            .store
            .write_outcome(|tx| {
                redeem(
                    tx,
                    &f.ctx,
                    &JsonSigner,
                    &f.web,
                    &CodeRequest {
                        code: &unknown,
                        ..request
                    },
                )
            })
            .expect_err("unknown");
        assert!(err.to_string().contains("not valid"), "{err}");
    }
}
