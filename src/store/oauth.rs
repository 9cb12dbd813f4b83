//! The narrow storage interfaces the OAuth domain ([`crate::oauth`]) works against, in the style of
//! [`super::traits`]: no SQL type in them, read interfaces on both transaction types, write interfaces only on
//! [`WriteTx`]. A future store implements them on its own transactions and must pass `clients_contract` and
//! `tokens_contract`.
//!
//! What these interfaces must never offer: a way to read a token or secret in clear (callers pass SHA-256
//! hashes), or a grant without the client it was issued to.

use super::clients::{self, Client};
use super::tokens::{self, NewGrant, TokenKind, TokenRecord};
use super::{ReadTx, Result, WriteTx};
use crate::clock::UnixTime;

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
    use super::tokens::SubjectKind;
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
    tx.revoke_grant(grant_id).expect("revoke");
    assert!(
        tx.token("h-access")
            .expect("read")
            .is_some_and(|t| t.revoked)
    );
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
