//! JSON request bodies: a resource description (Federated Authorization §3.1), a permission request (§4.1) and
//! a client registration (RFC 7591 §2). The bytes are read as the server reads a body, then handed to each of
//! the three parsers; each must accept the value or refuse it with a reason, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use uma_cedar::oauth::registration::Registration;
use uma_cedar::uma::{permission, resources};

/// A fixed time, so a run is reproducible.
const NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    if let Ok(description) = resources::parse_description(body.clone()) {
        // Accepted descriptions are stored and returned as JSON.
        let _ = serde_json::to_string(&description.extensions);
    }

    if let Ok(permissions) = permission::parse_request(body.clone()) {
        assert!(
            !permissions.is_empty(),
            "an accepted request names a resource"
        );
        for (i, p) in permissions.iter().enumerate() {
            let repeated = permissions
                .iter()
                .skip(i + 1)
                .any(|q| q.resource_id == p.resource_id);
            assert!(!repeated, "repeated resources are merged");
        }
    }

    if let Value::Object(members) = body
        && let Ok(registration) = Registration::parse(members)
    {
        // The server then builds the client record. Without a secret (hashing one costs tens of
        // milliseconds and checks nothing about the input) and as a public client, so that every later
        // check on the description runs.
        let mut client = registration.into_new_client("fuzz-client".into(), None);
        client.auth_method = None;
        let _ = client.build(NOW);
    }
});
