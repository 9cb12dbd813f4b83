//! The policy commands: `validate` and `authorize` work offline on files (no server, no database), for owners
//! writing policies and for CI; `policy push|list|show|remove` manage an owner's stored set in the data
//! directory, safe while the server runs (its next decision sees the change through the policy version).
//!
//! Diagnostics go to standard error, drawn over the source with file:line:column; results go to standard
//! output, as text or (`--format json`) for tools. Nothing here may store a policy that did not validate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::{DataDir, Failure, Format, open_store, print_json};
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::FileSettings;
use crate::owner::policies::{self as service, Policies, PolicyError};
use crate::policy::{
    self, Claims, ContextFacts, Decision, Diagnostic, PolicySchema, ResourceFacts, SchemaError,
    ScopeCheck, Source,
};
use crate::store::PolicyRead;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Cedar schema to validate against (default: the built-in vocabulary)
    #[arg(long, env = "UMA_CEDAR_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// The known scopes, separated by commas or spaces: a policy naming another scope is an error
    #[arg(long, value_name = "LIST")]
    pub scopes: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// `.cedar` files, or directories whose `.cedar` files are all checked
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// Cedar schema (default: the built-in vocabulary)
    #[arg(long, env = "UMA_CEDAR_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// The owner's policies: `.cedar` files or directories (repeatable)
    #[arg(long, required = true, value_name = "FILE_OR_DIR")]
    pub policies: Vec<PathBuf>,
    /// The requesting party's verified claims as a JSON object (`{}` for none)
    #[arg(long, value_name = "CLAIMS.json")]
    pub principal: PathBuf,
    /// The resource as registered, with its `_id` and `owner`: `{"_id", "owner", "resource_scopes", "name", "type"}`
    #[arg(long, value_name = "RESOURCE.json")]
    pub resource: PathBuf,
    /// The scope asked for
    #[arg(long)]
    pub scope: String,
    /// Server facts: `{"client_id", "resource_server", "time"}` (time: RFC 3339 or Unix seconds; default now)
    #[arg(long, value_name = "CONTEXT.json")]
    pub context: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct OwnerArg {
    /// The owner: a username, or the client id of a client-owned organisation
    #[arg(long)]
    pub owner: String,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files and store them for an owner (a file's name without `.cedar` names it)
    Push {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        /// Cedar schema (default: the server's `schema` setting from --config, else the built-in vocabulary)
        #[arg(long, env = "UMA_CEDAR_SCHEMA")]
        schema: Option<PathBuf>,
        /// The server's TOML configuration file, to read its `schema` setting from
        #[arg(long, env = "UMA_CEDAR_CONFIG")]
        config: Option<PathBuf>,
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
    /// Show what pushing these files would change, per scope (as `uma-cedar diff`), storing nothing: exit 0
    /// no change, 3 a change, 2 not decided, 1 an error
    Diff {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        /// Cedar schema (default: the server's `schema` setting from --config, else the built-in vocabulary)
        #[arg(long, env = "UMA_CEDAR_SCHEMA")]
        schema: Option<PathBuf>,
        /// The server's TOML configuration file, to read its `schema` setting from
        #[arg(long, env = "UMA_CEDAR_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        solver: super::impact::SolverArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[arg(required = true, value_name = "FILE_OR_DIR")]
        paths: Vec<PathBuf>,
    },
    /// Validate every owner's stored policies against the schema (after changing it, before starting the
    /// server with it): exit 0 when all validate, 1 with each failing owner's diagnostics
    Check {
        #[command(flatten)]
        dir: DataDir,
        /// Cedar schema (default: the server's `schema` setting from --config, else the built-in vocabulary)
        #[arg(long, env = "UMA_CEDAR_SCHEMA")]
        schema: Option<PathBuf>,
        /// The server's TOML configuration file, to read its `schema` setting from
        #[arg(long, env = "UMA_CEDAR_CONFIG")]
        config: Option<PathBuf>,
    },
    /// List an owner's stored policies
    List {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print one stored policy
    Show {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        name: String,
    },
    /// Remove one stored policy
    Remove {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        name: String,
    },
}

/// Colors only for a person at a terminal who has not asked for none.
pub(super) fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub(super) fn load_schema(path: Option<&Path>) -> Result<PolicySchema, Failure> {
    PolicySchema::base_or_file(path).map_err(schema_failure)
}

fn schema_failure(err: SchemaError) -> Failure {
    eprint!("{}", err.render(color()));
    Failure::new(err.to_string()).help(
        "start from schemas/uma.cedarschema and only add optional claim attributes to `Uma::User`",
    )
}

/// A policy file found on the command line.
#[derive(Debug, Clone)]
pub(super) struct PolicyFile {
    path: PathBuf,
    /// The file name without `.cedar`: what the file is stored as.
    name: String,
    text: String,
}

/// The `.cedar` files named by `paths` (directories: the `.cedar` files directly in them, by name).
pub(super) fn policy_files(paths: &[PathBuf]) -> Result<Vec<PolicyFile>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", path.display())))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| Failure::new(format!("cannot list `{}`: {e}", path.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "cedar"))
                .collect();
            if found.is_empty() {
                return Err(Failure::new(format!(
                    "there is no `.cedar` file in `{}`",
                    path.display()
                ))
                .help("policy files end in `.cedar`"));
            }
            found.sort();
            for file in found {
                files.push(read_policy_file(&file)?);
            }
        } else if path.extension().is_some_and(|x| x == "cedar") {
            files.push(read_policy_file(path)?);
        } else {
            return Err(
                Failure::new(format!("`{}` is not a `.cedar` file", path.display()))
                    .help("policy files end in `.cedar`; the name before it names the policy"),
            );
        }
    }
    Ok(files)
}

fn read_policy_file(path: &Path) -> Result<PolicyFile, Failure> {
    // Bounded before reading: the limits would refuse a larger text anyway, after holding all of it.
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    if size > policy::MAX_SOURCE_BYTES as u64 {
        return Err(Failure::new(format!(
            "`{}` is {size} bytes long, more than the {} a policy file may hold",
            path.display(),
            policy::MAX_SOURCE_BYTES
        ))
        .help("split it into several files (each file is one stored policy)"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read `{}`: {e}", path.display())))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(PolicyFile {
        path: path.to_path_buf(),
        name,
        text,
    })
}

/// Sources named by path, for offline commands where the path says best where a problem is.
pub(super) fn by_path(files: &[PolicyFile]) -> Vec<Source> {
    files
        .iter()
        .map(|f| Source::new(f.path.display().to_string(), f.text.clone()))
        .collect()
}

pub(super) fn render_over(diagnostics: &[Diagnostic], sources: &[Source]) -> String {
    policy::render(
        diagnostics,
        |name| {
            sources
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.text.as_str())
        },
        color(),
    )
}

pub(super) fn parse_scopes(list: &str) -> BTreeSet<String> {
    list.split([',', ' ', '\t', '\n'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let schema = match PolicySchema::base_or_file(args.schema.as_deref()) {
        Ok(schema) => schema,
        Err(err) if matches!(args.format, Format::Json) => {
            print_json(&json!({
                "valid": false,
                "schema": err.origin,
                "files": [],
                "diagnostics": err.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
            }));
            return Err(Failure::new(err.to_string()));
        }
        Err(err) => return Err(schema_failure(err)),
    };
    let files = policy_files(&args.paths)?;
    let sources = by_path(&files);
    let known = args.scopes.as_deref().map(parse_scopes);
    let check = match &known {
        Some(known) => ScopeCheck::Error(known),
        None => ScopeCheck::Unchecked,
    };
    let validation = policy::validate(&schema, &sources, check);
    let count = |source: &str, errors: bool| {
        validation
            .diagnostics
            .iter()
            .filter(|d| d.source == source && d.is_error() == errors)
            .count()
    };
    let failing = sources.iter().filter(|s| count(&s.name, true) > 0).count();
    let total: usize = validation.policy_counts.iter().sum();
    match args.format {
        Format::Json => print_json(&json!({
            "valid": validation.is_valid(),
            "schema": schema.origin(),
            "files": sources.iter().zip(&validation.policy_counts).map(|(s, n)| json!({
                "path": s.name,
                "policies": n,
                "errors": count(&s.name, true),
                "warnings": count(&s.name, false),
            })).collect::<Vec<_>>(),
            "diagnostics": validation.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })),
        Format::Text => {
            eprint!("{}", render_over(&validation.diagnostics, &sources));
            for (source, n) in sources.iter().zip(&validation.policy_counts) {
                let errors = count(&source.name, true);
                let verdict = if errors > 0 {
                    format!("{errors} error(s)")
                } else {
                    "ok".to_owned()
                };
                println!(
                    "{}\t{}\t{verdict}",
                    source.name,
                    plural(*n, "policy", "policies")
                );
            }
            if validation.is_valid() {
                println!(
                    "{}, {}: all valid against {}",
                    plural(sources.len(), "file", "files"),
                    plural(total, "policy", "policies"),
                    schema.origin()
                );
            }
        }
    }
    if validation.is_valid() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{failing} of {} file(s) do not validate",
            sources.len()
        ))
        .help("each diagnostic above names the file, line and column, with a hint"))
    }
}

fn read_json_object(path: &Path, what: &str) -> Result<Map<String, Value>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read the {what} `{}`: {e}", path.display())))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::new(format!(
            "the {what} `{}` must hold a JSON object",
            path.display()
        ))),
        Err(e) => Err(Failure::new(format!(
            "the {what} `{}` is not valid JSON: {e}",
            path.display()
        ))),
    }
}

fn optional_string(
    map: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<String>, Failure> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Failure::new(format!(
            "`{key}` in the {what} must be a string"
        ))),
    }
}

fn resource_facts(map: &Map<String, Value>) -> Result<ResourceFacts, Failure> {
    let what = "resource";
    let owner = optional_string(map, "owner", what)?.ok_or_else(|| {
        Failure::new("the resource has no `owner`")
            .help("add `\"owner\": \"<username or client id>\"` to the resource file")
    })?;
    let scopes = match map.get("resource_scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Failure::new("`resource_scopes` in the resource must be strings"))?,
        Some(_) => {
            return Err(Failure::new(
                "`resource_scopes` in the resource must be an array of strings",
            ));
        }
    };
    Ok(ResourceFacts {
        id: optional_string(map, "_id", what)?.unwrap_or_else(|| "resource".to_owned()),
        owner,
        scopes,
        name: optional_string(map, "name", what)?,
        kind: optional_string(map, "type", what)?,
    })
}

fn context_facts(map: &Map<String, Value>, now: UnixTime) -> Result<ContextFacts, Failure> {
    let what = "context";
    let time = match map.get("time") {
        None | Some(Value::Null) => now,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| Failure::new("`time` in the context must be whole Unix seconds"))?,
        Some(Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| {
                Failure::new(format!(
                    "`time` in the context is not an RFC 3339 time: {e}"
                ))
                .help("write it like \"2026-07-01T12:00:00Z\", or as Unix seconds")
            })?
            .timestamp(),
        Some(_) => {
            return Err(Failure::new(
                "`time` in the context must be an RFC 3339 string or Unix seconds",
            ));
        }
    };
    Ok(ContextFacts {
        client_id: optional_string(map, "client_id", what)?.unwrap_or_default(),
        resource_server: optional_string(map, "resource_server", what)?.unwrap_or_default(),
        time,
    })
}

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn utc(time: UnixTime) -> String {
    chrono::DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| time.to_string())
}

fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn authorize(args: AuthorizeArgs) -> Result<(), Failure> {
    let schema = load_schema(args.schema.as_deref())?;
    let files = policy_files(&args.policies)?;
    let sources = by_path(&files);
    let validation = policy::validate(&schema, &sources, ScopeCheck::Unchecked);
    if !validation.is_valid() {
        eprint!("{}", render_over(&validation.diagnostics, &sources));
        return Err(
            Failure::new("the policies do not validate against the schema")
                .help("fix them first; `uma-cedar validate` checks them alone"),
        );
    }
    let claims_json = read_json_object(&args.principal, "principal claims")?;
    let claims = if claims_json.is_empty() {
        None
    } else {
        Some(Claims::from_json(claims_json).map_err(|e| {
            Failure::new(format!("{e}: `{}`", args.principal.display()))
                .help("verified claims always hold `iss` and `sub`; use `{}` for a requesting party who presented none")
        })?)
    };
    let resource = resource_facts(&read_json_object(&args.resource, "resource")?)?;
    let context_json = match &args.context {
        Some(path) => read_json_object(path, "context")?,
        None => Map::new(),
    };
    let context = context_facts(&context_json, SystemClock.now())?;
    let compiled = policy::compile(&schema, None, &sources);
    let decision = policy::decide(&compiled, claims.as_ref(), &resource, &args.scope, &context);

    match args.format {
        Format::Json => {
            let mut body = match serde_json::to_value(&decision) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            body.insert(
                "context".into(),
                json!({
                    "client_id": context.client_id,
                    "resource_server": context.resource_server,
                    "time": utc(context.time),
                }),
            );
            print_json(&Value::Object(body));
        }
        Format::Text => {
            let party = claims.as_ref().map_or_else(
                || "nobody known (no claims)".to_owned(),
                |c| format!("`{}` from `{}`", c.sub(), c.iss()),
            );
            println!(
                "request: {party} asks for `{}` on resource `{}` of `{}`, through client `{}` at {}",
                args.scope,
                resource.id,
                resource.owner,
                context.client_id,
                utc(context.time)
            );
            match &decision {
                Decision::Permit { policies } => {
                    println!("decision: permit");
                    println!("decided by: {}", joined(policies));
                }
                Decision::Ask { policies } => {
                    println!("decision: ask (held for the owner: only `@ask` permits apply)");
                    println!("decided by: {}", joined(policies));
                }
                Decision::NeedInfo {
                    claims, policies, ..
                } => {
                    println!("decision: need_info (not yet: more claims could permit it)");
                    println!("claims that would help: {}", claims.join(", "));
                    println!("policies that could permit it: {}", joined(policies));
                }
                Decision::Deny { policies, errors } => {
                    println!("decision: deny");
                    if policies.is_empty() && errors.is_empty() {
                        println!("decided by: no policy permits this request");
                    } else if !policies.is_empty() {
                        println!("decided by: {}", joined(policies));
                    }
                    for e in errors {
                        println!("evaluation error (denied to be safe): {e}");
                    }
                }
            }
        }
    }
    Ok(())
}

fn unknown_owner(owner: &str) -> Failure {
    Failure::new(format!("there is no user or client `{owner}`")).help(
        "owners are local usernames or client ids: `uma-cedar user list` and `uma-cedar client list` show them",
    )
}

pub(super) fn check_owner(store: &crate::store::Store, owner: &str) -> Result<(), Failure> {
    if store.read(|c| service::owner_exists(c, owner))? {
        Ok(())
    } else {
        Err(unknown_owner(owner))
    }
}

pub fn policy(cmd: PolicyCommand) -> Result<(), Failure> {
    match cmd {
        PolicyCommand::Push {
            dir,
            owner,
            schema,
            config,
            paths,
        } => push(&dir.data_dir, &owner.owner, schema, config, &paths),
        PolicyCommand::Diff {
            dir,
            owner,
            schema,
            config,
            solver,
            format,
            paths,
        } => diff(
            &dir.data_dir,
            &owner.owner,
            server_schema(schema, config)?,
            &solver,
            format,
            &paths,
        ),
        PolicyCommand::Check {
            dir,
            schema,
            config,
        } => check_stored(&dir.data_dir, server_schema(schema, config)?),
        PolicyCommand::List { dir, owner, format } => {
            let store = open_store(&dir.data_dir)?;
            check_owner(&store, &owner.owner)?;
            let list = store.read(|c| service::list(c, &owner.owner))?;
            match format {
                Format::Json => print_json(&Value::Array(
                    list.iter()
                        .map(
                            |p| json!({"name": p.name, "updated_at": p.updated_at, "size": p.size}),
                        )
                        .collect(),
                )),
                Format::Text => {
                    for p in &list {
                        println!("{}\t{}\t{} bytes", p.name, utc(p.updated_at), p.size);
                    }
                    eprintln!("{} policy file(s) for `{}`", list.len(), owner.owner);
                }
            }
            Ok(())
        }
        PolicyCommand::Show { dir, owner, name } => {
            let store = open_store(&dir.data_dir)?;
            check_owner(&store, &owner.owner)?;
            match store.read(|c| service::get(c, &owner.owner, &name))? {
                Some(p) => {
                    print!("{}", p.text);
                    if !p.text.ends_with('\n') {
                        println!();
                    }
                    Ok(())
                }
                None => Err(no_such_policy(&owner.owner, &name)),
            }
        }
        PolicyCommand::Remove { dir, owner, name } => {
            let store = open_store(&dir.data_dir)?;
            let policies = Policies::new(load_schema(None)?);
            match policies.remove(&store, &owner.owner, &name, SystemClock.now()) {
                Ok(true) => {
                    println!("removed policy `{name}` of `{}`", owner.owner);
                    Ok(())
                }
                Ok(false) => Err(no_such_policy(&owner.owner, &name)),
                Err(PolicyError::UnknownOwner(o)) => Err(unknown_owner(&o)),
                Err(e) => Err(Failure::new(e.to_string())),
            }
        }
    }
}

fn no_such_policy(owner: &str, name: &str) -> Failure {
    Failure::new(format!("`{owner}` has no policy named `{name}`")).help(format!(
        "`uma-cedar policy list --owner {owner}` shows them"
    ))
}

/// The schema the server uses: `--schema`, else the `schema` setting of `--config`, else the built-in one.
fn server_schema(
    schema: Option<PathBuf>,
    config: Option<PathBuf>,
) -> Result<Option<PathBuf>, Failure> {
    Ok(match schema {
        Some(path) => Some(path),
        None => match &config {
            Some(path) => FileSettings::load(path)?.schema,
            None => None,
        },
    })
}

/// `policy diff`: the owner's stored set against the set after pushing `paths`, checked as `push` checks them
/// and compared as `uma-cedar diff` compares (the same output and exit codes); nothing is stored.
fn diff(
    data_dir: &Path,
    owner: &str,
    schema: Option<PathBuf>,
    solver: &super::impact::SolverArgs,
    format: Format,
    paths: &[PathBuf],
) -> Result<(), Failure> {
    let schema = load_schema(schema.as_deref())?;
    let files = policy_files(paths)?;
    let store = open_store(data_dir)?;
    check_owner(&store, owner)?;
    let sources: Vec<Source> = files
        .iter()
        .map(|f| Source::new(f.name.clone(), f.text.clone()))
        .collect();
    let policies = Policies::new(schema);
    let planned = store.read(|c| Ok(policies.planned_push(c, owner, &sources)))?;
    let planned = match planned {
        Ok(planned) => planned,
        Err(err) => return Err(push_refused(err, &files)),
    };
    let (warnings, texts) = located_over(&planned.warnings, &files);
    eprint!("{}", render_over(&warnings, &texts));
    let registered: Vec<String> = store
        .read(|c| {
            use crate::store::ResourceRead;
            c.scopes_of_owner(owner)
        })?
        .into_iter()
        .collect();
    // Diagnostics of the analysis name the stored policies and the files by policy name.
    let named: Vec<Source> = planned
        .before
        .iter()
        .chain(&planned.after)
        .cloned()
        .collect();
    match crate::policy::impact::compare(
        policies.schema(),
        &planned.before,
        &planned.after,
        &registered,
        &solver.limits(),
    ) {
        Ok(impact) => super::impact::report_impact(&impact, format),
        Err(err) => Err(super::impact::analysis_failure(err, &named, format)),
    }
}

/// Diagnostics named by policy, moved onto the files they came from, with the files' texts to draw them over.
fn located_over(
    diagnostics: &[Diagnostic],
    files: &[PolicyFile],
) -> (Vec<Diagnostic>, Vec<Source>) {
    let moved = diagnostics
        .iter()
        .map(|d| Diagnostic {
            source: files
                .iter()
                .find(|f| f.name == d.source)
                .map_or_else(|| d.source.clone(), |f| f.path.display().to_string()),
            ..d.clone()
        })
        .collect();
    (moved, by_path(files))
}

/// A push (or a diff's check of one) refused: the diagnostics over the files, and what to do.
fn push_refused(err: PolicyError, files: &[PolicyFile]) -> Failure {
    match err {
        PolicyError::Invalid(validation) => {
            let (diagnostics, texts) = located_over(&validation.diagnostics, files);
            eprint!("{}", render_over(&diagnostics, &texts));
            let files_failing: BTreeSet<&str> =
                validation.errors().map(|d| d.source.as_str()).collect();
            Failure::new(format!(
                "nothing was stored: {} error(s) in {} file(s)",
                validation.errors().count(),
                files_failing.len()
            ))
            .help("fix the files and push again; `uma-cedar validate` checks them offline")
        }
        PolicyError::UnknownOwner(o) => unknown_owner(&o),
        e @ (PolicyError::BadName { .. } | PolicyError::DuplicateName(_)) => {
            Failure::new(e.to_string()).help(
                "a file's name without `.cedar` names the policy: 1 to 64 letters, digits, `.`, `_` or `-`, \
                 unique within a push",
            )
        }
        PolicyError::Store(e) => Failure::from(e),
    }
}

/// Owners between two progress lines of `policy check`.
const CHECK_PROGRESS_EVERY: usize = 1000;

fn check_stored(data_dir: &Path, schema: Option<PathBuf>) -> Result<(), Failure> {
    let schema = load_schema(schema.as_deref())?;
    let store = open_store(data_dir)?;
    let owners = store.read(|c| c.policy_owners())?;
    let origin = schema.origin().to_string();
    eprintln!(
        "checking the stored policies of {} owner(s) against {origin}",
        owners.len()
    );
    let policies = Policies::new(schema);
    let mut failing = Vec::new();
    for (done, owner) in owners.iter().enumerate() {
        // One short read per owner: no snapshot is held across the whole database.
        if let Some((sources, validation)) = store.read(|c| policies.check_stored(c, owner))? {
            eprintln!("owner `{owner}`:");
            eprint!("{}", render_over(&validation.diagnostics, &sources));
            failing.push(owner.as_str());
        }
        if (done + 1) % CHECK_PROGRESS_EVERY == 0 {
            eprintln!("checked {} of {} owner(s)", done + 1, owners.len());
        }
    }
    if failing.is_empty() {
        println!(
            "the stored policies of all {} owner(s) validate against {origin}",
            owners.len()
        );
        return Ok(());
    }
    Err(Failure::new(format!(
        "the stored policies of {} of {} owner(s) do not validate against {origin}: {}",
        failing.len(),
        owners.len(),
        failing.join(", ")
    ))
    .help(
        "under this schema the server denies every request for those owners' resources (the decision log \
         names the reason): push corrected files with `uma-cedar policy push`, remove them with \
         `uma-cedar policy remove`, or keep the previous schema",
    ))
}

fn push(
    data_dir: &Path,
    owner: &str,
    schema: Option<PathBuf>,
    config: Option<PathBuf>,
    paths: &[PathBuf],
) -> Result<(), Failure> {
    let schema = load_schema(server_schema(schema, config)?.as_deref())?;
    let files = policy_files(paths)?;
    let store = open_store(data_dir)?;
    check_owner(&store, owner)?;
    eprintln!(
        "validating {} file(s) for `{owner}` against {}",
        files.len(),
        schema.origin()
    );
    // Stored under their names; diagnostics are shown over the files they came from.
    let sources: Vec<Source> = files
        .iter()
        .map(|f| Source::new(f.name.clone(), f.text.clone()))
        .collect();
    let path_of: BTreeMap<&str, String> = files
        .iter()
        .map(|f| (f.name.as_str(), f.path.display().to_string()))
        .collect();
    let policies = Policies::new(schema);
    match policies.push(&store, owner, &sources, SystemClock.now()) {
        Ok(outcome) => {
            let (warnings, texts) = located_over(&outcome.warnings, &files);
            eprint!("{}", render_over(&warnings, &texts));
            let mut created = 0;
            for p in &outcome.pushed {
                let state = if p.replaced {
                    "replaced"
                } else {
                    created += 1;
                    "new"
                };
                let from = path_of.get(p.name.as_str()).map_or("", String::as_str);
                println!(
                    "{}\t{state}\t{}\t{from}",
                    p.name,
                    plural(p.policies, "policy", "policies")
                );
            }
            println!(
                "pushed {} policy file(s) for `{owner}` ({created} new, {} replaced); in effect on the next request",
                outcome.pushed.len(),
                outcome.pushed.len() - created
            );
            Ok(())
        }
        Err(err) => Err(push_refused(err, &files)),
    }
}
