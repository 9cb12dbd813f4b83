//! The owner console's share form turned into a policy: who (an email, a local username or a group), one of
//! her resources, some of its registered scopes, an optional end date and an optional "ask me first". The
//! result is one named, commented Cedar policy, written like an approval (see [`crate::policy::approval_policy`]):
//! every value the form carried is an escaped Cedar string and comment text stays on one line, so nothing
//! typed into the form can change the policy's meaning. The caller stores it with [`super::Policies::push`],
//! which validates it against the schema like any other policy.
//!
//! This module must never write a policy wider than the form asked for: one resource, only scopes that
//! resource is registered with, one person or group.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::clock::UnixTime;
use crate::policy::{self, approval_date, cedar_string, comment_text};
use crate::protocol::uma::Resource;

use super::policies::MAX_NAME_LEN;

/// The longest email, username or group name a share names (RFC 5321 bounds an address to 254).
pub const MAX_WHO_LEN: usize = 254;

/// Whom the owner shares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Anyone whose verified claims carry this email, from any trusted issuer that verified it.
    Email(String),
    /// A local account of this server, by username (`sub` at this server's issuer).
    Username(String),
    /// Anyone whose `groups` claim lists this group.
    Group(String),
}

/// A filled-in share form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareForm {
    pub who: Who,
    /// Scopes of the resource to share; each must be registered on it.
    pub scopes: Vec<String>,
    /// The end of the permission, if any.
    pub until: Option<UnixTime>,
    /// Hold each request for the owner's answer instead of granting it (`@ask`).
    pub ask_first: bool,
}

/// A share form that cannot become a policy, each with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("choose at least one scope to share")]
    NoScopes,
    #[error("`{scope}` is not a scope of this resource; its scopes are: {registered}")]
    UnknownScope { scope: String, registered: String },
    #[error("{} is not an email address (write it as name@example.com)", crate::error::quoted(.0))]
    BadEmail(String),
    #[error("{} is not a username or group name (1 to {MAX_WHO_LEN} printable characters, no spaces)", crate::error::quoted(.0))]
    BadName(String),
    #[error("the end date must be later than now")]
    UntilPast,
}

/// The policy a share form becomes: its name (unique in the owner's set) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub name: String,
    pub text: String,
}

/// The policy for `form` on `resource`, named so that it takes none of `existing` names. `issuer` is this
/// server's issuer, which local usernames are subjects of; `now` dates the comment and checks `until`.
pub fn share_policy(
    form: &ShareForm,
    resource: &Resource,
    issuer: &str,
    existing: &BTreeSet<String>,
    now: UnixTime,
) -> Result<Shared, ShareError> {
    let scopes = checked_scopes(&form.scopes, resource)?;
    check_who(&form.who)?;
    if form.until.is_some_and(|until| until <= now) {
        return Err(ShareError::UntilPast);
    }
    let name = unique_name(&base_name(&form.who, resource), existing);

    let mut text = String::new();
    let label = resource
        .description
        .name
        .as_deref()
        .map(|n| format!("{} ({})", comment_text(n), comment_text(&resource.id)))
        .unwrap_or_else(|| comment_text(&resource.id));
    let _ = writeln!(
        text,
        "// Shared from the owner console on {}: {} may use {} with {}.",
        approval_date(now),
        who_text(&form.who),
        label,
        comment_text(&scopes.join(", "))
    );
    if let Some(until) = form.until {
        let _ = writeln!(text, "// Valid until {}.", approval_date(until));
    }
    if form.ask_first {
        let _ = writeln!(
            text,
            "// Ask first: each request is held until the owner approves or denies it."
        );
        let _ = writeln!(
            text,
            "@{}(\"shared with {}\")",
            policy::ASK,
            cedar_string(&who_text(&form.who))
        );
    }
    let actions: Vec<String> = scopes
        .iter()
        .map(|s| format!("Uma::Action::\"{}\"", cedar_string(s)))
        .collect();
    let principal = match &form.who {
        Who::Username(user) => format!(
            "principal == Uma::User::\"{}\"",
            cedar_string(&serde_json::Value::from(vec![issuer, user.as_str()]).to_string())
        ),
        Who::Email(_) | Who::Group(_) => "principal".to_owned(),
    };
    let _ = write!(
        text,
        "permit (\n  {principal},\n  action in [{}],\n  resource == Uma::Resource::\"{}\"\n)",
        actions.join(", "),
        cedar_string(&resource.id)
    );
    let mut conditions = Vec::new();
    match &form.who {
        Who::Email(email) => conditions.push(format!(
            "principal has email && principal.email == \"{}\" &&\n  principal has email_verified && principal.email_verified",
            cedar_string(email)
        )),
        Who::Group(group) => conditions.push(format!(
            "principal has groups && principal.groups.contains(\"{}\")",
            cedar_string(group)
        )),
        Who::Username(_) => {}
    }
    if let Some(until) = form.until {
        conditions.push(format!(
            "context.time < datetime(\"{}\")",
            approval_date(until)
        ));
    }
    if !conditions.is_empty() {
        let _ = write!(text, "\nwhen {{\n  {}\n}}", conditions.join(" &&\n  "));
    }
    text.push_str(";\n");
    Ok(Shared { name, text })
}

/// The form's scopes, without duplicates, in the resource's registration order; each must be registered.
fn checked_scopes<'a>(
    wanted: &[String],
    resource: &'a Resource,
) -> Result<Vec<&'a str>, ShareError> {
    let registered = &resource.description.resource_scopes;
    if wanted.is_empty() {
        return Err(ShareError::NoScopes);
    }
    if let Some(unknown) = wanted.iter().find(|w| !registered.contains(w)) {
        return Err(ShareError::UnknownScope {
            scope: comment_text(unknown),
            registered: registered.join(", "),
        });
    }
    Ok(registered
        .iter()
        .filter(|r| wanted.contains(r))
        .map(String::as_str)
        .collect())
}

fn check_who(who: &Who) -> Result<(), ShareError> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_WHO_LEN
            && s.chars().all(|c| !c.is_control() && !c.is_whitespace())
    };
    match who {
        Who::Email(email) => {
            let ok = plain(email)
                && email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                });
            if ok {
                Ok(())
            } else {
                Err(ShareError::BadEmail(email.clone()))
            }
        }
        Who::Username(name) | Who::Group(name) => {
            if plain(name) {
                Ok(())
            } else {
                Err(ShareError::BadName(name.clone()))
            }
        }
    }
}

fn who_text(who: &Who) -> String {
    match who {
        Who::Email(email) => comment_text(email),
        Who::Username(user) => format!("user {}", comment_text(user)),
        Who::Group(group) => format!("group {}", comment_text(group)),
    }
}

/// `share-<who>-<resource>`, reduced to the characters a policy name may hold.
fn base_name(who: &Who, resource: &Resource) -> String {
    let who = match who {
        Who::Email(email) => email.split('@').next().unwrap_or_default(),
        Who::Username(user) => user.as_str(),
        Who::Group(group) => group.as_str(),
    };
    let resource = resource
        .description
        .name
        .as_deref()
        .unwrap_or(resource.id.as_str());
    let mut name = format!("share-{}-{}", slug(who), slug(resource));
    // Room for a `-NNN` suffix.
    truncate(&mut name, MAX_NAME_LEN - 4);
    name.trim_end_matches('-').to_owned()
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "x".to_owned()
    } else {
        out.to_owned()
    }
}

fn truncate(name: &mut String, max: usize) {
    // The name is ASCII, so any byte index is a character boundary.
    if name.len() > max {
        name.truncate(max);
    }
}

/// `base`, or `base-2`, `base-3`, ... whichever `existing` does not hold.
fn unique_name(base: &str, existing: &BTreeSet<String>) -> String {
    if !existing.contains(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !existing.contains(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySchema, ScopeCheck, Source, validate};
    use crate::protocol::uma::Description;

    const ISS: &str = "https://as.example";
    const NOW: UnixTime = 1_790_000_000;

    fn photos() -> Resource {
        Resource {
            id: "res-1".into(),
            owner: "alice".into(),
            client_id: "photos-rs".into(),
            description: Description {
                resource_scopes: vec!["view".into(), "edit".into(), "delete".into()],
                name: Some("Holiday photos".into()),
                ..Description::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn form(who: Who, scopes: &[&str]) -> ShareForm {
        ShareForm {
            who,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            until: None,
            ask_first: false,
        }
    }

    fn valid(shared: &Shared) {
        let schema = PolicySchema::base().expect("base schema");
        let scopes: BTreeSet<String> = photos().description.resource_scopes.into_iter().collect();
        let result = validate(
            &schema,
            &[Source::new(shared.name.clone(), shared.text.clone())],
            ScopeCheck::Error(&scopes),
        );
        assert!(
            result.is_valid(),
            "{}\n{:?}",
            shared.text,
            result.diagnostics
        );
        assert_eq!(result.policy_counts, vec![1], "{}", shared.text);
    }

    #[test]
    fn each_kind_of_who_becomes_a_valid_named_policy() {
        let none = BTreeSet::new();
        let email = share_policy(
            &form(Who::Email("bob@example.com".into()), &["view"]),
            &photos(),
            ISS,
            &none,
            NOW,
        )
        .expect("email");
        valid(&email);
        assert_eq!(email.name, "share-bob-holiday-photos");
        assert!(
            email
                .text
                .contains("principal.email == \"bob@example.com\""),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("principal.email_verified"),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("resource == Uma::Resource::\"res-1\""),
            "{}",
            email.text
        );
        assert!(
            email.text.starts_with("// Shared from the owner console"),
            "{}",
            email.text
        );

        let user = share_policy(
            &form(Who::Username("bob".into()), &["view", "edit"]),
            &photos(),
            ISS,
            &none,
            NOW,
        )
        .expect("user");
        valid(&user);
        assert!(
            user.text
                .contains(r#"principal == Uma::User::"[\"https://as.example\",\"bob\"]""#),
            "{}",
            user.text
        );
        assert!(
            user.text
                .contains(r#"action in [Uma::Action::"view", Uma::Action::"edit"]"#),
            "{}",
            user.text
        );

        let group = share_policy(
            &form(Who::Group("family".into()), &["view"]),
            &photos(),
            ISS,
            &none,
            NOW,
        )
        .expect("group");
        valid(&group);
        assert!(
            group.text.contains("principal.groups.contains(\"family\")"),
            "{}",
            group.text
        );
    }

    #[test]
    fn until_and_ask_first_are_written_as_the_approvals_write_them() {
        let mut f = form(Who::Email("bob@example.com".into()), &["view"]);
        f.until = Some(NOW + 86_400);
        f.ask_first = true;
        let shared = share_policy(&f, &photos(), ISS, &BTreeSet::new(), NOW).expect("share");
        valid(&shared);
        let until = format!(
            "context.time < datetime(\"{}\")",
            approval_date(NOW + 86_400)
        );
        assert!(shared.text.contains(&until), "{}", shared.text);
        assert!(
            shared
                .text
                .contains("@ask(\"shared with bob@example.com\")"),
            "{}",
            shared.text
        );
    }

    #[test]
    fn the_name_is_unique_in_her_set() {
        let mut existing = BTreeSet::from(["share-bob-holiday-photos".to_owned()]);
        let f = form(Who::Email("bob@example.com".into()), &["view"]);
        assert_eq!(
            share_policy(&f, &photos(), ISS, &existing, NOW)
                .expect("2")
                .name,
            "share-bob-holiday-photos-2"
        );
        existing.insert("share-bob-holiday-photos-2".into());
        assert_eq!(
            share_policy(&f, &photos(), ISS, &existing, NOW)
                .expect("3")
                .name,
            "share-bob-holiday-photos-3"
        );
        let long = form(Who::Group("g".repeat(200)), &["view"]);
        let name = share_policy(&long, &photos(), ISS, &existing, NOW)
            .expect("long")
            .name;
        assert!(super::super::policies::check_name(&name).is_ok(), "{name}");
    }

    #[test]
    fn bad_forms_are_refused_with_what_to_change() {
        let none = BTreeSet::new();
        let share = |f: ShareForm| share_policy(&f, &photos(), ISS, &none, NOW);
        assert_eq!(
            share(form(Who::Email("bob@example.com".into()), &[])),
            Err(ShareError::NoScopes)
        );
        let unknown = share(form(
            Who::Email("bob@example.com".into()),
            &["view", "print"],
        ))
        .expect_err("unknown");
        assert_eq!(
            unknown,
            ShareError::UnknownScope {
                scope: "print".into(),
                registered: "view, edit, delete".into()
            }
        );
        for bad in [
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bob @example.com",
            "a@b@c.d",
            "bob@x.com\n",
        ] {
            assert_eq!(
                share(form(Who::Email(bad.into()), &["view"])),
                Err(ShareError::BadEmail(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            share(form(Who::Group(String::new()), &["view"])),
            Err(ShareError::BadName(String::new()))
        );
        assert!(matches!(
            share(form(Who::Username("x".repeat(300)), &["view"])),
            Err(ShareError::BadName(_))
        ));
        let mut past = form(Who::Email("bob@example.com".into()), &["view"]);
        past.until = Some(NOW);
        assert_eq!(share(past), Err(ShareError::UntilPast));
    }

    #[test]
    fn hostile_form_values_stay_inside_strings() {
        let mut r = photos();
        r.id = "r\"1) || true; permit (principal, action, resource".into();
        r.description.name = Some("x\n permit (principal, action, resource);".into());
        let f = form(
            Who::Group("g\");permit(principal,action,resource);//".into()),
            &["view"],
        );
        let shared = share_policy(&f, &r, ISS, &BTreeSet::new(), NOW).expect("share");
        let schema = PolicySchema::base().expect("base schema");
        let result = validate(
            &schema,
            &[Source::new(shared.name.clone(), shared.text.clone())],
            ScopeCheck::Unchecked,
        );
        assert_eq!(result.policy_counts, vec![1], "{}", shared.text);
        assert!(
            super::super::policies::check_name(&shared.name).is_ok(),
            "{}",
            shared.name
        );
    }
}
