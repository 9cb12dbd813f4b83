//! The storage contract: what any implementation of the UMA storage traits must do, as generic tests.
//!
//! Each `*_contract` function takes a factory of fresh, empty backends and fails on the first broken rule.
//! They run against SQLite below; a future store (PostgreSQL, say) implements [`Backend`] for itself and calls
//! every one of them from its own tests. The rules: a ticket is consumed at most once, even by concurrent
//! transactions; expiry is exact; a resource lookup never crosses owners or resource servers; revocation and
//! expiry of RPTs and PCTs hold; a rolled-back transaction leaves nothing behind.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Map;

use super::decisions::{Decision, DecisionFilter};
use super::interaction::{Gathered, Interaction, InteractionStore};
use super::outbox::{Attempt, DeliveryState, NewEvent};
use super::pcts::Pct;
use super::requests::{AccessRequest, RequestState};
use super::resources::{Description, Resource};
use super::rpts::{GrantedPermission, Rpt};
use super::tickets::{Consumed, Permission, Ticket};
use super::traits::*;
use crate::clock::UnixTime;

/// A store under test: how to open its transactions and seed the clients the contract uses.
pub trait Backend: Sync {
    type Write<'a>: TicketStore
        + InteractionStore
        + RptStore
        + PctStore
        + ResourceStore
        + DecisionLog
        + PolicyStore
        + RequestStore
        + OutboxStore
    where
        Self: 'a;
    type Read<'a>: RptRead
        + PctRead
        + ResourceRead
        + DecisionRead
        + PolicyRead
        + RequestRead
        + OutboxRead
    where
        Self: 'a;
    fn write(&self) -> Self::Write<'_>;
    fn commit(tx: Self::Write<'_>);
    fn read(&self) -> Self::Read<'_>;
    /// Registers a client (which can also own resources) named `id`.
    fn add_client(&self, id: &str);
}

/// The clients every contract seeds: two resource servers that also own resources, and a requesting client.
const CLIENTS: [&str; 3] = ["rs1", "rs2", "c1"];

fn seeded<B: Backend>(make: &impl Fn() -> B) -> B {
    let backend = make();
    for id in CLIENTS {
        backend.add_client(id);
    }
    backend
}

fn ticket(hash: &str, expires_at: UnixTime) -> Ticket {
    Ticket {
        hash: hash.into(),
        owner: "rs1".into(),
        client_id: "rs1".into(),
        permissions: vec![Permission {
            resource_id: "r1".into(),
            resource_scopes: vec!["view".into()],
        }],
        created_at: 100,
        expires_at,
        bound_client: None,
    }
}

fn consume<B: Backend>(backend: &B, hash: &str, now: UnixTime) -> Consumed {
    let tx = backend.write();
    let out = tx.consume_ticket(hash, now).expect("consume");
    B::commit(tx);
    out
}

/// Claims interaction: looking at a ticket never spends it; a visit lives until it expires or is removed
/// (once); claims bound to a ticket come back for that ticket only and go when the ticket goes.
pub fn interaction_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let tx = backend.write();
    tx.insert_ticket(&ticket("t1", 400)).expect("insert");
    B::commit(tx);

    let tx = backend.write();
    assert_eq!(
        tx.ticket_state("t1", 100).expect("state"),
        Consumed::Valid(ticket("t1", 400))
    );
    assert_eq!(
        tx.ticket_state("t1", 400).expect("state"),
        Consumed::Expired
    );
    assert_eq!(
        tx.ticket_state("nope", 100).expect("state"),
        Consumed::Unknown
    );
    B::commit(tx);
    assert!(
        matches!(consume(&backend, "t1", 100), Consumed::Valid(_)),
        "looking did not spend it"
    );
    let tx = backend.write();
    assert_eq!(
        tx.ticket_state("t1", 100).expect("state"),
        Consumed::AlreadyUsed
    );

    let visit = Interaction {
        csrf_hash: "c".into(),
        client_id: "c1".into(),
        ticket_hash: "t1".into(),
        owner: "rs1".into(),
        redirect_uri: "https://c1.example/claims".into(),
        state: Some("s".into()),
        expires_at: 200,
    };
    tx.insert_interaction("v1", &visit, 100).expect("insert");
    assert_eq!(tx.interaction("v1", 199).expect("get"), Some(visit.clone()));
    assert_eq!(tx.interaction("v1", 200).expect("get"), None, "expired");
    assert!(tx.remove_interaction("v1").expect("remove"));
    assert!(!tx.remove_interaction("v1").expect("remove"), "only once");
    // Storing a visit drops the ones that ran out.
    tx.insert_interaction("v2", &visit, 100).expect("insert");
    tx.insert_interaction("v3", &visit, 250).expect("insert");
    assert!(!tx.remove_interaction("v2").expect("remove"), "purged");

    tx.insert_ticket(&ticket("t2", 400)).expect("insert");
    let gathered = Gathered {
        client_id: "c1".into(),
        claims: Map::from_iter([("sub".to_owned(), "bob".into())]),
    };
    tx.bind_claims("t2", &gathered).expect("bind");
    assert_eq!(tx.gathered_claims("t2").expect("get"), Some(gathered));
    assert_eq!(tx.gathered_claims("t1").expect("get"), None);
    B::commit(tx);
}

/// Tickets: single use, exact expiry, replay recognised, rollback gives the ticket back, and concurrent
/// presentations of one ticket succeed exactly once.
pub fn ticket_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let tx = backend.write();
    tx.insert_ticket(&ticket("h1", 400)).expect("insert");
    tx.insert_ticket(&ticket("h2", 400)).expect("insert");
    tx.insert_ticket(&ticket("h3", 400)).expect("insert");
    B::commit(tx);

    assert_eq!(
        consume(&backend, "h1", 399),
        Consumed::Valid(ticket("h1", 400))
    );
    assert_eq!(consume(&backend, "h1", 399), Consumed::AlreadyUsed);
    assert_eq!(
        consume(&backend, "h2", 400),
        Consumed::Expired,
        "expires at expires_at"
    );
    assert_eq!(consume(&backend, "nope", 100), Consumed::Unknown);

    // A consumption rolled back (the rest of the grant failed) leaves the ticket usable.
    {
        let tx = backend.write();
        assert!(matches!(
            tx.consume_ticket("h3", 100).expect("consume"),
            Consumed::Valid(_)
        ));
    }
    assert!(matches!(consume(&backend, "h3", 100), Consumed::Valid(_)));

    let tx = backend.write();
    tx.link_ticket_rpt("h1", "jti-1").expect("link");
    assert_eq!(tx.ticket_rpt("h1").expect("rpt").as_deref(), Some("jti-1"));
    assert_eq!(tx.ticket_rpt("h3").expect("rpt"), None);
    B::commit(tx);

    let backend = seeded(&make);
    let tx = backend.write();
    tx.insert_ticket(&ticket("race", 400)).expect("insert");
    B::commit(tx);
    let valid = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                if matches!(consume(&backend, "race", 100), Consumed::Valid(_)) {
                    valid.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(valid.load(Ordering::SeqCst), 1, "one ticket, one success");
}

fn resource(id: &str, owner: &str, rs: &str, scopes: &[&str]) -> Resource {
    Resource {
        id: id.into(),
        owner: owner.into(),
        client_id: rs.into(),
        description: Description {
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Description::default()
        },
        created_at: 10,
        updated_at: 10,
    }
}

/// Resources: every lookup, change and deletion is scoped to its owner and resource server.
pub fn resource_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let tx = backend.write();
    tx.insert_resource(&resource("a", "rs1", "rs1", &["view"]))
        .expect("insert");
    tx.insert_resource(&resource("b", "rs2", "rs1", &["edit"]))
        .expect("insert");
    tx.insert_resource(&resource("c", "rs1", "rs2", &["print"]))
        .expect("insert");
    B::commit(tx);

    let read = backend.read();
    assert!(read.get_scoped("rs1", "rs1", "a").expect("get").is_some());
    for (owner, rs) in [("rs2", "rs1"), ("rs1", "rs2"), ("rs2", "rs2")] {
        assert_eq!(
            read.get_scoped(owner, rs, "a").expect("get"),
            None,
            "{owner}/{rs}"
        );
    }
    let many = read
        .get_many_scoped("rs1", "rs1", &["c", "a", "b", "zz"])
        .expect("many");
    assert_eq!(
        many.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(read.list_scoped("rs1", "rs1").expect("list"), ["a"]);
    assert_eq!(read.list_scoped("rs1", "rs2").expect("list"), ["c"]);
    let scopes: Vec<String> = read
        .scopes_of_owner("rs1")
        .expect("scopes")
        .into_iter()
        .collect();
    assert_eq!(
        scopes,
        ["print", "view"],
        "every RS of the owner, no other owner"
    );
    drop(read);

    let tx = backend.write();
    let new = Description {
        resource_scopes: vec!["x".into()],
        ..Description::default()
    };
    assert!(
        !tx.replace_scoped("rs2", "rs1", "a", &new, 20)
            .expect("replace")
    );
    assert!(!tx.delete_scoped("rs1", "rs2", "a").expect("delete"));
    assert!(
        tx.replace_scoped("rs1", "rs1", "a", &new, 20)
            .expect("replace")
    );
    B::commit(tx);
    let read = backend.read();
    let got = read.get_scoped("rs1", "rs1", "a").expect("get");
    assert_eq!(got.map(|r| (r.description, r.updated_at)), Some((new, 20)));
    drop(read);
    let tx = backend.write();
    assert!(tx.delete_scoped("rs1", "rs1", "a").expect("delete"));
    B::commit(tx);
    assert_eq!(
        backend.read().get_scoped("rs1", "rs1", "a").expect("get"),
        None
    );
}

fn rpt(jti: &str, expires_at: UnixTime) -> Rpt {
    Rpt {
        jti: jti.into(),
        client_id: "c1".into(),
        party: "p".into(),
        owner: "rs1".into(),
        resource_server: "rs1".into(),
        permissions: vec![GrantedPermission {
            resource_id: "a".into(),
            resource_scopes: vec!["view".into()],
            exp: expires_at,
        }],
        claims: Map::new(),
        issued_at: 100,
        expires_at,
        revoked: false,
    }
}

/// RPTs: stored and read back whole; revocation sticks; narrowing to nothing revokes; only active ones of the
/// owner are listed.
pub fn rpt_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let tx = backend.write();
    tx.insert_rpt(&rpt("j1", 500)).expect("insert");
    tx.insert_rpt(&rpt("j2", 500)).expect("insert");
    tx.insert_rpt(&rpt("j3", 150)).expect("insert");
    B::commit(tx);
    assert_eq!(backend.read().rpt("j1").expect("get"), Some(rpt("j1", 500)));
    assert_eq!(backend.read().rpt("nope").expect("get"), None);

    let tx = backend.write();
    assert!(tx.revoke_rpt("j1").expect("revoke"));
    assert!(!tx.revoke_rpt("nope").expect("revoke"));
    tx.set_rpt_permissions("j2", &[]).expect("narrow");
    B::commit(tx);
    let read = backend.read();
    let j1 = read.rpt("j1").expect("get");
    assert!(j1.is_some_and(|r| r.revoked && !r.is_active(100)));
    let j2 = read.rpt("j2").expect("get");
    assert!(
        j2.is_some_and(|r| r.revoked && r.permissions.is_empty()),
        "nothing left revokes"
    );
    assert_eq!(
        read.active_rpts_of_owner("rs1", 100)
            .expect("active")
            .iter()
            .map(|r| r.jti.as_str())
            .collect::<Vec<_>>(),
        ["j3"]
    );
    assert!(
        read.active_rpts_of_owner("rs1", 150)
            .expect("active")
            .is_empty(),
        "expired at expires_at"
    );
    assert!(
        read.active_rpts_of_owner("rs2", 100)
            .expect("active")
            .is_empty()
    );
}

/// PCTs: found by hash, expire at `expires_at`, revocation sticks.
pub fn pct_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let pct = Pct {
        hash: "ph".into(),
        client_id: "c1".into(),
        party: "p".into(),
        claims: Map::new(),
        created_at: 100,
        expires_at: 200,
        revoked: false,
    };
    let tx = backend.write();
    tx.insert_pct(&pct).expect("insert");
    B::commit(tx);
    let found = backend.read().pct("ph").expect("find");
    assert_eq!(found.as_ref(), Some(&pct));
    assert!(found.as_ref().is_some_and(|p| p.is_active(199)));
    assert!(
        found.is_some_and(|p| !p.is_active(200)),
        "expired at expires_at"
    );
    assert_eq!(backend.read().pct("other").expect("find"), None);
    let tx = backend.write();
    assert!(tx.revoke_pct("ph").expect("revoke"));
    assert!(!tx.revoke_pct("other").expect("revoke"));
    B::commit(tx);
    assert!(
        backend
            .read()
            .pct("ph")
            .expect("find")
            .is_some_and(|p| p.revoked && !p.is_active(150))
    );
}

/// The decision log keeps each owner's entries apart, newest first, up to the limit; policies stay per owner
/// and bump the owner's version on every change.
pub fn decision_and_policy_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    let decision = |owner: &str, time: UnixTime| Decision {
        time,
        owner: owner.into(),
        client_id: "c1".into(),
        party: None,
        resource_id: "a".into(),
        scopes: vec!["view".into()],
        granted: vec![],
        answer: "request_denied".into(),
        policies: vec![],
        detail: None,
        http_request_id: None,
    };
    let tx = backend.write();
    for time in [1, 3, 2] {
        tx.record_decision(&decision("rs1", time)).expect("record");
    }
    tx.record_decision(&decision("rs2", 9)).expect("record");
    assert_eq!(tx.policy_version("rs1").expect("version"), 0);
    assert!(
        !tx.put_policy("rs1", "p", "permit (principal, action, resource);", 5)
            .expect("put")
    );
    assert!(
        tx.put_policy("rs1", "p", "forbid (principal, action, resource);", 6)
            .expect("put")
    );
    B::commit(tx);
    let read = backend.read();
    let times: Vec<UnixTime> = read
        .decisions_of_owner("rs1", 2)
        .expect("list")
        .iter()
        .map(|d| d.time)
        .collect();
    assert_eq!(times, [3, 2]);
    // A page skips `offset` of the newest, and the filter keeps one resource, one answer, or both.
    let page = |filter: &DecisionFilter, offset, limit| -> Vec<UnixTime> {
        read.decision_page("rs1", filter, offset, limit)
            .expect("page")
            .iter()
            .map(|d| d.time)
            .collect()
    };
    let all = DecisionFilter::default();
    assert_eq!(page(&all, 0, 10), [3, 2, 1]);
    assert_eq!(page(&all, 1, 1), [2]);
    assert!(page(&all, 3, 10).is_empty());
    let on = |resource: Option<&str>, answer: Option<&str>| DecisionFilter {
        resource_id: resource.map(str::to_owned),
        answer: answer.map(str::to_owned),
    };
    assert_eq!(page(&on(Some("a"), None), 0, 10), [3, 2, 1]);
    assert!(page(&on(Some("b"), None), 0, 10).is_empty());
    assert_eq!(page(&on(None, Some("request_denied")), 0, 10), [3, 2, 1]);
    assert!(page(&on(Some("a"), Some("permit")), 0, 10).is_empty());
    assert_eq!(
        read.decision_page("rs2", &all, 0, 10).expect("page").len(),
        1,
        "another owner's decisions stay hers"
    );
    assert!(read.owner_exists("rs1").expect("exists"));
    assert!(!read.owner_exists("nobody").expect("exists"));
    assert!(read.policy_version("rs1").expect("version") >= 2);
    assert_eq!(read.policy_version("rs2").expect("version"), 0);
    assert_eq!(
        read.policy_texts("rs2").expect("texts"),
        Vec::<(String, String)>::new()
    );
    assert_eq!(
        read.policy("rs1", "p").expect("get").map(|p| p.text),
        Some("forbid (principal, action, resource);".to_owned())
    );
    assert_eq!(read.policy_owners().expect("owners"), ["rs1"]);
    drop(read);
    let tx = backend.write();
    assert!(
        !tx.remove_policy("rs2", "p").expect("remove"),
        "never another owner's"
    );
    assert!(tx.remove_policy("rs1", "p").expect("remove"));
    B::commit(tx);
    assert!(
        backend
            .read()
            .list_policies("rs1")
            .expect("list")
            .is_empty()
    );
}

fn new_event(owner: &str, time: UnixTime) -> NewEvent {
    NewEvent {
        kind: "policy.changed".into(),
        owner: owner.into(),
        time,
        data: r#"{"names":["p"]}"#.into(),
    }
}

/// The outbox: an event exists exactly when the transaction that enqueued it committed, ids are distinct,
/// fan-out writes one delivery per webhook once, a delivery is due only from its retry time, finished
/// deliveries are not attempted again, and purging keeps what is still pending.
pub fn outbox_contract<B: Backend>(make: impl Fn() -> B) {
    let backend = seeded(&make);
    {
        let tx = backend.write();
        tx.enqueue_event(&new_event("rs1", 10)).expect("enqueue");
        // Dropped: rolled back with the change that raised it.
    }
    assert!(
        backend
            .read()
            .waiting_events(10)
            .expect("waiting")
            .is_empty()
    );

    let tx = backend.write();
    let first = tx.enqueue_event(&new_event("rs1", 10)).expect("enqueue");
    let second = tx.enqueue_event(&new_event("rs2", 11)).expect("enqueue");
    B::commit(tx);
    assert_ne!(first, second);
    assert!(first.len() >= 32, "an unguessable id: {first}");
    let waiting = backend.read().waiting_events(10).expect("waiting");
    let ids: Vec<&str> = waiting.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()], "oldest first");
    assert_eq!(
        waiting.first().map(|e| e.data.as_str()),
        Some(r#"{"names":["p"]}"#)
    );
    assert_eq!(backend.read().waiting_events(1).expect("waiting").len(), 1);

    let hooks = ["http://a/".to_owned(), "http://b/".to_owned()];
    let tx = backend.write();
    tx.fan_out(&first, &hooks, 20).expect("fan out");
    // Fanning out again (a worker that crashed before it committed, say) adds nothing.
    tx.fan_out(&first, &hooks, 21).expect("fan out again");
    tx.fan_out(&second, &[], 20).expect("fan out to none");
    B::commit(tx);
    assert!(
        backend
            .read()
            .waiting_events(10)
            .expect("waiting")
            .is_empty()
    );
    let deliveries = backend.read().deliveries_of(&first).expect("deliveries");
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d.state == DeliveryState::Pending
        && d.attempts == 0
        && d.next_attempt_at == 20
        && d.event.owner == "rs1"));
    assert!(
        backend
            .read()
            .due_deliveries(19, 10)
            .expect("due")
            .is_empty()
    );
    assert_eq!(backend.read().due_deliveries(20, 10).expect("due").len(), 2);

    let tx = backend.write();
    let failed = Attempt::Failed {
        error: "HTTP 503".into(),
        retry_at: Some(30),
    };
    assert!(
        tx.record_attempt(&first, "http://a/", &failed, 20)
            .expect("attempt")
    );
    assert!(
        tx.record_attempt(&first, "http://b/", &Attempt::Delivered, 20)
            .expect("attempt")
    );
    assert!(
        !tx.record_attempt(&first, "http://b/", &Attempt::Delivered, 21)
            .expect("attempt"),
        "a delivered row is not attempted again"
    );
    assert!(
        !tx.record_attempt("nope", "http://a/", &Attempt::Delivered, 21)
            .expect("attempt")
    );
    B::commit(tx);
    let due: Vec<_> = backend.read().due_deliveries(29, 10).expect("due");
    assert!(due.is_empty(), "not before its retry time");
    let due = backend.read().due_deliveries(30, 10).expect("due");
    assert_eq!(due.len(), 1);
    let again = due.first().expect("one");
    assert_eq!(again.webhook, "http://a/");
    assert_eq!(again.attempts, 1);
    assert_eq!(again.last_error.as_deref(), Some("HTTP 503"));

    let tx = backend.write();
    let dead = Attempt::Failed {
        error: "HTTP 500".into(),
        retry_at: None,
    };
    assert!(
        tx.record_attempt(&first, "http://a/", &dead, 30)
            .expect("attempt")
    );
    B::commit(tx);
    let states: Vec<DeliveryState> = backend
        .read()
        .deliveries_of(&first)
        .expect("deliveries")
        .iter()
        .map(|d| d.state)
        .collect();
    assert_eq!(states, [DeliveryState::Dead, DeliveryState::Delivered]);
    assert!(
        backend
            .read()
            .due_deliveries(1_000, 10)
            .expect("due")
            .is_empty()
    );

    // A pending delivery survives purging; finished ones and their event go once old enough.
    let tx = backend.write();
    let third = tx.enqueue_event(&new_event("rs1", 40)).expect("enqueue");
    tx.fan_out(&third, std::slice::from_ref(&hooks[0]), 40)
        .expect("fan out");
    B::commit(tx);
    let tx = backend.write();
    assert_eq!(
        tx.purge_outbox(25).expect("purge"),
        2,
        "the delivery finished at 20, and the event fanned out to no webhook"
    );
    B::commit(tx);
    let tx = backend.write();
    tx.purge_outbox(1_000).expect("purge");
    B::commit(tx);
    let read = backend.read();
    assert_eq!(read.outbox_event(&first).expect("event"), None);
    assert_eq!(read.outbox_event(&second).expect("event"), None);
    assert!(read.outbox_event(&third).expect("event").is_some());
    assert_eq!(read.deliveries_of(&third).expect("deliveries").len(), 1);
}

/// The SQLite store runs the whole contract.
mod sqlite {
    use super::super::testing::{public_client, temp_store};
    use super::super::{ReadTx, Store, WriteTx, clients};
    use super::*;

    struct Sqlite {
        _dir: tempfile::TempDir,
        store: Store,
    }

    impl Backend for Sqlite {
        type Write<'a> = WriteTx<'a>;
        type Read<'a> = ReadTx<'a>;

        fn write(&self) -> WriteTx<'_> {
            self.store.begin_write().expect("begin write")
        }
        fn commit(tx: WriteTx<'_>) {
            tx.commit().expect("commit");
        }
        fn read(&self) -> ReadTx<'_> {
            self.store.begin_read().expect("begin read")
        }
        fn add_client(&self, id: &str) {
            self.store
                .write(|tx| clients::insert(tx, &public_client(id)))
                .expect("client");
        }
    }

    fn make() -> Sqlite {
        let (dir, store) = temp_store();
        Sqlite { _dir: dir, store }
    }

    #[test]
    fn interactions() {
        interaction_contract(make);
    }

    #[test]
    fn tickets() {
        ticket_contract(make);
    }

    #[test]
    fn resources() {
        resource_contract(make);
    }

    #[test]
    fn rpts() {
        rpt_contract(make);
    }

    #[test]
    fn pcts() {
        pct_contract(make);
    }

    #[test]
    fn requests() {
        request_contract(make);
    }

    #[test]
    fn decisions_and_policies() {
        decision_and_policy_contract(make);
    }

    #[test]
    fn outbox() {
        outbox_contract(make);
    }
}
fn held(id: &str, owner: &str, scopes: &[&str]) -> AccessRequest {
    AccessRequest {
        id: id.into(),
        owner: owner.into(),
        resource_server: owner.into(),
        resource_id: "r1".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        party: r#"["https://as.example","bob"]"#.into(),
        claims: Map::new(),
        client_id: "c1".into(),
        created_at: 100,
        expires_at: 200,
        state: RequestState::Pending,
        decided_at: None,
    }
}

/// Held requests: duplicates are found only while pending and unexpired, a decision is taken once, only by
/// the request's owner, and only before expiry; tickets link to their requests.
pub fn request_contract<B: Backend>(make: impl Fn() -> B) {
    let b = seeded(&make);
    let tx = b.write();
    tx.insert_access_request(&held("q1", "rs1", &["view"]))
        .expect("insert");
    tx.insert_access_request(&held("q2", "rs2", &["view"]))
        .expect("insert");
    tx.link_request_ticket("h1", "q1", 150).expect("link");
    B::commit(tx);

    let r = b.read();
    let like = held("new", "rs1", &["view"]);
    assert_eq!(
        r.pending_duplicate(&like, 150).expect("dup").map(|q| q.id),
        Some("q1".into())
    );
    assert!(
        r.pending_duplicate(&like, 200).expect("dup").is_none(),
        "expired: no duplicate"
    );
    assert!(
        r.pending_duplicate(&held("new", "rs1", &["edit", "view"]), 150)
            .expect("dup")
            .is_none()
    );
    assert_eq!(
        r.access_requests_of_owner("rs1", 10).expect("list").len(),
        1
    );
    let linked = r.requests_of_ticket("h1").expect("linked");
    assert_eq!(linked.len(), 1);
    assert!(linked.iter().all(|(q, at)| q.id == "q1" && *at == 150));
    assert!(r.requests_of_ticket("h2").expect("none").is_empty());
    drop(r);

    let tx = b.write();
    assert!(
        !tx.decide_access_request("rs2", "q1", RequestState::Approved, 150)
            .expect("decide"),
        "another owner cannot decide it"
    );
    assert!(
        !tx.decide_access_request("rs1", "q1", RequestState::Approved, 200)
            .expect("decide"),
        "an expired request cannot be decided"
    );
    assert!(
        tx.decide_access_request("rs1", "q1", RequestState::Denied, 150)
            .expect("decide")
    );
    assert!(
        !tx.decide_access_request("rs1", "q1", RequestState::Approved, 151)
            .expect("decide"),
        "decided once"
    );
    B::commit(tx);
    let q1 = b.read().access_request("q1").expect("get").expect("stored");
    assert_eq!((q1.state, q1.decided_at), (RequestState::Denied, Some(150)));
    assert!(
        b.read()
            .pending_duplicate(&like, 150)
            .expect("dup")
            .is_none(),
        "decided: no duplicate"
    );
}
