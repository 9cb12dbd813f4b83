//! The share form's policy: who (an email address, a local username or a group) may use which scopes of one
//! resource, optionally until a time and optionally only after the owner approves (`@ask`). The result is a
//! named, commented Cedar policy the owner reads before saving; it is stored like any other policy of hers
//! (through [`super::Policies::push`]), so she can narrow or remove it later.
//!
//! Every value from the form is written as an escaped Cedar string and comments are kept on one line, so
//! nothing typed into the form can change the policy's meaning beyond what the form says.

use std::fmt::Write as _;

use crate::clock::UnixTime;
use crate::policy::{approval_date, cedar_string, comment_text};

/// Whom a share is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Anyone whose verified claims carry this email address.
    Email(String),
    /// A user of this server (claims issued by this server with this subject).
    Username(String),
    /// Anyone whose issuer lists this group in the `groups` claim.
    Group(String),
}

impl Who {
    fn describe(&self) -> String {
        match self {
            Self::Email(email) => comment_text(email),
            Self::Username(name) => format!("user {}", comment_text(name)),
            Self::Group(group) => format!("members of group {}", comment_text(group)),
        }
    }

    fn value(&self) -> &str {
        match self {
            Self::Email(v) | Self::Username(v) | Self::Group(v) => v,
        }
    }
}

/// What a share grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share<'a> {
    pub who: &'a Who,
    /// This server's issuer identifier: a username is a subject of this issuer only.
    pub issuer: &'a str,
    pub resource_id: &'a str,
    /// The resource's name, for the comment only.
    pub resource_name: Option<&'a str>,
    pub scopes: &'a [String],
    pub until: Option<UnixTime>,
    /// Hold each request for the owner's approval instead of granting at once.
    pub ask: bool,
    /// When the share is made, for the comment.
    pub now: UnixTime,
}

/// The policy's source text.
pub fn share_policy(s: &Share<'_>) -> String {
    let mut text = String::new();
    let what = match s.resource_name {
        Some(name) => format!("{} ({})", comment_text(name), comment_text(s.resource_id)),
        None => comment_text(s.resource_id),
    };
    let scopes: Vec<String> = s.scopes.iter().map(|x| comment_text(x)).collect();
    let _ = writeln!(
        text,
        "// Shared on {}: {} may {} {what}.",
        approval_date(s.now),
        s.who.describe(),
        scopes.join(", ")
    );
    if let Some(until) = s.until {
        let _ = writeln!(text, "// Valid until {}.", approval_date(until));
    }
    if s.ask {
        let _ = writeln!(text, "// Each request waits for your approval.");
        text.push_str("@ask\n");
    }
    let actions: Vec<String> = s
        .scopes
        .iter()
        .map(|x| format!("Uma::Action::\"{}\"", cedar_string(x)))
        .collect();
    let _ = writeln!(
        text,
        "permit (\n  principal,\n  action in [{}],\n  resource == Uma::Resource::\"{}\"\n)",
        actions.join(", "),
        cedar_string(s.resource_id)
    );
    let value = cedar_string(s.who.value());
    let mut conditions = vec![match s.who {
        Who::Email(_) => format!("principal has email && principal.email == \"{value}\""),
        Who::Username(_) => format!(
            "principal.iss == \"{}\" && principal.sub == \"{value}\"",
            cedar_string(s.issuer)
        ),
        Who::Group(_) => format!("principal has groups && principal.groups.contains(\"{value}\")"),
    }];
    if let Some(until) = s.until {
        conditions.push(format!(
            "context.time < datetime(\"{}\")",
            approval_date(until)
        ));
    }
    let _ = writeln!(text, "when {{ {} }};", conditions.join(" && "));
    text
}

/// A policy name for the share: `share-<who>-<resource>`, with every character a name may not hold replaced,
/// cut to the length a name may have.
pub fn share_name(who: &Who, resource_id: &str) -> String {
    let clean = |v: &str| -> String {
        v.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let name = format!("share-{}-{}", clean(who.value()), clean(resource_id));
    name.chars().take(super::policies::MAX_NAME_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySchema, ScopeCheck, Source, validate};

    fn share(who: &Who, until: Option<UnixTime>, ask: bool) -> String {
        share_policy(&Share {
            who,
            issuer: "https://as.example",
            resource_id: "res-1",
            resource_name: Some("Photos"),
            scopes: &["view".to_owned(), "edit".to_owned()],
            until,
            ask,
            now: 0,
        })
    }

    fn assert_valid(text: &str) {
        let schema = PolicySchema::base().expect("schema");
        let v = validate(&schema, &[Source::new("s", text)], ScopeCheck::Unchecked);
        assert!(v.is_valid(), "{text}\n{:?}", v.diagnostics);
    }

    #[test]
    fn each_kind_of_share_validates_against_the_schema() {
        for who in [
            Who::Email("bob@example.com".into()),
            Who::Username("bob".into()),
            Who::Group("family".into()),
        ] {
            assert_valid(&share(&who, None, false));
            assert_valid(&share(&who, Some(1_800_000_000), true));
        }
    }

    #[test]
    fn the_text_says_what_the_form_said() {
        let text = share(
            &Who::Email("bob@example.com".into()),
            Some(1_800_000_000),
            true,
        );
        assert!(
            text.contains("principal.email == \"bob@example.com\""),
            "{text}"
        );
        assert!(text.contains("Uma::Action::\"view\", Uma::Action::\"edit\""));
        assert!(text.contains("resource == Uma::Resource::\"res-1\""));
        assert!(text.contains("context.time < datetime(\"2027-01-15T08:00:00Z\")"));
        assert!(text.contains("\n@ask\npermit"));
        let username = share(&Who::Username("bob".into()), None, false);
        assert!(
            username
                .contains("principal.iss == \"https://as.example\" && principal.sub == \"bob\"")
        );
        assert!(!username.contains("@ask") && !username.contains("context.time"));
    }

    #[test]
    fn hostile_values_stay_inside_strings_and_comments() {
        let who = Who::Email("x\" || true || \"\n// permit".into());
        let text = share(&who, None, false);
        assert_valid(&text);
        assert!(text.contains("x\\\" || true || \\\""), "{text}");
        assert_eq!(text.matches("permit (").count(), 1);
    }

    #[test]
    fn names_are_valid_policy_names() {
        let name = share_name(&Who::Email("bob@example.com".into()), "res-1");
        assert_eq!(name, "share-bob-example.com-res-1");
        assert!(super::super::policies::check_name(&name).is_ok());
        let long = share_name(&Who::Group("g".repeat(100)), "r");
        assert!(super::super::policies::check_name(&long).is_ok());
    }
}
