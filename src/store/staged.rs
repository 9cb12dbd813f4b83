//! Staged writes: work that decides on a snapshot and lists what it would write, applied afterwards in one short
//! write transaction.
//!
//! The UMA grant reads a ticket, decides with Cedar and signs an RPT; none of that needs the writer. A [`Staged`]
//! transaction lets such work run on a read snapshot: its reads go to the snapshot, and the writes it asks for are
//! recorded instead of run. [`Store::write_staged`](super::Store::write_staged) then applies the recorded writes
//! in one write transaction, where the one condition the decision rests on is checked again: a ticket consumed
//! on the snapshot must still be unused and live when its consumption is applied.
//!
//! What this module must never do:
//! - keep anything of a staged attempt whose ticket was spent meanwhile (the whole attempt is rolled back and the
//!   caller must run the work again in a real write transaction, which sees the ticket spent);
//! - pretend to run a write it cannot stage: such a write marks the attempt for a rerun and stops the work with
//!   [`StoreError::Unstaged`].

use std::cell::{Cell, RefCell};

use super::decisions::{self, Decision};
use super::interaction::{self, Gathered, Interaction, InteractionStore};
use super::outbox::{Attempt, NewEvent};
use super::pcts::{self, Pct};
use super::requests::{AccessRequest, RequestState};
use super::rpts::{self, GrantedPermission, Rpt};
use super::tickets::{self, Consumed, Ticket};
use super::traits::{DecisionLog, OutboxStore, PctStore, RequestStore, RptStore, TicketStore};
use super::{ReadTx, Result, StoreError, WriteTx};
use crate::clock::UnixTime;

/// A write recorded by a [`Staged`] transaction, in the order it was asked for.
#[derive(Debug)]
pub(super) enum Op {
    /// Consume the ticket; the attempt fails unless it is still unused and live at `now`.
    Consume {
        hash: String,
        now: UnixTime,
    },
    InsertTicket(Ticket),
    LinkTicketRpt {
        hash: String,
        jti: String,
    },
    InsertRpt(Rpt),
    RevokeRpt(String),
    InsertPct(Pct),
    RecordDecision(Decision),
}

/// A read snapshot that records writes instead of running them. Read traits answer from the snapshot; write
/// traits record (or, for writes that cannot be staged, mark the attempt for a rerun).
#[derive(Debug)]
pub struct Staged<'s> {
    read: ReadTx<'s>,
    ops: RefCell<Vec<Op>>,
    /// The first write asked for that cannot be staged, if any.
    unstaged: Cell<Option<&'static str>>,
}

/// What became of staged work.
#[derive(Debug)]
#[must_use = "a retry must run the work again in a write transaction"]
pub enum Applied<T, E> {
    /// Its writes were kept (or it had none, or it rolled back): this is the answer.
    Answer(std::result::Result<T, E>),
    /// Nothing was kept: the work asked for a write that cannot be staged, or a ticket it consumed was spent
    /// meanwhile. Run it again in a write transaction.
    Retry,
}

impl<'s> Staged<'s> {
    pub(super) fn new(read: ReadTx<'s>) -> Self {
        Self {
            read,
            ops: RefCell::new(Vec::new()),
            unstaged: Cell::new(None),
        }
    }

    /// The snapshot, for the read traits.
    pub(super) fn reader(&self) -> &ReadTx<'s> {
        &self.read
    }

    /// Ends the snapshot; returns the recorded writes, or `None` if the work must run again for real.
    pub(super) fn finish(self) -> Option<Vec<Op>> {
        match self.unstaged.get() {
            Some(_) => None,
            None => Some(self.ops.into_inner()),
        }
    }

    fn stage(&self, op: Op) -> Result<()> {
        self.ops.borrow_mut().push(op);
        Ok(())
    }

    fn refuse<T>(&self, what: &'static str) -> Result<T> {
        if self.unstaged.get().is_none() {
            self.unstaged.set(Some(what));
        }
        Err(StoreError::Unstaged(what))
    }
}

/// Runs `ops` in `tx`, in order. False when a consumed ticket was spent meanwhile (the caller rolls back).
pub(super) fn apply(tx: &WriteTx<'_>, ops: &[Op]) -> Result<bool> {
    for op in ops {
        match op {
            Op::Consume { hash, now } => {
                if !matches!(tickets::consume(tx, hash, *now)?, Consumed::Valid(_)) {
                    return Ok(false);
                }
            }
            Op::InsertTicket(ticket) => tickets::insert(tx, ticket)?,
            Op::LinkTicketRpt { hash, jti } => tickets::link_rpt(tx, hash, jti)?,
            Op::InsertRpt(rpt) => rpts::insert(tx, rpt)?,
            Op::RevokeRpt(jti) => {
                rpts::revoke(tx, jti)?;
            }
            Op::InsertPct(pct) => pcts::insert(tx, pct)?,
            Op::RecordDecision(decision) => decisions::record(tx, decision)?,
        }
    }
    Ok(true)
}

impl TicketStore for Staged<'_> {
    fn insert_ticket(&self, ticket: &Ticket) -> Result<()> {
        self.stage(Op::InsertTicket(ticket.clone()))
    }
    fn consume_ticket(&self, hash: &str, now: UnixTime) -> Result<Consumed> {
        // Consuming changes nothing but a live ticket, so only that is staged (and checked again).
        let found = tickets::peek(&self.read, hash, now)?;
        if let Consumed::Valid(_) = found {
            self.stage(Op::Consume {
                hash: hash.to_owned(),
                now,
            })?;
        }
        Ok(found)
    }
    fn link_ticket_rpt(&self, hash: &str, jti: &str) -> Result<()> {
        self.stage(Op::LinkTicketRpt {
            hash: hash.to_owned(),
            jti: jti.to_owned(),
        })
    }
    fn ticket_rpt(&self, hash: &str) -> Result<Option<String>> {
        tickets::issued_rpt(&self.read, hash)
    }
}

impl RptStore for Staged<'_> {
    fn insert_rpt(&self, rpt: &Rpt) -> Result<()> {
        self.stage(Op::InsertRpt(rpt.clone()))
    }
    fn revoke_rpt(&self, jti: &str) -> Result<bool> {
        // An RPT is never deleted before it expires, so one seen on the snapshot is still there to revoke.
        let found = rpts::get(&self.read, jti)?.is_some();
        self.stage(Op::RevokeRpt(jti.to_owned()))?;
        Ok(found)
    }
    fn set_rpt_permissions(&self, _: &str, _: &[GrantedPermission]) -> Result<()> {
        self.refuse("set_rpt_permissions")
    }
}

impl PctStore for Staged<'_> {
    fn insert_pct(&self, pct: &Pct) -> Result<()> {
        self.stage(Op::InsertPct(pct.clone()))
    }
    fn revoke_pct(&self, _: &str) -> Result<bool> {
        self.refuse("revoke_pct")
    }
}

impl DecisionLog for Staged<'_> {
    fn record_decision(&self, decision: &Decision) -> Result<()> {
        self.stage(Op::RecordDecision(decision.clone()))
    }
}

impl RequestStore for Staged<'_> {
    fn insert_access_request(&self, _: &AccessRequest) -> Result<()> {
        self.refuse("insert_access_request")
    }
    fn link_request_ticket(&self, _: &str, _: &str, _: UnixTime) -> Result<()> {
        self.refuse("link_request_ticket")
    }
    fn decide_access_request(
        &self,
        _: &str,
        _: &str,
        _: RequestState,
        _: UnixTime,
    ) -> Result<bool> {
        self.refuse("decide_access_request")
    }
}

impl OutboxStore for Staged<'_> {
    fn enqueue_event(&self, _: &NewEvent) -> Result<String> {
        self.refuse("enqueue_event")
    }
    fn fan_out(&self, _: &str, _: &[String], _: UnixTime) -> Result<()> {
        self.refuse("fan_out")
    }
    fn record_attempt(&self, _: &str, _: &str, _: &Attempt, _: UnixTime) -> Result<bool> {
        self.refuse("record_attempt")
    }
    fn purge_outbox(&self, _: UnixTime) -> Result<usize> {
        self.refuse("purge_outbox")
    }
}

impl InteractionStore for Staged<'_> {
    fn ticket_state(&self, hash: &str, now: UnixTime) -> Result<Consumed> {
        tickets::peek(&self.read, hash, now)
    }
    fn insert_interaction(&self, _: &str, _: &Interaction, _: UnixTime) -> Result<()> {
        self.refuse("insert_interaction")
    }
    fn interaction(&self, id_hash: &str, now: UnixTime) -> Result<Option<Interaction>> {
        interaction::find(&self.read, id_hash, now)
    }
    fn remove_interaction(&self, _: &str) -> Result<bool> {
        self.refuse("remove_interaction")
    }
    fn bind_claims(&self, _: &str, _: &Gathered) -> Result<()> {
        self.refuse("bind_claims")
    }
    fn gathered_claims(&self, ticket_hash: &str) -> Result<Option<Gathered>> {
        interaction::gathered(&self.read, ticket_hash)
    }
}
