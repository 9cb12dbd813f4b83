//! Resource registration endpoint (Federated Authorization §3): a resource server, holding a PAT, creates,
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

use crate::store::{ResourceRead, ResourceStore};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::bearer::{Pat, require_pat};
use super::forms::read_json;
use super::{AppState, method_not_allowed, no_store_json, paths};
use crate::error::OAuthError;
use crate::scope::Scopes;
use crate::store::resources::{Description, Resource};

/// Members of a request body that only the server may set.
const SERVER_ASSIGNED: &[&str] = &["_id", "user_access_policy_uri"];

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The specification's examples write the collection as `rreg/`; accept it with and without the slash.
    cfg.service(
        web::resource(vec![
            paths::RESOURCES.to_owned(),
            format!("{}/", paths::RESOURCES),
        ])
        .route(web::get().to(list))
        .route(web::post().to(create))
        .default_service(method_not_allowed("GET, POST")),
    );
    cfg.service(
        web::resource(format!("{}/{{id}}", paths::RESOURCES))
            .route(web::get().to(read))
            .route(web::put().to(update))
            .route(web::delete().to(remove))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    );
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

fn path_id(req: &HttpRequest) -> String {
    req.match_info().query("id").to_owned()
}

async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let pat = require_pat(&req, &state).await?;
    let description = parse_description(read_json(&req, payload, &state).await?)?;
    let id = state
        .run(move |st| {
            // 128 random bits: ids are not secrets, but they must not collide or be enumerable.
            let id = st.context().random_string(16)?;
            let now = st.now();
            let resource = Resource {
                id: id.clone(),
                owner: pat.owner,
                client_id: pat.client_id,
                description,
                created_at: now,
                updated_at: now,
            };
            st.store.write(|tx| tx.insert_resource(&resource))?;
            Ok(id)
        })
        .await?;
    let location = format!("{}/{id}", state.settings.endpoint(paths::RESOURCES));
    let location = HeaderValue::from_str(&location).map_err(|e| OAuthError::server_error(&e))?;
    let mut response = no_store_json(StatusCode::CREATED, &json!({ "_id": id }));
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let Pat {
        owner, client_id, ..
    } = require_pat(&req, &state).await?;
    let ids = state
        .run(move |st| Ok(st.store.read(|c| c.list_scoped(&owner, &client_id))?))
        .await?;
    Ok(no_store_json(StatusCode::OK, &json!(ids)))
}

async fn read(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let Pat {
        owner, client_id, ..
    } = require_pat(&req, &state).await?;
    let id = path_id(&req);
    let resource = state
        .run(move |st| {
            st.store
                .read(|c| c.get_scoped(&owner, &client_id, &id))?
                .ok_or_else(|| not_registered(&id))
        })
        .await?;
    Ok(no_store_json(StatusCode::OK, &representation(&resource)?))
}

async fn update(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let Pat {
        owner, client_id, ..
    } = require_pat(&req, &state).await?;
    let description = parse_description(read_json(&req, payload, &state).await?)?;
    let id = path_id(&req);
    let id = state
        .run(move |st| {
            let now = st.now();
            let replaced = st
                .store
                .write(|tx| tx.replace_scoped(&owner, &client_id, &id, &description, now))?;
            if replaced {
                Ok(id)
            } else {
                Err(not_registered(&id))
            }
        })
        .await?;
    Ok(no_store_json(StatusCode::OK, &json!({ "_id": id })))
}

async fn remove(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let Pat {
        owner, client_id, ..
    } = require_pat(&req, &state).await?;
    let id = path_id(&req);
    state
        .run(move |st| {
            let deleted = st
                .store
                .write(|tx| tx.delete_scoped(&owner, &client_id, &id))?;
            if deleted {
                Ok(())
            } else {
                Err(not_registered(&id))
            }
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

#[cfg(test)]
mod tests {
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
