//! The UMA grant at the token endpoint (UMA 2.0 Grant §3.3.1–§3.3.6).
//!
//! A client presents a permission ticket, optionally with a claim token (an OpenID Connect ID token), a PCT,
//! an RPT to upgrade, and a `scope`. The ticket is consumed in the same transaction that stores what it
//! produces: an RPT, a rotated ticket (`need_info`), or nothing (`request_denied`, `invalid_scope`). Each
//! requested (resource, scope) is decided by the resource owner's Cedar policies alone; see `uma::assess`
//! for how the decisions combine.
//!
//! What this module must never do:
//! - let anything but the owner's policies grant (no default permit, no other owner's policy);
//! - let a client burn a ticket rotated for another client (the bound-client check rolls back);
//! - let claims in the context come from the client: pushed claims become principal attributes only after
//!   their signature, issuer, audience and expiry were checked;
//! - hand out an RPT or PCT whose clear value is stored: RPTs are looked up by `jti`, PCTs by hash.

use crate::store::{DecisionLog, PctRead, PctStore, ResourceRead, RptRead, RptStore, TicketStore};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::claims::{ClaimError, ID_TOKEN_FORMAT};
use crate::clock::UnixTime;
use crate::crypto;
use crate::crypto::keys::KeySet;
use crate::error::{ErrorCode, OAuthError};
use crate::http::AppState;
use crate::oauth::AccessToken;
use crate::oauth::token::UmaTicketRequest;
use crate::policy::{Claims, Compiled, Decision};
use crate::scope::Scopes;
use crate::sharing::Policies;
use crate::store::clients::Client;
use crate::store::decisions::Decision as Logged;
use crate::store::pcts::Pct;
use crate::store::resources::Resource;
use crate::store::rpts::{GrantedPermission, Rpt};
use crate::store::tickets::{Consumed, Ticket};
use crate::store::{self, StoreError, WriteTx};
use crate::uma::assess::{self, Answer, Verdict};
use crate::uma::{self, party_id, requesting_party, rpt_subject};

/// The JWT `typ` of an RPT: an access token (RFC 9068), so it can never pass for an ID token.
pub const RPT_TYPE: &str = "at+jwt";

/// Where the requesting party's claims came from.
enum ClaimSource {
    None,
    /// A claim token pushed with this request and verified.
    Pushed(Claims),
    /// A PCT presented with this request.
    Persisted(Claims),
}

impl ClaimSource {
    fn claims(&self) -> Option<&Claims> {
        match self {
            Self::None => None,
            Self::Pushed(c) | Self::Persisted(c) => Some(c),
        }
    }
}

/// The parsed request (G §3.3.1).
struct Request<'a> {
    ticket: &'a str,
    claim_token: Option<(&'a str, &'a str)>,
    pct: Option<&'a str>,
    rpt: Option<&'a str>,
    scopes: BTreeSet<String>,
}

impl<'a> Request<'a> {
    fn new(typed: &'a UmaTicketRequest) -> Self {
        Request {
            ticket: typed.ticket.secret(),
            claim_token: typed
                .claim_token
                .as_ref()
                .map(|pushed| (pushed.token.secret(), pushed.format.as_str())),
            pct: typed.pct.as_ref().map(crate::oauth::Pct::secret),
            rpt: typed.rpt.as_ref().map(AccessToken::secret),
            scopes: typed
                .scope
                .iter()
                .flat_map(Scopes::iter)
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The scopes a client registered for itself (RFC 7591 `scope`): only those count in a request's `scope`
/// (G §3.3.4).
fn client_scopes(client: &Client) -> BTreeSet<String> {
    client
        .metadata
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| {
            s.split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What became of the claim token, for the `error_description` of a later `need_info`.
type ClaimNote = Option<String>;

/// Checks the pushed claim token, or falls back to the PCT. Done before the ticket transaction: a trusted
/// issuer's keys may have to be fetched, which must not happen while the database is locked.
fn resolve_claims(
    state: &AppState,
    client: &Client,
    req: &Request<'_>,
    now: UnixTime,
) -> Result<(ClaimSource, ClaimNote), OAuthError> {
    let mut note = None;
    if let Some((token, format)) = req.claim_token {
        match state.claims.verify(token, format, &client.client_id, now) {
            Ok(verified) => {
                let claims = Claims::from_json(verified.into_claims())
                    .map_err(|e| OAuthError::invalid_request(format!("the claim token: {e}")))?;
                return Ok((ClaimSource::Pushed(claims), None));
            }
            Err(err @ (ClaimError::UnsupportedFormat(_) | ClaimError::Malformed(_))) => {
                return Err(OAuthError::invalid_request(err.to_string()));
            }
            Err(ClaimError::Internal) => {
                return Err(OAuthError::server_error(&"own signing keys unavailable"));
            }
            // Anything else leaves the claims unproven: the assessment goes on without them and may ask
            // for them again (need_info), saying why this token was not taken.
            Err(err) => note = Some(err.to_string()),
        }
    }
    if let Some(pct) = req.pct {
        let hash = crypto::hash_secret(pct);
        // G §3.3.1 defines no error for a bad PCT: an unknown, expired, revoked or foreign one is ignored.
        let found = state.store.read(|c| c.pct(&hash))?;
        if let Some(found) = found.filter(|p| p.is_active(now) && p.client_id == client.client_id)
            && let Ok(claims) = Claims::from_json(found.claims)
        {
            return Ok((ClaimSource::Persisted(claims), note));
        }
    }
    Ok((ClaimSource::None, note))
}

fn verdict(decision: &Decision) -> Verdict {
    match decision {
        Decision::Permit { .. } => Verdict::Permit,
        Decision::NeedInfo {
            claims, issuers, ..
        } => Verdict::NeedInfo(
            claims
                .iter()
                .map(|name| {
                    let from = issuers.get(name).map(|list| list.iter().cloned().collect());
                    (name.clone(), from)
                })
                .collect(),
        ),
        Decision::Deny { .. } => Verdict::Deny,
    }
}

/// Decides every requested (resource, scope); returns the verdicts and, per resource, the log entry parts.
struct Assessed {
    verdicts: Vec<(String, String, Verdict)>,
    /// Per resource: the policies that decided and any evaluation errors, for the decision log.
    evidence: BTreeMap<String, (BTreeSet<String>, Vec<String>)>,
}

/// Who is asking, and which issuers' claims would be accepted.
struct Asker<'a> {
    claims: Option<&'a Claims>,
    client_id: &'a str,
    issuers: &'a [String],
}

fn assess_all(
    compiled: &Compiled,
    requested: &assess::Requested,
    resources: &BTreeMap<String, Resource>,
    asker: &Asker<'_>,
    now: UnixTime,
) -> Assessed {
    let mut out = Assessed {
        verdicts: Vec::new(),
        evidence: BTreeMap::new(),
    };
    for (resource_id, scopes) in requested {
        let Some(resource) = resources.get(resource_id) else {
            continue;
        };
        for scope in scopes {
            let decision = Policies::decide_among(
                compiled,
                resource,
                asker.claims,
                scope,
                asker.client_id,
                now,
                asker.issuers,
            );
            let entry = out.evidence.entry(resource_id.clone()).or_default();
            entry
                .0
                .extend(decision.policies().iter().map(|p| p.to_string()));
            if let Decision::Deny { errors, .. } = &decision {
                entry.1.extend(errors.iter().map(|e| e.to_string()));
                for error in errors {
                    log::warn!(
                        "policy evaluation failed closed on `{resource_id}` / `{scope}`: {error}"
                    );
                }
            }
            out.verdicts
                .push((resource_id.clone(), scope.clone(), verdict(&decision)));
        }
    }
    out
}

/// The answer, decided inside the transaction. Protocol errors that end the grant still commit their side
/// effects (ticket consumed, RPT revoked, rotated ticket stored).
type Outcome = store::Outcome<Value, OAuthError>;

/// Runs the UMA grant. The caller has checked that the client may use it.
pub fn grant(
    state: &AppState,
    client: &Client,
    typed: &UmaTicketRequest,
) -> Result<Value, OAuthError> {
    let req = Request::new(typed);
    let now = state.now();
    let (source, note) = resolve_claims(state, client, &req, now)?;
    let keys = state.key_set()?;
    // An RPT offered for upgrade counts only if it is one of ours (it may have expired).
    let upgrade_jti = req.rpt.and_then(|rpt| uma::rpt::rpt_jti(&keys, rpt));
    let ticket_hash = crypto::hash_secret(req.ticket);

    state.store.write_outcome(|tx| {
        let ticket = match tx.consume_ticket(&ticket_hash, now)? {
            Consumed::Valid(ticket) => ticket,
            Consumed::Unknown => {
                return Ok(Outcome::commit_then(OAuthError::invalid_grant(
                    "the ticket is unknown",
                )));
            }
            Consumed::Expired => {
                return Ok(Outcome::commit_then(OAuthError::invalid_grant(
                    "the ticket has expired; ask the resource server for a new one",
                )));
            }
            Consumed::AlreadyUsed => {
                // A replay (G §5.5): whatever the ticket produced is revoked.
                if let Some(jti) = tx.ticket_rpt(&ticket_hash)? {
                    tx.revoke_rpt(&jti)?;
                    log::warn!(
                        "ticket replayed by client `{}`; RPT revoked",
                        client.client_id
                    );
                }
                return Ok(Outcome::commit_then(OAuthError::invalid_grant(
                    "the ticket was already used; tokens issued from it are revoked",
                )));
            }
        };
        if ticket
            .bound_client
            .as_deref()
            .is_some_and(|bound| bound != client.client_id)
        {
            // Rolled back: the rightful client can still use it.
            return Err(OAuthError::invalid_grant(
                "this ticket was issued to another client",
            ));
        }
        let grant = Presented {
            state,
            client,
            req: &req,
            source: &source,
            note: note.as_deref(),
            upgrade_jti: upgrade_jti.as_deref(),
            keys: &keys,
            now,
        };
        grant.decide(tx, &ticket)
    })
}

/// One presentation of a ticket: the request and what was established before the transaction.
struct Presented<'a> {
    state: &'a AppState,
    client: &'a Client,
    req: &'a Request<'a>,
    source: &'a ClaimSource,
    /// Why a pushed claim token was not taken, if it was not.
    note: Option<&'a str>,
    /// The `jti` of an RPT offered for upgrade.
    upgrade_jti: Option<&'a str>,
    keys: &'a KeySet,
    now: UnixTime,
}

impl Presented<'_> {
    /// The assessment proper, inside the ticket's transaction.
    fn decide(&self, tx: &WriteTx<'_>, ticket: &Ticket) -> Result<Outcome, OAuthError> {
        let (state, client, now) = (self.state, self.client, self.now);
        let mut resources = BTreeMap::new();
        let mut registered = BTreeMap::new();
        for perm in &ticket.permissions {
            if let Some(resource) =
                tx.get_scoped(&ticket.owner, &ticket.client_id, &perm.resource_id)?
            {
                registered.insert(
                    resource.id.clone(),
                    resource
                        .description
                        .resource_scopes
                        .iter()
                        .cloned()
                        .collect::<BTreeSet<_>>(),
                );
                resources.insert(resource.id.clone(), resource);
            }
        }
        let ticket_scopes: Vec<(String, Vec<String>)> = ticket
            .permissions
            .iter()
            .map(|p| (p.resource_id.clone(), p.resource_scopes.clone()))
            .collect();
        let requested = match assess::requested_scopes(
            &ticket_scopes,
            &registered,
            &client_scopes(client),
            &self.req.scopes,
        ) {
            Ok(requested) => requested,
            Err(err) => return Ok(Outcome::commit_then(err)),
        };

        let claims = self.source.claims();
        let party = claims.map(|c| party_id(c.iss(), c.sub()));
        // Every resource of a ticket has the ticket's owner: one look-up of the owner's policies serves all.
        let compiled = state.policies.compiled_for(&state.store, &ticket.owner)?;
        let issuers: Vec<String> = state.claims.issuers().map(str::to_owned).collect();
        let asker = Asker {
            claims,
            client_id: &client.client_id,
            issuers: &issuers,
        };
        let assessed = assess_all(&compiled, &requested, &resources, &asker, now);
        let answer = assess::combine(&assessed.verdicts);
        self.log_decisions(tx, ticket, party.as_deref(), &requested, &assessed, &answer)?;

        match answer {
            Answer::Grant(granted) => self.issue_rpt(tx, ticket, party, granted),
            Answer::NeedInfo(needed) => {
                let new_ticket = self.rotate(tx, ticket)?;
                let names: Vec<&str> = needed.keys().map(String::as_str).collect();
                let mut description = format!(
                    "the owner's policies need more claims about the requesting party: {}",
                    names.join(", ")
                );
                if let Some(note) = self.note {
                    description = format!("{note}; {description}");
                }
                // Each claim from the issuers the policies would take it from, this server first (G §3.3.6).
                let required: Vec<Value> = needed
                    .iter()
                    .map(|(name, from)| {
                        let issuers: Vec<&str> = state
                            .claims
                            .issuers()
                            .filter(|i| from.as_ref().is_none_or(|f| f.contains(*i)))
                            .collect();
                        json!({
                            "name": name,
                            "friendly_name": name,
                            "claim_token_format": [ID_TOKEN_FORMAT],
                            "issuer": issuers,
                        })
                    })
                    .collect();
                Ok(Outcome::commit_then(
                    OAuthError::new(ErrorCode::NeedInfo, description)
                        .with("ticket", new_ticket)
                        .with("required_claims", required),
                ))
            }
            Answer::Denied => {
                let description = match self.note {
                    Some(note) => format!("{note}; the owner's policies do not grant this request"),
                    None => "the owner's policies do not grant this request".to_owned(),
                };
                Ok(Outcome::commit_then(OAuthError::new(
                    ErrorCode::RequestDenied,
                    description,
                )))
            }
        }
    }

    /// A new ticket for the same permissions, bound to the presenting client (G §3.3.6, §5.4).
    fn rotate(&self, tx: &WriteTx<'_>, old: &Ticket) -> Result<String, OAuthError> {
        let (state, client, now) = (self.state, self.client, self.now);
        let value = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
        tx.insert_ticket(&Ticket {
            hash: crypto::hash_secret(&value),
            owner: old.owner.clone(),
            client_id: old.client_id.clone(),
            permissions: old.permissions.clone(),
            created_at: now,
            expires_at: now + state.settings.ticket_ttl,
            bound_client: Some(client.client_id.clone()),
        })?;
        Ok(value)
    }

    fn log_decisions(
        &self,
        tx: &WriteTx<'_>,
        ticket: &Ticket,
        party: Option<&str>,
        requested: &assess::Requested,
        assessed: &Assessed,
        answer: &Answer,
    ) -> Result<(), StoreError> {
        let (client, now) = (self.client, self.now);
        let (label, detail) = match answer {
            Answer::Grant(_) => ("permit", None),
            Answer::NeedInfo(needed) => (
                "need_info",
                Some(format!(
                    "claims needed: {}",
                    needed
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
            Answer::Denied => ("request_denied", None),
        };
        for (resource_id, scopes) in requested {
            let granted: Vec<String> = match answer {
                Answer::Grant(granted) => granted
                    .iter()
                    .filter(|(r, _)| r == resource_id)
                    .flat_map(|(_, s)| s.iter().cloned())
                    .collect(),
                _ => Vec::new(),
            };
            let (policies, errors) = assessed
                .evidence
                .get(resource_id)
                .cloned()
                .unwrap_or_default();
            let detail = if errors.is_empty() {
                detail.clone()
            } else {
                Some(format!("evaluation errors (denied): {}", errors.join("; ")))
            };
            tx.record_decision(&Logged {
                time: now,
                owner: ticket.owner.clone(),
                client_id: client.client_id.clone(),
                party: party.map(str::to_owned),
                resource_id: resource_id.clone(),
                scopes: scopes.iter().cloned().collect(),
                granted,
                answer: label.to_owned(),
                policies: policies.into_iter().collect(),
                detail,
            })?;
        }
        Ok(())
    }

    fn issue_rpt(
        &self,
        tx: &WriteTx<'_>,
        ticket: &Ticket,
        party: Option<String>,
        granted: Vec<(String, BTreeSet<String>)>,
    ) -> Result<Outcome, OAuthError> {
        let (state, client, source, now) = (self.state, self.client, self.source, self.now);
        let exp = now + state.settings.rpt_ttl;
        let party = party.unwrap_or_default();
        let mut permissions: Vec<GrantedPermission> = granted
            .into_iter()
            .map(|(resource_id, scopes)| GrantedPermission {
                resource_id,
                resource_scopes: scopes.into_iter().collect(),
                exp,
            })
            .collect();

        // Upgrade (G §3.3.5.1): only an RPT of the same client, requesting party, owner and resource server.
        // `upgraded` answers any `rpt` offered, even one that is not ours: it says whether it was merged.
        let mut upgraded = self.req.rpt.map(|_| false);
        if let Some(jti) = self.upgrade_jti
            && let Some(old) = tx.rpt(jti)?
            && old.is_active(now)
            && old.client_id == client.client_id
            && old.party == party
            && old.owner == ticket.owner
            && old.resource_server == ticket.client_id
        {
            let compiled = state.policies.compiled_in(tx, &old.owner)?;
            let still_granted = uma::rpt::current_permissions(&compiled, tx, &old, now)?;
            permissions = assess::merge_upgrade(permissions, &still_granted, now, |_, _| true);
            tx.revoke_rpt(jti)?;
            upgraded = Some(true);
        }

        let jti = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
        let claims_map = source
            .claims()
            .map(|c| c.as_map().clone())
            .unwrap_or_default();
        let mut jwt = Map::new();
        jwt.insert("iss".into(), Value::from(state.settings.issuer.as_str()));
        jwt.insert("aud".into(), Value::from(ticket.client_id.as_str()));
        jwt.insert("azp".into(), Value::from(client.client_id.as_str()));
        jwt.insert("client_id".into(), Value::from(client.client_id.as_str()));
        jwt.insert(
            "sub".into(),
            Value::from(rpt_subject(
                &state.settings.issuer,
                source.claims().map(|c| (c.iss(), c.sub())),
                &client.client_id,
            )),
        );
        if let Some(c) = source.claims() {
            jwt.insert(
                "requesting_party".into(),
                requesting_party(c.iss(), c.sub()),
            );
        }
        jwt.insert("iat".into(), Value::from(now));
        jwt.insert("exp".into(), Value::from(exp));
        jwt.insert("jti".into(), Value::from(jti.as_str()));
        jwt.insert(
            "permissions".into(),
            crate::uma::wire::permissions(&permissions),
        );
        let token = self
            .keys
            .sign(jwt, RPT_TYPE)
            .map_err(|e| OAuthError::server_error(&e))?;

        tx.insert_rpt(&Rpt {
            jti: jti.clone(),
            client_id: client.client_id.clone(),
            party: party.clone(),
            owner: ticket.owner.clone(),
            resource_server: ticket.client_id.clone(),
            permissions,
            claims: claims_map.clone(),
            issued_at: now,
            expires_at: exp,
            revoked: false,
        })?;
        tx.link_ticket_rpt(&ticket.hash, &jti)?;

        let mut body = Map::new();
        body.insert("access_token".into(), Value::from(token));
        body.insert("token_type".into(), Value::from("Bearer"));
        body.insert("expires_in".into(), Value::from(state.settings.rpt_ttl));
        if let Some(upgraded) = upgraded {
            body.insert("upgraded".into(), Value::Bool(upgraded));
        }
        // A PCT only for claims pushed now: a client that came with a PCT keeps using it (G §3.3.5).
        if let ClaimSource::Pushed(_) = source {
            let pct = crypto::random_token().map_err(|e| OAuthError::server_error(&e))?;
            tx.insert_pct(&Pct {
                hash: crypto::hash_secret(&pct),
                client_id: client.client_id.clone(),
                party,
                claims: claims_map,
                created_at: now,
                expires_at: now + state.settings.pct_ttl,
                revoked: false,
            })?;
            body.insert("pct".into(), Value::from(pct));
        }
        Ok(Outcome::done(Value::Object(body)))
    }
}
