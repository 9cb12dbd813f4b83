//! Bounds on policy and schema texts, checked before Cedar's recursive parser sees them and again on the
//! parsed tree, so that no text (sent over HTTP, pushed from the CLI, stored by an older version, or given to
//! the offline tools) can overflow a thread's stack while it is parsed, validated, evaluated or dropped.
//!
//! Cedar's parser and the code that walks its trees recurse: in a debug build one level of bracket nesting
//! costs about 53 KiB of stack while parsing (a 2 MiB thread overflows at 37 levels), and converting a
//! policy to its JSON form about 15 KiB per level of expression depth (overflow near 137). Decisions run on
//! 2 MiB blocking-pool threads, so the limits below leave a margin of about three times.
//!
//! The pre-scan ([`prescan`]) is a lexer with explicit stacks and no recursion: it knows Cedar's string
//! literals and `//` comments, so brackets and operators inside them do not count. It bounds the text's size,
//! its bracket nesting, runs of unary operators, and an upper bound of the expression depth (operators of one
//! precedence in a row build a chain as deep as the row is long). The exact check ([`check_depth`]) measures
//! the parsed policy's expression depth on its JSON form, again with an explicit stack. This module must
//! never recurse on its input and never let a text past that breaks a limit.

use cedar_policy::Policy;
use serde_json::Value;

use super::diagnostic::{Diagnostic, Kind, Severity};

/// Bytes one source (a stored policy, a file) may hold.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Bytes one policy (from its first token to its `;`) may hold.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;
/// Bytes all the sources of one set (an owner's stored policies, or the files given to a tool) may hold.
pub const MAX_SET_BYTES: usize = 1024 * 1024;
/// Brackets, parentheses and braces open at once.
pub const MAX_NESTING: usize = 12;
/// Unary operators (`!`, `-`) in a row; Cedar itself takes at most 4.
pub const MAX_UNARY_RUN: usize = 4;
/// Depth of a policy's expression tree (nested operators, calls, literals), measured on the text (an upper
/// bound) and again on the parsed policy.
pub const MAX_EXPR_DEPTH: usize = 48;
/// Bytes a schema file may hold.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// How a diagnostic about a limit tells the owner what to do.
const RESTRUCTURE: &str = "split the condition into several policies (a permit applies when any of them \
                           does), name values once in a set (`[\"a\", \"b\"].contains(principal.email)`) \
                           instead of chaining `||`, or drop redundant parentheses";

/// Operator precedence classes, loosest first; a row of operators of one class is a left-nested chain.
const IF: usize = 0;
const OR: usize = 1;
const AND: usize = 2;
const RELATION: usize = 3;
const ADD: usize = 4;
const MUL: usize = 5;
const UNARY: usize = 6;
const MEMBER: usize = 7;
const CLASSES: usize = 8;

/// One open bracket (or the top level of the text) while scanning.
#[derive(Debug, Default, Clone)]
struct Level {
    /// Operators of each class in the current row (reset by a looser operator or a separator).
    run: [usize; CLASSES],
    /// The longest row of each class seen in this level.
    longest: [usize; CLASSES],
    /// The deepest bracket closed inside this level.
    child: usize,
}

impl Level {
    /// Counts one operator of `class`: a looser one ends the rows of the tighter classes.
    fn operator(&mut self, class: usize) {
        for c in class + 1..CLASSES {
            if let Some(r) = self.run.get_mut(c) {
                *r = 0;
            }
        }
        if let (Some(r), Some(l)) = (self.run.get_mut(class), self.longest.get_mut(class)) {
            *r += 1;
            *l = (*l).max(*r);
        }
    }

    /// A separator (`,`, `:`, `then`, `else`) starts a new operand: every row of class above `loosest` ends.
    fn separate(&mut self, loosest: usize) {
        for c in loosest..CLASSES {
            if let Some(r) = self.run.get_mut(c) {
                *r = 0;
            }
        }
    }

    /// An upper bound of the expression depth of this level's contents.
    fn depth(&self) -> usize {
        self.longest.iter().sum::<usize>() + self.child + 1
    }
}

/// What the previous token was, to tell binary from unary `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start, an operator, an opening bracket or a separator: an operand comes next.
    Operator,
    /// An identifier, literal or closing bracket.
    Operand,
}

/// A refusal: where and why.
struct Breach {
    offset: usize,
    length: usize,
    message: String,
}

/// Checks the text of one policy source against the limits, without recursion: the byte offset where each
/// of its policies starts, or the first limit it breaks as a located diagnostic.
pub(crate) fn prescan(name: &str, text: &str) -> Result<Vec<usize>, Diagnostic> {
    scan(text, true).map_err(|b| limit_diagnostic(name, text, b))
}

/// Checks a schema text: its size and bracket nesting (its parser recurses on nested types).
pub(crate) fn prescan_schema(name: &str, text: &str) -> Result<(), Diagnostic> {
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(Diagnostic::at(
            name,
            text,
            MAX_SCHEMA_BYTES,
            0,
            Severity::Error,
            Kind::Limit,
            format!(
                "the schema is {} bytes long, more than the {MAX_SCHEMA_BYTES} allowed",
                text.len()
            ),
        )
        .with_help(Some("declare fewer types or attributes".into())));
    }
    scan(text, false).map(drop).map_err(|b| {
        breach_diagnostic(
            name,
            text,
            b,
            format!(
                "at most {MAX_NESTING} brackets may be open at once; declare nested record types as named \
                 common types (`type Address = {{ ... }};`)"
            ),
        )
    })
}

fn limit_diagnostic(name: &str, text: &str, b: Breach) -> Diagnostic {
    breach_diagnostic(
        name,
        text,
        b,
        format!(
            "policies may nest at most {MAX_NESTING} brackets and {MAX_EXPR_DEPTH} levels of operators, and \
             hold at most {MAX_POLICY_BYTES} bytes each; {RESTRUCTURE}"
        ),
    )
}

/// A located `limit` error at the breach, with `help`.
fn breach_diagnostic(name: &str, text: &str, b: Breach, help: String) -> Diagnostic {
    Diagnostic::at(
        name,
        text,
        b.offset,
        b.length,
        Severity::Error,
        Kind::Limit,
        b.message,
    )
    .with_help(Some(help))
}

/// The byte length of the string literal starting at `start` (a `"`), escapes included; to the end of the
/// text when it is not closed (the parser reports that).
fn string_len(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1 - start,
            _ => i += 1,
        }
    }
    bytes.len() - start
}

/// The lexer: returns where each policy (ended by `;`) starts. `expressions` turns on the checks that only make sense for policies (size per policy, unary
/// runs, expression depth); bracket nesting is checked for every text.
fn scan(text: &str, expressions: bool) -> Result<Vec<usize>, Breach> {
    let bytes = text.as_bytes();
    if expressions && text.len() > MAX_SOURCE_BYTES {
        return Err(Breach {
            offset: MAX_SOURCE_BYTES,
            length: 0,
            message: format!(
                "this source is {} bytes long, more than the {MAX_SOURCE_BYTES} allowed",
                text.len()
            ),
        });
    }
    let mut levels: Vec<Level> = vec![Level::default()];
    // Where each open bracket is, for the location of a refusal.
    let mut opened: Vec<usize> = Vec::new();
    let mut prev = Prev::Operator;
    let mut unary_run = 0usize;
    let mut policy_start: Option<usize> = None;
    let mut starts: Vec<usize> = Vec::new();
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        let start = i;
        if expressions && !b.is_ascii_whitespace() && policy_start.is_none() && b != b'/' {
            policy_start = Some(start);
        }
        let mut class = None;
        let mut next_prev = Prev::Operator;
        match b {
            b'"' => {
                i += string_len(bytes, i);
                next_prev = Prev::Operand;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' | b'[' | b'{' => {
                if levels.len() > MAX_NESTING {
                    return Err(Breach {
                        offset: start,
                        length: 1,
                        message: format!(
                            "brackets nest more than {MAX_NESTING} deep here (`{}` number {})",
                            char::from(b),
                            levels.len()
                        ),
                    });
                }
                // An index `e[...]` or a call `f(...)` hangs off an operand, as a member access does.
                if prev == Prev::Operand
                    && b != b'{'
                    && let Some(level) = levels.last_mut()
                {
                    level.operator(MEMBER);
                }
                levels.push(Level::default());
                opened.push(start);
                i += 1;
            }
            b')' | b']' | b'}' => {
                // An unbalanced closing bracket is the parser's to report.
                if levels.len() > 1
                    && let Some(closed) = levels.pop()
                {
                    let at = opened.pop().unwrap_or(start);
                    let depth = closed.depth();
                    if expressions && depth > MAX_EXPR_DEPTH {
                        return Err(too_deep(at, start + 1 - at, depth));
                    }
                    if let Some(parent) = levels.last_mut() {
                        parent.child = parent.child.max(depth);
                    }
                }
                i += 1;
                next_prev = Prev::Operand;
            }
            b',' | b':' if bytes.get(i + 1) != Some(&b':') => {
                if let Some(level) = levels.last_mut() {
                    level.separate(IF);
                }
                i += 1;
            }
            b':' => {
                // `::` in a path joins names; it is no operator.
                i += 2;
                next_prev = Prev::Operator;
                unary_run = 0;
                prev = next_prev;
                continue;
            }
            b';' => {
                if let Some(level) = levels.last_mut() {
                    let depth = level.depth();
                    if expressions && depth > MAX_EXPR_DEPTH {
                        return Err(too_deep(policy_start.unwrap_or(0), 0, depth));
                    }
                    *level = Level::default();
                }
                if let Some(from) = policy_start {
                    starts.push(from);
                }
                if expressions
                    && let Some(from) = policy_start.take()
                    && start + 1 - from > MAX_POLICY_BYTES
                {
                    return Err(Breach {
                        offset: from,
                        length: 0,
                        message: format!(
                            "this policy is {} bytes long, more than the {MAX_POLICY_BYTES} allowed",
                            start + 1 - from
                        ),
                    });
                }
                i += 1;
            }
            b'!' | b'-'
                if prev == Prev::Operator || b == b'!' && bytes.get(i + 1) != Some(&b'=') =>
            {
                unary_run += 1;
                if expressions && unary_run > MAX_UNARY_RUN {
                    return Err(Breach {
                        offset: start,
                        length: 1,
                        message: format!("more than {MAX_UNARY_RUN} unary operators in a row"),
                    });
                }
                i += 1;
                prev = Prev::Operator;
                if let Some(level) = levels.last_mut() {
                    level.operator(UNARY);
                }
                continue;
            }
            b'|' | b'&' => {
                class = Some(if b == b'|' { OR } else { AND });
                i += if bytes.get(i + 1) == Some(&b) { 2 } else { 1 };
            }
            b'=' | b'!' | b'<' | b'>' => {
                class = Some(RELATION);
                i += if bytes.get(i + 1) == Some(&b'=') {
                    2
                } else {
                    1
                };
            }
            b'+' | b'-' => {
                class = Some(ADD);
                i += 1;
            }
            b'*' => {
                class = Some(MUL);
                i += 1;
            }
            b'.' => {
                class = Some(MEMBER);
                i += 1;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' => {
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
                let word = text.get(start..i).unwrap_or("");
                match word {
                    "if" => class = Some(IF),
                    "then" | "else" => {
                        if let Some(level) = levels.last_mut() {
                            level.separate(OR);
                        }
                    }
                    "in" | "has" | "like" | "is" => class = Some(RELATION),
                    _ => next_prev = Prev::Operand,
                }
            }
            _ => {
                // Anything else (`@`, `?`, stray bytes) is the parser's to judge.
                i += 1;
                next_prev = Prev::Operand;
            }
        }
        unary_run = 0;
        if let Some(class) = class
            && let Some(level) = levels.last_mut()
        {
            level.operator(class);
            if expressions {
                // Rows still open along the path to here; closed brackets are counted when they close.
                let path: usize = levels
                    .iter()
                    .map(|l| l.longest.iter().sum::<usize>() + 1)
                    .sum();
                if path > MAX_EXPR_DEPTH {
                    return Err(too_deep(start, i - start, path));
                }
            }
        }
        prev = next_prev;
    }
    if expressions
        && let Some(from) = policy_start
        && text.len() - from > MAX_POLICY_BYTES
    {
        return Err(Breach {
            offset: from,
            length: 0,
            message: format!(
                "this policy is {} bytes long, more than the {MAX_POLICY_BYTES} allowed",
                text.len() - from
            ),
        });
    }
    if expressions
        && let Some(level) = levels.first()
        && level.depth() > MAX_EXPR_DEPTH
    {
        return Err(too_deep(policy_start.unwrap_or(0), 0, level.depth()));
    }
    Ok(starts)
}

fn too_deep(offset: usize, length: usize, depth: usize) -> Breach {
    Breach {
        offset,
        length: length.min(80),
        message: format!(
            "this expression nests {depth} levels deep here, more than the {MAX_EXPR_DEPTH} allowed"
        ),
    }
}

/// The exact check on a parsed policy: the depth of its conditions' expression tree, counted on Cedar's JSON
/// form (each expression node is an object with one key) with an explicit stack.
pub(crate) fn check_depth(policy: &Policy) -> Result<(), usize> {
    let json = policy.to_json().map_err(|_| 0usize)?;
    let depth = expression_depth(&json);
    if depth > MAX_EXPR_DEPTH {
        Err(depth)
    } else {
        Ok(())
    }
}

/// The largest number of one-key objects on a path from the root of `json`.
fn expression_depth(json: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(json, 0)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Object(map) => {
                let depth = depth + usize::from(map.len() == 1);
                deepest = deepest.max(depth);
                stack.extend(map.values().map(|v| (v, depth)));
            }
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth))),
            _ => {}
        }
    }
    deepest
}

/// A diagnostic for a policy whose parsed tree is deeper than allowed, at the policy's place in its source.
pub(crate) fn depth_diagnostic(
    name: &str,
    text: &str,
    offset: usize,
    length: usize,
    depth: usize,
) -> Diagnostic {
    limit_diagnostic(
        name,
        text,
        Breach {
            offset,
            length: length.min(80),
            message: if depth == 0 {
                "this policy cannot be measured, so it is refused".into()
            } else {
                format!(
                    "this policy's expression nests {depth} levels deep, more than the {MAX_EXPR_DEPTH} \
                     allowed"
                )
            },
        },
    )
}

/// Checks the total size of a set of sources (name, text), in order: the diagnostic names the source that
/// crosses the limit.
pub fn check_set_size<'a>(
    texts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), Diagnostic> {
    let mut total = 0usize;
    for (name, text) in texts {
        total = total.saturating_add(text.len());
        if total > MAX_SET_BYTES {
            return Err(Diagnostic::at(
                name,
                text,
                0,
                0,
                Severity::Error,
                Kind::Limit,
                format!("the policy set holds more than the {MAX_SET_BYTES} bytes allowed"),
            )
            .with_help(Some(
                "remove policies that are no longer needed, or merge ones that differ only in a \
                 value into one with a set (`[...].contains(...)`)"
                    .into(),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySchema, ScopeCheck, Source, validate};

    /// Stack for the threads the shapes are checked on: half of a blocking-pool thread's, so an overflow (or a
    /// margin that has worn thin) shows here first.
    const SMALL_STACK: usize = 1024 * 1024;

    /// Validates, compiles and decides `body` as a policy's condition on a small-stack thread; returns the
    /// diagnostics of kind `limit`.
    fn limit_diagnostics(body: &str) -> Vec<Diagnostic> {
        let text = format!("permit (principal, action, resource) when {{ {body} }};");
        let run = move || {
            let schema = PolicySchema::base().expect("base schema");
            let sources = [Source::new("deep.cedar", text)];
            let v = validate(&schema, &sources, ScopeCheck::Unchecked);
            let compiled = crate::policy::compile(&schema, Some("alice"), &sources);
            let resource = crate::policy::ResourceFacts {
                id: "r".into(),
                owner: "alice".into(),
                scopes: vec!["view".into()],
                name: None,
                kind: None,
            };
            let context = crate::policy::ContextFacts::default();
            let decision = crate::policy::decide(&compiled, None, &resource, "view", &context);
            let limited: Vec<Diagnostic> = v
                .diagnostics
                .into_iter()
                .filter(|d| d.kind == Kind::Limit)
                .collect();
            if !limited.is_empty() {
                assert!(!decision.is_permit(), "a refused set never permits");
                assert!(!compiled.problems().is_empty(), "and compiles to a deny");
            }
            limited
        };
        std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(run)
            .expect("thread")
            .join()
            .expect("no panic")
    }

    fn accepted(shape: &str, body: &str) {
        let limited = limit_diagnostics(body);
        assert!(limited.is_empty(), "{shape}: {limited:?}");
    }

    /// Refused with a located limit diagnostic that says the limit and how to restructure.
    fn refused(shape: &str, body: &str) -> Diagnostic {
        let limited = limit_diagnostics(body);
        let Some(d) = limited.first() else {
            panic!("{shape} was not refused")
        };
        assert_eq!(d.source, "deep.cedar", "{shape}");
        assert!(d.line >= 1 && d.column > 1, "{shape}: located: {d}");
        let help = d.help.as_deref().unwrap_or("");
        assert!(
            help.contains(&MAX_NESTING.to_string()) && help.contains("split"),
            "{shape}: {help}"
        );
        d.clone()
    }

    fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    }

    // `when {` is one level of nesting already.
    const INSIDE: usize = MAX_NESTING - 1;

    #[test]
    fn bracket_nesting_is_bounded_for_every_kind_of_bracket() {
        let shapes: [(&str, &str, &str, &str, &str); 5] = [
            ("parentheses", "(", "true", ")", ""),
            ("sets", "[", "1", "]", " == [1]"),
            ("records", "{a: ", "1", "}", " == {a: 1}"),
            ("calls", "ip(", "\"10.0.0.1\"", ")", " == ip(\"10.0.0.1\")"),
            ("or in parentheses", "(true || ", "true", ")", ""),
        ];
        for (name, open, inner, close, tail) in shapes {
            accepted(
                name,
                &format!("{}{tail}", nested(open, inner, close, INSIDE)),
            );
            let d = refused(
                name,
                &format!("{}{tail}", nested(open, inner, close, INSIDE + 1)),
            );
            assert!(
                d.message.contains("brackets nest more than 12"),
                "{name}: {d}"
            );
            refused(
                name,
                &format!("{}{tail}", nested(open, inner, close, 5_000)),
            );
        }
        // The issue's own shapes.
        refused("200 parentheses", &nested("(", "true", ")", 200));
        let mut eq = "(1 == 1)".to_owned();
        for _ in 0..150 {
            eq = format!("({eq} == true)");
        }
        refused("nested equalities", &eq);
    }

    #[test]
    fn operator_chains_are_bounded() {
        let chains: [(&str, &str, &str, &str); 7] = [
            ("and", "true", " && ", ""),
            ("or", "false", " || ", ""),
            ("plus", "1", " + ", " == 1"),
            ("times", "1", " * ", " == 1"),
            ("minus", "1", " - ", " == 1"),
            ("less than", "1 < 2", " && ", ""),
            ("equalities", "principal.sub == \"a\"", " || ", ""),
        ];
        for (name, operand, op, tail) in chains {
            let chain = |n: usize| format!("{}{tail}", vec![operand; n].join(op));
            accepted(name, &chain(MAX_EXPR_DEPTH - 8));
            let d = refused(name, &chain(MAX_EXPR_DEPTH + 1));
            assert!(d.message.contains("levels deep"), "{name}: {d}");
            refused(name, &chain(5_000));
        }
    }

    #[test]
    fn member_calls_conditionals_and_has_paths_are_bounded() {
        let shapes: [(&str, &dyn Fn(usize) -> String); 4] = [
            ("attribute chain", &|n| {
                format!("context{} == 1", ".a".repeat(n))
            }),
            ("contains chain", &|n| {
                format!("[1]{} == true", ".contains(1)".repeat(n))
            }),
            ("has path", &|n| {
                format!("context has {}", vec!["a"; n].join("."))
            }),
            ("if then else", &|n| {
                format!(
                    "{}true{}",
                    "if true then ".repeat(n),
                    " else false".repeat(n)
                )
            }),
        ];
        for (name, shape) in shapes {
            accepted(name, &shape(MAX_EXPR_DEPTH / 2 - 4));
            refused(name, &shape(MAX_EXPR_DEPTH + 1));
            refused(name, &shape(3_000));
        }
    }

    #[test]
    fn unary_runs_are_bounded() {
        accepted("!", &format!("{}true", "!".repeat(MAX_UNARY_RUN)));
        let d = refused("!", &format!("{}true", "!".repeat(MAX_UNARY_RUN + 1)));
        assert!(d.message.contains("unary"), "{d}");
        refused("!", &format!("{}true", "!".repeat(10_000)));
        accepted("-", &format!("{}1 == 1", "-".repeat(MAX_UNARY_RUN)));
        refused("-", &format!("{}1 == 1", "- ".repeat(5_000)));
        accepted("subtraction", "1 - -1 == 2 && !(1 != 2) == false");
    }

    #[test]
    fn brackets_and_operators_in_strings_and_comments_do_not_count() {
        let deep = "(((((((((((((((((((((((((||&&||&&!!!!!!!!-----";
        accepted(
            "string",
            &format!("principal.sub == \"{deep}\\\"{deep}\" && \"x\" like \"*{deep}*\""),
        );
        accepted("comment", &format!("// {deep}\n true"));
        let text = format!(
            "// {deep}\npermit (principal, action, resource) when {{ principal.sub == \"{deep}\" }};"
        );
        assert!(prescan("c", &text).is_ok());
        // A long, flat `like` pattern is no deep tree.
        accepted("like", &format!("\"a\" like \"{}\"", "*a".repeat(4_000)));
    }

    #[test]
    fn sizes_are_bounded_per_policy_source_and_set() {
        let policy = format!(
            "permit (principal, action, resource) when {{ principal.sub == \"{}\" }};\n",
            "x".repeat(MAX_POLICY_BYTES)
        );
        let d = prescan("big", &policy).expect_err("a policy over the limit");
        assert!(d.message.contains("this policy is"), "{d}");
        let small = "permit (principal, action, resource) when { principal.sub == \"x\" };\n";
        let source = small.repeat(MAX_SOURCE_BYTES / small.len() + 1);
        let d = prescan("many", &source).expect_err("a source over the limit");
        assert!(d.message.contains("this source is"), "{d}");
        let fits = small.repeat(MAX_SOURCE_BYTES / small.len());
        assert!(prescan("fits", &fits).is_ok());

        let names: Vec<String> = (0..MAX_SET_BYTES / fits.len() + 1)
            .map(|i| format!("p{i}"))
            .collect();
        let set: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), fits.as_str())).collect();
        let d = check_set_size(set.iter().copied()).expect_err("a set over the limit");
        assert_eq!(d.kind, Kind::Limit);
        assert!(check_set_size(set.iter().skip(1).copied()).is_ok());
    }

    #[test]
    fn the_exact_check_measures_the_parsed_tree() {
        use std::str::FromStr;
        // Parsing a flat chain is safe (Cedar keeps it flat while parsing), so the exact check can be shown
        // on its own here.
        let chain = |n: usize| {
            let body = vec!["true"; n].join(" && ");
            Policy::from_str(&format!(
                "permit (principal, action, resource) when {{ {body} }};"
            ))
            .expect("parses")
        };
        let run = move || {
            (
                check_depth(&chain(MAX_EXPR_DEPTH - 8)),
                check_depth(&chain(MAX_EXPR_DEPTH + 8)),
            )
        };
        let (shallow, deep) = std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(run)
            .expect("thread")
            .join()
            .expect("no panic");
        assert_eq!(shallow, Ok(()));
        assert!(deep.is_err_and(|d| d > MAX_EXPR_DEPTH), "{deep:?}");
    }

    #[test]
    fn schema_nesting_and_size_are_bounded() {
        let deep = format!(
            "namespace Uma {{ entity User = {{ a: {} }}; }}",
            nested("{ a: ", "String", " }", 5_000)
        );
        let d = prescan_schema("deep.cedarschema", &deep).expect_err("too deep");
        assert_eq!(d.kind, Kind::Limit);
        assert!(
            d.help.as_deref().unwrap_or("").contains("common types"),
            "{d}"
        );
        let json = nested("{\"a\": ", "1", "}", 5_000);
        assert!(prescan_schema("deep.json", &json).is_err());
        assert!(prescan_schema("base", crate::policy::BASE_SCHEMA).is_ok());
        let big = " ".repeat(MAX_SCHEMA_BYTES + 1);
        assert!(prescan_schema("big", &big).is_err());
    }
}
