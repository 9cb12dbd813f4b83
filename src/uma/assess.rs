//! Authorization assessment (UMA Grant §3.3.4) and the answer it leads to (§3.3.5, §3.3.6).
//!
//! RequestedScopes(r) = TicketScopes(r) ∪ (ClientRegisteredScopes ∩ RequestScopes), for each resource r of the
//! ticket, keeping only scopes registered for r. A scope in the request that no ticket resource has registered
//! is `invalid_scope`; a request left asking for no scope at all is `request_denied` (never a default permit). Each requested (resource, scope) is then decided by the owner's policies, and the
//! decisions combine into one answer:
//!
//! - everything requested is permitted → an RPT with all of it;
//! - some permission could still be granted if the requesting party supplied more claims → `need_info`
//!   (even when other permissions were already permitted: the client can come back with the claims and get
//!   everything at once, instead of an RPT it would have to upgrade at once);
//! - otherwise, when some permission only an owner's `@ask` permit would grant → `request_submitted`: the
//!   request is held for the owner to decide those permissions (the others are decided again when the
//!   client polls, so an approval yields one RPT with everything);
//! - otherwise, when at least one permission was permitted → an RPT with what was permitted (a partial
//!   grant: what is denied stays denied whatever the client does, so holding back the rest helps nobody);
//! - nothing permitted and no claim could help → `request_denied`.

use std::collections::{BTreeMap, BTreeSet};

use crate::clock::UnixTime;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::uma::GrantedPermission;

/// Claims that could help, by name, each with the issuers that could supply it (`None`: any issuer the
/// server accepts). `iss` is never one of them: it says which issuer, not what the claims are.
pub type Needed = BTreeMap<String, Option<BTreeSet<String>>>;

/// The per-(resource, scope) verdict of the owner's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Permit,
    /// Only `@ask` permits apply: the owner decides.
    Ask,
    /// Could be permitted with these further claims.
    NeedInfo(Needed),
    Deny,
}

/// Scopes requested per resource, in ticket order.
pub type Requested = Vec<(String, BTreeSet<String>)>;

/// Computes RequestedScopes(r) for every resource of the ticket (§3.3.4).
///
/// `ticket` lists each resource with its ticket scopes; `registered` gives each resource's registered scopes
/// (a resource missing from it was deleted and is dropped); `client_scopes` are the scopes the client
/// registered for itself; `request_scopes` is the request's `scope` parameter.
pub fn requested_scopes(
    ticket: &[(String, Vec<String>)],
    registered: &BTreeMap<String, BTreeSet<String>>,
    client_scopes: &BTreeSet<String>,
    request_scopes: &BTreeSet<String>,
) -> Result<Requested, OAuthError> {
    let all_registered: BTreeSet<&String> = ticket
        .iter()
        .filter_map(|(id, _)| registered.get(id))
        .flatten()
        .collect();
    if let Some(unknown) = request_scopes.iter().find(|s| !all_registered.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope `{unknown}` is not registered for any resource of this ticket"
        )));
    }
    let mut out: Requested = Vec::new();
    for (id, ticket_scopes) in ticket {
        let Some(known) = registered.get(id) else {
            continue;
        };
        let mut scopes: BTreeSet<String> = ticket_scopes
            .iter()
            .filter(|s| known.contains(*s))
            .cloned()
            .collect();
        scopes.extend(
            request_scopes
                .iter()
                .filter(|s| client_scopes.contains(*s) && known.contains(*s))
                .cloned(),
        );
        if let Some((_, existing)) = out.iter_mut().find(|(r, _)| r == id) {
            existing.extend(scopes);
        } else {
            out.push((id.clone(), scopes));
        }
    }
    out.retain(|(_, scopes)| !scopes.is_empty());
    if out.is_empty() {
        // §5.6: an empty request must not become a default permit. Nothing the client sent is malformed
        // (a bad `scope` was caught above): there is simply nothing to grant, so the request is denied.
        let description = if ticket.iter().any(|(id, _)| registered.contains_key(id)) {
            "the ticket and the request together ask for no scope registered for the ticket's resources; \
             ask the resource server for a ticket naming the scopes needed"
        } else {
            "none of the ticket's resources is registered any more"
        };
        return Err(OAuthError::new(ErrorCode::RequestDenied, description));
    }
    Ok(out)
}

/// The combined answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Issue an RPT with these scopes per resource.
    Grant(Vec<(String, BTreeSet<String>)>),
    /// Ask for these claims, each from the issuers any of the undecided permissions would take it from.
    NeedInfo(Needed),
    /// Hold the request for the owner: these scopes per resource need her decision.
    Hold(Vec<(String, BTreeSet<String>)>),
    Denied,
}

/// Combines the verdicts of every requested (resource, scope) into one answer.
pub fn combine(verdicts: &[(String, String, Verdict)]) -> Answer {
    let mut needed = Needed::new();
    let mut granted: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut asked: Vec<(String, BTreeSet<String>)> = Vec::new();
    let add =
        |list: &mut Vec<(String, BTreeSet<String>)>, resource: &String, scope: &String| match list
            .iter_mut()
            .find(|(r, _)| r == resource)
        {
            Some((_, scopes)) => {
                scopes.insert(scope.clone());
            }
            None => list.push((resource.clone(), BTreeSet::from([scope.clone()]))),
        };
    for (resource, scope, verdict) in verdicts {
        match verdict {
            Verdict::Permit => add(&mut granted, resource, scope),
            Verdict::Ask => add(&mut asked, resource, scope),
            Verdict::NeedInfo(claims) => {
                for (name, issuers) in claims {
                    let merged = match (needed.remove(name), issuers) {
                        // Already wanted from anyone, or now: anyone will do.
                        (Some(None), _) | (_, None) => None,
                        (Some(Some(mut known)), Some(more)) => {
                            known.extend(more.iter().cloned());
                            Some(known)
                        }
                        (None, Some(more)) => Some(more.clone()),
                    };
                    needed.insert(name.clone(), merged);
                }
            }
            Verdict::Deny => {}
        }
    }
    if !needed.is_empty() {
        Answer::NeedInfo(needed)
    } else if !asked.is_empty() {
        Answer::Hold(asked)
    } else if granted.is_empty() {
        Answer::Denied
    } else {
        Answer::Grant(granted)
    }
}

/// Merges an upgraded RPT's live permissions into the new ones (§3.3.5.1): the union per resource, each
/// permission keeping its own expiry. Expired old permissions and resources no longer registered
/// (`still_registered` false) are dropped.
pub fn merge_upgrade(
    new: Vec<GrantedPermission>,
    old: &[GrantedPermission],
    now: UnixTime,
    still_registered: impl Fn(&str, &str) -> bool,
) -> Vec<GrantedPermission> {
    let mut merged = new;
    for perm in old.iter().filter(|p| now < p.exp) {
        let scopes: Vec<String> = perm
            .resource_scopes
            .iter()
            .filter(|s| still_registered(&perm.resource_id, s))
            .filter(|s| {
                !merged
                    .iter()
                    .any(|m| m.resource_id == perm.resource_id && m.resource_scopes.contains(s))
            })
            .cloned()
            .collect();
        if !scopes.is_empty() {
            merged.push(GrantedPermission {
                resource_id: perm.resource_id.clone(),
                resource_scopes: scopes,
                exp: perm.exp,
            });
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn registered() -> BTreeMap<String, BTreeSet<String>> {
        BTreeMap::from([
            ("r1".to_owned(), set(&["view", "edit", "pay"])),
            ("r2".to_owned(), set(&["view", "print"])),
        ])
    }

    fn ticket(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        items
            .iter()
            .map(|(r, s)| (r.to_string(), s.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    #[test]
    fn ticket_scopes_alone() {
        let got = requested_scopes(
            &ticket(&[("r1", &["view"])]),
            &registered(),
            &set(&[]),
            &set(&[]),
        )
        .expect("ok");
        assert_eq!(got, vec![("r1".to_owned(), set(&["view"]))]);
    }

    #[test]
    fn request_scopes_count_only_when_the_client_registered_them() {
        let t = ticket(&[("r1", &["view"]), ("r2", &["view"])]);
        // `edit` is pre-registered by the client and registered for r1 only; `print` is not pre-registered.
        let got = requested_scopes(&t, &registered(), &set(&["edit"]), &set(&["edit", "print"]))
            .expect("ok");
        assert_eq!(
            got,
            vec![
                ("r1".to_owned(), set(&["edit", "view"])),
                ("r2".to_owned(), set(&["view"]))
            ]
        );
    }

    #[test]
    fn request_scope_registered_nowhere_is_invalid_scope() {
        let err = requested_scopes(
            &ticket(&[("r1", &["view"])]),
            &registered(),
            &set(&["fly"]),
            &set(&["fly"]),
        )
        .expect_err("invalid");
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.to_string().contains("`fly`"));
        // `print` is registered, but only for r2, which is not in this ticket.
        assert!(
            requested_scopes(
                &ticket(&[("r1", &["view"])]),
                &registered(),
                &set(&[]),
                &set(&["print"])
            )
            .is_err()
        );
    }

    #[test]
    fn empty_request_is_request_denied_never_a_default_permit() {
        let err = requested_scopes(&ticket(&[("r1", &[])]), &registered(), &set(&[]), &set(&[]))
            .expect_err("empty");
        assert_eq!(err.code, ErrorCode::RequestDenied);
        assert!(err.to_string().contains("no scope"), "{err}");
        // A scope the client did not register for itself adds nothing either.
        let err = requested_scopes(
            &ticket(&[("r1", &[])]),
            &registered(),
            &set(&[]),
            &set(&["view"]),
        )
        .expect_err("empty");
        assert_eq!(err.code, ErrorCode::RequestDenied);
    }

    #[test]
    fn scopes_unregistered_since_the_ticket_leave_request_denied() {
        // The ticket asked for `delete`, which the resource server has since dropped from r1.
        let err = requested_scopes(
            &ticket(&[("r1", &["delete"])]),
            &registered(),
            &set(&[]),
            &set(&[]),
        )
        .expect_err("empty");
        assert_eq!(err.code, ErrorCode::RequestDenied);
        let err = requested_scopes(
            &ticket(&[("gone", &["view"])]),
            &registered(),
            &set(&[]),
            &set(&[]),
        )
        .expect_err("empty");
        assert_eq!(err.code, ErrorCode::RequestDenied);
        assert!(err.to_string().contains("no longer") || err.to_string().contains("any more"));
    }

    #[test]
    fn deleted_resources_and_scopes_are_dropped() {
        let t = ticket(&[("gone", &["view"]), ("r2", &["view", "edit"])]);
        let got = requested_scopes(&t, &registered(), &set(&[]), &set(&[])).expect("ok");
        assert_eq!(got, vec![("r2".to_owned(), set(&["view"]))]);
    }

    #[test]
    fn duplicate_resources_in_a_ticket_merge() {
        let t = ticket(&[("r1", &["view"]), ("r1", &["pay"])]);
        let got = requested_scopes(&t, &registered(), &set(&[]), &set(&[])).expect("ok");
        assert_eq!(got, vec![("r1".to_owned(), set(&["pay", "view"]))]);
    }

    fn v(r: &str, s: &str, verdict: Verdict) -> (String, String, Verdict) {
        (r.into(), s.into(), verdict)
    }

    #[test]
    fn all_permitted_is_a_grant() {
        let answer = combine(&[
            v("r1", "view", Verdict::Permit),
            v("r1", "pay", Verdict::Permit),
        ]);
        assert_eq!(
            answer,
            Answer::Grant(vec![("r1".into(), set(&["pay", "view"]))])
        );
    }

    fn needs(items: &[(&str, Option<&[&str]>)]) -> Needed {
        items
            .iter()
            .map(|(name, issuers)| ((*name).to_owned(), issuers.map(set)))
            .collect()
    }

    #[test]
    fn need_info_wins_over_a_partial_grant() {
        let answer = combine(&[
            v("r1", "view", Verdict::Permit),
            v("r2", "view", Verdict::NeedInfo(needs(&[("email", None)]))),
            v(
                "r2",
                "print",
                Verdict::NeedInfo(needs(&[("groups", None), ("email", None)])),
            ),
        ]);
        assert_eq!(
            answer,
            Answer::NeedInfo(needs(&[("email", None), ("groups", None)]))
        );
    }

    #[test]
    fn need_info_merges_the_issuers_each_claim_may_come_from() {
        let answer = combine(&[
            v(
                "r1",
                "view",
                Verdict::NeedInfo(needs(&[
                    ("email", Some(&["https://a"])),
                    ("sub", Some(&["https://a"])),
                ])),
            ),
            v(
                "r1",
                "pay",
                Verdict::NeedInfo(needs(&[
                    ("email", Some(&["https://b"])),
                    ("groups", Some(&["https://b"])),
                ])),
            ),
            v("r2", "view", Verdict::NeedInfo(needs(&[("groups", None)]))),
        ]);
        assert_eq!(
            answer,
            Answer::NeedInfo(needs(&[
                ("email", Some(&["https://a", "https://b"])),
                ("groups", None),
                ("sub", Some(&["https://a"])),
            ]))
        );
    }

    #[test]
    fn partial_grant_when_the_rest_is_denied_for_good() {
        let answer = combine(&[
            v("r1", "view", Verdict::Permit),
            v("r1", "pay", Verdict::Deny),
        ]);
        assert_eq!(answer, Answer::Grant(vec![("r1".into(), set(&["view"]))]));
    }

    #[test]
    fn nothing_permitted_is_denied() {
        assert_eq!(combine(&[v("r1", "view", Verdict::Deny)]), Answer::Denied);
        assert_eq!(combine(&[]), Answer::Denied);
    }

    fn perm(r: &str, scopes: &[&str], exp: UnixTime) -> GrantedPermission {
        GrantedPermission {
            resource_id: r.into(),
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            exp,
        }
    }

    #[test]
    fn upgrade_merges_keeping_each_expiry_and_dropping_stale() {
        let new = vec![perm("r1", &["view"], 500)];
        let old = vec![
            perm("r1", &["view", "pay"], 300),
            perm("r2", &["view"], 300),
            perm("r3", &["view"], 100),
            perm("gone", &["view"], 300),
        ];
        let merged = merge_upgrade(new, &old, 200, |r, _| r != "gone");
        assert_eq!(
            merged,
            vec![
                perm("r1", &["view"], 500),
                perm("r1", &["pay"], 300),
                perm("r2", &["view"], 300)
            ]
        );
    }

    #[test]
    fn asked_scopes_hold_the_request_even_beside_a_permit() {
        let answer = combine(&[
            v("r1", "view", Verdict::Permit),
            v("r1", "edit", Verdict::Ask),
            v("r2", "print", Verdict::Ask),
            v("r2", "view", Verdict::Deny),
        ]);
        assert_eq!(
            answer,
            Answer::Hold(vec![
                ("r1".to_owned(), set(&["edit"])),
                ("r2".to_owned(), set(&["print"]))
            ])
        );
    }

    #[test]
    fn need_info_comes_before_a_hold_and_a_deny_alone_holds_nothing() {
        let needed = Needed::from([("email".to_owned(), None)]);
        assert_eq!(
            combine(&[
                v("r1", "edit", Verdict::Ask),
                v("r1", "view", Verdict::NeedInfo(needed.clone()))
            ]),
            Answer::NeedInfo(needed)
        );
        assert_eq!(combine(&[v("r1", "edit", Verdict::Deny)]), Answer::Denied);
        assert_eq!(
            combine(&[v("r1", "edit", Verdict::Permit)]),
            Answer::Grant(vec![("r1".to_owned(), set(&["edit"]))])
        );
    }
}
