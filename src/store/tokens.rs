//! Grants and the access and refresh tokens issued under them. Tokens are looked up by the SHA-256 of their
//! value; the clear value exists only in the response that hands it out.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

pub use crate::protocol::tokens::{NewGrant, SubjectKind, TokenKind, TokenRecord};

/// The stored spelling of a subject kind; anything unexpected reads as a client, the narrower of the two.
fn stored_subject_kind(text: &str) -> SubjectKind {
    if text == "user" {
        SubjectKind::User
    } else {
        SubjectKind::Client
    }
}

pub fn create_grant(tx: &WriteTx<'_>, grant: &NewGrant<'_>, now: UnixTime) -> Result<i64> {
    tx.conn()?.prepare_cached("INSERT INTO grants (client_id, subject, subject_kind, scope, auth_time, nonce, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![
            grant.client_id,
            grant.subject,
            grant.subject_kind.as_str(),
            grant.scope,
            grant.auth_time,
            grant.nonce,
            now
        ],
    )?;
    Ok(tx.conn()?.last_insert_rowid())
}

pub fn insert_token(
    tx: &WriteTx<'_>,
    hash: &str,
    kind: TokenKind,
    grant_id: i64,
    scope: &str,
    issued_at: UnixTime,
    expires_at: UnixTime,
) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO tokens (hash, kind, grant_id, scope, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![hash, kind.as_str(), grant_id, scope, issued_at, expires_at],
    )?;
    Ok(())
}

pub fn find(conn: &ReadTx<'_>, hash: &str) -> Result<Option<TokenRecord>> {
    Ok(conn.conn()?
        .prepare_cached("SELECT t.kind, t.grant_id, g.client_id, g.subject, g.subject_kind, t.scope, t.issued_at,
                    t.expires_at, g.auth_time, g.nonce, t.used, (t.revoked OR g.revoked)
             FROM tokens t JOIN grants g ON g.id = t.grant_id
             WHERE t.hash = ?1")?.query_row([hash],
            |r| {
                let kind: String = r.get(0)?;
                let subject_kind: String = r.get(4)?;
                Ok(TokenRecord {
                    kind: if kind == "refresh" { TokenKind::Refresh } else { TokenKind::Access },
                    grant_id: r.get(1)?,
                    client_id: r.get(2)?,
                    subject: r.get(3)?,
                    subject_kind: stored_subject_kind(&subject_kind),
                    scope: r.get(5)?,
                    issued_at: r.get(6)?,
                    expires_at: r.get(7)?,
                    auth_time: r.get(8)?,
                    nonce: r.get(9)?,
                    used: r.get(10)?,
                    revoked: r.get(11)?,
                })
            },
        )
        .optional()?)
}

/// Marks a refresh token as rotated away. Returns false when it was already used (a replay).
pub fn mark_used(tx: &WriteTx<'_>, hash: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("UPDATE tokens SET used = 1 WHERE hash = ?1 AND used = 0")?
        .execute([hash])?
        > 0)
}

pub fn revoke_token(tx: &WriteTx<'_>, hash: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("UPDATE tokens SET revoked = 1 WHERE hash = ?1")?
        .execute([hash])?
        > 0)
}

/// Revokes a grant and with it every token issued under it.
pub fn revoke_grant(tx: &WriteTx<'_>, grant_id: i64) -> Result<()> {
    tx.conn()?
        .prepare_cached("UPDATE grants SET revoked = 1 WHERE id = ?1")?
        .execute([grant_id])?;
    tx.conn()?
        .prepare_cached("UPDATE tokens SET revoked = 1 WHERE grant_id = ?1")?
        .execute([grant_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients;
    use crate::store::testing::temp_store;

    fn setup() -> (tempfile::TempDir, crate::store::Store, i64) {
        let (dir, store) = temp_store();
        let grant_id = store
            .write(|tx| {
                clients::insert(tx, &crate::store::testing::public_client("rs1"))?;
                let grant = NewGrant {
                    client_id: "rs1",
                    subject: "rs1",
                    subject_kind: SubjectKind::Client,
                    scope: "uma_protection",
                    auth_time: None,
                    nonce: None,
                };
                let id = create_grant(tx, &grant, 100)?;
                insert_token(
                    tx,
                    "h-access",
                    TokenKind::Access,
                    id,
                    "uma_protection",
                    100,
                    200,
                )?;
                insert_token(
                    tx,
                    "h-refresh",
                    TokenKind::Refresh,
                    id,
                    "uma_protection",
                    100,
                    900,
                )?;
                Ok::<_, crate::store::StoreError>(id)
            })
            .expect("setup");
        (dir, store, grant_id)
    }

    #[test]
    fn found_token_carries_its_grant() {
        let (_dir, store, grant_id) = setup();
        let token = store
            .read(|c| find(c, "h-access"))
            .expect("find")
            .expect("present");
        assert_eq!(token.grant_id, grant_id);
        assert_eq!(token.subject_kind, SubjectKind::Client);
        assert!(token.has_scope("uma_protection"));
        assert!(token.is_active(199));
        assert!(!token.is_active(200), "expired at expires_at");
        assert_eq!(store.read(|c| find(c, "nope")).expect("find"), None);
    }

    #[test]
    fn refresh_rotation_is_single_use() {
        let (_dir, store, _) = setup();
        assert!(store.write(|tx| mark_used(tx, "h-refresh")).expect("first"));
        assert!(
            !store
                .write(|tx| mark_used(tx, "h-refresh"))
                .expect("second")
        );
    }

    #[test]
    fn revoking_the_grant_revokes_all_its_tokens() {
        let (_dir, store, grant_id) = setup();
        store
            .write(|tx| revoke_grant(tx, grant_id))
            .expect("revoke");
        for hash in ["h-access", "h-refresh"] {
            let token = store
                .read(|c| find(c, hash))
                .expect("find")
                .expect("present");
            assert!(token.revoked && !token.is_active(150));
        }
    }
}
