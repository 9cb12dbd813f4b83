//! OAuth clients: resource servers and the clients of requesting parties.

use rusqlite::{OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::users::claim_principal;
use super::{ReadTx, WriteTx};
use super::{Result, from_json, to_json};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub auth_method: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub claims_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Further registration metadata, returned as registered.
    pub metadata: Map<String, Value>,
    pub created_at: UnixTime,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

const COLUMNS: &str = "client_id, secret_hash, auth_method, client_name, redirect_uris, \
                       claims_redirect_uris, grant_types, metadata, created_at";

type RawClient = (
    String,
    Option<String>,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    UnixTime,
);

fn raw(row: &Row<'_>) -> rusqlite::Result<RawClient> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

fn decode(raw: RawClient) -> Result<Client> {
    let (
        client_id,
        secret_hash,
        auth_method,
        client_name,
        redirects,
        claims,
        grants,
        meta,
        created_at,
    ) = raw;
    Ok(Client {
        client_id,
        secret_hash,
        auth_method,
        client_name,
        redirect_uris: from_json(&redirects)?,
        claims_redirect_uris: from_json(&claims)?,
        grant_types: from_json(&grants)?,
        metadata: from_json(&meta)?,
        created_at,
    })
}

pub fn insert(tx: &WriteTx<'_>, client: &Client) -> Result<()> {
    claim_principal(tx, &client.client_id, "client")?;
    tx.conn()?.execute(
        &format!("INSERT INTO clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            client.client_id,
            client.secret_hash,
            client.auth_method,
            client.client_name,
            to_json(&client.redirect_uris)?,
            to_json(&client.claims_redirect_uris)?,
            to_json(&client.grant_types)?,
            to_json(&client.metadata)?,
            client.created_at,
        ],
    )?;
    Ok(())
}

pub fn get(conn: &ReadTx<'_>, client_id: &str) -> Result<Option<Client>> {
    conn.conn()?
        .query_row(
            &format!("SELECT {COLUMNS} FROM clients WHERE client_id = ?1"),
            [client_id],
            raw,
        )
        .optional()?
        .map(decode)
        .transpose()
}

pub fn list(conn: &ReadTx<'_>) -> Result<Vec<Client>> {
    let mut stmt = conn
        .conn()?
        .prepare(&format!("SELECT {COLUMNS} FROM clients ORDER BY client_id"))?;
    let rows = stmt
        .query_map([], raw)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

/// Removes the client and, by cascade, its grants, tokens, codes, tickets, and the resources it registered.
/// Returns false when there was no such client.
pub fn remove(tx: &WriteTx<'_>, client_id: &str) -> Result<bool> {
    Ok(tx.conn()?.execute(
        "DELETE FROM principals WHERE id = ?1 AND kind = 'client'",
        [client_id],
    )? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use crate::store::testing::temp_store;
    use crate::store::users::{self, User};

    pub(crate) fn sample(id: &str) -> Client {
        Client {
            client_id: id.into(),
            secret_hash: Some("ab".into()),
            auth_method: "client_secret_basic".into(),
            client_name: Some("Bank".into()),
            redirect_uris: vec!["https://rs.example/cb".into()],
            claims_redirect_uris: vec![],
            grant_types: vec!["client_credentials".into()],
            metadata: Map::new(),
            created_at: 1,
        }
    }

    #[test]
    fn round_trip() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| insert(tx, &sample("rs1")))
            .expect("insert");
        assert_eq!(
            store.read(|c| get(c, "rs1")).expect("get"),
            Some(sample("rs1"))
        );
        assert_eq!(store.read(list).expect("list").len(), 1);
        assert!(store.write(|tx| remove(tx, "rs1")).expect("remove"));
        assert_eq!(store.read(|c| get(c, "rs1")).expect("get"), None);
    }

    #[test]
    fn client_id_cannot_take_a_username() {
        let (_dir, store) = temp_store();
        let user = User {
            username: "alice".into(),
            password_hash: "h".into(),
            email: None,
            name: None,
            created_at: 0,
        };
        store.write(|tx| users::insert(tx, &user)).expect("user");
        let err = store
            .write(|tx| insert(tx, &sample("alice")))
            .expect_err("collision");
        assert!(matches!(err, StoreError::Conflict(m) if m.contains("already used by a user")));
        // And the other way round.
        store
            .write(|tx| insert(tx, &sample("rs1")))
            .expect("client");
        let mut user = user;
        user.username = "rs1".into();
        let err = store
            .write(|tx| users::insert(tx, &user))
            .expect_err("collision");
        assert!(matches!(err, StoreError::Conflict(m) if m.contains("already used by a client")));
    }
}
