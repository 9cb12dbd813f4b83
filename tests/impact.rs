//! Policy impact and never-proofs (`policy::impact`, `uma-cedar diff`, `uma-cedar prove`) with the real
//! `cvc5` solver: broadening, narrowing and neutral edits classified, every counterexample decided again here
//! with the ordinary authorizer, proofs proved and violated, and a timeout or a missing solver reported as
//! not decided.
//!
//! These tests need `cvc5` on PATH (or named by `CVC5`); `.ci/run` installs it and sets
//! `UMA_CEDAR_REQUIRE_CVC5=1`, under which a missing solver fails every test instead of skipping it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use std::path::Path;
use std::time::Duration;

use uma_cedar::policy::impact::{
    self, Example, Finding, Impact, ImpactError, Limits, Proof, ScopeImpact, Status,
};
use uma_cedar::policy::{self, Decision, PolicySchema, Source};

mod common;

use common::{json, run_with_stdin, stdout};

/// The solver, or None (the test is skipped) when it is not installed and CI does not require it.
fn solver() -> Option<Limits> {
    let limits = Limits {
        solver: std::env::var_os("CVC5").unwrap_or_else(|| "cvc5".into()),
        timeout: Duration::from_secs(60),
    };
    let found = std::process::Command::new(&limits.solver)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(limits);
    }
    assert!(
        std::env::var_os("UMA_CEDAR_REQUIRE_CVC5").is_none(),
        "UMA_CEDAR_REQUIRE_CVC5 is set but `{}` cannot be run",
        limits.solver.to_string_lossy()
    );
    eprintln!("skipped: cvc5 is not installed");
    None
}

fn schema() -> PolicySchema {
    PolicySchema::base().unwrap()
}

fn one(name: &str, text: &str) -> Vec<Source> {
    vec![Source::new(name, text)]
}

const BOB_CHECKING: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" && resource has name && resource.name == "Checking" };"#;

const BOB_ANY: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" };"#;

const NO_THERAPY: &str = r#"forbid (principal, action, resource)
when { resource has type && resource.type == "therapy-notes" };"#;

fn compare(old: &[Source], new: &[Source], limits: &Limits) -> Impact {
    impact::compare(&schema(), old, new, &[], limits).unwrap()
}

fn scope<'i>(impact: &'i Impact, name: Option<&str>) -> &'i ScopeImpact {
    impact
        .scopes
        .iter()
        .find(|s| s.scope.as_deref() == name)
        .unwrap_or_else(|| panic!("scope {name:?} in {impact:#?}"))
}

/// Decides the example with the ordinary authorizer on `sources`.
fn decide(sources: &[Source], example: &Example) -> Decision {
    let compiled = policy::compile(&schema(), None, sources);
    policy::decide(
        &compiled,
        Some(
            &example
                .claims()
                .expect("the example's claims are a claim set"),
        ),
        &example.resource_facts(),
        &example.scope,
        &example.context_facts(),
    )
}

fn no_change_anywhere(impact: &Impact) {
    assert_eq!(impact.status, Status::NoChange, "{impact:#?}");
    for s in &impact.scopes {
        assert_eq!(s.newly_allows, Finding::None, "{s:#?}");
        assert_eq!(s.newly_denies, Finding::None, "{s:#?}");
        assert_eq!(s.newly_asks, Finding::None, "{s:#?}");
    }
}

#[test]
fn a_broadening_edit_newly_allows_and_the_authorizer_confirms_the_example() {
    let Some(limits) = solver() else { return };
    let old = one("bob.cedar", BOB_CHECKING);
    let new = one("bob.cedar", BOB_ANY);
    let impact = compare(&old, &new, &limits);
    assert_eq!(impact.status, Status::Changed);
    let view = scope(&impact, Some("view"));
    let example = view.newly_allows.example().expect("an example").clone();
    assert_eq!(example.scope, "view");
    assert_eq!(example.claims["email"], "bob@example.com");
    assert_ne!(example.resource.name.as_deref(), Some("Checking"));
    assert!(decide(&new, &example).is_permit());
    assert!(!decide(&old, &example).is_permit());
    assert_eq!(view.newly_denies, Finding::None, "nothing is taken away");
    assert_eq!(
        scope(&impact, None).newly_allows,
        Finding::None,
        "no other scope"
    );
    assert_eq!(impact.changes().count(), 1);
}

#[test]
fn an_owners_change_is_shown_on_the_owners_resources_as_the_server_decides_them() {
    let Some(limits) = solver() else { return };
    let old = one("bob", BOB_CHECKING);
    let new = one("bob", BOB_ANY);
    let impact = impact::compare_for_owner(&schema(), "alice", &old, &new, &[], &limits).unwrap();
    let example = scope(&impact, Some("view"))
        .newly_allows
        .example()
        .expect("an example")
        .clone();
    assert_eq!(example.resource.owner, "alice");
    let decide_for_alice = |sources: &[Source]| {
        policy::decide(
            &policy::compile(&schema(), Some("alice"), sources),
            Some(&example.claims().unwrap()),
            &example.resource_facts(),
            &example.scope,
            &example.context_facts(),
        )
    };
    assert!(decide_for_alice(&new).is_permit());
    assert!(!decide_for_alice(&old).is_permit());
    no_change_anywhere(
        &impact::compare_for_owner(&schema(), "alice", &new, &new, &[], &limits).unwrap(),
    );
}

#[test]
fn a_narrowing_edit_newly_denies_and_the_authorizer_confirms_the_example() {
    let Some(limits) = solver() else { return };
    let old = one("bob.cedar", BOB_ANY);
    let new = vec![
        Source::new("bob.cedar", BOB_ANY),
        Source::new("notes.cedar", NO_THERAPY),
    ];
    let impact = compare(&old, &new, &limits);
    assert_eq!(impact.status, Status::Changed);
    let view = scope(&impact, Some("view"));
    assert_eq!(view.newly_allows, Finding::None);
    let example = view.newly_denies.example().expect("an example").clone();
    assert_eq!(example.resource.kind.as_deref(), Some("therapy-notes"));
    assert!(decide(&old, &example).is_permit());
    assert!(matches!(decide(&new, &example), Decision::Deny { .. }));
}

#[test]
fn reordering_renaming_and_an_equivalent_rewrite_change_nothing() {
    let Some(limits) = solver() else { return };
    let old = vec![
        Source::new("bob.cedar", BOB_CHECKING),
        Source::new("notes.cedar", NO_THERAPY),
    ];
    // Reordered, and both policies in one file under another name.
    let reordered = one("all.cedar", &format!("{NO_THERAPY}\n{BOB_CHECKING}"));
    no_change_anywhere(&compare(&old, &reordered, &limits));
    // Rewritten: `in [..]` for `==`, the conditions swapped and split, a double negation.
    let rewritten = one(
        "rewritten.cedar",
        r#"permit (principal, action in [Uma::Action::"view"], resource)
when { resource has name && resource.name == "Checking" }
when { principal has email && !(principal.email != "bob@example.com") };
forbid (principal, action, resource) when { resource has type } when { "therapy-notes" == resource.type };"#,
    );
    no_change_anywhere(&compare(&old, &rewritten, &limits));
}

#[test]
fn a_new_scope_and_any_other_scope_are_reported_apart() {
    let Some(limits) = solver() else { return };
    let old = one("bob.cedar", BOB_ANY);
    let new = one(
        "bob.cedar",
        r#"permit (principal, action in [Uma::Action::"view", Uma::Action::"statements"], resource)
when { principal has email && principal.email == "bob@example.com" };
permit (principal, action, resource) when { principal has groups && principal.groups.contains("family") };"#,
    );
    let impact = impact::compare(&schema(), &old, &new, &["share".into()], &limits).unwrap();
    let statements = scope(&impact, Some("statements"))
        .newly_allows
        .example()
        .expect("statements newly allowed")
        .clone();
    assert!(decide(&new, &statements).is_permit());
    assert!(!decide(&old, &statements).is_permit());
    // The given scope is analysed too; the family permit reaches it and every scope no policy names.
    for name in [Some("share"), None] {
        let example = scope(&impact, name)
            .newly_allows
            .example()
            .expect("newly allowed")
            .clone();
        assert!(
            example.claims["groups"]
                .as_array()
                .unwrap()
                .contains(&"family".into())
        );
        assert!(decide(&new, &example).is_permit(), "{example:?}");
        assert!(!decide(&old, &example).is_permit());
        if name.is_none() {
            assert!(!["view", "statements", "share"].contains(&example.scope.as_str()));
        }
    }
}

#[test]
fn an_ask_permit_grants_nothing_but_newly_puts_requests_to_the_owner() {
    let Some(limits) = solver() else { return };
    let old = one("bob.cedar", BOB_CHECKING);
    let new = vec![
        Source::new("bob.cedar", BOB_CHECKING),
        Source::new(
            "family.cedar",
            r#"@ask("family photos")
permit (principal, action == Uma::Action::"view", resource) when { principal has groups && principal.groups.contains("family") };"#,
        ),
    ];
    let impact = compare(&old, &new, &limits);
    let view = scope(&impact, Some("view"));
    assert_eq!(view.newly_allows, Finding::None, "`@ask` grants nothing");
    assert_eq!(view.newly_denies, Finding::None);
    let example = view.newly_asks.example().expect("newly asked").clone();
    assert!(matches!(decide(&new, &example), Decision::Ask { .. }));
    assert!(matches!(
        decide(&old, &example),
        Decision::Deny { .. } | Decision::NeedInfo { .. }
    ));
    assert_eq!(impact.status, Status::Changed);
}

#[test]
fn a_set_that_does_not_type_check_gets_a_located_diagnostic() {
    let old = one("bob.cedar", BOB_ANY);
    let new = one(
        "bad.cedar",
        "permit (principal, action, resource)\nwhen { principal.email == \"x\" };",
    );
    let err = impact::compare(&schema(), &old, &new, &[], &Limits::default()).unwrap_err();
    let ImpactError::Invalid { side, diagnostics } = err else {
        panic!("{err:?}")
    };
    assert_eq!(side, "new");
    assert_eq!(diagnostics[0].source, "bad.cedar");
    assert_eq!(diagnostics[0].line, 2);
}

#[test]
fn prove_is_proved_for_the_examples_and_violated_with_a_confirmed_counterexample() {
    let Some(limits) = solver() else { return };
    let examples = sources_in(Path::new("policies"));
    let never = sources_in(Path::new("policies/never"));
    assert!(never.len() >= 2);
    let proofs = impact::prove_never(&schema(), &examples, &never, &[], &limits).unwrap();
    assert_eq!(proofs.len(), never.len());
    for p in &proofs {
        assert_eq!(p.proof, Proof::Proved, "{p:?}");
    }

    // Someone shares everything with a group: the forbids of the examples still hold, but a query about
    // that group's reach is violated.
    let mut broader = examples.clone();
    broader.push(Source::new(
        "everyone.cedar",
        r#"permit (principal, action, resource) when { principal has groups && principal.groups.contains("friends") };"#,
    ));
    let proofs = impact::prove_never(&schema(), &broader, &never, &[], &limits).unwrap();
    for p in &proofs {
        assert_eq!(
            p.proof,
            Proof::Proved,
            "the forbids win over any permit: {p:?}"
        );
    }
    // Nobody but the clinic's doctors reads lab reports.
    let friends_read_reports = one(
        "friends-read-reports.cedar",
        r#"permit (principal, action == Uma::Action::"read", resource)
when { resource has type && resource.type == "lab-report" }
unless { principal.iss == "https://login.riverside-clinic.example" && principal has groups && principal.groups.contains("riverside-doctors") };"#,
    );
    let proofs =
        impact::prove_never(&schema(), &examples, &friends_read_reports, &[], &limits).unwrap();
    assert_eq!(
        proofs[0].proof,
        Proof::Proved,
        "only the clinic's doctors read reports"
    );
    let proofs =
        impact::prove_never(&schema(), &broader, &friends_read_reports, &[], &limits).unwrap();
    let Proof::Violated { example } = &proofs[0].proof else {
        panic!("{proofs:?}")
    };
    assert_eq!(proofs[0].query, "friends-read-reports.cedar");
    assert_eq!(example.scope, "read");
    assert_eq!(example.resource.kind.as_deref(), Some("lab-report"));
    assert!(decide(&broader, example).is_permit());
    assert!(!decide(&examples, example).is_permit());
    assert!(
        decide(&friends_read_reports, example).is_permit(),
        "the query matches it"
    );
    assert!(
        example.claims["groups"]
            .as_array()
            .unwrap()
            .contains(&"friends".into())
    );
}

#[test]
fn a_timeout_or_a_missing_solver_is_undecided_never_no_change_or_proved() {
    let old = one("bob.cedar", BOB_CHECKING);
    let new = one("bob.cedar", BOB_ANY);
    let missing = Limits {
        solver: "/nonexistent/cvc5".into(),
        timeout: Duration::from_secs(5),
    };
    for (old, new) in [(&old, &new), (&old, &old)] {
        let impact = compare(old, new, &missing);
        assert_eq!(impact.status, Status::Undecided);
        for s in &impact.scopes {
            let reason = s.newly_allows.undecided().expect("undecided");
            assert!(reason.contains("cannot start the solver"), "{reason}");
        }
    }
    let proofs = impact::prove_never(&schema(), &old, &new, &[], &missing).unwrap();
    assert!(matches!(proofs[0].proof, Proof::Undecided { .. }));

    let Some(limits) = solver() else { return };
    let tiny = Limits {
        timeout: Duration::from_nanos(1),
        ..limits
    };
    let impact = compare(&old, &new, &tiny);
    assert_eq!(impact.status, Status::Undecided, "{impact:#?}");
    assert!(
        scope(&impact, Some("view"))
            .newly_allows
            .undecided()
            .unwrap()
            .contains("time limit")
    );
    let proofs = impact::prove_never(&schema(), &old, &new, &[], &tiny).unwrap();
    assert!(matches!(proofs[0].proof, Proof::Undecided { .. }));
}

fn sources_in(dir: &Path) -> Vec<Source> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Source::new(p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect()
}

// ---- the commands, through the real binary ----

fn run(args: &[&str]) -> std::process::Output {
    run_with_stdin(args, None)
}

#[test]
fn diff_exits_0_for_no_change_3_for_a_change_2_when_undecided_and_1_for_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let old = write("old.cedar", BOB_CHECKING);
    let new = write("new.cedar", BOB_ANY);
    let bad = write(
        "bad.cedar",
        "permit (principal, action, resource) when { principal.emial == \"x\" };",
    );

    let out = run(&["diff", "--solver", "/nonexistent/cvc5", &old, &new]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("not decided"));

    let out = run(&["diff", &old, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("bad.cedar:1:"), "{err}");

    if solver().is_none() {
        return;
    }
    let out = run(&["diff", &old, &old]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(stdout(&out).contains("no change in what is allowed"));
    let out = run(&["diff", "policies", "policies"]);
    assert_eq!(out.status.code(), Some(0), "a directory against itself");

    let out = run(&["diff", &old, &new]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out).contains("scope `view`: newly allows, for example"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("1 scope changed"));

    let out = run(&["diff", "--format", "json", &new, &old]);
    assert_eq!(out.status.code(), Some(3));
    let report = json(&out);
    assert_eq!(report["status"], "changed");
    let view = report["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == "view")
        .unwrap();
    assert_eq!(view["newly_denies"]["result"], "example");
    assert_eq!(
        view["newly_denies"]["example"]["claims"]["email"],
        "bob@example.com"
    );
    assert_eq!(view["newly_allows"]["result"], "none");
}

#[test]
fn prove_exits_0_when_proved_1_with_a_counterexample_and_2_when_undecided() {
    let out = run(&[
        "prove",
        "--solver",
        "/nonexistent/cvc5",
        "--policies",
        "policies",
        "--never",
        "policies/never",
    ]);
    assert_eq!(out.status.code(), Some(2));

    if solver().is_none() {
        return;
    }
    let out = run(&[
        "prove",
        "--policies",
        "policies",
        "--never",
        "policies/never",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).matches(": proved").count(), 3);

    let tmp = tempfile::tempdir().unwrap();
    let query = tmp.path().join("bob-never-views.cedar");
    std::fs::write(
        &query,
        r#"permit (principal, action == Uma::Action::"view", resource) when { principal has email && principal.email == "bob@example.com" };"#,
    )
    .unwrap();
    let out = run(&[
        "prove",
        "--format",
        "json",
        "--policies",
        "policies",
        "--never",
        query.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["status"], "violated");
    assert_eq!(report["queries"][0]["result"], "violated");
    assert_eq!(
        report["queries"][0]["example"]["resource"]["name"],
        "Checking"
    );
}

#[test]
fn the_number_of_scopes_analysed_is_bounded() {
    let old = one("bob.cedar", BOB_ANY);
    let many: Vec<String> = (0..impact::MAX_SCOPES)
        .map(|i| format!("scope-{i}"))
        .collect();
    let err = impact::compare(&schema(), &old, &old, &many, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, ImpactError::TooManyScopes { max, .. } if max == impact::MAX_SCOPES - 1),
        "{err:?}"
    );
    let fewer = &many[..impact::MAX_SCOPES - 2];
    let missing = Limits {
        solver: "/nonexistent/cvc5".into(),
        timeout: Duration::from_secs(1),
    };
    let impact = impact::compare(&schema(), &old, &old, fewer, &missing).unwrap();
    assert_eq!(
        impact.scopes.len(),
        impact::MAX_SCOPES,
        "the named scope, the given ones, any other"
    );
}
