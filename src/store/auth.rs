//! Storage for the browser side of the authorization code flow (RFC 6749 §4.1): pending authorization
//! requests, login sessions and authorization codes.
//!
//! Every identifier here is a bearer secret (a request id, a CSRF token, a session id, a code), so this module
//! only ever sees their SHA-256 hashes; it must never be handed a clear value. Deciding whether a row is still
//! usable (expiry, reuse) is the caller's job: the rows are returned as they are, so a reused code can still be
//! traced to the grant it produced.

use rusqlite::{OptionalExtension, params};

use super::{ReadTx, Result, WriteTx, from_json, to_json};
use crate::clock::UnixTime;

/// Used codes are kept this long after they expire, so a late replay is still recognised as a replay and
/// revokes what the code produced, instead of passing for an unknown code.
pub const USED_CODE_RETENTION: i64 = 24 * 3600;

/// A pending authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub csrf_hash: String,
    pub client_id: String,
    pub params: RequestParams,
    pub expires_at: UnixTime,
}

pub fn insert_request(tx: &WriteTx<'_>, id_hash: &str, request: &AuthRequest) -> Result<()> {
    tx.conn()?
        .prepare_cached(
            "INSERT INTO auth_requests (id_hash, csrf_hash, client_id, params, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            id_hash,
            request.csrf_hash,
            request.client_id,
            to_json(&request.params)?,
            request.expires_at
        ])?;
    Ok(())
}

pub fn get_request(conn: &ReadTx<'_>, id_hash: &str) -> Result<Option<AuthRequest>> {
    let raw = conn
        .conn()?
        .prepare_cached(
            "SELECT csrf_hash, client_id, params, expires_at FROM auth_requests WHERE id_hash = ?1",
        )?
        .query_row([id_hash], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, UnixTime>(3)?,
            ))
        })
        .optional()?;
    raw.map(|(csrf_hash, client_id, params, expires_at)| {
        Ok(AuthRequest {
            csrf_hash,
            client_id,
            params: from_json(&params)?,
            expires_at,
        })
    })
    .transpose()
}

/// Removes a request once the user decided. Returns false when it was already gone, which means another
/// submission of the same form got there first.
pub fn delete_request(tx: &WriteTx<'_>, id_hash: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached("DELETE FROM auth_requests WHERE id_hash = ?1")?
        .execute([id_hash])?
        > 0)
}

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub username: String,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

pub fn insert_session(tx: &WriteTx<'_>, id_hash: &str, session: &Session) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO sessions (id_hash, username, auth_time, expires_at) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
            id_hash,
            session.username,
            session.auth_time,
            session.expires_at
        ],
    )?;
    Ok(())
}

/// Ends a browser's session (sign-out). False when there was none.
pub fn delete_session(tx: &WriteTx<'_>, id_hash: &str) -> Result<bool> {
    Ok(tx
        .conn()?
        .execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?
        > 0)
}

pub fn get_session(conn: &ReadTx<'_>, id_hash: &str) -> Result<Option<Session>> {
    Ok(conn
        .conn()?
        .prepare_cached("SELECT username, auth_time, expires_at FROM sessions WHERE id_hash = ?1")?
        .query_row([id_hash], |r| {
            Ok(Session {
                username: r.get(0)?,
                auth_time: r.get(1)?,
                expires_at: r.get(2)?,
            })
        })
        .optional()?)
}

pub use crate::protocol::tokens::{AuthCode, RequestParams};

pub fn insert_code(tx: &WriteTx<'_>, hash: &str, code: &AuthCode) -> Result<()> {
    tx.conn()?.prepare_cached("INSERT INTO auth_codes (hash, client_id, username, redirect_uri, redirect_uri_sent, scope,
                                 code_challenge, nonce, auth_time, expires_at, grant_id, used)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")?.execute(params![
            hash,
            code.client_id,
            code.username,
            code.redirect_uri,
            code.redirect_uri_sent,
            code.scope,
            code.code_challenge,
            code.nonce,
            code.auth_time,
            code.expires_at,
            code.grant_id,
            code.used
        ],
    )?;
    Ok(())
}

pub fn get_code(conn: &ReadTx<'_>, hash: &str) -> Result<Option<AuthCode>> {
    Ok(conn.conn()?
        .prepare_cached("SELECT client_id, username, redirect_uri, redirect_uri_sent, scope, code_challenge, nonce,
                    auth_time, expires_at, grant_id, used
             FROM auth_codes WHERE hash = ?1")?.query_row([hash],
            |r| {
                Ok(AuthCode {
                    client_id: r.get(0)?,
                    username: r.get(1)?,
                    redirect_uri: r.get(2)?,
                    redirect_uri_sent: r.get(3)?,
                    scope: r.get(4)?,
                    code_challenge: r.get(5)?,
                    nonce: r.get(6)?,
                    auth_time: r.get(7)?,
                    expires_at: r.get(8)?,
                    grant_id: r.get(9)?,
                    used: r.get(10)?,
                })
            },
        )
        .optional()?)
}

/// Marks a code redeemed for `grant_id`. Returns false when it was already used, so two redemptions racing
/// each other can never both succeed.
pub fn redeem_code(tx: &WriteTx<'_>, hash: &str, grant_id: i64) -> Result<bool> {
    Ok(tx
        .conn()?
        .prepare_cached(
            "UPDATE auth_codes SET used = 1, grant_id = ?2 WHERE hash = ?1 AND used = 0",
        )?
        .execute(params![hash, grant_id])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::{self, Client};
    use crate::store::testing::temp_store;
    use crate::store::tokens::{self, NewGrant, SubjectKind};
    use crate::store::users;
    use crate::store::{Store, StoreError};

    fn setup() -> (tempfile::TempDir, Store) {
        let (dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(
                    tx,
                    &Client {
                        redirect_uris: vec!["https://web.example/cb".into()],
                        ..crate::store::testing::public_client("web")
                    },
                )?;
                users::insert(tx, &crate::store::testing::test_user("alice"))?;
                Ok::<_, StoreError>(())
            })
            .expect("setup");
        (dir, store)
    }

    fn code() -> AuthCode {
        AuthCode {
            client_id: "web".into(),
            username: "alice".into(),
            redirect_uri: "https://web.example/cb".into(),
            redirect_uri_sent: false,
            scope: "openid".into(),
            code_challenge: Some("challenge".into()),
            nonce: Some("n-1".into()),
            auth_time: 90,
            expires_at: 160,
            grant_id: None,
            used: false,
        }
    }

    #[test]
    fn request_round_trip_and_single_delete() {
        let (_dir, store) = setup();
        let request = AuthRequest {
            csrf_hash: "c".into(),
            client_id: "web".into(),
            params: RequestParams {
                redirect_uri: "https://web.example/cb".into(),
                redirect_uri_sent: true,
                scope: "openid".into(),
                state: Some("xyz".into()),
                code_challenge: None,
                nonce: None,
            },
            expires_at: 700,
        };
        store
            .write(|tx| insert_request(tx, "r", &request))
            .expect("insert");
        assert_eq!(
            store.read(|c| get_request(c, "r")).expect("get"),
            Some(request)
        );
        assert!(store.write(|tx| delete_request(tx, "r")).expect("delete"));
        assert!(!store.write(|tx| delete_request(tx, "r")).expect("again"));
        assert_eq!(store.read(|c| get_request(c, "r")).expect("get"), None);
    }

    #[test]
    fn code_is_redeemed_once_and_remembers_its_grant() {
        let (_dir, store) = setup();
        store
            .write(|tx| insert_code(tx, "h", &code()))
            .expect("insert");
        let grant_id = store
            .write(|tx| {
                tokens::create_grant(
                    tx,
                    &NewGrant {
                        client_id: "web",
                        subject: "alice",
                        subject_kind: SubjectKind::User,
                        scope: "openid",
                        auth_time: Some(90),
                        nonce: None,
                    },
                    100,
                )
            })
            .expect("grant");
        assert!(
            store
                .write(|tx| redeem_code(tx, "h", grant_id))
                .expect("redeem")
        );
        assert!(
            !store
                .write(|tx| redeem_code(tx, "h", grant_id))
                .expect("redeem again")
        );
        let stored = store.read(|c| get_code(c, "h")).expect("get");
        assert_eq!(
            stored,
            Some(AuthCode {
                grant_id: Some(grant_id),
                used: true,
                ..code()
            })
        );
    }
}
