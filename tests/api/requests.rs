//! Requests held for the owner's decision (UMA Grant §3.3.6) through the real routing: `@ask` holds a request
//! (`request_submitted` with a ticket and `interval`), polling sooner than the interval is `slow_down`, the owner
//! lists and decides at `/uma/requests` with a `uma_policy` token (another owner gets 404), an approval turns
//! the next poll into an RPT, a denial into `request_denied`, and an undecided request expires.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Map, Value, json};
use uma_cedar::policy::Source;

use uma_cedar::store::DecisionRead;

use crate::helpers::*;
use crate::resources::{json_with_pat, register, user_pat};

const UMA: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Auma-ticket";
const ID_TOKEN: &str = "http%3A%2F%2Fopenid.net%2Fspecs%2Fopenid-connect-core-1_0.html%23IDToken";
const ASK: &str = "@ask\npermit (principal, action, resource);";

/// Alice owns `Photos` (registered by `rs1`) and asks to decide every request; `app` is Bob's client.
pub(crate) struct Held<'a> {
    t: &'a TestApp,
    pat: String,
    pub(crate) resource: String,
}

impl<'a> Held<'a> {
    pub(crate) async fn new<S, B>(t: &'a TestApp, app: &S) -> Self
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let pat = user_pat(t, "alice", "rs1");
        let resource = register(
            app,
            &pat,
            &json!({"name": "Photos", "resource_scopes": ["view", "edit"]}),
        )
        .await;
        t.state
            .policies
            .push(
                &t.state.store,
                "alice",
                &[Source::new("ask", ASK)],
                t.state.now(),
            )
            .expect("push");
        Self { t, pat, resource }
    }

    fn id_token(&self, sub: &str) -> String {
        let now = self.t.state.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), "http://as.test".into());
        claims.insert("sub".into(), sub.into());
        claims.insert("aud".into(), "app".into());
        claims.insert("email".into(), format!("{sub}@example.com").into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 600).into());
        self.t
            .state
            .key_set()
            .expect("keys")
            .sign(claims, "JWT")
            .expect("sign")
    }

    /// A ticket for `scopes` of the resource, presented by `app` with `sub`'s ID token.
    pub(crate) async fn ask<S, B>(&self, app: &S, sub: &str, scopes: &[&str]) -> Resp
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let body = json!({"resource_id": self.resource, "resource_scopes": scopes});
        let resp = send(
            app,
            json_with_pat(Method::POST, "/uma/permission", &self.pat, &body),
        )
        .await;
        assert_eq!(resp.status, 201, "ticket: {}", resp.text());
        let ticket = resp.json()["ticket"].as_str().expect("ticket").to_owned();
        let token = self.id_token(sub);
        poll(
            app,
            &ticket,
            &format!("&claim_token={token}&claim_token_format={ID_TOKEN}"),
        )
        .await
    }
}

async fn poll<S, B>(app: &S, ticket: &str, extra: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = format!("grant_type={UMA}&ticket={ticket}{extra}");
    send(
        app,
        form("/token", &body).insert_header(basic("app", SECRET)),
    )
    .await
}

pub(crate) fn setup() -> TestApp {
    let t = TestApp::with_settings(|s| s.poll_interval = 5);
    t.add_client("rs1", &[]);
    t.add_client("app", &[]);
    t.add_client("console", &[]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    t.add_user("carol", "carol-password", Some("carol@example.com"));
    t
}

/// A `request_submitted` answer's new ticket.
pub(crate) fn submitted(resp: &Resp) -> String {
    resp.assert_error(403, "request_submitted");
    let body = resp.json();
    assert_eq!(body["interval"], 5, "{body}");
    body["ticket"].as_str().expect("ticket").to_owned()
}

fn owner_get(token: &str) -> TestRequest {
    TestRequest::get()
        .uri("/uma/requests")
        .insert_header(bearer(token))
}

fn owner_post(path: &str, token: &str) -> TestRequest {
    TestRequest::post().uri(path).insert_header(bearer(token))
}

#[actix_web::test]
async fn a_held_request_is_polled_then_approved_over_http_into_an_rpt() {
    let t = setup();
    let app = t.service().await;
    let w = Held::new(&t, &app).await;
    let ticket = submitted(&w.ask(&app, "bob", &["view"]).await);

    // Too soon: slow_down, and the ticket stays good.
    let resp = poll(&app, &ticket, "").await;
    resp.assert_error(400, "slow_down");
    assert_eq!(resp.json()["interval"], 5);
    w.t.clock.advance(5);
    let ticket = submitted(&poll(&app, &ticket, "").await);

    let alice = user_token(w.t, "alice", "console", "uma_policy");
    let carol = user_token(w.t, "carol", "console", "uma_policy");
    let resp = send(&app, owner_get(&alice)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let list = resp.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let request = &list[0];
    assert_eq!(request["state"], "pending");
    assert_eq!(request["scopes"], json!(["view"]));
    assert_eq!(request["party"], json!(["http://as.test", "bob"]));
    assert_eq!(request["email"], "bob@example.com");
    let id = request["id"].as_str().expect("id").to_owned();

    // Another owner sees nothing and decides nothing.
    assert_eq!(send(&app, owner_get(&carol)).await.json(), json!([]));
    for verb in ["approve", "deny"] {
        send(
            &app,
            owner_post(&format!("/uma/requests/{id}/{verb}"), &carol),
        )
        .await
        .assert_error(404, "not_found");
    }
    // Authenticated like the policy API: no token, or a PAT, is refused.
    send(&app, TestRequest::get().uri("/uma/requests"))
        .await
        .assert_error(401, "invalid_token");
    send(&app, owner_get(&w.pat))
        .await
        .assert_error(403, "insufficient_scope");

    let resp = send(
        &app,
        owner_post(&format!("/uma/requests/{id}/approve"), &alice)
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("X-Request-Id", "approve-7"))
            .set_payload(r#"{"until": "2099-01-01"}"#),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["state"], "approved");
    // The owner's decision is logged with the HTTP request that made it.
    let log =
        w.t.state
            .store
            .read(|c| c.decisions_of_owner("alice", 1))
            .expect("log");
    assert_eq!(log[0].answer, "owner_approved");
    assert_eq!(log[0].http_request_id.as_deref(), Some("approve-7"));
    assert_eq!(resp.json()["policy"], Value::from(format!("approved-{id}")));
    send(
        &app,
        owner_post(&format!("/uma/requests/{id}/deny"), &alice),
    )
    .await
    .assert_error(400, "invalid_request");

    w.t.clock.advance(5);
    let resp = poll(&app, &ticket, "").await;
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
            .expect("rpt");
    assert_eq!(claims["permissions"][0]["resource_scopes"], json!(["view"]));
}

#[actix_web::test]
async fn a_denied_request_is_request_denied_and_an_expired_one_invalid_grant() {
    let t = setup();
    let app = t.service().await;
    let w = Held::new(&t, &app).await;
    let alice = user_token(w.t, "alice", "console", "uma_policy");

    let denied = submitted(&w.ask(&app, "bob", &["view"]).await);
    let id = send(&app, owner_get(&alice)).await.json()[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let resp = send(
        &app,
        owner_post(&format!("/uma/requests/{id}/deny"), &alice),
    )
    .await;
    assert_eq!(resp.json()["state"], "denied", "{}", resp.text());
    w.t.clock.advance(5);
    poll(&app, &denied, "")
        .await
        .assert_error(403, "request_denied");

    // Dave's request nobody decides: after `request_ttl` its ticket is spent.
    let expiring = submitted(&w.ask(&app, "dave", &["edit"]).await);
    w.t.clock.advance(w.t.state.settings.request_ttl);
    poll(&app, &expiring, "")
        .await
        .assert_error(400, "invalid_grant");
    // A week later the owner signs in again and sees it expired.
    let alice = user_token(w.t, "alice", "console", "uma_policy");
    let list = send(&app, owner_get(&alice)).await.json();
    assert_eq!(list[0]["state"], "expired", "{list}");
    let id = list[0]["id"].as_str().expect("id");
    send(
        &app,
        owner_post(&format!("/uma/requests/{id}/approve"), &alice),
    )
    .await
    .assert_error(400, "invalid_request");
}

#[actix_web::test]
async fn the_same_party_asking_again_joins_the_pending_request() {
    let t = setup();
    let app = t.service().await;
    let w = Held::new(&t, &app).await;
    let alice = user_token(w.t, "alice", "console", "uma_policy");
    submitted(&w.ask(&app, "bob", &["view"]).await);
    submitted(&w.ask(&app, "bob", &["view"]).await);
    assert_eq!(
        send(&app, owner_get(&alice))
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Other scopes, or another party, are requests of their own.
    submitted(&w.ask(&app, "bob", &["edit"]).await);
    submitted(&w.ask(&app, "erin", &["view"]).await);
    assert_eq!(
        send(&app, owner_get(&alice))
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}
