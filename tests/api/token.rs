//! The token endpoint (RFC 6749 §3.2, §4.4, §5): client authentication, client credentials, errors.

use actix_web::test::TestRequest;

use crate::helpers::*;

#[actix_web::test]
async fn client_credentials_issues_a_pat_with_no_store() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let app = t.service().await;
    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic("rs1", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "uma_protection");
    assert_eq!(body["expires_in"], 3600);
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 43));
}

#[actix_web::test]
async fn a_client_secret_post_client_authenticates_in_the_body() {
    let t = TestApp::new();
    t.add_post_client("rs1");
    let app = t.service().await;
    let body = format!("grant_type=client_credentials&client_id=rs1&client_secret={SECRET}");
    let resp = send(&app, form("/token", &body)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

/// RFC 7591 §2, RFC 6749 §2.3: a client authenticates with the method it registered, and only that one.
#[actix_web::test]
async fn a_client_uses_only_the_auth_method_it_registered() {
    let t = TestApp::new();
    t.add_client("basic1", &[]);
    t.add_post_client("post1");
    let app = t.service().await;
    // A client_secret_basic client sending its (right) secret in the body: no Basic challenge, since
    // Basic was not used.
    let body = format!("grant_type=client_credentials&client_id=basic1&client_secret={SECRET}");
    let resp = send(&app, form("/token", &body)).await;
    resp.assert_error(401, "invalid_client");
    assert!(resp.header("www-authenticate").is_none());
    let description = resp.json()["error_description"].to_string();
    assert!(description.contains("client_secret_basic"), "{description}");
    // A client_secret_post client using Basic: the challenge, as for any failed Basic authentication.
    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic("post1", SECRET)),
    )
    .await;
    resp.assert_error(401, "invalid_client");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic")),
        "{:?}",
        resp.header("www-authenticate")
    );
    // The same goes for introspection and revocation.
    for path in ["/introspect", "/revoke"] {
        let body = format!("token=anything&client_id=basic1&client_secret={SECRET}");
        let resp = send(&app, form(path, &body)).await;
        resp.assert_error(401, "invalid_client");
    }
}

#[actix_web::test]
async fn wrong_secret_is_invalid_client_with_basic_challenge() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let app = t.service().await;
    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials")
            .insert_header(basic("rs1", "wrong-wrong-wrong")),
    )
    .await;
    resp.assert_error(401, "invalid_client");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic"))
    );
    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic("ghost", SECRET)),
    )
    .await;
    resp.assert_error(401, "invalid_client");
}

#[actix_web::test]
async fn public_client_cannot_use_client_credentials() {
    let t = TestApp::new();
    t.add_public_client("spa", &["https://spa.example/cb"]);
    let app = t.service().await;
    send(
        &app,
        form("/token", "grant_type=client_credentials&client_id=spa"),
    )
    .await
    .assert_error(400, "unauthorized_client");
}

#[actix_web::test]
async fn unknown_scope_and_grant_type_are_refused() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let app = t.service().await;
    send(
        &app,
        form("/token", "grant_type=client_credentials&scope=admin")
            .insert_header(basic("rs1", SECRET)),
    )
    .await
    .assert_error(400, "invalid_scope");
    send(
        &app,
        form("/token", "grant_type=password").insert_header(basic("rs1", SECRET)),
    )
    .await
    .assert_error(400, "unsupported_grant_type");
}

#[actix_web::test]
async fn malformed_requests_are_invalid_request() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let app = t.service().await;
    // Missing grant_type.
    send(
        &app,
        form("/token", "scope=uma_protection").insert_header(basic("rs1", SECRET)),
    )
    .await
    .assert_error(400, "invalid_request");
    // Repeated parameter.
    send(
        &app,
        form(
            "/token",
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .insert_header(basic("rs1", SECRET)),
    )
    .await
    .assert_error(400, "invalid_request");
    // Wrong content type.
    let req = TestRequest::post()
        .uri("/token")
        .insert_header(("Content-Type", "application/json"))
        .insert_header(basic("rs1", SECRET))
        .set_payload(r#"{"grant_type":"client_credentials"}"#);
    send(&app, req).await.assert_error(400, "invalid_request");
    // Oversize body.
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70 * 1024)
    );
    send(
        &app,
        form("/token", &big).insert_header(basic("rs1", SECRET)),
    )
    .await
    .assert_error(413, "invalid_request");
    // GET is not allowed.
    send(&app, TestRequest::get().uri("/token"))
        .await
        .assert_error(405, "unsupported_method_type");
}

#[actix_web::test]
async fn client_restricted_to_other_grants_is_unauthorized() {
    let t = TestApp::new();
    t.insert_client(uma_cedar::oauth::registration::NewClient {
        client_id: "web".into(),
        secret: Some(SECRET.into()),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        ..Default::default()
    });
    let app = t.service().await;
    send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic("web", SECRET)),
    )
    .await
    .assert_error(400, "unauthorized_client");
}
