//! Storage of the claims interaction endpoint (UMA Grant §3.3.2–§3.3.3): pending browser visits and the claims
//! gathered in them, bound to the ticket handed back to the client.
//!
//! Visits and tickets are named only by the SHA-256 of their values. The one ticket lookup here that does not
//! consume ([`InteractionStore::ticket_state`]) exists because a visit by someone who never signs in must not
//! spend the client's ticket; it reveals nothing the visitor did not already hold.

use rusqlite::{OptionalExtension, params};

use super::tickets::Consumed;
use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::uma::{Gathered, Interaction};

/// What the claims interaction endpoint stores.
pub trait InteractionStore {
    /// What consuming the ticket with this hash would find, without consuming it: `Valid` carries the ticket.
    fn ticket_state(&self, hash: &str, now: UnixTime) -> Result<Consumed>;
    /// Stores a visit, dropping the visits that ran out by `now`.
    fn insert_interaction(
        &self,
        id_hash: &str,
        interaction: &Interaction,
        now: UnixTime,
    ) -> Result<()>;
    /// The live visit with this id, if any.
    fn interaction(&self, id_hash: &str, now: UnixTime) -> Result<Option<Interaction>>;
    /// Deletes the visit; false if it was already gone (answered twice).
    fn remove_interaction(&self, id_hash: &str) -> Result<bool>;
    /// Binds claims to a (new) ticket and its client.
    fn bind_claims(&self, ticket_hash: &str, gathered: &Gathered) -> Result<()>;
    /// The claims bound to the ticket with this hash.
    fn gathered_claims(&self, ticket_hash: &str) -> Result<Option<Gathered>>;
}

impl InteractionStore for WriteTx<'_> {
    fn ticket_state(&self, hash: &str, now: UnixTime) -> Result<Consumed> {
        super::tickets::peek(self, hash, now)
    }

    fn insert_interaction(&self, id_hash: &str, i: &Interaction, now: UnixTime) -> Result<()> {
        let conn = self.conn()?;
        conn.prepare_cached("DELETE FROM claims_interactions WHERE expires_at <= ?1")?
            .execute([now])?;
        conn.prepare_cached(
            "INSERT INTO claims_interactions
             (id_hash, csrf_hash, client_id, ticket_hash, owner, redirect_uri, state, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            id_hash,
            i.csrf_hash,
            i.client_id,
            i.ticket_hash,
            i.owner,
            i.redirect_uri,
            i.state,
            i.expires_at
        ])?;
        Ok(())
    }

    fn interaction(&self, id_hash: &str, now: UnixTime) -> Result<Option<Interaction>> {
        find(self, id_hash, now)
    }

    fn remove_interaction(&self, id_hash: &str) -> Result<bool> {
        Ok(self
            .conn()?
            .prepare_cached("DELETE FROM claims_interactions WHERE id_hash = ?1")?
            .execute([id_hash])?
            > 0)
    }

    fn bind_claims(&self, ticket_hash: &str, gathered: &Gathered) -> Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO ticket_claims (ticket_hash, client_id, claims) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                ticket_hash,
                gathered.client_id,
                to_json(&gathered.claims)?
            ])?;
        Ok(())
    }

    fn gathered_claims(&self, ticket_hash: &str) -> Result<Option<Gathered>> {
        gathered(self, ticket_hash)
    }
}

/// The live visit with this id, if any.
pub(super) fn find(r: &ReadTx<'_>, id_hash: &str, now: UnixTime) -> Result<Option<Interaction>> {
    Ok(r.conn()?
        .prepare_cached(
            "SELECT csrf_hash, client_id, ticket_hash, owner, redirect_uri, state, expires_at
             FROM claims_interactions WHERE id_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![id_hash, now], |r| {
            Ok(Interaction {
                csrf_hash: r.get("csrf_hash")?,
                client_id: r.get("client_id")?,
                ticket_hash: r.get("ticket_hash")?,
                owner: r.get("owner")?,
                redirect_uri: r.get("redirect_uri")?,
                state: r.get("state")?,
                expires_at: r.get("expires_at")?,
            })
        })
        .optional()?)
}

/// The claims bound to the ticket with this hash.
pub(super) fn gathered(r: &ReadTx<'_>, ticket_hash: &str) -> Result<Option<Gathered>> {
    let row = r
        .conn()?
        .prepare_cached("SELECT client_id, claims FROM ticket_claims WHERE ticket_hash = ?1")?
        .query_row([ticket_hash], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    row.map(|(client_id, claims)| {
        Ok(Gathered {
            client_id,
            claims: from_json(&claims)?,
        })
    })
    .transpose()
}
