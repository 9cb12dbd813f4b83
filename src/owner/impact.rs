//! What a change to an owner's policies would do, before it is made: the owner's side of the policy impact
//! analysis ([`crate::policy::impact`]). A push or a removal is checked exactly as the write would be (the same
//! errors, through [`Policies::planned_push`] and [`Policies::planned_remove`]), then the set as stored is
//! compared with the set after the change, scope by scope: does it newly allow, or newly deny, anything?
//!
//! Each example the analysis gives is a request the ordinary authorizer decides differently under the two sets
//! (the analysis confirms it before giving it), and is then tried on each of the owner's registered resources
//! with that scope, so the owner reads "this also lets someone in group `guests` view Diary" about her own
//! resources. When the solver cannot tell (missing, timed out), the answer says "undecided", never "no
//! change". Used by the policy API's `?dry_run=impact`, the console's previews and `uma-cedar policy diff`.
//!
//! This module never writes: nothing it does may change the stored set or anything else in the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::policies::{Planned, Policies, PolicyError, resource_facts};
use crate::policy::impact::{self as analysis, Example, Finding, Impact, ImpactError, Status};
use crate::policy::{self, Compiled, Decision, Diagnostic, Source};
use crate::protocol::uma::Resource;
use crate::store::{ResourceRead, Store, StoreError, clients};

/// The one value of the policy API's `dry_run` parameter: answer the impact, store nothing.
pub const DRY_RUN: &str = "impact";

/// The time limit of an owner's analysis (all its solver calls): a person is waiting for the answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How many owners' analyses may run at once in one process; each holds a solver process and a thread. One
/// more gets "undecided: busy" at once rather than waiting.
pub const MAX_RUNNING: usize = 2;

/// The most of her resources one finding names (the rest are counted).
const MAX_RESOURCES_NAMED: usize = 20;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_RUNNING`] places, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Self> {
        RUNNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_RUNNING).then_some(n + 1)
            })
            .ok()
            .map(|_| Self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Which question about a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Granted at once after the change, not before.
    Allows,
    /// Granted before, not after.
    Denies,
    /// Granted or put to the owner (`@ask`) after, refused outright before.
    Asks,
}

impl Direction {
    pub const ALL: [Self; 3] = [Self::Allows, Self::Denies, Self::Asks];

    /// The member of [`analysis::ScopeImpact`] (and of the JSON answer) it is.
    pub fn key(self) -> &'static str {
        match self {
            Self::Allows => "newly_allows",
            Self::Denies => "newly_denies",
            Self::Asks => "newly_asks",
        }
    }

    pub fn finding(self, scope: &analysis::ScopeImpact) -> &Finding {
        match self {
            Self::Allows => &scope.newly_allows,
            Self::Denies => &scope.newly_denies,
            Self::Asks => &scope.newly_asks,
        }
    }

    /// True when `before` and `after` are decided the way this question is about.
    fn flips(self, before: &Decision, after: &Decision) -> bool {
        let reaches = |d: &Decision| matches!(d, Decision::Permit { .. } | Decision::Ask { .. });
        match self {
            Self::Allows => !before.is_permit() && after.is_permit(),
            Self::Denies => before.is_permit() && !after.is_permit(),
            Self::Asks => !reaches(before) && reaches(after),
        }
    }
}

/// One of her resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    /// Its name, or its id when it has none.
    pub label: String,
}

/// Her registered resources on which an example request is decided the new way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub resources: Vec<Named>,
    /// How many more beyond those listed.
    pub more: usize,
    /// The example needs no claim but an identity, and another identity is decided the same: anyone.
    pub anyone: bool,
}

/// Why no comparison was made: the answer is then undecided as a whole.
#[derive(Debug, Clone)]
pub struct NotAnalysed {
    pub reason: String,
    /// Located problems, when the analysis could not type a policy.
    pub diagnostics: Vec<Diagnostic>,
}

/// The impact of one change to an owner's set.
#[derive(Debug, Clone)]
pub struct Preview {
    pub impact: Impact,
    /// Set when the comparison could not be made at all (then `impact` is undecided, with no scopes).
    pub not_analysed: Option<NotAnalysed>,
    /// For each scope of `impact` (same order), the reach of each direction's example ([`Direction::ALL`]).
    pub reach: Vec<[Reach; 3]>,
    /// The warnings the change would be stored with.
    pub warnings: Vec<Diagnostic>,
    /// This server's issuer: a party it vouches for is one of its users, named by username.
    pub issuer: Option<String>,
}

/// One finding for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub scope: Option<String>,
    pub direction: Direction,
    pub text: String,
}

impl Preview {
    pub fn status(&self) -> Status {
        self.impact.status
    }

    fn reach(&self, index: usize, direction: Direction) -> Option<&Reach> {
        let at = Direction::ALL.iter().position(|d| *d == direction)?;
        self.reach.get(index).and_then(|r| r.get(at))
    }

    /// The JSON answer of a dry run: `{"dry_run", "stored": false, "impact", "scopes", "warnings"}` (and
    /// `reason`, `diagnostics` when nothing could be analysed). Each scope is `{"scope" (null: every scope no
    /// policy names), "newly_allows", "newly_denies", "newly_asks"}`, each of them `{"result": "none"}`,
    /// `{"result": "undecided", "reason"}` or `{"result": "example", "example", "resources", "summary"}`.
    pub fn to_json(&self) -> Value {
        let status = serde_json::to_value(self.impact.status).unwrap_or(Value::Null);
        let scopes: Vec<Value> = self
            .impact
            .scopes
            .iter()
            .enumerate()
            .map(|(index, scope)| {
                let mut out = serde_json::Map::new();
                out.insert("scope".into(), json!(scope.scope));
                for direction in Direction::ALL {
                    let finding = direction.finding(scope);
                    let mut value = serde_json::to_value(finding).unwrap_or(Value::Null);
                    if let (Value::Object(map), Some(example)) = (&mut value, finding.example()) {
                        let reach = self.reach(index, direction).cloned().unwrap_or_default();
                        map.insert(
                            "resources".into(),
                            reach
                                .resources
                                .iter()
                                .map(|r| json!({"_id": r.id, "name": r.label}))
                                .collect(),
                        );
                        map.insert("more_resources".into(), json!(reach.more));
                        map.insert(
                            "summary".into(),
                            json!(sentence(example, direction, &reach, self.issuer.as_deref())),
                        );
                    }
                    out.insert(direction.key().into(), value);
                }
                Value::Object(out)
            })
            .collect();
        let mut body = json!({
            "dry_run": DRY_RUN,
            "stored": false,
            "impact": status,
            "scopes": scopes,
            "warnings": self.warnings.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        });
        if let (Some(not), Value::Object(map)) = (&self.not_analysed, &mut body) {
            map.insert("reason".into(), json!(not.reason));
            map.insert(
                "diagnostics".into(),
                not.diagnostics.iter().map(Diagnostic::to_json).collect(),
            );
        }
        body
    }

    /// What changes, for people: "This also lets someone in group `guests` `view` Diary.", one per example.
    pub fn changes(&self) -> Vec<Line> {
        self.lines(|finding| finding.example().is_some())
    }

    /// What was not decided, for people, one per question (or one for the whole change).
    pub fn undecided(&self) -> Vec<Line> {
        let mut lines = self.lines(|finding| finding.undecided().is_some());
        if let Some(not) = &self.not_analysed {
            lines.push(Line {
                scope: None,
                direction: Direction::Allows,
                text: format!("This change could not be analysed: {}.", not.reason),
            });
        }
        lines
    }

    fn lines(&self, keep: impl Fn(&Finding) -> bool) -> Vec<Line> {
        let mut out = Vec::new();
        for (index, scope) in self.impact.scopes.iter().enumerate() {
            for direction in Direction::ALL {
                let finding = direction.finding(scope);
                if !keep(finding) {
                    continue;
                }
                let text = match finding {
                    Finding::Example { example } => {
                        let reach = self.reach(index, direction).cloned().unwrap_or_default();
                        sentence(example, direction, &reach, self.issuer.as_deref())
                    }
                    Finding::Undecided { reason } => {
                        let what = match direction {
                            Direction::Allows => "newly allows",
                            Direction::Denies => "newly denies",
                            Direction::Asks => "newly puts to you (ask first)",
                        };
                        format!(
                            "Not decided whether this {what} {} to anyone: {reason}.",
                            scope_words(scope.scope.as_deref())
                        )
                    }
                    Finding::None => continue,
                };
                out.push(Line {
                    scope: scope.scope.clone(),
                    direction,
                    text,
                });
            }
        }
        out
    }
}

fn scope_words(scope: Option<&str>) -> String {
    scope.map_or_else(
        || "a scope no policy names".to_owned(),
        |s| format!("`{s}`"),
    )
}

/// Who an example's requesting party is, in a few words: by group, email or username, a user of this server
/// (whose issuer is `issuer`) by username, else `sub` and `iss`.
pub fn party(claims: &serde_json::Map<String, Value>, issuer: Option<&str>) -> String {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if let Some(group) = claims
        .get("groups")
        .and_then(Value::as_array)
        .and_then(|g| g.iter().find_map(Value::as_str))
    {
        return format!("someone in group `{group}`");
    }
    if let Some(email) = text("email") {
        return format!("`{email}`");
    }
    if let Some(user) = text("preferred_username") {
        return format!("user `{user}`");
    }
    let (sub, iss) = (
        text("sub").unwrap_or_default(),
        text("iss").unwrap_or_default(),
    );
    if issuer == Some(iss) {
        return format!("user `{sub}`");
    }
    format!("`{sub}` from `{iss}`")
}

/// The sentence for one example: "This also lets `bob@example.com` `view` Diary, Photos (for example at
/// 2026-07-01T00:00:00Z through client `app`)."
fn sentence(
    example: &Example,
    direction: Direction,
    reach: &Reach,
    issuer: Option<&str>,
) -> String {
    let who = if reach.anyone {
        "anyone".to_owned()
    } else {
        party(&example.claims, issuer)
    };
    let scope = &example.scope;
    let on = if reach.resources.is_empty() {
        let like = example
            .resource
            .name
            .as_deref()
            .map_or_else(String::new, |n| format!(" like one named \"{n}\""));
        format!("a resource{like} (none of your registered resources now)")
    } else {
        let names: Vec<&str> = reach.resources.iter().map(|r| r.label.as_str()).collect();
        let more = if reach.more > 0 {
            format!(" and {} more", reach.more)
        } else {
            String::new()
        };
        format!("{}{more}", names.join(", "))
    };
    match direction {
        Direction::Allows => format!("This also lets {who} `{scope}` {on}."),
        Direction::Denies => format!("This stops {who} from `{scope}` on {on}."),
        Direction::Asks => {
            format!("This puts requests from {who} to `{scope}` {on} to you (ask first).")
        }
    }
}

/// Every resource registered for `owner`, by any resource server.
pub fn resources_of(store: &Store, owner: &str) -> Result<Vec<Resource>, StoreError> {
    store.read(|c| {
        let mut all = Vec::new();
        for client in clients::list(c)? {
            let ids = c.list_scoped(owner, &client.client_id)?;
            if ids.is_empty() {
                continue;
            }
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            all.extend(c.get_many_scoped(owner, &client.client_id, &ids)?);
        }
        Ok(all)
    })
}

/// The impact of pushing `sources` for `owner`: refused with the push's own errors when the push would be.
/// Blocks while the solver runs (at most about [`TIMEOUT`] plus compilation).
pub fn of_push(
    policies: &Policies,
    store: &Store,
    owner: &str,
    sources: &[Source],
    issuer: Option<&str>,
) -> Result<Preview, PolicyError> {
    let planned = store.read(|c| Ok(policies.planned_push(c, owner, sources)))??;
    preview(policies, store, owner, planned, issuer)
}

/// The impact of removing `owner`'s policy `name`; None when she has none of that name.
pub fn of_remove(
    policies: &Policies,
    store: &Store,
    owner: &str,
    name: &str,
    issuer: Option<&str>,
) -> Result<Option<Preview>, PolicyError> {
    let Some(planned) = store.read(|c| Ok(policies.planned_remove(c, owner, name)))?? else {
        return Ok(None);
    };
    preview(policies, store, owner, planned, issuer).map(Some)
}

/// The comparison of `planned`, with each example tried on her registered resources.
pub fn preview(
    policies: &Policies,
    store: &Store,
    owner: &str,
    planned: Planned,
    issuer: Option<&str>,
) -> Result<Preview, PolicyError> {
    let resources = resources_of(store, owner)?;
    let scopes: Vec<String> = store
        .read(|c| c.scopes_of_owner(owner))?
        .into_iter()
        .collect();
    let compared = match Slot::take() {
        Some(_slot) => analysis::compare(
            policies.schema(),
            &planned.before,
            &planned.after,
            &scopes,
            policies.impact_limits(),
        ),
        None => Err(ImpactError::Internal(
            "the server is analysing other changes; try again in a moment".to_owned(),
        )),
    };
    let (impact, not_analysed) = match compared {
        Ok(impact) => (impact, None),
        Err(e) => {
            let diagnostics = match &e {
                ImpactError::Invalid { diagnostics, .. } => diagnostics.clone(),
                _ => Vec::new(),
            };
            (
                Impact {
                    status: Status::Undecided,
                    scopes: Vec::new(),
                },
                Some(NotAnalysed {
                    reason: e.to_string(),
                    diagnostics,
                }),
            )
        }
    };
    let schema = policies.schema();
    let mut impact = impact;
    // As the analysis decides: on the example's own resource, whoever owns it.
    let (any_before, any_after) = (
        policy::compile(schema, None, &planned.before),
        policy::compile(schema, None, &planned.after),
    );
    let mut anyone = Vec::new();
    for scope in &mut impact.scopes {
        let mut flags = [false; 3];
        for (direction, flag) in Direction::ALL.into_iter().zip(flags.iter_mut()) {
            let finding = match direction {
                Direction::Allows => &mut scope.newly_allows,
                Direction::Denies => &mut scope.newly_denies,
                Direction::Asks => &mut scope.newly_asks,
            };
            if let Finding::Example { example } = finding {
                *flag = minimize(example, direction, &any_before, &any_after);
            }
        }
        anyone.push(flags);
    }
    let before = policy::compile(schema, Some(owner), &planned.before);
    let after = policy::compile(schema, Some(owner), &planned.after);
    let reach = impact
        .scopes
        .iter()
        .zip(anyone)
        .map(|(scope, anyone)| {
            let mut at = 0;
            Direction::ALL.map(|direction| {
                let anyone = anyone.get(at).copied().unwrap_or(false);
                at += 1;
                match direction.finding(scope).example() {
                    Some(example) => Reach {
                        anyone,
                        ..reach(example, direction, owner, &resources, &before, &after)
                    },
                    None => Reach::default(),
                }
            })
        })
        .collect();
    Ok(Preview {
        impact,
        not_analysed,
        reach,
        warnings: planned.warnings,
        issuer: issuer.map(str::to_owned),
    })
}

/// Drops from `example` every optional claim (and every extra group) the change does not need, keeping only
/// what the authorizer confirms still flips the decisions the same way, so "someone in group `guests`" is said
/// only when the group matters. True when then no claim but an identity is left and another identity flips
/// too: anyone.
fn minimize(
    example: &mut Example,
    direction: Direction,
    before: &Compiled,
    after: &Compiled,
) -> bool {
    let resource = example.resource_facts();
    let context = example.context_facts();
    let scope = example.scope.clone();
    let flips = |claims: &serde_json::Map<String, Value>| {
        let Ok(claims) = policy::Claims::from_json(claims.clone()) else {
            return false;
        };
        let was = policy::decide(before, Some(&claims), &resource, &scope, &context);
        let is = policy::decide(after, Some(&claims), &resource, &scope, &context);
        direction.flips(&was, &is)
    };
    let mut claims = example.claims.clone();
    if !flips(&claims) {
        return false;
    }
    let optional: Vec<String> = claims
        .keys()
        .filter(|k| !matches!(k.as_str(), "iss" | "sub"))
        .cloned()
        .collect();
    for name in optional {
        let mut fewer = claims.clone();
        fewer.remove(&name);
        if flips(&fewer) {
            claims = fewer;
            continue;
        }
        let Some(Value::Array(items)) = claims.get(&name).cloned() else {
            continue;
        };
        if items.len() > 1 {
            for item in items {
                let mut one = claims.clone();
                one.insert(name.clone(), Value::Array(vec![item]));
                if flips(&one) {
                    claims = one;
                    break;
                }
            }
        }
    }
    let identity_only = claims.keys().all(|k| matches!(k.as_str(), "iss" | "sub"));
    let mut other = claims.clone();
    other.insert("iss".into(), json!("https://another-issuer.example"));
    other.insert("sub".into(), json!("someone-else"));
    let anyone = identity_only && flips(&other);
    example.claims = claims;
    anyone
}

/// Her resources registered with the example's scope on which the example's requesting party, at the
/// example's time and through its client, is decided the new way by the ordinary authorizer.
fn reach(
    example: &Example,
    direction: Direction,
    owner: &str,
    resources: &[Resource],
    before: &Compiled,
    after: &Compiled,
) -> Reach {
    let Some(claims) = example.claims() else {
        return Reach::default();
    };
    let context = example.context_facts();
    let mut found = Vec::new();
    for resource in resources
        .iter()
        .filter(|r| r.owner == owner && r.description.has_scope(&example.scope))
    {
        let facts = resource_facts(resource);
        let context = policy::ContextFacts {
            resource_server: resource.client_id.clone(),
            ..context.clone()
        };
        let was = policy::decide(before, Some(&claims), &facts, &example.scope, &context);
        let is = policy::decide(after, Some(&claims), &facts, &example.scope, &context);
        if direction.flips(&was, &is) {
            found.push(Named {
                id: resource.id.clone(),
                label: resource
                    .description
                    .name
                    .clone()
                    .unwrap_or_else(|| resource.id.clone()),
            });
        }
    }
    let more = found.len().saturating_sub(MAX_RESOURCES_NAMED);
    found.truncate(MAX_RESOURCES_NAMED);
    Reach {
        resources: found,
        more,
        anyone: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_analyses_are_bounded_and_give_their_place_back() {
        // No other unit test of this crate runs an analysis, so every place is free here.
        let held: Vec<Slot> = std::iter::from_fn(Slot::take)
            .take(MAX_RUNNING + 1)
            .collect();
        assert_eq!(held.len(), MAX_RUNNING);
        assert!(Slot::take().is_none(), "one more is refused");
        drop(held);
        assert!(Slot::take().is_some(), "the places came back");
    }

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        let Value::Object(map) = value else {
            panic!("object")
        };
        map
    }

    #[test]
    fn a_party_is_named_by_what_the_example_keeps() {
        assert_eq!(
            party(
                &claims(json!({"iss": "i", "sub": "s", "groups": ["guests"]})),
                None
            ),
            "someone in group `guests`"
        );
        assert_eq!(
            party(
                &claims(json!({"iss": "i", "sub": "s", "email": "bob@example.com"})),
                None
            ),
            "`bob@example.com`"
        );
        assert_eq!(
            party(&claims(json!({"iss": "i", "sub": "s"})), None),
            "`s` from `i`"
        );
        assert_eq!(
            party(&claims(json!({"iss": "i", "sub": "s"})), Some("i")),
            "user `s`"
        );
    }

    fn example(claims: serde_json::Map<String, Value>) -> Example {
        Example {
            scope: "view".into(),
            claims,
            resource: analysis::ExampleResource {
                id: "r".into(),
                owner: "alice".into(),
                scopes: vec!["view".into()],
                name: None,
                kind: None,
            },
            context: analysis::ExampleContext {
                client_id: "app".into(),
                resource_server: "rs".into(),
                time: "2026-01-01T00:00:00Z".into(),
                unix_time: 1_767_225_600,
            },
        }
    }

    #[test]
    fn examples_keep_only_the_claims_the_change_needs() {
        let schema = crate::policy::PolicySchema::base().expect("schema");
        let before = policy::compile(&schema, None, &[]);
        let guests = Source::new(
            "g",
            "permit (principal, action, resource) when { principal has groups && principal.groups.contains(\"guests\") };",
        );
        let after = policy::compile(&schema, None, std::slice::from_ref(&guests));
        let mut found = example(claims(json!({
            "iss": "i", "sub": "s", "email": "x@example.com", "name": "",
            "groups": ["a", "guests"]
        })));
        let anyone = minimize(&mut found, Direction::Allows, &before, &after);
        assert!(!anyone);
        assert_eq!(
            Value::Object(found.claims.clone()),
            json!({"iss": "i", "sub": "s", "groups": ["guests"]})
        );

        let all = policy::compile(
            &schema,
            None,
            &[Source::new("all", "permit (principal, action, resource);")],
        );
        let mut everyone = example(claims(
            json!({"iss": "i", "sub": "s", "email": "x@example.com"}),
        ));
        assert!(minimize(&mut everyone, Direction::Allows, &before, &all));
        // An example the authorizer does not confirm is left as it is, and is nobody's "anyone".
        let mut wrong = example(claims(json!({"iss": "i", "sub": "s"})));
        assert!(!minimize(&mut wrong, Direction::Allows, &before, &after));
        assert_eq!(Value::Object(wrong.claims), json!({"iss": "i", "sub": "s"}));
    }
}
