//! `uma-cedar policy diff` through the real binary: the owner's stored set against the set after a push, with
//! `uma-cedar diff`'s answers and exit codes (0 no change, 3 a change, 2 not decided, 1 an error), and nothing
//! stored whatever the answer. The tests that need `cvc5` on PATH skip without it, unless
//! `UMA_CEDAR_REQUIRE_CVC5` is set (as `.ci/run` does).

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

const BOB_VIEWS: &str = "permit (principal, action == Uma::Action::\"view\", resource)\n\
                         when { principal has email && principal.email == \"bob@example.com\" };\n";
const GUESTS_VIEW: &str = "permit (principal, action == Uma::Action::\"view\", resource)\n\
                           when { principal has groups && principal.groups.contains(\"guests\") };\n";

/// True when `cvc5` runs; false (the caller skips) when it is not installed and CI does not require it.
fn cvc5() -> bool {
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

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A data directory where `alice` has stored `bob.cedar` (Bob may view).
fn alice_with_bob(tmp: &Path) -> String {
    let data = tmp.join("data");
    let data = s(&data).to_owned();
    let out = add_user(&data, "alice", "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let file = write(&tmp.join("stored"), "bob.cedar", BOB_VIEWS);
    let out = run(&[
        "policy",
        "push",
        "--data-dir",
        &data,
        "--owner",
        "alice",
        s(&file),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    data
}

fn stored(data: &str) -> String {
    let out = run(&[
        "policy",
        "show",
        "--data-dir",
        data,
        "--owner",
        "alice",
        "bob",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn diff(data: &str, extra: &[&str], paths: &[&Path]) -> Output {
    let mut args = vec!["policy", "diff", "--data-dir", data, "--owner", "alice"];
    args.extend_from_slice(extra);
    args.extend(paths.iter().map(|p| s(p)));
    run(&args)
}

#[test]
fn a_broadening_push_is_a_change_exit_3_with_an_example_and_nothing_is_stored() {
    if !cvc5() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let data = alice_with_bob(tmp.path());
    let before = stored(&data);
    let guests = write(&tmp.path().join("new"), "guests.cedar", GUESTS_VIEW);

    let out = diff(&data, &[], &[&guests]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("scope `view`: newly allows, for example"),
        "{text}"
    );
    assert!(
        text.contains("\"guests\""),
        "the example is a guest: {text}"
    );
    assert!(
        !text.contains("newly denies"),
        "adding a policy takes nothing away: {text}"
    );

    let out = diff(&data, &["--format", "json"], &[&guests]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let body = json(&out);
    assert_eq!(body["status"], "changed", "{body}");
    let view = body["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .find(|s| s["scope"] == "view")
        .expect("scope view");
    assert_eq!(view["newly_allows"]["result"], "example", "{body}");
    assert_eq!(view["newly_denies"]["result"], "none", "{body}");

    assert_eq!(stored(&data), before);
    let out = run(&[
        "policy",
        "list",
        "--data-dir",
        &data,
        "--owner",
        "alice",
        "--format",
        "json",
    ]);
    let listed = json(&out);
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, vec!["bob"], "the diffed file was not stored");
}

#[test]
fn replacing_a_stored_policy_with_the_same_meaning_is_no_change_exit_0() {
    if !cvc5() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let data = alice_with_bob(tmp.path());
    // The same file name replaces the stored policy; reordered, commented: the same meaning.
    let same = write(
        &tmp.path().join("new"),
        "bob.cedar",
        "// Bob, still\npermit (principal, action, resource)\n\
         when { principal has email && \"bob@example.com\" == principal.email && action == Uma::Action::\"view\" };\n",
    );
    let out = diff(&data, &[], &[&same]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("no change in what is allowed"),
        "{}",
        stdout(&out)
    );

    // Replacing it by the guests policy takes Bob's access away too.
    let moved = write(&tmp.path().join("moved"), "bob.cedar", GUESTS_VIEW);
    let out = diff(&data, &[], &[&moved]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("scope `view`: newly denies"),
        "{}",
        stdout(&out)
    );
    assert_eq!(stored(&data), BOB_VIEWS);
}

#[test]
fn without_the_solver_it_is_not_decided_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = alice_with_bob(tmp.path());
    let guests = write(&tmp.path().join("new"), "guests.cedar", GUESTS_VIEW);
    let out = diff(&data, &["--solver", "/nonexistent/cvc5"], &[&guests]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("not decided"), "{}", stdout(&out));
    let out = diff(
        &data,
        &["--solver", "/nonexistent/cvc5", "--format", "json"],
        &[&guests],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["status"], "undecided");
}

#[test]
fn errors_are_exit_1_and_store_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = alice_with_bob(tmp.path());
    let before = stored(&data);

    // A file that does not validate: refused with its location, as `policy push` refuses it.
    let broken = write(
        &tmp.path().join("broken"),
        "bob.cedar",
        "permit (principal, action, resource)\nwhen { principal.emial == \"x\" };\n",
    );
    let out = diff(&data, &[], &[&broken]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bob.cedar:2:"),
        "located: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("error: "), "{}", stderr(&out));

    // An unknown owner and a missing file.
    let guests = write(&tmp.path().join("new"), "guests.cedar", GUESTS_VIEW);
    let out = run(&[
        "policy",
        "diff",
        "--data-dir",
        &data,
        "--owner",
        "nobody",
        s(&guests),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("there is no user or client `nobody`"),
        "{}",
        stderr(&out)
    );
    let out = diff(&data, &[], &[&tmp.path().join("missing.cedar")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stored(&data), before);
}
