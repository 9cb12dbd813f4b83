//! The policy API's dry run (`?dry_run=impact` on a PUT or DELETE): the change is checked like the write and its
//! impact answered, per scope, with examples the ordinary authorizer confirms; the stored set, its version and
//! every decision stay as they were. Bad `dry_run` values are refused, never taken for a write. The tests that
//! need `cvc5` on PATH skip without it, unless `UMA_CEDAR_REQUIRE_CVC5` is set (as `.ci/run` does).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use uma_cedar::owner::Policies;
use uma_cedar::policy::impact::Limits;
use uma_cedar::policy::{self, Claims, ContextFacts, PolicySchema, ResourceFacts, Source};
use uma_cedar::store::PolicyRead as _;
use uma_cedar::store::resources::Resource;

use crate::helpers::*;
use crate::policies::{BOB_VIEWS, delete, get, org_token, put_text, register, setup};

/// The owner of the client-credentials token: a client-owned organisation.
const OWNER: &str = "bank";

const GUESTS_VIEW: &str = r#"// Anyone in the guests group may view
permit (principal, action == Uma::Action::"view", resource)
when { principal has groups && principal.groups.contains("guests") };
"#;

/// True when `cvc5` runs; false (the caller skips) when it is not installed and CI does not require it.
pub(crate) fn cvc5() -> bool {
    let found = std::process::Command::new("cvc5")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("UMA_CEDAR_REQUIRE_CVC5").is_none(),
        "UMA_CEDAR_REQUIRE_CVC5 is set but `cvc5` cannot be run"
    );
    if !found {
        eprintln!("skipped: cvc5 is not installed");
    }
    found
}

/// What the owner's set looks like from outside: the listing, the version, each text.
fn stored(t: &TestApp) -> (Vec<(String, String)>, i64) {
    t.state
        .store
        .read(|c| Ok((c.policy_texts(OWNER)?, c.policy_version(OWNER)?)))
        .expect("read")
}

fn claims(value: Value) -> Claims {
    let Value::Object(map) = value else {
        panic!("object")
    };
    Claims::from_json(map).expect("claims")
}

fn guest() -> Claims {
    claims(json!({"iss": "https://idp.example", "sub": "gus", "groups": ["guests"]}))
}

fn bob() -> Claims {
    claims(json!({"iss": "https://idp.example", "sub": "bob", "email": "bob@example.com"}))
}

fn permits(t: &TestApp, resource: &Resource, who: &Claims) -> bool {
    t.state
        .policies
        .decide(
            &t.state.store,
            resource,
            Some(who),
            "view",
            "app",
            t.state.now(),
        )
        .expect("decide")
        .is_permit()
}

/// The finding `key` of scope `scope` in a dry run's answer.
fn finding<'a>(body: &'a Value, scope: &str, key: &str) -> &'a Value {
    body["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .find(|s| s["scope"] == scope)
        .unwrap_or_else(|| panic!("no scope `{scope}` in {body}"))
        .get(key)
        .unwrap_or_else(|| panic!("no `{key}` in {body}"))
}

/// Decides an answer's example again, apart from the server, with the sets before and after.
fn decided(before: &[Source], after: &[Source], example: &Value) -> (bool, bool) {
    let Value::Object(map) = example["claims"].clone() else {
        panic!("claims: {example}")
    };
    let who = Claims::from_json(map).expect("the example's claims are claims");
    let r = &example["resource"];
    let resource = ResourceFacts {
        id: r["id"].as_str().unwrap_or_default().into(),
        owner: r["owner"].as_str().unwrap_or_default().into(),
        scopes: serde_json::from_value(r["scopes"].clone()).unwrap_or_default(),
        name: r["name"].as_str().map(str::to_owned),
        kind: r["type"].as_str().map(str::to_owned),
    };
    let c = &example["context"];
    let context = ContextFacts {
        client_id: c["client_id"].as_str().unwrap_or_default().into(),
        resource_server: c["resource_server"].as_str().unwrap_or_default().into(),
        time: c["unix_time"].as_i64().expect("unix_time"),
    };
    let scope = example["scope"].as_str().expect("scope");
    let schema = PolicySchema::base().expect("schema");
    let decide = |sources: &[Source]| {
        let compiled = policy::compile(&schema, None, sources);
        policy::decide(&compiled, Some(&who), &resource, scope, &context).is_permit()
    };
    (decide(before), decide(after))
}

#[actix_web::test]
async fn a_dry_run_of_a_broadening_edit_names_the_scope_and_a_confirmed_example_and_stores_nothing()
{
    if !cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    let checking = register(&t, "checking", OWNER, &["view", "edit"]);
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let before = stored(&t);
    let listed = send(&app, get("/uma/policies", &token)).await.json();
    assert!(permits(&t, &checking, &bob()) && !permits(&t, &checking, &guest()));

    // Widening: the guests group too, as a second policy.
    let resp = send(
        &app,
        put_text("guests", &token, GUESTS_VIEW).uri("/uma/policies/guests?dry_run=impact"),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("cache-control").as_deref(), Some("no-store"));
    let body = resp.json();
    assert_eq!(body["dry_run"], "impact");
    assert_eq!(body["stored"], false);
    assert_eq!(body["impact"], "changed", "{body}");
    let allows = finding(&body, "view", "newly_allows");
    assert_eq!(allows["result"], "example", "{body}");
    let example = &allows["example"];
    assert_eq!(example["scope"], "view");
    assert!(
        example["claims"]["groups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("guests"))),
        "the example is someone in the guests group: {example}"
    );
    let mut names: Vec<&str> = example["claims"]
        .as_object()
        .expect("claims")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["groups", "iss", "sub"],
        "only the claims the change needs: {example}"
    );
    assert_eq!(
        decided(
            &[Source::new("p", BOB_VIEWS)],
            &[
                Source::new("p", BOB_VIEWS),
                Source::new("guests", GUESTS_VIEW)
            ],
            example
        ),
        (false, true),
        "the authorizer denies the example before and permits it after: {example}"
    );
    assert_eq!(
        allows["resources"],
        json!([{"_id": "checking", "name": "Checking"}]),
        "the owner's registered resource it newly opens: {body}"
    );
    let summary = allows["summary"].as_str().expect("summary");
    assert!(
        summary.contains("group `guests`") && summary.contains("Checking"),
        "{summary}"
    );
    assert_eq!(finding(&body, "view", "newly_denies")["result"], "none");
    assert_eq!(finding(&body, "edit", "newly_allows")["result"], "none");

    // Nothing stored: the same set, version, listing and decisions.
    assert_eq!(stored(&t), before);
    assert_eq!(
        send(&app, get("/uma/policies", &token)).await.json(),
        listed
    );
    send(&app, get("/uma/policies/guests", &token))
        .await
        .assert_error(404, "not_found");
    assert!(permits(&t, &checking, &bob()) && !permits(&t, &checking, &guest()));

    // The same PUT without the dry run stores it, and the guest gets in.
    assert_eq!(
        send(&app, put_text("guests", &token, GUESTS_VIEW))
            .await
            .status,
        201
    );
    assert!(permits(&t, &checking, &guest()));
}

#[actix_web::test]
async fn a_replacement_that_moves_access_shows_both_directions() {
    if !cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    register(&t, "checking", OWNER, &["view"]);
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let before = stored(&t);
    let body = send(
        &app,
        put_text("p", &token, GUESTS_VIEW).uri("/uma/policies/p?dry_run=impact"),
    )
    .await
    .json();
    assert_eq!(body["impact"], "changed", "{body}");
    let denies = finding(&body, "view", "newly_denies");
    assert_eq!(denies["result"], "example", "{body}");
    assert_eq!(
        decided(
            &[Source::new("p", BOB_VIEWS)],
            &[Source::new("p", GUESTS_VIEW)],
            &denies["example"]
        ),
        (true, false)
    );
    assert_eq!(finding(&body, "view", "newly_allows")["result"], "example");
    assert_eq!(stored(&t), before);
}

#[actix_web::test]
async fn an_equivalent_rewrite_is_no_change() {
    if !cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    register(&t, "checking", OWNER, &["view"]);
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let rewritten = "// the same, written otherwise\n\
                     permit (principal, action, resource)\n\
                     when { action == Uma::Action::\"view\" && principal has email && \"bob@example.com\" == principal.email };";
    let body = send(
        &app,
        put_text("p", &token, rewritten).uri("/uma/policies/p?dry_run=impact"),
    )
    .await
    .json();
    assert_eq!(body["impact"], "no_change", "{body}");
    for scope in body["scopes"].as_array().expect("scopes") {
        for key in ["newly_allows", "newly_denies", "newly_asks"] {
            assert_eq!(scope[key]["result"], "none", "{body}");
        }
    }
}

#[actix_web::test]
async fn a_dry_run_of_a_removal_names_what_is_newly_denied_and_removes_nothing() {
    if !cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    let checking = register(&t, "checking", OWNER, &["view"]);
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let before = stored(&t);

    let resp = send(&app, delete("/uma/policies/p?dry_run=impact", &token)).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    assert_eq!(body["impact"], "changed", "{body}");
    let denies = finding(&body, "view", "newly_denies");
    assert_eq!(denies["result"], "example", "{body}");
    assert_eq!(denies["example"]["claims"]["email"], "bob@example.com");
    assert_eq!(
        denies["resources"],
        json!([{"_id": "checking", "name": "Checking"}])
    );
    assert_eq!(stored(&t), before);
    assert!(permits(&t, &checking, &bob()));

    send(&app, delete("/uma/policies/nope?dry_run=impact", &token))
        .await
        .assert_error(404, "not_found");
}

#[actix_web::test]
async fn bad_dry_run_values_are_invalid_request_and_never_a_write() {
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let before = stored(&t);
    for query in [
        "dry_run=yes",
        "dry_run=true",
        "dry_run=IMPACT",
        "dry_run=",
        "dry_run",
        "dry_run=impact&dry_run=impact",
        "dry_run=impact&dry_run=",
    ] {
        let resp = send(
            &app,
            put_text("p", &token, GUESTS_VIEW).uri(&format!("/uma/policies/p?{query}")),
        )
        .await;
        resp.assert_error(400, "invalid_request");
        let resp = send(&app, delete(&format!("/uma/policies/p?{query}"), &token)).await;
        resp.assert_error(400, "invalid_request");
        assert_eq!(stored(&t), before, "{query}");
    }
    // A dry run without the owner's token is refused like the write.
    let pat = org_token(&app, OWNER, "uma_protection").await;
    send(
        &app,
        put_text("p", &pat, GUESTS_VIEW).uri("/uma/policies/p?dry_run=impact"),
    )
    .await
    .assert_error(403, "insufficient_scope");
    assert_eq!(stored(&t), before);
}

#[actix_web::test]
async fn an_invalid_policy_in_a_dry_run_is_refused_like_the_write() {
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    let invalid = "permit (principal, action, resource)\nwhen { principal.emial == \"x\" };";
    let resp = send(
        &app,
        put_text("p", &token, invalid).uri("/uma/policies/p?dry_run=impact"),
    )
    .await;
    resp.assert_error(400, "invalid_request");
    let diagnostics = &resp.json()["diagnostics"];
    assert_eq!(diagnostics[0]["line"], 2, "{diagnostics}");
    send(
        &app,
        put_text("x", &token, BOB_VIEWS).uri("/uma/policies/.hidden?dry_run=impact"),
    )
    .await
    .assert_error(400, "invalid_request");
    assert!(stored(&t).0.is_empty());
}

#[actix_web::test]
async fn without_the_solver_the_impact_is_undecided_never_no_change() {
    let mut t = setup();
    let limits = Limits {
        solver: "/nonexistent/cvc5".into(),
        timeout: Duration::from_secs(5),
    };
    t.state.policies =
        Arc::new(Policies::new(PolicySchema::base().expect("schema")).with_impact_limits(limits));
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    register(&t, "checking", OWNER, &["view"]);
    assert_eq!(
        send(&app, put_text("p", &token, BOB_VIEWS)).await.status,
        201
    );
    let before = stored(&t);
    // Even a change that is in fact none is not called "no change" without a proof.
    for text in [GUESTS_VIEW, BOB_VIEWS] {
        let resp = send(
            &app,
            put_text("p", &token, text).uri("/uma/policies/p?dry_run=impact"),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["impact"], "undecided", "{body}");
        let allows = finding(&body, "view", "newly_allows");
        assert_eq!(allows["result"], "undecided", "{body}");
        assert!(
            allows["reason"]
                .as_str()
                .is_some_and(|r| r.contains("cvc5")),
            "the reason names the solver: {body}"
        );
    }
    assert_eq!(stored(&t), before);
}

#[actix_web::test]
async fn a_permit_for_everyone_is_said_to_let_anyone_in() {
    if !cvc5() {
        return;
    }
    let t = setup();
    let app = t.service().await;
    let token = org_token(&app, OWNER, "uma_protection uma_policy").await;
    register(&t, "checking", OWNER, &["view"]);
    let body = send(
        &app,
        put_text("all", &token, "permit (principal, action, resource);")
            .uri("/uma/policies/all?dry_run=impact"),
    )
    .await
    .json();
    let allows = finding(&body, "view", "newly_allows");
    assert_eq!(allows["result"], "example", "{body}");
    assert_eq!(
        allows["summary"], "This also lets anyone `view` Checking.",
        "{body}"
    );
}
