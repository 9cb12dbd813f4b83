//! Discovery (UMA Grant §2, Federated Authorization §2, RFC 8414) and the JWKS.

use actix_web::test::TestRequest;

use crate::helpers::*;

#[actix_web::test]
async fn uma_configuration_lists_every_endpoint() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(
        &app,
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await;
    assert_eq!(resp.status, 200);
    let doc = resp.json();
    assert_eq!(doc["issuer"], "http://as.test");
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks"),
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
        ("resource_registration_endpoint", "/uma/resources"),
        ("permission_endpoint", "/uma/permission"),
        ("claims_interaction_endpoint", "/uma/claims"),
    ] {
        assert_eq!(doc[field], format!("http://as.test{path}"), "{field}");
    }
    let grants: Vec<&str> = doc["grant_types_supported"]
        .as_array()
        .expect("grant types")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for g in [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:uma-ticket",
    ] {
        assert!(grants.contains(&g), "{g} listed");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        doc["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&"uma_protection".into())
    );
    assert!(
        doc.get("registration_endpoint").is_none(),
        "DCR is off without an initial access token"
    );
}

#[actix_web::test]
async fn same_document_at_every_well_known_path() {
    let t = TestApp::new();
    let app = t.service().await;
    let uma = send(
        &app,
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await
    .json();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(
            send(&app, TestRequest::get().uri(path)).await.json(),
            uma,
            "{path}"
        );
    }
}

#[actix_web::test]
async fn registration_endpoint_is_listed_when_enabled() {
    let t = TestApp::with_settings(|s| {
        s.initial_access_token = Some("initial-access-token-0123".into())
    });
    let app = t.service().await;
    let doc = send(
        &app,
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await
    .json();
    assert_eq!(doc["registration_endpoint"], "http://as.test/register");
}

#[actix_web::test]
async fn jwks_publishes_the_signing_key() {
    let t = TestApp::new();
    let app = t.service().await;
    let resp = send(&app, TestRequest::get().uri("/jwks")).await;
    assert_eq!(resp.status, 200);
    let keys = resp.json()["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["kty"], "EC");
    assert!(keys[0]["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(keys[0].get("d").is_none());
}

#[actix_web::test]
async fn unknown_path_is_a_json_404_and_wrong_method_a_405() {
    let t = TestApp::new();
    let app = t.service().await;
    send(&app, TestRequest::get().uri("/nope"))
        .await
        .assert_error(404, "not_found");
    let resp = send(&app, TestRequest::post().uri("/jwks")).await;
    resp.assert_error(405, "unsupported_method_type");
    assert_eq!(resp.header("allow").as_deref(), Some("GET"));
}
