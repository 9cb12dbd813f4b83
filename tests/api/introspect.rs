//! Token introspection (RFC 7662; UMA Federated Authorization §5): caller authentication by PAT or client
//! credentials, the members of an active answer, and the bare `{"active": false}` for everything else.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use uma_cedar::crypto::hash_secret;
use uma_cedar::error::OAuthError;
use uma_cedar::issue::issue_tokens;
use uma_cedar::store::tokens::{self, NewGrant, SubjectKind};

use crate::helpers::*;

/// An access and a refresh token issued to `client_id` for a user, and the grant they belong to.
pub struct UserTokens {
    pub access: String,
    pub refresh: String,
    pub grant_id: i64,
}

/// Mints tokens for `username` under a new grant to `client_id`, as the authorization code grant would.
pub fn user_tokens(t: &TestApp, client_id: &str, username: &str, scope: &str) -> UserTokens {
    let settings = t.state.settings.clone();
    let now = t.state.now();
    t.state
        .store
        .write(|tx| {
            let grant_id = tokens::create_grant(
                tx,
                &NewGrant {
                    client_id,
                    subject: username,
                    subject_kind: SubjectKind::User,
                    scope,
                    auth_time: Some(now),
                    nonce: None,
                },
                now,
            )?;
            let issued = issue_tokens(tx, &settings, grant_id, scope, true, now)?;
            Ok::<_, OAuthError>(UserTokens {
                access: issued.access_token,
                refresh: issued.refresh_token.expect("refresh token requested"),
                grant_id,
            })
        })
        .expect("mint user tokens")
}

/// Issues one more access/refresh pair under an existing grant.
pub fn more_tokens(t: &TestApp, grant_id: i64, scope: &str) -> UserTokens {
    let settings = t.state.settings.clone();
    let now = t.state.now();
    t.state
        .store
        .write(|tx| {
            let issued = issue_tokens(tx, &settings, grant_id, scope, true, now)?;
            Ok::<_, OAuthError>(UserTokens {
                access: issued.access_token,
                refresh: issued.refresh_token.expect("refresh token requested"),
                grant_id,
            })
        })
        .expect("mint more tokens")
}

/// Introspects `token` as the confidential client `client_id` (HTTP Basic) and returns the 200 body.
pub async fn introspect_as<S, B>(app: &S, client_id: &str, token: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(
        app,
        form("/introspect", &format!("token={token}")).insert_header(basic(client_id, SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "introspection: {}", resp.text());
    resp.json()
}

fn assert_inactive(body: &Value) {
    assert_eq!(body, &json!({"active": false}), "exactly inactive");
}

/// rs1 with a PAT of its own, and alice with tokens issued to rs1.
fn setup() -> TestApp {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_client("rs2", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    t
}

#[actix_web::test]
async fn active_user_token_by_pat_has_exactly_the_rfc7662_members() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    let pat = client_pat(&app, "rs1").await;
    let resp = send(
        &app,
        form("/introspect", &format!("token={}", alice.access)).insert_header(bearer(&pat)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        resp.json(),
        json!({
            "active": true,
            "scope": "uma_protection",
            "client_id": "rs1",
            "sub": "alice",
            "username": "alice",
            "token_type": "Bearer",
            "exp": START + 3600,
            "iat": START,
            "iss": "http://as.test",
        })
    );
}

#[actix_web::test]
async fn active_client_token_by_client_credentials_has_no_username() {
    let t = setup();
    let app = t.service().await;
    let pat = client_pat(&app, "rs1").await;
    let body = introspect_as(&app, "rs1", &pat).await;
    assert_eq!(
        body,
        json!({
            "active": true,
            "scope": "uma_protection",
            "client_id": "rs1",
            "sub": "rs1",
            "token_type": "Bearer",
            "exp": START + 3600,
            "iat": START,
            "iss": "http://as.test",
        })
    );
    // A client registered for client_secret_basic may not send its secret in the body (RFC 7591 §2).
    let resp = send(
        &app,
        form(
            "/introspect",
            &format!("token={pat}&client_id=rs1&client_secret={SECRET}"),
        ),
    )
    .await;
    resp.assert_error(401, "invalid_client");
}

#[actix_web::test]
async fn a_client_secret_post_client_introspects_with_the_secret_in_the_body() {
    let t = setup();
    t.add_post_client("rs-post");
    let app = t.service().await;
    let pat = client_pat(&app, "rs1").await;
    let resp = send(
        &app,
        form(
            "/introspect",
            &format!("token={pat}&client_id=rs-post&client_secret={SECRET}"),
        ),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["active"], false, "another client's PAT");
}

#[actix_web::test]
async fn refresh_token_is_active_with_its_own_type_and_unknown_hints_are_ignored() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    let resp = send(
        &app,
        form(
            "/introspect",
            &format!("token={}&token_type_hint=no_such_type", alice.refresh),
        )
        .insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["exp"], START + 30 * 24 * 3600);
    // A hint naming the wrong type does not hide the token either (RFC 7662 §2.1).
    let resp = send(
        &app,
        form(
            "/introspect",
            &format!("token={}&token_type_hint=access_token", alice.refresh),
        )
        .insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.json()["token_type"], "refresh_token");
}

#[actix_web::test]
async fn expired_token_is_inactive() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    assert_eq!(
        introspect_as(&app, "rs1", &alice.access).await["active"],
        true
    );
    t.clock.advance(3600);
    assert_inactive(&introspect_as(&app, "rs1", &alice.access).await);
}

#[actix_web::test]
async fn revoked_token_is_inactive() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    t.state
        .store
        .write(|tx| tokens::revoke_token(tx, &hash_secret(&alice.access)))
        .expect("revoke");
    let app = t.service().await;
    assert_inactive(&introspect_as(&app, "rs1", &alice.access).await);
}

#[actix_web::test]
async fn rotated_refresh_token_is_inactive() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    t.state
        .store
        .write(|tx| tokens::mark_used(tx, &hash_secret(&alice.refresh)))
        .expect("rotate");
    let app = t.service().await;
    assert_inactive(&introspect_as(&app, "rs1", &alice.refresh).await);
}

#[actix_web::test]
async fn unknown_token_is_inactive() {
    let t = setup();
    let app = t.service().await;
    assert_inactive(&introspect_as(&app, "rs1", "never-issued-by-this-server").await);
}

#[actix_web::test]
async fn another_clients_token_is_inactive_by_client_credentials_and_by_pat() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    assert_inactive(&introspect_as(&app, "rs2", &alice.access).await);
    let rs2_pat = client_pat(&app, "rs2").await;
    let resp = send(
        &app,
        form("/introspect", &format!("token={}", alice.access)).insert_header(bearer(&rs2_pat)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_inactive(&resp.json());
    // The owner still sees it as active: the answer depends on the caller, not on the token's state.
    assert_eq!(
        introspect_as(&app, "rs1", &alice.access).await["active"],
        true
    );
}

#[actix_web::test]
async fn unauthenticated_caller_gets_401_with_a_challenge() {
    let t = setup();
    let app = t.service().await;
    let pat = client_pat(&app, "rs1").await;
    let resp = send(&app, form("/introspect", &format!("token={pat}"))).await;
    resp.assert_error(401, "invalid_client");
    assert!(resp.header("www-authenticate").is_some());
    // Wrong secret.
    let resp = send(
        &app,
        form("/introspect", &format!("token={pat}"))
            .insert_header(basic("rs1", "wrong-wrong-wrong")),
    )
    .await;
    resp.assert_error(401, "invalid_client");
}

#[actix_web::test]
async fn bad_or_underscoped_pat_is_refused() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "openid");
    let app = t.service().await;
    let resp = send(
        &app,
        form("/introspect", &format!("token={}", alice.access))
            .insert_header(bearer("not-a-token")),
    )
    .await;
    resp.assert_error(401, "invalid_token");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer"))
    );
    // An access token without `uma_protection` is not a PAT.
    let resp = send(
        &app,
        form("/introspect", &format!("token={}", alice.access))
            .insert_header(bearer(&alice.access)),
    )
    .await;
    resp.assert_error(403, "insufficient_scope");
}

#[actix_web::test]
async fn public_client_cannot_introspect() {
    let t = setup();
    t.add_public_client("spa", &["https://spa.example/cb"]);
    let alice = user_tokens(&t, "spa", "alice", "openid");
    let app = t.service().await;
    let resp = send(
        &app,
        form(
            "/introspect",
            &format!("token={}&client_id=spa", alice.access),
        ),
    )
    .await;
    resp.assert_error(401, "invalid_client");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("public"))
    );
}

#[actix_web::test]
async fn malformed_requests_are_invalid_request() {
    let t = setup();
    let app = t.service().await;
    let pat = client_pat(&app, "rs1").await;
    // Missing token.
    let resp = send(
        &app,
        form("/introspect", "").insert_header(basic("rs1", SECRET)),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("`token`"))
    );
    // PAT and client credentials at once.
    send(
        &app,
        form(
            "/introspect",
            &format!("token={pat}&client_id=rs1&client_secret={SECRET}"),
        )
        .insert_header(bearer(&pat)),
    )
    .await
    .assert_error(400, "invalid_request");
    // JSON instead of a form.
    let req = TestRequest::post()
        .uri("/introspect")
        .insert_header(("Content-Type", "application/json"))
        .insert_header(basic("rs1", SECRET))
        .set_payload(format!(r#"{{"token":"{pat}"}}"#));
    send(&app, req).await.assert_error(400, "invalid_request");
    // GET is not allowed.
    let resp = send(&app, TestRequest::get().uri("/introspect")).await;
    resp.assert_error(405, "unsupported_method_type");
    assert_eq!(resp.header("allow").as_deref(), Some("POST"));
}
