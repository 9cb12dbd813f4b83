//! Owners' policy text, as `PUT /uma/policies/{name}`, `uma-cedar policy push` and `uma-cedar validate` take it:
//! parsed and validated against the built-in schema, then compiled and used for decisions on one fixed
//! resource and scope, for a requesting party with claims and for an anonymous one (which runs the partial
//! evaluation behind `need_info`), on a thread with the server's stack size. The decision runs whether or not the text validated, since a set stored
//! under an older schema is compiled as it is.
//!
//! Every text must end in diagnostics or a decision, never a panic or an overflowed stack.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use uma_cedar::policy::{
    self, Claims, ContextFacts, PolicySchema, ResourceFacts, ScopeCheck, Source,
};

const OWNER: &str = "alice";

struct Setup {
    schema: PolicySchema,
    claims: Option<Claims>,
    resource: ResourceFacts,
    context: ContextFacts,
}

static SETUP: LazyLock<Option<Setup>> = LazyLock::new(|| {
    let claims = json!({
        "iss": "https://login.riverside-clinic.example",
        "sub": "bob",
        "email": "bob@example.com",
        "email_verified": true,
        "groups": ["riverside-doctors"],
    });
    Some(Setup {
        schema: PolicySchema::base().ok()?,
        claims: claims
            .as_object()
            .cloned()
            .and_then(|c| Claims::from_json(c).ok()),
        resource: ResourceFacts {
            id: "r-1".into(),
            owner: OWNER.into(),
            scopes: vec!["view".into(), "read".into()],
            name: Some("Checking".into()),
            kind: Some("statement".into()),
        },
        context: ContextFacts {
            client_id: "ledger-tax-app".into(),
            resource_server: "bank-rs".into(),
            time: 1_770_000_000,
        },
    })
});

/// The stack of the server's blocking-pool threads (Rust's default for spawned threads), where policies are
/// validated and decisions run; libFuzzer's main thread has a bigger one, which could hide an overflow.
const SERVER_STACK: usize = 2 * 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let (Some(setup), Ok(text)) = (SETUP.as_ref(), std::str::from_utf8(data)) else {
        return;
    };
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .stack_size(SERVER_STACK)
            .spawn_scoped(scope, || check(setup, text));
        match worker.map(|w| w.join()) {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // No thread to be had: check on this one rather than not at all.
            Err(_) => check(setup, text),
        }
    });
});

fn check(setup: &Setup, text: &str) {
    let sources = [Source::new("fuzz.cedar", text)];
    let validation = policy::validate(&setup.schema, &sources, ScopeCheck::Unchecked);
    // Diagnostics are rendered for the CLI and returned as JSON over HTTP.
    for diagnostic in &validation.diagnostics {
        let _ = diagnostic.to_json();
    }
    let compiled = policy::compile(&setup.schema, Some(OWNER), &sources);
    for claims in [setup.claims.as_ref(), None] {
        let decision = policy::decide(&compiled, claims, &setup.resource, "view", &setup.context);
        if !compiled.problems().is_empty() {
            assert!(
                !decision.is_permit(),
                "a set that does not compile permits nothing"
            );
        }
    }
}
