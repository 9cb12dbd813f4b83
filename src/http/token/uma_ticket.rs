//! The UMA grant at the token endpoint (UMA 2.0 Grant §3.3.1): parses the form into a
//! [`UmaGrantRequest`] and runs [`crate::uma::grant`], which holds the protocol and its rules.

use std::collections::BTreeSet;

use serde_json::Value;

use super::check_client_grant;
use crate::claims::ID_TOKEN_FORMAT;
use crate::error::OAuthError;
use crate::http::AppState;
use crate::http::forms::Params;
use crate::scope::Scopes;
use crate::store::PctRead;
use crate::store::clients::Client;
use crate::uma::grant::{ClaimToken, UmaGrant, UmaGrantRequest};

fn parse(params: &Params) -> Result<UmaGrantRequest, OAuthError> {
    let claim_token = match (params.get("claim_token"), params.get("claim_token_format")) {
        (Some(token), Some(format)) => Some(ClaimToken {
            token: token.to_owned(),
            format: format.to_owned(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(format!(
                "`claim_token` needs `claim_token_format` (`{ID_TOKEN_FORMAT}`)"
            )));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "`claim_token_format` was sent without a `claim_token`",
            ));
        }
    };
    let scopes = match params.get("scope") {
        Some(text) => Scopes::parse(text)?.iter().map(str::to_owned).collect(),
        None => BTreeSet::new(),
    };
    Ok(UmaGrantRequest {
        ticket: params.require("ticket")?.to_owned(),
        claim_token,
        pct: params.get("pct").map(str::to_owned),
        rpt: params.get("rpt").map(str::to_owned),
        scopes,
    })
}

pub fn grant(state: &AppState, client: &Client, params: &Params) -> Result<Value, OAuthError> {
    check_client_grant(client, super::UMA_TICKET)?;
    let req = parse(params)?;
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
