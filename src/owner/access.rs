//! Who can use each of the owner's resources, with which scopes and by which policy ("bob@example.com: view
//! — policy spouse-read-only"), read off her policies through [`crate::policy::summarize`].
//!
//! Best effort and honest: a permit whose principal condition is too complex reads "people matching policy
//! X"; a forbid that is decidably in force (no condition, or the same person with no other condition) takes its
//! scopes away; any other forbid that could apply is named in `unless` rather than guessed about. It must never
//! show one owner's policies against another's resources: the caller passes her resources, and only her
//! policies are read.

use crate::policy::{self, Summary, Who};
use crate::protocol::uma::Resource;
use crate::store::{PolicyRead, StoreError};

/// One "who can use it" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// A readable name: an email, "user bob", "group doctors", "anyone", or "people matching policy X".
    pub who: String,
    pub scopes: Vec<String>,
    /// The policy that says so.
    pub policy: String,
    /// Held for her answer first (`@ask`).
    pub ask: bool,
    /// The end of the permit, if it has one.
    pub until: Option<String>,
    /// Further conditions (on the resource's type, the client, ...) may narrow it.
    pub conditional: bool,
    /// Forbid policies that may take it away in some cases.
    pub unless: Vec<String>,
}

impl Holder {
    /// `bob@example.com: view, edit — policy spouse-read-only`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} — policy {}",
            self.who,
            self.scopes.join(", "),
            self.policy
        )
    }
}

/// Who can use one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceAccess {
    pub resource_id: String,
    pub name: Option<String>,
    pub holders: Vec<Holder>,
}

/// What her stored policies say about each of `resources` (hers).
pub fn who_can_use(
    reader: &impl PolicyRead,
    owner: &str,
    resources: &[Resource],
) -> Result<Vec<ResourceAccess>, StoreError> {
    let texts = reader.policy_texts(owner)?;
    let mine: Vec<&Resource> = resources.iter().filter(|r| r.owner == owner).collect();
    Ok(access(&texts, &mine))
}

/// The summary of `(name, text)` policies over `resources`.
pub fn access(texts: &[(String, String)], resources: &[&Resource]) -> Vec<ResourceAccess> {
    // A stored policy validated when it was written; one that no longer parses shows nobody.
    let summaries: Vec<(&str, Summary)> = texts
        .iter()
        .flat_map(|(name, text)| {
            policy::summarize(text)
                .unwrap_or_default()
                .into_iter()
                .map(move |s| (name.as_str(), s))
        })
        .collect();
    resources
        .iter()
        .map(|resource| ResourceAccess {
            resource_id: resource.id.clone(),
            name: resource.description.name.clone(),
            holders: holders(&summaries, resource),
        })
        .collect()
}

fn holders(summaries: &[(&str, Summary)], resource: &Resource) -> Vec<Holder> {
    let registered = &resource.description.resource_scopes;
    let forbids: Vec<&(&str, Summary)> = summaries
        .iter()
        .filter(|(_, s)| !s.permit && s.resources.allows(&resource.id))
        .collect();
    let mut out = Vec::new();
    for (name, permit) in summaries.iter().filter(|(_, s)| s.permit) {
        if !permit.resources.allows(&resource.id) {
            continue;
        }
        let mut unless = Vec::new();
        let scopes: Vec<String> = registered
            .iter()
            .filter(|scope| permit.scopes.allows(scope))
            .filter(|scope| {
                let mut shadowed = false;
                for (forbid_name, forbid) in forbids.iter().filter(|(_, f)| f.scopes.allows(scope))
                {
                    let certain = forbid.until.is_none()
                        && !forbid.other_conditions
                        && (forbid.who == Who::Anyone
                            || (forbid.who == permit.who && forbid.who != Who::Matching));
                    if certain {
                        shadowed = true;
                    } else if !unless.contains(&forbid_name.to_string()) {
                        unless.push((*forbid_name).to_owned());
                    }
                }
                !shadowed
            })
            .cloned()
            .collect();
        if scopes.is_empty() {
            continue;
        }
        out.push(Holder {
            who: who_text(&permit.who, name),
            scopes,
            policy: (*name).to_owned(),
            ask: permit.ask,
            until: permit.until.clone(),
            conditional: permit.other_conditions,
            unless,
        });
    }
    out
}

fn who_text(who: &Who, policy: &str) -> String {
    match who {
        Who::Anyone => "anyone".to_owned(),
        Who::Party { iss, sub } => format!("{sub} at {iss}"),
        Who::Email(email) => email.clone(),
        Who::Group(group) => format!("group {group}"),
        Who::Username(user) => format!("user {user}"),
        Who::Matching => format!("people matching policy {policy}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::uma::Description;

    fn resource(id: &str, owner: &str, scopes: &[&str], name: &str) -> Resource {
        Resource {
            id: id.into(),
            owner: owner.into(),
            client_id: "rs".into(),
            description: Description {
                resource_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                name: Some(name.into()),
                ..Description::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn p(name: &str, text: &str) -> (String, String) {
        (name.to_owned(), text.to_owned())
    }

    #[test]
    fn each_resource_lists_who_with_which_scopes_and_which_policy() {
        let photos = resource("r1", "alice", &["view", "edit"], "Photos");
        let checking = resource("r2", "alice", &["view"], "Checking");
        let texts = [
            p(
                "spouse-read-only",
                r#"permit (principal, action == Uma::Action::"view", resource == Uma::Resource::"r1")
                when { principal has email && principal.email == "bob@example.com" };"#,
            ),
            p(
                "family",
                r#"@ask("family") permit (principal, action, resource) when { principal has groups && principal.groups.contains("family") };"#,
            ),
            p(
                "odd",
                r#"permit (principal, action, resource == Uma::Resource::"r2") when { principal.name like "Dr *" };"#,
            ),
        ];
        let all = access(&texts, &[&photos, &checking]);
        let lines = |i: usize| all[i].holders.iter().map(Holder::line).collect::<Vec<_>>();
        assert_eq!(
            lines(0),
            [
                "bob@example.com: view — policy spouse-read-only",
                "group family: view, edit — policy family"
            ]
        );
        assert!(all[0].holders[1].ask);
        assert_eq!(
            lines(1),
            [
                "group family: view — policy family",
                "people matching policy odd: view — policy odd"
            ]
        );
    }

    #[test]
    fn forbids_take_away_what_they_surely_forbid_and_are_named_otherwise() {
        let photos = resource("r1", "alice", &["view", "edit", "delete"], "Photos");
        let texts = [
            p(
                "bob",
                r#"permit (principal, action, resource) when { principal.email == "bob@example.com" };"#,
            ),
            p(
                "no-deletes",
                r#"forbid (principal, action == Uma::Action::"delete", resource);"#,
            ),
            p(
                "not-bob-edit",
                r#"forbid (principal, action == Uma::Action::"edit", resource) when { principal.email == "bob@example.com" };"#,
            ),
            p(
                "weekdays",
                r#"forbid (principal, action == Uma::Action::"view", resource) when { context.client_id == "x" };"#,
            ),
        ];
        let all = access(&texts, &[&photos]);
        let bob = &all[0].holders[0];
        assert_eq!(bob.scopes, ["view"]);
        assert_eq!(bob.unless, ["weekdays"]);
        // A policy that forbids everything leaves nobody.
        let texts = [
            texts[0].clone(),
            p("closed", "forbid (principal, action, resource);"),
        ];
        assert!(access(&texts, &[&photos])[0].holders.is_empty());
    }

    #[test]
    fn only_her_resources_and_her_policies() {
        let (_dir, store) = crate::store::testing::temp_store();
        store
            .write(|tx| {
                use crate::store::PolicyStore;
                for user in ["alice", "carol"] {
                    crate::store::users::insert(tx, &crate::store::testing::test_user(user))?;
                }
                tx.put_policy("alice", "all", "permit (principal, action, resource);", 1)?;
                Ok::<_, StoreError>(())
            })
            .expect("setup");
        let hers = resource("r1", "alice", &["view"], "Photos");
        let carols = resource("r9", "carol", &["view"], "Diary");
        let alice = store
            .read(|r| who_can_use(r, "alice", &[hers.clone(), carols.clone()]))
            .expect("alice");
        assert_eq!(alice.len(), 1);
        assert_eq!(alice[0].holders[0].line(), "anyone: view — policy all");
        let carol = store
            .read(|r| who_can_use(r, "carol", &[carols]))
            .expect("carol");
        assert!(carol[0].holders.is_empty());
    }
}
