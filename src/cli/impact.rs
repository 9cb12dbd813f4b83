//! `diff` and `prove`: what a policy change newly allows or denies, and proofs that a set never allows what a
//! query describes, offline and for CI (see [`crate::policy::impact`]). Exit codes: `diff` 0 no change, 3 a
//! change, 2 not decided, 1 an error; `prove` 0 proved, 1 a counterexample (or an error), 2 not decided.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::policies::{
    PolicyFile, by_path, load_schema, parse_scopes, plural, policy_files, render_over,
};
use super::{Failure, Format, print_json};
use crate::policy::impact::{
    self, Finding, Impact, ImpactError, Limits, Proof, QueryProof, ScopeImpact, Status,
};
use crate::policy::{Diagnostic, Source};

/// Exit code of `diff` when a change was found.
pub(crate) const EXIT_CHANGED: u8 = 3;
/// Exit code of `diff` and `prove` when the solver could not decide.
pub(crate) const EXIT_UNDECIDED: u8 = 2;

/// The solver and its time limit.
#[derive(Debug, Args)]
pub struct SolverArgs {
    /// The cvc5 executable (1.0.3 or later): a path, or a name on PATH
    #[arg(long, env = "CVC5", default_value = "cvc5", value_name = "PATH")]
    pub solver: PathBuf,
    /// Seconds the solver may take, all its calls together; what is not decided by then is reported as not decided
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600), value_name = "SECONDS")]
    pub timeout: u64,
}

impl SolverArgs {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            solver: self.solver.clone().into_os_string(),
            timeout: Duration::from_secs(self.timeout),
        }
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Cedar schema (default: the built-in vocabulary)
    #[arg(long, env = "UMA_CEDAR_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// More scopes to analyse besides those the policies name, separated by commas or spaces
    #[arg(long, value_name = "LIST")]
    pub scopes: Option<String>,
    #[command(flatten)]
    pub solver: SolverArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// The policies before the change: a `.cedar` file or a directory of them
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The policies after the change: a `.cedar` file or a directory of them
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Cedar schema (default: the built-in vocabulary)
    #[arg(long, env = "UMA_CEDAR_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// More scopes to analyse besides those the policies and queries name, separated by commas or spaces
    #[arg(long, value_name = "LIST")]
    pub scopes: Option<String>,
    #[command(flatten)]
    pub solver: SolverArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// The policies: `.cedar` files or directories (repeatable)
    #[arg(long, required = true, value_name = "FILE_OR_DIR")]
    pub policies: Vec<PathBuf>,
    /// A query: permits describing requests that must never be granted (forbids carve out exceptions);
    /// each file is one query (repeatable)
    #[arg(long, required = true, value_name = "QUERY.cedar")]
    pub never: Vec<PathBuf>,
}

fn read(path: &PathBuf) -> Result<Vec<PolicyFile>, Failure> {
    policy_files(std::slice::from_ref(path))
}

pub fn diff(args: DiffArgs) -> Result<(), Failure> {
    let schema = load_schema(args.schema.as_deref())?;
    let old = by_path(&read(&args.old)?);
    let new = by_path(&read(&args.new)?);
    let scopes: Vec<String> = args
        .scopes
        .as_deref()
        .map(parse_scopes)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let all: Vec<Source> = old.iter().chain(&new).cloned().collect();
    match impact::compare(&schema, &old, &new, &scopes, &args.solver.limits()) {
        Ok(impact) => report_impact(&impact, args.format),
        Err(err) => Err(analysis_failure(err, &all, args.format)),
    }
}

/// Prints an impact (text or JSON) and returns the exit code it calls for: `Ok` for no change.
pub(crate) fn report_impact(impact: &Impact, format: Format) -> Result<(), Failure> {
    match format {
        Format::Json => print_json(&json!(impact)),
        Format::Text => {
            let mut previous = None;
            for scope in &impact.scopes {
                for line in scope_lines(scope, &mut previous) {
                    println!("{line}");
                }
            }
            println!("{}", summary(impact));
        }
    }
    match impact.status {
        Status::NoChange => Ok(()),
        Status::Changed => Err(Failure::exit(EXIT_CHANGED)),
        Status::Undecided => Err(Failure::exit(EXIT_UNDECIDED)),
    }
}

fn scope_name(scope: &ScopeImpact) -> String {
    match &scope.scope {
        Some(name) => format!("scope `{name}`"),
        None => "every other scope".to_owned(),
    }
}

/// What one scope's findings say, a line each (the questions not decided on one line); nothing when nothing
/// changed. A reason equal to `previous` is not repeated.
pub(crate) fn scope_lines(scope: &ScopeImpact, previous: &mut Option<String>) -> Vec<String> {
    let name = scope_name(scope);
    let mut lines = Vec::new();
    let mut open = Vec::new();
    let mut why = None;
    for (what, finding) in [
        ("newly allows", &scope.newly_allows),
        ("newly denies", &scope.newly_denies),
        ("newly puts to the owner (`@ask`)", &scope.newly_asks),
    ] {
        match finding {
            Finding::None => {}
            Finding::Example { example } => {
                lines.push(format!(
                    "{name}: {what}, for example {}",
                    example.describe()
                ));
            }
            Finding::Undecided { reason } => {
                open.push(what);
                why.get_or_insert(reason.clone());
            }
        }
    }
    if let Some(reason) = why {
        let said = if previous.as_deref() == Some(reason.as_str()) {
            "as above".to_owned()
        } else {
            reason.clone()
        };
        lines.push(format!(
            "{name}: not decided whether it {}: {said}",
            open.join(" or ")
        ));
        *previous = Some(reason);
    }
    lines
}

/// The last line of a diff.
pub(crate) fn summary(impact: &Impact) -> String {
    match impact.status {
        Status::NoChange => "no change in what is allowed".to_owned(),
        Status::Changed => format!(
            "{} changed",
            plural(impact.changes().count(), "scope", "scopes")
        ),
        Status::Undecided => {
            "no change found, but not everything was decided: see above".to_owned()
        }
    }
}

/// An analysis that could not start: its diagnostics over the sources, exit 1.
pub(crate) fn analysis_failure(err: ImpactError, sources: &[Source], format: Format) -> Failure {
    let diagnostics: &[Diagnostic] = match &err {
        ImpactError::Invalid { diagnostics, .. } => diagnostics,
        _ => &[],
    };
    match format {
        Format::Json => print_json(&json!({
            "status": "error",
            "error": err.to_string(),
            "diagnostics": diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })),
        Format::Text => eprint!("{}", render_over(diagnostics, sources)),
    }
    Failure::new(err.to_string()).help(
        "each diagnostic names the file, line and column; `uma-cedar validate` checks a set alone",
    )
}

pub fn prove(args: ProveArgs) -> Result<(), Failure> {
    let schema = load_schema(args.schema.as_deref())?;
    let policies = by_path(&policy_files(&args.policies)?);
    let mut queries = Vec::new();
    for path in &args.never {
        queries.extend(by_path(&read(path)?));
    }
    let scopes: Vec<String> = args
        .scopes
        .as_deref()
        .map(parse_scopes)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let all: Vec<Source> = policies.iter().chain(&queries).cloned().collect();
    let proofs = impact::prove_never(&schema, &policies, &queries, &scopes, &args.solver.limits())
        .map_err(|err| analysis_failure(err, &all, args.format))?;
    report_proofs(&proofs, args.format)
}

/// Prints proofs and returns the exit code they call for: `Ok` when every query is proved.
pub(crate) fn report_proofs(proofs: &[QueryProof], format: Format) -> Result<(), Failure> {
    match format {
        Format::Json => {
            let status = if proofs
                .iter()
                .any(|p| matches!(p.proof, Proof::Violated { .. }))
            {
                "violated"
            } else if proofs
                .iter()
                .any(|p| matches!(p.proof, Proof::Undecided { .. }))
            {
                "undecided"
            } else {
                "proved"
            };
            print_json(&json!({"status": status, "queries": proofs}));
        }
        Format::Text => {
            for p in proofs {
                match &p.proof {
                    Proof::Proved => println!(
                        "{}: proved: the policies allow no request this query matches",
                        p.query
                    ),
                    Proof::Violated { example } => println!(
                        "{}: NOT proved: the policies allow {}",
                        p.query,
                        example.describe()
                    ),
                    Proof::Undecided { reason } => {
                        println!("{}: not decided: {reason}", p.query);
                    }
                }
            }
        }
    }
    if proofs
        .iter()
        .any(|p| matches!(p.proof, Proof::Violated { .. }))
    {
        Err(Failure::new(format!(
            "{} of {} not proved",
            proofs
                .iter()
                .filter(|p| matches!(p.proof, Proof::Violated { .. }))
                .count(),
            plural(proofs.len(), "query", "queries")
        )))
    } else if proofs
        .iter()
        .any(|p| matches!(p.proof, Proof::Undecided { .. }))
    {
        Err(Failure::exit(EXIT_UNDECIDED))
    } else {
        Ok(())
    }
}
