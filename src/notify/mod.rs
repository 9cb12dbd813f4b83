//! Notifications by webhook, from a durable outbox.
//!
//! A change that raises an event (an owner's policies written, a request held or decided) calls [`enqueue`]
//! with its own write transaction, so the event exists exactly when the change committed. The delivery
//! [`worker`] started by the server then writes one delivery per configured webhook subscribed to the event's
//! type and POSTs the JSON [`Payload`](event::Payload), signed with HMAC-SHA256 ([`signature_header`]), with
//! bounded timeouts, retries on an exponential schedule ([`retry_at`]) and a bounded number of attempts.
//! Everything waiting is in SQLite, so a restart loses nothing; delivery is at least once.
//!
//! What this module must never do: deliver from a request handler (requests never wait on a receiver),
//! lose an event whose change committed, or send a payload unsigned. `docs/webhooks.md` is the receiver's
//! side of this contract.

pub mod event;
pub mod send;
pub mod worker;

pub use event::{Event, EventKind};

use crate::clock::UnixTime;
use crate::crypto::{self, CryptoError};
use crate::store::outbox::{NewEvent, StoredEvent};
use crate::store::{OutboxStore, Result as StoreResult, StoreError};

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "Uma-Cedar-Signature";
/// The header carrying the event's type.
pub const EVENT_HEADER: &str = "Uma-Cedar-Event";
/// The header carrying the event's id.
pub const EVENT_ID_HEADER: &str = "Uma-Cedar-Event-Id";

/// The wait before the first retry, in seconds; each further one waits twice as long as the last...
pub const RETRY_BASE_SECONDS: i64 = 2;
/// ...up to this many seconds.
pub const RETRY_CAP_SECONDS: i64 = 3600;
/// Attempts made at most (the first included); after the last one fails the delivery is dead. With the
/// schedule above, the last attempt comes about nine hours after the first.
pub const MAX_ATTEMPTS: u32 = 20;

/// Records `event` about `owner`'s data, raised at `now`, in the transaction `tx` that makes the change.
/// Returns the event's id. Rolled back with the transaction; delivered after it commits.
///
/// The one call a feature that raises an event needs, e.g. in a `store.write(|tx| ...)` closure:
/// `notify::enqueue(tx, now, owner, &Event::RequestSubmitted(..))?;`
pub fn enqueue(
    tx: &impl OutboxStore,
    now: UnixTime,
    owner: &str,
    event: &Event,
) -> StoreResult<String> {
    let data = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.enqueue_event(&NewEvent {
        kind: event.kind().as_str().to_owned(),
        owner: owner.to_owned(),
        time: now,
        data,
    })
}

/// The JSON body sent for a stored event. Fails only on stored data that is not JSON.
pub fn payload_body(event: &StoredEvent) -> Result<Vec<u8>, serde_json::Error> {
    let data: serde_json::Value = serde_json::from_str(&event.data)?;
    serde_json::to_vec(&event::Payload {
        id: &event.id,
        kind: &event.kind,
        time: event.time,
        owner: &event.owner,
        data,
    })
}

/// The value of the [`SIGNATURE_HEADER`] for `body` sent at `timestamp`: the HMAC-SHA256 under `secret` of
/// the timestamp in decimal, a `.`, and the body exactly as sent.
pub fn signature_header(
    secret: &[u8],
    timestamp: UnixTime,
    body: &[u8],
) -> Result<String, CryptoError> {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    Ok(format!(
        "t={timestamp},v1={}",
        crypto::hmac_sha256_hex(secret, &signed)?
    ))
}

/// When to try again after `attempts` attempts (the one that just failed included) ended at `now`; `None`
/// when that was the last attempt allowed. The waits double from [`RETRY_BASE_SECONDS`] up to
/// [`RETRY_CAP_SECONDS`].
pub fn retry_at(attempts: u32, now: UnixTime) -> Option<UnixTime> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(32);
    let wait = RETRY_BASE_SECONDS
        .saturating_mul(1_i64 << doublings)
        .min(RETRY_CAP_SECONDS);
    Some(now.saturating_add(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        let body = br#"{"id":"e1"}"#;
        let header = signature_header(b"topsecret-topsecret", 1_700_000_000, body).expect("sign");
        // The same computation spelled out, as a receiver does it.
        let expected =
            crypto::hmac_sha256_hex(b"topsecret-topsecret", b"1700000000.{\"id\":\"e1\"}")
                .expect("hmac");
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
        assert_eq!(expected.len(), 64);
        let other_time =
            signature_header(b"topsecret-topsecret", 1_700_000_001, body).expect("sign");
        assert_ne!(header, other_time, "the timestamp is signed");
        let other_key =
            signature_header(b"another-secret-value", 1_700_000_000, body).expect("sign");
        assert_ne!(header, other_key);
    }

    #[test]
    fn retries_double_up_to_the_cap_then_stop() {
        let waits: Vec<i64> = (1..MAX_ATTEMPTS)
            .map(|n| retry_at(n, 1_000).expect("retry") - 1_000)
            .collect();
        assert_eq!(waits.first(), Some(&2));
        assert_eq!(&waits[..6], &[2, 4, 8, 16, 32, 64]);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]), "never shorter");
        assert_eq!(waits.last(), Some(&RETRY_CAP_SECONDS));
        assert!(waits.iter().all(|w| *w <= RETRY_CAP_SECONDS));
        assert_eq!(
            retry_at(MAX_ATTEMPTS, 1_000),
            None,
            "the last attempt is final"
        );
        assert_eq!(retry_at(u32::MAX, 1_000), None);
        let total: i64 = waits.iter().sum();
        assert!(
            (8 * 3600..10 * 3600).contains(&total),
            "about nine hours: {total}"
        );
    }

    #[test]
    fn the_payload_has_id_type_time_owner_and_data() {
        let stored = StoredEvent {
            id: "0f3a".into(),
            kind: "policy.changed".into(),
            owner: "alice".into(),
            time: 1_700_000_000,
            data: r#"{"change":"stored","names":["family"]}"#.into(),
        };
        let body = payload_body(&stored).expect("body");
        let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            value,
            json!({"id": "0f3a", "type": "policy.changed", "time": 1_700_000_000, "owner": "alice",
                   "data": {"change": "stored", "names": ["family"]}})
        );
        let broken = StoredEvent {
            data: "{not json".into(),
            ..stored
        };
        assert!(payload_body(&broken).is_err());
    }

    #[test]
    fn enqueue_stores_the_event_in_the_callers_transaction() {
        use crate::store::OutboxRead;
        let (_dir, store) = crate::store::testing::temp_store();
        let event = Event::PolicyChanged(event::PolicyChanged {
            change: event::PolicyChange::Stored,
            names: vec!["family".into()],
        });
        let id = store
            .write(|tx| enqueue(tx, 42, "alice", &event))
            .expect("enqueue");
        let stored = store
            .read(|r| r.outbox_event(&id))
            .expect("read")
            .expect("stored");
        assert_eq!(stored.kind, "policy.changed");
        assert_eq!(stored.owner, "alice");
        assert_eq!(stored.time, 42);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&stored.data).expect("json"),
            json!({"change": "stored", "names": ["family"]})
        );
    }
}
