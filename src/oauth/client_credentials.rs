//! The client credentials grant (RFC 6749 §4.4): a confidential client gets a PAT (or an `uma_policy` token)
//! for itself, the client being the resource owner (an organisation owning its resources). No refresh token
//! (RFC 6749 §4.4.3).
//!
//! What this module must never do: issue to a public client or one not registered for the grant (the caller
//! ran [`super::token::check_eligible`] first), issue a scope outside [`ALLOWED`], or reach storage other than
//! through [`TokenStore`].

use crate::clock::UnixTime;
use crate::config::Settings;
use crate::error::OAuthError;
use crate::issue::{self, Issued};
use crate::protocol::tokens::{NewGrant, SubjectKind};
use crate::scope::{Scopes, UMA_POLICY, UMA_PROTECTION};
use crate::store::oauth::TokenStore;

use super::client::Client;

/// Scopes a client may request for itself: a client-owned organisation registers its resources and manages
/// its own sharing policies.
pub const ALLOWED: &[&str] = &[UMA_PROTECTION, UMA_POLICY];

/// The scope to grant: the requested one if it is within [`ALLOWED`], `uma_protection` when none was asked.
/// Checked before any transaction opens.
pub fn granted_scope(requested: Option<Scopes>) -> Result<String, OAuthError> {
    let scope = match requested {
        Some(scope) => scope,
        None => Scopes::parse(UMA_PROTECTION)?,
    };
    scope.check_within(ALLOWED)?;
    Ok(scope.to_string())
}

/// Records the grant and issues the access token, inside the caller's write transaction.
pub fn issue(
    tx: &(impl TokenStore + ?Sized),
    settings: &Settings,
    client: &Client,
    scope: &str,
    now: UnixTime,
) -> Result<Issued, OAuthError> {
    let grant_id = tx.create_grant(
        &NewGrant {
            client_id: &client.client_id,
            subject: &client.client_id,
            subject_kind: SubjectKind::Client,
            scope,
            auth_time: None,
            nonce: None,
        },
        now,
    )?;
    issue::issue_tokens(tx, settings, grant_id, scope, false, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::oauth::AuthMethod;
    use crate::store::oauth::TokenRead;
    use crate::store::testing::temp_store;
    use crate::store::{StoreError, clients};

    #[test]
    fn the_scope_defaults_to_a_pat_and_stays_within_the_allowed() {
        assert_eq!(granted_scope(None).expect("default"), UMA_PROTECTION);
        let both = Scopes::parse("uma_policy uma_protection").expect("scope");
        assert_eq!(
            granted_scope(Some(both)).expect("allowed"),
            "uma_policy uma_protection"
        );
        let err = granted_scope(Some(Scopes::parse("openid").expect("scope"))).expect_err("openid");
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn the_client_owns_the_token_and_gets_no_refresh_token() {
        let (dir, store) = temp_store();
        let settings = Settings::for_data_dir(dir.path());
        let client = Client::for_tests("org1", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        let issued = store
            .write(|tx| {
                clients::insert(tx, &client)?;
                issue(tx, &settings, &client, UMA_PROTECTION, 100)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .expect("issued");
        assert_eq!(issued.refresh_token, None, "RFC 6749 §4.4.3");
        assert_eq!(issued.expires_in, settings.access_token_ttl);
        let record = store
            .read(|tx| tx.token(&crate::crypto::hash_secret(&issued.access_token)))
            .expect("read")
            .expect("stored by hash");
        assert_eq!(record.subject, "org1");
        assert_eq!(record.subject_kind, SubjectKind::Client);
        assert_eq!(record.client_id, "org1");
        assert_eq!(record.expires_at, 100 + settings.access_token_ttl);
    }
}
