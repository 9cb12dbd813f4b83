//! Requests held for the owner's decision (UMA Grant §3.3.6, `request_submitted`): who asked what of which
//! resource, with the verified claims it was held with, and the tickets handed out to poll it.
//!
//! A decision is one conditional `UPDATE` of a pending, unexpired request of that very owner, so an owner can
//! never decide another owner's request, and a request is decided at most once.

use rusqlite::{OptionalExtension, Row, params};

use super::{ReadTx, Result, StoreError, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::requests::{AccessRequest, RequestState};

/// The state stored as `text`.
fn parse_state(text: &str) -> Result<RequestState> {
    match text {
        "pending" => Ok(RequestState::Pending),
        "approved" => Ok(RequestState::Approved),
        "denied" => Ok(RequestState::Denied),
        other => Err(StoreError::Corrupt(format!("request state `{other}`"))),
    }
}

const COLUMNS: &str = "id, owner, resource_server, resource_id, scopes, party, claims, client_id, created_at, \
                       expires_at, state, decided_at";

type RawRow = ([String; 8], UnixTime, UnixTime, String, Option<UnixTime>);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        [
            r.get("id")?,
            r.get("owner")?,
            r.get("resource_server")?,
            r.get("resource_id")?,
            r.get("scopes")?,
            r.get("party")?,
            r.get("claims")?,
            r.get("client_id")?,
        ],
        r.get("created_at")?,
        r.get("expires_at")?,
        r.get("state")?,
        r.get("decided_at")?,
    ))
}

fn cook(row: RawRow) -> Result<AccessRequest> {
    let (
        [
            id,
            owner,
            resource_server,
            resource_id,
            scopes,
            party,
            claims,
            client_id,
        ],
        created_at,
        expires_at,
        state,
        decided_at,
    ) = row;
    Ok(AccessRequest {
        id,
        owner,
        resource_server,
        resource_id,
        scopes: from_json(&scopes)?,
        party,
        claims: from_json(&claims)?,
        client_id,
        created_at,
        expires_at,
        state: parse_state(&state)?,
        decided_at,
    })
}

pub(super) fn insert(tx: &WriteTx<'_>, r: &AccessRequest) -> Result<()> {
    tx.conn()?.prepare_cached(&format!("INSERT INTO access_requests ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"))?.execute(params![
            r.id,
            r.owner,
            r.resource_server,
            r.resource_id,
            to_json(&r.scopes)?,
            r.party,
            to_json(&r.claims)?,
            r.client_id,
            r.created_at,
            r.expires_at,
            r.state.as_str(),
            r.decided_at,
        ],
    )?;
    Ok(())
}

pub(super) fn get(conn: &ReadTx<'_>, id: &str) -> Result<Option<AccessRequest>> {
    conn.conn()?
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM access_requests WHERE id = ?1"
        ))?
        .query_row([id], raw)
        .optional()?
        .map(cook)
        .transpose()
}

/// The owner's requests, newest first, at most `limit`.
pub(super) fn of_owner(conn: &ReadTx<'_>, owner: &str, limit: usize) -> Result<Vec<AccessRequest>> {
    let mut stmt = conn.conn()?.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM access_requests WHERE owner = ?1 ORDER BY created_at DESC, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![owner, i64::try_from(limit).unwrap_or(i64::MAX)],
        raw,
    )?;
    rows.map(|r| cook(r?)).collect()
}

/// The pending, unexpired request of this party for exactly these scopes of this resource, if any.
pub(super) fn pending_duplicate(
    conn: &ReadTx<'_>,
    like: &AccessRequest,
    now: UnixTime,
) -> Result<Option<AccessRequest>> {
    conn.conn()?
        .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM access_requests
                 WHERE owner = ?1 AND resource_server = ?2 AND resource_id = ?3 AND party = ?4 AND scopes = ?5
                   AND state = 'pending' AND expires_at > ?6
                 ORDER BY created_at LIMIT 1"
            ))?.query_row(params![
                like.owner,
                like.resource_server,
                like.resource_id,
                like.party,
                to_json(&like.scopes)?,
                now
            ],
            raw,
        )
        .optional()?
        .map(cook)
        .transpose()
}

pub(super) fn link_ticket(
    tx: &WriteTx<'_>,
    ticket_hash: &str,
    request_id: &str,
    issued_at: UnixTime,
) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO access_request_tickets (ticket_hash, request_id, issued_at) VALUES (?1, ?2, ?3)")?.execute(params![ticket_hash, request_id, issued_at],
    )?;
    Ok(())
}

/// The requests a ticket was handed out for, each with when it was handed out.
pub(super) fn of_ticket(
    conn: &ReadTx<'_>,
    ticket_hash: &str,
) -> Result<Vec<(AccessRequest, UnixTime)>> {
    let columns: Vec<String> = COLUMNS
        .split(", ")
        .map(|c| format!("r.{}", c.trim()))
        .collect();
    let mut stmt = conn.conn()?.prepare_cached(&format!(
        "SELECT {}, t.issued_at FROM access_request_tickets t JOIN access_requests r ON r.id = t.request_id
         WHERE t.ticket_hash = ?1 ORDER BY r.id",
        columns.join(", ")
    ))?;
    let rows = stmt.query_map([ticket_hash], |r| {
        Ok((raw(r)?, r.get::<_, UnixTime>("issued_at")?))
    })?;
    rows.map(|r| {
        let (row, issued_at) = r?;
        Ok((cook(row)?, issued_at))
    })
    .collect()
}

/// Decides `owner`'s pending, unexpired request `id`; false when there is none (another owner's, already
/// decided, expired, or unknown).
pub(super) fn decide(
    tx: &WriteTx<'_>,
    owner: &str,
    id: &str,
    state: RequestState,
    now: UnixTime,
) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached(
            "UPDATE access_requests SET state = ?3, decided_at = ?4
         WHERE id = ?1 AND owner = ?2 AND state = 'pending' AND expires_at > ?4",
        )?
        .execute(params![id, owner, state.as_str(), now])?
        > 0)
}
