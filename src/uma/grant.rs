//! The UMA grant (UMA 2.0 Grant §3.3.1–§3.3.6): a client presents a permission ticket at the token endpoint.
//!
//! A client presents a permission ticket, optionally with a claim token (an OpenID Connect ID token), a PCT,
//! an RPT to upgrade, and a `scope` ([`UmaGrantRequest`], parsed with the token request). The ticket is consumed
//! in the same transaction that stores what it produces: an RPT, a rotated ticket (`need_info`), a request held
//! for the owner with a ticket to poll it (`request_submitted`, see [`crate::uma::requests`]), or nothing
//! (`request_denied`, `invalid_scope`); a poll sooner than the interval (`slow_down`) consumes nothing. Each
//! requested (resource, scope) is decided by the resource owner's
//! Cedar policies alone; see [`crate::uma::assess`] for how the decisions combine. PCTs (G §3.3.1, §3.3.5) are
//! read and issued here, and RPTs are signed and stored here.
//!
//! The service runs in two steps: [`UmaGrant::resolve_claims`] before the ticket's transaction (a trusted
//! issuer's keys may have to be fetched, which must not happen while the database is locked), then
//! [`UmaGrant::run`], which runs [`UmaGrant::decide`] on a read snapshot (the Cedar decision and the RPT's
//! signature hold no lock) and applies what it produced in one short write, consuming the ticket there
//! conditionally; [`UmaGrant::decide`] returns an [`Outcome`] that says whether that write happens.
//!
//! What this module must never do:
//! - let anything but the owner's policies grant (no default permit, no other owner's policy);
//! - let a client burn a ticket rotated for another client (the bound-client check rolls back);
//! - let claims in the context come from the client: pushed claims become principal attributes only after
//!   their signature, issuer, audience and expiry were checked;
//! - hand out an RPT or PCT whose clear value is stored: RPTs are looked up by `jti`, PCTs by hash.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::claims::{ClaimError, ClaimsVerifier, ID_TOKEN_FORMAT};
use crate::clock::UnixTime;
use crate::context::Context;
use crate::crypto;
use crate::crypto::keys::KeySet;
use crate::error::{ErrorCode, OAuthError};
use crate::owner::Policies;
use crate::policy::{Claims, Compiled, Decision};
use crate::protocol::client::Client;
use crate::protocol::decisions::Decision as Logged;
use crate::protocol::requests::{AccessRequest, RequestState};
use crate::protocol::uma::Pct;
use crate::protocol::uma::Resource;
use crate::protocol::uma::{Consumed, Ticket};
use crate::protocol::uma::{GrantedPermission, Rpt};
use crate::scope::Scopes;
use crate::secret::{AccessToken, Pct as PctValue, Ticket as TicketValue};
use crate::store::{
    Applied, DecisionLog, InteractionStore, OutboxStore, Outcome, PctStore, PolicyRead,
    RequestStore, ResourceRead, RptStore, Store, StoreError, TicketStore,
};
use crate::uma::assess::{self, Answer, Verdict};
use crate::uma::requests::{self, Poll};
use crate::uma::{self, interaction, party_id, requesting_party, rpt_subject};

/// The JWT `typ` of an RPT: an access token (RFC 9068), so it can never pass for an ID token.
pub const RPT_TYPE: &str = "at+jwt";

/// A claim token pushed with the request (G §3.3.1 `claim_token`, `claim_token_format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    pub token: AccessToken,
    pub format: String,
}

/// The UMA grant request (G §3.3.1): the one typed form of it, parsed from the token endpoint's parameters by
/// [`crate::oauth::token::TokenRequest::parse`]. Its secrets stay in their redacting wrappers until the
/// service hashes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UmaGrantRequest {
    pub ticket: TicketValue,
    pub claim_token: Option<ClaimToken>,
    pub pct: Option<PctValue>,
    /// An RPT offered for upgrade (G §3.3.5.1).
    pub rpt: Option<AccessToken>,
    /// The requested `scope`, if sent.
    pub scope: Option<Scopes>,
}

impl UmaGrantRequest {
    /// The requested scopes, empty when `scope` was not sent.
    pub fn scopes(&self) -> BTreeSet<String> {
        self.scope
            .iter()
            .flat_map(|s| s.iter())
            .map(str::to_owned)
            .collect()
    }
}

/// Where the requesting party's claims came from.
#[derive(Debug)]
enum ClaimSource {
    None,
    /// A claim token pushed with this request and verified.
    Pushed(Claims),
    /// A PCT presented with this request.
    Persisted(Claims),
    /// Gathered at the claims interaction endpoint and bound to the presented ticket.
    Gathered(Claims),
}

impl ClaimSource {
    fn claims(&self) -> Option<&Claims> {
        match self {
            Self::None => None,
            Self::Pushed(c) | Self::Persisted(c) | Self::Gathered(c) => Some(c),
        }
    }
}

/// What was established before the ticket's transaction: the requesting party's claims, why a pushed claim
/// token was not taken (for the `error_description` of a later `need_info`), and the request's time.
#[derive(Debug)]
pub struct ResolvedClaims {
    source: ClaimSource,
    note: Option<String>,
    now: UnixTime,
}

/// The UMA grant service: what it needs beyond the storage traits.
#[derive(Debug, Clone, Copy)]
pub struct UmaGrant<'a> {
    pub ctx: &'a Context,
    /// Verifies pushed claim tokens and lists the issuers `need_info` may name.
    pub verifier: &'a ClaimsVerifier,
    /// The owners' compiled policy sets.
    pub policies: &'a Policies,
    /// The id of the HTTP request (`X-Request-Id`), stored with the decisions it makes.
    pub http_request_id: Option<&'a str>,
}

impl UmaGrant<'_> {
    /// Checks the pushed claim token, or falls back to the PCT, which `find_pct` looks up by hash (a
    /// closure, so the caller opens a read transaction only once the claim token was checked). Runs before
    /// the ticket's transaction.
    pub fn resolve_claims(
        &self,
        client: &Client,
        req: &UmaGrantRequest,
        find_pct: impl FnOnce(&str) -> Result<Option<Pct>, StoreError>,
    ) -> Result<ResolvedClaims, OAuthError> {
        let now = self.ctx.now();
        let mut note = None;
        if let Some(pushed) = &req.claim_token {
            match self.verifier.verify(
                pushed.token.secret(),
                &pushed.format,
                &client.client_id,
                now,
            ) {
                Ok(verified) => {
                    let claims = Claims::from_json(verified.into_claims()).map_err(|e| {
                        OAuthError::invalid_request(format!("the claim token: {e}"))
                    })?;
                    return Ok(ResolvedClaims {
                        source: ClaimSource::Pushed(claims),
                        note: None,
                        now,
                    });
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
        if let Some(pct) = &req.pct {
            // G §3.3.1 defines no error for a bad PCT: an unknown, expired, revoked or foreign one is ignored.
            let found = find_pct(&crypto::hash_secret(pct.secret()))?;
            if let Some(found) =
                found.filter(|p| p.is_active(now) && p.client_id == client.client_id)
                && let Ok(claims) = Claims::from_json(found.claims)
            {
                return Ok(ResolvedClaims {
                    source: ClaimSource::Persisted(claims),
                    note,
                    now,
                });
            }
        }
        Ok(ResolvedClaims {
            source: ClaimSource::None,
            note,
            now,
        })
    }

    /// Consumes the ticket and decides ([`Self::decide`]) on a read snapshot, signing outside any transaction,
    /// then stores what the decision produced in one short write that consumes the ticket again conditionally.
    /// If the ticket was spent between the two, nothing of this attempt is kept and the whole decision runs
    /// again inside a write transaction, where the ticket is seen as used (`invalid_grant`, a replay). So is
    /// work the snapshot cannot stage (a request held for the owner, a poll of one).
    pub fn run(
        &self,
        store: &Store,
        keys: &KeySet,
        client: &Client,
        req: &UmaGrantRequest,
        claims: &ResolvedClaims,
    ) -> Result<Value, OAuthError> {
        let answer = match store
            .write_staged(|staged| self.decide(staged, keys, client, req, claims))?
        {
            Applied::Answer(answer) => answer,
            Applied::Retry => store.write_outcome(|tx| self.decide(tx, keys, client, req, claims)),
        };
        // The owner's set, if this was its first use under the running schema, is recorded as validated.
        self.policies.record_checks(store);
        answer
    }

    /// Consumes the ticket and decides, inside the write transaction `tx` (or a [`Staged`](crate::store::Staged) snapshot); `keys` sign the RPT and recognise
    /// one offered for upgrade. The outcome says whether `tx` commits.
    pub fn decide(
        &self,
        tx: &(
             impl TicketStore
             + InteractionStore
             + RptStore
             + PctStore
             + ResourceRead
             + PolicyRead
             + DecisionLog
             + RequestStore
             + OutboxStore
         ),
        keys: &KeySet,
        client: &Client,
        req: &UmaGrantRequest,
        claims: &ResolvedClaims,
    ) -> Result<GrantOutcome, OAuthError> {
        let now = claims.now;
        let ticket_hash = crypto::hash_secret(req.ticket.secret());
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
            return Ok(Outcome::Rollback(OAuthError::invalid_grant(
                "this ticket was issued to another client",
            )));
        }
        // A ticket handed out for held requests (G §3.3.6): the owner's decision comes first.
        let linked = tx.requests_of_ticket(&ticket_hash)?;
        let interval = self.ctx.settings.poll_interval;
        let mut decided = BTreeSet::new();
        let mut held_source = None;
        match requests::poll(&linked, now, interval) {
            Poll::NotHeld => {}
            Poll::SlowDown(wait) => {
                // Rolled back: the ticket stays good for the poll after the wait.
                return Ok(Outcome::Rollback(
                    OAuthError::new(
                        ErrorCode::SlowDown,
                        format!(
                            "polled too soon: wait {wait} more second(s) and at least {interval} between polls"
                        ),
                    )
                    .with("interval", interval),
                ));
            }
            Poll::Denied => {
                return Ok(Outcome::commit_then(OAuthError::new(
                    ErrorCode::RequestDenied,
                    "the resource owner denied this request, or did not decide before it expired",
                )));
            }
            Poll::Pending(ids) => {
                // The new ticket stands for every request of the old one (those decided too, so their
                // permissions are not held again), and expires with the first pending one.
                let all: Vec<&AccessRequest> = linked.iter().map(|(r, _)| r).collect();
                let expires_at = all
                    .iter()
                    .filter(|r| ids.contains(&r.id))
                    .map(|r| r.expires_at)
                    .min()
                    .unwrap_or(now);
                let new_ticket = self.held_ticket(tx, &ticket, client, &all, expires_at, now)?;
                return Ok(Outcome::commit_then(submitted(new_ticket, interval, true)));
            }
            Poll::Decided { decided: d } => {
                decided = d;
                // Decided on the claims the request was held with, whatever this poll presented.
                held_source = linked
                    .first()
                    .and_then(|(r, _)| Claims::from_json(r.claims.clone()).ok())
                    .map(ClaimSource::Persisted);
            }
        }
        // Claims the requesting party proved at the claims interaction endpoint for this ticket (G §3.3.3) stand
        // in for a PCT; a claim token pushed now, already verified, still comes first.
        let gathered = match &claims.source {
            ClaimSource::Pushed(_) => None,
            _ => tx
                .gathered_claims(&ticket_hash)?
                .filter(|g| g.client_id == client.client_id)
                .and_then(|g| Claims::from_json(g.claims).ok())
                .map(ClaimSource::Gathered),
        };
        let source = gathered.as_ref().unwrap_or(&claims.source);
        // An RPT offered for upgrade counts only if it is one of ours (it may have expired).
        let upgrade_jti = req
            .rpt
            .as_ref()
            .and_then(|rpt| uma::rpt::rpt_jti(keys, rpt.secret()));
        let presented = Presented {
            grant: self,
            client,
            req,
            source: held_source.as_ref().unwrap_or(source),
            note: claims.note.as_deref(),
            decided: &decided,
            upgrade_jti: upgrade_jti.as_deref(),
            keys,
            now,
        };
        presented.decide(tx, &ticket)
    }

    /// A new ticket, bound to `client`, for polling the `held` requests until `expires_at` (a poll after that
    /// is `invalid_grant`, as for any expired ticket).
    fn held_ticket(
        &self,
        tx: &(impl TicketStore + RequestStore),
        old: &Ticket,
        client: &Client,
        held: &[&AccessRequest],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<String, OAuthError> {
        let value = self.ctx.token()?;
        let hash = crypto::hash_secret(&value);
        tx.insert_ticket(&Ticket {
            hash: hash.clone(),
            owner: old.owner.clone(),
            client_id: old.client_id.clone(),
            permissions: old.permissions.clone(),
            created_at: now,
            expires_at,
            bound_client: Some(client.client_id.clone()),
        })?;
        for request in held {
            tx.link_request_ticket(&hash, &request.id, now)?;
        }
        Ok(value)
    }
}

/// `request_submitted` (G §3.3.6) with the ticket to poll with and the seconds to wait between polls.
fn submitted(ticket: String, interval: i64, again: bool) -> OAuthError {
    let description = if again {
        "the resource owner has not decided yet; poll again with the new ticket"
    } else {
        "the resource owner's policies ask her to decide this request; poll with the new ticket"
    };
    OAuthError::new(ErrorCode::RequestSubmitted, description)
        .with("ticket", ticket)
        .with("interval", interval)
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

/// The verdict of one (resource, scope): an `@ask` answer is a deny once the owner decided that very
/// permission (`decided`), and asks for an identity when no claims were presented (the owner decides about
/// someone, and an approval names them).
fn verdict(decision: &Decision, identified: bool, decided: bool) -> Verdict {
    match decision {
        Decision::Permit { .. } => Verdict::Permit,
        Decision::Ask { .. } if decided => Verdict::Deny,
        Decision::Ask { .. } if !identified => {
            Verdict::NeedInfo(assess::Needed::from([("sub".to_owned(), None)]))
        }
        Decision::Ask { .. } => Verdict::Ask,
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
    /// The (resource, scope) pairs the owner already decided for the held request being polled.
    decided: &'a BTreeSet<(String, String)>,
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
            let decided = asker
                .decided
                .contains(&(resource_id.clone(), scope.clone()));
            out.verdicts.push((
                resource_id.clone(),
                scope.clone(),
                verdict(&decision, asker.claims.is_some(), decided),
            ));
        }
    }
    out
}

/// The answer, decided inside the transaction. Protocol errors that end the grant still commit their side
/// effects (ticket consumed, RPT revoked, rotated ticket stored).
pub type GrantOutcome = Outcome<Value, OAuthError>;

/// One presentation of a ticket: the request and what was established before the transaction.
struct Presented<'a> {
    grant: &'a UmaGrant<'a>,
    client: &'a Client,
    req: &'a UmaGrantRequest,
    source: &'a ClaimSource,
    /// Why a pushed claim token was not taken, if it was not.
    note: Option<&'a str>,
    /// The `jti` of an RPT offered for upgrade.
    upgrade_jti: Option<&'a str>,
    /// What the owner decided of the held request being polled (empty otherwise).
    decided: &'a BTreeSet<(String, String)>,
    keys: &'a KeySet,
    now: UnixTime,
}

impl Presented<'_> {
    /// The assessment proper, inside the ticket's transaction.
    fn decide(
        &self,
        tx: &(
             impl RptStore
             + PctStore
             + TicketStore
             + ResourceRead
             + PolicyRead
             + DecisionLog
             + RequestStore
             + OutboxStore
         ),
        ticket: &Ticket,
    ) -> Result<GrantOutcome, OAuthError> {
        let (grant, client, now) = (self.grant, self.client, self.now);
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
            &self.req.scopes(),
        ) {
            Ok(requested) => requested,
            Err(err) => return Ok(Outcome::commit_then(err)),
        };

        let claims = self.source.claims();
        let party = claims.map(|c| party_id(c.iss(), c.sub()));
        // Every resource of a ticket has the ticket's owner: one look-up of the owner's policies serves all.
        let compiled = grant.policies.compiled_in(tx, &ticket.owner)?;
        let issuers: Vec<String> = grant.verifier.issuers().map(str::to_owned).collect();
        let asker = Asker {
            claims,
            client_id: &client.client_id,
            issuers: &issuers,
            decided: self.decided,
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
                        let issuers: Vec<&str> = grant
                            .verifier
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
                let mut error = OAuthError::new(ErrorCode::NeedInfo, description)
                    .with("ticket", new_ticket)
                    .with("required_claims", required);
                // G §3.3.6: the client may send the requesting party to sign in for what is missing.
                let settings = &grant.ctx.settings;
                if interaction::sign_in_could_supply(&needed, settings) {
                    error = error.with(
                        "redirect_user",
                        settings.endpoint(interaction::ENDPOINT_PATH),
                    );
                }
                Ok(Outcome::commit_then(error))
            }
            Answer::Hold(asked) => {
                let Some(claims) = claims else {
                    // `verdict` asks for an identity instead; nothing anonymous is ever held.
                    return Ok(Outcome::commit_then(OAuthError::new(
                        ErrorCode::RequestDenied,
                        "the owner's policies do not grant this request",
                    )));
                };
                let mut held = Vec::with_capacity(asked.len());
                for (resource_id, scopes) in asked {
                    let request = AccessRequest {
                        id: String::new(),
                        owner: ticket.owner.clone(),
                        resource_server: ticket.client_id.clone(),
                        resource_id,
                        scopes: scopes.into_iter().collect(),
                        party: party_id(claims.iss(), claims.sub()),
                        claims: claims.as_map().clone(),
                        client_id: client.client_id.clone(),
                        created_at: now,
                        expires_at: now,
                        state: RequestState::Pending,
                        decided_at: None,
                    };
                    let id = requests::request_id(&grant.ctx.random_string(16)?);
                    held.push(requests::hold(
                        tx,
                        request,
                        id,
                        now,
                        grant.ctx.settings.request_ttl,
                    )?);
                }
                let refs: Vec<&AccessRequest> = held.iter().collect();
                let expires_at = held.iter().map(|r| r.expires_at).min().unwrap_or(now);
                let new_ticket = grant.held_ticket(tx, ticket, client, &refs, expires_at, now)?;
                Ok(Outcome::commit_then(submitted(
                    new_ticket,
                    grant.ctx.settings.poll_interval,
                    false,
                )))
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
    fn rotate(&self, tx: &impl TicketStore, old: &Ticket) -> Result<String, OAuthError> {
        let (grant, client, now) = (self.grant, self.client, self.now);
        let value = grant.ctx.token()?;
        tx.insert_ticket(&Ticket {
            hash: crypto::hash_secret(&value),
            owner: old.owner.clone(),
            client_id: old.client_id.clone(),
            permissions: old.permissions.clone(),
            created_at: now,
            expires_at: now + grant.ctx.settings.ticket_ttl,
            bound_client: Some(client.client_id.clone()),
        })?;
        Ok(value)
    }

    fn log_decisions(
        &self,
        tx: &impl DecisionLog,
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
            Answer::Hold(asked) => (
                "request_submitted",
                Some(format!(
                    "held for the owner: {}",
                    asked
                        .iter()
                        .map(|(r, s)| format!(
                            "{r} ({})",
                            s.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
                        ))
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
                http_request_id: self.grant.http_request_id.map(str::to_owned),
            })?;
        }
        Ok(())
    }

    fn issue_rpt(
        &self,
        tx: &(impl RptStore + PctStore + TicketStore + ResourceRead + PolicyRead),
        ticket: &Ticket,
        party: Option<String>,
        granted: Vec<(String, BTreeSet<String>)>,
    ) -> Result<GrantOutcome, OAuthError> {
        let (grant, client, source, now) = (self.grant, self.client, self.source, self.now);
        let exp = now + grant.ctx.settings.rpt_ttl;
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
        let mut upgraded = self.req.rpt.as_ref().map(|_| false);
        if let Some(jti) = self.upgrade_jti
            && let Some(old) = tx.rpt(jti)?
            && old.is_active(now)
            && old.client_id == client.client_id
            && old.party == party
            && old.owner == ticket.owner
            && old.resource_server == ticket.client_id
        {
            let compiled = grant.policies.compiled_in(tx, &old.owner)?;
            let still_granted = uma::rpt::current_permissions(&compiled, tx, &old, now)?;
            permissions = assess::merge_upgrade(permissions, &still_granted, now, |_, _| true);
            tx.revoke_rpt(jti)?;
            upgraded = Some(true);
        }

        let jti = grant.ctx.token()?;
        let claims_map = source
            .claims()
            .map(|c| c.as_map().clone())
            .unwrap_or_default();
        let mut jwt = Map::new();
        jwt.insert(
            "iss".into(),
            Value::from(grant.ctx.settings.issuer.as_str()),
        );
        jwt.insert("aud".into(), Value::from(ticket.client_id.as_str()));
        jwt.insert("azp".into(), Value::from(client.client_id.as_str()));
        jwt.insert("client_id".into(), Value::from(client.client_id.as_str()));
        jwt.insert(
            "sub".into(),
            Value::from(rpt_subject(
                &grant.ctx.settings.issuer,
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
        body.insert("expires_in".into(), Value::from(grant.ctx.settings.rpt_ttl));
        if let Some(upgraded) = upgraded {
            body.insert("upgraded".into(), Value::Bool(upgraded));
        }
        // A PCT only for claims proved now (pushed, or gathered interactively): a client that came with a PCT
        // keeps using it (G §3.3.5).
        if let ClaimSource::Pushed(_) | ClaimSource::Gathered(_) = source {
            let pct = grant.ctx.token()?;
            tx.insert_pct(&Pct {
                hash: crypto::hash_secret(&pct),
                client_id: client.client_id.clone(),
                party,
                claims: claims_map,
                created_at: now,
                expires_at: now + grant.ctx.settings.pct_ttl,
                revoked: false,
            })?;
            body.insert("pct".into(), Value::from(pct));
        }
        Ok(Outcome::done(Value::Object(body)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::claims::OwnKeys;
    use crate::claims::cache::CachePolicy;
    use crate::claims::fetch::Fetcher;
    use crate::clock::ManualClock;
    use crate::config::Settings;
    use crate::context::FixedRandom;
    use crate::crypto::keys::{self, Alg};
    use crate::keyring::KeyError;
    use crate::policy::PolicySchema;
    use crate::protocol::uma::Description;
    use crate::protocol::uma::Permission;
    use crate::store::testing::{public_client, temp_store};
    use crate::store::users;
    use crate::store::{
        DecisionRead, InteractionStore, PctRead, PolicyStore, ResourceStore, RptRead, Store,
        clients,
    };

    const NOW: UnixTime = 1_000;
    const VIEW: &str = r#"permit (principal, action == Uma::Action::"view", resource);"#;
    const VIEW_WITH_EMAIL: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" };"#;

    struct FixedKeys(Arc<KeySet>);

    impl OwnKeys for FixedKeys {
        fn key_set(&self, _: UnixTime) -> Result<Arc<KeySet>, KeyError> {
            Ok(self.0.clone())
        }
    }

    /// Alice owns `r1` (scope `view`), registered by `rs1`; `app` and `app2` are clients of requesting
    /// parties. Randomness gives `t-1`, `t-2`, ... in order.
    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        ctx: Context,
        verifier: ClaimsVerifier,
        policies: Policies,
        keys: Arc<KeySet>,
    }

    impl World {
        fn new(policy: &str) -> Self {
            let (dir, store) = temp_store();
            let settings = Settings::for_data_dir(dir.path());
            let keys = Arc::new(
                KeySet::from_stored(&[keys::generate(Alg::ES256, NOW).expect("key")])
                    .expect("key set"),
            );
            let verifier = ClaimsVerifier::new(
                settings.issuer.clone(),
                Arc::new(FixedKeys(keys.clone())),
                &[],
                Arc::new(Fetcher::default()),
                CachePolicy::default(),
            );
            store
                .write(|tx| {
                    users::insert(tx, &crate::store::testing::test_user("alice"))?;
                    for id in ["rs1", "app", "app2"] {
                        clients::insert(tx, &public_client(id))?;
                    }
                    tx.insert_resource(&Resource {
                        id: "r1".into(),
                        owner: "alice".into(),
                        client_id: "rs1".into(),
                        description: Description {
                            resource_scopes: vec!["view".into()],
                            ..Description::default()
                        },
                        created_at: 0,
                        updated_at: 0,
                    })?;
                    tx.put_policy("alice", "p", policy, 0)?;
                    Ok::<_, StoreError>(())
                })
                .expect("seed");
            Self {
                _dir: dir,
                store,
                ctx: Context {
                    clock: Arc::new(ManualClock::new(NOW)),
                    random: Arc::new(FixedRandom::new("t")),
                    settings: Arc::new(settings),
                },
                verifier,
                policies: Policies::new(PolicySchema::base().expect("schema")),
                keys,
            }
        }

        /// Stores a ticket with value `value` for `r1` with `scopes`, bound to `bound` if given.
        fn ticket(&self, value: &str, scopes: &[&str], bound: Option<&str>) {
            self.store
                .write(|tx| {
                    tx.insert_ticket(&Ticket {
                        hash: crypto::hash_secret(value),
                        owner: "alice".into(),
                        client_id: "rs1".into(),
                        permissions: vec![Permission {
                            resource_id: "r1".into(),
                            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
                        }],
                        created_at: NOW,
                        expires_at: NOW + 300,
                        bound_client: bound.map(str::to_owned),
                    })
                })
                .expect("ticket");
        }

        fn service(&self) -> UmaGrant<'_> {
            UmaGrant {
                ctx: &self.ctx,
                verifier: &self.verifier,
                policies: &self.policies,
                http_request_id: None,
            }
        }

        /// Presents `ticket` as `client_id`, without claims; returns the outcome before the transaction
        /// finishes with it.
        fn present(&self, client_id: &str, ticket: &str) -> Result<GrantOutcome, OAuthError> {
            let req = UmaGrantRequest {
                ticket: TicketValue::new(ticket),
                claim_token: None,
                pct: None,
                rpt: None,
                scope: None,
            };
            let client = public_client(client_id);
            let service = self.service();
            let claims =
                service.resolve_claims(&client, &req, |h| self.store.read(|r| r.pct(h)))?;
            // As `UmaGrant::run` does: on a snapshot first, in a write transaction if that must be retried.
            let mut decided = None;
            let staged = self.store.write_staged(|staged| {
                let outcome = service.decide(staged, &self.keys, &client, &req, &claims)?;
                decided = Some(copy(&outcome));
                Ok(outcome)
            })?;
            if let (Applied::Answer(_), Some(outcome)) = (staged, decided) {
                return Ok(outcome);
            }
            let tx = self.store.begin_write()?;
            let outcome = service.decide(&tx, &self.keys, &client, &req, &claims)?;
            // Finish with a copy of the verdict: commit or roll back as the service said.
            let _ = tx.finish(copy(&outcome));
            Ok(outcome)
        }

        fn rpt(&self, jti: &str) -> Option<Rpt> {
            self.store.read(|r| r.rpt(jti)).expect("rpt")
        }
    }

    fn copy(outcome: &GrantOutcome) -> GrantOutcome {
        match outcome {
            Outcome::Commit(Ok(v)) => Outcome::Commit(Ok(v.clone())),
            Outcome::Commit(Err(e)) => Outcome::Commit(Err(e.clone())),
            Outcome::Rollback(e) => Outcome::Rollback(e.clone()),
        }
    }

    fn committed_error(outcome: GrantOutcome) -> OAuthError {
        match outcome {
            Outcome::Commit(Err(err)) => err,
            other => panic!("expected a committed protocol error, got {other:?}"),
        }
    }

    #[test]
    fn a_replayed_ticket_revokes_the_rpt_it_produced() {
        let w = World::new(VIEW);
        w.ticket("tk", &["view"], None);
        let Ok(Outcome::Commit(Ok(body))) = w.present("app", "tk") else {
            panic!("the first presentation is a grant");
        };
        assert!(body.get("access_token").is_some(), "{body}");
        // The RPT's jti is the first random value drawn.
        let issued = w.rpt("t-1").expect("stored RPT");
        assert!(!issued.revoked);
        assert_eq!(issued.client_id, "app");

        let err = committed_error(w.present("app", "tk").expect("replay"));
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(
            w.rpt("t-1").expect("still stored").revoked,
            "replay revokes"
        );
    }

    /// Two presentations of one ticket race: this one decided and signed on its snapshot, the other spent the
    /// ticket before this one's write. Nothing this one produced is kept, and it ends as a replay.
    #[test]
    fn a_ticket_spent_between_the_decision_and_the_write_keeps_nothing() {
        let w = World::new(VIEW);
        w.ticket("tk", &["view"], None);
        let client = public_client("app");
        let req = UmaGrantRequest {
            ticket: TicketValue::new("tk"),
            claim_token: None,
            pct: None,
            rpt: None,
            scope: None,
        };
        let service = w.service();
        let claims = service
            .resolve_claims(&client, &req, |h| w.store.read(|r| r.pct(h)))
            .expect("claims");
        let staged = w
            .store
            .write_staged(|staged| {
                let outcome = service.decide(staged, &w.keys, &client, &req, &claims);
                assert!(
                    matches!(outcome, Ok(Outcome::Commit(Ok(_)))),
                    "decided to grant on the snapshot"
                );
                // The other presentation wins the ticket meanwhile.
                let spent = w
                    .store
                    .write(|tx| tx.consume_ticket(&crypto::hash_secret("tk"), NOW))
                    .expect("spend");
                assert!(matches!(spent, Consumed::Valid(_)));
                outcome
            })
            .expect("staged");
        assert!(matches!(staged, Applied::Retry), "{staged:?}");
        // The RPT signed on the snapshot (its jti was the first random value) was never stored, nor its log.
        assert!(w.rpt("t-1").is_none());
        let logged = w
            .store
            .read(|r| r.decisions_of_owner("alice", 10))
            .expect("decisions");
        assert!(logged.is_empty(), "{logged:?}");

        // The retry in a write transaction sees a used ticket: `invalid_grant`, and still no RPT.
        let err = service
            .run(&w.store, &w.keys, &client, &req, &claims)
            .expect_err("the ticket was spent");
        assert_eq!(err.code, ErrorCode::InvalidGrant);
        assert!(
            w.store
                .read(|r| r.active_rpts_of_owner("alice", NOW))
                .expect("rpts")
                .is_empty()
        );
    }

    #[test]
    fn a_ticket_bound_to_another_client_rolls_back_and_stays_usable() {
        let w = World::new(VIEW);
        w.ticket("tk", &["view"], Some("app"));
        match w.present("app2", "tk").expect("outcome") {
            Outcome::Rollback(err) => {
                assert_eq!(err.code, ErrorCode::InvalidGrant);
                assert!(
                    err.description
                        .as_deref()
                        .is_some_and(|d| d.contains("another client"))
                );
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
        assert!(w.rpt("t-1").is_none());
        // The rightful client still gets its RPT: the wrong client's attempt did not consume the ticket.
        assert!(matches!(w.present("app", "tk"), Ok(Outcome::Commit(Ok(_)))));
        assert!(w.rpt("t-1").is_some());
    }

    #[test]
    fn need_info_burns_the_ticket_and_rotates_it_for_the_client() {
        let w = World::new(VIEW_WITH_EMAIL);
        w.ticket("tk", &["view"], None);
        let err = committed_error(w.present("app", "tk").expect("outcome"));
        assert_eq!(err.code, ErrorCode::NeedInfo);
        assert_eq!(err.extra.get("ticket"), Some(&Value::from("t-1")));
        let required = err.extra.get("required_claims").expect("required_claims");
        assert_eq!(required[0]["name"], "email", "{required}");
        // A local account has an email address: signing in at the claims interaction endpoint could help.
        assert_eq!(
            err.extra.get("redirect_user"),
            Some(&Value::from(w.ctx.settings.endpoint("/uma/claims")))
        );

        // The old ticket is burnt; the new one is stored, bound to the presenting client.
        let replay = committed_error(w.present("app", "tk").expect("outcome"));
        assert_eq!(replay.code, ErrorCode::InvalidGrant);
        assert!(matches!(w.present("app2", "t-1"), Ok(Outcome::Rollback(_))));
        let again = committed_error(w.present("app", "t-1").expect("outcome"));
        assert_eq!(again.code, ErrorCode::NeedInfo, "still no claims");
        assert_ne!(again.extra.get("ticket"), Some(&Value::from("t-1")));
    }

    #[test]
    fn claims_gathered_for_a_ticket_count_for_its_client_only() {
        let w = World::new(VIEW_WITH_EMAIL);
        let gathered = |ticket: &str, client: &str| {
            w.ticket(ticket, &["view"], Some(client));
            w.store
                .write(|tx| {
                    tx.bind_claims(
                        &crypto::hash_secret(ticket),
                        &crate::protocol::uma::Gathered {
                            client_id: client.into(),
                            claims: serde_json::from_value(json!({
                                "iss": w.ctx.settings.issuer,
                                "sub": "bob",
                                "email": "bob@example.com",
                            }))
                            .expect("claims"),
                        },
                    )
                })
                .expect("bind");
        };
        gathered("tk", "app");
        let Ok(Outcome::Commit(Ok(body))) = w.present("app", "tk") else {
            panic!("the gathered email satisfies the policy");
        };
        assert!(body.get("access_token").is_some(), "{body}");
        assert!(
            body.get("pct").is_some(),
            "claims proved now may be persisted"
        );
        let rpt = w.rpt("t-1").expect("stored RPT");
        assert_eq!(
            rpt.claims.get("email"),
            Some(&Value::from("bob@example.com"))
        );
    }

    #[test]
    fn an_empty_request_is_never_a_permit() {
        // The owner permits every action; the ticket names no scope, so nothing is requested.
        let w = World::new("permit (principal, action, resource);");
        w.ticket("empty", &[], None);
        let err = committed_error(w.present("app", "empty").expect("outcome"));
        assert_eq!(err.code, ErrorCode::RequestDenied);
        assert!(w.rpt("t-1").is_none(), "no RPT for an empty request");

        // A ticket whose resource is no longer registered requests nothing either.
        w.store
            .write(|tx| tx.delete_scoped("alice", "rs1", "r1"))
            .expect("delete");
        w.ticket("gone", &["view"], None);
        let err = committed_error(w.present("app", "gone").expect("outcome"));
        assert_eq!(err.code, ErrorCode::RequestDenied);
        assert!(w.rpt("t-1").is_none() && w.rpt("t-2").is_none());
    }
}
