//! The permission endpoint (Federated Authorization §4) and the ticket store the UMA grant consumes from
//! (UMA Grant §5.4, §5.5): request shapes, every error, isolation, and single-use, hashed tickets.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use base64::Engine as _;
use serde_json::{Value, json};
use uma_cedar::crypto;
use uma_cedar::store::tickets::{Consumed, Permission};
use uma_cedar::store::{Purge, PurgeStore, TicketStore};

use crate::helpers::*;
use crate::resources::{json_with_pat, register, user_pat, with_pat};

async fn ask<S, B>(app: &S, pat: &str, body: &Value) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        json_with_pat(Method::POST, "/uma/permission", pat, body),
    )
    .await
}

/// Asks for a ticket, expecting success, and returns it.
async fn ticket<S, B>(app: &S, pat: &str, body: &Value) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = ask(app, pat, body).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    resp.json()["ticket"].as_str().expect("ticket").to_owned()
}

fn consume(t: &TestApp, ticket: &str) -> Consumed {
    let hash = crypto::hash_secret(ticket);
    let now = t.state.now();
    t.state
        .store
        .write(|tx| tx.consume_ticket(&hash, now))
        .expect("consume")
}

/// The permissions a ticket carries (consuming it).
fn permissions_of(t: &TestApp, ticket: &str) -> Vec<Permission> {
    match consume(t, ticket) {
        Consumed::Valid(stored) => stored.permissions,
        other => panic!("ticket not valid: {other:?}"),
    }
}

fn permission(id: &str, scopes: &[&str]) -> Permission {
    Permission {
        resource_id: id.into(),
        resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
    }
}

fn ticket_count(t: &TestApp) -> i64 {
    raw_db(t)
        .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))
        .expect("count")
}

/// A separate connection on the database file, to look at what is stored behind the store's back.
fn raw_db(t: &TestApp) -> rusqlite::Connection {
    rusqlite::Connection::open(t.state.store.path()).expect("open database")
}

/// `rs1` with a client-owned PAT and two resources: `a` (view, edit) and `b` (print).
async fn setup() -> (TestApp, String, String, String) {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    let (pat, a, b) = {
        let app = t.service().await;
        let pat = client_pat(&app, "rs1").await;
        let a = register(&app, &pat, &json!({"resource_scopes": ["view", "edit"]})).await;
        let b = register(&app, &pat, &json!({"resource_scopes": ["print"]})).await;
        (pat, a, b)
    };
    (t, pat, a, b)
}

#[actix_web::test]
async fn single_object_gets_one_ticket_of_at_least_128_bits() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let resp = ask(
        &app,
        &pat,
        &json!({"resource_id": a, "resource_scopes": ["view"]}),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    let ticket = body["ticket"].as_str().expect("ticket string").to_owned();
    assert_eq!(body, json!({ "ticket": ticket }), "exactly one member");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&ticket)
        .expect("base64url");
    assert!(raw.len() * 8 >= 128, "{} bits", raw.len() * 8);
    match consume(&t, &ticket) {
        Consumed::Valid(stored) => {
            assert_eq!(stored.permissions, vec![permission(&a, &["view"])]);
            assert_eq!(stored.owner, "rs1");
            assert_eq!(stored.client_id, "rs1");
            assert_eq!(stored.created_at, START);
            assert_eq!(stored.expires_at, START + t.state.settings.ticket_ttl);
        }
        other => panic!("ticket not valid: {other:?}"),
    }
}

#[actix_web::test]
async fn array_gets_one_ticket_for_all_permissions() {
    let (t, pat, a, b) = setup().await;
    let app = t.service().await;
    let ticket = ticket(
        &app,
        &pat,
        &json!([
            {"resource_id": a, "resource_scopes": ["view", "edit"]},
            {"resource_id": b, "resource_scopes": ["print"]},
        ]),
    )
    .await;
    assert_eq!(
        permissions_of(&t, &ticket),
        vec![
            permission(&a, &["view", "edit"]),
            permission(&b, &["print"])
        ]
    );
    assert_eq!(ticket_count(&t), 1, "always exactly one ticket");
}

#[actix_web::test]
async fn the_same_resource_twice_is_merged() {
    let (t, pat, a, b) = setup().await;
    let app = t.service().await;
    let ticket = ticket(
        &app,
        &pat,
        &json!([
            {"resource_id": a, "resource_scopes": ["view"]},
            {"resource_id": b, "resource_scopes": []},
            {"resource_id": a, "resource_scopes": ["edit", "view"]},
        ]),
    )
    .await;
    assert_eq!(
        permissions_of(&t, &ticket),
        vec![permission(&a, &["view", "edit"]), permission(&b, &[])]
    );
}

#[actix_web::test]
async fn zero_scopes_are_allowed() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let ticket = ticket(
        &app,
        &pat,
        &json!({"resource_id": a, "resource_scopes": []}),
    )
    .await;
    assert_eq!(permissions_of(&t, &ticket), vec![permission(&a, &[])]);
}

#[actix_web::test]
async fn an_unregistered_scope_is_invalid_scope() {
    let (t, pat, a, b) = setup().await;
    let app = t.service().await;
    // `print` is registered, but for `b`, not `a`.
    let resp = ask(
        &app,
        &pat,
        &json!([
            {"resource_id": b, "resource_scopes": ["print"]},
            {"resource_id": a, "resource_scopes": ["view", "print"]},
        ]),
    )
    .await;
    resp.assert_error(400, "invalid_scope");
    assert!(resp.text().contains("`print`"), "{}", resp.text());
    assert_eq!(ticket_count(&t), 0, "no ticket on error");
}

#[actix_web::test]
async fn an_unknown_resource_is_invalid_resource_id() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let resp = ask(
        &app,
        &pat,
        &json!([
            {"resource_id": a, "resource_scopes": ["view"]},
            {"resource_id": "no-such-resource", "resource_scopes": []},
        ]),
    )
    .await;
    resp.assert_error(400, "invalid_resource_id");
    assert!(resp.text().contains("no-such-resource"), "{}", resp.text());
    assert_eq!(ticket_count(&t), 0);
}

#[actix_web::test]
async fn a_deleted_resource_is_invalid_resource_id() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let resp = send(
        &app,
        with_pat(Method::DELETE, &format!("/uma/resources/{a}"), &pat),
    )
    .await;
    assert_eq!(resp.status, 204);
    ask(
        &app,
        &pat,
        &json!({"resource_id": a, "resource_scopes": []}),
    )
    .await
    .assert_error(400, "invalid_resource_id");
}

#[actix_web::test]
async fn malformed_requests_are_invalid_request() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    for (body, named) in [
        (json!([]), "empty array"),
        (json!("ticket please"), "JSON object"),
        (json!([a]), "JSON object"),
        (json!({"resource_scopes": ["view"]}), "resource_id"),
        (
            json!({"resource_id": 7, "resource_scopes": []}),
            "resource_id",
        ),
        (json!({"resource_id": a}), "resource_scopes"),
        (
            json!({"resource_id": a, "resource_scopes": "view"}),
            "resource_scopes",
        ),
        (
            json!({"resource_id": a, "resource_scopes": [1]}),
            "resource_scopes",
        ),
    ] {
        let resp = ask(&app, &pat, &body).await;
        resp.assert_error(400, "invalid_request");
        assert!(resp.text().contains(named), "{body}: {}", resp.text());
    }
    let resp = send(
        &app,
        TestRequest::post()
            .uri("/uma/permission")
            .insert_header(bearer(&pat))
            .insert_header(("Content-Type", "application/json"))
            .set_payload("{\"resource_id\": "),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    let resp = send(
        &app,
        TestRequest::post()
            .uri("/uma/permission")
            .insert_header(bearer(&pat))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(json!({"resource_id": a, "resource_scopes": []}).to_string()),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    assert_eq!(ticket_count(&t), 0);
}

#[actix_web::test]
async fn pat_is_required_and_other_methods_are_405() {
    let (t, pat, a, _) = setup().await;
    t.add_user("alice", "alice-password-1", None);
    let openid = user_token(&t, "alice", "rs1", "openid");
    let app = t.service().await;
    let body = json!({"resource_id": a, "resource_scopes": []});
    let resp = send(&app, json_req(Method::POST, "/uma/permission", &body)).await;
    resp.assert_error(401, "invalid_token");
    assert_eq!(
        resp.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"uma-cedar\"")
    );
    let resp = ask(&app, &openid, &body).await;
    resp.assert_error(403, "insufficient_scope");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|h| h.contains("scope=\"uma_protection\""))
    );
    let resp = send(&app, with_pat(Method::GET, "/uma/permission", &pat)).await;
    resp.assert_error(405, "unsupported_method_type");
    assert_eq!(resp.header("allow").as_deref(), Some("POST"));
    assert_eq!(ticket_count(&t), 0);
}

#[actix_web::test]
async fn another_owner_gets_invalid_resource_id() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_user("alice", "alice-password-1", None);
    t.add_user("bob", "bob-password-12", None);
    let alice = user_pat(&t, "alice", "rs1");
    let bob = user_pat(&t, "bob", "rs1");
    let app = t.service().await;
    let id = register(&app, &alice, &json!({"resource_scopes": ["view"]})).await;
    ask(
        &app,
        &bob,
        &json!({"resource_id": id, "resource_scopes": ["view"]}),
    )
    .await
    .assert_error(400, "invalid_resource_id");
    // Mixing one's own resource with another owner's is refused as a whole.
    let own = register(&app, &bob, &json!({"resource_scopes": ["view"]})).await;
    ask(
        &app,
        &bob,
        &json!([
            {"resource_id": own, "resource_scopes": ["view"]},
            {"resource_id": id, "resource_scopes": ["view"]},
        ]),
    )
    .await
    .assert_error(400, "invalid_resource_id");
    assert_eq!(ticket_count(&t), 0);
    let ticket = ticket(
        &app,
        &alice,
        &json!({"resource_id": id, "resource_scopes": ["view"]}),
    )
    .await;
    match consume(&t, &ticket) {
        Consumed::Valid(stored) => assert_eq!(stored.owner, "alice"),
        other => panic!("ticket not valid: {other:?}"),
    }
}

#[actix_web::test]
async fn another_resource_server_of_the_owner_gets_invalid_resource_id() {
    let t = TestApp::new();
    t.add_client("rs1", &[]);
    t.add_client("rs2", &[]);
    t.add_user("alice", "alice-password-1", None);
    let via_rs1 = user_pat(&t, "alice", "rs1");
    let via_rs2 = user_pat(&t, "alice", "rs2");
    let app = t.service().await;
    let id = register(&app, &via_rs1, &json!({"resource_scopes": ["view"]})).await;
    ask(
        &app,
        &via_rs2,
        &json!({"resource_id": id, "resource_scopes": []}),
    )
    .await
    .assert_error(400, "invalid_resource_id");
    assert_eq!(ticket_count(&t), 0);
}

#[actix_web::test]
async fn tickets_are_distinct_and_stored_only_hashed() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let body = json!({"resource_id": a, "resource_scopes": ["view"]});
    let first = ticket(&app, &pat, &body).await;
    let second = ticket(&app, &pat, &body).await;
    assert_ne!(first, second);
    let db = raw_db(&t);
    let mut stmt = db
        .prepare(
            "SELECT hash || ' ' || owner || ' ' || client_id || ' ' || permissions FROM tickets",
        )
        .expect("prepare");
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<Vec<String>, _>>()
        .expect("rows");
    assert_eq!(rows.len(), 2);
    for ticket in [&first, &second] {
        assert!(rows.iter().all(|row| !row.contains(ticket.as_str())));
        let hash = crypto::hash_secret(ticket);
        assert!(
            rows.iter().any(|row| row.starts_with(&hash)),
            "stored by hash"
        );
    }
    // Not in any file of the data directory either (database, WAL, shared memory).
    for entry in std::fs::read_dir(&t.state.settings.data_dir).expect("data dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
        for ticket in [&first, &second] {
            assert!(
                !bytes.windows(ticket.len()).any(|w| w == ticket.as_bytes()),
                "clear ticket found on disk"
            );
        }
    }
}

#[actix_web::test]
async fn a_ticket_is_consumed_once_then_reported_as_a_replay() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let ticket = ticket(
        &app,
        &pat,
        &json!({"resource_id": a, "resource_scopes": ["view"]}),
    )
    .await;
    assert!(matches!(consume(&t, &ticket), Consumed::Valid(_)));
    assert_eq!(consume(&t, &ticket), Consumed::AlreadyUsed);
    assert_eq!(consume(&t, &ticket), Consumed::AlreadyUsed);
}

#[actix_web::test]
async fn a_ticket_expires_after_its_lifetime() {
    let (t, pat, a, _) = setup().await;
    let app = t.service().await;
    let body = json!({"resource_id": a, "resource_scopes": ["view"]});
    let late = ticket(&app, &pat, &body).await;
    let in_time = ticket(&app, &pat, &body).await;
    t.clock.advance(t.state.settings.ticket_ttl - 1);
    assert!(matches!(consume(&t, &in_time), Consumed::Valid(_)));
    t.clock.advance(1);
    assert_eq!(consume(&t, &late), Consumed::Expired);
    // Purging forgets expired tickets entirely.
    let now = t.state.now();
    let purged = t
        .state
        .store
        .write(|tx| {
            tx.purge(
                Purge::Tickets {
                    now: now + 1,
                    linked_before: now + 1,
                },
                1_000,
            )
        })
        .expect("purge");
    assert_eq!(purged.deleted, 2);
    assert_eq!(consume(&t, &late), Consumed::Unknown);
}

#[actix_web::test]
async fn an_unknown_ticket_is_unknown() {
    let t = TestApp::new();
    let forged = crypto::random_token().expect("rng");
    assert_eq!(consume(&t, &forged), Consumed::Unknown);
}
