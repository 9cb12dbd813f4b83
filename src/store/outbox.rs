//! The notification outbox: events written in the transaction of the change that raised them, and one
//! delivery row per (event, webhook) that the delivery worker works off.
//!
//! Event ids come from SQLite's `randomblob` (128 bits, hex): unguessable enough for a receiver to
//! de-duplicate on, and drawn inside the transaction that writes the event.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

/// An event as the domain raises it; the store gives it its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event type, such as `policy.changed`.
    pub kind: String,
    pub owner: String,
    pub time: UnixTime,
    /// The event's data, as JSON text.
    pub data: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub kind: String,
    pub owner: String,
    pub time: UnixTime,
    pub data: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Given up after the last attempt allowed.
    Dead,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "dead" => Ok(Self::Dead),
            other => Err(super::StoreError::Corrupt(format!(
                "unknown delivery state `{other}`"
            ))),
        }
    }
}

/// One event to deliver to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event: StoredEvent,
    /// The webhook's URL, which names it.
    pub webhook: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    pub last_error: Option<String>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at `retry_at`, or never (`None`: the delivery is dead).
    Failed {
        error: String,
        retry_at: Option<UnixTime>,
    },
}

/// The longest error text kept per delivery.
const MAX_ERROR_LEN: usize = 500;

pub(super) fn insert_event(tx: &WriteTx<'_>, event: &NewEvent) -> Result<String> {
    let id: String = tx
        .conn()?
        .prepare_cached(
            "INSERT INTO notify_events (id, kind, owner, time, data)
         VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4) RETURNING id",
        )?
        .query_row(
            params![event.kind, event.owner, event.time, event.data],
            |r| r.get(0),
        )?;
    Ok(id)
}

/// Events not yet fanned out, oldest first, at most `limit`.
pub(super) fn waiting_events(conn: &ReadTx<'_>, limit: usize) -> Result<Vec<StoredEvent>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT id, kind, owner, time, data FROM notify_events
         WHERE fanned_out = 0 ORDER BY time, rowid LIMIT ?1",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map([limit], event_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: r.get("id")?,
        kind: r.get("kind")?,
        owner: r.get("owner")?,
        time: r.get("time")?,
        data: r.get("data")?,
    })
}

/// Writes a pending delivery of `event_id` to each of `webhooks` (due at `now`) and marks the event fanned
/// out. A webhook already holding a delivery of the event is left as it is.
pub(super) fn fan_out(
    tx: &WriteTx<'_>,
    event_id: &str,
    webhooks: &[String],
    now: UnixTime,
) -> Result<()> {
    let conn = tx.conn()?;
    for webhook in webhooks {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO notify_deliveries
                 (event_id, webhook, state, attempts, next_attempt_at, updated_at)
             VALUES (?1, ?2, 'pending', 0, ?3, ?3)",
        )?
        .execute(params![event_id, webhook, now])?;
    }
    conn.prepare_cached("UPDATE notify_events SET fanned_out = 1 WHERE id = ?1")?
        .execute([event_id])?;
    Ok(())
}

const DELIVERY_COLUMNS: &str =
    "e.id, e.kind, e.owner, e.time, e.data, d.webhook, d.state, d.attempts,
     d.next_attempt_at, d.last_error";

fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredEvent, DeliveryRest)> {
    Ok((
        event_from_row(r)?,
        (
            r.get("webhook")?,
            r.get("state")?,
            r.get("attempts")?,
            r.get("next_attempt_at")?,
            r.get("last_error")?,
        ),
    ))
}

type DeliveryRest = (String, String, i64, UnixTime, Option<String>);

fn build(rows: Vec<(StoredEvent, DeliveryRest)>) -> Result<Vec<Delivery>> {
    rows.into_iter()
        .map(
            |(event, (webhook, state, attempts, next_attempt_at, last_error))| {
                Ok(Delivery {
                    event,
                    webhook,
                    state: DeliveryState::parse(&state)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    next_attempt_at,
                    last_error,
                })
            },
        )
        .collect()
}

/// Pending deliveries due at `now`, the longest waiting first, at most `limit`.
pub(super) fn due(conn: &ReadTx<'_>, now: UnixTime, limit: usize) -> Result<Vec<Delivery>> {
    let mut stmt = conn.conn()?.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
         WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
         ORDER BY d.next_attempt_at, e.time, e.rowid LIMIT ?2"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![now, limit], delivery_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    build(rows)
}

/// Every delivery of one event, by webhook.
pub(super) fn deliveries_of(conn: &ReadTx<'_>, event_id: &str) -> Result<Vec<Delivery>> {
    let mut stmt = conn.conn()?.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
         WHERE d.event_id = ?1 ORDER BY d.webhook"
    ))?;
    let rows = stmt
        .query_map([event_id], delivery_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    build(rows)
}

pub(super) fn event(conn: &ReadTx<'_>, id: &str) -> Result<Option<StoredEvent>> {
    Ok(conn
        .conn()?
        .prepare_cached("SELECT id, kind, owner, time, data FROM notify_events WHERE id = ?1")?
        .query_row([id], event_from_row)
        .optional()?)
}

/// Records one attempt at a pending delivery; false when there is no pending delivery of that event to that
/// webhook (already delivered or dead, say).
pub(super) fn record_attempt(
    tx: &WriteTx<'_>,
    event_id: &str,
    webhook: &str,
    attempt: &Attempt,
    now: UnixTime,
) -> Result<bool> {
    let (state, next, error) = match attempt {
        Attempt::Delivered => (DeliveryState::Delivered, None, None),
        Attempt::Failed { error, retry_at } => {
            let kept: String = error.chars().take(MAX_ERROR_LEN).collect();
            match retry_at {
                Some(at) => (DeliveryState::Pending, Some(*at), Some(kept)),
                None => (DeliveryState::Dead, None, Some(kept)),
            }
        }
    };
    let changed = tx
        .conn()?
        .prepare_cached(
            "UPDATE notify_deliveries
         SET state = ?3, attempts = attempts + 1, next_attempt_at = coalesce(?4, next_attempt_at),
             last_error = coalesce(?5, last_error), updated_at = ?6
         WHERE event_id = ?1 AND webhook = ?2 AND state = 'pending'",
        )?
        .execute(params![event_id, webhook, state.as_str(), next, error, now])?;
    Ok(changed == 1)
}

/// Deletes deliveries delivered or dead before `before`, then events fanned out before `before` that have
/// no delivery left. Returns how many rows went.
pub(super) fn purge(tx: &WriteTx<'_>, before: UnixTime) -> Result<usize> {
    let conn = tx.conn()?;
    let deliveries = conn.prepare_cached("DELETE FROM notify_deliveries WHERE state IN ('delivered', 'dead') AND updated_at < ?1")?.execute([before],
    )?;
    let events = conn
        .prepare_cached(
            "DELETE FROM notify_events WHERE fanned_out = 1 AND time < ?1
         AND NOT EXISTS (SELECT 1 FROM notify_deliveries d WHERE d.event_id = notify_events.id)",
        )?
        .execute([before])?;
    Ok(deliveries + events)
}
