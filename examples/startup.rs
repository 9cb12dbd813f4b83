//! Times start-up against the number of owners with stored policies: for each count given, it stores that
//! many users with one sharing policy each (through the store directly, in one transaction), then times
//! opening the store alone and opening the whole application (what `serve` does before it listens), and the
//! first decision for one owner (when that owner's set is parsed, and validated if it was not written by a
//! push under this schema). The data directory is a temporary one, removed at the end.
//!
//! ```text
//! cargo run --release --example startup -- 10000 100000
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a measuring program stops at the first surprise and prints its figures"
)]

use std::sync::Arc;
use std::time::Instant;

use uma_cedar::clock::SystemClock;
use uma_cedar::config::Settings;
use uma_cedar::store::users::{self, User};
use uma_cedar::store::{PolicyStore, Store, StoreError};

const POLICY: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "friend@example.com" };"#;

/// Owners stored per write transaction.
const CHUNK: usize = 10_000;

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number of owners"))
        .collect();
    let counts = if counts.is_empty() {
        vec![10_000, 100_000]
    } else {
        counts
    };
    println!("owners\tStore::open\tapp::open\tfirst decision set");
    for count in counts {
        measure(count);
    }
}

fn measure(count: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // The first open generates the signing key: not part of what is timed.
    drop(uma_cedar::app::open(Settings::for_data_dir(&data), Arc::new(SystemClock)).expect("open"));
    {
        let store = Store::open(&data).expect("store");
        let mut done = 0;
        while done < count {
            let end = (done + CHUNK).min(count);
            store
                .write(|tx| {
                    for i in done..end {
                        let username = format!("owner{i:07}");
                        users::insert(
                            tx,
                            &User {
                                username: username.clone(),
                                password_hash: "$argon2id$unused".into(),
                                email: None,
                                name: None,
                                created_at: 0,
                            },
                        )?;
                        tx.put_policy(&username, "friend", POLICY, 0)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .expect("seed");
            done = end;
        }
    }
    let started = Instant::now();
    drop(Store::open(&data).expect("store"));
    let store_open = started.elapsed();
    let started = Instant::now();
    let state =
        uma_cedar::app::open(Settings::for_data_dir(&data), Arc::new(SystemClock)).expect("open");
    let app_open = started.elapsed();
    let started = Instant::now();
    let compiled = state
        .policies
        .compiled_for(&state.store, "owner0000000")
        .expect("compile");
    let first = started.elapsed();
    assert_eq!(compiled.len(), 1);
    println!(
        "{count}\t{:.3} s\t{:.3} s\t{:.3} ms",
        store_open.as_secs_f64(),
        app_open.as_secs_f64(),
        first.as_secs_f64() * 1e3
    );
}
