//! The Cedar text of an owner's approval of a held request (UMA Grant §3.3.6): one named, commented policy
//! that permits exactly that requesting party those scopes on that resource, optionally until a time. It goes
//! into the owner's set like any policy she writes, so she can read, narrow or remove it.
//!
//! Every value from the request is written as an escaped Cedar string, and comment text is kept on one line,
//! so nothing a requesting party or client chose can change the policy's meaning.

use std::fmt::Write as _;

use crate::clock::UnixTime;

/// What an approval permits, and the facts its comment records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval<'a> {
    /// The held request's id.
    pub request_id: &'a str,
    /// The requesting party's issuer and subject.
    pub iss: &'a str,
    pub sub: &'a str,
    /// A readable name for the party (an email, say), for the comment only.
    pub display: Option<&'a str>,
    /// The client that asked, for the comment only.
    pub client_id: &'a str,
    pub resource_id: &'a str,
    pub scopes: &'a [String],
    /// When the owner approved.
    pub approved_at: UnixTime,
    /// The end of the permission, if any.
    pub until: Option<UnixTime>,
}

/// The policy's source text. The principal is the entity the decision builds from the party's `iss` and
/// `sub` (see [`super::Claims::principal_id`]), so the permit applies to that party only, whoever's client.
pub fn approval_policy(a: &Approval<'_>) -> String {
    let principal = serde_json::Value::from(vec![a.iss, a.sub]).to_string();
    let mut text = String::new();
    let who = match a.display {
        Some(name) => format!(
            "{} ({} at {})",
            one_line(name),
            one_line(a.sub),
            one_line(a.iss)
        ),
        None => format!("{} at {}", one_line(a.sub), one_line(a.iss)),
    };
    let _ = writeln!(
        text,
        "// Approved request {} on {}.",
        one_line(a.request_id),
        date(a.approved_at)
    );
    let _ = writeln!(
        text,
        "// Requesting party: {who}; client: {}.",
        one_line(a.client_id)
    );
    if let Some(until) = a.until {
        let _ = writeln!(text, "// Valid until {}.", date(until));
    }
    let actions: Vec<String> = a
        .scopes
        .iter()
        .map(|s| format!("Uma::Action::\"{}\"", escape(s)))
        .collect();
    let _ = write!(
        text,
        "permit (\n  principal == Uma::User::\"{}\",\n  action in [{}],\n  resource == Uma::Resource::\"{}\"\n)",
        escape(&principal),
        actions.join(", "),
        escape(a.resource_id)
    );
    if let Some(until) = a.until {
        let _ = write!(
            text,
            "\nwhen {{ context.time < datetime(\"{}\") }}",
            date(until)
        );
    }
    text.push_str(";\n");
    text
}

/// A Cedar string literal's content for `value`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside a `//` comment: control characters (a newline would end the comment) become spaces.
pub fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// RFC 3339 in UTC, as Cedar's `datetime` reads it.
pub fn date(time: UnixTime) -> String {
    chrono::DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_inside_strings_and_comments() {
        let scopes = vec!["view\"); permit (principal, action, resource".to_owned()];
        let text = approval_policy(&Approval {
            request_id: "r1",
            iss: "https://as.example",
            sub: "bob\n permit (principal, action, resource);",
            display: Some("x\ny"),
            client_id: "app",
            resource_id: "res\\1",
            scopes: &scopes,
            approved_at: 0,
            until: Some(86_400),
        });
        // One policy only, whatever the values held.
        let set: cedar_policy::PolicySet = text.parse().expect("parses");
        assert_eq!(set.policies().count(), 1, "{text}");
        assert!(
            text.contains("datetime(\"1970-01-02T00:00:00Z\")"),
            "{text}"
        );
        assert!(text.lines().all(|l| !l.starts_with(" permit")), "{text}");
    }
}
