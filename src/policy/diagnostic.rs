//! Located diagnostics about policy and schema sources: what is wrong, where (source, line, column) and what
//! to do about it. They are plain data so the CLI, the HTTP API and the store can carry them; this module turns
//! them into text for people (miette, with the offending line and a caret) and into JSON for tools.
//!
//! It must never lose the location a diagnostic came with, and never print a source's text anywhere but in
//! the rendering a caller asked for.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

/// How bad a diagnostic is: errors refuse a write (or fail `validate`), warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
        }
    }
}

/// What kind of problem a diagnostic reports, for tools that sort or count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The text is not Cedar.
    Syntax,
    /// The policy does not type-check against the schema (unknown attribute, entity type, ...).
    Validation,
    /// The policy names a scope outside the known scopes.
    UnknownScope,
    /// The policy is a template (with `?principal` or `?resource`), which owners' sets do not support.
    Template,
    /// The source holds no policy at all.
    Empty,
    /// The schema itself is wrong, or breaks the published vocabulary.
    Schema,
    /// The text is too large or nests too deep to be parsed and evaluated safely.
    Limit,
}

/// One located diagnostic. `line` and `column` start at 1; `offset` and `length` are in bytes of the source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    /// The name of the source (a policy name, a file path, or the schema's name).
    pub source: String,
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub length: usize,
    pub severity: Severity,
    pub kind: Kind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at byte `offset` (clamped to the text) of `text`.
    pub fn at(
        source: &str,
        text: &str,
        offset: usize,
        length: usize,
        severity: Severity,
        kind: Kind,
        message: impl Into<String>,
    ) -> Self {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let length = length.min(text.len() - offset);
        let (line, column) = line_column(text, offset);
        Self {
            source: source.to_owned(),
            line,
            column,
            offset,
            length,
            severity,
            kind,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The JSON form tools read (`--format json`, the HTTP API).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `source:line:column: severity: message (help: ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.source,
            self.line,
            self.column,
            self.severity.as_str(),
            self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// The largest char boundary at or below `offset`, so slicing and spans never split a character.
fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Lets miette draw one of our diagnostics over its source text.
#[derive(Debug)]
struct Drawable<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Display for Drawable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Drawable<'_> {}

impl miette::Diagnostic for Drawable<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = SourceSpan::new(self.diagnostic.offset.into(), self.diagnostic.length);
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".to_owned()),
            span,
        ))))
    }
}

/// Renders diagnostics for people: each with `source:line:column`, the offending line and a caret under the
/// problem, and its help. `text_of` gives the text of a source by name (None draws the message alone).
/// `color` turns on ANSI colors (for a terminal).
pub fn render<'a>(
    diagnostics: &[Diagnostic],
    text_of: impl Fn(&str) -> Option<&'a str>,
    color: bool,
) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    for d in diagnostics {
        match text_of(&d.source) {
            Some(text) => {
                let drawable = Drawable {
                    diagnostic: d,
                    source: NamedSource::new(&d.source, text.to_owned()),
                };
                if handler.render_report(&mut out, &drawable).is_err() {
                    out.push_str(&d.to_string());
                }
                // miette names the place as `[source:line:column]` in the frame; keep a plain line too, which
                // editors and CI annotations pick up.
                out.push_str(&format!("  --> {}:{}:{}\n", d.source, d.line, d.column));
            }
            None => {
                out.push_str(&d.to_string());
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\ncé\nxyz";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        // `é` is two bytes: the `\n` after it is the third character of line 2.
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 7), (3, 1));
    }

    #[test]
    fn offsets_are_clamped_to_the_text_and_char_boundaries() {
        let d = Diagnostic::at("s", "é", 1, 10, Severity::Error, Kind::Syntax, "m");
        assert_eq!((d.offset, d.length), (0, 2));
        let d = Diagnostic::at("s", "ab", 99, 1, Severity::Error, Kind::Syntax, "m");
        assert_eq!((d.offset, d.length, d.column), (2, 0, 3));
    }

    #[test]
    fn render_shows_location_caret_and_help() {
        let text = "permit(principal, action, resource)\nwhen { principal.emial == \"x\" };\n";
        let offset = text.find("principal.emial").expect("present");
        let d = Diagnostic::at(
            "spouse.cedar",
            text,
            offset,
            15,
            Severity::Error,
            Kind::Validation,
            "attribute `emial` not found",
        )
        .with_help(Some("did you mean `email`?".into()));
        let out = render(std::slice::from_ref(&d), |_| Some(text), false);
        assert!(out.contains("spouse.cedar:2:8"), "{out}");
        assert!(out.contains("attribute `emial` not found"), "{out}");
        assert!(out.contains("did you mean `email`?"), "{out}");
        assert!(out.contains("when { principal.emial"), "{out}");
        assert!(out.contains('┬') || out.contains('^'), "a caret: {out}");
    }

    #[test]
    fn json_form_names_every_field() {
        let d = Diagnostic::at("a", "xy", 1, 1, Severity::Warning, Kind::UnknownScope, "m")
            .with_help(Some("h".into()));
        assert_eq!(
            d.to_json(),
            serde_json::json!({"source": "a", "line": 1, "column": 2, "offset": 1, "length": 1,
                "severity": "warning", "kind": "unknown_scope", "message": "m", "help": "h"})
        );
    }
}
