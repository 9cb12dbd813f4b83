//! The UMA grant at the token endpoint (UMA 2.0 Grant §3.3.1): takes the typed [`UmaTicketRequest`] read from
//! the form, hands it to [`crate::uma::grant`], which holds the protocol and its rules, and runs the decision
//! in one write transaction.

use serde_json::Value;

use crate::error::OAuthError;
use crate::http::AppState;
use crate::oauth::token::UmaTicketRequest;
use crate::store::PctRead;
use crate::store::clients::Client;
use crate::uma::grant::{ClaimToken, UmaGrant, UmaGrantRequest};

/// The domain's request from the token endpoint's typed parameters. Secrets leave their redacting wrappers
/// only here, on their way to the service that hashes them.
fn to_grant_request(typed: &UmaTicketRequest) -> UmaGrantRequest {
    UmaGrantRequest {
        ticket: typed.ticket.secret().to_owned(),
        claim_token: typed.claim_token.as_ref().map(|pushed| ClaimToken {
            token: pushed.token.secret().to_owned(),
            format: pushed.format.clone(),
        }),
        pct: typed.pct.as_ref().map(|p| p.secret().to_owned()),
        rpt: typed.rpt.as_ref().map(|r| r.secret().to_owned()),
        scopes: typed
            .scope
            .iter()
            .flat_map(|s| s.iter())
            .map(str::to_owned)
            .collect(),
    }
}

/// Runs the UMA grant for `client`, which the token endpoint has authenticated and found eligible for it.
pub fn grant(
    state: &AppState,
    client: &Client,
    typed: &UmaTicketRequest,
) -> Result<Value, OAuthError> {
    let req = to_grant_request(typed);
    let ctx = state.context();
    let service = UmaGrant {
        ctx: &ctx,
        verifier: &state.claims,
        policies: &state.policies,
    };
    let claims = service.resolve_claims(client, &req, |hash| state.store.read(|r| r.pct(hash)))?;
    let keys = state.key_set()?;
    state
        .store
        .write_outcome(|tx| service.decide(tx, &keys, client, &req, &claims))
}
