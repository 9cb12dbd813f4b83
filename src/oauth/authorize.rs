//! The storage side of the authorization endpoint (RFC 6749 §4.1.1–§4.1.2): recording the user's answer to a
//! pending request and, when they allow it, the authorization code bound to everything the token endpoint
//! will check (client, user, redirect URI, scope, PKCE challenge, nonce, sign-in time).
//!
//! The pages, the sign-in form and the session are the HTTP layer's; this service only decides what is
//! stored. What it must never do: answer a pending request twice (taking the request and storing the code
//! happen in one transaction), or store a code in clear (only its SHA-256 is kept).

use crate::clock::UnixTime;
use crate::context::Context;
use crate::crypto;
use crate::error::OAuthError;
use crate::protocol::tokens::{AuthCode, RequestParams};
use crate::store::oauth::{AuthCodeStore, AuthRequestStore};

/// The user's answer to one pending request, from a signed-in session.
#[derive(Debug, Clone, Copy)]
pub struct Consent<'a> {
    /// The pending request's id, as the consent form carried it.
    pub request_id: &'a str,
    pub client_id: &'a str,
    pub params: &'a RequestParams,
    pub username: &'a str,
    /// When the user signed in (OpenID Connect Core §2 `auth_time`).
    pub auth_time: UnixTime,
    pub allow: bool,
}

/// What the answer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// Allowed: the code in clear, for the redirect and nowhere else.
    Code(String),
    Denied,
    /// Another submission answered this request first (or it expired): nothing was stored.
    AlreadyAnswered,
}

/// Takes the pending request and, when allowed, stores its code, inside the caller's write transaction.
pub fn answer(
    tx: &(impl AuthRequestStore + AuthCodeStore + ?Sized),
    ctx: &Context,
    consent: &Consent<'_>,
) -> Result<Answered, OAuthError> {
    // Taking the request is what makes a decision single use: a second submission finds nothing.
    if !tx.take_auth_request(&crypto::hash_secret(consent.request_id))? {
        return Ok(Answered::AlreadyAnswered);
    }
    if !consent.allow {
        return Ok(Answered::Denied);
    }
    let code = ctx.token()?;
    let params = consent.params;
    tx.insert_auth_code(
        &crypto::hash_secret(&code),
        &AuthCode {
            client_id: consent.client_id.to_owned(),
            username: consent.username.to_owned(),
            redirect_uri: params.redirect_uri.clone(),
            redirect_uri_sent: params.redirect_uri_sent,
            scope: params.scope.clone(),
            code_challenge: params.code_challenge.clone(),
            nonce: params.nonce.clone(),
            auth_time: consent.auth_time,
            expires_at: ctx.now() + ctx.settings.code_ttl,
            grant_id: None,
            used: false,
        },
    )?;
    Ok(Answered::Code(code))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Settings;
    use crate::context::FixedRandom;
    use crate::store::auth::{self, AuthRequest};
    use crate::store::testing::{public_client, temp_store};
    use crate::store::{Store, clients, users};

    const NOW: UnixTime = 1_000;

    fn params() -> RequestParams {
        RequestParams {
            redirect_uri: "https://web.example/cb".into(),
            redirect_uri_sent: true,
            scope: "openid".into(),
            state: Some("s".into()),
            code_challenge: Some("challenge".into()),
            nonce: Some("n".into()),
        }
    }

    /// The pending request `req-1` of client `web`.
    fn fixture() -> (tempfile::TempDir, Store, Context) {
        let (dir, store) = temp_store();
        let ctx = Context {
            clock: Arc::new(ManualClock::new(NOW)),
            random: Arc::new(FixedRandom::new("code")),
            settings: Arc::new(Settings::for_data_dir(dir.path())),
        };
        store
            .write(|tx| {
                clients::insert(tx, &public_client("web"))?;
                users::insert(tx, &crate::store::testing::test_user("alice"))?;
                auth::insert_request(
                    tx,
                    &crypto::hash_secret("req-1"),
                    &AuthRequest {
                        csrf_hash: "h-csrf".into(),
                        client_id: "web".into(),
                        params: params(),
                        expires_at: NOW + 600,
                    },
                )
            })
            .expect("fixture");
        (dir, store, ctx)
    }

    fn consent(params: &RequestParams, allow: bool) -> Consent<'_> {
        Consent {
            request_id: "req-1",
            client_id: "web",
            params,
            username: "alice",
            auth_time: NOW - 5,
            allow,
        }
    }

    #[test]
    fn an_allowed_request_stores_its_code_bound_to_the_request_and_only_once() {
        let (_dir, store, ctx) = fixture();
        let params = params();
        let answered = store
            .write(|tx| answer(tx, &ctx, &consent(&params, true)))
            .expect("answer");
        let Answered::Code(code) = answered else {
            panic!("expected a code, got {answered:?}");
        };
        let stored = store
            .write(|tx| tx.auth_code(&crypto::hash_secret(&code)))
            .expect("read")
            .expect("stored under its hash");
        assert_eq!(stored.client_id, "web");
        assert_eq!(stored.username, "alice");
        assert_eq!(stored.code_challenge.as_deref(), Some("challenge"));
        assert_eq!(stored.nonce.as_deref(), Some("n"));
        assert!(stored.redirect_uri_sent);
        assert_eq!(stored.auth_time, NOW - 5);
        assert_eq!(stored.expires_at, NOW + ctx.settings.code_ttl);
        assert!(!stored.used);
        assert_eq!(
            store
                .write(|tx| answer(tx, &ctx, &consent(&params, true)))
                .expect("again"),
            Answered::AlreadyAnswered
        );
    }

    #[test]
    fn a_denied_request_stores_no_code() {
        let (_dir, store, ctx) = fixture();
        let params = params();
        assert_eq!(
            store
                .write(|tx| answer(tx, &ctx, &consent(&params, false)))
                .expect("answer"),
            Answered::Denied
        );
        let next = ctx.token().expect("token");
        assert_eq!(next, "code-1", "no code was drawn for a denial");
    }
}
