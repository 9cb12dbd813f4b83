//! The policy commands as owners and CI use them, through the real binary: `validate` and `authorize` offline,
//! `policy push|list|show|remove` on a data directory, and `serve` refusing a broken schema.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{add_user, json, run_with_stdin, stderr, stdout};

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

const FIXTURES: &str = "tests/fixtures/policy";

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn every_example_policy_validates() {
    let out = run(&["validate", "policies/"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("all valid"), "{}", stdout(&out));
    for example in [
        "bob-views-checking.cedar",
        "spouse-read-only.cedar",
        "accountant-until-date.cedar",
        "doctor-group-health.cedar",
    ] {
        assert!(stdout(&out).contains(example), "{example} checked");
    }
    let out = run(&["validate", "--format", "json", "policies"]);
    assert!(out.status.success());
    assert_eq!(json(&out)["valid"], true);
    assert_eq!(
        json(&out)["diagnostics"],
        serde_json::json!([]),
        "no warnings either"
    );
}

#[test]
fn the_broken_fixture_fails_with_a_located_diagnostic_and_a_hint() {
    let broken = fixture("broken.cedar");
    let out = run(&["validate", &broken, "policies/bob-views-checking.cedar"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{broken}:7:8")), "{err}");
    assert!(
        err.contains("attribute `emial` on entity type `Uma::User` not found"),
        "{err}"
    );
    assert!(err.contains("did you mean `email`?"), "{err}");
    assert!(
        err.contains("when { principal.emial"),
        "the offending line is shown: {err}"
    );
    assert!(
        err.contains("error: 1 of 2 file(s) do not validate"),
        "{err}"
    );

    let out = run(&["validate", "--format", "json", &broken]);
    assert_eq!(out.status.code(), Some(1));
    let body = json(&out);
    assert_eq!(body["valid"], false);
    let d = &body["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(7), Some(8))
    );
    assert_eq!(d["source"], broken.as_str());
    assert_eq!(d["kind"], "validation");

    let syntax = fixture("syntax-error.cedar");
    let out = run(&["validate", &syntax]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{syntax}:2:19")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("unexpected token `action`"));
}

#[test]
fn scopes_outside_the_list_are_errors_offline() {
    let spouse = "policies/spouse-read-only.cedar";
    let out = run(&["validate", "--scopes", "view,statements", spouse]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("scope `transfer` is not among the known scopes"),
        "{err}"
    );
    assert!(err.contains(&format!("{spouse}:23:16")), "{err}");
    assert!(
        err.contains("the known scopes are: statements, view"),
        "{err}"
    );
    let out = run(&[
        "validate",
        "--scopes",
        "view statements transfer edit",
        spouse,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tmp = tempfile::tempdir().expect("tmp");
    let typo = write(
        tmp.path(),
        "typo.cedar",
        "permit (principal, action == Uma::Action::\"veiw\", resource);\n",
    );
    let out = run(&["validate", "--scopes", "view,edit", s(&typo)]);
    assert!(
        stderr(&out).contains("did you mean `view`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_admin_schema_adds_claims_and_a_broken_one_is_located() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = std::fs::read_to_string("schemas/uma.cedarschema").expect("base schema");
    let extended = write(
        tmp.path(),
        "claims.cedarschema",
        &base.replace(
            "groups?: Set<String>,",
            "groups?: Set<String>,\n        department?: String,",
        ),
    );
    let policy = write(
        tmp.path(),
        "finance.cedar",
        "permit (principal, action == Uma::Action::\"view\", resource) when { principal has department && principal.department == \"finance\" };\n",
    );
    // Against the base schema, `principal has department` can never hold: valid, but a warning says why.
    let out = run(&["validate", s(&policy)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("policy is impossible"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("misspelled"), "{}", stderr(&out));
    let out = run(&[
        "validate",
        "--format",
        "json",
        "--schema",
        s(&extended),
        s(&policy),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["diagnostics"], serde_json::json!([]));
    let unguarded = write(
        tmp.path(),
        "unguarded.cedar",
        "permit (principal, action, resource) when { principal.department == \"finance\" };\n",
    );
    let out = run(&["validate", s(&unguarded)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the base schema has no `department`"
    );

    let broken = write(
        tmp.path(),
        "broken.cedarschema",
        "namespace Uma {\n    entity User = { sub: String iss: String };\n}\n",
    );
    let out = run(&["validate", "--schema", s(&broken), "policies/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{}:2:", s(&broken))),
        "{}",
        stderr(&out)
    );

    let out = run(&[
        "serve",
        "--data-dir",
        s(&tmp.path().join("data")),
        "--listen",
        "127.0.0.1:0",
        "--schema",
        s(&broken),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the server refuses a broken schema"
    );
    assert!(
        stderr(&out).contains(&format!("{}:2:", s(&broken))),
        "{}",
        stderr(&out)
    );
}

fn authorize(principal: &str, scope: &str, format: &str) -> Output {
    run(&[
        "authorize",
        "--policies",
        "policies/bob-views-checking.cedar",
        "--policies",
        "policies/spouse-read-only.cedar",
        "--principal",
        &fixture(principal),
        "--resource",
        &fixture("checking.json"),
        "--scope",
        scope,
        "--context",
        &fixture("context.json"),
        "--format",
        format,
    ])
}

#[test]
fn authorize_prints_the_decision_the_policies_and_the_claims_needed() {
    let out = authorize("bob.json", "view", "text");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("decision: permit"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("decided by: policies/bob-views-checking.cedar#1"));

    let out = authorize("bob-no-email.json", "view", "text");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("decision: need_info"), "{text}");
    assert!(
        text.contains("claims that would help: email, email_verified"),
        "{text}"
    );

    let out = authorize("bob.json", "transfer", "json");
    assert!(out.status.success(), "{}", stderr(&out));
    let body = json(&out);
    assert_eq!(body["decision"], "deny");
    assert_eq!(body["policies"], serde_json::json!([]));
    assert_eq!(body["context"]["time"], "2026-03-01T09:00:00Z");

    let out = authorize("bob-no-email.json", "view", "json");
    assert_eq!(
        json(&out)["claims"],
        serde_json::json!(["email", "email_verified"])
    );
}

#[test]
fn authorize_refuses_bad_inputs_clearly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let no_sub = write(tmp.path(), "c.json", "{\"iss\": \"https://x\"}");
    let out = run(&[
        "authorize",
        "--policies",
        "policies",
        "--principal",
        s(&no_sub),
        "--resource",
        &fixture("checking.json"),
        "--scope",
        "view",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`sub`"), "{}", stderr(&out));
    assert!(stderr(&out).contains("help:"));

    let out = run(&[
        "authorize",
        "--policies",
        &fixture("broken.cedar"),
        "--principal",
        &fixture("bob.json"),
        "--resource",
        &fixture("checking.json"),
        "--scope",
        "view",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("broken.cedar:7:8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn policy_push_list_show_remove() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let data = s(&data);
    let out = add_user(data, "alice", "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "policies/",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pushed 4 policy file(s) for `alice` (4 new, 0 replaced)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("validating 4 file(s)"),
        "{}",
        stderr(&out)
    );

    // Pushing a file again replaces the stored one of its name; a push with an invalid file stores nothing.
    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "policies/bob-views-checking.cedar",
    ]);
    assert!(
        stdout(&out).contains("bob-views-checking\treplaced"),
        "{}",
        stdout(&out)
    );
    let replacement = tmp.path().join("spouse-read-only.cedar");
    std::fs::write(&replacement, "// Sam's access ended.\n").expect("write");
    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        s(&replacement),
        &fixture("broken.cedar"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nothing was stored"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("broken.cedar:7:8"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "policy",
        "show",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "spouse-read-only",
    ]);
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string("policies/spouse-read-only.cedar").expect("read"),
        "the stored set is unchanged"
    );

    let out = run(&[
        "policy",
        "list",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "--format",
        "json",
    ]);
    let names: Vec<String> = json(&out)
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "accountant-until-date",
            "bob-views-checking",
            "doctor-group-health",
            "spouse-read-only"
        ]
    );

    let remove = [
        "policy",
        "remove",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "spouse-read-only",
    ];
    assert!(run(&remove).status.success());
    let out = run(&remove);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`alice` has no policy named `spouse-read-only`"));

    for cmd in [
        vec!["policy", "list", "--data-dir", data, "--owner", "nobody"],
        vec![
            "policy",
            "push",
            "--data-dir",
            data,
            "--owner",
            "nobody",
            "policies/",
        ],
        vec![
            "policy",
            "remove",
            "--data-dir",
            data,
            "--owner",
            "nobody",
            "x",
        ],
    ] {
        let out = run(&cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(
            stderr(&out).contains("there is no user or client `nobody`"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }

    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "Cargo.toml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a `.cedar` file"),
        "{}",
        stderr(&out)
    );
}

/// A policy 5,000 parentheses deep: before the limits, `validate` and `authorize` aborted with a stack overflow
/// and `policy push` stored it.
fn five_thousand_deep(dir: &Path) -> PathBuf {
    let text = format!(
        "// far too deep\npermit (principal, action, resource) when {{ {}true{} }};\n",
        "(".repeat(5_000),
        ")".repeat(5_000)
    );
    write(dir, "deep.cedar", &text)
}

#[test]
fn a_policy_nested_too_deep_is_refused_by_validate_authorize_and_push() {
    let tmp = tempfile::tempdir().expect("tmp");
    let deep = five_thousand_deep(tmp.path());
    // `when {` and 11 parentheses are the 12 brackets allowed; the 12th parenthesis is at column 56.
    let located = format!("{}:2:56", s(&deep));

    let out = run(&["validate", s(&deep)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&located), "{err}");
    assert!(err.contains("brackets nest more than 12 deep"), "{err}");
    assert!(err.contains("help:") || err.contains("split"), "{err}");
    let out = run(&["validate", "--format", "json", s(&deep)]);
    assert_eq!(out.status.code(), Some(1));
    let big = write(
        tmp.path(),
        "big.cedar",
        &"permit (principal, action, resource);\n".repeat(2_000),
    );
    let out = run(&["validate", s(&big)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the 65536"),
        "{}",
        stderr(&out)
    );

    let out = run(&[
        "authorize",
        "--policies",
        s(&deep),
        "--principal",
        &fixture("bob.json"),
        "--resource",
        &fixture("checking.json"),
        "--scope",
        "view",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&located), "{}", stderr(&out));

    let data = tmp.path().join("data");
    let data = s(&data);
    let out = add_user(data, "alice", "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        s(&deep),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was stored"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains(&located), "{}", stderr(&out));
    let out = run(&[
        "policy",
        "list",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out), serde_json::json!([]), "nothing was stored");
}

#[test]
fn a_schema_nested_too_deep_is_refused_with_a_located_diagnostic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let schema = write(
        tmp.path(),
        "deep.cedarschema",
        &format!(
            "namespace Uma {{\n  entity User = {{ a: {}String{} }};\n}}\n",
            "{ a: ".repeat(5_000),
            " }".repeat(5_000)
        ),
    );
    let out = run(&[
        "validate",
        "--schema",
        s(&schema),
        "policies/bob-views-checking.cedar",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}:2:", s(&schema))),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("common types"), "{}", stderr(&out));
}

#[test]
fn policy_check_finds_stored_sets_a_new_schema_breaks() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let data = s(&data);
    let out = add_user(data, "alice", "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let base = std::fs::read_to_string("schemas/uma.cedarschema").expect("base schema");
    let with_claim = |name: &str, kind: &str| {
        write(
            tmp.path(),
            name,
            &base.replace(
                "groups?: Set<String>,",
                &format!("groups?: Set<String>,\n        level?: {kind},"),
            ),
        )
    };
    let numbers = with_claim("numbers.cedarschema", "Long");
    let words = with_claim("words.cedarschema", "String");
    let policy = write(
        tmp.path(),
        "senior.cedar",
        "permit (principal, action, resource) when { principal has level && principal.level > 3 };\n",
    );
    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "--schema",
        s(&numbers),
        s(&policy),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Under the schema it was written for, every stored set validates.
    let out = run(&[
        "policy",
        "check",
        "--data-dir",
        data,
        "--schema",
        s(&numbers),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the stored policies of all 1 owner(s) validate"),
        "{}",
        stdout(&out)
    );
    // A schema where `level` is a string: alice's set is named, located, and the exit is 1.
    let out = run(&["policy", "check", "--data-dir", data, "--schema", s(&words)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("owner `alice`"), "{err}");
    assert!(err.contains("senior:1:"), "{err}");
    assert!(err.contains("1 of 1 owner(s) do not validate"), "{err}");
}
