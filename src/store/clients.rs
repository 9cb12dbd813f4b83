//! OAuth clients: resource servers and the clients of requesting parties.

use rusqlite::{OptionalExtension, Row, params};

use super::oauth::ClientRead;
use super::users::claim_principal;
use super::{ReadTx, WriteTx};
use super::{Result, StoreError, from_json, to_json};
use crate::clock::UnixTime;
use crate::protocol::types::AuthMethod;

pub use crate::protocol::client::Client;

const COLUMNS: &str = "client_id, secret_hash, auth_method, client_name, redirect_uris, \
                       claims_redirect_uris, grant_types, metadata, created_at";

/// Registering clients: the narrow interface client registration ([`crate::oauth::registration`]) works
/// against, on write transactions only. A future store implements it and must pass `client_store_contract`.
pub trait ClientStore: ClientRead {
    /// Stores a new client; [`StoreError::Conflict`] when its id is already a client's or a user's.
    fn insert_client(&self, client: &Client) -> Result<()>;
}

impl ClientStore for WriteTx<'_> {
    fn insert_client(&self, client: &Client) -> Result<()> {
        insert(self, client)
    }
}

/// The contract of [`ClientStore`]: a stored client reads back as it was given, and a second client with the
/// same id is a conflict that leaves the first as it was. `tx` is a write transaction on an empty backend.
#[cfg(test)]
pub(crate) fn client_store_contract<W: ClientStore>(tx: &W) {
    let first = Client::for_tests("c1", AuthMethod::ClientSecretBasic, "0123456789abcdef");
    tx.insert_client(&first).expect("insert");
    assert_eq!(tx.client("c1").expect("read"), Some(first.clone()));
    let again = Client::for_tests("c1", AuthMethod::ClientSecretPost, "fedcba9876543210");
    assert!(matches!(
        tx.insert_client(&again),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(tx.client("c1").expect("read"), Some(first));
}

/// The row as stored, decoded by column name; the JSON columns and the method are interpreted in [`decode`].
struct StoredClient {
    client_id: String,
    secret_hash: Option<String>,
    auth_method: String,
    client_name: Option<String>,
    redirect_uris: String,
    claims_redirect_uris: String,
    grant_types: String,
    metadata: String,
    created_at: UnixTime,
}

fn raw(row: &Row<'_>) -> rusqlite::Result<StoredClient> {
    Ok(StoredClient {
        client_id: row.get("client_id")?,
        secret_hash: row.get("secret_hash")?,
        auth_method: row.get("auth_method")?,
        client_name: row.get("client_name")?,
        redirect_uris: row.get("redirect_uris")?,
        claims_redirect_uris: row.get("claims_redirect_uris")?,
        grant_types: row.get("grant_types")?,
        metadata: row.get("metadata")?,
        created_at: row.get("created_at")?,
    })
}

fn decode(raw: StoredClient) -> Result<Client> {
    // The CHECK constraint admits only the methods [`AuthMethod`] knows, so this fails only on a corrupt file.
    let auth_method: AuthMethod =
        raw.auth_method
            .parse()
            .map_err(|e: crate::protocol::types::UnknownAuthMethod| {
                StoreError::Corrupt(e.to_string())
            })?;
    Ok(Client {
        client_id: raw.client_id,
        secret_hash: raw.secret_hash,
        auth_method,
        client_name: raw.client_name,
        redirect_uris: from_json(&raw.redirect_uris)?,
        claims_redirect_uris: from_json(&raw.claims_redirect_uris)?,
        grant_types: from_json(&raw.grant_types)?,
        metadata: from_json(&raw.metadata)?,
        created_at: raw.created_at,
    })
}

pub fn insert(tx: &WriteTx<'_>, client: &Client) -> Result<()> {
    claim_principal(tx, &client.client_id, "client")?;
    tx.conn()?
        .prepare_cached(&format!(
            "INSERT INTO clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?
        .execute(params![
            client.client_id,
            client.secret_hash,
            client.auth_method.as_str(),
            client.client_name,
            to_json(&client.redirect_uris)?,
            to_json(&client.claims_redirect_uris)?,
            to_json(&client.grant_types)?,
            to_json(&client.metadata)?,
            client.created_at,
        ])?;
    Ok(())
}

pub fn get(conn: &ReadTx<'_>, client_id: &str) -> Result<Option<Client>> {
    conn.conn()?
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = ?1"
        ))?
        .query_row([client_id], raw)
        .optional()?
        .map(decode)
        .transpose()
}

pub fn list(conn: &ReadTx<'_>) -> Result<Vec<Client>> {
    let mut stmt = conn
        .conn()?
        .prepare_cached(&format!("SELECT {COLUMNS} FROM clients ORDER BY client_id"))?;
    let rows = stmt
        .query_map([], raw)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

/// Removes the client and, by cascade, its grants, tokens, codes, tickets, and the resources it registered.
/// Returns false when there was no such client.
pub fn remove(tx: &WriteTx<'_>, client_id: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("DELETE FROM principals WHERE id = ?1 AND kind = 'client'")?
        .execute([client_id])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use crate::store::users::{self, User};
    use serde_json::Map;

    #[test]
    fn sqlite_passes_the_client_store_contract() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                client_store_contract(tx);
                Ok::<_, StoreError>(())
            })
            .expect("contract");
    }

    pub(crate) fn sample(id: &str) -> Client {
        Client {
            client_id: id.into(),
            secret_hash: Some("ab".into()),
            auth_method: AuthMethod::ClientSecretBasic,
            client_name: Some("Bank".into()),
            redirect_uris: vec!["https://rs.example/cb".into()],
            claims_redirect_uris: vec![],
            grant_types: vec![crate::protocol::types::GrantType::ClientCredentials],
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

    /// The CHECK of the `clients` table admits exactly the methods [`AuthMethod`] knows.
    #[test]
    fn the_sql_check_admits_exactly_the_auth_methods() {
        let (_dir, store) = temp_store();
        for (n, method) in AuthMethod::ALL.into_iter().enumerate() {
            let mut client = sample(&format!("c{n}"));
            client.auth_method = method;
            if !method.uses_secret() {
                client.secret_hash = None;
            }
            store.write(|tx| insert(tx, &client)).expect("known method");
            let back = store.read(|c| get(c, &client.client_id)).expect("get");
            assert_eq!(back, Some(client));
        }
        let err = store
            .write(|tx| {
                claim_principal(tx, "odd", "client")?;
                tx.conn()?.execute(
                    "INSERT INTO clients (client_id, secret_hash, auth_method, created_at) \
                     VALUES ('odd', 'h', 'private_key_jwt', 0)",
                    [],
                )?;
                Ok::<_, StoreError>(())
            })
            .expect_err("unknown method");
        assert!(err.to_string().contains("CHECK"), "{err}");
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
