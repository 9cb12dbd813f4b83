//! A readable summary of what one policy says, read off Cedar's JSON form of it: who (a principal entity, an
//! email, a group, a username, anyone), which scopes, which resources, until when. It is for people reading
//! their own policies (the owner console's "who can use this"), never for deciding.
//!
//! Best effort and honest: a condition this module does not recognise is reported as such
//! ([`Who::Matching`] or `other_conditions`), never guessed at.

use std::str::FromStr;

use cedar_policy::PolicySet;
use serde_json::Value;

use super::decide::ASK;

/// Whom a policy names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// No principal constraint and no condition on the principal.
    Anyone,
    /// One requesting party: the principal entity's id is `[iss, sub]`.
    Party {
        iss: String,
        sub: String,
    },
    Email(String),
    Group(String),
    Username(String),
    /// A principal condition too complex to summarise.
    Matching,
}

/// Which values a scope (action) or resource constraint allows: all, or these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Only {
    All,
    These(Vec<String>),
}

impl Only {
    pub fn allows(&self, value: &str) -> bool {
        match self {
            Self::All => true,
            Self::These(values) => values.iter().any(|v| v == value),
        }
    }
}

/// One Cedar policy, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub permit: bool,
    /// `@ask`: a request is held for the owner.
    pub ask: bool,
    pub who: Who,
    pub scopes: Only,
    pub resources: Only,
    /// `context.time < datetime("...")`: the text of the end.
    pub until: Option<String>,
    /// True when conditions beyond those summarised may narrow it further (on the resource, the client, ...).
    pub other_conditions: bool,
}

/// The summaries of the policies in `text`, in order; an error when it does not parse.
pub fn summarize(text: &str) -> Result<Vec<Summary>, String> {
    let set = PolicySet::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for policy in set.policies() {
        let json = policy.to_json().map_err(|e| e.to_string())?;
        out.push(summary(&json, policy.annotation(ASK).is_some()));
    }
    Ok(out)
}

fn summary(json: &Value, ask: bool) -> Summary {
    let permit = json.get("effect").and_then(Value::as_str) == Some("permit");
    let mut who = match scope_values(json.get("principal")) {
        Only::All => Who::Anyone,
        Only::These(ids) => match ids.as_slice() {
            [id] => party(id).unwrap_or(Who::Matching),
            _ => Who::Matching,
        },
    };
    let scopes = scope_values(json.get("action"));
    let resources = scope_values(json.get("resource"));
    let mut until = None;
    let mut other_conditions = false;
    let conditions = json
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for condition in &conditions {
        if condition.get("kind").and_then(Value::as_str) != Some("when") {
            // An `unless` excepts someone or something: who exactly is beyond a summary.
            who = narrow(who, Who::Matching);
            other_conditions = true;
            continue;
        }
        let mut conjuncts = Vec::new();
        if let Some(body) = condition.get("body") {
            flatten(body, &mut conjuncts);
        }
        for c in conjuncts {
            match read(c) {
                Fact::Guard => {}
                Fact::Who(w) => who = narrow(who, w),
                Fact::Until(t) => until = Some(t),
                Fact::Other { on_principal } => {
                    if on_principal {
                        who = narrow(who, Who::Matching);
                    }
                    other_conditions = true;
                }
            }
        }
    }
    Summary {
        permit,
        ask,
        who,
        scopes,
        resources,
        until,
        other_conditions,
    }
}

/// Two statements about the principal: the one that names someone, unless both do (then too complex).
fn narrow(current: Who, new: Who) -> Who {
    match (current, new) {
        (Who::Anyone, w) => w,
        (Who::Matching, _) | (_, Who::Matching) => Who::Matching,
        (a, b) if a == b => a,
        _ => Who::Matching,
    }
}

fn party(id: &str) -> Option<Who> {
    let parts: Vec<String> = serde_json::from_str(id).ok()?;
    match parts.as_slice() {
        [iss, sub] => Some(Who::Party {
            iss: iss.clone(),
            sub: sub.clone(),
        }),
        _ => None,
    }
}

/// The entity ids a scope constraint (`principal`, `action` or `resource`) allows, or all.
fn scope_values(scope: Option<&Value>) -> Only {
    let Some(scope) = scope else { return Only::All };
    let id = |e: &Value| e.get("id").and_then(Value::as_str).map(str::to_owned);
    match scope.get("op").and_then(Value::as_str) {
        Some("==") => Only::These(scope.get("entity").and_then(id).into_iter().collect()),
        Some("in") => match (scope.get("entity"), scope.get("entities")) {
            (Some(e), _) => Only::These(id(e).into_iter().collect()),
            (_, Some(Value::Array(list))) => Only::These(list.iter().filter_map(id).collect()),
            _ => Only::These(Vec::new()),
        },
        // `All`, and `is` (an entity type: every principal or resource is of its one type).
        _ => Only::All,
    }
}

fn flatten<'a>(expr: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(and) = expr.get("&&")
        && let (Some(l), Some(r)) = (and.get("left"), and.get("right"))
    {
        flatten(l, out);
        flatten(r, out);
        return;
    }
    out.push(expr);
}

enum Fact {
    /// `principal has x`, `principal.email_verified`: checks that make another conjunct meaningful.
    Guard,
    Who(Who),
    Until(String),
    Other {
        on_principal: bool,
    },
}

/// `principal.<attr>`'s attribute name.
fn principal_attr(expr: &Value) -> Option<&str> {
    let dot = expr.get(".")?;
    (dot.get("left")?.get("Var")?.as_str()? == "principal").then_some(())?;
    dot.get("attr")?.as_str()
}

fn string_value(expr: &Value) -> Option<String> {
    expr.get("Value")?.as_str().map(str::to_owned)
}

fn mentions_principal(expr: &Value) -> bool {
    match expr {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == "Var" && v.as_str() == Some("principal")) || mentions_principal(v)),
        Value::Array(items) => items.iter().any(mentions_principal),
        _ => false,
    }
}

fn read(expr: &Value) -> Fact {
    let binary = |op: &str| {
        expr.get(op)
            .and_then(|b| Some((b.get("left")?, b.get("right")?)))
    };
    if let Some(has) = expr.get("has")
        && has
            .get("left")
            .and_then(|l| l.get("Var"))
            .and_then(Value::as_str)
            == Some("principal")
    {
        return Fact::Guard;
    }
    if principal_attr(expr) == Some("email_verified") {
        return Fact::Guard;
    }
    if let Some((left, right)) = binary("==") {
        let (attr, value) = match (
            principal_attr(left),
            string_value(right),
            principal_attr(right),
            string_value(left),
        ) {
            (Some(a), Some(v), _, _) | (_, _, Some(a), Some(v)) => (a, v),
            _ => {
                return Fact::Other {
                    on_principal: mentions_principal(expr),
                };
            }
        };
        return match attr {
            "email" => Fact::Who(Who::Email(value)),
            "preferred_username" => Fact::Who(Who::Username(value)),
            // An issuer check narrows a name or a group to one provider; the name still says who.
            "iss" => Fact::Guard,
            _ => Fact::Other { on_principal: true },
        };
    }
    if let Some((left, right)) = binary("contains")
        && principal_attr(left) == Some("groups")
        && let Some(group) = string_value(right)
    {
        return Fact::Who(Who::Group(group));
    }
    if let Some((left, right)) = binary("<")
        && left
            .get(".")
            .and_then(|d| d.get("left"))
            .and_then(|l| l.get("Var"))
            .and_then(Value::as_str)
            == Some("context")
        && left
            .get(".")
            .and_then(|d| d.get("attr"))
            .and_then(Value::as_str)
            == Some("time")
        && let Some(time) = right
            .get("datetime")
            .and_then(|args| args.get(0))
            .and_then(string_value)
    {
        return Fact::Until(time);
    }
    Fact::Other {
        on_principal: mentions_principal(expr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Summary {
        let mut all = summarize(text).expect("parses");
        assert_eq!(all.len(), 1, "{text}");
        all.remove(0)
    }

    #[test]
    fn the_shapes_the_share_form_and_the_approvals_write_are_read_back() {
        let email = one(
            r#"permit (principal, action in [Uma::Action::"view", Uma::Action::"edit"], resource == Uma::Resource::"r1")
            when { principal has email && principal.email == "bob@example.com" && principal has email_verified && principal.email_verified };"#,
        );
        assert_eq!(email.who, Who::Email("bob@example.com".into()));
        assert_eq!(
            email.scopes,
            Only::These(vec!["view".into(), "edit".into()])
        );
        assert_eq!(email.resources, Only::These(vec!["r1".into()]));
        assert!(email.permit && !email.ask && !email.other_conditions && email.until.is_none());

        let party = one(
            r#"@ask("x") permit (principal == Uma::User::"[\"https://as.example\",\"bob\"]", action == Uma::Action::"view", resource)
            when { context.time < datetime("2027-01-01T00:00:00Z") };"#,
        );
        assert_eq!(
            party.who,
            Who::Party {
                iss: "https://as.example".into(),
                sub: "bob".into()
            }
        );
        assert_eq!(party.until.as_deref(), Some("2027-01-01T00:00:00Z"));
        assert!(party.ask);
        assert_eq!(party.resources, Only::All);

        let group = one(
            r#"permit (principal, action == Uma::Action::"read", resource)
            when { principal.iss == "https://clinic.example" && principal has groups && principal.groups.contains("doctors") &&
                   resource has type && resource.type == "lab-report" };"#,
        );
        assert_eq!(group.who, Who::Group("doctors".into()));
        assert!(group.other_conditions, "the resource condition narrows it");

        let anyone = one("forbid (principal, action, resource);");
        assert_eq!(
            (anyone.permit, anyone.who, anyone.scopes),
            (false, Who::Anyone, Only::All)
        );
        let user = one(
            r#"permit (principal, action, resource) when { principal.preferred_username == "carol" };"#,
        );
        assert_eq!(user.who, Who::Username("carol".into()));
    }

    #[test]
    fn what_it_cannot_summarise_it_says_so() {
        for text in [
            r#"permit (principal, action, resource) when { principal.email like "*@example.com" };"#,
            r#"permit (principal, action, resource) when { principal.email == "a@x.org" || principal.email == "b@x.org" };"#,
            r#"permit (principal, action, resource) when { principal.email == "a@x.org" && principal.groups.contains("g") };"#,
            r#"permit (principal, action, resource) unless { principal.email == "a@x.org" };"#,
        ] {
            assert_eq!(one(text).who, Who::Matching, "{text}");
        }
        assert!(summarize("permit (").is_err());
    }
}
