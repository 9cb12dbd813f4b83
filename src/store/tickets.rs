//! Permission tickets (Federated Authorization §4; UMA Grant §5.4, §5.5): what a resource server asked for on
//! behalf of one resource owner, handed to the client as an unguessable single-use string.
//!
//! A ticket is looked up only by the SHA-256 of its value; the clear ticket must never be stored. Consumption is
//! one conditional `UPDATE`, so two concurrent presentations of the same ticket can never both succeed.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::uma::{Consumed, Permission, Ticket};

pub(super) fn insert(tx: &WriteTx<'_>, ticket: &Ticket) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO tickets (hash, owner, client_id, permissions, created_at, expires_at, bound_client)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![
            ticket.hash,
            ticket.owner,
            ticket.client_id,
            to_json(&ticket.permissions)?,
            ticket.created_at,
            ticket.expires_at,
            ticket.bound_client,
        ],
    )?;
    Ok(())
}

/// Marks the ticket with this hash used, if it is live at `now`, and returns it. Call it in the transaction that
/// stores what the ticket produces, so a failure later in that transaction gives the ticket back.
///
/// A ticket both used and expired reports `AlreadyUsed`: a replay is the more useful thing to know.
pub(super) fn consume(tx: &WriteTx<'_>, hash: &str, now: UnixTime) -> Result<Consumed> {
    let taken = tx
        .conn()?
        .prepare_cached(
            "UPDATE tickets SET used = 1 WHERE hash = ?1 AND used = 0 AND expires_at > ?2
             RETURNING owner, client_id, permissions, created_at, expires_at, bound_client",
        )?
        .query_row(params![hash, now], |r| {
            Ok((
                r.get::<_, String>("owner")?,
                r.get::<_, String>("client_id")?,
                r.get::<_, String>("permissions")?,
                r.get::<_, UnixTime>("created_at")?,
                r.get::<_, UnixTime>("expires_at")?,
                r.get::<_, Option<String>>("bound_client")?,
            ))
        })
        .optional()?;
    if let Some((owner, client_id, permissions, created_at, expires_at, bound_client)) = taken {
        return Ok(Consumed::Valid(Ticket {
            hash: hash.to_owned(),
            owner,
            client_id,
            permissions: from_json(&permissions)?,
            created_at,
            expires_at,
            bound_client,
        }));
    }
    let state = tx
        .conn()?
        .prepare_cached("SELECT used FROM tickets WHERE hash = ?1")?
        .query_row([hash], |r| r.get::<_, bool>(0))
        .optional()?;
    Ok(match state {
        None => Consumed::Unknown,
        Some(true) => Consumed::AlreadyUsed,
        Some(false) => Consumed::Expired,
    })
}

/// What [`consume`] would find for this hash, changing nothing.
pub(super) fn peek(tx: &ReadTx<'_>, hash: &str, now: UnixTime) -> Result<Consumed> {
    let row = tx
        .conn()?
        .prepare_cached(
            "SELECT owner, client_id, permissions, created_at, expires_at, bound_client, used
             FROM tickets WHERE hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok((
                Ticket {
                    hash: hash.to_owned(),
                    owner: r.get("owner")?,
                    client_id: r.get("client_id")?,
                    permissions: Vec::new(),
                    created_at: r.get("created_at")?,
                    expires_at: r.get("expires_at")?,
                    bound_client: r.get("bound_client")?,
                },
                r.get::<_, String>("permissions")?,
                r.get::<_, bool>("used")?,
            ))
        })
        .optional()?;
    Ok(match row {
        None => Consumed::Unknown,
        Some((_, _, true)) => Consumed::AlreadyUsed,
        Some((ticket, _, false)) if ticket.expires_at <= now => Consumed::Expired,
        Some((mut ticket, permissions, false)) => {
            ticket.permissions = from_json(&permissions)?;
            Consumed::Valid(ticket)
        }
    })
}

/// Records the RPT issued from a consumed ticket, so a later replay of the ticket can revoke it.
pub(super) fn link_rpt(tx: &WriteTx<'_>, hash: &str, jti: &str) -> Result<()> {
    tx.conn()?
        .prepare_cached("UPDATE tickets SET rpt_jti = ?2 WHERE hash = ?1")?
        .execute(params![hash, jti])?;
    Ok(())
}

/// The RPT issued from the ticket with this hash, if any.
pub(super) fn issued_rpt(tx: &ReadTx<'_>, hash: &str) -> Result<Option<String>> {
    Ok(tx
        .conn()?
        .prepare_cached("SELECT rpt_jti FROM tickets WHERE hash = ?1")?
        .query_row([hash], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients;
    use crate::store::testing::temp_store;
    use crate::store::{Store, StoreError};

    fn setup() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        let client = crate::store::testing::public_client("rs1");
        store
            .write(|tx| clients::insert(tx, &client))
            .expect("client");
        (dir, store)
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

    fn consume_at(store: &Store, hash: &str, now: UnixTime) -> Consumed {
        store.write(|tx| consume(tx, hash, now)).expect("consume")
    }

    #[test]
    fn a_ticket_is_valid_once_then_a_replay() {
        let (_dir, store) = setup();
        store
            .write(|tx| insert(tx, &ticket("h1", 400)))
            .expect("insert");
        assert_eq!(
            consume_at(&store, "h1", 150),
            Consumed::Valid(ticket("h1", 400))
        );
        assert_eq!(consume_at(&store, "h1", 151), Consumed::AlreadyUsed);
    }

    #[test]
    fn expiry_is_at_expires_at_and_does_not_burn_the_ticket() {
        let (_dir, store) = setup();
        store
            .write(|tx| insert(tx, &ticket("h1", 400)))
            .expect("insert");
        assert_eq!(consume_at(&store, "h1", 400), Consumed::Expired);
        assert_eq!(consume_at(&store, "h1", 401), Consumed::Expired);
    }

    #[test]
    fn unknown_hash_is_unknown() {
        let (_dir, store) = setup();
        assert_eq!(consume_at(&store, "nope", 0), Consumed::Unknown);
    }

    #[test]
    fn a_rolled_back_consumption_leaves_the_ticket_live() {
        let (_dir, store) = setup();
        store
            .write(|tx| insert(tx, &ticket("h1", 400)))
            .expect("insert");
        let failed: Result<()> = store.write(|tx| {
            assert!(matches!(consume(tx, "h1", 150)?, Consumed::Valid(_)));
            Err(StoreError::Conflict("issuing failed".into()))
        });
        assert!(failed.is_err());
        assert!(matches!(consume_at(&store, "h1", 150), Consumed::Valid(_)));
    }

    #[test]
    fn rotated_ticket_keeps_its_binding_and_links_its_rpt() {
        let (_dir, store) = setup();
        let mut bound = ticket("h-bound", 500);
        bound.bound_client = Some("rs1".into());
        store.write(|tx| insert(tx, &bound)).expect("insert");
        let consumed = store
            .write(|tx| consume(tx, "h-bound", 200))
            .expect("consume");
        assert_eq!(consumed, Consumed::Valid(bound));
        assert_eq!(
            store
                .write(|tx| issued_rpt(tx, "h-bound"))
                .expect("none yet"),
            None
        );
        store
            .write(|tx| link_rpt(tx, "h-bound", "jti-1"))
            .expect("link");
        assert_eq!(
            store.write(|tx| issued_rpt(tx, "h-bound")).expect("linked"),
            Some("jti-1".to_owned())
        );
        assert_eq!(
            store
                .write(|tx| issued_rpt(tx, "h-unknown"))
                .expect("unknown"),
            None
        );
    }
}
