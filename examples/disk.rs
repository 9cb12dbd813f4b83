//! Shows the database size under steady load, with and without the background purge. Each round stands for ten
//! minutes of UMA grants (simulated time): it writes, per grant, what the grant path writes (a ticket, spent and
//! linked to its RPT, the RPT and a decision), then runs the housekeeping purge as the server does (unless
//! `--no-purge`), and prints the size of the database file.
//!
//! ```text
//! cargo run --release --example disk -- [--no-purge] [--rounds N] [--grants-per-round N]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a measuring program stops at the first surprise and prints its figures"
)]

use serde_json::Map;
use uma_cedar::oauth::housekeeping::{self, Retention};
use uma_cedar::oauth::registration::NewClient;
use uma_cedar::protocol::uma::{GrantedPermission, Permission, Rpt, Ticket};
use uma_cedar::store::decisions::Decision;
use uma_cedar::store::{DecisionLog, RptStore, Store, StoreError, TicketStore, clients};

/// Simulated seconds per round: the server's housekeeping period.
const ROUND_SECONDS: i64 = 600;

fn main() {
    let mut purge = true;
    let mut rounds = 12;
    let mut per_round = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-purge" => purge = false,
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            "--grants-per-round" => {
                per_round = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--grants-per-round N");
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let store = Store::open(&data).expect("store");
    let client = NewClient {
        client_id: "rs".into(),
        secret: Some("disk-secret-0123456789".into()),
        ..Default::default()
    }
    .build(0)
    .expect("client");
    store
        .write(|tx| clients::insert(tx, &client))
        .expect("client");
    // Defaults but for the decision log, which is capped so that the cap is reached within the run.
    let retention = Retention {
        decision_log_days: 90,
        decision_log_max_rows: 2 * per_round as u64,
        rpt_ttl: 300,
    };
    let mut now: i64 = 1_800_000_000;
    println!("round\tgrants so far\tdatabase MiB\tpurged rows\tpurge s");
    for round in 1..=rounds {
        store
            .write(|tx| {
                for i in 0..per_round {
                    let id = format!("{round}-{i}");
                    let at = now + i64::from(u32::try_from(i).unwrap_or(0) % 600);
                    tx.insert_ticket(&Ticket {
                        hash: format!("ticket-{id}"),
                        owner: "rs".into(),
                        client_id: "rs".into(),
                        permissions: vec![Permission {
                            resource_id: "r".into(),
                            resource_scopes: vec!["view".into()],
                        }],
                        created_at: at,
                        expires_at: at + 300,
                        bound_client: None,
                    })?;
                    tx.consume_ticket(&format!("ticket-{id}"), at)?;
                    tx.insert_rpt(&Rpt {
                        jti: format!("rpt-{id}"),
                        client_id: "rs".into(),
                        party: "[\"https://idp.example\",\"bob\"]".into(),
                        owner: "rs".into(),
                        resource_server: "rs".into(),
                        permissions: vec![GrantedPermission {
                            resource_id: "r".into(),
                            resource_scopes: vec!["view".into()],
                            exp: at + 300,
                        }],
                        claims: Map::new(),
                        issued_at: at,
                        expires_at: at + 300,
                        revoked: false,
                    })?;
                    tx.link_ticket_rpt(&format!("ticket-{id}"), &format!("rpt-{id}"))?;
                    tx.record_decision(&Decision {
                        time: at,
                        owner: "rs".into(),
                        client_id: "rs".into(),
                        party: Some("[\"https://idp.example\",\"bob\"]".into()),
                        resource_id: "r".into(),
                        scopes: vec!["view".into()],
                        granted: vec!["view".into()],
                        answer: "permit".into(),
                        policies: vec!["share#0".into()],
                        detail: None,
                        http_request_id: None,
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .expect("round");
        now += ROUND_SECONDS;
        let started = std::time::Instant::now();
        let purged = if purge {
            housekeeping::purge(&store, &retention, now).expect("purge")
        } else {
            0
        };
        let took = started.elapsed().as_secs_f64();
        let size = std::fs::metadata(store.path()).map_or(0, |m| m.len())
            + std::fs::metadata(wal(store.path())).map_or(0, |m| m.len());
        println!(
            "{round}\t{}\t{:.1}\t{purged}\t{took:.2}",
            round * per_round,
            size as f64 / (1024.0 * 1024.0)
        );
    }
}

fn wal(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}
