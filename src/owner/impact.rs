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

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::policies::{Planned, Policies, PolicyError, resource_facts};
use crate::clock::UnixTime;
use crate::policy::{self, Claims, ContextFacts, Diagnostic, Source};
use crate::protocol::uma::Resource;
use crate::store::{ResourceRead, Store, StoreError, clients};
use analysis::{Compared, Direction, Finding};

/// The one value of the policy API's `dry_run` parameter: answer the impact, store nothing.
pub const DRY_RUN: &str = "impact";

/// The most of her resources a finding lists by name (the rest are counted).
const MAX_RESOURCES_NAMED: usize = 20;

/// The overall answer, as `uma-cedar diff` gives it (and its exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Proved: the change allows and denies exactly what the stored set does.
    NoChange,
    /// At least one scope is newly allowed or newly denied to someone (with a confirmed example).
    Change,
    /// Nothing found to change, but some question went unanswered.
    Undecided,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoChange => "no_change",
            Self::Change => "change",
            Self::Undecided => "undecided",
        }
    }
}

/// One of her resources an example request is newly allowed (or denied) on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flipped {
    pub id: String,
    /// Its name, or its id when it has none.
    pub label: String,
}

/// One direction of one scope, with her resources the example flips.
#[derive(Debug, Clone)]
pub struct Found {
    pub scope: String,
    pub direction: Direction,
    pub finding: Finding,
    /// Her registered resources (with this scope) on which the example request is decided the same new way.
    pub resources: Vec<Flipped>,
    /// How many more such resources there are beyond those listed.
    pub more_resources: usize,
}

/// The impact of one change to an owner's set.
#[derive(Debug, Clone)]
pub struct Preview {
    /// Per scope and direction, in scope order, newly allowing first.
    pub found: Vec<Found>,
    /// The scopes compared.
    pub scopes: Vec<String>,
    /// The warnings the change would be stored with.
    pub warnings: Vec<Diagnostic>,
}

impl Preview {
    pub fn verdict(&self) -> Verdict {
        if self
            .found
            .iter()
            .any(|f| matches!(f.finding, Finding::Example(_)))
        {
            Verdict::Change
        } else if self
            .found
            .iter()
            .any(|f| matches!(f.finding, Finding::Undecided(_)))
        {
            Verdict::Undecided
        } else {
            Verdict::NoChange
        }
    }

    /// The findings that are changes (confirmed examples).
    pub fn changes(&self) -> impl Iterator<Item = &Found> {
        self.found
            .iter()
            .filter(|f| matches!(f.finding, Finding::Example(_)))
    }

    /// The findings left undecided.
    pub fn undecided(&self) -> impl Iterator<Item = &Found> {
        self.found
            .iter()
            .filter(|f| matches!(f.finding, Finding::Undecided(_)))
    }

    /// The JSON answer of a dry run: `{"dry_run", "stored": false, "impact", "scopes": [{"scope",
    /// "newly_allows", "newly_denies"}], "warnings"}`, each direction `null` (proved: nothing), `{"undecided":
    /// reason}` or `{"example": {...}, "resources": [...]}`.
    pub fn to_json(&self) -> Value {
        let direction = |scope: &str, direction: Direction| -> Value {
            let Some(found) = self
                .found
                .iter()
                .find(|f| f.scope == scope && f.direction == direction)
            else {
                return Value::Null;
            };
            match &found.finding {
                Finding::NoChange => Value::Null,
                Finding::Undecided(reason) => json!({ "undecided": reason }),
                Finding::Example(example) => json!({
                    "example": example.to_json(),
                    "resources": found.resources.iter().map(|r| json!({"_id": r.id, "name": r.label})).collect::<Vec<_>>(),
                    "more_resources": found.more_resources,
                    "summary": sentence(found),
                }),
            }
        };
        json!({
            "dry_run": DRY_RUN,
            "stored": false,
            "impact": self.verdict().as_str(),
            "scopes": self.scopes.iter().map(|scope| json!({
                "scope": scope,
                "newly_allows": direction(scope, Direction::NewlyAllows),
                "newly_denies": direction(scope, Direction::NewlyDenies),
            })).collect::<Vec<_>>(),
            "warnings": self.warnings.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })
    }

    /// One sentence per change and per undecided question, for people: "This newly lets someone in group
    /// `guests` view Diary (for example ...)".
    pub fn sentences(&self) -> Vec<String> {
        self.found
            .iter()
            .filter(|f| !matches!(f.finding, Finding::NoChange))
            .map(sentence)
            .collect()
    }
}

/// Who an example's requesting party is, in a few words: by email, group or username, else their `sub`.
pub fn party(claims: Option<&Claims>) -> String {
    let Some(claims) = claims else {
        return "someone who presents no claims".to_owned();
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
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
    format!("`{}` from `{}`", claims.sub(), claims.iss())
}

/// The sentence for one finding.
pub fn sentence(found: &Found) -> String {
    let scope = &found.scope;
    match &found.finding {
        Finding::NoChange => format!("No change to who may `{scope}`."),
        Finding::Undecided(reason) => {
            let what = match found.direction {
                Direction::NewlyAllows => "newly allows",
                Direction::NewlyDenies => "newly denies",
            };
            format!("Undecided whether this {what} `{scope}` to anyone: {reason}.")
        }
        Finding::Example(example) => {
            let who = party(example.claims.as_ref());
            let on = if found.resources.is_empty() {
                "a resource of yours (none registered now)".to_owned()
            } else {
                let mut names: Vec<&str> =
                    found.resources.iter().map(|r| r.label.as_str()).collect();
                let more = if found.more_resources > 0 {
                    format!(" and {} more", found.more_resources)
                } else {
                    String::new()
                };
                names.dedup();
                format!("{}{more}", names.join(", "))
            };
            match found.direction {
                Direction::NewlyAllows => format!("This also lets {who} `{scope}` {on}."),
                Direction::NewlyDenies => format!("This stops {who} from `{scope}` on {on}."),
            }
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
pub fn of_push(
    policies: &Policies,
    store: &Store,
    owner: &str,
    sources: &[Source],
    now: UnixTime,
) -> Result<Preview, PolicyError> {
    let planned = store.read(|c| Ok(policies.planned_push(c, owner, sources)))??;
    preview(policies, store, owner, planned, now)
}

/// The impact of removing `owner`'s policy `name`; None when she has none of that name.
pub fn of_remove(
    policies: &Policies,
    store: &Store,
    owner: &str,
    name: &str,
    now: UnixTime,
) -> Result<Option<Preview>, PolicyError> {
    let Some(planned) = store.read(|c| Ok(policies.planned_remove(c, owner, name)))?? else {
        return Ok(None);
    };
    preview(policies, store, owner, planned, now).map(Some)
}

fn preview(
    policies: &Policies,
    store: &Store,
    owner: &str,
    planned: Planned,
    now: UnixTime,
) -> Result<Preview, PolicyError> {
    let resources = resources_of(store, owner)?;
    let registered: BTreeSet<String> = store.read(|c| c.scopes_of_owner(owner))?;
    let compared = analysis::compare(
        policies.schema(),
        &planned.before,
        &planned.after,
        &registered,
    );
    Ok(with_resources(
        policies, owner, &planned, compared, &resources, now,
    ))
}

/// The comparison, with each example tried on her registered resources by the ordinary authorizer.
fn with_resources(
    policies: &Policies,
    owner: &str,
    planned: &Planned,
    compared: Compared,
    resources: &[Resource],
    now: UnixTime,
) -> Preview {
    let schema = policies.schema();
    let before = policy::compile(schema, Some(owner), &planned.before);
    let after = policy::compile(schema, Some(owner), &planned.after);
    let found = compared
        .findings
        .into_iter()
        .map(|(scope, direction, finding)| {
            let mut flipped = Vec::new();
            if let Finding::Example(example) = &finding {
                let context = ContextFacts {
                    time: if example.context.time == 0 {
                        now
                    } else {
                        example.context.time
                    },
                    ..example.context.clone()
                };
                for resource in resources
                    .iter()
                    .filter(|r| r.owner == owner && r.description.has_scope(&scope))
                {
                    let facts = resource_facts(resource);
                    let context = ContextFacts {
                        resource_server: resource.client_id.clone(),
                        ..context.clone()
                    };
                    let was =
                        policy::decide(&before, example.claims.as_ref(), &facts, &scope, &context)
                            .is_permit();
                    let is =
                        policy::decide(&after, example.claims.as_ref(), &facts, &scope, &context)
                            .is_permit();
                    let flips = match direction {
                        Direction::NewlyAllows => !was && is,
                        Direction::NewlyDenies => was && !is,
                    };
                    if flips {
                        flipped.push(Flipped {
                            id: resource.id.clone(),
                            label: resource
                                .description
                                .name
                                .clone()
                                .unwrap_or_else(|| resource.id.clone()),
                        });
                    }
                }
            }
            let more_resources = flipped.len().saturating_sub(MAX_RESOURCES_NAMED);
            flipped.truncate(MAX_RESOURCES_NAMED);
            Found {
                scope,
                direction,
                finding,
                resources: flipped,
                more_resources,
            }
        })
        .collect();
    Preview {
        found,
        scopes: compared.scopes,
        warnings: planned.warnings.clone(),
    }
}

/// Stand-in for the analysis core until it lands: every question undecided.
mod analysis {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use crate::policy::{Claims, ContextFacts, PolicySchema, ResourceFacts, Source};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Direction {
        NewlyAllows,
        NewlyDenies,
    }

    #[derive(Debug, Clone)]
    pub struct Example {
        pub claims: Option<Claims>,
        pub resource: ResourceFacts,
        pub context: ContextFacts,
    }

    impl Example {
        pub fn to_json(&self) -> Value {
            json!({
                "principal": self.claims.as_ref().map(|c| Value::Object(c.as_map().clone())),
                "resource": {"_id": self.resource.id, "name": self.resource.name},
            })
        }
    }

    #[derive(Debug, Clone)]
    pub enum Finding {
        NoChange,
        Example(Box<Example>),
        Undecided(String),
    }

    #[derive(Debug, Clone)]
    pub struct Compared {
        pub scopes: Vec<String>,
        pub findings: Vec<(String, Direction, Finding)>,
    }

    pub fn compare(
        _schema: &PolicySchema,
        _before: &[Source],
        _after: &[Source],
        scopes: &BTreeSet<String>,
    ) -> Compared {
        let findings = scopes
            .iter()
            .flat_map(|s| {
                [Direction::NewlyAllows, Direction::NewlyDenies].map(|d| {
                    (
                        s.clone(),
                        d,
                        Finding::Undecided("the analysis is not available".to_owned()),
                    )
                })
            })
            .collect();
        Compared {
            scopes: scopes.iter().cloned().collect(),
            findings,
        }
    }
}
