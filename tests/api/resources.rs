//! The resource registration endpoint (Federated Authorization §3): each MUST of the API, validation of the
//! description, and isolation between owners and between resource servers.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::*;

pub const BASE: &str = "http://as.test/uma/resources";

/// A PAT for user `username` held by resource server `client_id`.
pub fn user_pat(t: &TestApp, username: &str, client_id: &str) -> String {
    user_token(t, username, client_id, "uma_protection")
}

/// A request with a PAT and no body.
pub fn with_pat(method: Method, path: &str, pat: &str) -> TestRequest {
    TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(bearer(pat))
}

/// A JSON request with a PAT.
pub fn json_with_pat(method: Method, path: &str, pat: &str, body: &Value) -> TestRequest {
    json_req(method, path, body).insert_header(bearer(pat))
}

/// Registers a resource and returns its `_id`.
pub async fn register<S, B>(app: &S, pat: &str, description: &Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(
        app,
        json_with_pat(Method::POST, "/uma/resources", pat, description),
    )
    .await;
    assert_eq!(resp.status, 201, "create: {}", resp.text());
    resp.json()["_id"].as_str().expect("_id").to_owned()
}

async fn list_ids<S, B>(app: &S, pat: &str) -> Vec<String>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(app, with_pat(Method::GET, "/uma/resources", pat)).await;
    assert_eq!(resp.status, 200, "list: {}", resp.text());
    serde_json::from_value(resp.json()).expect("array of strings")
}

fn item(id: &str) -> String {
    format!("/uma/resources/{id}")
}

fn album() -> Value {
    json!({
        "resource_scopes": ["view", "http://photoz.example.com/dev/scopes/print"],
        "name": "Photo Album",
        "type": "http://www.example.com/rsrcs/photoalbum",
        "description": "Holiday pictures",
        "icon_uri": "https://www.example.com/icons/flower.png",
        "x-owner-label": {"color": "blue", "tags": ["a", 1, null]},
    })
}

/// An app with resource server `rs1` (confidential) and its client-owned PAT.
async fn setup() -> (TestApp, String) {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let pat = {
        let app = t.service().await;
        client_pat(&app, "rs1").await
    };
    (t, pat)
}

#[actix_web::test]
async fn create_answers_201_with_absolute_location_and_id() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let resp = send(
        &app,
        json_with_pat(Method::POST, "/uma/resources", &pat, &album()),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let body = resp.json();
    let id = body["_id"].as_str().expect("_id string");
    // F §3.2.1: `_id`, and the optional `user_access_policy_uri`: the owner console's share page for it.
    let console = BASE.replace("/uma/resources", "/console/share");
    assert_eq!(
        body,
        json!({ "_id": id, "user_access_policy_uri": format!("{console}?resource={id}") }),
        "body is exactly {{_id, user_access_policy_uri}}"
    );
    assert_eq!(
        resp.header("location").as_deref(),
        Some(format!("{BASE}/{id}").as_str())
    );
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .expect("base64url id");
    assert_eq!(raw.len(), 16, "128-bit id");
    let second = register(&app, &pat, &album()).await;
    assert_ne!(id, second, "ids are distinct");
}

#[actix_web::test]
async fn collection_accepts_a_trailing_slash() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let resp = send(
        &app,
        json_with_pat(Method::POST, "/uma/resources/", &pat, &album()),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    let resp = send(&app, with_pat(Method::GET, "/uma/resources/", &pat)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json().as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn read_returns_the_description_with_id_and_extensions() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let mut sent = album();
    sent["_id"] = json!("chosen-by-the-client");
    sent["user_access_policy_uri"] = json!("https://evil.example/policy");
    let id = register(&app, &pat, &sent).await;
    assert_ne!(id, "chosen-by-the-client", "`_id` is server-assigned");
    let resp = send(&app, with_pat(Method::GET, &item(&id), &pat)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let mut expected = album();
    expected["_id"] = json!(id);
    assert_eq!(resp.json(), expected);
}

#[actix_web::test]
async fn duplicate_scopes_are_merged() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(
        &app,
        &pat,
        &json!({"resource_scopes": ["view", "edit", "view"]}),
    )
    .await;
    let resp = send(&app, with_pat(Method::GET, &item(&id), &pat)).await;
    assert_eq!(resp.json()["resource_scopes"], json!(["view", "edit"]));
}

#[actix_web::test]
async fn list_returns_the_ids_of_the_pair() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let resp = send(&app, with_pat(Method::GET, "/uma/resources", &pat)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!([]));
    let a = register(&app, &pat, &album()).await;
    let b = register(&app, &pat, &json!({"resource_scopes": ["read"]})).await;
    let mut ids = list_ids(&app, &pat).await;
    ids.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let resp = send(&app, with_pat(Method::DELETE, &item(&a), &pat)).await;
    assert_eq!(resp.status, 204);
    assert_eq!(list_ids(&app, &pat).await, vec![b]);
}

#[actix_web::test]
async fn put_replaces_the_whole_description() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    let replacement = json!({"resource_scopes": ["view"], "type": "photo", "_id": "ignored"});
    let resp = send(
        &app,
        json_with_pat(Method::PUT, &item(&id), &pat, &replacement),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["_id"], json!(id));
    assert!(
        resp.json()["user_access_policy_uri"]
            .as_str()
            .is_some_and(|uri| uri.ends_with(&format!("/console/share?resource={id}"))),
        "F §3.2.3: {}",
        resp.text()
    );
    let resp = send(&app, with_pat(Method::GET, &item(&id), &pat)).await;
    assert_eq!(
        resp.json(),
        json!({"_id": id, "resource_scopes": ["view"], "type": "photo"}),
        "name, description, icon_uri and the extension member are gone"
    );
}

#[actix_web::test]
async fn delete_answers_204_and_the_resource_is_gone() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    let resp = send(&app, with_pat(Method::DELETE, &item(&id), &pat)).await;
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    send(&app, with_pat(Method::GET, &item(&id), &pat))
        .await
        .assert_error(404, "not_found");
    send(&app, with_pat(Method::DELETE, &item(&id), &pat))
        .await
        .assert_error(404, "not_found");
    send(&app, json_with_pat(Method::PUT, &item(&id), &pat, &album()))
        .await
        .assert_error(404, "not_found");
}

#[actix_web::test]
async fn unknown_id_is_not_found_for_every_method() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let path = item("AAAAAAAAAAAAAAAAAAAAAA");
    send(&app, with_pat(Method::GET, &path, &pat))
        .await
        .assert_error(404, "not_found");
    send(&app, json_with_pat(Method::PUT, &path, &pat, &album()))
        .await
        .assert_error(404, "not_found");
    send(&app, with_pat(Method::DELETE, &path, &pat))
        .await
        .assert_error(404, "not_found");
}

#[actix_web::test]
async fn invalid_descriptions_are_invalid_request_naming_the_member() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    let cases = [
        (json!({"name": "no scopes"}), "resource_scopes"),
        (json!({"resource_scopes": "view"}), "resource_scopes"),
        (json!({"resource_scopes": ["view", 42]}), "resource_scopes"),
        (json!({"resource_scopes": [""]}), "resource_scopes"),
        (
            json!({"resource_scopes": ["view"], "icon_uri": "icons/a.png"}),
            "icon_uri",
        ),
        (
            json!({"resource_scopes": ["view"], "icon_uri": "javascript:alert(1)"}),
            "icon_uri",
        ),
        (json!({"resource_scopes": ["view"], "name": 5}), "name"),
        (json!({"resource_scopes": ["view"], "type": true}), "type"),
        (json!(["view"]), "JSON object"),
        (json!("resource"), "JSON object"),
    ];
    for (body, named) in cases {
        for req in [
            json_with_pat(Method::POST, "/uma/resources", &pat, &body),
            json_with_pat(Method::PUT, &item(&id), &pat, &body),
        ] {
            let resp = send(&app, req).await;
            resp.assert_error(400, "invalid_request");
            let text = resp.json()["error_description"].to_string();
            assert!(text.contains(named), "{body}: {text}");
        }
    }
    assert_eq!(
        list_ids(&app, &pat).await,
        vec![id.clone()],
        "nothing created"
    );
    let resp = send(&app, with_pat(Method::GET, &item(&id), &pat)).await;
    let mut expected = album();
    expected["_id"] = json!(id);
    assert_eq!(resp.json(), expected, "nothing replaced");
}

#[actix_web::test]
async fn malformed_json_wrong_content_type_and_oversize_bodies_are_refused() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let resp = send(
        &app,
        TestRequest::post()
            .uri("/uma/resources")
            .insert_header(bearer(&pat))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(r#"{"resource_scopes": ["view"]"#),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    assert!(resp.text().contains("not valid JSON"), "{}", resp.text());

    let resp = send(
        &app,
        TestRequest::post()
            .uri("/uma/resources")
            .insert_header(bearer(&pat))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload("resource_scopes=view"),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    assert!(resp.text().contains("application/json"), "{}", resp.text());

    let limit = t.state.settings.max_body_bytes;
    let big = json!({"resource_scopes": ["view"], "description": "x".repeat(limit)});
    let resp = send(
        &app,
        json_with_pat(Method::POST, "/uma/resources", &pat, &big),
    )
    .await;
    resp.assert_error(413, "invalid_request");
    assert!(list_ids(&app, &pat).await.is_empty());
}

#[actix_web::test]
async fn other_methods_are_405_with_allow() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    for (method, path, allow) in [
        (Method::PATCH, "/uma/resources".to_owned(), "GET, POST"),
        (Method::DELETE, "/uma/resources".to_owned(), "GET, POST"),
        (Method::PUT, "/uma/resources".to_owned(), "GET, POST"),
        (Method::POST, item(&id), "GET, PUT, DELETE"),
        (Method::PATCH, item(&id), "GET, PUT, DELETE"),
    ] {
        let resp = send(&app, with_pat(method.clone(), &path, &pat)).await;
        resp.assert_error(405, "unsupported_method_type");
        assert_eq!(
            resp.header("allow").as_deref(),
            Some(allow),
            "{method} {path}"
        );
    }
}

#[actix_web::test]
async fn every_operation_needs_a_pat() {
    let (t, pat) = setup().await;
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    let requests = || {
        [
            json_req(Method::POST, "/uma/resources", &album()),
            TestRequest::get().uri("/uma/resources"),
            TestRequest::get().uri(&item(&id)),
            json_req(Method::PUT, &item(&id), &album()),
            TestRequest::delete().uri(&item(&id)),
        ]
    };
    for req in requests() {
        let resp = send(&app, req).await;
        resp.assert_error(401, "invalid_token");
        assert_eq!(
            resp.header("www-authenticate").as_deref(),
            Some("Bearer realm=\"uma-cedar\"")
        );
    }
    for req in requests() {
        let resp = send(&app, req.insert_header(bearer("not-a-real-token"))).await;
        resp.assert_error(401, "invalid_token");
        assert!(
            resp.header("www-authenticate")
                .is_some_and(|h| h.contains("error=\"invalid_token\""))
        );
    }
    assert_eq!(list_ids(&app, &pat).await, vec![id.clone()]);
    // PATs expire like any access token.
    t.clock.advance(t.state.settings.access_token_ttl);
    send(&app, with_pat(Method::GET, &item(&id), &pat))
        .await
        .assert_error(401, "invalid_token");
}

#[actix_web::test]
async fn a_token_without_uma_protection_is_insufficient_scope() {
    let (t, pat) = setup().await;
    t.add_user("alice", "alice-password-1", None);
    let openid = user_token(&t, "alice", "rs1", "openid");
    let app = t.service().await;
    let id = register(&app, &pat, &album()).await;
    for req in [
        json_req(Method::POST, "/uma/resources", &album()),
        TestRequest::get().uri("/uma/resources"),
        TestRequest::get().uri(&item(&id)),
        json_req(Method::PUT, &item(&id), &album()),
        TestRequest::delete().uri(&item(&id)),
    ] {
        let resp = send(&app, req.insert_header(bearer(&openid))).await;
        resp.assert_error(403, "insufficient_scope");
        assert!(
            resp.header("www-authenticate")
                .is_some_and(|h| h.contains("scope=\"uma_protection\"")),
            "{:?}",
            resp.header("www-authenticate")
        );
    }
}

/// Asserts that `pat` can neither see nor change resource `id`, and that it is intact for `owner_pat`.
async fn assert_hidden<S, B>(app: &S, pat: &str, owner_pat: &str, id: &str)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, with_pat(Method::GET, &item(id), pat))
        .await
        .assert_error(404, "not_found");
    send(
        app,
        json_with_pat(
            Method::PUT,
            &item(id),
            pat,
            &json!({"resource_scopes": ["stolen"]}),
        ),
    )
    .await
    .assert_error(404, "not_found");
    send(app, with_pat(Method::DELETE, &item(id), pat))
        .await
        .assert_error(404, "not_found");
    assert!(!list_ids(app, pat).await.contains(&id.to_owned()));
    let resp = send(app, with_pat(Method::GET, &item(id), owner_pat)).await;
    assert_eq!(resp.status, 200, "still there for its owner");
    assert_eq!(resp.json()["resource_scopes"], album()["resource_scopes"]);
}

#[actix_web::test]
async fn owners_of_one_resource_server_are_isolated() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_user("alice", "alice-password-1", None);
    t.add_user("bob", "bob-password-12", None);
    let alice = user_pat(&t, "alice", "rs1");
    let bob = user_pat(&t, "bob", "rs1");
    let app = t.service().await;
    let id = register(&app, &alice, &album()).await;
    let bobs = register(&app, &bob, &album()).await;
    assert_hidden(&app, &bob, &alice, &id).await;
    assert_eq!(list_ids(&app, &bob).await, vec![bobs]);
    assert_eq!(list_ids(&app, &alice).await, vec![id]);
}

#[actix_web::test]
async fn resource_servers_of_one_owner_are_isolated() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_client("rs2", &[]);
    t.add_user("alice", "alice-password-1", None);
    let via_rs1 = user_pat(&t, "alice", "rs1");
    let via_rs2 = user_pat(&t, "alice", "rs2");
    let app = t.service().await;
    let id = register(&app, &via_rs1, &album()).await;
    assert_hidden(&app, &via_rs2, &via_rs1, &id).await;
    assert!(list_ids(&app, &via_rs2).await.is_empty());
}

#[actix_web::test]
async fn client_owned_and_user_owned_resources_are_isolated() {
    let (t, rs1_own) = setup().await;
    t.add_user("alice", "alice-password-1", None);
    let alice = user_pat(&t, "alice", "rs1");
    let app = t.service().await;
    let id = register(&app, &rs1_own, &album()).await;
    assert_hidden(&app, &alice, &rs1_own, &id).await;
}
