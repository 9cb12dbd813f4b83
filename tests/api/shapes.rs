//! What clients see, pinned: the discovery documents (UMA Grant §2, Federated Authorization §2, RFC 8414) and one
//! error body per error kind the server answers (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2, UMA Grant
//! §3.3.6, Federated Authorization §4.2), with status and protocol headers, against `tests/api/snapshots/`.
//! A changed document or body fails here with a per-member diff; `UPDATE_SNAPSHOTS=1` rewrites the files.
//!
//! The server has no 415 and no `invalid_ticket`: a body of the wrong media type is `invalid_request` (400) with
//! a description naming the type to send, and an unknown ticket is `invalid_grant` (UMA Grant §3.3.6); both are
//! pinned below under those names.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::helpers::*;
use crate::resources::{json_with_pat, register, user_pat};
use crate::snapshot::{assert_snapshot, redact, shape};

const UMA: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Auma-ticket";
const INITIAL: &str = "initial-access-token-for-snapshots";

/// Sends `req` to a fresh default app and snapshots the answer as `name`.
async fn snapshot_of(t: &TestApp, name: &str, req: TestRequest) {
    let app = t.service().await;
    assert_snapshot(name, &shape(&send(&app, req).await));
}

#[actix_web::test]
async fn discovery_documents() {
    let t = TestApp::new();
    for (name, path) in [
        ("discovery_uma2", "/.well-known/uma2-configuration"),
        ("discovery_oauth", "/.well-known/oauth-authorization-server"),
        ("discovery_openid", "/.well-known/openid-configuration"),
    ] {
        snapshot_of(&t, name, TestRequest::get().uri(path)).await;
    }
    let dcr = TestApp::with_settings(|s| s.initial_access_token = Some(INITIAL.into()));
    snapshot_of(
        &dcr,
        "discovery_uma2_with_registration",
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await;
}

#[actix_web::test]
async fn token_endpoint_errors() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.insert_client(uma_cedar::oauth::registration::NewClient {
        client_id: "web".into(),
        secret: Some(SECRET.into()),
        redirect_uris: vec!["https://web.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        ..Default::default()
    });
    let cases = [
        (
            "error_invalid_request",
            form("/token", "scope=uma_protection").insert_header(basic("rs1", SECRET)),
        ),
        (
            "error_invalid_request_media_type",
            TestRequest::post()
                .uri("/token")
                .insert_header(("Content-Type", "application/json"))
                .insert_header(basic("rs1", SECRET))
                .set_payload(r#"{"grant_type":"client_credentials"}"#),
        ),
        (
            "error_invalid_client",
            form("/token", "grant_type=client_credentials").insert_header(basic("rs1", "wrong")),
        ),
        (
            "error_invalid_grant",
            form("/token", &format!("grant_type={UMA}&ticket=no-such-ticket"))
                .insert_header(basic("rs1", SECRET)),
        ),
        (
            "error_unsupported_grant_type",
            form("/token", "grant_type=password&username=a&password=b")
                .insert_header(basic("rs1", SECRET)),
        ),
        (
            "error_invalid_scope",
            form("/token", "grant_type=client_credentials&scope=fly")
                .insert_header(basic("rs1", SECRET)),
        ),
        (
            "error_unauthorized_client",
            form("/token", "grant_type=client_credentials").insert_header(basic("web", SECRET)),
        ),
        (
            "error_payload_too_large",
            form(
                "/token",
                &format!(
                    "grant_type=client_credentials&pad={}",
                    "x".repeat(70 * 1024)
                ),
            )
            .insert_header(basic("rs1", SECRET)),
        ),
    ];
    for (name, req) in cases {
        snapshot_of(&t, name, req).await;
    }
}

#[actix_web::test]
async fn routing_errors() {
    let t = TestApp::new();
    snapshot_of(&t, "error_not_found", TestRequest::get().uri("/nope")).await;
    snapshot_of(
        &t,
        "error_method_not_allowed",
        TestRequest::post().uri("/jwks"),
    )
    .await;
}

#[actix_web::test]
async fn too_many_failed_client_authentications() {
    let t = TestApp::with_settings(|s| s.client_auth_max_failures = 1);
    t.add_client("rs1", &[]);
    let app = t.service().await;
    let from: std::net::SocketAddr = "198.51.100.7:5000".parse().expect("address");
    let attempt = |secret: &str| {
        form("/token", "grant_type=client_credentials")
            .insert_header(basic("rs1", secret))
            .peer_addr(from)
    };
    send(&app, attempt("wrong"))
        .await
        .assert_error(401, "invalid_client");
    assert_snapshot(
        "error_too_many_failures",
        &shape(&send(&app, attempt(SECRET)).await),
    );
}

#[actix_web::test]
async fn protection_api_errors() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    let openid = user_token(&t, "alice", "rs1", "openid");
    let pat = user_pat(&t, "alice", "rs1");
    let body = json!({"resource_id": "no-such-resource", "resource_scopes": ["view"]});
    let cases = [
        (
            "error_invalid_token_missing",
            json_req(Method::POST, "/uma/permission", &body),
        ),
        (
            "error_invalid_token",
            json_with_pat(Method::POST, "/uma/permission", "not-a-token", &body),
        ),
        (
            "error_insufficient_scope",
            json_with_pat(Method::POST, "/uma/permission", &openid, &body),
        ),
        (
            "error_invalid_resource_id",
            json_with_pat(Method::POST, "/uma/permission", &pat, &body),
        ),
    ];
    for (name, req) in cases {
        snapshot_of(&t, name, req).await;
    }
}

#[actix_web::test]
async fn registration_errors() {
    let t = TestApp::with_settings(|s| s.initial_access_token = Some(INITIAL.into()));
    let register_req = |body: serde_json::Value| {
        json_req(Method::POST, "/register", &body).insert_header(bearer(INITIAL))
    };
    snapshot_of(
        &t,
        "error_invalid_redirect_uri",
        register_req(json!({"redirect_uris": ["/relative/cb"]})),
    )
    .await;
    snapshot_of(
        &t,
        "error_invalid_client_metadata",
        register_req(json!({"grant_types": ["password"]})),
    )
    .await;
}

/// The UMA grant's own answers (UMA Grant §3.3.6): the ticket, which varies, is redacted.
#[actix_web::test]
async fn uma_grant_errors() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_client("app", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    let pat = user_pat(&t, "alice", "rs1");
    let owner = user_token(&t, "alice", "rs1", "uma_policy");
    let app = t.service().await;
    let description = json!({"name": "Checking", "resource_scopes": ["view", "pay"]});
    let resource = register(&app, &pat, &description).await;
    let ticket = |scopes: serde_json::Value| {
        json_with_pat(
            Method::POST,
            "/uma/permission",
            &pat,
            &json!({"resource_id": resource, "resource_scopes": scopes}),
        )
    };
    let grant = |ticket: &str| {
        form("/token", &format!("grant_type={UMA}&ticket={ticket}"))
            .insert_header(basic("app", SECRET))
    };

    // No policy at all: request_denied.
    let t1 = send(&app, ticket(json!(["view"]))).await.json()["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let mut denied = shape(&send(&app, grant(&t1)).await);
    redact(
        &mut denied,
        &[
            (t1.as_str(), "[ticket]"),
            (resource.as_str(), "[resource_id]"),
        ],
    );
    assert_snapshot("error_request_denied", &denied);

    // A policy that needs the requesting party's email: need_info with a rotated ticket.
    let policy = TestRequest::put()
        .uri("/uma/policies/bob-views")
        .insert_header(bearer(&owner))
        .insert_header(("Content-Type", "text/plain; charset=utf-8"))
        .set_payload(
            r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" };"#,
        );
    let resp = send(&app, policy).await;
    assert!(resp.status < 300, "policy stored: {}", resp.text());
    let t2 = send(&app, ticket(json!(["view"]))).await.json()["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let resp = send(&app, grant(&t2)).await;
    let rotated = resp.json()["ticket"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut need_info = shape(&resp);
    redact(&mut need_info, &[(rotated.as_str(), "[rotated ticket]")]);
    assert_snapshot("error_need_info", &need_info);
}
