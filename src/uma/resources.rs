//! Resource registration (Federated Authorization §3): a resource server, holding a PAT, creates,
//! reads, replaces, deletes and lists the resource descriptions it keeps at this server for one resource owner.
//!
//! Everything is scoped to the PAT's (owner, resource server) pair. This module must never tell a caller anything
//! about a resource another pair registered: those are answered exactly like ids that do not exist (404).
//!
//! Choices where the specification is silent:
//! - duplicate strings in `resource_scopes` are merged (a scope list is a set), keeping the first occurrence;
//!   an empty `resource_scopes` array is accepted (F §3.1 only asks for an array);
//! - each scope must be an RFC 6749 §3.3 scope-token, so that a client can name it in a `scope` parameter;
//! - `icon_uri` must be an absolute `http` or `https` URL: it names a picture this server may show the owner,
//!   and other schemes (`javascript:`, `data:`, `file:`) have no business there;
//! - an optional member sent as `null` counts as omitted;
//! - `_id` and `user_access_policy_uri` in a request are ignored: both are the server's to assign;
//! - any other member is an extension, stored and returned as sent.

use serde_json::{Map, Value};

use super::Requester;
use crate::context::Context;
use crate::error::OAuthError;
use crate::protocol::uma::{Description, Resource};
use crate::scope::Scopes;
use crate::store::{ResourceRead, ResourceStore};

/// Members of a request body that only the server may set.
const SERVER_ASSIGNED: &[&str] = &["_id", "user_access_policy_uri"];

/// Registers `description` for `requester` and returns the new resource's id.
pub fn create(
    ctx: &Context,
    tx: &impl ResourceStore,
    requester: Requester<'_>,
    description: Description,
) -> Result<String, OAuthError> {
    // 128 random bits: ids are not secrets, but they must not collide or be enumerable.
    let id = ctx.random_string(16)?;
    let now = ctx.now();
    tx.insert_resource(&Resource {
        id: id.clone(),
        owner: requester.owner.to_owned(),
        client_id: requester.resource_server.to_owned(),
        description,
        created_at: now,
        updated_at: now,
    })?;
    Ok(id)
}

/// The ids `requester` registered, oldest first.
pub fn list(
    reader: &impl ResourceRead,
    requester: Requester<'_>,
) -> Result<Vec<String>, OAuthError> {
    Ok(reader.list_scoped(requester.owner, requester.resource_server)?)
}

/// The read representation of resource `id`, if `requester` registered it; 404 otherwise.
pub fn read(
    reader: &impl ResourceRead,
    requester: Requester<'_>,
    id: &str,
) -> Result<Value, OAuthError> {
    let resource = reader
        .get_scoped(requester.owner, requester.resource_server, id)?
        .ok_or_else(|| not_registered(id))?;
    representation(&resource)
}

/// Replaces the description of resource `id`, if `requester` registered it; 404 otherwise.
pub fn replace(
    ctx: &Context,
    tx: &impl ResourceStore,
    requester: Requester<'_>,
    id: &str,
    description: &Description,
) -> Result<(), OAuthError> {
    if tx.replace_scoped(
        requester.owner,
        requester.resource_server,
        id,
        description,
        ctx.now(),
    )? {
        Ok(())
    } else {
        Err(not_registered(id))
    }
}

/// Deletes resource `id`, if `requester` registered it; 404 otherwise.
pub fn delete(
    tx: &impl ResourceStore,
    requester: Requester<'_>,
    id: &str,
) -> Result<(), OAuthError> {
    if tx.delete_scoped(requester.owner, requester.resource_server, id)? {
        Ok(())
    } else {
        Err(not_registered(id))
    }
}

/// Parses a resource description (F §3.1), naming the first member that is wrong.
pub fn parse_description(body: Value) -> Result<Description, OAuthError> {
    let Value::Object(mut members) = body else {
        return Err(OAuthError::invalid_request(
            "the resource description must be a JSON object",
        ));
    };
    for name in SERVER_ASSIGNED {
        members.remove(*name);
    }
    let resource_scopes = parse_scopes(members.remove("resource_scopes"))?;
    let description = optional_string(&mut members, "description")?;
    let name = optional_string(&mut members, "name")?;
    let kind = optional_string(&mut members, "type")?;
    let icon_uri = optional_string(&mut members, "icon_uri")?;
    if let Some(uri) = &icon_uri {
        check_icon_uri(uri)?;
    }
    Ok(Description {
        resource_scopes,
        description,
        icon_uri,
        name,
        kind,
        extensions: members,
    })
}

fn parse_scopes(value: Option<Value>) -> Result<Vec<String>, OAuthError> {
    let items = match value {
        None | Some(Value::Null) => {
            return Err(OAuthError::invalid_request(
                "`resource_scopes` is missing: a resource description must list its scopes",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "`resource_scopes` must be an array of strings",
            ));
        }
    };
    let mut scopes: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(scope) = item else {
            return Err(OAuthError::invalid_request(format!(
                "`resource_scopes` must contain only strings, not `{item}`"
            )));
        };
        if !is_scope_token(&scope) {
            return Err(OAuthError::invalid_request(format!(
                "`resource_scopes` entry `{scope}` is not a scope: it must be non-empty printable ASCII \
                 without spaces, `\"` or `\\`"
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// True for a single RFC 6749 §3.3 scope-token.
fn is_scope_token(text: &str) -> bool {
    !text.is_empty() && !text.contains(' ') && Scopes::parse(text).is_ok()
}

fn optional_string(
    members: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<String>, OAuthError> {
    match members.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "`{name}` must be a string"
        ))),
    }
}

fn check_icon_uri(uri: &str) -> Result<(), OAuthError> {
    match url::Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.has_host() => Ok(()),
        _ => Err(OAuthError::invalid_request(format!(
            "`icon_uri` must be an absolute http or https URL, not `{uri}`"
        ))),
    }
}

/// The read representation (F §3.2.2): the description with its `_id`.
fn representation(resource: &Resource) -> Result<Value, OAuthError> {
    let mut value =
        serde_json::to_value(&resource.description).map_err(|e| OAuthError::server_error(&e))?;
    if let Value::Object(members) = &mut value {
        members.insert("_id".into(), Value::from(resource.id.as_str()));
    }
    Ok(value)
}

fn not_registered(id: &str) -> OAuthError {
    OAuthError::not_found(format!(
        "no resource `{id}` is registered by this resource server for this resource owner"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    fn invalid(body: Value) -> String {
        let err = parse_description(body).expect_err("invalid");
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        err.description.unwrap_or_default()
    }

    #[test]
    fn full_description_parses_and_keeps_extensions() {
        let d = parse_description(json!({
            "resource_scopes": ["view", "http://photoz.example.com/dev/scopes/print", "view"],
            "name": "Photo Album", "type": "http://www.example.com/rsrcs/photoalbum",
            "description": "Holiday pictures", "icon_uri": "https://www.example.com/icons/album.png",
            "x-tags": ["a", 1], "_id": "chosen-by-client", "user_access_policy_uri": "https://evil.example/",
        }))
        .expect("valid");
        assert_eq!(
            d.resource_scopes,
            vec!["view", "http://photoz.example.com/dev/scopes/print"]
        );
        assert_eq!(d.name.as_deref(), Some("Photo Album"));
        assert_eq!(
            d.kind.as_deref(),
            Some("http://www.example.com/rsrcs/photoalbum")
        );
        assert_eq!(d.description.as_deref(), Some("Holiday pictures"));
        assert_eq!(
            Value::Object(d.extensions.clone()),
            json!({"x-tags": ["a", 1]})
        );
        let stored = serde_json::to_value(&d).expect("serialize");
        assert_eq!(stored["type"], "http://www.example.com/rsrcs/photoalbum");
        assert_eq!(stored["x-tags"], json!(["a", 1]));
        assert!(stored.get("_id").is_none());
    }

    #[test]
    fn null_optional_members_count_as_omitted() {
        let d = parse_description(json!({"resource_scopes": [], "name": null, "icon_uri": null}))
            .expect("valid");
        assert_eq!(
            d,
            Description {
                resource_scopes: vec![],
                ..Description::default()
            }
        );
    }

    #[test]
    fn each_error_names_its_member() {
        assert!(invalid(json!([])).contains("JSON object"));
        assert!(invalid(json!({"name": "x"})).contains("`resource_scopes` is missing"));
        assert!(invalid(json!({"resource_scopes": "view"})).contains("array of strings"));
        assert!(invalid(json!({"resource_scopes": ["view", 3]})).contains("only strings"));
        assert!(invalid(json!({"resource_scopes": [""]})).contains("is not a scope"));
        assert!(invalid(json!({"resource_scopes": ["read write"]})).contains("is not a scope"));
        assert!(invalid(json!({"resource_scopes": [], "name": 7})).contains("`name`"));
        assert!(invalid(json!({"resource_scopes": [], "type": {}})).contains("`type`"));
        assert!(
            invalid(json!({"resource_scopes": [], "description": []})).contains("`description`")
        );
        for bad in [
            "icons/a.png",
            "javascript:alert(1)",
            "data:image/png;base64,AA",
            "https://",
        ] {
            assert!(
                invalid(json!({"resource_scopes": [], "icon_uri": bad})).contains("`icon_uri`"),
                "{bad}"
            );
        }
    }
}

#[cfg(test)]
mod service_tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::context::FixedRandom;
    use crate::error::ErrorCode;
    use crate::store::clients;
    use crate::store::testing::{public_client, temp_store};

    #[test]
    fn another_pair_sees_nothing_and_changes_nothing() {
        let (dir, store) = temp_store();
        let ctx = Context {
            clock: Arc::new(ManualClock::new(50)),
            random: Arc::new(FixedRandom::new("id")),
            settings: Arc::new(crate::config::Settings::for_data_dir(dir.path())),
        };
        store
            .write(|tx| {
                clients::insert(tx, &public_client("rs1"))?;
                clients::insert(tx, &public_client("rs2"))
            })
            .expect("seed");
        let mine = Requester {
            owner: "rs1",
            resource_server: "rs1",
        };
        let description = Description {
            resource_scopes: vec!["view".into()],
            ..Description::default()
        };
        let id = store
            .write(|tx| create(&ctx, tx, mine, description.clone()))
            .expect("create");
        assert_eq!(id, "id-1");
        for other in [
            Requester {
                owner: "rs2",
                resource_server: "rs1",
            },
            Requester {
                owner: "rs1",
                resource_server: "rs2",
            },
        ] {
            let read_err = store
                .read(|r| Ok(read(r, other, &id)))
                .expect("read")
                .expect_err("not theirs");
            assert_eq!(read_err.code, ErrorCode::NotFound);
            let replaced = store.write(|tx| replace(&ctx, tx, other, &id, &Description::default()));
            assert_eq!(replaced.expect_err("not theirs").code, ErrorCode::NotFound);
            let deleted = store.write(|tx| delete(tx, other, &id));
            assert_eq!(deleted.expect_err("not theirs").code, ErrorCode::NotFound);
            assert!(
                store
                    .read(|r| Ok(list(r, other)))
                    .expect("list")
                    .expect("list")
                    .is_empty()
            );
        }
        let body = store
            .read(|r| Ok(read(r, mine, &id)))
            .expect("read")
            .expect("mine");
        assert_eq!(body["_id"], "id-1");
        assert_eq!(body["resource_scopes"], serde_json::json!(["view"]));
        store.write(|tx| delete(tx, mine, &id)).expect("delete");
        assert!(
            store
                .read(|r| Ok(list(r, mine)))
                .expect("list")
                .expect("list")
                .is_empty()
        );
    }
}
