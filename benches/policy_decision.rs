//! Criterion benchmarks of a policy decision: the cost must not grow with the policies other owners have
//! stored, since only the resource owner's set is ever handed to Cedar. Compares one other owner with 10,000
//! other owners (each with a permit-all policy), and shows the parts: the version check plus a cached
//! decision, and a decision alone. Run with `cargo bench --bench policy_decision`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use uma_cedar::owner::policies::{Policies, resource_facts};
use uma_cedar::policy::{self, Claims, PolicySchema, Source};
use uma_cedar::store::clients::{self, Client};
use uma_cedar::store::resources::{Description, Resource};
use uma_cedar::store::{PolicyStore, ResourceStore, Store, StoreError, users};

const OWNER_POLICY: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" && resource has name && resource.name == "Checking" };
forbid (principal, action, resource) when { principal has groups && principal.groups.contains("banned") };"#;

fn user(username: &str) -> users::User {
    users::User {
        username: username.into(),
        password_hash: "not-a-hash".into(),
        email: None,
        name: None,
        created_at: 0,
    }
}

/// A store where `alice` has two policies and `others` other owners each have a permit-all.
fn setup(others: usize) -> (tempfile::TempDir, Store, Resource) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("data")).expect("open");
    let checking = Resource {
        id: "checking".into(),
        owner: "alice".into(),
        client_id: "bank".into(),
        description: Description {
            resource_scopes: vec!["view".into()],
            name: Some("Checking".into()),
            ..Description::default()
        },
        created_at: 0,
        updated_at: 0,
    };
    store
        .write(|tx| {
            clients::insert(
                tx,
                &Client {
                    client_id: "bank".into(),
                    secret_hash: None,
                    auth_method: uma_cedar::oauth::AuthMethod::None,
                    client_name: None,
                    redirect_uris: vec![],
                    claims_redirect_uris: vec![],
                    grant_types: vec![],
                    metadata: serde_json::Map::new(),
                    created_at: 0,
                },
            )?;
            users::insert(tx, &user("alice"))?;
            tx.insert_resource(&checking)?;
            tx.put_policy("alice", "bob", OWNER_POLICY, 0)?;
            for i in 0..others {
                let owner = format!("owner-{i}");
                users::insert(tx, &user(&owner))?;
                tx.put_policy(
                    &owner,
                    "everyone",
                    "permit (principal, action, resource);",
                    0,
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .expect("setup");
    (dir, store, checking)
}

fn bob() -> Claims {
    let Value::Object(map) =
        json!({"iss": "https://as.example", "sub": "bob", "email": "bob@example.com"})
    else {
        unreachable!("a JSON object")
    };
    Claims::from_json(map).expect("claims")
}

fn benches(c: &mut Criterion) {
    let schema = PolicySchema::base().expect("schema");
    let claims = bob();
    let mut group = c.benchmark_group("decision with the owner's cached set");
    for others in [1usize, 10_000] {
        let (_dir, store, checking) = setup(others);
        let policies = Policies::new(schema.clone());
        // Warm the cache, and check the answer is the one we mean to time.
        let decision = policies
            .decide(
                &store,
                &checking,
                Some(&claims),
                "view",
                "app",
                1_800_000_000,
            )
            .expect("decide");
        assert!(decision.is_permit(), "{decision:?}");
        group.bench_with_input(BenchmarkId::new("other owners", others), &others, |b, _| {
            b.iter(|| {
                policies
                    .decide(
                        &store,
                        &checking,
                        Some(&claims),
                        "view",
                        "app",
                        1_800_000_000,
                    )
                    .expect("decide")
            })
        });
    }
    group.finish();

    let compiled = policy::compile(&schema, Some("alice"), &[Source::new("bob", OWNER_POLICY)]);
    let (_dir, _store, checking) = setup(0);
    let facts = resource_facts(&checking);
    let context = policy::ContextFacts {
        client_id: "app".into(),
        resource_server: "bank".into(),
        time: 1_800_000_000,
    };
    c.bench_function("decide alone: permit", |b| {
        b.iter(|| policy::decide(&compiled, Some(&claims), &facts, "view", &context))
    });
    let no_email = {
        let Value::Object(map) = json!({"iss": "https://as.example", "sub": "bob"}) else {
            unreachable!("a JSON object")
        };
        Claims::from_json(map).expect("claims")
    };
    c.bench_function("decide alone: need_info (two evaluations)", |b| {
        b.iter(|| policy::decide(&compiled, Some(&no_email), &facts, "view", &context))
    });
    c.bench_function("compile the owner's set (a cache miss)", |b| {
        b.iter(|| policy::compile(&schema, Some("alice"), &[Source::new("bob", OWNER_POLICY)]))
    });
}

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);
