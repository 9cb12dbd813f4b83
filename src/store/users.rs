//! Local accounts: resource owners and requesting parties who log in at the authorization endpoint.

use rusqlite::{OptionalExtension, Row, params};

use super::{ReadTx, Result, StoreError, WriteTx, is_unique_violation};

pub use crate::protocol::user::User;

/// Claims a principal identifier (username or client id) in the namespace they share.
pub(crate) fn claim_principal(tx: &WriteTx<'_>, id: &str, kind: &str) -> Result<()> {
    match tx
        .conn()?
        .prepare_cached("INSERT INTO principals (id, kind) VALUES (?1, ?2)")?
        .execute(params![id, kind])
    {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            let existing: String = tx
                .conn()?
                .prepare_cached("SELECT kind FROM principals WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            Err(StoreError::Conflict(format!(
                "the identifier `{id}` is already used by a {existing}"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        username: row.get(0)?,
        password_hash: row.get(1)?,
        email: row.get(2)?,
        name: row.get(3)?,
        created_at: row.get(4)?,
    })
}

const COLUMNS: &str = "username, password_hash, email, name, created_at";

pub fn insert(tx: &WriteTx<'_>, user: &User) -> Result<()> {
    claim_principal(tx, &user.username, "user")?;
    tx.conn()?.prepare_cached("INSERT INTO users (username, password_hash, email, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![user.username, user.password_hash, user.email, user.name, user.created_at],
    )?;
    Ok(())
}

pub fn get(conn: &ReadTx<'_>, username: &str) -> Result<Option<User>> {
    Ok(conn
        .conn()?
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], from_row)
        .optional()?)
}

pub fn list(conn: &ReadTx<'_>) -> Result<Vec<User>> {
    let mut stmt = conn
        .conn()?
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Removes the account and, by cascade, its sessions, codes, grants and tokens, and the resources it owns.
/// Returns false when there was no such user.
pub fn remove(tx: &WriteTx<'_>, username: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("DELETE FROM principals WHERE id = ?1 AND kind = 'user'")?
        .execute([username])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn alice() -> User {
        User {
            username: "alice".into(),
            password_hash: "$argon2id$x".into(),
            email: Some("alice@example.com".into()),
            name: None,
            created_at: 10,
        }
    }

    #[test]
    fn insert_get_list_remove() {
        let (_dir, store) = temp_store();
        store.write(|tx| insert(tx, &alice())).expect("insert");
        assert_eq!(store.read(|c| get(c, "alice")).expect("get"), Some(alice()));
        assert_eq!(store.read(list).expect("list").len(), 1);
        assert!(store.write(|tx| remove(tx, "alice")).expect("remove"));
        assert_eq!(store.read(|c| get(c, "alice")).expect("get"), None);
        assert!(!store.write(|tx| remove(tx, "alice")).expect("remove again"));
    }

    #[test]
    fn duplicate_username_is_a_conflict() {
        let (_dir, store) = temp_store();
        store.write(|tx| insert(tx, &alice())).expect("insert");
        let err = store
            .write(|tx| insert(tx, &alice()))
            .expect_err("duplicate");
        assert!(matches!(err, StoreError::Conflict(m) if m.contains("already used by a user")));
    }
}
