//! What a policy change does, proved before it lands: [`compare`] answers, scope by scope, whether a new set
//! newly allows or newly denies anything the old one did not, and [`prove_never`] whether a set allows any
//! request a "never" query describes. Both turn the question into SMT queries with Cedar's symbolic compiler
//! (`cedar-policy-symcc`) and put them to the `cvc5` solver, a separate process with a time limit.
//!
//! - **Request environments.** Scopes are open-ended, so the analysis takes the scopes the policies (and
//!   queries) name plus the ones it is given, each as an action applying to `Uma::User` x `Uma::Resource`, and
//!   one more action no policy names: every scope no policy names behaves like it, so that one environment
//!   stands for all of them ([`ScopeImpact::scope`] is `None` there).
//! - **`@ask` permits** (see [`super::ASK`]) grant nothing by themselves: they put the request to the owner.
//!   "Allowed" here means what the server grants at once: a permit that is not `@ask` applies and no forbid
//!   does. Whether a set newly puts requests to the owner is answered apart ([`ScopeImpact::newly_asks`]),
//!   and a "never" query is proved against what is granted (an owner's later approval of a held request is a
//!   new policy, which the next proof sees). In a query file every permit counts, `@ask` or not; other
//!   annotations (`@id`, notes) change nothing anywhere.
//! - **Never trusted blindly.** A timeout, a missing or failing solver, or an answer Cedar does not confirm is
//!   [`Finding::Undecided`] / [`Proof::Undecided`], never "no change" or "proved". Every counterexample is
//!   turned into the request the server would build (claims, resource, context, scope) and decided again with
//!   the ordinary authorizer ([`super::decide`]) on both sets; only a request whose decisions are the ones
//!   claimed is shown.
//! - **Typing.** The sets are validated (strict mode) first; one that does not type-check is an
//!   [`ImpactError::Invalid`] with located diagnostics, never a crash.
//!
//! The solver runs on a thread of its own with its own small async runtime, so these functions block: call
//! them from a blocking context (`web::block` in a handler).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cedar_policy::{
    ActionConstraint, Effect, EntityTypeName, EntityUid, EvalResult, PolicySet, RequestEnv, Schema,
};
use cedar_policy_symcc::err::Error as SymError;
use cedar_policy_symcc::solver::{LocalSolver, SolverError};
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};
use serde::Serialize;
use serde_json::{Map, Value};

use super::decide::{self, ASK, Claims, Compiled, ContextFacts, Decision, ResourceFacts};
use super::diagnostic::{Diagnostic, Kind, Severity};
use super::schema::{
    ACTION_TYPE, ANY_SCOPE_ACTION, PolicySchema, RESOURCE_TYPE, USER_TYPE, named_actions,
};
use super::validate::{Parsed, ScopeCheck, Source, located, parse_source, validate};

/// Scopes (request environments) one analysis may cover.
pub const MAX_SCOPES: usize = 256;
/// The default time limit of the solver in one analysis (all its calls together).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The scope name an example uses for "a scope no policy names", when no policy names it.
const OTHER_SCOPE: &str = "another-scope";
/// Stack of the analysis thread: the symbolic compiler recurses on expressions (bounded by
/// [`super::MAX_EXPR_DEPTH`]).
const STACK_BYTES: usize = 16 * 1024 * 1024;

/// How the solver is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The `cvc5` executable: a path, or a name looked up on `PATH`.
    pub solver: OsString,
    /// Time the solver may take, all its calls in one analysis together (compiling the policies is bounded
    /// by their size limits instead); what is not decided by then is [`Finding::Undecided`].
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            solver: "cvc5".into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A concrete request: what the server would decide on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// The scope asked for.
    pub scope: String,
    /// The requesting party's verified claims (`iss`, `sub`, and the optional ones present).
    pub claims: Map<String, Value>,
    pub resource: ExampleResource,
    pub context: ExampleContext,
}

/// The resource of an [`Example`], as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExampleResource {
    pub id: String,
    pub owner: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The context of an [`Example`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExampleContext {
    pub client_id: String,
    pub resource_server: String,
    /// The time of the request, RFC 3339 (UTC).
    pub time: String,
    /// The same, in Unix seconds.
    pub unix_time: i64,
}

impl Example {
    /// The claims as the decision takes them.
    pub fn claims(&self) -> Option<Claims> {
        Claims::from_json(self.claims.clone()).ok()
    }

    pub fn resource_facts(&self) -> ResourceFacts {
        ResourceFacts {
            id: self.resource.id.clone(),
            owner: self.resource.owner.clone(),
            scopes: self.resource.scopes.clone(),
            name: self.resource.name.clone(),
            kind: self.resource.kind.clone(),
        }
    }

    pub fn context_facts(&self) -> ContextFacts {
        ContextFacts {
            client_id: self.context.client_id.clone(),
            resource_server: self.context.resource_server.clone(),
            time: self.context.unix_time,
        }
    }

    /// One line for people: who, what, when.
    pub fn describe(&self) -> String {
        let claims = Value::Object(self.claims.clone()).to_string();
        let mut resource = format!(
            "resource `{}` of `{}`",
            self.resource.id, self.resource.owner
        );
        if let Some(name) = &self.resource.name {
            resource.push_str(&format!(" named \"{name}\""));
        }
        if let Some(kind) = &self.resource.kind {
            resource.push_str(&format!(" of type \"{kind}\""));
        }
        format!(
            "scope `{}` on {resource}, asked by a party with claims {claims} through client `{}` at {}",
            self.scope, self.context.client_id, self.context.time
        )
    }
}

/// The answer to one question about one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Finding {
    /// Proved: no request is affected.
    None,
    /// A request that is affected, confirmed by the authorizer.
    Example { example: Box<Example> },
    /// Not decided (time limit, no solver, an unconfirmed answer): nothing is known.
    Undecided { reason: String },
}

impl Finding {
    pub fn example(&self) -> Option<&Example> {
        match self {
            Self::Example { example } => Some(example.as_ref()),
            _ => None,
        }
    }

    pub fn undecided(&self) -> Option<&str> {
        match self {
            Self::Undecided { reason } => Some(reason),
            _ => None,
        }
    }
}

/// What a change does to one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeImpact {
    /// The scope; `None` stands for every scope neither set names (they are all decided alike).
    pub scope: Option<String>,
    /// A request the new set grants and the old one did not.
    pub newly_allows: Finding,
    /// A request the old set granted and the new one does not.
    pub newly_denies: Finding,
    /// A request the new set grants or puts to the owner (`@ask`) and the old one refused outright.
    /// [`Finding::None`] without asking when neither set has an `@ask` permit (it would be `newly_allows`).
    pub newly_asks: Finding,
}

impl ScopeImpact {
    fn findings(&self) -> [&Finding; 3] {
        [&self.newly_allows, &self.newly_denies, &self.newly_asks]
    }

    /// Some request is proved to be decided differently.
    pub fn changed(&self) -> bool {
        self.findings().iter().any(|f| f.example().is_some())
    }

    /// Some question was not decided.
    pub fn undecided(&self) -> bool {
        self.findings().iter().any(|f| f.undecided().is_some())
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proved: every request is decided as before.
    NoChange,
    /// Some request is decided differently (an example shows it).
    Changed,
    /// No change found, but not everything was decided.
    Undecided,
}

/// What a change does, scope by scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub status: Status,
    pub scopes: Vec<ScopeImpact>,
}

impl Impact {
    fn new(scopes: Vec<ScopeImpact>) -> Self {
        let status = if scopes.iter().any(ScopeImpact::changed) {
            Status::Changed
        } else if scopes.iter().any(ScopeImpact::undecided) {
            Status::Undecided
        } else {
            Status::NoChange
        };
        Self { status, scopes }
    }

    /// The scopes some request of is decided differently.
    pub fn changes(&self) -> impl Iterator<Item = &ScopeImpact> {
        self.scopes.iter().filter(|s| s.changed())
    }
}

/// The answer for one "never" query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Proof {
    /// No request the policies grant matches the query.
    Proved,
    /// This request is granted by the policies and matches the query (both confirmed by the authorizer).
    Violated { example: Box<Example> },
    /// Not decided: nothing is known.
    Undecided { reason: String },
}

/// One query file's proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryProof {
    /// The query's source name.
    pub query: String,
    #[serde(flatten)]
    pub proof: Proof,
}

/// Why an analysis could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpactError {
    /// A set does not validate, or does not compile for the analysis: located diagnostics.
    #[error("the {side} policies cannot be analysed ({} problem(s))", diagnostics.len())]
    Invalid {
        /// Which set: `old`, `new`, `policies` or `never`.
        side: &'static str,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("the policies name {count} scopes; at most {max} can be analysed at once")]
    TooManyScopes { count: usize, max: usize },
    #[error("the analysis failed: {0}")]
    Internal(String),
}

/// One side's sources, validated and parsed.
struct Prepared<'a> {
    side: &'static str,
    sources: &'a [Source],
    parsed: Vec<Parsed>,
    compiled: Compiled,
    /// For an owner's set: a forbid of every resource of someone else, so that examples are the owner's.
    owner_only: Option<cedar_policy::Policy>,
}

impl<'a> Prepared<'a> {
    fn new(
        schema: &PolicySchema,
        side: &'static str,
        sources: &'a [Source],
        owner: Option<&str>,
    ) -> Result<Self, ImpactError> {
        let validation = validate(schema, sources, ScopeCheck::Unchecked);
        if !validation.is_valid() {
            return Err(ImpactError::Invalid {
                side,
                diagnostics: validation.errors().cloned().collect(),
            });
        }
        let mut parsed = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            parsed.extend(
                parse_source(index, source)
                    .map_err(|diagnostics| ImpactError::Invalid { side, diagnostics })?,
            );
        }
        let compiled = decide::compile(schema, owner, sources);
        if let Some(problem) = compiled.problems().first() {
            return Err(ImpactError::Internal(format!(
                "the {side} policies do not compile: {problem}"
            )));
        }
        let owner_only = match owner {
            Some(owner) => Some(
                cedar_policy::Policy::parse(
                    Some(cedar_policy::PolicyId::new("owner-only")),
                    format!(
                        "forbid (principal, action, resource) unless {{ resource.owner == \"{}\" }};",
                        super::approval::escape(owner)
                    ),
                )
                .map_err(|e| ImpactError::Internal(format!("cannot name the owner: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            side,
            sources,
            parsed,
            compiled,
            owner_only,
        })
    }

    fn has_ask(&self) -> bool {
        self.parsed.iter().any(|p| is_ask(&p.policy))
    }

    /// The policies whose scope (head) lets them apply to `action`: what is granted at once (forbids and the
    /// permits that are not `@ask`), or with `asks` every policy (granted or put to the owner). Leaving out
    /// the policies that cannot apply keeps each environment's formula small.
    fn set(&self, action: &EntityUid, asks: bool) -> PolicySet {
        let mut set = PolicySet::new();
        for p in &self.parsed {
            let applies = match p.policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => &uid == action,
                ActionConstraint::In(uids) => uids.contains(action),
            };
            if applies && (asks || !is_ask(&p.policy)) {
                // Ids are unique by construction.
                let _ = set.add(p.policy.clone());
            }
        }
        if let Some(policy) = &self.owner_only {
            let _ = set.add(policy.clone());
        }
        set
    }

    fn scopes(&self) -> BTreeSet<String> {
        named_actions(self.parsed.iter().map(|p| &p.policy))
    }

    /// Compiles `set` for `env`; a failure is located on the policy that causes it.
    fn compile(
        &self,
        set: &PolicySet,
        env: &RequestEnv,
        schema: &Schema,
    ) -> Result<CompiledPolicySet, ImpactError> {
        CompiledPolicySet::compile(set, env, schema).map_err(|e| self.locate(&e, env, schema))
    }

    fn locate(&self, error: &SymError, env: &RequestEnv, schema: &Schema) -> ImpactError {
        let mut diagnostics = Vec::new();
        for p in &self.parsed {
            let Some(source) = self.sources.get(p.source) else {
                continue;
            };
            match CompiledPolicy::compile(&p.policy, env, schema) {
                Ok(_) => {}
                Err(SymError::PolicyNotWellTyped { errs }) => {
                    for err in errs {
                        let err = cedar_policy::ValidationError::from(err);
                        diagnostics.push(located(
                            &source.name,
                            &source.text,
                            &err,
                            Kind::Validation,
                            Some(GUARD_HELP.into()),
                        ));
                    }
                }
                Err(e) => diagnostics.push(
                    Diagnostic::at(
                        &source.name,
                        &source.text,
                        0,
                        0,
                        Severity::Error,
                        Kind::Validation,
                        format!(
                            "policy {} of this source cannot be analysed for scope `{}`: {e}",
                            p.position,
                            env.action().id().unescaped()
                        ),
                    )
                    .with_help(Some(GUARD_HELP.into())),
                ),
            }
        }
        if diagnostics.is_empty()
            && let Some(source) = self.sources.first()
        {
            diagnostics.push(Diagnostic::at(
                &source.name,
                &source.text,
                0,
                0,
                Severity::Error,
                Kind::Validation,
                format!("these policies cannot be analysed: {error}"),
            ));
        }
        ImpactError::Invalid {
            side: self.side,
            diagnostics,
        }
    }
}

const GUARD_HELP: &str = "guard every optional attribute (`principal has email && principal.email == ...`) \
                          and use only the vocabulary's attributes and functions";

fn is_ask(policy: &cedar_policy::Policy) -> bool {
    policy.effect() == Effect::Permit && policy.annotation(ASK).is_some()
}

/// The request environments to analyse: each named scope, then "any other scope".
struct Envs {
    schema: Schema,
    /// (scope for the report, scope name for examples, environment)
    list: Vec<(Option<String>, String, RequestEnv)>,
}

impl Envs {
    fn new(
        schema: &PolicySchema,
        named: BTreeSet<String>,
        given: &[String],
    ) -> Result<Self, ImpactError> {
        let mut scopes = named;
        scopes.extend(given.iter().cloned());
        scopes.remove(ANY_SCOPE_ACTION);
        if scopes.len() >= MAX_SCOPES {
            return Err(ImpactError::TooManyScopes {
                count: scopes.len(),
                max: MAX_SCOPES - 1,
            });
        }
        let cedar = schema
            .with_actions(scopes.iter().map(String::as_str))
            .map_err(ImpactError::Internal)?;
        let parse = |name: &str| {
            EntityTypeName::from_str(name).map_err(|e| ImpactError::Internal(e.to_string()))
        };
        let (user, resource, action) = (
            parse(USER_TYPE)?,
            parse(RESOURCE_TYPE)?,
            parse(ACTION_TYPE)?,
        );
        let mut other = OTHER_SCOPE.to_owned();
        let mut n = 2;
        while scopes.contains(&other) {
            other = format!("{OTHER_SCOPE}-{n}");
            n += 1;
        }
        let env = |scope: &str| {
            RequestEnv::new(
                user.clone(),
                EntityUid::from_type_name_and_id(
                    action.clone(),
                    cedar_policy::EntityId::new(scope),
                ),
                resource.clone(),
            )
        };
        let mut list: Vec<_> = scopes
            .iter()
            .map(|s| (Some(s.clone()), s.clone(), env(s)))
            .collect();
        list.push((None, other, env(ANY_SCOPE_ACTION)));
        Ok(Self {
            schema: cedar,
            list,
        })
    }
}

/// Runs `work` on a thread of its own with a current-thread async runtime.
fn isolated<T: Send>(
    work: impl AsyncFnOnce() -> Result<T, ImpactError> + Send,
) -> Result<T, ImpactError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("policy-impact".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ImpactError::Internal(format!("cannot start a runtime: {e}")))?;
                runtime.block_on(work())
            })
            .map_err(|e| ImpactError::Internal(format!("cannot start a thread: {e}")))?;
        handle
            .join()
            .map_err(|_| ImpactError::Internal("the analysis thread failed".into()))?
    })
}

/// Compares what `old` and `new` decide, for every scope either names, the `scopes` given, and any other
/// scope. The solver takes at most about `limits.timeout`; compiling the sets takes time in proportion to
/// their size.
pub fn compare(
    schema: &PolicySchema,
    old: &[Source],
    new: &[Source],
    scopes: &[String],
    limits: &Limits,
) -> Result<Impact, ImpactError> {
    compare_sets(schema, None, old, new, scopes, limits)
}

/// As [`compare`], for two versions of `owner`'s set: only requests on the owner's resources count (every
/// example's resource is the owner's), and examples are decided as the server decides for that owner.
pub fn compare_for_owner(
    schema: &PolicySchema,
    owner: &str,
    old: &[Source],
    new: &[Source],
    scopes: &[String],
    limits: &Limits,
) -> Result<Impact, ImpactError> {
    compare_sets(schema, Some(owner), old, new, scopes, limits)
}

fn compare_sets(
    schema: &PolicySchema,
    owner: Option<&str>,
    old: &[Source],
    new: &[Source],
    scopes: &[String],
    limits: &Limits,
) -> Result<Impact, ImpactError> {
    let old = Prepared::new(schema, "old", old, owner)?;
    let new = Prepared::new(schema, "new", new, owner)?;
    let mut named = old.scopes();
    named.extend(new.scopes());
    let envs = Envs::new(schema, named, scopes)?;
    let asks = old.has_ask() || new.has_ask();
    isolated(async || {
        let mut session = Session::new(limits);
        let mut out = Vec::new();
        for (scope, name, env) in &envs.list {
            let action = env.action();
            let old_g = old.compile(&old.set(action, false), env, &envs.schema)?;
            let new_g = new.compile(&new.set(action, false), env, &envs.schema)?;
            let confirm = |model: &Env, want: fn(&Decision, &Decision) -> bool| {
                confirm(model, name, |claims, resource, context| {
                    let before =
                        decide::decide(&old.compiled, Some(claims), resource, name, context);
                    let after =
                        decide::decide(&new.compiled, Some(claims), resource, name, context);
                    if want(&before, &after) {
                        Ok(())
                    } else {
                        Err(format!(
                            "old set: {}, new set: {}",
                            decision_name(&before),
                            decision_name(&after)
                        ))
                    }
                })
            };
            let newly_allows = match session.implies(&new_g, &old_g).await {
                Ok(None) => Finding::None,
                Ok(Some(model)) => confirm(&model, |b, a| !b.is_permit() && a.is_permit()),
                Err(reason) => Finding::Undecided { reason },
            };
            let newly_denies = match session.implies(&old_g, &new_g).await {
                Ok(None) => Finding::None,
                Ok(Some(model)) => confirm(&model, |b, a| b.is_permit() && !a.is_permit()),
                Err(reason) => Finding::Undecided { reason },
            };
            let newly_asks = if asks {
                let old_a = old.compile(&old.set(action, true), env, &envs.schema)?;
                let new_a = new.compile(&new.set(action, true), env, &envs.schema)?;
                match session.implies(&new_a, &old_a).await {
                    Ok(None) => Finding::None,
                    Ok(Some(model)) => confirm(&model, |b, a| !reaches(b) && reaches(a)),
                    Err(reason) => Finding::Undecided { reason },
                }
            } else {
                Finding::None
            };
            out.push(ScopeImpact {
                scope: scope.clone(),
                newly_allows,
                newly_denies,
                newly_asks,
            });
        }
        session.finish().await;
        Ok(Impact::new(out))
    })
}

/// Proves, for each query in `never`, that no request `policies` grant matches it (the query's permits
/// apply and none of its forbids does), for every scope either names, the `scopes` given, and any other.
pub fn prove_never(
    schema: &PolicySchema,
    policies: &[Source],
    never: &[Source],
    scopes: &[String],
    limits: &Limits,
) -> Result<Vec<QueryProof>, ImpactError> {
    let policies = Prepared::new(schema, "policies", policies, None)?;
    let queries = never
        .iter()
        .map(|q| Prepared::new(schema, "never", std::slice::from_ref(q), None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut named = policies.scopes();
    for q in &queries {
        named.extend(q.scopes());
    }
    let envs = Envs::new(schema, named, scopes)?;
    isolated(async || {
        let mut session = Session::new(limits);
        let mut proofs: Vec<Proof> = vec![Proof::Proved; queries.len()];
        for (_, name, env) in &envs.list {
            let action = env.action();
            let granted = policies.compile(&policies.set(action, false), env, &envs.schema)?;
            for (query, proof) in queries.iter().zip(proofs.iter_mut()) {
                if matches!(proof, Proof::Violated { .. }) {
                    continue;
                }
                let compiled = query.compile(&query.set(action, true), env, &envs.schema)?;
                let answer = match session.disjoint(&granted, &compiled).await {
                    Ok(None) => continue,
                    Ok(Some(model)) => confirm(&model, name, |claims, resource, context| {
                        let allowed = decide::decide(
                            &policies.compiled,
                            Some(claims),
                            resource,
                            name,
                            context,
                        );
                        let matched =
                            decide::decide(&query.compiled, Some(claims), resource, name, context);
                        if allowed.is_permit() && reaches(&matched) {
                            Ok(())
                        } else {
                            Err(format!(
                                "policies: {}, query: {}",
                                decision_name(&allowed),
                                if reaches(&matched) {
                                    "matches"
                                } else {
                                    "does not match"
                                }
                            ))
                        }
                    }),
                    Err(reason) => Finding::Undecided { reason },
                };
                match answer {
                    Finding::Example { example } => *proof = Proof::Violated { example },
                    Finding::Undecided { reason } => {
                        if matches!(proof, Proof::Proved) {
                            *proof = Proof::Undecided {
                                reason: format!("scope `{name}`: {reason}"),
                            };
                        }
                    }
                    Finding::None => {}
                }
            }
        }
        session.finish().await;
        Ok(never
            .iter()
            .zip(proofs)
            .map(|(q, proof)| QueryProof {
                query: q.name.clone(),
                proof,
            })
            .collect())
    })
}

/// Granted, or put to the owner.
fn reaches(d: &Decision) -> bool {
    matches!(d, Decision::Permit { .. } | Decision::Ask { .. })
}

fn decision_name(d: &Decision) -> &'static str {
    match d {
        Decision::Permit { .. } => "permit",
        Decision::Ask { .. } => "ask",
        Decision::NeedInfo { .. } => "need_info",
        Decision::Deny { .. } => "deny",
    }
}

/// The two questions put to the solver.
#[derive(Debug, Clone, Copy)]
enum Question {
    /// Does every request `a` allows, `b` allow too? (A counterexample: one `a` allows and `b` does not.)
    Implies,
    /// Is no request allowed by both? (A counterexample: one both allow.)
    Disjoint,
}

/// The solver process, started on first use and again after a failure.
struct Session<'l> {
    limits: &'l Limits,
    /// Time the solver has taken so far.
    spent: Duration,
    compiler: Option<CedarSymCompiler<LocalSolver>>,
    /// A process given up on, to be killed and reaped.
    stopping: Option<CedarSymCompiler<LocalSolver>>,
    /// Why the solver cannot be started at all (then every question is undecided).
    unavailable: Option<String>,
}

impl<'l> Session<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            spent: Duration::ZERO,
            compiler: None,
            stopping: None,
            unavailable: None,
        }
    }

    fn remaining(&self) -> Result<Duration, String> {
        let left = self.limits.timeout.saturating_sub(self.spent);
        if left.is_zero() {
            Err(self.timed_out())
        } else {
            Ok(left)
        }
    }

    fn timed_out(&self) -> String {
        format!(
            "the solver did not answer within the time limit ({} ms)",
            self.limits.timeout.as_millis()
        )
    }

    fn start(&mut self, left: Duration) -> Result<(), String> {
        if let Some(reason) = &self.unavailable {
            return Err(reason.clone());
        }
        if self.compiler.is_some() {
            return Ok(());
        }
        let mut command = tokio::process::Command::new(&self.limits.solver);
        command
            .args(["--lang", "smt"])
            .arg(format!("--tlimit-per={}", left.as_millis().max(1)))
            .kill_on_drop(true);
        let solver = LocalSolver::from_command(&mut command).map_err(|e| {
            let reason = format!(
                "cannot start the solver `{}`: {}; install cvc5 (1.0.3 or later, Debian package `cvc5`) or \
                 name it with --solver or the CVC5 environment variable",
                self.limits.solver.to_string_lossy(),
                describe_solver(&e)
            );
            self.unavailable = Some(reason.clone());
            reason
        })?;
        let compiler = CedarSymCompiler::new(solver).map_err(|e| e.to_string())?;
        self.compiler = Some(compiler);
        Ok(())
    }

    /// A request `a` allows and `b` does not, if there is one.
    async fn implies(
        &mut self,
        a: &CompiledPolicySet,
        b: &CompiledPolicySet,
    ) -> Result<Option<Env>, String> {
        self.ask(Question::Implies, a, b).await
    }

    /// A request both `a` and `b` allow, if there is one.
    async fn disjoint(
        &mut self,
        a: &CompiledPolicySet,
        b: &CompiledPolicySet,
    ) -> Result<Option<Env>, String> {
        self.ask(Question::Disjoint, a, b).await
    }

    /// Puts `question` about `a` and `b` to the solver within the time left.
    async fn ask(
        &mut self,
        question: Question,
        a: &CompiledPolicySet,
        b: &CompiledPolicySet,
    ) -> Result<Option<Env>, String> {
        let left = self.remaining()?;
        self.start(left)?;
        let Some(compiler) = self.compiler.as_mut() else {
            return Err("the solver is not running".into());
        };
        let start = Instant::now();
        let answer = match question {
            Question::Implies => {
                tokio::time::timeout(left, compiler.check_implies_with_counterexample_opt(a, b))
                    .await
            }
            Question::Disjoint => {
                tokio::time::timeout(left, compiler.check_disjoint_with_counterexample_opt(a, b))
                    .await
            }
        };
        self.spent += start.elapsed();
        let answer = self.settle(answer);
        self.reap().await;
        answer
    }

    /// Kills the process given up on and waits for it, so that none is left behind.
    async fn reap(&mut self) {
        if let Some(mut compiler) = self.stopping.take() {
            let _ = compiler.solver_mut().clean_up().await;
        }
    }

    /// Ends the running process, if any.
    async fn finish(mut self) {
        self.stopping = self.compiler.take();
        self.reap().await;
    }

    fn settle(
        &mut self,
        answer: Result<Result<Option<Env>, SymError>, tokio::time::error::Elapsed>,
    ) -> Result<Option<Env>, String> {
        match answer {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => {
                // The process may be in any state: start a fresh one for the next question.
                self.stopping = self.compiler.take();
                Err(match e {
                    SymError::SolverUnknown => format!(
                        "the solver gave up (`unknown`), within its time limit of {} ms",
                        self.limits.timeout.as_millis()
                    ),
                    SymError::SolverError(e) => {
                        format!("the solver failed: {}", describe_solver(&e))
                    }
                    other => format!("the analysis failed: {other}"),
                })
            }
            Err(_) => {
                self.stopping = self.compiler.take();
                Err(self.timed_out())
            }
        }
    }
}

fn describe_solver(e: &SolverError) -> String {
    match e {
        SolverError::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Turns the solver's model into the request the server would build, and keeps it only when `check` (the
/// authorizer's decisions) confirms it. The model's principal id and its `iss`/`sub` are independent for the
/// solver, while the server derives the id from them: each consistent reading is tried.
fn confirm(
    model: &Env,
    scope: &str,
    check: impl Fn(&Claims, &ResourceFacts, &ContextFacts) -> Result<(), String>,
) -> Finding {
    let request = match read_model(model) {
        Ok(r) => r,
        Err(reason) => {
            return Finding::Undecided {
                reason: format!("the solver's counterexample cannot be read: {reason}"),
            };
        }
    };
    let mut last = String::from("no reading of it is a request the server could receive");
    // Empty names read badly in an example: a reading with placeholders for them is tried first (it is
    // checked like any other), then the model as it is.
    let named = |value: &str, placeholder: &str| {
        if value.is_empty() {
            placeholder.to_owned()
        } else {
            value.to_owned()
        }
    };
    let tidy = ResourceFacts {
        id: named(&request.resource.id, "resource-1"),
        owner: named(&request.resource.owner, "some-owner"),
        ..request.resource.clone()
    };
    let readings = [
        (
            tidy,
            named(&request.client_id, "some-client"),
            named(&request.resource_server, "some-resource-server"),
        ),
        (
            request.resource.clone(),
            request.client_id.clone(),
            request.resource_server.clone(),
        ),
    ];
    for ((resource, client_id, resource_server), claims, time) in readings
        .iter()
        .flat_map(|r| request.claims.iter().map(move |c| (r, c)))
        .flat_map(|(r, c)| request.times.iter().map(move |t| (r, c, t)))
    {
        let Ok(parsed) = Claims::from_json(claims.clone()) else {
            continue;
        };
        let context = ContextFacts {
            client_id: client_id.clone(),
            resource_server: resource_server.clone(),
            time: *time,
        };
        match check(&parsed, resource, &context) {
            Ok(()) => {
                return Finding::Example {
                    example: Box::new(Example {
                        scope: scope.to_owned(),
                        claims: claims.clone(),
                        resource: ExampleResource {
                            id: resource.id.clone(),
                            owner: resource.owner.clone(),
                            scopes: resource.scopes.clone(),
                            name: resource.name.clone(),
                            kind: resource.kind.clone(),
                        },
                        context: ExampleContext {
                            client_id: context.client_id,
                            resource_server: context.resource_server,
                            time: rfc3339(*time),
                            unix_time: *time,
                        },
                    }),
                };
            }
            Err(why) => last = why,
        }
    }
    Finding::Undecided {
        reason: format!("the solver's counterexample is not confirmed by the authorizer ({last})"),
    }
}

fn rfc3339(time: i64) -> String {
    chrono::DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| time.to_string())
}

/// The readings of a model.
struct ModelRequest {
    /// Candidate claim sets, most faithful first.
    claims: Vec<Map<String, Value>>,
    resource: ResourceFacts,
    client_id: String,
    resource_server: String,
    /// Candidate times in Unix seconds (the model's is in milliseconds).
    times: Vec<i64>,
}

fn read_model(model: &Env) -> Result<ModelRequest, String> {
    let request = &model.request;
    let principal = request.principal().ok_or("no principal")?;
    let resource = request.resource().ok_or("no resource")?;
    let context = request.context().ok_or("no context")?;

    let mut claims = Map::new();
    if let Some(entity) = model.entities.get(principal) {
        for (name, value) in entity_attrs(entity) {
            claims.insert(name, value);
        }
    }
    let mut readings = vec![claims.clone()];
    // The server's principal id is `["<iss>","<sub>"]`: read the identity off the id too.
    if let Ok(Value::Array(pair)) = serde_json::from_str::<Value>(principal.id().unescaped())
        && let [Value::String(iss), Value::String(sub)] = pair.as_slice()
    {
        let mut from_id = claims.clone();
        from_id.insert("iss".into(), Value::String(iss.clone()));
        from_id.insert("sub".into(), Value::String(sub.clone()));
        readings.push(from_id);
    }
    // A party always has a non-empty identity.
    let filled: Vec<_> = readings
        .iter()
        .filter_map(|c| {
            let mut c = c.clone();
            let mut changed = false;
            for (name, placeholder) in [("iss", "https://issuer.example"), ("sub", "someone")] {
                if c.get(name)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    c.insert(name.into(), Value::String(placeholder.into()));
                    changed = true;
                }
            }
            changed.then_some(c)
        })
        .collect();
    readings.extend(filled);

    let mut facts = ResourceFacts {
        id: resource.id().unescaped().to_owned(),
        ..ResourceFacts::default()
    };
    if let Some(entity) = model.entities.get(resource) {
        for (name, value) in entity_attrs(entity) {
            match (name.as_str(), value) {
                ("owner", Value::String(s)) => facts.owner = s,
                ("name", Value::String(s)) => facts.name = Some(s),
                ("type", Value::String(s)) => facts.kind = Some(s),
                ("scopes", Value::Array(items)) => {
                    facts.scopes = items
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                }
                _ => {}
            }
        }
    }

    let text = |key: &str| match context.get(key) {
        Some(EvalResult::String(s)) => Ok(s),
        _ => Err(format!("no `{key}` in the context")),
    };
    let millis = match context.get("time") {
        Some(EvalResult::ExtensionValue(repr)) => {
            datetime_millis(&repr).ok_or_else(|| format!("cannot read the time `{repr}`"))?
        }
        _ => return Err("no `time` in the context".into()),
    };
    let floor = millis.div_euclid(1000);
    let mut times = vec![floor];
    if millis.rem_euclid(1000) != 0 {
        times.push(floor + 1);
    }
    Ok(ModelRequest {
        claims: readings,
        resource: facts,
        client_id: text("client_id")?,
        resource_server: text("resource_server")?,
        times,
    })
}

/// An entity's attributes as JSON (strings, booleans, longs and sets of them).
fn entity_attrs(entity: &cedar_policy::Entity) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    // Attribute names come from the schema: the claims and the resource's attributes.
    for name in ["sub", "iss", "owner", "scopes", "name", "type"]
        .into_iter()
        .map(str::to_owned)
        .chain(entity_attr_names(entity))
    {
        if out.iter().any(|(n, _)| n == &name) {
            continue;
        }
        if let Some(Ok(value)) = entity.attr(&name)
            && let Some(json) = to_json(&value)
        {
            out.push((name, json));
        }
    }
    out
}

/// The attribute names of an entity, read off its JSON form.
fn entity_attr_names(entity: &cedar_policy::Entity) -> Vec<String> {
    entity
        .to_json_value()
        .ok()
        .and_then(|v| {
            v.get("attrs")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
        })
        .unwrap_or_default()
}

fn to_json(value: &EvalResult) -> Option<Value> {
    Some(match value {
        EvalResult::Bool(b) => Value::Bool(*b),
        EvalResult::Long(n) => Value::from(*n),
        EvalResult::String(s) => Value::String(s.clone()),
        EvalResult::Set(items) => Value::Array(items.iter().filter_map(to_json).collect()),
        _ => return None,
    })
}

/// The milliseconds since the epoch of a datetime's representation: `datetime("...")` with a date, or the
/// canonical `datetime("1970-01-01").offset(duration("<n>ms"))`.
fn datetime_millis(repr: &str) -> Option<i64> {
    let base = between(repr, "datetime(\"", "\")")?;
    let base = if base.len() == 10 {
        chrono::NaiveDate::parse_from_str(base, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
            .and_utc()
            .timestamp_millis()
    } else {
        chrono::DateTime::parse_from_rfc3339(base)
            .ok()?
            .timestamp_millis()
    };
    let offset = match between(repr, "duration(\"", "\")") {
        Some(d) => duration_millis(d)?,
        None => 0,
    };
    base.checked_add(offset)
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let from = text.find(start)? + start.len();
    let rest = text.get(from..)?;
    rest.get(..rest.find(end)?)
}

/// Cedar's duration syntax: an optional `-`, then numbers with units `d`, `h`, `m`, `s`, `ms`.
fn duration_millis(text: &str) -> Option<i64> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1i64, r),
        None => (1, text),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, tail) = if let Some(t) = rest.strip_prefix("ms") {
            (1, t)
        } else if let Some(t) = rest.strip_prefix('d') {
            (86_400_000, t)
        } else if let Some(t) = rest.strip_prefix('h') {
            (3_600_000, t)
        } else if let Some(t) = rest.strip_prefix('m') {
            (60_000, t)
        } else if let Some(t) = rest.strip_prefix('s') {
            (1000, t)
        } else {
            return None;
        };
        total = total.checked_add(number.checked_mul(unit)?)?;
        rest = tail;
    }
    total.checked_mul(sign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cedar_policy::{Context, Entities, Request, RestrictedExpression};
    use serde_json::json;

    /// A model as the solver could give it: a principal whose id names `id_iss`, with attributes `iss` and
    /// `email`, viewing resource `r1` named "Checking".
    fn model(id_iss: &str, iss: &str, email: &str) -> Env {
        let id = serde_json::to_string(&json!([id_iss, "s1"])).unwrap();
        let user = EntityUid::from_json(json!({"type": "Uma::User", "id": id})).unwrap();
        let resource = EntityUid::from_json(json!({"type": "Uma::Resource", "id": "r1"})).unwrap();
        let action = EntityUid::from_json(json!({"type": "Uma::Action", "id": "view"})).unwrap();
        let context = Context::from_pairs([
            (
                "client_id".to_owned(),
                RestrictedExpression::new_string("app".into()),
            ),
            (
                "resource_server".to_owned(),
                RestrictedExpression::new_string("rs".into()),
            ),
            (
                "time".to_owned(),
                RestrictedExpression::from_str(r#"datetime("2026-01-01T00:00:00.500Z")"#).unwrap(),
            ),
        ])
        .unwrap();
        let request = Request::new(user, action, resource, context, None).unwrap();
        let entities = Entities::from_json_value(
            json!([
                {"uid": {"type": "Uma::User", "id": id}, "parents": [],
                 "attrs": {"iss": iss, "sub": "s1", "email": email}},
                {"uid": {"type": "Uma::Resource", "id": "r1"}, "parents": [],
                 "attrs": {"owner": "alice", "scopes": ["view"], "name": "Checking"}}
            ]),
            None,
        )
        .unwrap();
        Env { request, entities }
    }

    fn decides(
        text: &str,
    ) -> impl Fn(&Claims, &ResourceFacts, &ContextFacts) -> Result<(), String> {
        let schema = PolicySchema::base().unwrap();
        let compiled = decide::compile(&schema, None, &[Source::new("t", text)]);
        move |claims, resource, context| {
            let d = decide::decide(&compiled, Some(claims), resource, "view", context);
            if d.is_permit() {
                Ok(())
            } else {
                Err(decision_name(&d).to_owned())
            }
        }
    }

    #[test]
    fn a_model_the_authorizer_confirms_becomes_the_request_the_server_would_decide() {
        let found = confirm(
            &model("https://i.example", "https://i.example", "bob@example.com"),
            "view",
            decides(
                r#"permit (principal, action, resource) when { principal has email && principal.email == "bob@example.com" && resource has name && resource.name == "Checking" && context.time > datetime("2026-01-01T00:00:00Z") };"#,
            ),
        );
        let example = found.example().expect("confirmed");
        assert_eq!(example.claims["email"], "bob@example.com");
        assert_eq!(example.resource.owner, "alice");
        assert_eq!(example.context.client_id, "app");
        // 00:00:00.500 is after midnight: only the later whole second keeps that true for the server.
        assert_eq!(example.context.time, "2026-01-01T00:00:01Z");
    }

    #[test]
    fn the_identity_is_read_off_the_principal_id_when_the_attributes_disagree_with_it() {
        let policy = r#"permit (principal == Uma::User::"[\"https://id.example\",\"s1\"]", action, resource);"#;
        let found = confirm(
            &model(
                "https://id.example",
                "https://other.example",
                "bob@example.com",
            ),
            "view",
            decides(policy),
        );
        assert_eq!(
            found.example().expect("confirmed").claims["iss"],
            "https://id.example"
        );
    }

    #[test]
    fn a_model_the_authorizer_does_not_confirm_is_undecided() {
        let found = confirm(
            &model("https://i.example", "https://i.example", "eve@example.com"),
            "view",
            decides(
                r#"permit (principal, action, resource) when { principal has email && principal.email == "bob@example.com" };"#,
            ),
        );
        let reason = found.undecided().expect("undecided");
        assert!(
            reason.contains("not confirmed by the authorizer"),
            "{reason}"
        );
        assert!(
            reason.contains("deny") || reason.contains("need_info"),
            "{reason}"
        );
    }

    #[test]
    fn reads_cedar_durations_and_datetimes() {
        assert_eq!(duration_millis("1d2h3m4s5ms"), Some(93_784_005));
        assert_eq!(duration_millis("-1500ms"), Some(-1500));
        assert_eq!(duration_millis("12"), None);
        assert_eq!(
            datetime_millis("datetime(\"1970-01-01\").offset(duration(\"1777593600000ms\"))"),
            Some(1_777_593_600_000)
        );
        assert_eq!(
            datetime_millis("datetime(\"2026-05-01T00:00:00Z\")"),
            Some(1_777_593_600_000)
        );
    }
}
