//! Signing keys. The newest unretired key signs; retired keys stay published until tokens they signed expire.

use rusqlite::{Row, params};

use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

pub use crate::crypto::keys::StoredKey;

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        kid: row.get("kid")?,
        alg: row.get("alg")?,
        private_pem: row.get("private_pem")?,
        created_at: row.get("created_at")?,
        retired_at: row.get("retired_at")?,
        publish_until: row.get("publish_until")?,
    })
}

/// Keys to publish at `now`: the active ones and the retired ones still within their publication window,
/// newest first. The first unretired key is the signing key.
pub fn published(conn: &ReadTx<'_>, now: UnixTime) -> Result<Vec<StoredKey>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT kid, alg, private_pem, created_at, retired_at, publish_until FROM signing_keys
         WHERE retired_at IS NULL OR publish_until > ?1
         ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([now], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every key ever stored, newest first.
pub fn all(conn: &ReadTx<'_>) -> Result<Vec<StoredKey>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT kid, alg, private_pem, created_at, retired_at, publish_until FROM signing_keys
         ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A cheap fingerprint of the key table, so a running server notices a rotation made by the CLI.
pub fn generation(conn: &ReadTx<'_>) -> Result<(i64, i64)> {
    Ok(conn
        .conn()?
        .prepare_cached(
            "SELECT count(*), coalesce(sum(retired_at IS NOT NULL), 0) FROM signing_keys",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// Adds `key` as the signing key and retires every other active key, keeping it published until
/// `now + keep_published` (the longest lifetime of a token it may have signed).
pub fn rotate(tx: &WriteTx<'_>, key: &StoredKey, now: UnixTime, keep_published: i64) -> Result<()> {
    tx.conn()?
        .prepare_cached(
            "UPDATE signing_keys SET retired_at = ?1, publish_until = ?2 WHERE retired_at IS NULL",
        )?
        .execute(params![now, now.saturating_add(keep_published)])?;
    tx.conn()?
        .prepare_cached(
            "INSERT INTO signing_keys (kid, alg, private_pem, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![key.kid, key.alg, key.private_pem, key.created_at])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn key(kid: &str, at: UnixTime) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: "ES256".into(),
            private_pem: "pem".into(),
            created_at: at,
            retired_at: None,
            publish_until: None,
        }
    }

    #[test]
    fn rotation_keeps_the_old_key_published_for_a_while() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| rotate(tx, &key("k1", 10), 10, 100))
            .expect("first");
        let g1 = store.read(generation).expect("gen");
        store
            .write(|tx| rotate(tx, &key("k2", 20), 20, 100))
            .expect("second");
        assert_ne!(store.read(generation).expect("gen"), g1);

        let keys = store.read(|c| published(c, 50)).expect("published");
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k2", "k1"]
        );
        assert_eq!(keys[1].publish_until, Some(120));

        let keys = store.read(|c| published(c, 120)).expect("published");
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k2"]
        );
        assert_eq!(store.read(all).expect("all").len(), 2);
    }
}
