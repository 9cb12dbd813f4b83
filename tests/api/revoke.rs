//! Token revocation (RFC 7009): what a revocation reaches, what it leaves alone, and who may revoke.

use actix_web::test::TestRequest;
use uma_cedar::crypto::hash_secret;
use uma_cedar::store::tokens;

use crate::helpers::*;
use crate::introspect::{introspect_as, more_tokens, user_tokens};

fn setup() -> TestApp {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_client("rs2", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    t
}

fn revoke_form(token: &str) -> TestRequest {
    form("/revoke", &format!("token={token}"))
}

#[actix_web::test]
async fn revoking_an_access_token_leaves_the_rest_of_the_grant_alone() {
    let t = setup();
    let first = user_tokens(&t, "rs1", "alice", "uma_protection");
    let second = more_tokens(&t, first.grant_id, "uma_protection");
    let app = t.service().await;
    let resp = send(
        &app,
        revoke_form(&first.access).insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        introspect_as(&app, "rs1", &first.access).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect_as(&app, "rs1", &first.refresh).await["active"],
        true
    );
    assert_eq!(
        introspect_as(&app, "rs1", &second.access).await["active"],
        true
    );
}

#[actix_web::test]
async fn revoking_a_refresh_token_revokes_its_whole_grant() {
    let t = setup();
    let first = user_tokens(&t, "rs1", "alice", "uma_protection");
    let second = more_tokens(&t, first.grant_id, "uma_protection");
    let other_grant = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    // With the hint RFC 7009 defines.
    let resp = send(
        &app,
        form(
            "/revoke",
            &format!("token={}&token_type_hint=refresh_token", first.refresh),
        )
        .insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    for token in [
        &first.access,
        &first.refresh,
        &second.access,
        &second.refresh,
    ] {
        assert_eq!(
            introspect_as(&app, "rs1", token).await,
            serde_json::json!({"active": false})
        );
    }
    assert_eq!(
        introspect_as(&app, "rs1", &other_grant.access).await["active"],
        true,
        "another grant of the same user and client is untouched"
    );
}

#[actix_web::test]
async fn unknown_and_already_invalid_tokens_get_200() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let to_expire = more_tokens(&t, alice.grant_id, "uma_protection");
    let app = t.service().await;
    let resp = send(
        &app,
        revoke_form("never-issued-by-this-server").insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    // Revoking twice is fine.
    for _ in 0..2 {
        let resp = send(
            &app,
            revoke_form(&alice.access).insert_header(basic("rs1", SECRET)),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    // An expired token too, even one issued to another client: there is nothing left to protect.
    t.clock.advance(3600);
    let resp = send(
        &app,
        revoke_form(&to_expire.access).insert_header(basic("rs2", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        introspect_as(&app, "rs1", &to_expire.refresh).await["active"],
        true,
        "nothing was revoked for rs2"
    );
}

#[actix_web::test]
async fn another_clients_token_is_refused_and_untouched() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    for token in [&alice.access, &alice.refresh] {
        let resp = send(&app, revoke_form(token).insert_header(basic("rs2", SECRET))).await;
        resp.assert_error(400, "unauthorized_client");
    }
    assert_eq!(
        introspect_as(&app, "rs1", &alice.access).await["active"],
        true
    );
    assert_eq!(
        introspect_as(&app, "rs1", &alice.refresh).await["active"],
        true
    );
}

#[actix_web::test]
async fn public_client_revokes_its_own_tokens_with_client_id() {
    let t = setup();
    t.add_public_client("spa", &["https://spa.example/cb"]);
    let alice = user_tokens(&t, "spa", "alice", "openid");
    let app = t.service().await;
    let resp = send(
        &app,
        form("/revoke", &format!("token={}&client_id=spa", alice.refresh)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let record = t
        .state
        .store
        .read(|c| tokens::find(c, &hash_secret(&alice.access)))
        .expect("find")
        .expect("present");
    assert!(record.revoked, "the grant's access token is revoked");
}

#[actix_web::test]
async fn client_authentication_is_required() {
    let t = setup();
    let alice = user_tokens(&t, "rs1", "alice", "uma_protection");
    let app = t.service().await;
    send(&app, revoke_form(&alice.access))
        .await
        .assert_error(401, "invalid_client");
    let resp = send(
        &app,
        revoke_form(&alice.access).insert_header(basic("rs1", "wrong-wrong-wrong")),
    )
    .await;
    resp.assert_error(401, "invalid_client");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic"))
    );
    assert_eq!(
        introspect_as(&app, "rs1", &alice.access).await["active"],
        true
    );
}

#[actix_web::test]
async fn malformed_requests_are_refused() {
    let t = setup();
    let app = t.service().await;
    let resp = send(
        &app,
        form("/revoke", "").insert_header(basic("rs1", SECRET)),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("`token`"))
    );
    let resp = send(&app, TestRequest::get().uri("/revoke")).await;
    resp.assert_error(405, "unsupported_method_type");
    assert_eq!(resp.header("allow").as_deref(), Some("POST"));
}
