//! The UMA grant (UMA 2.0 Grant §3.3) decided by owners' Cedar policies, through the real routing: every
//! answer of §3.3.5–§3.3.6, the set math of §3.3.4, ticket rotation and reuse, claim tokens, PCTs, RPT
//! upgrade, introspection and revocation of RPTs, narrowing a policy, owner isolation, the decision log.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use serde_json::{Map, Value, json};
use uma_cedar::config::TrustedIssuerEntry;
use uma_cedar::crypto::keys::{self, Alg, KeySet};
use uma_cedar::policy::Source;
use uma_cedar::store::DecisionRead;

use crate::helpers::*;
use crate::introspect::introspect_as as introspect;
use crate::resources::{json_with_pat, register, user_pat};

const UMA: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Auma-ticket";
const ID_TOKEN: &str = "http%3A%2F%2Fopenid.net%2Fspecs%2Fopenid-connect-core-1_0.html%23IDToken";

const BOB_VIEWS: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" };"#;

const ANYONE_VIEWS: &str = r#"permit (principal, action == Uma::Action::"view", resource);"#;

/// Alice owns resources registered by `rs1`; `app` and `app2` are clients of requesting parties.
struct World {
    t: TestApp,
    pat: String,
}

fn world() -> World {
    world_with(TestApp::new())
}

fn world_with(t: TestApp) -> World {
    t.add_client("rs1", &[]);
    t.add_client("app", &[]);
    t.add_client("app2", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    let pat = user_pat(&t, "alice", "rs1");
    World { t, pat }
}

impl World {
    fn push(&self, owner: &str, name: &str, text: &str) {
        self.t
            .state
            .policies
            .push(
                &self.t.state.store,
                owner,
                &[Source::new(name, text)],
                self.t.state.now(),
            )
            .expect("push policy");
    }

    fn remove(&self, owner: &str, name: &str) {
        assert!(
            self.t
                .state
                .policies
                .remove(&self.t.state.store, owner, name, self.t.state.now())
                .expect("remove policy")
        );
    }

    /// An ID token from this server for `sub` with `email`, addressed to `aud`.
    fn id_token(&self, sub: &str, email: &str, aud: &str) -> String {
        let now = self.t.state.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), "http://as.test".into());
        claims.insert("sub".into(), sub.into());
        claims.insert("aud".into(), aud.into());
        claims.insert("email".into(), email.into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 600).into());
        self.t
            .state
            .key_set()
            .expect("keys")
            .sign(claims, "JWT")
            .expect("sign")
    }
}

async fn ticket<S, B>(app: &S, pat: &str, resource: &str, scopes: &[&str]) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = json!({"resource_id": resource, "resource_scopes": scopes});
    let resp = send(
        app,
        json_with_pat(Method::POST, "/uma/permission", pat, &body),
    )
    .await;
    assert_eq!(resp.status, 201, "ticket: {}", resp.text());
    resp.json()["ticket"].as_str().expect("ticket").to_owned()
}

/// A UMA grant request by `client` with extra form parameters.
async fn uma<S, B>(app: &S, client: &str, ticket: &str, extra: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = format!("grant_type={UMA}&ticket={ticket}{extra}");
    send(
        app,
        form("/token", &body).insert_header(basic(client, SECRET)),
    )
    .await
}

fn with_claims(id_token: &str) -> String {
    format!("&claim_token={id_token}&claim_token_format={ID_TOKEN}")
}

fn checking() -> Value {
    json!({"name": "Checking", "type": "account", "resource_scopes": ["view", "pay"]})
}

#[actix_web::test]
async fn need_info_names_the_claims_then_an_id_token_gets_an_rpt() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let first = ticket(&app, &w.pat, &r1, &["view"]).await;

    let resp = uma(&app, "app", &first, "").await;
    resp.assert_error(403, "need_info");
    let body = resp.json();
    let rotated = body["ticket"].as_str().expect("new ticket").to_owned();
    assert_ne!(rotated, first, "need_info rotates the ticket");
    let required = body["required_claims"].as_array().expect("required_claims");
    assert_eq!(required.len(), 1, "{body}");
    assert_eq!(required[0]["name"], "email");
    assert_eq!(
        required[0]["claim_token_format"],
        json!(["http://openid.net/specs/openid-connect-core-1_0.html#IDToken"])
    );
    assert!(
        required[0]["issuer"]
            .as_array()
            .expect("issuers")
            .contains(&json!("http://as.test"))
    );

    let token = w.id_token("bob", "bob@example.com", "app");
    let resp = uma(&app, "app", &rotated, &with_claims(&token)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(
        body.get("scope").is_none(),
        "an RPT response has no scope (G §3.3.5)"
    );
    assert!(body.get("upgraded").is_none(), "no rpt was offered");
    assert!(
        body["pct"].as_str().is_some_and(|p| p.len() >= 43),
        "a PCT when claims were pushed"
    );

    let rpt = body["access_token"].as_str().expect("rpt");
    let claims =
        w.t.state
            .key_set()
            .expect("keys")
            .verify(rpt)
            .expect("signed by the server");
    assert_eq!(claims["iss"], "http://as.test");
    assert_eq!(claims["aud"], "rs1", "the resource server is the audience");
    assert_eq!(claims["azp"], "app");
    assert_eq!(
        claims["permissions"][0]["resource_id"],
        Value::from(r1.as_str())
    );
    assert_eq!(claims["permissions"][0]["resource_scopes"], json!(["view"]));
    assert_eq!(claims["permissions"][0]["exp"], START + 300);
}

#[actix_web::test]
async fn the_rpt_is_introspected_by_its_resource_server_only() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let token = w.id_token("bob", "bob@example.com", "app");
    let rpt = uma(&app, "app", &t1, &with_claims(&token)).await.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();

    let seen = introspect(&app, "rs1", &rpt).await;
    assert_eq!(seen["active"], true);
    assert!(
        seen.get("scope").is_none(),
        "permissions, never scope (F §5.1.1)"
    );
    assert_eq!(
        seen["permissions"],
        json!([{"resource_id": r1, "resource_scopes": ["view"], "exp": START + 300}])
    );
    assert_eq!(seen["client_id"], "app");
    assert_eq!(seen["exp"], START + 300);
    // With a PAT too.
    let resp = send(
        &app,
        form("/introspect", &format!("token={rpt}")).insert_header(bearer(&w.pat)),
    )
    .await;
    assert_eq!(resp.json()["active"], true);
    // The client holding it, or another resource server, learns nothing.
    assert_eq!(
        introspect(&app, "app", &rpt).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "app2", &rpt).await,
        json!({"active": false})
    );
    // Expired.
    w.t.clock.advance(301);
    assert_eq!(
        introspect(&app, "rs1", &rpt).await,
        json!({"active": false})
    );
}

#[actix_web::test]
async fn a_claim_that_does_not_match_is_request_denied() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let token = w.id_token("carol", "carol@example.com", "app");
    let resp = uma(&app, "app", &t1, &with_claims(&token)).await;
    resp.assert_error(403, "request_denied");
    assert!(
        resp.json().get("ticket").is_none(),
        "request_denied ends the process"
    );
    // The denied ticket is used up: the right claims come too late for it.
    let bob = w.id_token("bob", "bob@example.com", "app");
    uma(&app, "app", &t1, &with_claims(&bob))
        .await
        .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn no_policy_at_all_is_request_denied() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    uma(&app, "app", &t1, "")
        .await
        .assert_error(403, "request_denied");
}

#[actix_web::test]
async fn another_owners_permit_all_never_reaches_alices_resources() {
    let w = world();
    w.t.add_user("mallory", "mallory-password", None);
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "mallory",
        "everything",
        "permit (principal, action, resource);",
    );
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let token = w.id_token("bob", "bob@example.com", "app");
    uma(&app, "app", &t1, &with_claims(&token))
        .await
        .assert_error(403, "request_denied");
}

#[actix_web::test]
async fn unknown_expired_and_reused_tickets_are_invalid_grant() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "anyone-views", ANYONE_VIEWS);

    uma(&app, "app", "no-such-ticket", "")
        .await
        .assert_error(400, "invalid_grant");

    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    w.t.clock.advance(301);
    let resp = uma(&app, "app", &t1, "").await;
    resp.assert_error(400, "invalid_grant");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("expired")
    );

    let t2 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = uma(&app, "app", &t2, "").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rpt = resp.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    assert_eq!(introspect(&app, "rs1", &rpt).await["active"], true);
    // A replay: refused, and the RPT the ticket produced is revoked.
    uma(&app, "app", &t2, "")
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&app, "rs1", &rpt).await,
        json!({"active": false})
    );
}

#[actix_web::test]
async fn a_rotated_ticket_belongs_to_the_client_that_got_it() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let rotated = uma(&app, "app", &t1, "").await.json()["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let resp = uma(&app, "app2", &rotated, "").await;
    resp.assert_error(400, "invalid_grant");
    // The ticket that need_info replaced is dead.
    let token = w.id_token("bob", "bob@example.com", "app");
    uma(&app, "app", &t1, &with_claims(&token))
        .await
        .assert_error(400, "invalid_grant");
    // The thief did not burn it: the rightful client still can use it, once.
    assert_eq!(
        uma(&app, "app", &rotated, &with_claims(&token))
            .await
            .status,
        200
    );
    uma(&app, "app", &rotated, &with_claims(&token))
        .await
        .assert_error(400, "invalid_grant");
}

#[actix_web::test]
async fn a_failed_client_authentication_leaves_the_ticket_usable() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "anyone-views", ANYONE_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let body = format!("grant_type={UMA}&ticket={t1}");
    send(
        &app,
        form("/token", &body).insert_header(basic("app", "not-the-secret-at-all")),
    )
    .await
    .assert_error(401, "invalid_client");
    assert_eq!(uma(&app, "app", &t1, "").await.status, 200);
}

#[actix_web::test]
async fn malformed_grant_requests_are_invalid_request() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    uma(&app, "app", &t1, "&claim_token=abc")
        .await
        .assert_error(400, "invalid_request");
    uma(&app, "app", &t1, &format!("&claim_token_format={ID_TOKEN}"))
        .await
        .assert_error(400, "invalid_request");
    uma(
        &app,
        "app",
        &t1,
        "&claim_token=a.b.c&claim_token_format=urn%3Aexample%3Asaml",
    )
    .await
    .assert_error(400, "invalid_request");
    uma(
        &app,
        "app",
        &t1,
        "&claim_token=a.b.c&claim_token_format=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
    )
    .await
    .assert_error(400, "invalid_request");
    // Each parameter at most once (RFC 6749 section 3.2).
    for repeated in [
        "&ticket=again".to_owned(),
        "&scope=view&scope=view".to_owned(),
        format!("&claim_token=a.b.c&claim_token_format={ID_TOKEN}&claim_token_format={ID_TOKEN}"),
    ] {
        uma(&app, "app", &t1, &repeated)
            .await
            .assert_error(400, "invalid_request");
    }
    let resp = send(
        &app,
        form("/token", &format!("grant_type={UMA}")).insert_header(basic("app", SECRET)),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    // None of these consumed the ticket.
    w.push("alice", "anyone-views", ANYONE_VIEWS);
    assert_eq!(uma(&app, "app", &t1, "").await.status, 200);
}

#[actix_web::test]
async fn unsupported_claim_token_checks_lead_to_need_info_with_the_reason() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);

    // Addressed to another client.
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let foreign = w.id_token("bob", "bob@example.com", "app2");
    let resp = uma(&app, "app", &t1, &with_claims(&foreign)).await;
    resp.assert_error(403, "need_info");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("aud"),
        "{}",
        resp.text()
    );

    // Tampered: the payload changed after signing.
    let t2 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let genuine = w.id_token("bob", "carol@example.com", "app");
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = uma_cedar::crypto::base64url(
        json!({"iss": "http://as.test", "sub": "bob", "aud": "app", "email": "bob@example.com",
               "iat": START, "exp": START + 600})
        .to_string()
        .as_bytes(),
    );
    parts[1] = &forged_payload;
    let resp = uma(&app, "app", &t2, &with_claims(&parts.join("."))).await;
    resp.assert_error(403, "need_info");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("signature")
    );
}

#[actix_web::test]
async fn a_scope_registered_nowhere_is_invalid_scope() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    uma(&app, "app", &t1, "&scope=fly")
        .await
        .assert_error(400, "invalid_scope");
}

#[actix_web::test]
async fn a_request_for_no_scope_is_request_denied_never_a_default_permit() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "alice",
        "everything",
        "permit (principal, action, resource);",
    );
    // A ticket that asks for no scope (G §5.6).
    let empty = ticket(&app, &w.pat, &r1, &[]).await;
    let resp = uma(&app, "app", &empty, "").await;
    resp.assert_error(403, "request_denied");
    assert!(
        resp.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("no scope")),
        "{}",
        resp.text()
    );
    // A ticket whose every scope the resource server has since unregistered.
    let pay = ticket(&app, &w.pat, &r1, &["pay"]).await;
    let only_view = json!({"name": "Checking", "type": "account", "resource_scopes": ["view"]});
    let path = format!("/uma/resources/{r1}");
    let resp = send(&app, json_with_pat(Method::PUT, &path, &w.pat, &only_view)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    uma(&app, "app", &pay, "")
        .await
        .assert_error(403, "request_denied");
}

#[actix_web::test]
async fn requested_scopes_count_only_when_the_client_registered_them() {
    let w = world();
    w.t.insert_client(uma_cedar::oauth::registration::NewClient {
        client_id: "payapp".into(),
        secret: Some(SECRET.into()),
        metadata: Map::from_iter([("scope".to_owned(), Value::from("pay"))]),
        ..Default::default()
    });
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "alice",
        "everything",
        "permit (principal, action, resource);",
    );
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = uma(&app, "payapp", &t1, "&scope=pay").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rpt = resp.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    let perms = &introspect(&app, "rs1", &rpt).await["permissions"];
    assert_eq!(perms[0]["resource_scopes"], json!(["pay", "view"]));
    // `app` did not register `pay`: its request scope adds nothing.
    let t2 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let rpt = uma(&app, "app", &t2, "&scope=pay").await.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    assert_eq!(
        introspect(&app, "rs1", &rpt).await["permissions"][0]["resource_scopes"],
        json!(["view"])
    );
}

#[actix_web::test]
async fn partial_grant_when_the_rest_is_denied() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view", "pay"]).await;
    let token = w.id_token("bob", "bob@example.com", "app");
    let resp = uma(&app, "app", &t1, &with_claims(&token)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rpt = resp.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    assert_eq!(
        introspect(&app, "rs1", &rpt).await["permissions"][0]["resource_scopes"],
        json!(["view"])
    );
}

#[actix_web::test]
async fn a_pct_stands_in_for_the_claims_on_later_tickets_of_the_same_client() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    let r2 = register(
        &app,
        &w.pat,
        &json!({"name": "Savings", "resource_scopes": ["view"]}),
    )
    .await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let token = w.id_token("bob", "bob@example.com", "app");
    let pct = uma(&app, "app", &t1, &with_claims(&token)).await.json()["pct"]
        .as_str()
        .expect("pct")
        .to_owned();

    let t2 = ticket(&app, &w.pat, &r2, &["view"]).await;
    let resp = uma(&app, "app", &t2, &format!("&pct={pct}")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.json().get("pct").is_none(),
        "the client keeps the PCT it has"
    );

    // Bound to its client: another client gets nothing from it.
    let t3 = ticket(&app, &w.pat, &r2, &["view"]).await;
    uma(&app, "app2", &t3, &format!("&pct={pct}"))
        .await
        .assert_error(403, "need_info");

    // Revoked with token_type_hint=pct, it stops working.
    let resp = send(
        &app,
        form("/revoke", &format!("token={pct}&token_type_hint=pct"))
            .insert_header(basic("app", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200);
    let t4 = ticket(&app, &w.pat, &r2, &["view"]).await;
    uma(&app, "app", &t4, &format!("&pct={pct}"))
        .await
        .assert_error(403, "need_info");
}

#[actix_web::test]
async fn upgrade_merges_the_old_rpt_and_revokes_it() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    let r2 = register(
        &app,
        &w.pat,
        &json!({"name": "Savings", "resource_scopes": ["view"]}),
    )
    .await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let token = w.id_token("bob", "bob@example.com", "app");
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let first = uma(&app, "app", &t1, &with_claims(&token)).await.json();
    let old = first["access_token"].as_str().expect("rpt").to_owned();
    let pct = first["pct"].as_str().expect("pct").to_owned();

    w.t.clock.advance(10);
    let t2 = ticket(&app, &w.pat, &r2, &["view"]).await;
    let resp = uma(&app, "app", &t2, &format!("&pct={pct}&rpt={old}")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["upgraded"], true);
    let new = body["access_token"].as_str().expect("rpt");
    let perms = introspect(&app, "rs1", new).await["permissions"].clone();
    assert_eq!(
        perms,
        json!([
            {"resource_id": r2, "resource_scopes": ["view"], "exp": START + 10 + 300},
            {"resource_id": r1, "resource_scopes": ["view"], "exp": START + 300},
        ]),
        "each permission keeps its own expiry"
    );
    assert_eq!(
        introspect(&app, "rs1", &old).await,
        json!({"active": false}),
        "the old RPT is revoked"
    );

    // An RPT of another client is not merged.
    let t3 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let other = uma(
        &app,
        "app2",
        &t3,
        &with_claims(&w.id_token("bob", "bob@example.com", "app2")),
    )
    .await
    .json();
    let t4 = ticket(&app, &w.pat, &r2, &["view"]).await;
    let other_rpt = other["access_token"].as_str().expect("rpt");
    let resp = uma(&app, "app", &t4, &format!("&pct={pct}&rpt={other_rpt}"))
        .await
        .json();
    assert_eq!(resp["upgraded"], false);
    assert_eq!(introspect(&app, "rs1", other_rpt).await["active"], true);

    // Something that is not an RPT of ours is not merged either, and the answer says so.
    let t5 = ticket(&app, &w.pat, &r2, &["view"]).await;
    let resp = uma(&app, "app", &t5, &format!("&pct={pct}&rpt=not-an-rpt"))
        .await
        .json();
    assert_eq!(resp["upgraded"], false);
}

#[actix_web::test]
async fn narrowing_a_policy_takes_effect_on_issued_rpts() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "alice",
        "bob-all",
        r#"permit (principal, action in [Uma::Action::"view", Uma::Action::"pay"], resource)
when { principal has email && principal.email == "bob@example.com" };"#,
    );
    let t1 = ticket(&app, &w.pat, &r1, &["view", "pay"]).await;
    let token = w.id_token("bob", "bob@example.com", "app");
    let rpt = uma(&app, "app", &t1, &with_claims(&token)).await.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    assert_eq!(
        introspect(&app, "rs1", &rpt).await["permissions"][0]["resource_scopes"],
        json!(["pay", "view"])
    );

    // Alice narrows to view only: pay is gone at once.
    w.push("alice", "bob-all", BOB_VIEWS);
    assert_eq!(
        introspect(&app, "rs1", &rpt).await["permissions"][0]["resource_scopes"],
        json!(["view"])
    );

    // Alice removes it: nothing is left, so the RPT is inactive.
    w.remove("alice", "bob-all");
    assert_eq!(
        introspect(&app, "rs1", &rpt).await,
        json!({"active": false})
    );
}

#[actix_web::test]
async fn the_client_can_revoke_its_rpt() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "anyone-views", ANYONE_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let rpt = uma(&app, "app", &t1, "").await.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    // Another client cannot.
    let resp = send(
        &app,
        form("/revoke", &format!("token={rpt}")).insert_header(basic("app2", SECRET)),
    )
    .await;
    resp.assert_error(400, "unauthorized_client");
    assert_eq!(introspect(&app, "rs1", &rpt).await["active"], true);
    let resp = send(
        &app,
        form("/revoke", &format!("token={rpt}")).insert_header(basic("app", SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        introspect(&app, "rs1", &rpt).await,
        json!({"active": false})
    );
}

#[actix_web::test]
async fn every_decision_is_logged_for_the_owner() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let rotated = uma(&app, "app", &t1, "").await.json()["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    w.t.clock.advance(1);
    let token = w.id_token("bob", "bob@example.com", "app");
    assert_eq!(
        uma(&app, "app", &rotated, &with_claims(&token))
            .await
            .status,
        200
    );

    let log =
        w.t.state
            .store
            .read(|c| c.decisions_of_owner("alice", 10))
            .expect("log");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].answer, "permit");
    assert_eq!(log[0].granted, vec!["view"]);
    assert_eq!(log[0].policies, vec!["bob-views#1"]);
    assert_eq!(log[0].party.as_deref(), Some(r#"["http://as.test","bob"]"#));
    assert_eq!(log[0].client_id, "app");
    assert_eq!(log[1].answer, "need_info");
    assert_eq!(log[1].party, None);
    assert!(
        log[1]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("email")
    );
}

#[actix_web::test]
async fn owners_read_their_decisions_over_http() {
    let w = world();
    w.t.add_user("carol", "carol-password", None);
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    uma(&app, "app", &t1, "")
        .await
        .assert_error(403, "need_info");

    let alice = user_token(&w.t, "alice", "rs1", "uma_policy");
    let resp = send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/uma/decisions")
            .insert_header(bearer(&alice)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let log = resp.json();
    assert_eq!(log.as_array().map(Vec::len), Some(1));
    assert_eq!(log[0]["resource_id"], Value::from(r1.as_str()));
    assert_eq!(log[0]["answer"], "need_info");
    assert_eq!(log[0]["scopes"], json!(["view"]));

    // Carol sees none of Alice's; a PAT cannot read the log; a bad limit is refused.
    let carol = user_token(&w.t, "carol", "rs1", "uma_policy");
    let resp = send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/uma/decisions")
            .insert_header(bearer(&carol)),
    )
    .await;
    assert_eq!(resp.json(), json!([]));
    let resp = send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/uma/decisions")
            .insert_header(bearer(&w.pat)),
    )
    .await;
    resp.assert_error(403, "insufficient_scope");
    let resp = send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/uma/decisions?limit=0")
            .insert_header(bearer(&alice)),
    )
    .await;
    resp.assert_error(400, "invalid_request");
}

/// An OpenID provider this server trusts, besides itself: its keys are installed as a JWKS file.
const LOGIN: &str = "https://login.example.org";

/// A world whose server also trusts [`LOGIN`], with that issuer's signing keys (and the directory holding
/// its JWKS file, which must outlive the test).
fn trusting_world() -> (World, KeySet, tempfile::TempDir) {
    let login =
        KeySet::from_stored(&[keys::generate(Alg::ES256, START).expect("key")]).expect("set");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("login-jwks.json");
    std::fs::write(&path, login.jwks().to_string()).expect("write jwks");
    let t = TestApp::with_settings(|s| {
        s.trusted_issuers = vec![TrustedIssuerEntry {
            issuer: LOGIN.into(),
            jwks_uri: path.display().to_string(),
            ..Default::default()
        }];
    });
    (world_with(t), login, dir)
}

/// The `required_claims` of a `need_info` answer, as (name, issuers) pairs.
fn required_claims(resp: &Resp) -> Vec<(String, Vec<String>)> {
    resp.assert_error(403, "need_info");
    let body = resp.json();
    body["required_claims"]
        .as_array()
        .expect("required_claims")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("name").to_owned();
            let issuers = c["issuer"]
                .as_array()
                .expect("issuer")
                .iter()
                .map(|i| i.as_str().expect("issuer string").to_owned())
                .collect();
            (name, issuers)
        })
        .collect()
}

fn pairs(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(n, i)| ((*n).to_owned(), i.iter().map(|s| (*s).to_owned()).collect()))
        .collect()
}

#[actix_web::test]
async fn required_claims_name_only_the_issuers_the_policy_accepts() {
    let (w, _, _dir) = trusting_world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "alice",
        "login-bob",
        r#"permit (principal, action == Uma::Action::"view", resource)
when { principal.iss == "https://login.example.org" && principal has email && principal.email == "bob@example.com" };"#,
    );
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = uma(&app, "app", &t1, "").await;
    assert_eq!(
        required_claims(&resp),
        pairs(&[("email", &[LOGIN])]),
        "only the issuer the policy names, and never `iss` as a claim: {}",
        resp.text()
    );
}

#[actix_web::test]
async fn required_claims_list_every_accepted_issuer_when_the_policy_names_none() {
    let (w, _, _dir) = trusting_world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = uma(&app, "app", &t1, "").await;
    assert_eq!(
        required_claims(&resp),
        pairs(&[("email", &["http://as.test", LOGIN])]),
        "this server first, then the trusted issuers"
    );
}

#[actix_web::test]
async fn a_policy_on_the_identity_asks_for_sub_from_its_issuer_never_for_iss() {
    let (w, _, _dir) = trusting_world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push(
        "alice",
        "own-bob",
        r#"permit (principal, action, resource) when { principal.iss == "http://as.test" && principal.sub == "bob" };"#,
    );
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = uma(&app, "app", &t1, "").await;
    assert_eq!(
        required_claims(&resp),
        pairs(&[("sub", &["http://as.test"])])
    );
    // A policy that only an issuer this server does not trust could satisfy asks for nothing.
    w.remove("alice", "own-bob");
    w.push(
        "alice",
        "stranger",
        r#"permit (principal, action, resource) when { principal.iss == "https://untrusted.example" };"#,
    );
    let t2 = ticket(&app, &w.pat, &r1, &["view"]).await;
    uma(&app, "app", &t2, "")
        .await
        .assert_error(403, "request_denied");
}

/// An ID token of `keys`' issuer `iss` for `sub`, addressed to `aud`.
fn id_token_of(w: &World, keys: &KeySet, iss: &str, sub: &str, aud: &str) -> String {
    let now = w.t.state.now();
    let claims = json!({"iss": iss, "sub": sub, "aud": aud, "email": "bob@example.com",
                        "iat": now, "exp": now + 600});
    let Value::Object(claims) = claims else {
        unreachable!("a JSON object literal")
    };
    keys.sign(claims, "JWT").expect("sign")
}

/// Gets an RPT for `view` on `r1` with `extra` form parameters; returns it with its verified claims and
/// what its resource server's introspection says.
async fn rpt_and_introspection<S, B>(
    w: &World,
    app: &S,
    r1: &str,
    extra: &str,
) -> (Map<String, Value>, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let t1 = ticket(app, &w.pat, r1, &["view"]).await;
    let resp = uma(app, "app", &t1, extra).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let rpt = resp.json()["access_token"]
        .as_str()
        .expect("rpt")
        .to_owned();
    let claims =
        w.t.state
            .key_set()
            .expect("keys")
            .verify(&rpt)
            .expect("signed");
    // RFC 9068 §2.2: every REQUIRED claim, of the right type.
    for name in ["iss", "sub", "aud", "client_id", "jti"] {
        assert!(
            claims.get(name).is_some_and(Value::is_string),
            "`{name}` is a string: {claims:?}"
        );
    }
    for name in ["exp", "iat"] {
        assert!(
            claims.get(name).is_some_and(Value::is_i64),
            "`{name}` is a number: {claims:?}"
        );
    }
    assert_eq!(claims["aud"], "rs1");
    assert_eq!(claims["client_id"], "app");
    let introspected = introspect(app, "rs1", &rpt).await;
    assert_eq!(introspected["active"], true);
    assert_eq!(
        introspected["sub"], claims["sub"],
        "introspection reports the RPT's own `sub`"
    );
    assert_eq!(
        introspected.get("requesting_party"),
        claims.get("requesting_party")
    );
    (claims, introspected)
}

#[actix_web::test]
async fn an_rpt_without_claims_names_the_client_as_its_subject() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "everyone", ANYONE_VIEWS);
    let (claims, _) = rpt_and_introspection(&w, &app, &r1, "").await;
    assert_eq!(
        claims["sub"], "app",
        "RFC 9068 §2.2: no person, so the client"
    );
    assert!(claims.get("requesting_party").is_none());
}

#[actix_web::test]
async fn rpt_subjects_are_unique_across_issuers() {
    let (w, login, _dir) = trusting_world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "bob-views", BOB_VIEWS);

    // A user of this server keeps their own `sub`.
    let own = w.id_token("bob", "bob@example.com", "app");
    let (own_claims, _) = rpt_and_introspection(&w, &app, &r1, &with_claims(&own)).await;
    assert_eq!(own_claims["sub"], "bob");
    assert_eq!(
        own_claims["requesting_party"],
        json!({"iss": "http://as.test", "sub": "bob"})
    );

    // Another issuer's `bob` is someone else: a subject derived from (iss, sub), as documented.
    let foreign = id_token_of(&w, &login, LOGIN, "bob", "app");
    let (foreign_claims, _) = rpt_and_introspection(&w, &app, &r1, &with_claims(&foreign)).await;
    assert_eq!(
        foreign_claims["sub"], "Z-BOgDJpiOzJVBCqgkTpg9WKkoEkXon1yiCQKk7kgsg",
        "base64url(SHA-256(len(iss) || iss || len(sub) || sub))"
    );
    assert_ne!(foreign_claims["sub"], own_claims["sub"]);
    assert_eq!(
        foreign_claims["requesting_party"],
        json!({"iss": LOGIN, "sub": "bob"})
    );
}

#[actix_web::test]
async fn the_decision_log_keeps_the_request_id_the_response_echoed() {
    let w = world();
    let app = w.t.service().await;
    let r1 = register(&app, &w.pat, &checking()).await;
    w.push("alice", "anyone-views", ANYONE_VIEWS);
    let t1 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let resp = send(
        &app,
        form("/token", &format!("grant_type={UMA}&ticket={t1}"))
            .insert_header(basic("app", SECRET))
            .insert_header(("X-Request-Id", "grant-42")),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-request-id").as_deref(), Some("grant-42"));

    let t2 = ticket(&app, &w.pat, &r1, &["view"]).await;
    let generated = uma(&app, "app", &t2, "").await;
    let id = generated.header("x-request-id").expect("generated id");

    let log =
        w.t.state
            .store
            .read(|c| c.decisions_of_owner("alice", 10))
            .expect("log");
    let ids: Vec<_> = log.iter().map(|d| d.http_request_id.clone()).collect();
    assert_eq!(ids, vec![Some(id), Some("grant-42".to_owned())]);
}
