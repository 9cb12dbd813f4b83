//! The UMA grant at the token endpoint (UMA 2.0 Grant §3.3.1): takes the typed [`UmaGrantRequest`] the token
//! request was parsed into, hands it to [`crate::uma::grant`], which holds the protocol and its rules, and runs
//! the decision on a read snapshot, storing what it produced in one short write (see [`UmaGrant::run`]).

use serde_json::Value;

use crate::error::OAuthError;
use crate::http::AppState;
use crate::ops::metrics;
use crate::store::PctRead;
use crate::store::clients::Client;
use crate::uma::grant::{UmaGrant, UmaGrantRequest};

/// Runs the UMA grant for `client`, which the token endpoint has authenticated and found eligible for it;
/// `http_request_id` goes into the decision log with the decisions. Each answer is counted by kind
/// (`uma_cedar_uma_grant_answers_total`).
pub fn grant(
    state: &AppState,
    client: &Client,
    req: &UmaGrantRequest,
    http_request_id: Option<&str>,
) -> Result<Value, OAuthError> {
    let answer = run(state, client, req, http_request_id);
    metrics::uma_grant_answer(match &answer {
        Ok(_) => "rpt",
        Err(e) => e.code.as_str(),
    });
    answer
}

fn run(
    state: &AppState,
    client: &Client,
    req: &UmaGrantRequest,
    http_request_id: Option<&str>,
) -> Result<Value, OAuthError> {
    let ctx = state.context();
    let service = UmaGrant {
        ctx: &ctx,
        verifier: &state.claims,
        policies: &state.policies,
        http_request_id,
    };
    let claims = service.resolve_claims(client, req, |hash| state.store.read(|r| r.pct(hash)))?;
    let keys = state.key_set()?;
    service.run(&state.store, &keys, client, req, &claims)
}
