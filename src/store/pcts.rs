//! Persisted claims tokens (UMA Grant §3.3.5, §5.6): claims held here by reference, for one client and one
//! requesting party. The PCT value reveals nothing; only its SHA-256 is stored.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::uma::Pct;

pub(super) fn insert(tx: &WriteTx<'_>, pct: &Pct) -> Result<()> {
    tx.conn()?
        .prepare_cached(
            "INSERT INTO pcts (hash, client_id, party, claims, created_at, expires_at, revoked)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            pct.hash,
            pct.client_id,
            pct.party,
            to_json(&pct.claims)?,
            pct.created_at,
            pct.expires_at,
            pct.revoked
        ])?;
    Ok(())
}

pub(super) fn find(conn: &ReadTx<'_>, hash: &str) -> Result<Option<Pct>> {
    conn.conn()?.prepare_cached("SELECT hash, client_id, party, claims, created_at, expires_at, revoked FROM pcts WHERE hash = ?1")?.query_row([hash],
        |r| {
            Ok((
                r.get::<_, String>("hash")?,
                r.get::<_, String>("client_id")?,
                r.get::<_, String>("party")?,
                r.get::<_, String>("claims")?,
                r.get::<_, UnixTime>("created_at")?,
                r.get::<_, UnixTime>("expires_at")?,
                r.get::<_, bool>("revoked")?,
            ))
        },
    )
    .optional()?
    .map(|(hash, client_id, party, claims, created_at, expires_at, revoked)| {
        Ok(Pct {
            hash,
            client_id,
            party,
            claims: from_json(&claims)?,
            created_at,
            expires_at,
            revoked,
        })
    })
    .transpose()
}

/// Revokes a PCT; returns false when there was no such PCT.
pub(super) fn revoke(tx: &WriteTx<'_>, hash: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("UPDATE pcts SET revoked = 1 WHERE hash = ?1")?
        .execute([hash])?
        > 0)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::*;
    use crate::store::StoreError;
    use crate::store::clients;
    use crate::store::testing::temp_store;

    #[test]
    fn insert_find_revoke() {
        let (_dir, store) = temp_store();
        let mut claims = Map::new();
        claims.insert("email".into(), Value::from("bob@example.com"));
        let pct = Pct {
            hash: "h".into(),
            client_id: "app".into(),
            party: "p".into(),
            claims,
            created_at: 1,
            expires_at: 10,
            revoked: false,
        };
        store
            .write(|tx| {
                clients::insert(tx, &crate::store::testing::public_client("app"))?;
                insert(tx, &pct)?;
                Ok::<_, StoreError>(())
            })
            .expect("insert");
        let got = store
            .read(|c| find(c, "h"))
            .expect("find")
            .expect("present");
        assert_eq!(got, pct);
        assert!(got.is_active(9) && !got.is_active(10));
        assert!(store.write(|tx| revoke(tx, "h")).expect("revoke"));
        assert!(
            !store
                .read(|c| find(c, "h"))
                .expect("find")
                .expect("present")
                .is_active(5)
        );
        assert!(
            !store
                .write(|tx| revoke(tx, "nope"))
                .expect("revoke unknown")
        );
    }
}
