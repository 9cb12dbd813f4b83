//! The owners' policy API (an extension): authenticated as the owner with scope `uma_policy`, validated before
//! anything is stored, and in effect on the next decision.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::test::TestRequest;
use serde_json::{Value, json};
use uma_cedar::clock::ManualClock;
use uma_cedar::policy::{Claims, Decision};
use uma_cedar::store::ResourceStore;
use uma_cedar::store::resources::{Description, Resource};

use crate::helpers::*;

pub(crate) const BOB_VIEWS: &str = r#"// Bob may view the checking account
permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" };
"#;

/// A token for `client` with `scope`, by client credentials (the client owns its policies).
pub(crate) async fn org_token<S, B>(app: &S, client: &str, scope: &str) -> String
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = send(
        app,
        form(
            "/token",
            &format!(
                "grant_type=client_credentials&scope={}",
                scope.replace(' ', "+")
            ),
        )
        .insert_header(basic(client, SECRET)),
    )
    .await;
    assert_eq!(resp.status, 200, "token: {}", resp.text());
    resp.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub(crate) fn put_text(name: &str, token: &str, text: &str) -> TestRequest {
    TestRequest::put()
        .uri(&format!("/uma/policies/{name}"))
        .insert_header(bearer(token))
        .insert_header(("Content-Type", "text/plain; charset=utf-8"))
        .set_payload(text.to_owned())
}

pub(crate) fn get(path: &str, token: &str) -> TestRequest {
    TestRequest::get().uri(path).insert_header(bearer(token))
}

pub(crate) fn delete(path: &str, token: &str) -> TestRequest {
    TestRequest::delete().uri(path).insert_header(bearer(token))
}

pub(crate) fn setup() -> TestApp {
    let t = TestApp::new();
    t.add_client("bank", &[]);
    t.add_client("app", &["https://app.example/cb"]);
    t.add_user("alice", "alice-password", Some("alice@example.com"));
    t
}

pub(crate) fn register(t: &TestApp, id: &str, owner: &str, scopes: &[&str]) -> Resource {
    let resource = Resource {
        id: id.into(),
        owner: owner.into(),
        client_id: "bank".into(),
        description: Description {
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            name: Some("Checking".into()),
            ..Description::default()
        },
        created_at: START,
        updated_at: START,
    };
    t.state
        .store
        .write(|tx| tx.insert_resource(&resource))
        .expect("register");
    resource
}

fn bob() -> Claims {
    let Value::Object(map) =
        json!({"iss": "https://idp.example", "sub": "bob", "email": "bob@example.com"})
    else {
        panic!("object")
    };
    Claims::from_json(map).expect("claims")
}

fn decide(t: &TestApp, resource: &Resource) -> Decision {
    t.state
        .policies
        .decide(
            &t.state.store,
            resource,
            Some(&bob()),
            "view",
            "app",
            t.state.now(),
        )
        .expect("decide")
}

#[actix_web::test]
async fn an_owner_writes_reads_lists_replaces_and_removes_a_policy() {
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_protection uma_policy").await;

    let resp = send(&app, put_text("bob-views", &token, BOB_VIEWS)).await;
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"name": "bob-views", "policies": 1, "replaced": false, "warnings": [
            {"source": "bob-views", "line": 2, "column": 30, "offset": 66, "length": 19, "severity": "warning",
             "kind": "unknown_scope", "message": "scope `view` is not among the known scopes",
             "help": "no scopes are known: check its spelling, or register a resource with this scope"}
        ]})
    );

    let resp = send(&app, get("/uma/policies/bob-views", &token)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["text"], BOB_VIEWS);
    assert_eq!(resp.json()["updated_at"], START);

    let replacement = "permit (principal, action == Uma::Action::\"view\", resource) when { principal.sub == \"bob\" };";
    let resp = send(
        &app,
        json_req(
            Method::PUT,
            "/uma/policies/bob-views",
            &json!({"text": replacement}),
        )
        .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(resp.status, 200, "replaced: {}", resp.text());
    assert_eq!(resp.json()["replaced"], true);

    let resp = send(&app, get("/uma/policies", &token)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json(),
        json!([{"name": "bob-views", "updated_at": START, "size": replacement.len()}])
    );

    let resp = send(&app, delete("/uma/policies/bob-views", &token)).await;
    assert_eq!(resp.status, 204);
    send(&app, delete("/uma/policies/bob-views", &token))
        .await
        .assert_error(404, "not_found");
    send(&app, get("/uma/policies/bob-views", &token))
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        send(&app, get("/uma/policies/", &token)).await.json(),
        json!([])
    );
}

#[actix_web::test]
async fn a_pat_without_uma_policy_is_insufficient_scope() {
    let t = setup();
    let app = t.service().await;
    let pat = client_pat(&app, "bank").await;
    for req in [
        put_text("p", &pat, BOB_VIEWS),
        get("/uma/policies", &pat),
        get("/uma/policies/p", &pat),
        delete("/uma/policies/p", &pat),
    ] {
        let resp = send(&app, req).await;
        resp.assert_error(403, "insufficient_scope");
        let challenge = resp.header("WWW-Authenticate").expect("challenge");
        assert!(challenge.contains("scope=\"uma_policy\""), "{challenge}");
    }
    let resp = send(&app, TestRequest::get().uri("/uma/policies")).await;
    assert_eq!(resp.status, 401);
    send(&app, get("/uma/policies", "not-a-token"))
        .await
        .assert_error(401, "invalid_token");
}

#[actix_web::test]
async fn an_invalid_policy_is_refused_with_located_diagnostics_and_nothing_changes() {
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_policy").await;
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );

    let broken =
        "permit (principal, action, resource)\nwhen { principal.emial == \"bob@example.com\" };\n";
    let resp = send(&app, put_text("p", &token, broken)).await;
    resp.assert_error(400, "invalid_request");
    let body = resp.json();
    let first = &body["diagnostics"][0];
    assert_eq!(first["source"], "p");
    assert_eq!(first["line"], 2);
    assert_eq!(first["column"], 8);
    assert_eq!(first["severity"], "error");
    assert!(
        first["help"]
            .as_str()
            .unwrap_or("")
            .contains("did you mean `email`?"),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("line 2, column 8"),
        "{body}"
    );

    let resp = send(&app, put_text("p", &token, "permit (")).await;
    resp.assert_error(400, "invalid_request");
    assert_eq!(resp.json()["diagnostics"][0]["kind"], "syntax");

    assert_eq!(
        send(&app, get("/uma/policies/p", &token)).await.json()["text"],
        BOB_VIEWS,
        "the stored policy is unchanged"
    );
}

#[actix_web::test]
async fn bodies_and_names_are_checked() {
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_policy").await;
    let cases = [
        TestRequest::put()
            .uri("/uma/policies/p")
            .insert_header(bearer(&token))
            .set_payload(BOB_VIEWS),
        json_req(
            Method::PUT,
            "/uma/policies/p",
            &json!({"policy": BOB_VIEWS}),
        )
        .insert_header(bearer(&token)),
        TestRequest::put()
            .uri("/uma/policies/p")
            .insert_header(bearer(&token))
            .insert_header(("Content-Type", "text/plain"))
            .set_payload(vec![0xff, 0xfe]),
        put_text(".hidden", &token, BOB_VIEWS),
    ];
    for req in cases {
        send(&app, req).await.assert_error(400, "invalid_request");
    }
    send(
        &app,
        TestRequest::post()
            .uri("/uma/policies")
            .insert_header(bearer(&token)),
    )
    .await
    .assert_error(405, "unsupported_method_type");
}

#[actix_web::test]
async fn a_scope_not_registered_on_the_owners_resources_is_a_warning() {
    let t = setup();
    register(&t, "checking", "bank", &["view", "edit"]);
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_policy").await;
    let resp = send(&app, put_text("p", &token, BOB_VIEWS)).await;
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json()["warnings"], json!([]), "`view` is registered");
    let typo = "permit (principal, action == Uma::Action::\"veiw\", resource);";
    let resp = send(&app, put_text("typo", &token, typo)).await;
    assert_eq!(
        resp.status, 201,
        "accepted: the resource may be registered later"
    );
    let warning = &resp.json()["warnings"][0];
    assert_eq!(warning["kind"], "unknown_scope");
    assert!(
        warning["help"]
            .as_str()
            .unwrap_or("")
            .contains("did you mean `view`?")
    );
}

#[actix_web::test]
async fn a_policy_takes_effect_on_the_next_decision() {
    let t = setup();
    let checking = register(&t, "checking", "bank", &["view"]);
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_policy").await;
    assert!(!decide(&t, &checking).is_permit(), "no policy: deny");
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    assert!(decide(&t, &checking).is_permit());
    let nobody = "forbid (principal, action, resource);";
    assert_eq!(send(&app, put_text("p", &token, nobody)).await.status, 200);
    assert!(!decide(&t, &checking).is_permit(), "narrowed at once");
}

#[actix_web::test]
async fn owners_only_ever_see_and_change_their_own_policies() {
    let t = setup();
    let alices = register(&t, "alices", "alice", &["view"]);
    let app = t.service().await;
    let org = org_token(&app, "bank", "uma_policy").await;
    let alice = user_token(&t, "alice", "app", "uma_policy");

    let everyone = "permit (principal, action, resource);";
    assert_eq!(
        send(&app, put_text("everyone", &org, everyone))
            .await
            .status,
        201
    );
    assert!(
        !decide(&t, &alices).is_permit(),
        "the organisation's permit-all never reaches alice's resource"
    );
    assert_eq!(
        send(&app, get("/uma/policies", &alice)).await.json(),
        json!([])
    );
    send(&app, get("/uma/policies/everyone", &alice))
        .await
        .assert_error(404, "not_found");
    send(&app, delete("/uma/policies/everyone", &alice))
        .await
        .assert_error(404, "not_found");

    assert_eq!(
        send(&app, put_text("bob", &alice, BOB_VIEWS)).await.status,
        201
    );
    assert!(decide(&t, &alices).is_permit());
    assert_eq!(
        send(&app, get("/uma/policies", &org)).await.json()[0]["name"],
        "everyone",
        "the organisation's list holds only its own"
    );
}

#[actix_web::test]
async fn discovery_publishes_the_policy_endpoint_and_scope() {
    let t = setup();
    let app = t.service().await;
    let doc = send(
        &app,
        TestRequest::get().uri("/.well-known/uma2-configuration"),
    )
    .await
    .json();
    assert_eq!(
        doc["uma_cedar_policy_endpoint"],
        "http://as.test/uma/policies"
    );
    assert!(
        doc["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&"uma_policy".into())
    );
}

/// The issue's policy: 200 parentheses deep, 452 bytes, which aborted the server with a stack overflow.
fn two_hundred_deep() -> String {
    format!(
        "permit (principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(200),
        ")".repeat(200)
    )
}

/// Other shapes that build a deep tree: nested sets, nested equalities, `||` in parentheses, long chains,
/// attribute and `.contains` chains, conditionals, records and unary runs.
fn deep_conditions() -> Vec<(&'static str, String)> {
    let mut equalities = "(1 == 1)".to_owned();
    for _ in 0..150 {
        equalities = format!("({equalities} == true)");
    }
    vec![
        (
            "sets",
            format!("{}1{} == [1]", "[".repeat(150), "]".repeat(150)),
        ),
        ("equalities", equalities),
        (
            "or",
            format!("{}true{}", "(true || ".repeat(150), ")".repeat(150)),
        ),
        ("and chain", vec!["true"; 5_000].join(" && ")),
        (
            "plus chain",
            format!("{} == 1", vec!["1"; 5_000].join(" + ")),
        ),
        ("attributes", format!("context{} == 1", ".a".repeat(5_000))),
        (
            "contains",
            format!("[1]{} == true", ".contains(1)".repeat(2_000)),
        ),
        (
            "conditionals",
            format!(
                "{}true{}",
                "if true then ".repeat(1_000),
                " else false".repeat(1_000)
            ),
        ),
        (
            "records",
            format!("{}1{} == 1", "{a: ".repeat(1_000), "}".repeat(1_000)),
        ),
        ("negations", format!("{}true", "!".repeat(5_000))),
    ]
}

#[actix_web::test]
async fn a_policy_nested_too_deep_is_refused_with_a_located_diagnostic_and_nothing_changes() {
    let t = setup();
    let resource = register(&t, "r1", "bank", &["view"]);
    let app = t.service().await;
    let token = org_token(&app, "bank", "uma_policy").await;
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );

    let deep = two_hundred_deep();
    assert_eq!(deep.len(), 452);
    let resp = send(&app, put_text("x", &token, &deep)).await;
    resp.assert_error(400, "invalid_request");
    let body = resp.json();
    let first = &body["diagnostics"][0];
    assert_eq!(first["kind"], "limit", "{body}");
    assert_eq!(first["source"], "x");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(1), Some(56))
    );
    assert!(
        first["message"]
            .as_str()
            .unwrap_or("")
            .contains("nest more than 12"),
        "{body}"
    );
    assert!(
        first["help"].as_str().unwrap_or("").contains("split"),
        "{body}"
    );

    for (shape, condition) in deep_conditions() {
        let text = format!("permit (principal, action, resource) when {{ {condition} }};");
        let resp = send(&app, put_text("x", &token, &text)).await;
        resp.assert_error(400, "invalid_request");
        assert_eq!(
            resp.json()["diagnostics"][0]["kind"],
            "limit",
            "{shape}: {}",
            resp.text()
        );
        // Replacing an existing policy with a deep one changes nothing either.
        let resp = send(&app, put_text("p", &token, &text)).await;
        resp.assert_error(400, "invalid_request");
    }

    // The set is unchanged and the app still answers, and decides with the stored policy.
    let resp = send(&app, get("/uma/policies", &token)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json().as_array().map(Vec::len),
        Some(1),
        "{}",
        resp.text()
    );
    assert_eq!(resp.json()[0]["name"], "p");
    assert_eq!(
        send(&app, get("/uma/policies/p", &token)).await.json()["text"],
        BOB_VIEWS
    );
    assert!(decide(&t, &resource).is_permit());
}

#[actix_web::test]
async fn a_deep_policy_stored_by_an_older_version_denies_before_and_after_a_restart() {
    let t = setup();
    let resource = register(&t, "r1", "bank", &["view"]);
    // Written straight into the database, as a version without the limits could have stored it.
    let deep = format!(
        "permit (principal, action, resource) when {{ {}true{} }};",
        "(".repeat(5_000),
        ")".repeat(5_000)
    );
    // The store offers no raw SQL, so the test opens the database file itself.
    rusqlite::Connection::open(t.state.store.path())
        .expect("open the database")
        .execute(
            "INSERT INTO policies (owner, name, text, updated_at) VALUES ('bank', 'deep', ?1, 0)",
            [&deep],
        )
        .expect("raw insert");

    // The running server never evaluates it: every decision for the owner is a deny that says why.
    let decision = decide(&t, &resource);
    assert!(!decision.is_permit());
    let Decision::Deny { errors, .. } = &decision else {
        panic!("a deny: {decision:?}")
    };
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("nest more than 12")),
        "{errors:?}"
    );

    // A restart reads no policy, so it starts; the set is still refused, on its first use.
    let settings = t.state.settings.as_ref().clone();
    let clock = Arc::new(ManualClock::new(START));
    let restarted = uma_cedar::app::open(settings, clock).expect("start");
    let compiled = restarted
        .policies
        .compiled_for(&restarted.store, "bank")
        .expect("compiled");
    assert_eq!(compiled.len(), 0, "not one policy of the set is used");
    assert!(
        compiled
            .problems()
            .iter()
            .any(|p| p.contains("deep:1:") && p.contains("nest more than 12")),
        "{:?}",
        compiled.problems()
    );
}
