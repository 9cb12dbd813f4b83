//! Requesting party tokens as the server remembers them (UMA Grant §3.3.5). The RPT handed to the client is a
//! signed JWT; its `jti` keys this row, which introspection, revocation, upgrade and policy narrowing read and
//! change. The JWT alone never outlives a revocation for a resource server that introspects.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::uma::{GrantedPermission, Rpt};

/// How a granted permission is kept in the `permissions` JSON column.
#[derive(Serialize, Deserialize)]
struct PermissionColumn {
    resource_id: String,
    resource_scopes: Vec<String>,
    exp: UnixTime,
}

fn permissions_column(permissions: &[GrantedPermission]) -> Result<String> {
    let column: Vec<PermissionColumn> = permissions
        .iter()
        .map(|p| PermissionColumn {
            resource_id: p.resource_id.clone(),
            resource_scopes: p.resource_scopes.clone(),
            exp: p.exp,
        })
        .collect();
    to_json(&column)
}

fn permissions_from_column(text: &str) -> Result<Vec<GrantedPermission>> {
    let column: Vec<PermissionColumn> = from_json(text)?;
    Ok(column
        .into_iter()
        .map(|p| GrantedPermission {
            resource_id: p.resource_id,
            resource_scopes: p.resource_scopes,
            exp: p.exp,
        })
        .collect())
}

const COLUMNS: &str = "jti, client_id, party, owner, resource_server, permissions, claims, issued_at, \
                       expires_at, revoked";

/// A row as read, its JSON columns still text.
struct Raw {
    rpt: Rpt,
    permissions: String,
    claims: String,
}

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok(Raw {
        rpt: Rpt {
            jti: r.get("jti")?,
            client_id: r.get("client_id")?,
            party: r.get("party")?,
            owner: r.get("owner")?,
            resource_server: r.get("resource_server")?,
            permissions: Vec::new(),
            claims: Map::new(),
            issued_at: r.get("issued_at")?,
            expires_at: r.get("expires_at")?,
            revoked: r.get("revoked")?,
        },
        permissions: r.get("permissions")?,
        claims: r.get("claims")?,
    })
}

fn decode(raw: Raw) -> Result<Rpt> {
    Ok(Rpt {
        permissions: permissions_from_column(&raw.permissions)?,
        claims: from_json(&raw.claims)?,
        ..raw.rpt
    })
}

pub(super) fn insert(tx: &WriteTx<'_>, rpt: &Rpt) -> Result<()> {
    tx.conn()?
        .prepare_cached(&format!(
            "INSERT INTO rpts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))?
        .execute(params![
            rpt.jti,
            rpt.client_id,
            rpt.party,
            rpt.owner,
            rpt.resource_server,
            permissions_column(&rpt.permissions)?,
            to_json(&rpt.claims)?,
            rpt.issued_at,
            rpt.expires_at,
            rpt.revoked,
        ])?;
    Ok(())
}

pub(super) fn get(conn: &ReadTx<'_>, jti: &str) -> Result<Option<Rpt>> {
    conn.conn()?
        .prepare_cached(&format!("SELECT {COLUMNS} FROM rpts WHERE jti = ?1"))?
        .query_row([jti], raw)
        .optional()?
        .map(decode)
        .transpose()
}

/// Revokes an RPT; returns false when there was no such RPT.
pub(super) fn revoke(tx: &WriteTx<'_>, jti: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("UPDATE rpts SET revoked = 1 WHERE jti = ?1")?
        .execute([jti])?
        > 0)
}

/// Replaces the permissions of an RPT (after the owner narrowed a policy); an RPT left with none is revoked.
pub(super) fn set_permissions(
    tx: &WriteTx<'_>,
    jti: &str,
    permissions: &[GrantedPermission],
) -> Result<()> {
    tx.conn()?
        .prepare_cached("UPDATE rpts SET permissions = ?2, revoked = revoked OR ?3 WHERE jti = ?1")?
        .execute(params![
            jti,
            permissions_column(permissions)?,
            permissions.is_empty()
        ])?;
    Ok(())
}

/// The owner's RPTs that are still active at `now`.
pub(super) fn active_for_owner(conn: &ReadTx<'_>, owner: &str, now: UnixTime) -> Result<Vec<Rpt>> {
    let mut stmt = conn.conn()?.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM rpts WHERE owner = ?1 AND expires_at > ?2 AND revoked = 0"
    ))?;
    let rows = stmt
        .query_map(params![owner, now], raw)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::store::StoreError;
    use crate::store::clients::{self, Client};
    use crate::store::testing::temp_store;

    fn client(id: &str) -> Client {
        crate::store::testing::public_client(id)
    }

    fn rpt(jti: &str) -> Rpt {
        let mut claims = Map::new();
        claims.insert("email".into(), Value::from("bob@example.com"));
        Rpt {
            jti: jti.into(),
            client_id: "app".into(),
            party: "[\"iss\",\"bob\"]".into(),
            owner: "rs".into(),
            resource_server: "rs".into(),
            permissions: vec![
                GrantedPermission {
                    resource_id: "r1".into(),
                    resource_scopes: vec!["view".into()],
                    exp: 200,
                },
                GrantedPermission {
                    resource_id: "r2".into(),
                    resource_scopes: vec!["pay".into()],
                    exp: 150,
                },
            ],
            claims,
            issued_at: 100,
            expires_at: 200,
            revoked: false,
        }
    }

    fn setup() -> (tempfile::TempDir, crate::store::Store) {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(tx, &client("rs"))?;
                clients::insert(tx, &client("app"))?;
                insert(tx, &rpt("j1"))?;
                Ok::<_, StoreError>(())
            })
            .expect("setup");
        (dir, store)
    }

    #[test]
    fn round_trip_and_live_permissions() {
        let (_dir, store) = setup();
        let got = store.read(|c| get(c, "j1")).expect("get").expect("present");
        assert_eq!(got, rpt("j1"));
        assert!(got.is_active(199) && !got.is_active(200));
        assert_eq!(got.live_permissions(160).len(), 1, "r2 expired at 150");
        assert_eq!(store.read(|c| get(c, "nope")).expect("get"), None);
    }

    #[test]
    fn narrowing_to_nothing_revokes() {
        let (_dir, store) = setup();
        let keep = vec![GrantedPermission {
            resource_id: "r1".into(),
            resource_scopes: vec!["view".into()],
            exp: 200,
        }];
        store
            .write(|tx| set_permissions(tx, "j1", &keep))
            .expect("narrow");
        let got = store.read(|c| get(c, "j1")).expect("get").expect("present");
        assert_eq!(got.permissions, keep);
        assert!(!got.revoked);
        store
            .write(|tx| set_permissions(tx, "j1", &[]))
            .expect("empty");
        assert!(
            store
                .read(|c| get(c, "j1"))
                .expect("get")
                .expect("present")
                .revoked
        );
        assert!(
            store
                .read(|c| active_for_owner(c, "rs", 120))
                .expect("list")
                .is_empty()
        );
    }

    #[test]
    fn active_for_owner_skips_revoked_and_expired() {
        let (_dir, store) = setup();
        assert_eq!(
            store
                .read(|c| active_for_owner(c, "rs", 120))
                .expect("list")
                .len(),
            1
        );
        assert!(
            store
                .read(|c| active_for_owner(c, "rs", 200))
                .expect("list")
                .is_empty()
        );
        assert!(store.write(|tx| revoke(tx, "j1")).expect("revoke"));
        assert!(
            store
                .read(|c| active_for_owner(c, "rs", 120))
                .expect("list")
                .is_empty()
        );
    }
}
