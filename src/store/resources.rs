//! Registered resources (Federated Authorization §3): what a resource server registered for a resource owner.
//!
//! Every lookup is keyed on the (owner, resource server) pair as well as the id, so a query can never hand one
//! pair's resource to another; there is no unscoped lookup. Callers outside `store` reach these through
//! [`ResourceRead`](super::ResourceRead) and [`ResourceStore`](super::ResourceStore).
//! Descriptions arrive here already validated; this module checks nothing about their content.

use rusqlite::{OptionalExtension, Row, params};

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

pub use crate::protocol::uma::{Description, Resource};

const COLUMNS: &str = "id, owner, client_id, description, created_at, updated_at";

/// A row as read, its description still JSON text.
struct RawResource {
    resource: Resource,
    description: String,
}

fn raw(row: &Row<'_>) -> rusqlite::Result<RawResource> {
    Ok(RawResource {
        resource: Resource {
            id: row.get("id")?,
            owner: row.get("owner")?,
            client_id: row.get("client_id")?,
            description: Description::default(),
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        },
        description: row.get("description")?,
    })
}

fn decode(raw: RawResource) -> Result<Resource> {
    Ok(Resource {
        description: from_json(&raw.description)?,
        ..raw.resource
    })
}

pub(super) fn insert(tx: &WriteTx<'_>, resource: &Resource) -> Result<()> {
    tx.conn()?
        .prepare_cached(&format!(
            "INSERT INTO resources ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))?
        .execute(params![
            resource.id,
            resource.owner,
            resource.client_id,
            to_json(&resource.description)?,
            resource.created_at,
            resource.updated_at,
        ])?;
    Ok(())
}

/// The resource `id` if the (owner, resource server) pair registered it.
pub(super) fn get(
    conn: &ReadTx<'_>,
    id: &str,
    owner: &str,
    client_id: &str,
) -> Result<Option<Resource>> {
    conn.conn()?
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM resources WHERE id = ?1 AND owner = ?2 AND client_id = ?3"
        ))?
        .query_row(params![id, owner, client_id], raw)
        .optional()?
        .map(decode)
        .transpose()
}

/// The resources among `ids` that the (owner, resource server) pair registered, in the order of `ids`;
/// ids that are unknown or belong to someone else are simply absent from the answer.
pub(super) fn get_many(
    conn: &ReadTx<'_>,
    ids: &[&str],
    owner: &str,
    client_id: &str,
) -> Result<Vec<Resource>> {
    // One cached statement per id rather than a single `IN (...)`: no bound-parameter limit to worry about.
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(resource) = get(conn, id, owner, client_id)? {
            found.push(resource);
        }
    }
    Ok(found)
}

/// The ids of every resource the (owner, resource server) pair registered, oldest first.
pub(super) fn list(conn: &ReadTx<'_>, owner: &str, client_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT id FROM resources WHERE owner = ?1 AND client_id = ?2 ORDER BY created_at, id",
    )?;
    let ids = stmt
        .query_map(params![owner, client_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

/// Replaces the whole description of a resource the pair registered. Returns false when there is none.
pub(super) fn replace(
    tx: &WriteTx<'_>,
    id: &str,
    owner: &str,
    client_id: &str,
    description: &Description,
    now: UnixTime,
) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached(
            "UPDATE resources SET description = ?4, updated_at = ?5
         WHERE id = ?1 AND owner = ?2 AND client_id = ?3",
        )?
        .execute(params![id, owner, client_id, to_json(description)?, now])?
        > 0)
}

/// Deletes a resource the pair registered. Returns false when there is none.
pub(super) fn delete(tx: &WriteTx<'_>, id: &str, owner: &str, client_id: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("DELETE FROM resources WHERE id = ?1 AND owner = ?2 AND client_id = ?3")?
        .execute(params![id, owner, client_id])?
        > 0)
}

/// Every scope registered on any of `owner`'s resources, whichever resource server registered it: the known
/// scopes a policy of that owner is checked against.
pub(super) fn scopes_of_owner(
    conn: &ReadTx<'_>,
    owner: &str,
) -> Result<std::collections::BTreeSet<String>> {
    let mut stmt = conn
        .conn()?
        .prepare_cached("SELECT description FROM resources WHERE owner = ?1")?;
    let descriptions = stmt
        .query_map([owner], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    let mut scopes = std::collections::BTreeSet::new();
    for text in descriptions {
        let description: Description = from_json(&text)?;
        scopes.extend(description.resource_scopes);
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::{self, Client};
    use crate::store::testing::temp_store;
    use crate::store::{Store, StoreError};
    use serde_json::{Map, Value};

    fn client(id: &str) -> Client {
        crate::store::testing::public_client(id)
    }

    fn resource(id: &str, owner: &str, client_id: &str) -> Resource {
        let mut extensions = Map::new();
        extensions.insert("x-color".into(), Value::from("blue"));
        Resource {
            id: id.into(),
            owner: owner.into(),
            client_id: client_id.into(),
            description: Description {
                resource_scopes: vec!["view".into(), "edit".into()],
                name: Some("Checking".into()),
                kind: Some("account".into()),
                extensions,
                ..Description::default()
            },
            created_at: 10,
            updated_at: 10,
        }
    }

    /// Two client-owned resource servers; each owns itself, so `rs1` is both an owner and an RS.
    fn setup() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(tx, &client("rs1"))?;
                clients::insert(tx, &client("rs2"))?;
                insert(tx, &resource("r1", "rs1", "rs1"))?;
                insert(tx, &resource("r2", "rs2", "rs2"))?;
                Ok::<_, StoreError>(())
            })
            .expect("setup");
        (dir, store)
    }

    #[test]
    fn round_trip_keeps_every_member() {
        let (_dir, store) = setup();
        let got = store
            .read(|c| get(c, "r1", "rs1", "rs1"))
            .expect("get")
            .expect("present");
        assert_eq!(got, resource("r1", "rs1", "rs1"));
        assert_eq!(
            store
                .read(|c| get(c, "r2", "rs2", "rs2"))
                .expect("find")
                .map(|r| r.owner),
            Some("rs2".to_owned())
        );
    }

    #[test]
    fn every_scoped_call_ignores_other_pairs() {
        let (_dir, store) = setup();
        assert_eq!(
            store.read(|c| get(c, "r1", "rs2", "rs2")).expect("get"),
            None
        );
        assert_eq!(
            store.read(|c| get(c, "r1", "rs1", "rs2")).expect("get"),
            None
        );
        assert_eq!(
            store.read(|c| list(c, "rs1", "rs1")).expect("list"),
            vec!["r1"]
        );
        let many = store
            .read(|c| get_many(c, &["r1", "r2", "nope"], "rs1", "rs1"))
            .expect("get_many");
        assert_eq!(
            many.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["r1"]
        );
        let d = Description::default();
        assert!(
            !store
                .write(|tx| replace(tx, "r1", "rs2", "rs2", &d, 20))
                .expect("replace")
        );
        assert!(
            !store
                .write(|tx| delete(tx, "r1", "rs2", "rs2"))
                .expect("delete")
        );
        assert!(
            store
                .read(|c| get(c, "r1", "rs1", "rs1"))
                .expect("find")
                .is_some()
        );
    }

    #[test]
    fn replace_swaps_the_whole_description() {
        let (_dir, store) = setup();
        let new = Description {
            resource_scopes: vec!["print".into()],
            ..Description::default()
        };
        assert!(
            store
                .write(|tx| replace(tx, "r1", "rs1", "rs1", &new, 20))
                .expect("replace")
        );
        let got = store
            .read(|c| get(c, "r1", "rs1", "rs1"))
            .expect("get")
            .expect("present");
        assert_eq!(got.description, new);
        assert_eq!((got.created_at, got.updated_at), (10, 20));
    }

    #[test]
    fn scopes_of_owner_unions_every_resource_of_that_owner_only() {
        let (_dir, store) = setup();
        let other = Resource {
            description: Description {
                resource_scopes: vec!["print".into(), "view".into()],
                ..Description::default()
            },
            ..resource("r3", "rs1", "rs2")
        };
        store.write(|tx| insert(tx, &other)).expect("insert");
        let scopes = store.read(|c| scopes_of_owner(c, "rs1")).expect("scopes");
        assert_eq!(
            scopes.into_iter().collect::<Vec<_>>(),
            vec!["edit", "print", "view"]
        );
        assert!(
            store
                .read(|c| scopes_of_owner(c, "nobody"))
                .expect("scopes")
                .is_empty()
        );
    }

    #[test]
    fn delete_removes_it() {
        let (_dir, store) = setup();
        assert!(
            store
                .write(|tx| delete(tx, "r1", "rs1", "rs1"))
                .expect("delete")
        );
        assert_eq!(
            store.read(|c| get(c, "r1", "rs1", "rs1")).expect("find"),
            None
        );
        assert!(
            store
                .read(|c| list(c, "rs1", "rs1"))
                .expect("list")
                .is_empty()
        );
    }
}
