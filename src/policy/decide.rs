//! Deciding one (requesting party, resource, scope) with one owner's compiled policy set.
//!
//! The principal's attributes come only from the verified claims passed in, and only those the schema declares;
//! resource and context attributes only from facts the server holds. Decisions fail closed: an evaluation error
//! anywhere in the set, an empty set, or no permit that applies, is a deny.
//!
//! Which claims would help (`need_info`) is read off the policies with Cedar's partial evaluation: every
//! declared claim the request did not supply is given an unknown value, and the unknowns left in the residuals
//! of permit policies name the claims that could make one apply. Claims that could only trigger a forbid are no
//! reason to ask. The final permit, though, is always decided on the claims actually supplied (a missing claim
//! is an absent attribute, as Cedar's `has` expects), so withholding a claim can never dodge a forbid that
//! tests for its absence.
//!
//! This module must never read attributes from anywhere but its arguments, and never evaluate a policy set
//! other than the one it is given: isolation between owners rests on the caller passing one owner's set.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Effect, Entities, Entity,
    EntityId, EntityTypeName, EntityUid, PartialResponse, PolicyId, PolicySet, Request,
    RestrictedExpression,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::limits::check_set_size;
use super::schema::{ACTION_TYPE, ClaimAttr, ClaimType, PolicySchema, RESOURCE_TYPE, USER_TYPE};
use super::validate::{Source, parse_source};

/// Names one policy of an owner's set: its source (the stored policy's name, or a file) and its 1-based
/// position there. Displayed as `source#position`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PolicyRef {
    pub source: String,
    pub position: usize,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.source, self.position)
    }
}

/// An evaluation error: the decision failed closed because of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalError {
    /// The policy that failed, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    pub message: String,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.policy {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The answer for one (requesting party, resource, scope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Some permit applies and no forbid does. `policies`: the permits that applied.
    Permit { policies: Vec<PolicyRef> },
    /// Only permits annotated [`ASK`] apply, and no forbid does: the owner decides (UMA Grant §3.3.6,
    /// `request_submitted`). `policies`: those permits.
    Ask { policies: Vec<PolicyRef> },
    /// Not yet: with more claims some permit could apply. `claims`: their names (schema attribute names,
    /// sorted; never `iss`, which says who vouches for the claims, not what they are); `policies`: the
    /// permits that depend on them; `issuers`: for each claim the permits accept from only some of the
    /// issuers given to [`decide_among`], those issuers (in the order given). A claim absent from `issuers`
    /// may come from any of them.
    NeedInfo {
        claims: Vec<String>,
        policies: Vec<PolicyRef>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        issuers: BTreeMap<String, Vec<String>>,
    },
    /// No: a forbid applies (`policies`), no permit can apply, or evaluation failed (`errors`).
    Deny {
        policies: Vec<PolicyRef>,
        errors: Vec<EvalError>,
    },
}

impl Decision {
    pub fn is_permit(&self) -> bool {
        matches!(self, Self::Permit { .. })
    }

    /// The policies that decided the answer.
    pub fn policies(&self) -> &[PolicyRef] {
        match self {
            Self::Permit { policies }
            | Self::Ask { policies }
            | Self::NeedInfo { policies, .. }
            | Self::Deny { policies, .. } => policies,
        }
    }

    fn deny_with(errors: Vec<EvalError>) -> Self {
        Self::Deny {
            policies: Vec::new(),
            errors,
        }
    }

    fn failed(message: impl Into<String>) -> Self {
        Self::deny_with(vec![EvalError {
            policy: None,
            message: message.into(),
        }])
    }
}

/// Verified claims about the requesting party (an ID token's payload, say). `iss` and `sub` are always there.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    iss: String,
    sub: String,
    all: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the claims have no `{0}`, or it is not a non-empty string")]
    Missing(&'static str),
}

impl Claims {
    /// Takes a verified claim set; it must hold `iss` and `sub` as non-empty strings.
    pub fn from_json(all: Map<String, Value>) -> Result<Self, ClaimsError> {
        let text = |name: &'static str| match all.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(ClaimsError::Missing(name)),
        };
        Ok(Self {
            iss: text("iss")?,
            sub: text("sub")?,
            all,
        })
    }

    pub fn iss(&self) -> &str {
        &self.iss
    }

    pub fn sub(&self) -> &str {
        &self.sub
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.all.get(name)
    }

    /// Every verified claim, as received (kept by reference for PCTs and RPT re-evaluation).
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.all
    }

    /// The id of the principal entity: the JSON array `["<iss>","<sub>"]`, so that two issuers' equal
    /// subjects are two principals. The same form as the requesting party's id elsewhere in the server
    /// (`crate::uma::party_id`), so an id from the decision log can be pasted into a policy.
    pub fn principal_id(&self) -> String {
        Value::from(vec![self.iss.as_str(), self.sub.as_str()]).to_string()
    }
}

/// The annotation that marks a permit as needing the owner's decision: `@ask permit (...)`. When only such
/// permits apply, the answer is [`Decision::Ask`] instead of [`Decision::Permit`]; any other permit that
/// applies grants at once, and a forbid that applies still denies. It may carry a note for the owner
/// (`@ask("family photos")`), which changes nothing. On a forbid it means nothing and validation rejects it.
pub const ASK: &str = "ask";

/// The id of the principal when no claims were presented. No claim set has it, since theirs are JSON arrays.
pub const ANONYMOUS_PRINCIPAL: &str = "";

/// What the server knows about the resource, from its registration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceFacts {
    pub id: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub name: Option<String>,
    pub kind: Option<String>,
}

/// Facts the server vouches for about the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextFacts {
    /// The client asking on the requesting party's behalf.
    pub client_id: String,
    /// The resource server that registered the resource.
    pub resource_server: String,
    /// Unix seconds, given to policies as `context.time`, a Cedar `datetime`.
    pub time: i64,
}

/// Entity type names, parsed once per compiled set.
#[derive(Debug, Clone)]
struct Types {
    user: EntityTypeName,
    resource: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Result<Self, String> {
        let parse = |name: &str| EntityTypeName::from_str(name).map_err(|e| e.to_string());
        Ok(Self {
            user: parse(USER_TYPE)?,
            resource: parse(RESOURCE_TYPE)?,
            action: parse(ACTION_TYPE)?,
        })
    }
}

/// One owner's policies, parsed and ready to decide with. Cheap to share (`Arc`).
#[derive(Debug, Clone)]
pub struct Compiled {
    owner: Option<String>,
    set: PolicySet,
    refs: HashMap<PolicyId, PolicyRef>,
    claims: Arc<[ClaimAttr]>,
    types: Option<Types>,
    /// Why the set could not be compiled; a broken set denies everything.
    problems: Vec<String>,
}

impl Compiled {
    /// The owner the set belongs to, if it was compiled for one.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Number of policies in the set.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Why the set could not be compiled (empty when it compiled).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// A set that is not to be used at all (its sources no longer validate against the schema): every decision
/// with it is a deny that gives `problems` as the reason.
pub fn refused(schema: &PolicySchema, owner: Option<&str>, problems: Vec<String>) -> Compiled {
    Compiled {
        owner: owner.map(str::to_owned),
        set: PolicySet::new(),
        refs: HashMap::new(),
        claims: schema.claims().clone(),
        types: None,
        problems,
    }
}

/// Parses `sources` into one set. Sources are not validated here (a write validates them before they are
/// stored); a source that no longer parses makes the whole set deny, with the reason in `problems`.
/// `owner`, when given, is checked against every resource the set decides on.
pub fn compile(schema: &PolicySchema, owner: Option<&str>, sources: &[Source]) -> Compiled {
    let mut set = PolicySet::new();
    let mut refs = HashMap::new();
    let mut problems = Vec::new();
    if let Err(d) = check_set_size(sources.iter().map(|s| (s.name.as_str(), s.text.as_str()))) {
        problems.push(d.to_string());
    }
    // A set over the size limit is not parsed at all: it denies everything.
    let parse = if problems.is_empty() { sources } else { &[] };
    for (index, source) in parse.iter().enumerate() {
        match parse_source(index, source) {
            Ok(policies) => {
                for p in policies {
                    let id = p.policy.id().clone();
                    if let Err(e) = set.add(p.policy) {
                        problems.push(format!("{}: {e}", source.name));
                        continue;
                    }
                    refs.insert(
                        id,
                        PolicyRef {
                            source: source.name.clone(),
                            position: p.position,
                        },
                    );
                }
            }
            Err(diagnostics) => {
                problems.extend(diagnostics.iter().map(ToString::to_string));
            }
        }
    }
    let types = match Types::new() {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if !problems.is_empty() {
        log::error!(
            "policies of `{}` do not compile; every decision with them is a deny: {}",
            owner.unwrap_or("-"),
            problems.join("; ")
        );
    }
    Compiled {
        owner: owner.map(str::to_owned),
        set,
        refs,
        claims: schema.claims().clone(),
        types,
        problems,
    }
}

/// The claim naming the issuer that vouches for the others.
const ISS: &str = "iss";
/// The claim naming the requesting party: asked for when a permit needs nothing but an identity from some
/// issuer.
const SUB: &str = "sub";

/// How claims the request did not supply are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing<'i> {
    /// As absent attributes: the truth about what was supplied, which the final answer rests on.
    Absent,
    /// As unknown values: to find which claims could change the answer.
    Unknown,
    /// As unknown values, except `iss`, which is this issuer: to find what it could supply.
    UnknownFrom(&'i str),
}

/// Decides `scope` on `resource` for the requesting party `claims` describes (None: no claims presented).
pub fn decide(
    compiled: &Compiled,
    claims: Option<&Claims>,
    resource: &ResourceFacts,
    scope: &str,
    context: &ContextFacts,
) -> Decision {
    decide_among(compiled, claims, resource, scope, context, &[])
}

/// As [`decide`], knowing the issuers whose claims the server accepts (`issuers`). When a `need_info` depends
/// on which issuer vouches for the claims (a permit reads `principal.iss`), each of them is tried in turn, and
/// the answer's `issuers` says which could satisfy the permits, claim by claim. Without issuers (or when no
/// permit reads `iss`) any issuer is assumed to do.
pub fn decide_among(
    compiled: &Compiled,
    claims: Option<&Claims>,
    resource: &ResourceFacts,
    scope: &str,
    context: &ContextFacts,
    issuers: &[String],
) -> Decision {
    if !compiled.problems.is_empty() {
        return Decision::deny_with(
            compiled
                .problems
                .iter()
                .map(|p| EvalError {
                    policy: None,
                    message: format!("the policy set does not compile: {p}"),
                })
                .collect(),
        );
    }
    if let Some(owner) = &compiled.owner
        && owner != &resource.owner
    {
        return Decision::failed(format!(
            "the policies of `{owner}` cannot decide on a resource of `{}`",
            resource.owner
        ));
    }
    if compiled.set.is_empty() {
        return Decision::deny_with(Vec::new());
    }
    let Some(types) = &compiled.types else {
        return Decision::failed("the Cedar entity types could not be built");
    };
    match Evaluation::prepare(compiled, types, claims, resource, scope, context) {
        Ok(evaluation) => evaluation.run(issuers),
        Err(message) => Decision::failed(message),
    }
}

/// Everything one decision evaluates with.
struct Evaluation<'a> {
    compiled: &'a Compiled,
    claims: Option<&'a Claims>,
    principal: EntityUid,
    resource: Entity,
    request: Request,
    /// Declared claims the request supplied (with a value of the declared type).
    supplied: Vec<(&'a ClaimAttr, RestrictedExpression)>,
    /// Declared claims the request did not supply.
    missing: Vec<&'a ClaimAttr>,
}

impl<'a> Evaluation<'a> {
    fn prepare(
        compiled: &'a Compiled,
        types: &Types,
        claims: Option<&'a Claims>,
        resource: &ResourceFacts,
        scope: &str,
        context: &ContextFacts,
    ) -> Result<Self, String> {
        let principal_id =
            claims.map_or_else(|| ANONYMOUS_PRINCIPAL.to_owned(), Claims::principal_id);
        let principal =
            EntityUid::from_type_name_and_id(types.user.clone(), EntityId::new(principal_id));
        let resource_uid =
            EntityUid::from_type_name_and_id(types.resource.clone(), EntityId::new(&resource.id));
        let action = EntityUid::from_type_name_and_id(types.action.clone(), EntityId::new(scope));

        let mut supplied = Vec::new();
        let mut missing = Vec::new();
        for attr in compiled.claims.iter() {
            match claims.and_then(|c| claim_value(attr, c)) {
                Some(value) => supplied.push((attr, value)),
                None => missing.push(attr),
            }
        }

        let mut resource_attrs = HashMap::from([
            (
                "owner".to_owned(),
                RestrictedExpression::new_string(resource.owner.clone()),
            ),
            (
                "scopes".to_owned(),
                RestrictedExpression::new_set(
                    resource
                        .scopes
                        .iter()
                        .cloned()
                        .map(RestrictedExpression::new_string),
                ),
            ),
        ]);
        if let Some(name) = &resource.name {
            resource_attrs.insert(
                "name".into(),
                RestrictedExpression::new_string(name.clone()),
            );
        }
        if let Some(kind) = &resource.kind {
            resource_attrs.insert(
                "type".into(),
                RestrictedExpression::new_string(kind.clone()),
            );
        }
        let resource_entity = Entity::new(resource_uid.clone(), resource_attrs, HashSet::new())
            .map_err(|e| format!("cannot describe the resource to Cedar: {e}"))?;

        let time = chrono::DateTime::from_timestamp(context.time, 0)
            .ok_or_else(|| format!("the time {} is out of range", context.time))?
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let context = Context::from_pairs([
            (
                "client_id".to_owned(),
                RestrictedExpression::new_string(context.client_id.clone()),
            ),
            (
                "resource_server".to_owned(),
                RestrictedExpression::new_string(context.resource_server.clone()),
            ),
            ("time".to_owned(), RestrictedExpression::new_datetime(time)),
        ])
        .map_err(|e| format!("cannot build the request context: {e}"))?;
        let request = Request::new(principal.clone(), action, resource_uid, context, None)
            .map_err(|e| format!("cannot build the request: {e}"))?;
        Ok(Self {
            compiled,
            claims,
            principal,
            resource: resource_entity,
            request,
            supplied,
            missing,
        })
    }

    /// Evaluates with the claims not supplied represented as `how` says.
    fn evaluate(&self, how: Missing) -> Result<PartialResponse, String> {
        let mut attrs: HashMap<String, RestrictedExpression> = self
            .supplied
            .iter()
            .map(|(attr, value)| (attr.name.clone(), value.clone()))
            .collect();
        for attr in &self.missing {
            let value = match how {
                Missing::UnknownFrom(iss) if attr.name == ISS => {
                    RestrictedExpression::new_string(iss.to_owned())
                }
                Missing::Unknown | Missing::UnknownFrom(_) => {
                    RestrictedExpression::new_unknown(&attr.name)
                }
                // With no claims at all, even the identity is unknown: never a made-up `sub` or `iss`.
                Missing::Absent if attr.required && self.claims.is_none() => {
                    RestrictedExpression::new_unknown(&attr.name)
                }
                Missing::Absent => continue,
            };
            attrs.insert(attr.name.clone(), value);
        }
        let principal = Entity::new(self.principal.clone(), attrs, HashSet::new())
            .map_err(|e| format!("cannot describe the requesting party to Cedar: {e}"))?;
        let entities = Entities::from_entities([principal, self.resource.clone()], None)
            .map_err(|e| format!("cannot build the entities: {e}"))?;
        Ok(Authorizer::new().is_authorized_partial(&self.request, &self.compiled.set, &entities))
    }

    fn run(self, issuers: &[String]) -> Decision {
        let actual = match self.evaluate(Missing::Absent) {
            Ok(r) => r,
            Err(e) => return Decision::failed(e),
        };
        if let Some(errors) = self.errors(&actual) {
            return Decision::deny_with(errors);
        }
        if actual.decision() == Some(CedarDecision::Allow) {
            let policies = self.satisfied(&actual, Effect::Permit);
            let only_ask = actual
                .definitely_satisfied()
                .filter(|p| p.effect() == Effect::Permit)
                .all(|p| p.annotation(ASK).is_some());
            return if only_ask {
                Decision::Ask { policies }
            } else {
                Decision::Permit { policies }
            };
        }
        let hopeful = if self.missing.is_empty() {
            None
        } else {
            match self.evaluate(Missing::Unknown) {
                Ok(r) => Some(r),
                Err(e) => return Decision::failed(e),
            }
        };
        let hopeful = hopeful.as_ref().unwrap_or(&actual);
        if let Some(errors) = self.errors(hopeful) {
            return Decision::deny_with(errors);
        }
        let forbids = self.satisfied(hopeful, Effect::Forbid);
        if !forbids.is_empty() {
            return Decision::Deny {
                policies: forbids,
                errors: Vec::new(),
            };
        }
        let (mut wanted, mut policies) = self.permit_unknowns(hopeful);
        if actual.decision().is_none() {
            // Undecided on the claims actually supplied: only the identity (no claims at all) can be unknown
            // there, and nothing can be permitted without it.
            for residual in actual.nontrivial_residuals() {
                wanted.extend(unknowns_in(&residual));
            }
        }
        let mut from = BTreeMap::new();
        let iss_wanted = wanted.remove(ISS);
        let iss_matters = iss_wanted
            || hopeful
                .nontrivial_residuals()
                .any(|r| unknowns_in(&r).contains(ISS));
        if iss_matters && !issuers.is_empty() && (iss_wanted || !wanted.is_empty()) {
            // Which issuer vouches matters to some policy: only the issuers that could satisfy a permit (and
            // that no forbid shuts out) are worth naming, each for the claims it would still have to supply.
            match self.issuers_that_could(issuers) {
                Ok((by_claim, by_policies)) => {
                    wanted = by_claim.keys().cloned().collect();
                    policies = by_policies;
                    from = by_claim;
                }
                Err(errors) => return Decision::deny_with(errors),
            }
        } else if iss_wanted && wanted.is_empty() {
            // A permit that reads only `iss`: any identity from the right issuer satisfies it.
            wanted.insert(SUB.to_owned());
        }
        let claims: Vec<String> = self
            .compiled
            .claims
            .iter()
            .filter(|c| wanted.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        if claims.is_empty() {
            Decision::Deny {
                policies: self.satisfied(&actual, Effect::Forbid),
                errors: Vec::new(),
            }
        } else {
            policies.sort();
            policies.dedup();
            // A claim every issuer could supply needs no list of its own.
            from.retain(|_, list: &mut Vec<String>| list.len() < issuers.len());
            Decision::NeedInfo {
                claims,
                policies,
                issuers: from,
            }
        }
    }

    /// Tries each of `issuers` as the one vouching for the claims still to come: for each claim, the issuers
    /// under which some permit could apply with it (a permit that then needs no further claim asks for the
    /// identity, `sub`), and those permits. An issuer under which a forbid applies whatever the claims, or
    /// evaluation fails, can satisfy nothing.
    #[expect(
        clippy::type_complexity,
        reason = "a private helper's pair of results, named at the only call site"
    )]
    fn issuers_that_could(
        &self,
        issuers: &[String],
    ) -> Result<(BTreeMap<String, Vec<String>>, Vec<PolicyRef>), Vec<EvalError>> {
        let mut by_claim: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut policies = Vec::new();
        for iss in issuers {
            let response = self
                .evaluate(Missing::UnknownFrom(iss))
                .map_err(|message| {
                    vec![EvalError {
                        policy: None,
                        message,
                    }]
                })?;
            if self.errors(&response).is_some()
                || !self.satisfied(&response, Effect::Forbid).is_empty()
            {
                continue;
            }
            let (mut names, found) = self.permit_unknowns(&response);
            policies.extend(found);
            let permits = self.satisfied(&response, Effect::Permit);
            if !permits.is_empty() {
                names.insert(SUB.to_owned());
                policies.extend(permits);
            }
            names.remove(ISS);
            for name in names {
                by_claim.entry(name).or_default().push(iss.clone());
            }
        }
        Ok((by_claim, policies))
    }

    fn policy_ref(&self, id: &PolicyId) -> Option<PolicyRef> {
        self.compiled.refs.get(id).cloned()
    }

    fn satisfied(&self, response: &PartialResponse, effect: Effect) -> Vec<PolicyRef> {
        let mut refs: Vec<PolicyRef> = response
            .definitely_satisfied()
            .filter(|p| p.effect() == effect)
            .filter_map(|p| self.policy_ref(p.id()))
            .collect();
        refs.sort();
        refs
    }

    /// The evaluation errors of a response, if there were any: they make the decision a deny.
    fn errors(&self, response: &PartialResponse) -> Option<Vec<EvalError>> {
        let errored: HashSet<&PolicyId> = response.definitely_errored().collect();
        if errored.is_empty() {
            return None;
        }
        let concrete = response.clone().concretize();
        let mut errors: Vec<EvalError> = concrete
            .diagnostics()
            .errors()
            .filter_map(|e| match e {
                AuthorizationError::PolicyEvaluationError(e) if errored.contains(e.policy_id()) => {
                    Some(EvalError {
                        policy: self.policy_ref(e.policy_id()),
                        message: e.inner().to_string(),
                    })
                }
                _ => None,
            })
            .collect();
        if errors.is_empty() {
            errors = errored
                .iter()
                .map(|id| EvalError {
                    policy: self.policy_ref(id),
                    message: "the policy failed to evaluate".into(),
                })
                .collect();
        }
        errors.sort_by(|a, b| a.policy.cmp(&b.policy));
        for e in &errors {
            log::warn!("policy evaluation failed, denying: {e}");
        }
        Some(errors)
    }

    /// The claims named by unknowns left in permit residuals, and those permits.
    fn permit_unknowns(&self, response: &PartialResponse) -> (BTreeSet<String>, Vec<PolicyRef>) {
        let mut wanted = BTreeSet::new();
        let mut policies = Vec::new();
        for residual in response.nontrivial_residuals() {
            if residual.effect() != Effect::Permit {
                continue;
            }
            let Ok(json) = residual.to_json() else {
                continue;
            };
            if cannot_hold(&json) {
                continue;
            }
            let mut names = BTreeSet::new();
            collect_unknowns(&json, &mut names);
            if !names.is_empty() {
                wanted.extend(names);
                policies.extend(self.policy_ref(residual.id()));
            }
        }
        (wanted, policies)
    }
}

/// The value of a declared claim, if the claims hold one of the declared type. A claim of another type counts
/// as not supplied. A single string is taken as a one-element set, as some issuers send one group that way.
fn claim_value(attr: &ClaimAttr, claims: &Claims) -> Option<RestrictedExpression> {
    let value = claims.get(&attr.name)?;
    let string = |v: &Value| {
        v.as_str()
            .map(|s| RestrictedExpression::new_string(s.to_owned()))
    };
    let long = |v: &Value| v.as_i64().map(RestrictedExpression::new_long);
    let boolean = |v: &Value| v.as_bool().map(RestrictedExpression::new_bool);
    let set = |element: &dyn Fn(&Value) -> Option<RestrictedExpression>| match value {
        Value::Array(items) => items
            .iter()
            .map(element)
            .collect::<Option<Vec<_>>>()
            .map(RestrictedExpression::new_set),
        single => element(single).map(|e| RestrictedExpression::new_set([e])),
    };
    match attr.ty {
        ClaimType::String => string(value),
        ClaimType::Long => long(value),
        ClaimType::Bool => boolean(value),
        ClaimType::SetOfString => set(&string),
        ClaimType::SetOfLong => set(&long),
        ClaimType::SetOfBool => set(&boolean),
    }
}

/// The names of the `unknown("...")` values in a residual policy.
fn unknowns_in(policy: &cedar_policy::Policy) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(json) = policy.to_json() {
        collect_unknowns(&json, &mut names);
    }
    names
}

/// True when a residual policy (Cedar's JSON form) can hold for no value of its unknowns: Cedar leaves
/// `unknown("email") == "..." && false` as it is, and no claim can make that true, so it is no reason to ask
/// for one. Errors do not matter here: a policy that errors cannot permit either.
fn cannot_hold(policy: &Value) -> bool {
    let Some(conditions) = policy.get("conditions").and_then(Value::as_array) else {
        return false;
    };
    conditions.iter().any(|c| {
        let body = c.get("body").map(truth);
        match c.get("kind").and_then(Value::as_str) {
            Some("when") => body == Some(Some(false)),
            Some("unless") => body == Some(Some(true)),
            _ => false,
        }
    })
}

/// The truth value of a residual expression where it is decided whatever the unknowns are.
fn truth(expr: &Value) -> Option<bool> {
    let binary = |op: &str| {
        expr.get(op).map(|b| {
            (
                b.get("left").and_then(truth),
                b.get("right").and_then(truth),
            )
        })
    };
    if let Some(value) = expr.get("Value") {
        return value.as_bool();
    }
    if let Some((left, right)) = binary("&&") {
        return match (left, right) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
    }
    if let Some((left, right)) = binary("||") {
        return match (left, right) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        };
    }
    if let Some(arg) = expr.get("!") {
        return arg.get("arg").and_then(truth).map(|b| !b);
    }
    if let Some(ite) = expr.get("if-then-else") {
        let branch = |name: &str| ite.get(name).and_then(truth);
        return match ite.get("if").and_then(truth) {
            Some(true) => branch("then"),
            Some(false) => branch("else"),
            None => match (branch("then"), branch("else")) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            },
        };
    }
    None
}

/// Walks Cedar's JSON policy form, where an unknown is the call `{"unknown": [{"Value": "<name>"}]}`. Only
/// a call has an array value, so a record literal with an `unknown` key is not mistaken for one.
fn collect_unknowns(json: &Value, names: &mut BTreeSet<String>) {
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "unknown"
                    && let Value::Array(args) = value
                {
                    names.extend(
                        args.iter()
                            .filter_map(|a| a.get("Value").and_then(Value::as_str))
                            .map(str::to_owned),
                    );
                }
                collect_unknowns(value, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_unknowns(i, names)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> PolicySchema {
        PolicySchema::base().expect("base schema")
    }

    fn set(texts: &[(&str, &str)]) -> Compiled {
        let sources: Vec<Source> = texts.iter().map(|(n, t)| Source::new(*n, *t)).collect();
        let validation =
            super::super::validate(&schema(), &sources, super::super::ScopeCheck::Unchecked);
        assert!(validation.is_valid(), "{:?}", validation.diagnostics);
        compile(&schema(), Some("alice"), &sources)
    }

    fn claims(value: Value) -> Claims {
        let Value::Object(map) = value else {
            panic!("claims must be an object")
        };
        Claims::from_json(map).expect("claims")
    }

    fn bob() -> Claims {
        claims(json!({"iss": "https://as.example", "sub": "bob", "email": "bob@example.com"}))
    }

    fn checking() -> ResourceFacts {
        ResourceFacts {
            id: "r1".into(),
            owner: "alice".into(),
            scopes: vec!["view".into(), "edit".into()],
            name: Some("Checking".into()),
            kind: Some("account".into()),
        }
    }

    fn ctx() -> ContextFacts {
        ContextFacts {
            client_id: "budget-app".into(),
            resource_server: "bank".into(),
            time: 1_800_000_000,
        }
    }

    const BOB_VIEWS: &str = r#"permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" && resource has name && resource.name == "Checking" };"#;

    fn refs(list: &[(&str, usize)]) -> Vec<PolicyRef> {
        list.iter()
            .map(|(s, p)| PolicyRef {
                source: (*s).into(),
                position: *p,
            })
            .collect()
    }

    #[test]
    fn the_design_example_permits_bob() {
        let c = set(&[("bob", BOB_VIEWS)]);
        assert_eq!(
            decide(&c, Some(&bob()), &checking(), "view", &ctx()),
            Decision::Permit {
                policies: refs(&[("bob", 1)])
            }
        );
    }

    #[test]
    fn a_policy_that_does_not_match_is_a_concrete_deny() {
        let c = set(&[("bob", BOB_VIEWS)]);
        let carol = claims(
            json!({"iss": "https://as.example", "sub": "carol", "email": "carol@example.com"}),
        );
        assert_eq!(
            decide(&c, Some(&carol), &checking(), "view", &ctx()),
            Decision::Deny {
                policies: vec![],
                errors: vec![]
            }
        );
        assert!(!decide(&c, Some(&bob()), &checking(), "edit", &ctx()).is_permit());
    }

    #[test]
    fn forbid_wins_over_permit() {
        let c = set(&[
            ("bob", BOB_VIEWS),
            (
                "never-bob",
                "forbid (principal, action, resource) when { principal.sub == \"bob\" };",
            ),
        ]);
        assert_eq!(
            decide(&c, Some(&bob()), &checking(), "view", &ctx()),
            Decision::Deny {
                policies: refs(&[("never-bob", 1)]),
                errors: vec![]
            }
        );
    }

    #[test]
    fn need_info_names_exactly_the_claims_a_permit_needs() {
        let c = set(&[
            ("bob", BOB_VIEWS),
            (
                "no-banned",
                "forbid (principal, action, resource) when { principal has groups && principal.groups.contains(\"banned\") };",
            ),
        ]);
        let no_email = claims(json!({"iss": "https://as.example", "sub": "bob"}));
        assert_eq!(
            decide(&c, Some(&no_email), &checking(), "view", &ctx()),
            Decision::NeedInfo {
                claims: vec!["email".into()],
                policies: refs(&[("bob", 1)]),
                issuers: BTreeMap::new(),
            },
            "`groups` only a forbid reads: not asked for"
        );
    }

    #[test]
    fn need_info_with_no_claims_at_all_includes_the_identity_a_permit_reads() {
        let c = set(&[(
            "by-sub",
            "permit (principal, action, resource) when { principal.iss == \"https://as.example\" && principal.sub == \"bob\" };",
        )]);
        match decide(&c, None, &checking(), "view", &ctx()) {
            Decision::NeedInfo { claims, .. } => {
                assert_eq!(
                    claims,
                    vec!["sub"],
                    "`iss` is which issuer, never a claim to ask for"
                )
            }
            other => panic!("expected need_info, got {other:?}"),
        }
        let c = set(&[("bob", BOB_VIEWS)]);
        match decide(&c, None, &checking(), "view", &ctx()) {
            Decision::NeedInfo { claims, .. } => assert_eq!(claims, vec!["email"]),
            other => panic!("expected need_info, got {other:?}"),
        }
    }

    const AS: &str = "https://as.example";
    const LOGIN: &str = "https://login.example.org";
    const OTHER: &str = "https://other.example";

    fn accepted() -> Vec<String> {
        vec![AS.into(), LOGIN.into(), OTHER.into()]
    }

    /// The `need_info` of `c` with no claims at all, among the accepted issuers.
    fn need_info_among(c: &Compiled) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
        match decide_among(c, None, &checking(), "view", &ctx(), &accepted()) {
            Decision::NeedInfo {
                claims, issuers, ..
            } => (claims, issuers),
            other => panic!("expected need_info, got {other:?}"),
        }
    }

    fn from(items: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn need_info_names_only_the_issuers_a_permit_accepts() {
        let c = set(&[(
            "login-bob",
            "permit (principal, action, resource) when { principal.iss == \"https://login.example.org\" && principal has email && principal.email == \"bob@example.com\" };",
        )]);
        assert_eq!(
            need_info_among(&c),
            (vec!["email".to_owned()], from(&[("email", &[LOGIN])]))
        );
        // Several accepted issuers, in the order given.
        let c = set(&[(
            "two",
            "permit (principal, action, resource) when { [\"https://other.example\", \"https://as.example\"].contains(principal.iss) && principal has email && principal.email == \"bob@example.com\" };",
        )]);
        assert_eq!(
            need_info_among(&c),
            (vec!["email".to_owned()], from(&[("email", &[AS, OTHER])]))
        );
    }

    #[test]
    fn need_info_from_any_issuer_when_no_permit_reads_iss() {
        let c = set(&[("bob", BOB_VIEWS)]);
        assert_eq!(
            need_info_among(&c),
            (vec!["email".to_owned()], BTreeMap::new())
        );
        // `!=` leaves two of the three.
        let c = set(&[(
            "not-other",
            "permit (principal, action, resource) when { principal.iss != \"https://other.example\" && principal has email && principal.email == \"bob@example.com\" };",
        )]);
        assert_eq!(
            need_info_among(&c),
            (vec!["email".to_owned()], from(&[("email", &[AS, LOGIN])]))
        );
    }

    #[test]
    fn a_permit_reading_only_iss_asks_for_an_identity_from_that_issuer() {
        let c = set(&[(
            "anyone-from-login",
            "permit (principal, action, resource) when { principal.iss == \"https://login.example.org\" };",
        )]);
        assert_eq!(
            need_info_among(&c),
            (vec!["sub".to_owned()], from(&[("sub", &[LOGIN])]))
        );
    }

    #[test]
    fn each_claim_lists_the_issuers_of_the_permits_that_read_it() {
        let c = set(&[
            (
                "login-email",
                "permit (principal, action, resource) when { principal.iss == \"https://login.example.org\" && principal has email && principal.email == \"bob@example.com\" };",
            ),
            (
                "doctors",
                "permit (principal, action, resource) when { principal has groups && principal.groups.contains(\"doctors\") };",
            ),
        ]);
        let (claims, issuers) = need_info_among(&c);
        assert_eq!(claims, vec!["email".to_owned(), "groups".to_owned()]);
        assert_eq!(issuers, from(&[("email", &[LOGIN])]), "groups: any issuer");
    }

    #[test]
    fn a_permit_no_accepted_issuer_can_satisfy_is_a_deny() {
        let c = set(&[(
            "stranger",
            "permit (principal, action, resource) when { principal.iss == \"https://untrusted.example\" && principal has email };",
        )]);
        assert!(matches!(
            decide_among(&c, None, &checking(), "view", &ctx(), &accepted()),
            Decision::Deny { .. }
        ));
        // An issuer a forbid shuts out whatever the claims is not offered either.
        let c = set(&[
            ("bob", BOB_VIEWS),
            (
                "not-other",
                "forbid (principal, action, resource) when { principal.iss == \"https://other.example\" };",
            ),
        ]);
        assert_eq!(
            need_info_among(&c),
            (vec!["email".to_owned()], from(&[("email", &[AS, LOGIN])]))
        );
    }

    #[test]
    fn a_permit_that_no_claim_can_satisfy_is_a_deny_not_need_info() {
        // Wrong resource name: no claim can change that.
        let c = set(&[("bob", BOB_VIEWS)]);
        let savings = ResourceFacts {
            name: Some("Savings".into()),
            ..checking()
        };
        let no_email = claims(json!({"iss": "https://as.example", "sub": "bob"}));
        assert!(matches!(
            decide(&c, Some(&no_email), &savings, "view", &ctx()),
            Decision::Deny { .. }
        ));
        assert_eq!(
            truth(
                &json!({"&&": {"left": {"==": {"left": {"unknown": [{"Value": "email"}]}, "right": {"Value": "b"}}}, "right": {"Value": false}}})
            ),
            Some(false)
        );
        assert_eq!(
            truth(
                &json!({"||": {"left": {"unknown": [{"Value": "email"}]}, "right": {"Value": false}}})
            ),
            None
        );
    }

    #[test]
    fn withholding_a_claim_does_not_dodge_a_forbid_on_its_absence() {
        let c = set(&[
            ("all", "permit (principal, action, resource);"),
            (
                "verified-only",
                "forbid (principal, action, resource) unless { principal has email_verified && principal.email_verified };",
            ),
        ]);
        assert!(matches!(
            decide(&c, Some(&bob()), &checking(), "view", &ctx()),
            Decision::Deny { .. }
        ));
        let verified = claims(json!({"iss": "i", "sub": "bob", "email_verified": true}));
        assert!(decide(&c, Some(&verified), &checking(), "view", &ctx()).is_permit());
    }

    #[test]
    fn undeclared_claims_are_ignored_and_mistyped_ones_count_as_missing() {
        let c = set(&[("bob", BOB_VIEWS)]);
        // A claim named like a resource or context fact does not leak anywhere either.
        let sneaky = claims(
            json!({"iss": "i", "sub": "mallory", "role": "admin", "name": "Checking",
            "client_id": "budget-app", "email": ["bob@example.com"]}),
        );
        assert_eq!(
            decide(&c, Some(&sneaky), &checking(), "view", &ctx()),
            Decision::NeedInfo {
                claims: vec!["email".into()],
                policies: refs(&[("bob", 1)]),
                issuers: BTreeMap::new(),
            }
        );
        let c = set(&[(
            "g",
            "permit (principal, action, resource) when { principal has groups && principal.groups.contains(\"doctors\") };",
        )]);
        let one_group = claims(json!({"iss": "i", "sub": "d", "groups": "doctors"}));
        assert!(decide(&c, Some(&one_group), &checking(), "view", &ctx()).is_permit());
    }

    #[test]
    fn two_issuers_with_the_same_sub_are_two_principals() {
        let a = claims(json!({"iss": "https://a.example", "sub": "bob"}));
        let b = claims(json!({"iss": "https://b.example", "sub": "bob"}));
        assert_ne!(a.principal_id(), b.principal_id());
        assert_eq!(
            a.principal_id(),
            crate::uma::party_id("https://a.example", "bob")
        );
        let literal = format!(
            "permit (principal == Uma::User::{}, action, resource);",
            serde_json::to_string(&a.principal_id()).expect("quote")
        );
        let c = set(&[("a", &literal)]);
        assert!(decide(&c, Some(&a), &checking(), "view", &ctx()).is_permit());
        assert!(!decide(&c, Some(&b), &checking(), "view", &ctx()).is_permit());
    }

    #[test]
    fn an_evaluation_error_is_a_deny_even_beside_a_permit() {
        let c = set(&[
            ("all", "permit (principal, action, resource);"),
            (
                "overflow",
                "forbid (principal, action, resource) when { 9223372036854775807 + 1 > 0 };",
            ),
        ]);
        match decide(&c, Some(&bob()), &checking(), "view", &ctx()) {
            Decision::Deny { errors, .. } => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(
                    errors.first().and_then(|e| e.policy.clone()),
                    refs(&[("overflow", 1)]).pop()
                );
            }
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_set_denies() {
        let c = compile(&schema(), Some("alice"), &[]);
        assert_eq!(
            decide(&c, Some(&bob()), &checking(), "view", &ctx()),
            Decision::Deny {
                policies: vec![],
                errors: vec![]
            }
        );
    }

    #[test]
    fn a_set_never_decides_on_another_owners_resource() {
        let c = set(&[("all", "permit (principal, action, resource);")]);
        let kates = ResourceFacts {
            owner: "kate".into(),
            ..checking()
        };
        match decide(&c, Some(&bob()), &kates, "view", &ctx()) {
            Decision::Deny { errors, .. } => assert!(!errors.is_empty()),
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn a_set_that_no_longer_parses_denies_with_the_reason() {
        let c = compile(
            &schema(),
            Some("alice"),
            &[
                Source::new("all", "permit (principal, action, resource);"),
                Source::new("bad", "permit ("),
            ],
        );
        assert!(!c.problems().is_empty());
        match decide(&c, Some(&bob()), &checking(), "view", &ctx()) {
            Decision::Deny { errors, .. } => {
                assert!(errors.iter().any(|e| e.message.contains("bad")))
            }
            other => panic!("expected deny, got {other:?}"),
        }
    }

    #[test]
    fn context_facts_reach_the_policies() {
        let c = set(&[(
            "until-june",
            "permit (principal, action == Uma::Action::\"view\", resource) when { context.time < datetime(\"2028-01-01T00:00:00Z\") && context.client_id == \"budget-app\" && context.resource_server == \"bank\" && resource.owner == \"alice\" && resource.scopes.contains(\"view\") && resource has type && resource.type == \"account\" };",
        )]);
        assert!(decide(&c, Some(&bob()), &checking(), "view", &ctx()).is_permit());
        let later = ContextFacts {
            time: 1_900_000_000,
            ..ctx()
        };
        assert!(!decide(&c, Some(&bob()), &checking(), "view", &later).is_permit());
        let other_client = ContextFacts {
            client_id: "x".into(),
            ..ctx()
        };
        assert!(!decide(&c, Some(&bob()), &checking(), "view", &other_client).is_permit());
    }

    #[test]
    fn claims_need_iss_and_sub() {
        let Value::Object(map) = json!({"sub": "bob"}) else {
            panic!()
        };
        assert_eq!(Claims::from_json(map), Err(ClaimsError::Missing("iss")));
    }

    #[test]
    fn unknowns_are_found_only_in_calls() {
        let mut names = BTreeSet::new();
        collect_unknowns(
            &json!({"==": {"left": {"unknown": [{"Value": "email"}]}, "right": {"Record": {"unknown": {"Value": "x"}}}}}),
            &mut names,
        );
        assert_eq!(names, BTreeSet::from(["email".to_owned()]));
    }

    const FAMILY_ASKS: &str = r#"@ask("family photos")
permit (principal, action, resource) when { principal has groups && principal.groups.contains("family") };"#;

    fn family_bob() -> Claims {
        claims(json!({"iss": "https://as.example", "sub": "bob", "groups": ["family"]}))
    }

    #[test]
    fn an_ask_permit_alone_holds_the_request() {
        let c = set(&[("family", FAMILY_ASKS)]);
        assert_eq!(
            decide(&c, Some(&family_bob()), &checking(), "view", &ctx()),
            Decision::Ask {
                policies: refs(&[("family", 1)])
            }
        );
        // Not in the family: no permit applies, so no question for the owner either.
        let friend =
            claims(json!({"iss": "https://as.example", "sub": "bob", "groups": ["friends"]}));
        assert!(matches!(
            decide(&c, Some(&friend), &checking(), "view", &ctx()),
            Decision::Deny { .. }
        ));
        // Without a `groups` claim, the claim that could make the `@ask` permit apply is asked for first.
        assert!(matches!(
            decide(&c, Some(&bob()), &checking(), "view", &ctx()),
            Decision::NeedInfo { claims, .. } if claims == vec!["groups".to_owned()]
        ));
    }

    #[test]
    fn a_plain_permit_beside_an_ask_grants_at_once() {
        let c = set(&[("family", FAMILY_ASKS), ("bob", BOB_VIEWS)]);
        let both = claims(json!({"iss": "https://as.example", "sub": "bob",
            "email": "bob@example.com", "groups": ["family"]}));
        let decision = decide(&c, Some(&both), &checking(), "view", &ctx());
        assert!(decision.is_permit(), "{decision:?}");
        // The plain permit covers `view` only: `edit` is the owner's to decide.
        assert!(matches!(
            decide(&c, Some(&both), &checking(), "edit", &ctx()),
            Decision::Ask { .. }
        ));
    }

    #[test]
    fn a_forbid_beats_an_ask() {
        let c = set(&[
            ("family", FAMILY_ASKS),
            (
                "no-edit",
                r#"forbid (principal, action == Uma::Action::"edit", resource);"#,
            ),
        ]);
        assert_eq!(
            decide(&c, Some(&family_bob()), &checking(), "edit", &ctx()),
            Decision::Deny {
                policies: refs(&[("no-edit", 1)]),
                errors: vec![]
            }
        );
        assert!(matches!(
            decide(&c, Some(&family_bob()), &checking(), "view", &ctx()),
            Decision::Ask { .. }
        ));
    }

    #[test]
    fn a_forbid_cannot_ask() {
        let sources = [Source::new(
            "bad",
            "@ask forbid (principal, action, resource);",
        )];
        let validation =
            super::super::validate(&schema(), &sources, super::super::ScopeCheck::Unchecked);
        assert!(!validation.is_valid());
        assert!(
            validation
                .diagnostics
                .iter()
                .any(|d| d.message.contains("`@ask`")),
            "{:?}",
            validation.diagnostics
        );
    }

    #[test]
    fn an_approval_permits_exactly_that_party_and_scope_until_its_end() {
        let scopes = vec!["view".to_owned()];
        let approval = super::super::approval_policy(&super::super::Approval {
            request_id: "req1",
            iss: "https://as.example",
            sub: "bob",
            display: None,
            client_id: "app",
            resource_id: "r1",
            scopes: &scopes,
            approved_at: 0,
            until: Some(ctx().time + 60),
        });
        let c = set(&[("family", FAMILY_ASKS), ("approved-req1", &approval)]);
        assert!(decide(&c, Some(&family_bob()), &checking(), "view", &ctx()).is_permit());
        // Another scope, another party, or after the end: not this approval.
        assert!(matches!(
            decide(&c, Some(&family_bob()), &checking(), "edit", &ctx()),
            Decision::Ask { .. }
        ));
        let carol =
            claims(json!({"iss": "https://as.example", "sub": "carol", "groups": ["family"]}));
        assert!(matches!(
            decide(&c, Some(&carol), &checking(), "view", &ctx()),
            Decision::Ask { .. }
        ));
        let other_iss =
            claims(json!({"iss": "https://other.example", "sub": "bob", "groups": ["family"]}));
        assert!(!decide(&c, Some(&other_iss), &checking(), "view", &ctx()).is_permit());
        let later = ContextFacts {
            time: ctx().time + 61,
            ..ctx()
        };
        assert!(matches!(
            decide(&c, Some(&family_bob()), &checking(), "view", &later),
            Decision::Ask { .. }
        ));
    }
}
