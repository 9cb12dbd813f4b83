//! Permissions: what a request needs (a resource id and scopes) and what an RPT grants (UMA Grant §3.3.5).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::error::TokenError;

/// At most this many permissions are read from one RPT or introspection answer.
pub const MAX_PERMISSIONS: usize = 1000;
/// At most this many scopes are read from one permission.
pub const MAX_SCOPES: usize = 100;

/// What one request needs: scopes on one registered resource. Also the body of a permission request (F §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    pub resource_id: String,
    pub scopes: Vec<String>,
}

impl Required {
    pub fn new(resource_id: impl Into<String>, scopes: &[&str]) -> Self {
        Self {
            resource_id: resource_id.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The permission request member for this requirement (F §4.1).
    pub fn to_json(&self) -> Value {
        json!({"resource_id": self.resource_id, "resource_scopes": self.scopes})
    }
}

/// One granted permission: scopes on one resource, with its own expiry when the RPT gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub resource_id: String,
    pub scopes: BTreeSet<String>,
    pub expires_at: Option<i64>,
}

/// The permissions an accepted RPT grants, handed to the request handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub permissions: Vec<Permission>,
    /// The RPT's `sub` (RFC 9068 §2.2), when it has one.
    pub subject: Option<String>,
    /// The client that holds the RPT (`client_id`), when named.
    pub client_id: Option<String>,
    /// When the RPT expires, Unix seconds.
    pub expires_at: i64,
}

impl Granted {
    /// True when a permission not expired at `now` grants `scope` on `resource_id`.
    pub fn allows(&self, resource_id: &str, scope: &str, now: i64) -> bool {
        self.permissions.iter().any(|p| {
            p.resource_id == resource_id
                && p.scopes.contains(scope)
                && p.expires_at.is_none_or(|exp| exp > now)
        })
    }

    /// True when every scope of every requirement is allowed at `now`.
    pub fn covers(&self, required: &[Required], now: i64) -> bool {
        required.iter().all(|r| {
            r.scopes
                .iter()
                .all(|scope| self.allows(&r.resource_id, scope, now))
        })
    }

    /// The scopes granted on `resource_id` at `now`.
    pub fn scopes_on(&self, resource_id: &str, now: i64) -> BTreeSet<String> {
        let live = self
            .permissions
            .iter()
            .filter(|p| p.resource_id == resource_id && p.expires_at.is_none_or(|exp| exp > now));
        live.flat_map(|p| p.scopes.iter().cloned()).collect()
    }
}

/// Reads a `permissions` array (of an RPT or an introspection answer), bounded in size.
pub(crate) fn parse_permissions(value: Option<&Value>) -> Result<Vec<Permission>, TokenError> {
    let bad = |reason: &str| TokenError::claim("permissions", reason);
    let Some(Value::Array(items)) = value else {
        return Err(bad("missing or not an array"));
    };
    if items.len() > MAX_PERMISSIONS {
        return Err(bad("too many permissions"));
    }
    items
        .iter()
        .map(|item| {
            let resource_id = item.get("resource_id").and_then(Value::as_str);
            let resource_id =
                resource_id.ok_or_else(|| bad("a permission has no `resource_id`"))?;
            let scopes = match item.get("resource_scopes") {
                Some(Value::Array(scopes)) if scopes.len() <= MAX_SCOPES => scopes
                    .iter()
                    .map(|s| s.as_str().map(str::to_owned))
                    .collect::<Option<BTreeSet<String>>>()
                    .ok_or_else(|| bad("a scope is not a string"))?,
                None => BTreeSet::new(),
                Some(_) => return Err(bad("`resource_scopes` is not a bounded array")),
            };
            let expires_at = match item.get("exp") {
                None => None,
                Some(exp) => Some(exp.as_i64().ok_or_else(|| bad("`exp` is not an integer"))?),
            };
            Ok(Permission {
                resource_id: resource_id.to_owned(),
                scopes,
                expires_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted() -> Granted {
        let permissions = parse_permissions(Some(&json!([
            {"resource_id": "r1", "resource_scopes": ["view", "edit"], "exp": 1500},
            {"resource_id": "r2", "resource_scopes": ["view"]},
        ])));
        Granted {
            permissions: permissions.unwrap(),
            subject: None,
            client_id: None,
            expires_at: 2000,
        }
    }

    #[test]
    fn covers_needs_every_scope_of_every_resource() {
        let g = granted();
        assert!(g.covers(&[Required::new("r1", &["view", "edit"])], 1000));
        assert!(g.covers(
            &[
                Required::new("r1", &["view"]),
                Required::new("r2", &["view"])
            ],
            1000
        ));
        assert!(!g.covers(&[Required::new("r2", &["edit"])], 1000));
        assert!(!g.covers(&[Required::new("r3", &["view"])], 1000));
    }

    #[test]
    fn an_expired_permission_grants_nothing() {
        let g = granted();
        assert!(!g.allows("r1", "view", 1500));
        assert!(g.allows("r2", "view", 1500));
        assert!(g.scopes_on("r1", 1600).is_empty());
    }

    #[test]
    fn a_null_exp_is_refused() {
        let parsed = parse_permissions(Some(&json!([{"resource_id": "r", "exp": null}])));
        assert!(parsed.is_err());
    }

    #[test]
    fn permissions_are_bounded() {
        let many: Vec<Value> = (0..=MAX_PERMISSIONS)
            .map(|i| json!({"resource_id": i.to_string()}))
            .collect();
        assert!(parse_permissions(Some(&Value::Array(many))).is_err());
        let scopes: Vec<String> = (0..=MAX_SCOPES).map(|i| i.to_string()).collect();
        let one = json!([{"resource_id": "r", "resource_scopes": scopes}]);
        assert!(parse_permissions(Some(&one)).is_err());
        assert!(parse_permissions(None).is_err());
    }
}
