//! The narrow storage interfaces the OAuth domain ([`crate::oauth`]) works against, in the style of
//! [`super::traits`]: no SQL type in them, read interfaces on both transaction types, write interfaces only on
//! [`WriteTx`]. A future store implements them on its own transactions and must pass `clients_contract`,
//! `tokens_contract`, `codes_contract`, `requests_contract` and `users_contract`.
//!
//! What these interfaces must never offer: a way to read a token or secret in clear (callers pass SHA-256
//! hashes), or a grant without the client it was issued to.

use super::{ReadTx, Result, WriteTx};
use super::{auth, clients, tokens, users};
use crate::clock::UnixTime;
use crate::protocol::client::Client;
use crate::protocol::tokens::{AuthCode, NewGrant, TokenKind, TokenRecord};
use crate::protocol::user::User;

/// Looking up registered clients.
pub trait ClientRead {
    fn client(&self, client_id: &str) -> Result<Option<Client>>;
}

/// Looking up issued tokens by hash.
pub trait TokenRead {
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>>;
}

/// A token to store: its hash, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken<'a> {
    pub hash: &'a str,
    pub kind: TokenKind,
    pub grant_id: i64,
    pub scope: &'a str,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Creating grants and the tokens issued under them.
pub trait TokenStore: TokenRead {
    /// Records a grant and returns its id.
    fn create_grant(&self, grant: &NewGrant<'_>, now: UnixTime) -> Result<i64>;
    fn insert_token(&self, token: &NewToken<'_>) -> Result<()>;
    /// Marks a refresh token rotated; false when it already was (two concurrent calls never both succeed).
    fn mark_token_used(&self, hash: &str) -> Result<bool>;
    /// Revokes every token of the grant.
    fn revoke_grant(&self, grant_id: i64) -> Result<()>;
    /// Revokes one token and leaves the rest of its grant alone; false when there is none.
    fn revoke_token(&self, hash: &str) -> Result<bool>;
}

/// Authorization codes (RFC 6749 §4.1.2), by hash: stored once, redeemed at most once, kept after
/// redemption with the grant they produced so a replay can revoke it.
pub trait AuthCodeStore {
    fn insert_auth_code(&self, hash: &str, code: &AuthCode) -> Result<()>;
    fn auth_code(&self, hash: &str) -> Result<Option<AuthCode>>;
    /// Marks the code redeemed for `grant_id`; false when it already was (two concurrent calls never both
    /// succeed).
    fn redeem_auth_code(&self, hash: &str, grant_id: i64) -> Result<bool>;
}

/// Pending authorization requests, which the user answers at most once.
pub trait AuthRequestStore {
    /// Removes the pending request with this id hash; false when it was already gone (answered, or expired
    /// and purged), so two answers racing each other can never both proceed.
    fn take_auth_request(&self, id_hash: &str) -> Result<bool>;
}

/// Looking up local accounts.
pub trait UserRead {
    fn user(&self, username: &str) -> Result<Option<User>>;
}

impl UserRead for ReadTx<'_> {
    fn user(&self, username: &str) -> Result<Option<User>> {
        users::get(self, username)
    }
}

impl UserRead for WriteTx<'_> {
    fn user(&self, username: &str) -> Result<Option<User>> {
        users::get(self, username)
    }
}

impl AuthRequestStore for WriteTx<'_> {
    fn take_auth_request(&self, id_hash: &str) -> Result<bool> {
        auth::delete_request(self, id_hash)
    }
}

impl AuthCodeStore for WriteTx<'_> {
    fn insert_auth_code(&self, hash: &str, code: &AuthCode) -> Result<()> {
        auth::insert_code(self, hash, code)
    }

    fn auth_code(&self, hash: &str) -> Result<Option<AuthCode>> {
        auth::get_code(self, hash)
    }

    fn redeem_auth_code(&self, hash: &str, grant_id: i64) -> Result<bool> {
        auth::redeem_code(self, hash, grant_id)
    }
}

impl ClientRead for ReadTx<'_> {
    fn client(&self, client_id: &str) -> Result<Option<Client>> {
        clients::get(self, client_id)
    }
}

impl ClientRead for WriteTx<'_> {
    fn client(&self, client_id: &str) -> Result<Option<Client>> {
        clients::get(self, client_id)
    }
}

impl TokenRead for ReadTx<'_> {
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        tokens::find(self, hash)
    }
}

impl TokenRead for WriteTx<'_> {
    fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        tokens::find(self, hash)
    }
}

impl TokenStore for WriteTx<'_> {
    fn create_grant(&self, grant: &NewGrant<'_>, now: UnixTime) -> Result<i64> {
        tokens::create_grant(self, grant, now)
    }

    fn insert_token(&self, token: &NewToken<'_>) -> Result<()> {
        tokens::insert_token(
            self,
            token.hash,
            token.kind,
            token.grant_id,
            token.scope,
            token.issued_at,
            token.expires_at,
        )
    }

    fn mark_token_used(&self, hash: &str) -> Result<bool> {
        tokens::mark_used(self, hash)
    }

    fn revoke_grant(&self, grant_id: i64) -> Result<()> {
        tokens::revoke_grant(self, grant_id)
    }

    fn revoke_token(&self, hash: &str) -> Result<bool> {
        tokens::revoke_token(self, hash)
    }
}

/// The contract of [`ClientRead`]: an unknown id is `None`, a known one comes back as it was registered.
/// `reader` reads a backend where `client` was registered.
#[cfg(test)]
pub(crate) fn clients_contract<R: ClientRead>(client: &Client, reader: &R) {
    assert_eq!(
        reader.client(&client.client_id).expect("read"),
        Some(client.clone())
    );
    assert_eq!(reader.client("nobody").expect("read"), None);
}

/// The contract of [`TokenStore`]: a token is found by its hash under its grant and client, with its kind,
/// scope and expiry; another hash finds nothing.
#[cfg(test)]
pub(crate) fn tokens_contract<W: TokenStore>(tx: &W, client_id: &str) {
    use crate::protocol::tokens::SubjectKind;
    let grant_id = tx
        .create_grant(
            &NewGrant {
                client_id,
                subject: client_id,
                subject_kind: SubjectKind::Client,
                scope: "uma_protection",
                auth_time: None,
                nonce: None,
            },
            10,
        )
        .expect("grant");
    tx.insert_token(&NewToken {
        hash: "h-access",
        kind: TokenKind::Access,
        grant_id,
        scope: "uma_protection",
        issued_at: 10,
        expires_at: 20,
    })
    .expect("token");
    let found = tx.token("h-access").expect("read").expect("present");
    assert_eq!(found.grant_id, grant_id);
    assert_eq!(found.client_id, client_id);
    assert_eq!(found.kind, TokenKind::Access);
    assert_eq!(found.scope, "uma_protection");
    assert!(found.is_active(19));
    assert!(!found.is_active(20), "expiry is exact");
    assert_eq!(tx.token("h-other").expect("read"), None);
    assert!(tx.mark_token_used("h-access").expect("mark"));
    assert!(
        !tx.mark_token_used("h-access").expect("mark"),
        "used at most once"
    );
    assert!(tx.token("h-access").expect("read").is_some_and(|t| t.used));
    tx.insert_token(&NewToken {
        hash: "h-refresh",
        kind: TokenKind::Refresh,
        grant_id,
        scope: "uma_protection",
        issued_at: 10,
        expires_at: 90,
    })
    .expect("token");
    assert!(tx.revoke_token("h-refresh").expect("revoke one"));
    assert!(!tx.revoke_token("h-none").expect("revoke none"));
    assert!(
        tx.token("h-refresh")
            .expect("read")
            .is_some_and(|t| t.revoked)
    );
    assert!(
        tx.token("h-access")
            .expect("read")
            .is_some_and(|t| !t.revoked),
        "revoking one token leaves the others of its grant alone"
    );
    tx.revoke_grant(grant_id).expect("revoke");
    assert!(
        tx.token("h-access")
            .expect("read")
            .is_some_and(|t| t.revoked)
    );
}

/// The contract of [`AuthCodeStore`]: a code is found by its hash as it was stored, is redeemed at most once,
/// and remembers the grant it was redeemed for. `client_id` and `username` are registered in the backend.
#[cfg(test)]
pub(crate) fn codes_contract<W: AuthCodeStore + TokenStore>(
    tx: &W,
    client_id: &str,
    username: &str,
) {
    use crate::protocol::tokens::SubjectKind;
    let code = AuthCode {
        client_id: client_id.to_owned(),
        username: username.to_owned(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: true,
        scope: "openid".into(),
        code_challenge: Some("challenge".into()),
        nonce: Some("n-1".into()),
        auth_time: 5,
        expires_at: 70,
        grant_id: None,
        used: false,
    };
    tx.insert_auth_code("h-code", &code).expect("insert");
    assert_eq!(tx.auth_code("h-code").expect("read"), Some(code.clone()));
    assert_eq!(tx.auth_code("h-other").expect("read"), None);
    let grant_id = tx
        .create_grant(
            &NewGrant {
                client_id,
                subject: username,
                subject_kind: SubjectKind::User,
                scope: "openid",
                auth_time: Some(5),
                nonce: Some("n-1"),
            },
            10,
        )
        .expect("grant");
    assert!(tx.redeem_auth_code("h-code", grant_id).expect("redeem"));
    assert!(
        !tx.redeem_auth_code("h-code", grant_id).expect("redeem"),
        "redeemed at most once"
    );
    let redeemed = tx.auth_code("h-code").expect("read").expect("kept");
    assert!(redeemed.used);
    assert_eq!(redeemed.grant_id, Some(grant_id));
    assert!(!tx.redeem_auth_code("h-other", grant_id).expect("redeem"));
}

/// The contract of [`super::ConnectedAppRead`]: `username` has no grant yet and `client_id` is registered. A
/// grant shows while one of its tokens is live (unrevoked, unused, unexpired), and never for another subject.
#[cfg(test)]
pub(crate) fn connected_apps_contract<W: TokenStore + super::ConnectedAppRead>(
    tx: &W,
    client_id: &str,
    username: &str,
) {
    use crate::protocol::tokens::SubjectKind;
    let grant = |subject, kind| {
        tx.create_grant(
            &NewGrant {
                client_id,
                subject,
                subject_kind: kind,
                scope: "openid uma_protection",
                auth_time: None,
                nonce: None,
            },
            20,
        )
        .expect("grant")
    };
    let token = |hash, kind, grant_id, expires_at| {
        tx.insert_token(&NewToken {
            hash,
            kind,
            grant_id,
            scope: "openid",
            issued_at: 20,
            expires_at,
        })
        .expect("token")
    };
    assert!(
        tx.live_grants_of_user(username, 50)
            .expect("list")
            .is_empty()
    );
    let live = grant(username, SubjectKind::User);
    token("h-live", TokenKind::Access, live, 100);
    token("h-live-refresh", TokenKind::Refresh, live, 500);
    let expired = grant(username, SubjectKind::User);
    token("h-expired", TokenKind::Access, expired, 40);
    let own = grant(client_id, SubjectKind::Client);
    token("h-own", TokenKind::Access, own, 100);
    let listed = tx.live_grants_of_user(username, 50).expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let first = &listed[0];
    assert_eq!(
        (
            first.grant_id,
            first.client_id.as_str(),
            first.scope.as_str(),
            first.created_at,
            first.refresh
        ),
        (live, client_id, "openid uma_protection", 20, true)
    );
    assert!(
        tx.live_grants_of_user(client_id, 50)
            .expect("list")
            .is_empty(),
        "a client's own grant is no user's"
    );
    tx.revoke_grant(live).expect("revoke");
    assert!(
        tx.live_grants_of_user(username, 50)
            .expect("list")
            .is_empty()
    );
}

/// The contract of [`AuthRequestStore`]: `id_hash` names a pending request in the backend; it is taken once.
#[cfg(test)]
pub(crate) fn requests_contract<W: AuthRequestStore>(tx: &W, id_hash: &str) {
    assert!(tx.take_auth_request(id_hash).expect("take"));
    assert!(
        !tx.take_auth_request(id_hash).expect("take"),
        "taken at most once"
    );
    assert!(!tx.take_auth_request("h-none").expect("take"));
}

/// The contract of [`UserRead`]: an unknown name is `None`, a known account comes back as it was created.
#[cfg(test)]
pub(crate) fn users_contract<R: UserRead>(user: &User, reader: &R) {
    assert_eq!(
        reader.user(&user.username).expect("read"),
        Some(user.clone())
    );
    assert_eq!(reader.user("nobody").expect("read"), None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::types::AuthMethod;
    use crate::store::testing::temp_store;

    #[test]
    fn sqlite_passes_the_client_contract() {
        let (_dir, store) = temp_store();
        let client = Client::for_tests("rs1", AuthMethod::ClientSecretPost, "0123456789abcdef");
        store
            .write(|tx| clients::insert(tx, &client))
            .expect("insert");
        store
            .read(|tx| {
                clients_contract(&client, tx);
                Ok(())
            })
            .expect("read");
        store
            .write(|tx| {
                clients_contract(&client, tx);
                Ok::<_, crate::store::StoreError>(())
            })
            .expect("write");
    }

    #[test]
    fn sqlite_passes_the_code_and_user_contracts() {
        let (_dir, store) = temp_store();
        let client = Client::for_tests("web", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let user = User {
            username: "alice".into(),
            password_hash: "$argon2id$not-checked-here".into(),
            email: Some("alice@example.com".into()),
            name: None,
            created_at: 3,
        };
        store
            .write(|tx| {
                clients::insert(tx, &client)?;
                users::insert(tx, &user)?;
                connected_apps_contract(tx, "web", "alice");
                codes_contract(tx, "web", "alice");
                users_contract(&user, tx);
                auth::insert_request(
                    tx,
                    "h-request",
                    &auth::AuthRequest {
                        csrf_hash: "h-csrf".into(),
                        client_id: "web".into(),
                        params: crate::protocol::tokens::RequestParams {
                            redirect_uri: "https://app.example/cb".into(),
                            redirect_uri_sent: false,
                            scope: "openid".into(),
                            state: None,
                            code_challenge: None,
                            nonce: None,
                        },
                        expires_at: 100,
                    },
                )?;
                requests_contract(tx, "h-request");
                Ok::<_, crate::store::StoreError>(())
            })
            .expect("contract");
        store
            .read(|tx| {
                users_contract(&user, tx);
                Ok(())
            })
            .expect("read");
    }

    #[test]
    fn sqlite_passes_the_token_contract() {
        let (_dir, store) = temp_store();
        let client = Client::for_tests("rs1", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        store
            .write(|tx| {
                clients::insert(tx, &client)?;
                tokens_contract(tx, "rs1");
                Ok::<_, crate::store::StoreError>(())
            })
            .expect("contract");
    }
}
