//! The Cedar schema policies are checked against: the published base vocabulary compiled into the binary, or
//! an admin's file that extends it with further claims.
//!
//! Besides parsing, this module holds the vocabulary's contract: the server fills `Uma::Resource` and the
//! context by itself and `Uma::User` from verified claims, so a schema may add optional claim attributes to
//! `Uma::User` and nothing the server could not fill. It must never accept a schema the decision code cannot
//! honour, because a policy validated against it would then fail (closed) on every request.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use cedar_policy::{Schema, SchemaFragment};
use serde_json::{Map, Value, json};

use super::diagnostic::{Diagnostic, Kind, Severity};

/// The base schema, `schemas/uma.cedarschema`.
pub const BASE_SCHEMA: &str = include_str!("../../schemas/uma.cedarschema");
/// How diagnostics name the base schema.
pub const BASE_SCHEMA_NAME: &str = "uma.cedarschema (built in)";

pub const NAMESPACE: &str = "Uma";
pub const USER_TYPE: &str = "Uma::User";
pub const RESOURCE_TYPE: &str = "Uma::Resource";
pub const ACTION_TYPE: &str = "Uma::Action";

/// An action declared in every validation besides the scopes a policy set names, so that a policy whose
/// action is unconstrained still has a request environment to be type-checked in. A scope-token cannot hold a
/// space, so this can never be a real scope.
pub(crate) const ANY_SCOPE_ACTION: &str = "any scope";

/// The Cedar type of a claim attribute, as far as claims can fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimType {
    String,
    Long,
    Bool,
    SetOfString,
    SetOfLong,
    SetOfBool,
}

/// An attribute of `Uma::User`: a claim name and the type its value must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAttr {
    pub name: String,
    pub ty: ClaimType,
    /// Only `sub` and `iss` are required; every other claim is optional.
    pub required: bool,
}

/// A schema that failed to load: located diagnostics over its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the schema `{origin}` is not valid ({} problem(s))", diagnostics.len())]
pub struct SchemaError {
    pub origin: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl SchemaError {
    fn single(origin: &str, text: &str, message: String, help: Option<String>) -> Self {
        Self {
            origin: origin.to_owned(),
            text: text.to_owned(),
            diagnostics: vec![
                Diagnostic::at(origin, text, 0, 0, Severity::Error, Kind::Schema, message)
                    .with_help(help),
            ],
        }
    }

    /// The diagnostics drawn over the schema text.
    pub fn render(&self, color: bool) -> String {
        super::diagnostic::render(&self.diagnostics, |_| Some(self.text.as_str()), color)
    }
}

/// A loaded, contract-checked schema.
#[derive(Debug, Clone)]
pub struct PolicySchema {
    origin: String,
    fragment: SchemaFragment,
    claims: Arc<[ClaimAttr]>,
    /// The schema in Cedar's JSON form: the same text for the same schema, however it was written.
    canonical: String,
}

impl PolicySchema {
    /// The base schema built into the binary.
    pub fn base() -> Result<Self, SchemaError> {
        Self::parse(BASE_SCHEMA_NAME, BASE_SCHEMA, false)
    }

    /// Loads a schema file: Cedar schema syntax, or Cedar's JSON schema format when the name ends in `.json`.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let origin = path.display().to_string();
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        if size > super::limits::MAX_SCHEMA_BYTES as u64 {
            return Err(SchemaError::single(
                &origin,
                "",
                format!(
                    "the schema file is {size} bytes long, more than the {} allowed",
                    super::limits::MAX_SCHEMA_BYTES
                ),
                Some("declare fewer types or attributes".into()),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            SchemaError::single(
                &origin,
                "",
                format!("cannot read the schema file: {e}"),
                Some("pass the path of a `.cedarschema` file with --schema".into()),
            )
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        Self::parse(&origin, &text, json)
    }

    /// The base schema, or the file at `path` when one is given.
    pub fn base_or_file(path: Option<&Path>) -> Result<Self, SchemaError> {
        match path {
            Some(path) => Self::load(path),
            None => Self::base(),
        }
    }

    /// Parses schema text and checks it keeps the vocabulary's contract.
    pub fn parse(origin: &str, text: &str, json: bool) -> Result<Self, SchemaError> {
        // Both schema parsers recurse on nested types: bound the text before they see it.
        super::limits::prescan_schema(origin, text).map_err(|d| SchemaError {
            origin: origin.to_owned(),
            text: text.to_owned(),
            diagnostics: vec![d],
        })?;
        let fragment = if json {
            SchemaFragment::from_json_str(text).map_err(|e| from_miette(origin, text, &e))?
        } else {
            SchemaFragment::from_cedarschema_str(text)
                .map(|(fragment, _warnings)| fragment)
                .map_err(|e| from_miette(origin, text, &e))?
        };
        // Building the whole schema catches unresolved type names and the like before we look at shapes.
        Schema::from_schema_fragments([fragment.clone()])
            .map_err(|e| from_miette(origin, text, &e))?;
        let described = fragment
            .clone()
            .to_json_value()
            .map_err(|e| from_miette(origin, text, &e))?;
        let claims = check_contract(&described)
            .map_err(|(message, help)| SchemaError::single(origin, text, message, Some(help)))?;
        Ok(Self {
            origin: origin.to_owned(),
            fragment,
            claims: claims.into(),
            canonical: described.to_string(),
        })
    }

    /// Where the schema came from (a path, or the base schema's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The schema in Cedar's JSON form, independent of comments, layout and syntax: two schemas with the same
    /// text here validate the same policies.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The attributes of `Uma::User`, each filled from the claim of the same name.
    pub fn claims(&self) -> &Arc<[ClaimAttr]> {
        &self.claims
    }

    /// The schema with `actions` declared as `Uma::Action`s applying to `Uma::User` x `Uma::Resource`.
    pub(crate) fn with_actions<'a>(
        &self,
        actions: impl IntoIterator<Item = &'a str>,
    ) -> Result<Schema, String> {
        let mut declared = Map::new();
        let applies = json!({
            "appliesTo": {
                "principalTypes": ["User"],
                "resourceTypes": ["Resource"],
                "context": {"type": "Context"}
            }
        });
        for action in actions.into_iter().chain([ANY_SCOPE_ACTION]) {
            declared.insert(action.to_owned(), applies.clone());
        }
        let actions = SchemaFragment::from_json_value(json!({
            NAMESPACE: {"entityTypes": {}, "actions": declared}
        }))
        .map_err(|e| e.to_string())?;
        Schema::from_schema_fragments([self.fragment.clone(), actions]).map_err(|e| e.to_string())
    }
}

/// Turns any of Cedar's schema errors into located diagnostics.
fn from_miette(origin: &str, text: &str, err: &dyn miette::Diagnostic) -> SchemaError {
    let help = err.help().map(|h| h.to_string());
    let mut diagnostics = Vec::new();
    if let Some(labels) = err.labels() {
        for label in labels {
            diagnostics.push(
                Diagnostic::at(
                    origin,
                    text,
                    label.offset(),
                    label.len(),
                    Severity::Error,
                    Kind::Schema,
                    err.to_string(),
                )
                .with_help(help.clone()),
            );
        }
    }
    if diagnostics.is_empty() {
        diagnostics.push(
            Diagnostic::at(
                origin,
                text,
                0,
                0,
                Severity::Error,
                Kind::Schema,
                err.to_string(),
            )
            .with_help(help),
        );
    }
    SchemaError {
        origin: origin.to_owned(),
        text: text.to_owned(),
        diagnostics,
    }
}

type ContractError = (String, String);

/// Checks the schema (in Cedar's JSON form) against the published vocabulary and returns the claim attributes.
fn check_contract(schema: &Value) -> Result<Vec<ClaimAttr>, ContractError> {
    let base = base_json();
    let ns = schema.get(NAMESPACE).ok_or_else(|| {
        (
            "the schema has no `Uma` namespace".to_owned(),
            "start from the base schema (`schemas/uma.cedarschema`) and add claims to `Uma::User`"
                .to_owned(),
        )
    })?;
    let has_actions = ns
        .get("actions")
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty());
    if has_actions {
        return Err((
            "the schema declares actions in `Uma`".to_owned(),
            "scopes are open-ended: remove the `action` declarations; every `Uma::Action::\"<scope>\"` a \
             policy names is declared for you"
                .to_owned(),
        ));
    }
    let same = |path: &[&str], what: &str| -> Result<(), ContractError> {
        let mine = path
            .iter()
            .try_fold(ns, |v, k| v.get(*k))
            .map(strip_annotations);
        let theirs = path
            .iter()
            .try_fold(base.get(NAMESPACE).unwrap_or(&Value::Null), |v, k| {
                v.get(*k)
            })
            .map(strip_annotations);
        if mine.is_some() && mine == theirs {
            Ok(())
        } else {
            Err((
                format!("the schema must declare {what} exactly as the base schema does"),
                format!(
                    "the server fills {what} by itself, so it cannot change; only optional claim attributes \
                     of `Uma::User` can be added"
                ),
            ))
        }
    };
    same(&["entityTypes", "Resource"], "`Uma::Resource`")?;
    same(
        &["commonTypes", "Context"],
        "the common type `Uma::Context`",
    )?;

    let user = ns
        .get("entityTypes")
        .and_then(|t| t.get("User"))
        .ok_or_else(|| {
            (
                "the schema does not declare the entity type `Uma::User`".to_owned(),
                "keep `entity User` from the base schema; it is the requesting party".to_owned(),
            )
        })?;
    let attrs = user
        .get("shape")
        .and_then(|s| s.get("attributes"))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            (
                "`Uma::User` must be a record of claim attributes".to_owned(),
                "declare it as `entity User = { sub: String, iss: String, ... };`".to_owned(),
            )
        })?;
    let common = ns.get("commonTypes").and_then(Value::as_object);
    let mut claims = Vec::with_capacity(attrs.len());
    for (name, ty) in attrs {
        let required = ty.get("required").and_then(Value::as_bool).unwrap_or(true);
        let claim_type = claim_type(ty, common, 0).ok_or_else(|| {
            (
                format!(
                    "the claim attribute `{name}` of `Uma::User` has a type claims cannot fill"
                ),
                "claim attributes must be String, Long, Bool, or a Set of one of those".to_owned(),
            )
        })?;
        let identity = name == "sub" || name == "iss";
        if identity && (!required || claim_type != ClaimType::String) {
            return Err((
                format!("`Uma::User` must declare `{name}` as a required String"),
                format!("write `{name}: String,` as the base schema does"),
            ));
        }
        if !identity && required {
            return Err((
                format!("the claim attribute `{name}` of `Uma::User` must be optional"),
                format!(
                    "write `{name}?: ...`: a claim token may lack any claim but `sub` and `iss`, and a \
                     policy must test `principal has {name}` before reading it"
                ),
            ));
        }
        claims.push(ClaimAttr {
            name: name.clone(),
            ty: claim_type,
            required,
        });
    }
    for identity in ["sub", "iss"] {
        if !claims.iter().any(|c| c.name == identity) {
            return Err((
                format!("`Uma::User` must declare `{identity}`"),
                format!("write `{identity}: String,` as the base schema does"),
            ));
        }
    }
    Ok(claims)
}

fn base_json() -> Value {
    SchemaFragment::from_cedarschema_str(BASE_SCHEMA)
        .ok()
        .and_then(|(fragment, _)| fragment.to_json_value().ok())
        .unwrap_or(Value::Null)
}

/// The JSON in one canonical spelling: without `annotations` (doc comments are not a change of shape), and
/// with the several ways Cedar writes a type name (`EntityOrCommon`, `Extension`, `Bool`/`Boolean`,
/// `__cedar::`) brought to one, so a JSON schema and a `.cedarschema` file compare equal.
fn strip_annotations(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let kind = map.get("type").and_then(Value::as_str);
            let named = map.get("name").and_then(Value::as_str);
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "annotations")
                .map(|(k, v)| (k.clone(), strip_annotations(v)))
                .collect();
            let canonical = match (kind, named) {
                (Some("EntityOrCommon" | "Extension"), Some(name)) => {
                    out.remove("name");
                    Some(name)
                }
                (Some(other), _) => Some(other),
                _ => None,
            };
            if let Some(name) = canonical {
                let name = match name.trim_start_matches("__cedar::") {
                    "Bool" => "Boolean",
                    other => other,
                };
                out.insert("type".into(), Value::from(name));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strip_annotations).collect()),
        other => other.clone(),
    }
}

/// The claim type of a JSON schema type, following common-type names a few levels deep.
fn claim_type(ty: &Value, common: Option<&Map<String, Value>>, depth: u8) -> Option<ClaimType> {
    if depth > 8 {
        return None;
    }
    let primitive = |v: &Value| -> Option<ClaimType> {
        let name = match v.get("type").and_then(Value::as_str)? {
            "EntityOrCommon" => v.get("name").and_then(Value::as_str)?,
            other => other,
        };
        match name.trim_start_matches("__cedar::") {
            "String" => Some(ClaimType::String),
            "Long" => Some(ClaimType::Long),
            "Bool" | "Boolean" => Some(ClaimType::Bool),
            other => {
                let alias = common?.get(other)?;
                claim_type(alias, common, depth + 1)
            }
        }
    };
    if ty.get("type").and_then(Value::as_str) == Some("Set") {
        match primitive(ty.get("element")?)? {
            ClaimType::String => Some(ClaimType::SetOfString),
            ClaimType::Long => Some(ClaimType::SetOfLong),
            ClaimType::Bool => Some(ClaimType::SetOfBool),
            _ => None,
        }
    } else {
        primitive(ty)
    }
}

/// The scopes named as `Uma::Action::"<scope>"` anywhere in `policies`.
pub(crate) fn named_actions<'a>(
    policies: impl IntoIterator<Item = &'a cedar_policy::Policy>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for policy in policies {
        for uid in policy.entity_literals() {
            if uid.type_name().to_string() == ACTION_TYPE {
                names.insert(uid.id().unescaped().to_owned());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(schema: &PolicySchema) -> Vec<(&str, ClaimType, bool)> {
        schema
            .claims()
            .iter()
            .map(|c| (c.name.as_str(), c.ty, c.required))
            .collect()
    }

    #[test]
    fn base_schema_declares_the_published_claims() {
        let schema = PolicySchema::base().expect("base schema loads");
        let claims = names(&schema);
        for expected in [
            ("sub", ClaimType::String, true),
            ("iss", ClaimType::String, true),
            ("email", ClaimType::String, false),
            ("email_verified", ClaimType::Bool, false),
            ("name", ClaimType::String, false),
            ("preferred_username", ClaimType::String, false),
            ("groups", ClaimType::SetOfString, false),
        ] {
            assert!(claims.contains(&expected), "{expected:?} in {claims:?}");
        }
        assert_eq!(claims.len(), 7);
    }

    #[test]
    fn an_admin_schema_may_add_optional_claims() {
        let text = BASE_SCHEMA.replace(
            "groups?: Set<String>,",
            "groups?: Set<String>,\n        department?: String,\n        clearance?: Long,",
        );
        let schema =
            PolicySchema::parse("mine.cedarschema", &text, false).expect("extended schema");
        let claims = names(&schema);
        assert!(claims.contains(&("department", ClaimType::String, false)));
        assert!(claims.contains(&("clearance", ClaimType::Long, false)));
    }

    #[test]
    fn contract_breaking_schemas_are_refused_with_a_hint() {
        let cases = [
            (
                BASE_SCHEMA.replace("groups?: Set<String>,", "groups?: Set<String>, age: Long,"),
                "must be optional",
            ),
            (
                BASE_SCHEMA.replace("owner: String,", "owner: Long,"),
                "`Uma::Resource` exactly",
            ),
            (
                BASE_SCHEMA.replace("sub: String,", "sub?: String,"),
                "`sub`",
            ),
            (
                BASE_SCHEMA.replace(
                    "groups?: Set<String>,",
                    "groups?: Set<String>, at?: datetime,",
                ),
                "claims cannot fill",
            ),
            (
                BASE_SCHEMA.replace("namespace Uma {", "namespace Uma {\n action \"view\";"),
                "declares actions",
            ),
            (
                "namespace Other { entity X; }".to_owned(),
                "no `Uma` namespace",
            ),
        ];
        for (text, expected) in cases {
            let err = PolicySchema::parse("bad", &text, false).expect_err(expected);
            let first = err.diagnostics.first().expect("a diagnostic");
            assert!(first.message.contains(expected), "{expected}: {first:?}");
            assert!(first.help.is_some(), "{first:?}");
        }
    }

    #[test]
    fn syntax_errors_in_a_schema_are_located() {
        let text = "namespace Uma {\n  entity User = { sub: String iss: String };\n}";
        let err = PolicySchema::parse("broken.cedarschema", text, false).expect_err("syntax");
        let first = err.diagnostics.first().expect("a diagnostic");
        assert_eq!(first.line, 2, "{first:?}");
        assert!(first.column > 1, "{first:?}");
        assert!(err.render(false).contains("broken.cedarschema:2:"));
    }

    #[test]
    fn actions_are_declared_on_demand() {
        let schema = PolicySchema::base().expect("base");
        let cedar = schema
            .with_actions(["view", "https://x.example/scope"])
            .expect("schema");
        let actions: Vec<String> = cedar
            .actions()
            .map(|a| a.id().unescaped().to_owned())
            .collect();
        assert!(actions.contains(&"view".to_owned()));
        assert!(actions.contains(&"https://x.example/scope".to_owned()));
    }
}
