//! Client credentials grant (RFC 6749 §4.4). In UMA it issues a PAT to a resource server that owns its
//! resources itself (an organisation): the client is both the PAT's resource owner and its holder.
//! No refresh token is issued (RFC 6749 §4.4.3).

use serde_json::{Map, Value};

use crate::error::OAuthError;
use crate::http::AppState;
use crate::issue;
use crate::scope::{Scopes, UMA_POLICY, UMA_PROTECTION};
use crate::store::clients::Client;
use crate::store::tokens::{self, NewGrant, SubjectKind};

/// Scopes a client may request for itself: a client-owned organisation registers its resources and manages
/// its own sharing policies.
const ALLOWED: &[&str] = &[UMA_PROTECTION, UMA_POLICY];

/// Issues a PAT to the client itself. The caller has checked that the client is confidential and may use
/// this grant ([`crate::oauth::token::check_eligible`]).
pub fn grant(
    state: &AppState,
    client: &Client,
    scope: Option<Scopes>,
) -> Result<Value, OAuthError> {
    let scope = match scope {
        Some(scope) => scope,
        None => Scopes::parse(UMA_PROTECTION)?,
    };
    scope.check_within(ALLOWED)?;
    let scope = scope.to_string();
    let now = state.now();
    let issued = state.store.write(|tx| {
        let grant_id = tokens::create_grant(
            tx,
            &NewGrant {
                client_id: &client.client_id,
                subject: &client.client_id,
                subject_kind: SubjectKind::Client,
                scope: &scope,
                auth_time: None,
                nonce: None,
            },
            now,
        )?;
        issue::issue_tokens(tx, &state.settings, grant_id, &scope, false, now)
    })?;
    Ok(issued.response(Map::new()))
}
