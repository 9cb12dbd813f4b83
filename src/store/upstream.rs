//! Storage of upstream OpenID Connect sign-ins ([`crate::protocol::upstream`]): the sign-ins in flight, named by
//! the SHA-256 of their `state`, and the verified claims an upstream ID token gave a claims interaction visit.

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::{Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::upstream::UpstreamSignIn;

/// What upstream sign-in stores.
pub trait UpstreamStore {
    /// Stores a sign-in in flight, dropping those that ran out by `now`.
    fn insert_upstream_signin(
        &self,
        state_hash: &str,
        signin: &UpstreamSignIn,
        now: UnixTime,
    ) -> Result<()>;
    /// Takes (deletes and returns) the sign-in with this state hash, if any and live: a state is good once.
    fn take_upstream_signin(
        &self,
        state_hash: &str,
        now: UnixTime,
    ) -> Result<Option<UpstreamSignIn>>;
    /// Keeps the verified upstream claims on the visit; false when the visit is gone.
    fn set_visit_claims(&self, visit_hash: &str, claims: &Map<String, Value>) -> Result<bool>;
    /// The upstream claims kept on the visit, if its party signed in upstream.
    fn visit_claims(&self, visit_hash: &str) -> Result<Option<Map<String, Value>>>;
}

impl UpstreamStore for WriteTx<'_> {
    fn insert_upstream_signin(
        &self,
        state_hash: &str,
        s: &UpstreamSignIn,
        now: UnixTime,
    ) -> Result<()> {
        let conn = self.conn()?;
        conn.execute("DELETE FROM upstream_signins WHERE expires_at <= ?1", [now])?;
        conn.execute(
            "INSERT INTO upstream_signins
             (state_hash, visit_id, csrf_hash, issuer, nonce, code_verifier, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                state_hash,
                s.visit_id,
                s.csrf_hash,
                s.issuer,
                s.nonce,
                s.code_verifier,
                s.expires_at
            ],
        )?;
        Ok(())
    }

    fn take_upstream_signin(
        &self,
        state_hash: &str,
        now: UnixTime,
    ) -> Result<Option<UpstreamSignIn>> {
        let found = self
            .conn()?
            .query_row(
                "DELETE FROM upstream_signins WHERE state_hash = ?1
                 RETURNING visit_id, csrf_hash, issuer, nonce, code_verifier, expires_at",
                [state_hash],
                |r| {
                    Ok(UpstreamSignIn {
                        visit_id: r.get("visit_id")?,
                        csrf_hash: r.get("csrf_hash")?,
                        issuer: r.get("issuer")?,
                        nonce: r.get("nonce")?,
                        code_verifier: r.get("code_verifier")?,
                        expires_at: r.get("expires_at")?,
                    })
                },
            )
            .optional()?;
        Ok(found.filter(|s| s.expires_at > now))
    }

    fn set_visit_claims(&self, visit_hash: &str, claims: &Map<String, Value>) -> Result<bool> {
        Ok(self.conn()?.execute(
            "UPDATE claims_interactions SET upstream_claims = ?2 WHERE id_hash = ?1",
            params![visit_hash, to_json(claims)?],
        )? > 0)
    }

    fn visit_claims(&self, visit_hash: &str) -> Result<Option<Map<String, Value>>> {
        let text: Option<Option<String>> = self
            .conn()?
            .query_row(
                "SELECT upstream_claims FROM claims_interactions WHERE id_hash = ?1",
                [visit_hash],
                |r| r.get(0),
            )
            .optional()?;
        text.flatten().map(|t| from_json(&t)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn signin(expires_at: UnixTime) -> UpstreamSignIn {
        UpstreamSignIn {
            visit_id: "visit".into(),
            csrf_hash: "csrf-hash".into(),
            issuer: "https://idp.example".into(),
            nonce: "nonce".into(),
            code_verifier: "verifier".into(),
            expires_at,
        }
    }

    #[test]
    fn a_state_is_taken_once_and_not_after_it_expired() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                tx.insert_upstream_signin("s1", &signin(200), 100)?;
                tx.insert_upstream_signin("s2", &signin(150), 100)
            })
            .expect("insert");
        let first = store
            .write(|tx| tx.take_upstream_signin("s1", 120))
            .expect("take");
        assert_eq!(first, Some(signin(200)));
        let again = store
            .write(|tx| tx.take_upstream_signin("s1", 120))
            .expect("take again");
        assert_eq!(again, None, "a state is single use");
        let late = store
            .write(|tx| tx.take_upstream_signin("s2", 150))
            .expect("take late");
        assert_eq!(late, None, "an expired state is refused");
        assert_eq!(
            store
                .write(|tx| tx.take_upstream_signin("unknown", 100))
                .expect("unknown"),
            None
        );
    }
}
