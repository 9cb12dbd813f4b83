//! Time per `policy::impact` check for sets of 10, 100 and 1,000 policies (the figures in BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release --example impact_timing          # needs cvc5 on PATH (or CVC5=/path/to/cvc5)
//! ```
//!
//! Each set gives every one of N people a scope (of 5) on the resources of one name, with a forbid for every
//! tenth. `diff` compares the set with itself after one permit is broadened (one scope changes); `prove`
//! proves a never query (no one outside a group sees "therapy-notes", which a forbid guarantees). Prints the
//! median of 3 runs as a markdown table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use std::time::{Duration, Instant};

use uma_cedar::policy::impact::{self, Limits, Proof, Status};
use uma_cedar::policy::{PolicySchema, Source};

const SCOPES: [&str; 5] = ["view", "edit", "statements", "transfer", "share"];

fn set(n: usize, broaden: bool) -> Vec<Source> {
    let mut text = String::from(
        "forbid (principal, action, resource) when { resource has type && resource.type == \"therapy-notes\" };\n",
    );
    for i in 0..n {
        let scope = SCOPES[i % SCOPES.len()];
        let resource = if broaden && i == 0 {
            String::new()
        } else {
            format!(
                " && resource has name && resource.name == \"account-{}\"",
                i % 37
            )
        };
        if i % 10 == 9 {
            text.push_str(&format!(
                "forbid (principal, action == Uma::Action::\"{scope}\", resource) when {{ principal has email && principal.email == \"p{i}@example.com\" && context.client_id != \"app-{i}\" }};\n"
            ));
        } else {
            text.push_str(&format!(
                "permit (principal, action == Uma::Action::\"{scope}\", resource) when {{ principal has email && principal.email == \"p{i}@example.com\"{resource} }};\n"
            ));
        }
    }
    // Sources hold at most 64 KiB: split the set into files of 100 policies.
    text.lines()
        .collect::<Vec<_>>()
        .chunks(100)
        .enumerate()
        .map(|(k, lines)| Source::new(format!("part-{k}.cedar"), lines.join("\n")))
        .collect()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let schema = PolicySchema::base().unwrap();
    let limits = Limits {
        solver: std::env::var_os("CVC5").unwrap_or_else(|| "cvc5".into()),
        timeout: Duration::from_secs(600),
    };
    let never = vec![Source::new(
        "never.cedar",
        "permit (principal, action, resource) when { resource has type && resource.type == \"therapy-notes\" };",
    )];
    println!("| policies | scopes analysed | `diff` (one change) | `prove` (one query) |");
    println!("|---|---|---|---|");
    for n in [10, 100, 1000] {
        let old = set(n, false);
        let new = set(n, true);
        let mut diffs = Vec::new();
        let mut proofs = Vec::new();
        let mut scopes = 0;
        for _ in 0..3 {
            let start = Instant::now();
            let result = impact::compare(&schema, &old, &new, &[], &limits).unwrap();
            diffs.push(start.elapsed());
            assert_eq!(result.status, Status::Changed, "{result:#?}");
            assert_eq!(result.changes().count(), 1);
            scopes = result.scopes.len();

            let start = Instant::now();
            let result = impact::prove_never(&schema, &new, &never, &[], &limits).unwrap();
            proofs.push(start.elapsed());
            assert_eq!(result[0].proof, Proof::Proved, "{result:#?}");
        }
        println!(
            "| {n} | {scopes} | {:.0} ms | {:.0} ms |",
            median(diffs).as_secs_f64() * 1000.0,
            median(proofs).as_secs_f64() * 1000.0
        );
    }
}
