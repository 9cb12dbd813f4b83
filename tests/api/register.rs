//! Dynamic client registration (RFC 7591; UMA Grant §2 `claims_redirect_uris`): protected by the initial
//! access token, metadata checked and returned, and the registered client usable at the token endpoint.

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use uma_cedar::oauth::GrantType;
use uma_cedar::store::clients;

use crate::helpers::*;

const INITIAL: &str = "initial-access-token-for-tests";

fn dcr_app() -> TestApp {
    TestApp::with_settings(|s| s.initial_access_token = Some(INITIAL.into()))
}

fn register_req(body: &Value) -> TestRequest {
    json_req(Method::POST, "/register", body).insert_header(bearer(INITIAL))
}

#[actix_web::test]
async fn registration_is_absent_unless_configured() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(
        &app,
        register_req(&json!({"grant_types": ["client_credentials"]})),
    )
    .await;
    resp.assert_error(404, "not_found");
}

#[actix_web::test]
async fn missing_or_wrong_initial_access_token_is_401() {
    let t = dcr_app();
    let app = t.service().await;
    let body = json!({"grant_types": ["client_credentials"]});
    let resp = send(&app, json_req(Method::POST, "/register", &body)).await;
    resp.assert_error(401, "invalid_token");
    assert_eq!(
        resp.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"uma-cedar\""),
        "no credentials: a challenge without an error code (RFC 6750 §3.1)"
    );
    let resp = send(
        &app,
        json_req(Method::POST, "/register", &body)
            .insert_header(bearer("initial-access-token-for-test")),
    )
    .await;
    resp.assert_error(401, "invalid_token");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.contains("error=\"invalid_token\""))
    );
    assert!(t.state.store.read(clients::list).expect("list").is_empty());
}

#[actix_web::test]
async fn confidential_client_gets_a_secret_that_works_at_the_token_endpoint() {
    let t = dcr_app();
    let app = t.service().await;
    let resp = send(
        &app,
        register_req(&json!({
            "grant_types": ["client_credentials"],
            "client_name": "Bank RS",
            "client_uri": "https://bank.example",
            "logo_uri": "https://bank.example/logo.png",
            "scope": "uma_protection",
            "contacts": ["admin@bank.example"],
            "x-vendor-flag": {"kept": true},
            "client_id": "chosen-by-the-caller",
        })),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    let client_id = body["client_id"].as_str().expect("client_id").to_owned();
    let secret = body["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_ne!(
        client_id, "chosen-by-the-caller",
        "the server assigns the id"
    );
    assert!(secret.len() >= 43);
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_id_issued_at"], START);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    assert_eq!(body["response_types"], json!([]));
    assert_eq!(body["client_name"], "Bank RS");
    assert_eq!(body["client_uri"], "https://bank.example");
    assert_eq!(body["logo_uri"], "https://bank.example/logo.png");
    assert_eq!(body["scope"], "uma_protection");
    assert_eq!(body["contacts"], json!(["admin@bank.example"]));
    assert_eq!(body["x-vendor-flag"], json!({"kept": true}));

    let stored = t
        .state
        .store
        .read(|c| clients::get(c, &client_id))
        .expect("get")
        .expect("stored");
    assert_ne!(
        stored.secret_hash.as_deref(),
        Some(secret.as_str()),
        "hashed"
    );

    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic(&client_id, &secret)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["scope"], "uma_protection");
}

#[actix_web::test]
async fn client_secret_post_registration_authenticates_in_the_body() {
    let t = dcr_app();
    let app = t.service().await;
    let resp = send(
        &app,
        register_req(&json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
        })),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    let form_body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        body["client_id"].as_str().expect("id"),
        body["client_secret"].as_str().expect("secret"),
    );
    let resp = send(&app, form("/token", &form_body)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    // It registered client_secret_post, so Basic is refused (RFC 7591 §2).
    let resp = send(
        &app,
        form("/token", "grant_type=client_credentials").insert_header(basic(
            body["client_id"].as_str().expect("id"),
            body["client_secret"].as_str().expect("secret"),
        )),
    )
    .await;
    resp.assert_error(401, "invalid_client");
}

#[actix_web::test]
async fn public_client_has_no_secret() {
    let t = dcr_app();
    let app = t.service().await;
    let resp = send(
        &app,
        register_req(&json!({
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["https://spa.example/cb"],
        })),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert!(body.get("client_secret").is_none());
    assert!(body.get("client_secret_expires_at").is_none());
    // RFC 7591 §2 defaults.
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["redirect_uris"], json!(["https://spa.example/cb"]));
    let stored = t
        .state
        .store
        .read(|c| clients::get(c, body["client_id"].as_str().expect("id")))
        .expect("get")
        .expect("stored");
    assert!(stored.is_public());
}

#[actix_web::test]
async fn claims_redirect_uris_are_stored_and_returned() {
    let t = dcr_app();
    let app = t.service().await;
    let resp = send(
        &app,
        register_req(&json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:uma-ticket", "refresh_token"],
            "claims_redirect_uris": ["https://client.example/claims-cb"],
        })),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    assert_eq!(
        body["claims_redirect_uris"],
        json!(["https://client.example/claims-cb"])
    );
    let stored = t
        .state
        .store
        .read(|c| clients::get(c, body["client_id"].as_str().expect("id")))
        .expect("get")
        .expect("stored");
    assert_eq!(
        stored.claims_redirect_uris,
        vec!["https://client.example/claims-cb".to_owned()]
    );
    assert_eq!(
        stored.grant_types,
        vec![GrantType::UmaTicket, GrantType::RefreshToken]
    );
}

#[actix_web::test]
async fn bad_redirect_uris_are_invalid_redirect_uri() {
    let t = dcr_app();
    let app = t.service().await;
    for body in [
        json!({"redirect_uris": ["/relative/cb"]}),
        json!({"redirect_uris": ["https://app.example/cb#fragment"]}),
        json!({"redirect_uris": "https://app.example/cb"}),
        json!({"grant_types": ["authorization_code"]}),
        json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:uma-ticket"],
            "claims_redirect_uris": ["not a uri"],
        }),
    ] {
        let resp = send(&app, register_req(&body)).await;
        resp.assert_error(400, "invalid_redirect_uri");
        assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    }
    assert!(t.state.store.read(clients::list).expect("list").is_empty());
}

#[actix_web::test]
async fn inconsistent_metadata_is_invalid_client_metadata() {
    let t = dcr_app();
    let app = t.service().await;
    let cases = [
        (
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            "public client",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            "`token`",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
            "response_types",
        ),
        (json!({"grant_types": ["password"]}), "`password`"),
        (json!({"grant_types": []}), "grant_types"),
        (
            json!({"grant_types": ["refresh_token", "client_credentials"]}),
            "refresh_token",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
            "private_key_jwt",
        ),
        (
            json!({"grant_types": ["client_credentials"], "logo_uri": "ftp://x.example/logo"}),
            "logo_uri",
        ),
        (
            json!({
                "redirect_uris": ["https://app.example/cb"],
                "grant_types": ["authorization_code"],
                "claims_redirect_uris": ["https://app.example/claims"],
            }),
            "claims_redirect_uris",
        ),
    ];
    for (body, needle) in cases {
        let resp = send(&app, register_req(&body)).await;
        resp.assert_error(400, "invalid_client_metadata");
        let description = resp.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(description.contains(needle), "{body}: {description}");
    }
    assert!(t.state.store.read(clients::list).expect("list").is_empty());
}

#[actix_web::test]
async fn malformed_bodies_are_invalid_request() {
    let t = dcr_app();
    let app = t.service().await;
    let raw = |content_type: &str, payload: &str| {
        TestRequest::post()
            .uri("/register")
            .insert_header(("Content-Type", content_type.to_owned()))
            .insert_header(bearer(INITIAL))
            .set_payload(payload.to_owned())
    };
    send(&app, raw("application/json", "{\"grant_types\": ["))
        .await
        .assert_error(400, "invalid_request");
    send(&app, raw("application/json", "[\"not\", \"an object\"]"))
        .await
        .assert_error(400, "invalid_request");
    send(
        &app,
        raw(
            "application/x-www-form-urlencoded",
            "grant_types=client_credentials",
        ),
    )
    .await
    .assert_error(400, "invalid_request");
    let resp = send(
        &app,
        TestRequest::get()
            .uri("/register")
            .insert_header(bearer(INITIAL)),
    )
    .await;
    resp.assert_error(405, "unsupported_method_type");
}
