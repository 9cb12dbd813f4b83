//! The narrow storage interfaces the UMA domain works against, one per feature, with no SQL type in them.
//!
//! Read interfaces (`*Read`) are implemented by both [`ReadTx`] and [`WriteTx`]; write interfaces only by
//! [`WriteTx`], so nothing can change the database outside a write transaction, and by
//! [`Staged`](super::Staged), which only records writes for a later write transaction to apply. Every method runs inside the
//! transaction it is called on. A future store (PostgreSQL, say) implements the same traits on its own
//! transaction types and must pass the contract suite in `store::contract`.
//!
//! What these interfaces must never offer: a resource lookup that does not name both its owner and its
//! resource server, a ticket lookup that does not consume (but for the claims interaction endpoint's, in
//! [`super::interaction`]), or any way to read a secret in clear (callers pass
//! SHA-256 hashes).

use std::collections::BTreeSet;

use super::apps::{self, ConnectedGrant};
use super::decisions::{self, Decision, DecisionFilter};
use super::outbox::{self, Attempt, Delivery, NewEvent, StoredEvent};
use super::pcts::{self, Pct};
use super::policies::{self, PolicyInfo, StoredPolicy};
use super::requests::{self, AccessRequest, RequestState};
use super::resources::{self, Description, Resource};
use super::rpts::{self, GrantedPermission, Rpt};
use super::tickets::{self, Consumed, Ticket};
use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

mod sealed {
    /// Reaches the read transaction inside either transaction type.
    pub trait Reads {
        fn reader(&self) -> &super::ReadTx<'_>;
    }
}
use sealed::Reads;

impl Reads for ReadTx<'_> {
    fn reader(&self) -> &ReadTx<'_> {
        self
    }
}

impl Reads for WriteTx<'_> {
    fn reader(&self) -> &ReadTx<'_> {
        self
    }
}

impl Reads for super::Staged<'_> {
    fn reader(&self) -> &ReadTx<'_> {
        self.reader()
    }
}

/// Permission tickets (F §4): stored by hash, consumed at most once.
pub trait TicketStore {
    fn insert_ticket(&self, ticket: &Ticket) -> Result<()>;
    /// Marks the live ticket with this hash used and returns it; two concurrent calls never both succeed.
    fn consume_ticket(&self, hash: &str, now: UnixTime) -> Result<Consumed>;
    /// Records the RPT a consumed ticket produced, for revocation on replay.
    fn link_ticket_rpt(&self, hash: &str, jti: &str) -> Result<()>;
    /// The RPT issued from the ticket with this hash, if any.
    fn ticket_rpt(&self, hash: &str) -> Result<Option<String>>;
}

/// Reading issued RPTs.
pub trait RptRead {
    fn rpt(&self, jti: &str) -> Result<Option<Rpt>>;
    /// The owner's RPTs still active at `now`.
    fn active_rpts_of_owner(&self, owner: &str, now: UnixTime) -> Result<Vec<Rpt>>;
}

/// Issuing and changing RPTs.
pub trait RptStore: RptRead {
    fn insert_rpt(&self, rpt: &Rpt) -> Result<()>;
    /// Revokes an RPT; false when there is none.
    fn revoke_rpt(&self, jti: &str) -> Result<bool>;
    /// Replaces an RPT's permissions; an RPT left with none is revoked.
    fn set_rpt_permissions(&self, jti: &str, permissions: &[GrantedPermission]) -> Result<()>;
}

/// Reading persisted claims tokens (G §3.3.5), by hash.
pub trait PctRead {
    fn pct(&self, hash: &str) -> Result<Option<Pct>>;
}

/// Issuing and revoking persisted claims tokens.
pub trait PctStore: PctRead {
    fn insert_pct(&self, pct: &Pct) -> Result<()>;
    /// Revokes a PCT; false when there is none.
    fn revoke_pct(&self, hash: &str) -> Result<bool>;
}

/// Reading registered resources (F §3). Every lookup names the owner and the resource server.
pub trait ResourceRead {
    /// The resource `id` if this owner and resource server registered it.
    fn get_scoped(&self, owner: &str, rs: &str, id: &str) -> Result<Option<Resource>>;
    /// The resources among `ids` this pair registered, in the order of `ids`; others are absent.
    fn get_many_scoped(&self, owner: &str, rs: &str, ids: &[&str]) -> Result<Vec<Resource>>;
    /// The ids of every resource this pair registered, oldest first.
    fn list_scoped(&self, owner: &str, rs: &str) -> Result<Vec<String>>;
    /// Every scope registered on any of `owner`'s resources, by any resource server.
    fn scopes_of_owner(&self, owner: &str) -> Result<BTreeSet<String>>;
}

/// Registering, replacing and deleting resources.
pub trait ResourceStore: ResourceRead {
    fn insert_resource(&self, resource: &Resource) -> Result<()>;
    /// Replaces the description of a resource this pair registered; false when there is none.
    fn replace_scoped(
        &self,
        owner: &str,
        rs: &str,
        id: &str,
        description: &Description,
        now: UnixTime,
    ) -> Result<bool>;
    /// Deletes a resource this pair registered; false when there is none.
    fn delete_scoped(&self, owner: &str, rs: &str, id: &str) -> Result<bool>;
}

/// Reading the decision log.
pub trait DecisionRead {
    /// The owner's most recent decisions, newest first, at most `limit`.
    fn decisions_of_owner(&self, owner: &str, limit: usize) -> Result<Vec<Decision>>;
    /// The owner's decisions `filter` keeps, newest first: at most `limit` after skipping `offset`.
    fn decision_page(
        &self,
        owner: &str,
        filter: &DecisionFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Decision>>;
}

/// Appending to the decision log.
pub trait DecisionLog: DecisionRead {
    fn record_decision(&self, decision: &Decision) -> Result<()>;
}

/// Reading owners' policy sources.
pub trait PolicyRead {
    /// True when `owner` names a user or a client.
    fn owner_exists(&self, owner: &str) -> Result<bool>;
    fn policy(&self, owner: &str, name: &str) -> Result<Option<StoredPolicy>>;
    fn list_policies(&self, owner: &str) -> Result<Vec<PolicyInfo>>;
    /// The (name, text) of each of `owner`'s policies, by name.
    fn policy_texts(&self, owner: &str) -> Result<Vec<(String, String)>>;
    /// The version of `owner`'s policy set, bumped by every change; 0 before any.
    fn policy_version(&self, owner: &str) -> Result<i64>;
    /// The version of `owner`'s policy set and the fingerprint of the schema the set was validated against at
    /// that version, if it was (see [`PolicyStore::mark_policies_checked`]); one primary-key read.
    fn policy_state(&self, owner: &str) -> Result<(i64, Option<String>)>;
    /// Every owner with at least one policy.
    fn policy_owners(&self) -> Result<Vec<String>>;
}

/// Writing owners' policy sources (validated by the caller in the same transaction).
pub trait PolicyStore: PolicyRead {
    /// Stores or replaces `owner`'s policy `name`; true when it replaced one.
    fn put_policy(&self, owner: &str, name: &str, text: &str, now: UnixTime) -> Result<bool>;
    /// Removes `owner`'s policy `name`; false when there is none.
    fn remove_policy(&self, owner: &str, name: &str) -> Result<bool>;
    /// Records that `owner`'s whole set, as it is now, validates against the schema with this fingerprint.
    /// Any later change to the set forgets it.
    fn mark_policies_checked(&self, owner: &str, schema: &str) -> Result<()>;
    /// As [`PolicyStore::mark_policies_checked`] for the set at `version`, validated outside this transaction:
    /// nothing is recorded if the set has changed since. True when it was recorded.
    fn mark_policies_checked_at(&self, owner: &str, version: i64, schema: &str) -> Result<bool>;
}

impl TicketStore for WriteTx<'_> {
    fn insert_ticket(&self, ticket: &Ticket) -> Result<()> {
        tickets::insert(self, ticket)
    }
    fn consume_ticket(&self, hash: &str, now: UnixTime) -> Result<Consumed> {
        tickets::consume(self, hash, now)
    }
    fn link_ticket_rpt(&self, hash: &str, jti: &str) -> Result<()> {
        tickets::link_rpt(self, hash, jti)
    }
    fn ticket_rpt(&self, hash: &str) -> Result<Option<String>> {
        tickets::issued_rpt(self, hash)
    }
}

impl<T: Reads> RptRead for T {
    fn rpt(&self, jti: &str) -> Result<Option<Rpt>> {
        rpts::get(self.reader(), jti)
    }
    fn active_rpts_of_owner(&self, owner: &str, now: UnixTime) -> Result<Vec<Rpt>> {
        rpts::active_for_owner(self.reader(), owner, now)
    }
}

impl RptStore for WriteTx<'_> {
    fn insert_rpt(&self, rpt: &Rpt) -> Result<()> {
        rpts::insert(self, rpt)
    }
    fn revoke_rpt(&self, jti: &str) -> Result<bool> {
        rpts::revoke(self, jti)
    }
    fn set_rpt_permissions(&self, jti: &str, permissions: &[GrantedPermission]) -> Result<()> {
        rpts::set_permissions(self, jti, permissions)
    }
}

impl<T: Reads> PctRead for T {
    fn pct(&self, hash: &str) -> Result<Option<Pct>> {
        pcts::find(self.reader(), hash)
    }
}

impl PctStore for WriteTx<'_> {
    fn insert_pct(&self, pct: &Pct) -> Result<()> {
        pcts::insert(self, pct)
    }
    fn revoke_pct(&self, hash: &str) -> Result<bool> {
        pcts::revoke(self, hash)
    }
}

impl<T: Reads> ResourceRead for T {
    fn get_scoped(&self, owner: &str, rs: &str, id: &str) -> Result<Option<Resource>> {
        resources::get(self.reader(), id, owner, rs)
    }
    fn get_many_scoped(&self, owner: &str, rs: &str, ids: &[&str]) -> Result<Vec<Resource>> {
        resources::get_many(self.reader(), ids, owner, rs)
    }
    fn list_scoped(&self, owner: &str, rs: &str) -> Result<Vec<String>> {
        resources::list(self.reader(), owner, rs)
    }
    fn scopes_of_owner(&self, owner: &str) -> Result<BTreeSet<String>> {
        resources::scopes_of_owner(self.reader(), owner)
    }
}

impl ResourceStore for WriteTx<'_> {
    fn insert_resource(&self, resource: &Resource) -> Result<()> {
        resources::insert(self, resource)
    }
    fn replace_scoped(
        &self,
        owner: &str,
        rs: &str,
        id: &str,
        description: &Description,
        now: UnixTime,
    ) -> Result<bool> {
        resources::replace(self, id, owner, rs, description, now)
    }
    fn delete_scoped(&self, owner: &str, rs: &str, id: &str) -> Result<bool> {
        resources::delete(self, id, owner, rs)
    }
}

impl<T: Reads> DecisionRead for T {
    fn decisions_of_owner(&self, owner: &str, limit: usize) -> Result<Vec<Decision>> {
        decisions::list_for_owner(self.reader(), owner, limit)
    }
    fn decision_page(
        &self,
        owner: &str,
        filter: &DecisionFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Decision>> {
        decisions::page_for_owner(self.reader(), owner, filter, offset, limit)
    }
}

impl DecisionLog for WriteTx<'_> {
    fn record_decision(&self, decision: &Decision) -> Result<()> {
        decisions::record(self, decision)
    }
}

impl<T: Reads> PolicyRead for T {
    fn owner_exists(&self, owner: &str) -> Result<bool> {
        policies::owner_exists(self.reader(), owner)
    }
    fn policy(&self, owner: &str, name: &str) -> Result<Option<StoredPolicy>> {
        policies::get(self.reader(), owner, name)
    }
    fn list_policies(&self, owner: &str) -> Result<Vec<PolicyInfo>> {
        policies::list(self.reader(), owner)
    }
    fn policy_texts(&self, owner: &str) -> Result<Vec<(String, String)>> {
        policies::texts(self.reader(), owner)
    }
    fn policy_version(&self, owner: &str) -> Result<i64> {
        policies::version(self.reader(), owner)
    }
    fn policy_state(&self, owner: &str) -> Result<(i64, Option<String>)> {
        policies::state(self.reader(), owner)
    }
    fn policy_owners(&self) -> Result<Vec<String>> {
        policies::owners(self.reader())
    }
}

impl PolicyStore for WriteTx<'_> {
    fn put_policy(&self, owner: &str, name: &str, text: &str, now: UnixTime) -> Result<bool> {
        policies::put(self, owner, name, text, now)
    }
    fn remove_policy(&self, owner: &str, name: &str) -> Result<bool> {
        policies::remove(self, owner, name)
    }
    fn mark_policies_checked(&self, owner: &str, schema: &str) -> Result<()> {
        policies::mark_checked(self, owner, schema)
    }
    fn mark_policies_checked_at(&self, owner: &str, version: i64, schema: &str) -> Result<bool> {
        policies::mark_checked_at(self, owner, version, schema)
    }
}

/// Reading requests held for owners' decisions (G §3.3.6).
pub trait RequestRead {
    fn access_request(&self, id: &str) -> Result<Option<AccessRequest>>;
    /// The owner's requests, newest first, at most `limit`.
    fn access_requests_of_owner(&self, owner: &str, limit: usize) -> Result<Vec<AccessRequest>>;
    /// The pending, unexpired request of the same owner, resource server, resource, party and scopes as
    /// `like`, if any: a new one would duplicate it.
    fn pending_duplicate(
        &self,
        like: &AccessRequest,
        now: UnixTime,
    ) -> Result<Option<AccessRequest>>;
    /// The requests the ticket with this hash was handed out for, each with when.
    fn requests_of_ticket(&self, ticket_hash: &str) -> Result<Vec<(AccessRequest, UnixTime)>>;
}

/// Holding requests and deciding them.
pub trait RequestStore: RequestRead {
    fn insert_access_request(&self, request: &AccessRequest) -> Result<()>;
    /// Records that the ticket with this hash was handed out at `issued_at` to poll the request.
    fn link_request_ticket(
        &self,
        ticket_hash: &str,
        request_id: &str,
        issued_at: UnixTime,
    ) -> Result<()>;
    /// Decides `owner`'s pending, unexpired request `id`; false when there is none such.
    fn decide_access_request(
        &self,
        owner: &str,
        id: &str,
        state: RequestState,
        now: UnixTime,
    ) -> Result<bool>;
}

impl<T: Reads> RequestRead for T {
    fn access_request(&self, id: &str) -> Result<Option<AccessRequest>> {
        requests::get(self.reader(), id)
    }
    fn access_requests_of_owner(&self, owner: &str, limit: usize) -> Result<Vec<AccessRequest>> {
        requests::of_owner(self.reader(), owner, limit)
    }
    fn pending_duplicate(
        &self,
        like: &AccessRequest,
        now: UnixTime,
    ) -> Result<Option<AccessRequest>> {
        requests::pending_duplicate(self.reader(), like, now)
    }
    fn requests_of_ticket(&self, ticket_hash: &str) -> Result<Vec<(AccessRequest, UnixTime)>> {
        requests::of_ticket(self.reader(), ticket_hash)
    }
}

impl RequestStore for WriteTx<'_> {
    fn insert_access_request(&self, request: &AccessRequest) -> Result<()> {
        requests::insert(self, request)
    }
    fn link_request_ticket(
        &self,
        ticket_hash: &str,
        request_id: &str,
        issued_at: UnixTime,
    ) -> Result<()> {
        requests::link_ticket(self, ticket_hash, request_id, issued_at)
    }
    fn decide_access_request(
        &self,
        owner: &str,
        id: &str,
        state: RequestState,
        now: UnixTime,
    ) -> Result<bool> {
        requests::decide(self, owner, id, state, now)
    }
}

/// Reading the notification outbox.
pub trait OutboxRead {
    /// Events the worker has not fanned out to the webhooks yet, oldest first, at most `limit`.
    fn waiting_events(&self, limit: usize) -> Result<Vec<StoredEvent>>;
    /// Pending deliveries due at `now`, the longest waiting first, at most `limit`.
    fn due_deliveries(&self, now: UnixTime, limit: usize) -> Result<Vec<Delivery>>;
    /// Every delivery of one event, by webhook.
    fn deliveries_of(&self, event_id: &str) -> Result<Vec<Delivery>>;
    fn outbox_event(&self, id: &str) -> Result<Option<StoredEvent>>;
}

/// Writing the notification outbox. Events are enqueued in the transaction of the change that raises them.
pub trait OutboxStore: OutboxRead {
    /// Stores an event and returns the fresh, unguessable id it was given.
    fn enqueue_event(&self, event: &NewEvent) -> Result<String>;
    /// Writes one pending delivery per webhook (due at `now`) and marks the event fanned out.
    fn fan_out(&self, event_id: &str, webhooks: &[String], now: UnixTime) -> Result<()>;
    /// Records an attempt at a pending delivery; false when there is no such pending delivery.
    fn record_attempt(
        &self,
        event_id: &str,
        webhook: &str,
        attempt: &Attempt,
        now: UnixTime,
    ) -> Result<bool>;
    /// Deletes deliveries finished (delivered or dead) before `before`, and events left with none.
    fn purge_outbox(&self, before: UnixTime) -> Result<usize>;
}

impl<T: Reads> OutboxRead for T {
    fn waiting_events(&self, limit: usize) -> Result<Vec<StoredEvent>> {
        outbox::waiting_events(self.reader(), limit)
    }
    fn due_deliveries(&self, now: UnixTime, limit: usize) -> Result<Vec<Delivery>> {
        outbox::due(self.reader(), now, limit)
    }
    fn deliveries_of(&self, event_id: &str) -> Result<Vec<Delivery>> {
        outbox::deliveries_of(self.reader(), event_id)
    }
    fn outbox_event(&self, id: &str) -> Result<Option<StoredEvent>> {
        outbox::event(self.reader(), id)
    }
}

impl OutboxStore for WriteTx<'_> {
    fn enqueue_event(&self, event: &NewEvent) -> Result<String> {
        outbox::insert_event(self, event)
    }
    fn fan_out(&self, event_id: &str, webhooks: &[String], now: UnixTime) -> Result<()> {
        outbox::fan_out(self, event_id, webhooks, now)
    }
    fn record_attempt(
        &self,
        event_id: &str,
        webhook: &str,
        attempt: &Attempt,
        now: UnixTime,
    ) -> Result<bool> {
        outbox::record_attempt(self, event_id, webhook, attempt, now)
    }
    fn purge_outbox(&self, before: UnixTime) -> Result<usize> {
        outbox::purge(self, before)
    }
}

/// Reading a user's connected applications.
pub trait ConnectedAppRead {
    /// `owner`'s grants (as a local user) still holding an unrevoked, unexpired token at `now`, oldest first.
    fn live_grants_of_user(&self, owner: &str, now: UnixTime) -> Result<Vec<ConnectedGrant>>;
}

impl<T: Reads> ConnectedAppRead for T {
    fn live_grants_of_user(&self, owner: &str, now: UnixTime) -> Result<Vec<ConnectedGrant>> {
        apps::live_grants_of_user(self.reader(), owner, now)
    }
}
