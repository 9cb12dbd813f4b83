//! Parsing and strict validation of named policy sources against the schema, with located diagnostics and a
//! hint for each (an unknown attribute lists the attributes there are, an unknown scope the scopes there are).
//!
//! Scopes are open-ended: before validating, the actions the sources name (and the known scopes, when there
//! are some) are declared for `Uma::User` x `Uma::Resource`. This module must never report a source valid
//! when Cedar's strict validator, or the parser, found an error in it.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{
    Policy, PolicyId, PolicySet, ValidationError, ValidationMode, ValidationWarning, Validator,
};

use super::diagnostic::{Diagnostic, Kind, Severity};
use super::limits;
use super::schema::{ACTION_TYPE, PolicySchema, named_actions};

/// A named policy source: a file's text, or a stored policy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Names the source in diagnostics and decisions (a stored policy's name, or a file path).
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// What to do about scopes a policy names that are not among the known ones.
#[derive(Debug, Clone, Copy)]
pub enum ScopeCheck<'a> {
    /// No scopes are known: every scope is accepted.
    Unchecked,
    /// Offline with `--scopes`: an unknown scope is an error.
    Error(&'a BTreeSet<String>),
    /// On the server (the scopes of the owner's registered resources): an unknown scope is a warning, since
    /// the resource naming it may be registered later.
    Warn(&'a BTreeSet<String>),
}

/// The outcome of validating a set of sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Errors and warnings, in source order then position.
    pub diagnostics: Vec<Diagnostic>,
    /// How many policies each source holds, in the order the sources were given.
    pub policy_counts: Vec<usize>,
}

impl Validation {
    /// True when no diagnostic is an error (warnings are allowed).
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// A policy parsed from a source, with the id it carries in combined sets.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// Index of the source among those given.
    pub source: usize,
    /// 1-based position of the policy in its source.
    pub position: usize,
    pub policy: Policy,
}

/// The id a policy carries in a combined set: unique across sources whatever their names.
pub(crate) fn policy_id(source: usize, position: usize) -> PolicyId {
    PolicyId::new(format!("s{source}p{position}"))
}

/// Parses one source into its static policies, renamed for a combined set. Templates are refused: an owner's
/// set has nothing to link them with.
///
/// The text passes [`limits::prescan`] before Cedar's (recursive) parser sees it, and every parsed policy
/// passes the exact depth check, so no source can overflow a stack here or wherever its policies go later.
pub(crate) fn parse_source(index: usize, source: &Source) -> Result<Vec<Parsed>, Vec<Diagnostic>> {
    let starts = limits::prescan(&source.name, &source.text).map_err(|d| vec![d])?;
    let set = PolicySet::from_str(&source.text).map_err(|errs| {
        errs.iter()
            .map(|e| located(&source.name, &source.text, e, Kind::Syntax, None))
            .collect::<Vec<_>>()
    })?;
    let templates: Vec<Diagnostic> = set
        .templates()
        .map(|_| {
            let offset = ["?principal", "?resource"]
                .iter()
                .filter_map(|slot| source.text.find(slot))
                .min()
                .unwrap_or(0);
            Diagnostic::at(
                &source.name,
                &source.text,
                offset,
                "?principal".len(),
                Severity::Error,
                Kind::Template,
                "policy templates are not supported here",
            )
            .with_help(Some(
                "write a static policy: name the principal by its claims, for example \
                 `principal.email == \"bob@example.com\"`"
                    .into(),
            ))
        })
        .collect();
    if !templates.is_empty() {
        return Err(templates);
    }
    let asking_forbids: Vec<Diagnostic> = set
        .policies()
        .filter(|p| {
            p.effect() == cedar_policy::Effect::Forbid && p.annotation(super::ASK).is_some()
        })
        .map(|_| {
            let offset = source.text.find("@ask").unwrap_or(0);
            Diagnostic::at(
                &source.name,
                &source.text,
                offset,
                "@ask".len(),
                Severity::Error,
                Kind::Validation,
                "`@ask` marks a permit that needs the owner's decision; a forbid cannot ask",
            )
            .with_help(Some("remove `@ask`, or make the policy a permit".into()))
        })
        .collect();
    if !asking_forbids.is_empty() {
        return Err(asking_forbids);
    }
    let mut policies: Vec<(usize, Policy)> = set
        .policies()
        .enumerate()
        .map(|(i, p)| (source_position(p.id()).unwrap_or(i + 1), p.clone()))
        .collect();
    policies.sort_by_key(|(position, _)| *position);
    let too_deep: Vec<Diagnostic> = policies
        .iter()
        .filter_map(|(position, policy)| {
            let depth = limits::check_depth(policy).err()?;
            let offset = position
                .checked_sub(1)
                .and_then(|i| starts.get(i))
                .copied()
                .unwrap_or(0);
            let length = source
                .text
                .get(offset..)
                .map_or(0, |rest| rest.find(['\n', ';']).unwrap_or(rest.len()));
            Some(limits::depth_diagnostic(
                &source.name,
                &source.text,
                offset,
                length,
                depth,
            ))
        })
        .collect();
    if !too_deep.is_empty() {
        return Err(too_deep);
    }
    Ok(policies
        .into_iter()
        .map(|(position, policy)| Parsed {
            source: index,
            position,
            policy: policy.new_id(policy_id(index, position)),
        })
        .collect())
}

/// Cedar names the policies of a parsed text `policy0`, `policy1`, ... in source order.
fn source_position(id: &PolicyId) -> Option<usize> {
    let n: usize = id.to_string().strip_prefix("policy")?.parse().ok()?;
    n.checked_add(1)
}

/// A located diagnostic from one of Cedar's (miette) diagnostics.
pub(crate) fn located(
    source: &str,
    text: &str,
    err: &dyn miette::Diagnostic,
    kind: Kind,
    extra_help: Option<String>,
) -> Diagnostic {
    let label = err.labels().and_then(|mut labels| labels.next());
    let (offset, length, label_text) = match &label {
        Some(l) => (l.offset(), l.len(), l.label().map(str::to_owned)),
        None => (0, 0, None),
    };
    let severity = match err.severity() {
        Some(miette::Severity::Warning | miette::Severity::Advice) => Severity::Warning,
        _ => Severity::Error,
    };
    let help = [err.help().map(|h| h.to_string()).or(label_text), extra_help]
        .into_iter()
        .flatten();
    let help = help.into_iter().reduce(|mut joined, next| {
        // Cedar's hints often end in `?` (did you mean ...?); a `;` after that reads badly.
        joined.push_str(if joined.ends_with(['?', '.', '!']) {
            " "
        } else {
            "; "
        });
        joined.push_str(&next);
        joined
    });
    Diagnostic::at(
        source,
        text,
        offset,
        length,
        severity,
        kind,
        strip_policy_prefix(&err.to_string()),
    )
    .with_help(help)
}

/// Cedar's validation messages start with `for policy \`s0p1\`, `: an internal id the location already says
/// better.
fn strip_policy_prefix(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("for policy `")
        && let Some((_, tail)) = rest.split_once("`, ")
    {
        return tail.to_owned();
    }
    message.to_owned()
}

/// Validates `sources` against `schema` (strict mode), checking named scopes as `scopes` says.
pub fn validate(schema: &PolicySchema, sources: &[Source], scopes: ScopeCheck<'_>) -> Validation {
    let mut diagnostics = Vec::new();
    let mut policy_counts = Vec::with_capacity(sources.len());
    let mut parsed: Vec<Parsed> = Vec::new();
    if let Err(d) =
        limits::check_set_size(sources.iter().map(|s| (s.name.as_str(), s.text.as_str())))
    {
        return Validation {
            diagnostics: vec![d],
            policy_counts: vec![0; sources.len()],
        };
    }
    for (index, source) in sources.iter().enumerate() {
        match parse_source(index, source) {
            Ok(policies) => {
                if policies.is_empty() {
                    diagnostics.push(
                        Diagnostic::at(
                            &source.name,
                            &source.text,
                            0,
                            0,
                            Severity::Warning,
                            Kind::Empty,
                            "this source holds no policy",
                        )
                        .with_help(Some(
                            "a policy looks like `permit (principal, action == Uma::Action::\"view\", \
                             resource) when { ... };`"
                                .into(),
                        )),
                    );
                }
                policy_counts.push(policies.len());
                parsed.extend(policies);
            }
            Err(errors) => {
                policy_counts.push(0);
                diagnostics.extend(errors);
            }
        }
    }

    let named = named_actions(parsed.iter().map(|p| &p.policy));
    let known = match scopes {
        ScopeCheck::Unchecked => None,
        ScopeCheck::Error(known) => Some((known, Severity::Error)),
        ScopeCheck::Warn(known) => Some((known, Severity::Warning)),
    };
    let mut declared: BTreeSet<&str> = named.iter().map(String::as_str).collect();
    if let Some((known, _)) = known {
        declared.extend(known.iter().map(String::as_str));
    }

    let owners: HashMap<PolicyId, &Parsed> =
        parsed.iter().map(|p| (p.policy.id().clone(), p)).collect();
    match schema.with_actions(declared) {
        Ok(cedar_schema) => {
            let mut set = PolicySet::new();
            for p in &parsed {
                // Ids are unique by construction, so adding cannot clash.
                let _ = set.add(p.policy.clone());
            }
            let result = Validator::new(cedar_schema).validate(&set, ValidationMode::Strict);
            for err in result.validation_errors() {
                if let Some(p) = owners.get(err.policy_id())
                    && let Some(source) = sources.get(p.source)
                {
                    let hint = hint_for(err, schema);
                    diagnostics.push(located(
                        &source.name,
                        &source.text,
                        err,
                        Kind::Validation,
                        hint,
                    ));
                }
            }
            for warning in result.validation_warnings() {
                if let Some(p) = owners.get(warning.policy_id())
                    && let Some(source) = sources.get(p.source)
                {
                    let hint = matches!(warning, ValidationWarning::ImpossiblePolicy(_)).then(|| {
                        "the policy can never apply: is an attribute after `has` misspelled, or not \
                         declared by the schema?"
                            .to_owned()
                    });
                    let mut d =
                        located(&source.name, &source.text, warning, Kind::Validation, hint);
                    d.severity = Severity::Warning;
                    diagnostics.push(d);
                }
            }
        }
        Err(reason) => {
            // Only a scope Cedar cannot take as an action id gets here; say so on the first source.
            if let Some(source) = sources.first() {
                diagnostics.push(Diagnostic::at(
                    &source.name,
                    &source.text,
                    0,
                    0,
                    Severity::Error,
                    Kind::Validation,
                    format!("cannot declare the scopes these policies name: {reason}"),
                ));
            }
        }
    }

    if let Some((known, severity)) = known {
        for p in &parsed {
            let Some(source) = sources.get(p.source) else {
                continue;
            };
            for scope in named_actions([&p.policy]) {
                if !known.contains(&scope) {
                    diagnostics.push(unknown_scope(source, &scope, known, severity));
                }
            }
        }
    }

    diagnostics.sort_by(|a, b| {
        let order = |d: &Diagnostic| sources.iter().position(|s| s.name == d.source);
        (order(a), a.offset, a.severity).cmp(&(order(b), b.offset, b.severity))
    });
    diagnostics.dedup();
    Validation {
        diagnostics: bounded(diagnostics),
        policy_counts,
    }
}

/// Diagnostics one validation reports at most: a set within the size limits can still hold thousands of
/// mistakes, and an answer (an HTTP body, a terminal) should stay readable and small.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Keeps the first [`MAX_DIAGNOSTICS`] and says how many more there were, at the first one left out. The
/// summary is an error when any left-out diagnostic is, so a truncated list never reads as valid.
fn bounded(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if diagnostics.len() <= MAX_DIAGNOSTICS {
        return diagnostics;
    }
    let rest = diagnostics.split_off(MAX_DIAGNOSTICS - 1);
    let errors = rest.iter().filter(|d| d.is_error()).count();
    if let Some(first) = rest.into_iter().next() {
        let more = diagnostics_left_out(MAX_DIAGNOSTICS - 1, errors, &first);
        diagnostics.push(more);
    }
    diagnostics
}

fn diagnostics_left_out(shown: usize, errors: usize, first: &Diagnostic) -> Diagnostic {
    Diagnostic {
        severity: if errors > 0 {
            Severity::Error
        } else {
            Severity::Warning
        },
        kind: Kind::Limit,
        message: format!(
            "more diagnostics from here on are not shown ({errors} of them errors); only the first {shown} are"
        ),
        help: Some("fix the diagnostics above and validate again to see the rest".into()),
        ..first.clone()
    }
}

/// Our own hint for the validation errors owners meet most, added to Cedar's (`did you mean ...?`).
fn hint_for(err: &ValidationError, schema: &PolicySchema) -> Option<String> {
    let message = err.to_string();
    match err {
        ValidationError::UnsafeAttributeAccess(_) if message.contains("`Uma::User`") => {
            let claims: Vec<&str> = schema.claims().iter().map(|c| c.name.as_str()).collect();
            Some(format!(
                "principal attributes are the claims the schema declares ({}); to use another claim, \
                 extend the schema and pass it with --schema",
                claims.join(", ")
            ))
        }
        ValidationError::UnsafeAttributeAccess(_) if message.contains("`Uma::Resource`") => Some(
            "resource attributes are `owner`, `scopes`, and the optional `name` and `type`".into(),
        ),
        ValidationError::UnsafeAttributeAccess(_) if message.contains("context") => Some(
            "the context holds `client_id`, `resource_server` and `time`".into(),
        ),
        ValidationError::UnrecognizedEntityType(_) => Some(
            "the entity types are `Uma::User` (the requesting party), `Uma::Resource` and `Uma::Action`"
                .into(),
        ),
        ValidationError::UnrecognizedActionId(_) => Some(format!(
            "write a scope as an action of the `Uma` namespace: `{ACTION_TYPE}::\"<scope>\"`"
        )),
        _ => None,
    }
}

/// A diagnostic for a scope outside the known ones, pointing at where the source names it.
fn unknown_scope(
    source: &Source,
    scope: &str,
    known: &BTreeSet<String>,
    severity: Severity,
) -> Diagnostic {
    let (offset, length) = find_action_literal(&source.text, scope).unwrap_or((0, 0));
    let closest = known
        .iter()
        .map(|k| (strsim::levenshtein(k, scope), k))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    let listed = if known.is_empty() {
        "no scopes are known: check its spelling, or register a resource with this scope".to_owned()
    } else {
        format!(
            "the known scopes are: {}",
            known
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let help = match closest {
        Some((_, k)) => format!("did you mean `{k}`? {listed}"),
        None => listed,
    };
    Diagnostic::at(
        &source.name,
        &source.text,
        offset,
        length,
        severity,
        Kind::UnknownScope,
        format!("scope `{scope}` is not among the known scopes"),
    )
    .with_help(Some(help))
}

/// Byte offset and length of the first `Action::"<scope>"` in `text` outside a `//` comment.
fn find_action_literal(text: &str, scope: &str) -> Option<(usize, usize)> {
    let quoted = format!("\"{scope}\"");
    let mut from = 0;
    while let Some(found) = text.get(from..).and_then(|t| t.find(&quoted)) {
        let at = from + found;
        from = at + quoted.len();
        let before = text.get(..at).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        if before.get(line_start..).is_some_and(|l| l.contains("//")) {
            continue;
        }
        let trimmed = before.trim_end();
        let Some(rest) = trimmed.strip_suffix("::") else {
            continue;
        };
        if rest.trim_end().ends_with("Action") {
            let mut start = rest.trim_end().len() - "Action".len();
            // Take in the namespace too, when it is there: `Uma::Action::"view"`.
            if let Some(ns) = text
                .get(..start)
                .and_then(|t| t.trim_end().strip_suffix("::"))
                .map(str::trim_end)
                && ns.ends_with("Uma")
            {
                start = ns.len() - "Uma".len();
            }
            return Some((start, at + quoted.len() - start));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PolicySchema {
        PolicySchema::base().expect("base schema")
    }

    fn one(name: &str, text: &str) -> Vec<Source> {
        vec![Source::new(name, text)]
    }

    const GOOD: &str = r#"// Bob may view Alice's checking account
permit (principal, action == Uma::Action::"view", resource)
when { principal has email && principal.email == "bob@example.com" && resource has name && resource.name == "Checking" };
"#;

    #[test]
    fn a_good_policy_validates() {
        let v = validate(&base(), &one("bob", GOOD), ScopeCheck::Unchecked);
        assert!(v.is_valid(), "{:?}", v.diagnostics);
        assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
        assert_eq!(v.policy_counts, vec![1]);
    }

    #[test]
    fn a_syntax_error_is_located() {
        let text = "permit (principal, action, resource)\nwhen { principal.email == };\n";
        let v = validate(&base(), &one("broken.cedar", text), ScopeCheck::Unchecked);
        assert!(!v.is_valid());
        let d = v.errors().next().expect("an error");
        assert_eq!(
            (d.source.as_str(), d.line, d.kind),
            ("broken.cedar", 2, Kind::Syntax)
        );
        assert_eq!(
            d.column,
            text.lines().nth(1).expect("line").find('}').expect("brace") + 1
        );
        assert!(d.message.contains("unexpected token"), "{d:?}");
        assert!(
            d.help.as_deref().is_some_and(|h| h.contains("expected")),
            "{d:?}"
        );
    }

    #[test]
    fn an_unknown_attribute_is_located_with_the_claims_listed() {
        let text = "permit (principal, action == Uma::Action::\"view\", resource)\n  when { principal.emial == \"x\" };\n";
        let v = validate(&base(), &one("typo", text), ScopeCheck::Unchecked);
        let d = v.errors().next().expect("an error");
        assert_eq!((d.line, d.kind), (2, Kind::Validation), "{d:?}");
        assert!(d.message.contains("emial"), "{d:?}");
        assert!(
            !d.message.contains("s0p1"),
            "internal ids are not shown: {d:?}"
        );
        let help = d.help.as_deref().unwrap_or("");
        assert!(help.contains("did you mean `email`?"), "{help}");
        assert!(help.contains("preferred_username"), "{help}");
    }

    #[test]
    fn a_misspelled_attribute_after_has_is_a_warning_with_a_hint() {
        let text = "permit (principal, action, resource) when { principal has emial && principal.emial == \"x\" };";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        let w = v.warnings().next().expect("a warning");
        assert!(
            w.help.as_deref().is_some_and(|h| h.contains("misspelled")),
            "{w:?}"
        );
    }

    #[test]
    fn an_unknown_entity_type_gets_a_hint() {
        let text = "permit (principal is Uma::Usr, action, resource);";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        let d = v.errors().next().expect("an error");
        assert_eq!(d.column, text.find("Uma::Usr").expect("at") + 1);
        assert!(
            d.help.as_deref().is_some_and(|h| h.contains("Uma::User")),
            "{d:?}"
        );
    }

    #[test]
    fn unguarded_optional_claims_are_refused() {
        let text = "permit (principal, action, resource) when { principal.email == \"x\" };";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        assert!(!v.is_valid(), "optional attributes need `has`");
    }

    #[test]
    fn an_unconstrained_action_is_still_type_checked() {
        let text = "permit (principal, action, resource) when { principal.nope == 1 };";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        assert!(!v.is_valid(), "{:?}", v.diagnostics);
    }

    #[test]
    fn a_scope_outside_the_known_ones_is_an_error_offline_and_a_warning_on_the_server() {
        let known: BTreeSet<String> = ["view".to_owned(), "edit".to_owned()].into();
        let text = "permit (principal, action in [Uma::Action::\"view\", Uma::Action::\"veiw\"], resource);";
        let offline = validate(&base(), &one("t", text), ScopeCheck::Error(&known));
        assert!(!offline.is_valid());
        let d = offline.errors().next().expect("an error");
        assert_eq!(d.kind, Kind::UnknownScope);
        assert!(d.message.contains("`veiw`"), "{d:?}");
        assert_eq!(
            d.column,
            text.find("Uma::Action::\"veiw\"").expect("at") + 1
        );
        assert_eq!(d.length, "Uma::Action::\"veiw\"".len());
        assert!(
            d.help
                .as_deref()
                .is_some_and(|h| h.contains("did you mean `view`?")),
            "{d:?}"
        );

        let server = validate(&base(), &one("t", text), ScopeCheck::Warn(&known));
        assert!(server.is_valid());
        assert_eq!(server.warnings().count(), 1);
        assert!(
            validate(&base(), &one("t", text), ScopeCheck::Unchecked)
                .diagnostics
                .is_empty()
        );
    }

    #[test]
    fn any_scope_string_can_be_an_action() {
        let text = "permit (principal, action == Uma::Action::\"https://bank.example/scopes/read\", resource);";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        assert!(v.is_valid(), "{:?}", v.diagnostics);
    }

    #[test]
    fn templates_and_empty_sources_are_reported() {
        let v = validate(
            &base(),
            &one("t", "permit (principal == ?principal, action, resource);"),
            ScopeCheck::Unchecked,
        );
        assert_eq!(v.errors().next().map(|d| d.kind), Some(Kind::Template));
        let v = validate(
            &base(),
            &one("e", "// nothing yet\n"),
            ScopeCheck::Unchecked,
        );
        assert!(v.is_valid());
        assert_eq!(v.warnings().next().map(|d| d.kind), Some(Kind::Empty));
    }

    #[test]
    fn diagnostics_name_their_own_source() {
        let sources = vec![
            Source::new("a.cedar", GOOD),
            Source::new(
                "b.cedar",
                "forbid (principal, action, resource) when { resource.colour == \"red\" };",
            ),
        ];
        let v = validate(&base(), &sources, ScopeCheck::Unchecked);
        let errors: Vec<&str> = v.errors().map(|d| d.source.as_str()).collect();
        assert_eq!(errors, vec!["b.cedar"]);
        assert_eq!(v.policy_counts, vec![1, 1]);
    }

    #[test]
    fn a_long_list_of_diagnostics_is_cut_and_says_how_many_errors_were_left_out() {
        let bad = "forbid (principal, action, resource) when { resource.colour == \"red\" };";
        let sources: Vec<Source> = (0..150)
            .map(|i| Source::new(format!("p{i:03}"), bad))
            .collect();
        let v = validate(&base(), &sources, ScopeCheck::Unchecked);
        assert_eq!(v.diagnostics.len(), MAX_DIAGNOSTICS);
        let last = v.diagnostics.last().unwrap();
        assert_eq!(last.kind, Kind::Limit);
        assert!(last.is_error(), "{last:?}");
        assert!(
            last.message.contains("51 of them errors"),
            "{}",
            last.message
        );
        assert_eq!(last.source, "p099");
        assert!(!v.is_valid());
    }

    #[test]
    fn left_out_warnings_alone_do_not_make_a_set_invalid() {
        let sources: Vec<Source> = (0..120)
            .map(|i| Source::new(format!("e{i:03}"), "// nothing here yet"))
            .collect();
        let v = validate(&base(), &sources, ScopeCheck::Unchecked);
        assert_eq!(v.diagnostics.len(), MAX_DIAGNOSTICS);
        assert!(!v.diagnostics.last().unwrap().is_error());
        assert!(v.is_valid(), "{:?}", v.diagnostics.last());
    }

    #[test]
    fn context_and_datetime_type_check() {
        let text = "permit (principal, action == Uma::Action::\"read\", resource) when { context.time < datetime(\"2026-07-01T00:00:00Z\") && context.client_id == \"tax-app\" && context.resource_server == \"bank\" };";
        let v = validate(&base(), &one("t", text), ScopeCheck::Unchecked);
        assert!(v.is_valid(), "{:?}", v.diagnostics);
    }
}
