//! A small snapshot helper: a response's status, its protocol headers and its JSON body, with the values that
//! vary between runs replaced by placeholders, compared structurally with `tests/api/snapshots/<name>.json`.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test --test api shapes` rewrites the files from what the server answers now; review
//! the diff with `git diff tests/api/snapshots` before committing it. A mismatch fails with one line per
//! differing member (its JSON path, the expected and the actual value).

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::helpers::Resp;

/// The response headers a snapshot records: the ones the protocol gives meaning to. Others (dates, server
/// names) say nothing about the contract.
const HEADERS: [&str; 6] = [
    "content-type",
    "cache-control",
    "pragma",
    "www-authenticate",
    "allow",
    "retry-after",
];

/// The recorded shape of `resp`: `{"status", "headers", "body"}`. A body that is not JSON is recorded as text.
pub fn shape(resp: &Resp) -> Value {
    let mut headers = Map::new();
    for name in HEADERS {
        if let Some(value) = resp.header(name) {
            headers.insert(name.into(), value.into());
        }
    }
    let body = serde_json::from_slice(&resp.body).unwrap_or_else(|_| Value::String(resp.text()));
    serde_json::json!({"status": resp.status, "headers": headers, "body": body})
}

/// `value` with every occurrence of each `(actual, placeholder)` pair's `actual` text replaced, in keys' values
/// and inside longer strings alike (a ticket inside a `WWW-Authenticate` header, a port inside a URL).
pub fn redact(value: &mut Value, pairs: &[(&str, &str)]) {
    match value {
        Value::String(s) => {
            for (actual, placeholder) in pairs {
                if !actual.is_empty() && s.contains(actual) {
                    *s = s.replace(actual, placeholder);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, pairs)),
        Value::Object(members) => members.values_mut().for_each(|v| redact(v, pairs)),
        _ => {}
    }
}

/// Compares `actual` with the stored snapshot `name`, or stores it when `UPDATE_SNAPSHOTS=1`.
pub fn assert_snapshot(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/snapshots")
        .join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("serialise snapshot");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("snapshot folder")).expect("create folder");
        std::fs::write(&path, format!("{pretty}\n")).expect("write snapshot");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot `{name}` at {} ({e}); run with UPDATE_SNAPSHOTS=1 to create it. Actual:\n{pretty}",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&stored)
        .unwrap_or_else(|e| panic!("snapshot {} is not JSON: {e}", path.display()));
    let mut lines = Vec::new();
    diff("$", &expected, actual, &mut lines);
    assert!(
        lines.is_empty(),
        "snapshot `{name}` differs (- expected, + actual); if the change is intended, rerun with \
         UPDATE_SNAPSHOTS=1 and review `git diff`:\n{}\nactual:\n{pretty}",
        lines.join("\n")
    );
}

/// One line per member where `expected` and `actual` differ, named by its JSON path.
fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let at = format!("{path}.{key}");
                match a.get(key) {
                    Some(av) => diff(&at, ev, av, out),
                    None => out.push(format!("{at}: - {ev}\n{at}: + (missing)")),
                }
            }
            for (key, av) in a {
                if !e.contains_key(key) {
                    let at = format!("{path}.{key}");
                    out.push(format!("{at}: - (absent)\n{at}: + {av}"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        _ if expected != actual => out.push(format!("{path}: - {expected}\n{path}: + {actual}")),
        _ => {}
    }
}

#[test]
fn the_diff_names_each_changed_member_by_its_path() {
    let expected =
        serde_json::json!({"status": 400, "body": {"error": "a", "list": [1, 2]}, "gone": true});
    let actual =
        serde_json::json!({"status": 400, "body": {"error": "b", "list": [1, 3]}, "new": 1});
    let mut lines = Vec::new();
    diff("$", &expected, &actual, &mut lines);
    assert_eq!(
        lines,
        vec![
            "$.body.error: - \"a\"\n$.body.error: + \"b\"",
            "$.body.list[1]: - 2\n$.body.list[1]: + 3",
            "$.gone: - true\n$.gone: + (missing)",
            "$.new: - (absent)\n$.new: + 1",
        ]
    );
}

#[test]
fn redaction_reaches_inside_strings() {
    let mut value =
        serde_json::json!({"ticket": "T1", "h": "UMA ticket=\"T1\"", "n": [ "x T1 y" ]});
    redact(&mut value, &[("T1", "[ticket]")]);
    assert_eq!(
        value,
        serde_json::json!({"ticket": "[ticket]", "h": "UMA ticket=\"[ticket]\"", "n": ["x [ticket] y"]})
    );
}
