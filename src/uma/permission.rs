//! Permission tickets (Federated Authorization §4): a resource server, holding a PAT, asks for a permission
//! ticket covering the resources and scopes a client tried to reach, and relays it in its UMA challenge.
//!
//! A ticket only ever names resources the PAT's (owner, resource server) pair registered, with scopes registered
//! for them; the check and the ticket's insertion share one transaction, so a resource deleted meanwhile cannot
//! slip into a ticket. This module must never store a ticket in clear, and never reveal whether a resource
//! refused as `invalid_resource_id` exists for someone else.
//!
//! Choices where the specification is silent: a malformed body, a wrong shape or an empty array is
//! `invalid_request`; the same resource twice in an array is merged into one permission with the union of its
//! scopes (first occurrence order); members other than `resource_id` and `resource_scopes` are ignored.

use serde_json::Value;

use super::Requester;
use crate::context::Context;
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::uma::Resource;
use crate::protocol::uma::{Permission, Ticket};
use crate::store::{ResourceRead, TicketStore};

/// Issues a ticket for `requested` (already parsed by [`parse_request`]) inside the write transaction `tx`:
/// every permission must name a resource `requester` registered, with registered scopes. Returns the ticket
/// value; only its hash is stored.
pub fn issue_ticket(
    ctx: &Context,
    tx: &(impl ResourceRead + TicketStore),
    requester: Requester<'_>,
    requested: Vec<Permission>,
) -> Result<String, OAuthError> {
    let ticket = ctx.token()?;
    let now = ctx.now();
    let ids: Vec<&str> = requested.iter().map(|p| p.resource_id.as_str()).collect();
    let found = tx.get_many_scoped(requester.owner, requester.resource_server, &ids)?;
    check_registered(&requested, &found)?;
    tx.insert_ticket(&Ticket {
        hash: crypto::hash_secret(&ticket),
        owner: requester.owner.to_owned(),
        client_id: requester.resource_server.to_owned(),
        permissions: requested,
        created_at: now,
        expires_at: now + ctx.settings.ticket_ttl,
        bound_client: None,
    })?;
    Ok(ticket)
}

/// Parses a permission request (F §4.1): one object or a non-empty array of them. Repeated resources are
/// merged, so each resource appears once in the answer.
pub fn parse_request(body: Value) -> Result<Vec<Permission>, OAuthError> {
    let requested = match body {
        Value::Array(items) if items.is_empty() => {
            return Err(OAuthError::invalid_request(
                "the permission request is an empty array: ask for at least one resource",
            ));
        }
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                parse_one(item).map_err(|e| prefixed(&format!("permission at index {i}"), e))
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![parse_one(other)?],
    };
    let mut merged: Vec<Permission> = Vec::with_capacity(requested.len());
    for permission in requested {
        match merged
            .iter_mut()
            .find(|p| p.resource_id == permission.resource_id)
        {
            Some(existing) => {
                for scope in permission.resource_scopes {
                    if !existing.resource_scopes.contains(&scope) {
                        existing.resource_scopes.push(scope);
                    }
                }
            }
            None => merged.push(permission),
        }
    }
    Ok(merged)
}

fn prefixed(context: &str, mut err: OAuthError) -> OAuthError {
    err.description = err.description.map(|d| format!("{context}: {d}"));
    err
}

fn parse_one(item: Value) -> Result<Permission, OAuthError> {
    let Value::Object(mut members) = item else {
        return Err(OAuthError::invalid_request(
            "a permission must be a JSON object with `resource_id` and `resource_scopes`",
        ));
    };
    let resource_id = match members.remove("resource_id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        None | Some(Value::Null) => {
            return Err(OAuthError::invalid_request("`resource_id` is missing"));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "`resource_id` must be a non-empty string",
            ));
        }
    };
    let items = match members.remove("resource_scopes") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            return Err(OAuthError::invalid_request(
                "`resource_scopes` is missing: send an array of zero or more scopes",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "`resource_scopes` must be an array of strings",
            ));
        }
    };
    let mut resource_scopes: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(scope) = item else {
            return Err(OAuthError::invalid_request(format!(
                "`resource_scopes` must contain only strings, not `{item}`"
            )));
        };
        if !resource_scopes.contains(&scope) {
            resource_scopes.push(scope);
        }
    }
    Ok(Permission {
        resource_id,
        resource_scopes,
    })
}

/// Checks each requested permission against the resources the pair registered (as found by
/// [`ResourceRead::get_many_scoped`]): an unknown resource is `invalid_resource_id`, an unregistered scope `invalid_scope`.
pub fn check_registered(requested: &[Permission], found: &[Resource]) -> Result<(), OAuthError> {
    for permission in requested {
        let Some(resource) = found.iter().find(|r| r.id == permission.resource_id) else {
            return Err(OAuthError::new(
                ErrorCode::InvalidResourceId,
                format!(
                    "resource `{}` is not registered by this resource server for this resource owner",
                    permission.resource_id
                ),
            ));
        };
        if let Some(scope) = permission
            .resource_scopes
            .iter()
            .find(|s| !resource.description.has_scope(s))
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{scope}` is not registered for resource `{}` (registered: {})",
                resource.id,
                resource.description.resource_scopes.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::uma::Description;

    fn permission(id: &str, scopes: &[&str]) -> Permission {
        Permission {
            resource_id: id.into(),
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn registered(id: &str, scopes: &[&str]) -> Resource {
        Resource {
            id: id.into(),
            owner: "alice".into(),
            client_id: "rs1".into(),
            description: Description {
                resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..Description::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn invalid(body: Value) -> String {
        let err = parse_request(body).expect_err("invalid");
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        err.description.unwrap_or_default()
    }

    #[test]
    fn single_object_and_array_parse() {
        assert_eq!(
            parse_request(json!({"resource_id": "r1", "resource_scopes": ["view"]})).expect("one"),
            vec![permission("r1", &["view"])]
        );
        assert_eq!(
            parse_request(json!([
                {"resource_id": "r1", "resource_scopes": ["view"]},
                {"resource_id": "r2", "resource_scopes": []},
                {"resource_id": "r1", "resource_scopes": ["edit", "view"]},
            ]))
            .expect("array"),
            vec![permission("r1", &["view", "edit"]), permission("r2", &[])]
        );
    }

    #[test]
    fn shape_errors_are_invalid_request_and_say_where() {
        assert!(invalid(json!([])).contains("empty array"));
        assert!(invalid(json!("r1")).contains("JSON object"));
        assert!(invalid(json!({"resource_scopes": []})).contains("`resource_id` is missing"));
        assert!(
            invalid(json!({"resource_id": 1, "resource_scopes": []})).contains("`resource_id`")
        );
        assert!(invalid(json!({"resource_id": "r1"})).contains("`resource_scopes` is missing"));
        assert!(invalid(json!({"resource_id": "r1", "resource_scopes": "view"})).contains("array"));
        let text = invalid(json!([
            {"resource_id": "r1", "resource_scopes": []},
            {"resource_id": "r2", "resource_scopes": [true]},
        ]));
        assert!(text.starts_with("permission at index 1:"), "{text}");
    }

    fn context(settings: crate::config::Settings) -> Context {
        Context {
            clock: std::sync::Arc::new(crate::clock::ManualClock::new(1_000)),
            random: std::sync::Arc::new(crate::context::FixedRandom::new("t")),
            settings: std::sync::Arc::new(settings),
        }
    }

    #[test]
    fn a_ticket_is_stored_hashed_for_the_pair_or_not_at_all() {
        use crate::store::testing::{public_client, temp_store};
        use crate::store::{ResourceStore, TicketStore};
        let (dir, store) = temp_store();
        let ctx = context(crate::config::Settings::for_data_dir(dir.path()));
        store
            .write(|tx| {
                crate::store::clients::insert(tx, &public_client("rs1"))?;
                // A client can own resources too; it stands in for the owner here.
                crate::store::clients::insert(tx, &public_client("alice"))?;
                tx.insert_resource(&registered("r1", &["view"]))
            })
            .expect("seed");
        let alice = Requester {
            owner: "alice",
            resource_server: "rs1",
        };
        let ticket = store
            .write(|tx| issue_ticket(&ctx, tx, alice, vec![permission("r1", &["view"])]))
            .expect("ticket");
        assert_eq!(ticket, "t-1", "the context's randomness");
        let consumed = store
            .write(|tx| tx.consume_ticket(&crypto::hash_secret(&ticket), 1_001))
            .expect("consume");
        let crate::store::tickets::Consumed::Valid(stored) = consumed else {
            panic!("ticket not stored: {consumed:?}");
        };
        assert_eq!(stored.owner, "alice");
        assert_eq!(stored.expires_at, 1_000 + ctx.settings.ticket_ttl);

        // The same resource id asked for by the resource server on behalf of another owner: refused, and
        // the refused ticket is not stored.
        let bob = Requester {
            owner: "rs1",
            resource_server: "rs1",
        };
        let err = store
            .write(|tx| issue_ticket(&ctx, tx, bob, vec![permission("r1", &["view"])]))
            .expect_err("not bob's");
        assert_eq!(err.code, ErrorCode::InvalidResourceId);
        let unknown = store
            .write(|tx| tx.consume_ticket(&crypto::hash_secret("t-2"), 1_001))
            .expect("consume");
        assert_eq!(unknown, crate::store::tickets::Consumed::Unknown);
    }

    #[test]
    fn check_names_the_unknown_resource_or_scope() {
        let found = vec![registered("r1", &["view", "edit"])];
        assert!(check_registered(&[permission("r1", &["view"])], &found).is_ok());
        assert!(check_registered(&[permission("r1", &[])], &found).is_ok());
        let err = check_registered(&[permission("r9", &[])], &found).expect_err("unknown");
        assert_eq!(err.code, ErrorCode::InvalidResourceId);
        assert!(err.to_string().contains("`r9`"));
        let err = check_registered(&[permission("r1", &["delete"])], &found).expect_err("scope");
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.to_string().contains("`delete`"));
    }
}
