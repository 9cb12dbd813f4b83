//! Requests held for the owner's decision (UMA Grant §3.3.6, `request_submitted`) and the owner's side of
//! them: list, approve, deny.
//!
//! When only an owner's `@ask` permits would grant a permission, the grant holds the request: one pending
//! [`AccessRequest`] per resource (a duplicate from the same party for the same resource and scopes is merged
//! into the pending one), and a new ticket bound to it, which the client polls with. [`poll`] says what a poll
//! gets: `slow_down` sooner than the interval, `request_submitted` again while pending, `request_denied` once
//! denied, or a fresh assessment once approved, where the approval, a Cedar policy `approved-<id>` in the
//! owner's set, grants like any other permit. An expired request's ticket expires with it (`invalid_grant`).
//!
//! The two webhook events leave from one place each, queued in the transaction of the change they report:
//! `request.submitted` when a request is held (not when a duplicate is merged), `request.decided` when the
//! owner decides.
//!
//! What this module must never do: let an owner see or decide another owner's request (every lookup names
//! the owner, and answers "not found" otherwise), decide a request twice, or grant anything itself: an
//! approval only writes a policy, and Cedar decides the next poll.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::clock::UnixTime;
use crate::notify::event::{Party, RequestDecided, RequestDecision, RequestSubmitted};
use crate::notify::{self, Event};
use crate::owner::{Policies, PolicyError};
use crate::policy::{Approval, Source, approval_policy};
use crate::protocol::decisions::Decision as Logged;
use crate::protocol::requests::{AccessRequest, RequestState};
use crate::store::{
    DecisionLog, OutboxStore, RequestRead, RequestStore, Store, StoreError, WriteTx,
};

/// How many of an owner's requests a list shows, newest first.
pub const LIST_LIMIT: usize = 500;

/// The prefix of an approval policy's name; the request id follows.
pub const APPROVAL_PREFIX: &str = "approved-";

/// What a poll with a ticket handed out for held requests gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// The ticket was not handed out for a held request: assess as usual.
    NotHeld,
    /// Polled sooner than `interval` after the ticket was handed out: wait this many seconds more.
    SlowDown(i64),
    /// Some request is still pending: hand out a new ticket for these requests.
    Pending(Vec<String>),
    /// Every request was denied (or expired undecided).
    Denied,
    /// Decided, some approved: assess again; what the owner was asked and did not approve stays denied.
    Decided {
        /// The (resource, scope) pairs the owner decided, for which a held answer becomes a deny.
        decided: BTreeSet<(String, String)>,
    },
}

/// The effective state of a request at `now`: `expired` for one still pending at its expiry.
pub fn state_at(request: &AccessRequest, now: UnixTime) -> &'static str {
    match request.state {
        RequestState::Pending if now >= request.expires_at => "expired",
        state => state.as_str(),
    }
}

/// What a poll with a ticket handed out at `issued_at` for the `linked` requests gets at `now`.
pub fn poll(linked: &[(AccessRequest, UnixTime)], now: UnixTime, interval: i64) -> Poll {
    if linked.is_empty() {
        return Poll::NotHeld;
    }
    if let Some(wait) = linked
        .iter()
        .map(|(_, issued_at)| issued_at + interval - now)
        .filter(|wait| *wait > 0)
        .max()
    {
        return Poll::SlowDown(wait);
    }
    let pending: Vec<String> = linked
        .iter()
        .filter(|(r, _)| state_at(r, now) == "pending")
        .map(|(r, _)| r.id.clone())
        .collect();
    if !pending.is_empty() {
        return Poll::Pending(pending);
    }
    if linked
        .iter()
        .all(|(r, _)| r.state != RequestState::Approved)
    {
        return Poll::Denied;
    }
    Poll::Decided {
        decided: linked
            .iter()
            .flat_map(|(r, _)| r.scopes.iter().map(|s| (r.resource_id.clone(), s.clone())))
            .collect(),
    }
}

/// The requesting party of a stored request, as a notification names it: the `[iss, sub]` pair that
/// [`crate::uma::party_id`] wrote, or nothing when the stored value is not one.
fn notified_party(party: &str) -> Option<Party> {
    let (iss, sub): (String, String) = serde_json::from_str(party).ok()?;
    Some(Party { iss, sub })
}

/// THE call site of the `request.submitted` notification: a request was held (not when a duplicate was
/// merged into one already pending). The event is queued in the same transaction as the request.
fn request_held(
    tx: &impl OutboxStore,
    request: &AccessRequest,
    now: UnixTime,
) -> Result<(), StoreError> {
    log::info!(
        "request `{}` held for `{}`: {} on `{}` by client `{}`",
        request.id,
        request.owner,
        request.scopes.join(" "),
        request.resource_id,
        request.client_id
    );
    let event = Event::RequestSubmitted(RequestSubmitted {
        request_id: request.id.clone(),
        client_id: request.client_id.clone(),
        party: notified_party(&request.party),
        resource_id: request.resource_id.clone(),
        scopes: request.scopes.clone(),
    });
    notify::enqueue(tx, now, &request.owner, &event).map(drop)
}

/// THE call site of the `request.decided` notification: the owner approved or denied a request. The event
/// is queued in the same transaction as the decision.
fn request_decided(
    tx: &impl OutboxStore,
    request: &AccessRequest,
    state: RequestState,
    now: UnixTime,
) -> Result<(), StoreError> {
    log::info!(
        "request `{}` of `{}` {}",
        request.id,
        request.owner,
        state.as_str()
    );
    let (decision, policy) = match state {
        RequestState::Approved => (
            RequestDecision::Approved,
            Some(format!("{APPROVAL_PREFIX}{}", request.id)),
        ),
        _ => (RequestDecision::Denied, None),
    };
    let event = Event::RequestDecided(RequestDecided {
        request_id: request.id.clone(),
        decision,
        policy,
    });
    notify::enqueue(tx, now, &request.owner, &event).map(drop)
}

/// A held request's id from fresh random text: `r` and the text, so an id never starts with `-` and can be
/// pasted as a command-line argument (`uma-cedar requests approve ID`).
pub fn request_id(random: &str) -> String {
    format!("r{random}")
}

/// Holds `request` (its id, times and state aside, which this sets) or merges it into a pending duplicate;
/// returns the id the ticket is to be linked with. Runs inside the grant's transaction.
pub fn hold(
    tx: &(impl RequestStore + DecisionLog + OutboxStore),
    mut request: AccessRequest,
    new_id: String,
    now: UnixTime,
    ttl: i64,
) -> Result<AccessRequest, StoreError> {
    if let Some(existing) = tx.pending_duplicate(&request, now)? {
        return Ok(existing);
    }
    request.id = new_id;
    request.created_at = now;
    request.expires_at = now + ttl;
    request.state = RequestState::Pending;
    request.decided_at = None;
    tx.insert_access_request(&request)?;
    request_held(tx, &request, now)?;
    Ok(request)
}

/// A request as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestView {
    pub id: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub state: String,
    pub resource_id: String,
    pub resource_server: String,
    pub scopes: Vec<String>,
    /// The requesting party's issuer and subject.
    pub party: Value,
    /// Claims the party proved, for the owner to recognise them by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub client_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<UnixTime>,
    /// The approval policy's name, once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl RequestView {
    pub fn of(request: &AccessRequest, now: UnixTime) -> Self {
        let text = |name: &str| {
            request
                .claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            id: request.id.clone(),
            state: state_at(request, now).to_owned(),
            resource_id: request.resource_id.clone(),
            resource_server: request.resource_server.clone(),
            scopes: request.scopes.clone(),
            party: serde_json::from_str(&request.party).unwrap_or(Value::Null),
            email: text("email"),
            name: text("name"),
            client_id: request.client_id.clone(),
            created_at: request.created_at,
            expires_at: request.expires_at,
            decided_at: request.decided_at,
            policy: (request.state == RequestState::Approved)
                .then(|| format!("{APPROVAL_PREFIX}{}", request.id)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("there is no request `{0}` of yours")]
    NotFound(String),
    #[error("request `{id}` is {state} and can no longer be decided")]
    Closed { id: String, state: String },
    #[error("`until` must be later than now")]
    UntilPast,
    #[error("`until` is {0}: write a date (`2027-01-01`, midnight UTC) or an RFC 3339 time")]
    BadUntil(String),
    #[error("the approval policy was refused: {0}")]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An approval's end: a date (`2027-01-01`, midnight UTC) or an RFC 3339 time.
pub fn parse_until(text: &str) -> Result<UnixTime, RequestError> {
    let bad = || RequestError::BadUntil(crate::error::quoted(text));
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(bad)
}

/// The owner's side of held requests.
#[derive(Debug, Clone, Copy)]
pub struct OwnerRequests<'a> {
    pub store: &'a Store,
    pub policies: &'a Policies,
}

impl OwnerRequests<'_> {
    /// The owner's requests, newest first.
    pub fn list(&self, owner: &str, now: UnixTime) -> Result<Vec<RequestView>, RequestError> {
        let requests = self
            .store
            .read(|r| r.access_requests_of_owner(owner, LIST_LIMIT))?;
        Ok(requests.iter().map(|r| RequestView::of(r, now)).collect())
    }

    /// The owner's request `id`, pending at `now`.
    fn pending(&self, owner: &str, id: &str, now: UnixTime) -> Result<AccessRequest, RequestError> {
        let request = self
            .store
            .read(|r| r.access_request(id))?
            .filter(|r| r.owner == owner)
            .ok_or_else(|| RequestError::NotFound(id.to_owned()))?;
        match state_at(&request, now) {
            "pending" => Ok(request),
            state => Err(RequestError::Closed {
                id: id.to_owned(),
                state: state.to_owned(),
            }),
        }
    }

    /// Approves: writes the policy `approved-<id>` into the owner's set (validated like any policy), permitting
    /// exactly that party those scopes on that resource, until `until` if given; then marks the request
    /// approved. The next poll is granted by Cedar.
    pub fn approve(
        &self,
        owner: &str,
        id: &str,
        until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<RequestView, RequestError> {
        if until.is_some_and(|u| u <= now) {
            return Err(RequestError::UntilPast);
        }
        let request = self.pending(owner, id, now)?;
        let party: Vec<String> = serde_json::from_str(&request.party)
            .map_err(|e| StoreError::Corrupt(format!("request party: {e}")))?;
        let (Some(iss), Some(sub)) = (party.first(), party.get(1)) else {
            return Err(StoreError::Corrupt("request party is not [iss, sub]".into()).into());
        };
        let display = request
            .claims
            .get("email")
            .or_else(|| request.claims.get("name"))
            .and_then(Value::as_str);
        let text = approval_policy(&Approval {
            request_id: &request.id,
            iss,
            sub,
            display,
            client_id: &request.client_id,
            resource_id: &request.resource_id,
            scopes: &request.scopes,
            approved_at: now,
            until,
        });
        let name = format!("{APPROVAL_PREFIX}{}", request.id);
        let source = Source::new(&name, &text);
        self.finish(
            owner,
            request,
            RequestState::Approved,
            vec![name],
            now,
            |tx| {
                self.policies.push_in(tx, owner, &[source], now)?;
                Ok(())
            },
        )
    }

    /// Denies: the next poll is `request_denied`.
    pub fn deny(&self, owner: &str, id: &str, now: UnixTime) -> Result<RequestView, RequestError> {
        let request = self.pending(owner, id, now)?;
        self.finish(
            owner,
            request,
            RequestState::Denied,
            Vec::new(),
            now,
            |_| Ok(()),
        )
    }

    /// Marks the request decided, logs the decision and runs `also` (the approval's policy write), all in one
    /// transaction: the approval policy exists exactly when the request is approved.
    fn finish(
        &self,
        owner: &str,
        mut request: AccessRequest,
        state: RequestState,
        policies: Vec<String>,
        now: UnixTime,
        also: impl FnOnce(&WriteTx<'_>) -> Result<(), RequestError>,
    ) -> Result<RequestView, RequestError> {
        let decided = self.store.write(|tx| {
            if !tx.decide_access_request(owner, &request.id, state, now)? {
                return Ok(false);
            }
            also(tx)?;
            request_decided(tx, &request, state, now)?;
            tx.record_decision(&Logged {
                time: now,
                owner: owner.to_owned(),
                client_id: request.client_id.clone(),
                party: Some(request.party.clone()),
                resource_id: request.resource_id.clone(),
                scopes: request.scopes.clone(),
                granted: Vec::new(),
                answer: format!("owner_{}", state.as_str()),
                policies,
                detail: Some(format!("request {}", request.id)),
                http_request_id: None,
            })?;
            Ok::<_, RequestError>(true)
        })?;
        if !decided {
            // Decided or expired between the look-up and now.
            return Err(RequestError::Closed {
                id: request.id,
                state: "no longer pending".into(),
            });
        }
        request.state = state;
        request.decided_at = Some(now);
        Ok(RequestView::of(&request, now))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn req(id: &str, state: RequestState, scopes: &[&str]) -> AccessRequest {
        AccessRequest {
            id: id.into(),
            owner: "alice".into(),
            resource_server: "rs1".into(),
            resource_id: "r1".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            party: r#"["https://as.example","bob"]"#.into(),
            claims: Map::new(),
            client_id: "app".into(),
            created_at: 100,
            expires_at: 1_000,
            state,
            decided_at: None,
        }
    }

    #[test]
    fn polling_sooner_than_the_interval_is_slow_down() {
        let linked = [(req("q", RequestState::Pending, &["view"]), 100)];
        assert_eq!(poll(&linked, 102, 5), Poll::SlowDown(3));
        assert_eq!(poll(&linked, 105, 5), Poll::Pending(vec!["q".into()]));
        // Even a decided request is not told sooner.
        let denied = [(req("q", RequestState::Denied, &["view"]), 100)];
        assert_eq!(poll(&denied, 101, 5), Poll::SlowDown(4));
    }

    #[test]
    fn a_poll_follows_the_owners_decision() {
        assert_eq!(poll(&[], 500, 5), Poll::NotHeld);
        let denied = [(req("q", RequestState::Denied, &["view"]), 100)];
        assert_eq!(poll(&denied, 500, 5), Poll::Denied);
        let approved = [(req("q", RequestState::Approved, &["edit", "view"]), 100)];
        assert_eq!(
            poll(&approved, 500, 5),
            Poll::Decided {
                decided: BTreeSet::from([
                    ("r1".to_owned(), "edit".to_owned()),
                    ("r1".to_owned(), "view".to_owned())
                ])
            }
        );
        // One resource still pending keeps the whole ticket waiting.
        let mixed = [
            (req("a", RequestState::Approved, &["view"]), 100),
            (req("b", RequestState::Pending, &["view"]), 100),
        ];
        assert_eq!(poll(&mixed, 500, 5), Poll::Pending(vec!["b".into()]));
    }

    #[test]
    fn an_undecided_request_expires() {
        let pending = req("q", RequestState::Pending, &["view"]);
        assert_eq!(state_at(&pending, 999), "pending");
        assert_eq!(state_at(&pending, 1_000), "expired");
        assert_eq!(poll(&[(pending, 100)], 1_000, 5), Poll::Denied);
    }

    /// Webhook events leave in the transaction of the change: one `request.submitted` when a request is held
    /// (none for a merged duplicate), one `request.decided` when the owner decides.
    #[test]
    fn holding_and_deciding_queue_their_webhook_events() {
        use crate::policy::PolicySchema;
        use crate::store::OutboxRead;
        use crate::store::clients;
        use crate::store::testing::{public_client, temp_store};

        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(tx, &public_client("alice"))?;
                clients::insert(tx, &public_client("app"))
            })
            .expect("principals");
        let held = store
            .write(|tx| {
                hold(
                    tx,
                    req("", RequestState::Pending, &["view"]),
                    "q1".into(),
                    100,
                    600,
                )
            })
            .expect("hold");
        assert_eq!(held.id, "q1");
        let merged = store
            .write(|tx| {
                hold(
                    tx,
                    req("", RequestState::Pending, &["view"]),
                    "q2".into(),
                    110,
                    600,
                )
            })
            .expect("hold again");
        assert_eq!(merged.id, "q1", "a duplicate joins the pending request");
        let events = store.read(|r| r.waiting_events(10)).expect("events");
        assert_eq!(events.len(), 1, "a merged duplicate raises nothing");
        let first = events.first().expect("one event");
        assert_eq!(first.kind, "request.submitted");
        assert_eq!(first.owner, "alice");
        let data: Value = serde_json::from_str(&first.data).expect("json");
        assert_eq!(data["request_id"], "q1");
        assert_eq!(data["party"]["sub"], "bob");
        assert_eq!(data["party"]["iss"], "https://as.example");
        assert_eq!(data["scopes"], serde_json::json!(["view"]));

        let policies = Policies::new(PolicySchema::base().expect("schema"));
        let owner = OwnerRequests {
            store: &store,
            policies: &policies,
        };
        owner.deny("alice", "q1", 200).expect("deny");
        let events = store.read(|r| r.waiting_events(10)).expect("events");
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["request.submitted", "request.decided"]);
        let decided: Value =
            serde_json::from_str(&events.get(1).expect("second").data).expect("json");
        assert_eq!(decided["request_id"], "q1");
        assert_eq!(decided["decision"], "denied");
    }

    /// Random text may start with `-`; an id the owner pastes into `requests approve ID` never does.
    #[test]
    fn request_ids_never_start_with_a_hyphen() {
        assert_eq!(request_id("-aMRb"), "r-aMRb");
        assert!(!request_id("-x").starts_with('-'));
        assert!(
            crate::owner::policies::check_name(&format!("{APPROVAL_PREFIX}{}", request_id("-_x9")))
                .is_ok()
        );
    }
}
