//! Connected applications, as the owner console shows them: the resource servers holding her PATs and the
//! clients holding her access or refresh tokens, one entry per client, and revocation of one client's tokens.
//!
//! Revoking uses the token store's grant revocation, the same one RFC 7009 revocation of a refresh token uses
//! ([`crate::oauth::revocation`]): the grant and every token under it die together. It must never touch a
//! grant of another user, nor the client's own (client credentials) grants.

use std::collections::BTreeSet;

use crate::clock::UnixTime;
use crate::scope::UMA_PROTECTION;
use crate::store::oauth::TokenStore;
use crate::store::{ConnectedAppRead, StoreError};

/// What an application holds for her.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// A resource server holding a PAT (`uma_protection`): it registers her resources.
    ResourceServer,
    /// A client acting for her with access (and perhaps refresh) tokens.
    Client,
}

impl AppKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::ResourceServer => "resource server",
            Self::Client => "client",
        }
    }
}

/// One connected application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    pub client_name: Option<String>,
    pub kind: AppKind,
    /// Every scope she consented to across the client's live grants.
    pub scopes: BTreeSet<String>,
    /// When she first consented to one of its live grants.
    pub issued_at: UnixTime,
    /// True when it holds a refresh token (it can act for her without her until revoked).
    pub offline: bool,
}

/// `owner`'s connected applications at `now`, by client id.
pub fn list(
    reader: &impl ConnectedAppRead,
    owner: &str,
    now: UnixTime,
) -> Result<Vec<ConnectedApp>, StoreError> {
    let mut apps: Vec<ConnectedApp> = Vec::new();
    for grant in reader.live_grants_of_user(owner, now)? {
        let scopes = grant.scope.split_whitespace().map(str::to_owned);
        match apps.iter_mut().find(|a| a.client_id == grant.client_id) {
            Some(app) => {
                app.scopes.extend(scopes);
                app.issued_at = app.issued_at.min(grant.created_at);
                app.offline |= grant.refresh;
            }
            None => apps.push(ConnectedApp {
                client_id: grant.client_id,
                client_name: grant.client_name,
                kind: AppKind::Client,
                scopes: scopes.collect(),
                issued_at: grant.created_at,
                offline: grant.refresh,
            }),
        }
    }
    for app in &mut apps {
        if app.scopes.contains(UMA_PROTECTION) {
            app.kind = AppKind::ResourceServer;
        }
    }
    apps.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(apps)
}

/// Revokes every live grant `owner` gave `client_id` (and so every token under them) at `now`; returns how
/// many grants were revoked (0 when the client holds nothing of hers).
pub fn revoke(
    tx: &(impl ConnectedAppRead + TokenStore),
    owner: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<usize, StoreError> {
    let grants: Vec<i64> = tx
        .live_grants_of_user(owner, now)?
        .into_iter()
        .filter(|g| g.client_id == client_id)
        .map(|g| g.grant_id)
        .collect();
    for grant in &grants {
        tx.revoke_grant(*grant)?;
    }
    Ok(grants.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tokens::{NewGrant, SubjectKind, TokenKind};
    use crate::store::oauth::NewToken;
    use crate::store::testing::{public_client, temp_store, test_user};
    use crate::store::{WriteTx, clients, users};

    fn grant(
        tx: &WriteTx<'_>,
        client: &str,
        subject: &str,
        kind: SubjectKind,
        scope: &str,
        at: UnixTime,
        tokens: &[(&str, TokenKind, UnixTime)],
    ) -> i64 {
        let id = tx
            .create_grant(
                &NewGrant {
                    client_id: client,
                    subject,
                    subject_kind: kind,
                    scope,
                    auth_time: None,
                    nonce: None,
                },
                at,
            )
            .expect("grant");
        for (hash, kind, expires_at) in tokens {
            tx.insert_token(&NewToken {
                hash,
                kind: *kind,
                grant_id: id,
                scope,
                issued_at: at,
                expires_at: *expires_at,
            })
            .expect("token");
        }
        id
    }

    #[test]
    fn her_live_grants_listed_per_client_and_revoked_per_client() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                for user in ["alice", "carol"] {
                    users::insert(tx, &test_user(user))?;
                }
                let mut bank = public_client("bank-rs");
                bank.client_name = Some("Bank".into());
                clients::insert(tx, &bank)?;
                clients::insert(tx, &public_client("budget"))?;
                clients::insert(tx, &public_client("stale"))?;
                grant(
                    tx,
                    "bank-rs",
                    "alice",
                    SubjectKind::User,
                    "uma_protection",
                    10,
                    &[("h1", TokenKind::Access, 1000)],
                );
                grant(
                    tx,
                    "budget",
                    "alice",
                    SubjectKind::User,
                    "openid email",
                    20,
                    &[("h2", TokenKind::Access, 1000)],
                );
                grant(
                    tx,
                    "budget",
                    "alice",
                    SubjectKind::User,
                    "profile",
                    15,
                    &[("h3", TokenKind::Refresh, 5000)],
                );
                // Expired: not connected any more.
                grant(
                    tx,
                    "stale",
                    "alice",
                    SubjectKind::User,
                    "openid",
                    5,
                    &[("h4", TokenKind::Access, 50)],
                );
                // Carol's, and the client's own: never hers.
                grant(
                    tx,
                    "budget",
                    "carol",
                    SubjectKind::User,
                    "openid",
                    5,
                    &[("h5", TokenKind::Access, 1000)],
                );
                grant(
                    tx,
                    "bank-rs",
                    "bank-rs",
                    SubjectKind::Client,
                    "uma_protection",
                    5,
                    &[("h6", TokenKind::Access, 1000)],
                );
                Ok::<_, StoreError>(())
            })
            .expect("setup");

        let apps = store.read(|r| list(r, "alice", 100)).expect("list");
        assert_eq!(apps.len(), 2, "{apps:?}");
        let bank = &apps[0];
        assert_eq!(
            (
                bank.client_id.as_str(),
                bank.client_name.as_deref(),
                bank.kind
            ),
            ("bank-rs", Some("Bank"), AppKind::ResourceServer)
        );
        assert!(!bank.offline);
        let budget = &apps[1];
        assert_eq!(
            (budget.client_id.as_str(), budget.kind, budget.issued_at),
            ("budget", AppKind::Client, 15)
        );
        assert!(budget.offline);
        assert_eq!(
            budget.scopes,
            BTreeSet::from(["email".into(), "openid".into(), "profile".into()])
        );

        assert_eq!(
            store
                .write(|tx| revoke(tx, "alice", "budget", 100))
                .expect("revoke"),
            2
        );
        let tokens = store
            .read(|r| {
                use crate::store::oauth::TokenRead;
                Ok::<_, StoreError>(
                    ["h2", "h3", "h5", "h1"].map(|h| r.token(h).ok().flatten().map(|t| t.revoked)),
                )
            })
            .expect("tokens");
        assert_eq!(
            tokens,
            [Some(true), Some(true), Some(false), Some(false)],
            "only alice's budget tokens died"
        );
        let apps = store.read(|r| list(r, "alice", 100)).expect("list");
        assert_eq!(
            apps.iter()
                .map(|a| a.client_id.as_str())
                .collect::<Vec<_>>(),
            ["bank-rs"]
        );
        assert_eq!(
            store
                .write(|tx| revoke(tx, "alice", "budget", 100))
                .expect("again"),
            0
        );
        assert_eq!(
            store.read(|r| list(r, "carol", 100)).expect("carol").len(),
            1
        );
    }
}
