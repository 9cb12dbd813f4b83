//! Owners' sharing policies: named Cedar sources per owner, and the per-owner version every change bumps.
//!
//! This module stores text and checks nothing about it: callers validate a policy against the schema before
//! they write it (see `crate::owner::policies`), in the same transaction as the write. It must never return one owner's
//! policies from a query about another.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

/// A stored policy source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub owner: String,
    pub name: String,
    pub text: String,
    pub updated_at: UnixTime,
}

/// A line of an owner's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    pub name: String,
    pub updated_at: UnixTime,
    /// Length of the text in bytes.
    pub size: i64,
}

/// True when `owner` names a user or a client (the identifiers a PAT can name).
pub(super) fn owner_exists(conn: &ReadTx<'_>, owner: &str) -> Result<bool> {
    Ok(conn
        .conn()?
        .prepare_cached("SELECT 1 FROM principals WHERE id = ?1")?
        .query_row([owner], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Stores `text` as `owner`'s policy `name`, replacing one of that name. Returns true when it replaced one.
pub(super) fn put(
    tx: &WriteTx<'_>,
    owner: &str,
    name: &str,
    text: &str,
    now: UnixTime,
) -> Result<bool> {
    let replaced = tx
        .conn()?
        .prepare_cached("SELECT 1 FROM policies WHERE owner = ?1 AND name = ?2")?
        .query_row(params![owner, name], |_| Ok(()))
        .optional()?
        .is_some();
    tx.conn()?.prepare_cached(
        "INSERT INTO policies (owner, name, text, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, name) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
    )?
    .execute(params![owner, name, text, now])?;
    Ok(replaced)
}

pub(super) fn get(conn: &ReadTx<'_>, owner: &str, name: &str) -> Result<Option<StoredPolicy>> {
    Ok(conn
        .conn()?
        .prepare_cached(
            "SELECT owner, name, text, updated_at FROM policies WHERE owner = ?1 AND name = ?2",
        )?
        .query_row(params![owner, name], |r| {
            Ok(StoredPolicy {
                owner: r.get("owner")?,
                name: r.get("name")?,
                text: r.get("text")?,
                updated_at: r.get("updated_at")?,
            })
        })
        .optional()?)
}

/// `owner`'s policies by name.
pub(super) fn list(conn: &ReadTx<'_>, owner: &str) -> Result<Vec<PolicyInfo>> {
    let mut stmt = conn.conn()?.prepare_cached(
        "SELECT name, updated_at, length(CAST(text AS BLOB)) AS size FROM policies WHERE owner = ?1 ORDER BY name",
    )?;
    let rows = stmt
        .query_map([owner], |r| {
            Ok(PolicyInfo {
                name: r.get("name")?,
                updated_at: r.get("updated_at")?,
                size: r.get("size")?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The (name, text) of each of `owner`'s policies, by name: what a decision compiles.
pub(super) fn texts(conn: &ReadTx<'_>, owner: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn
        .conn()?
        .prepare_cached("SELECT name, text FROM policies WHERE owner = ?1 ORDER BY name")?;
    let rows = stmt
        .query_map([owner], |r| Ok((r.get("name")?, r.get("text")?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Removes `owner`'s policy `name`. Returns false when there is none.
pub(super) fn remove(tx: &WriteTx<'_>, owner: &str, name: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("DELETE FROM policies WHERE owner = ?1 AND name = ?2")?
        .execute(params![owner, name])?
        > 0)
}

/// The version of `owner`'s policy set: 0 before any policy was ever written, then bumped by every change.
/// One primary-key read, made before every decision.
pub(super) fn version(conn: &ReadTx<'_>, owner: &str) -> Result<i64> {
    Ok(conn
        .conn()?
        .prepare_cached("SELECT version FROM policy_versions WHERE owner = ?1")?
        .query_row([owner], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The version of `owner`'s policy set (0 before any) and the schema fingerprint its set was checked
/// against at that version, if any. One primary-key read, made before every decision.
pub(super) fn state(conn: &ReadTx<'_>, owner: &str) -> Result<(i64, Option<String>)> {
    Ok(conn
        .conn()?
        .prepare_cached("SELECT version, checked_schema FROM policy_versions WHERE owner = ?1")?
        .query_row([owner], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, None)))
}

/// Records that `owner`'s set as it is now was validated against the schema `schema` (a fingerprint). The
/// triggers that bump the version clear it, so it never outlives a change of the set.
pub(super) fn mark_checked(tx: &WriteTx<'_>, owner: &str, schema: &str) -> Result<()> {
    tx.conn()?
        .prepare_cached("UPDATE policy_versions SET checked_schema = ?2 WHERE owner = ?1")?
        .execute(params![owner, schema])?;
    Ok(())
}

/// Records, as [`mark_checked`] does, that `owner`'s set at `version` was validated against `schema`, unless the
/// set has changed since (its version moved): true when it was recorded.
pub(super) fn mark_checked_at(
    tx: &WriteTx<'_>,
    owner: &str,
    version: i64,
    schema: &str,
) -> Result<bool> {
    let changed = tx
        .conn()?
        .prepare_cached(
            "UPDATE policy_versions SET checked_schema = ?3 WHERE owner = ?1 AND version = ?2",
        )?
        .execute(params![owner, version, schema])?;
    Ok(changed == 1)
}

/// Every owner who has at least one policy.
pub(super) fn owners(conn: &ReadTx<'_>) -> Result<Vec<String>> {
    let mut stmt = conn
        .conn()?
        .prepare_cached("SELECT DISTINCT owner FROM policies ORDER BY owner")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;
    use crate::store::{Store, StoreError, users};

    fn user(store: &Store, name: &str) {
        let record = users::User {
            username: name.into(),
            password_hash: "x".into(),
            email: None,
            name: None,
            created_at: 0,
        };
        store.write(|tx| users::insert(tx, &record)).expect("user");
    }

    fn put_one(store: &Store, owner: &str, name: &str, text: &str) -> bool {
        store
            .write(|tx| put(tx, owner, name, text, 10))
            .expect("put")
    }

    #[test]
    fn put_replaces_by_name_and_bumps_the_version() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        assert_eq!(store.read(|c| version(c, "alice")).expect("v"), 0);
        assert!(!put_one(&store, "alice", "spouse", "a"));
        let v1 = store.read(|c| version(c, "alice")).expect("v");
        assert!(
            put_one(&store, "alice", "spouse", "b"),
            "same name replaces"
        );
        let v2 = store.read(|c| version(c, "alice")).expect("v");
        assert!(v2 > v1 && v1 > 0, "{v1} {v2}");
        let got = store
            .read(|c| get(c, "alice", "spouse"))
            .expect("get")
            .expect("present");
        assert_eq!(got.text, "b");
        assert_eq!(
            store.read(|c| texts(c, "alice")).expect("texts"),
            vec![("spouse".to_owned(), "b".to_owned())]
        );
    }

    #[test]
    fn owners_never_see_each_others_policies() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        user(&store, "kate");
        put_one(&store, "alice", "p", "alice's");
        put_one(&store, "kate", "p", "kate's");
        assert_eq!(
            store
                .read(|c| get(c, "kate", "p"))
                .expect("get")
                .map(|p| p.text),
            Some("kate's".to_owned())
        );
        assert!(store.write(|tx| remove(tx, "kate", "p")).expect("remove"));
        assert!(store.read(|c| get(c, "alice", "p")).expect("get").is_some());
        assert_eq!(
            store.read(|c| list(c, "alice")).expect("list"),
            vec![PolicyInfo {
                name: "p".into(),
                updated_at: 10,
                size: 7
            }]
        );
        assert_eq!(store.read(owners).expect("owners"), vec!["alice"]);
    }

    #[test]
    fn removing_bumps_the_version_and_unknown_names_are_false() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        put_one(&store, "alice", "p", "x");
        let before = store.read(|c| version(c, "alice")).expect("v");
        assert!(store.write(|tx| remove(tx, "alice", "p")).expect("remove"));
        assert!(store.read(|c| version(c, "alice")).expect("v") > before);
        assert!(!store.write(|tx| remove(tx, "alice", "p")).expect("remove"));
    }

    #[test]
    fn an_owner_removed_and_created_again_gets_a_new_version() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        put_one(&store, "alice", "p", "old");
        let before = store.read(|c| version(c, "alice")).expect("v");
        assert!(
            store
                .write(|tx| users::remove(tx, "alice"))
                .expect("remove user")
        );
        assert!(store.read(|c| texts(c, "alice")).expect("texts").is_empty());
        user(&store, "alice");
        assert!(
            store.read(|c| version(c, "alice")).expect("v") > before,
            "the cascade bumped the version, so no cache can serve the old set"
        );
    }

    #[test]
    fn an_unknown_owner_cannot_hold_policies() {
        let (_dir, store) = temp_store();
        assert!(!store.read(|c| owner_exists(c, "nobody")).expect("exists"));
        let result: Result<bool> = store.write(|tx| put(tx, "nobody", "p", "x", 1));
        assert!(matches!(result, Err(StoreError::Sqlite(_))));
    }

    #[test]
    fn the_checked_schema_is_kept_for_its_version_only() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        assert_eq!(store.read(|c| state(c, "alice")).expect("s"), (0, None));
        put_one(&store, "alice", "p", "a");
        let v1 = store.read(|c| version(c, "alice")).expect("v");
        assert_eq!(store.read(|c| state(c, "alice")).expect("s"), (v1, None));
        store
            .write(|tx| mark_checked(tx, "alice", "schema-1"))
            .expect("mark");
        assert_eq!(
            store.read(|c| state(c, "alice")).expect("s"),
            (v1, Some("schema-1".to_owned()))
        );
        for change in [
            |tx: &WriteTx<'_>| put(tx, "alice", "q", "b", 11).map(|_| ()),
            |tx: &WriteTx<'_>| put(tx, "alice", "q", "c", 12).map(|_| ()),
            |tx: &WriteTx<'_>| remove(tx, "alice", "q").map(|_| ()),
        ] {
            store
                .write(|tx| mark_checked(tx, "alice", "schema-1"))
                .expect("mark");
            store.write(change).expect("change");
            let (version, checked) = store.read(|c| state(c, "alice")).expect("s");
            assert!(version > v1);
            assert_eq!(checked, None, "every change forgets the check");
        }
    }

    #[test]
    fn a_check_made_at_an_older_version_is_not_recorded() {
        let (_dir, store) = temp_store();
        user(&store, "alice");
        put_one(&store, "alice", "p", "a");
        let v1 = store.read(|c| version(c, "alice")).expect("v");
        put_one(&store, "alice", "q", "b");
        let v2 = store.read(|c| version(c, "alice")).expect("v");
        assert!(
            !store
                .write(|tx| mark_checked_at(tx, "alice", v1, "schema-1"))
                .expect("mark")
        );
        assert_eq!(store.read(|c| state(c, "alice")).expect("s"), (v2, None));
        assert!(
            store
                .write(|tx| mark_checked_at(tx, "alice", v2, "schema-1"))
                .expect("mark")
        );
        assert_eq!(
            store.read(|c| state(c, "alice")).expect("s"),
            (v2, Some("schema-1".to_owned()))
        );
    }
}
