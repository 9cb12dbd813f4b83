//! The RPT's permissions as they go on the wire (Federated Authorization §5.1.1): the `permissions` claim of
//! the signed RPT and the `permissions` member of its introspection response. Kept apart from the stored row,
//! so a change to how RPTs are stored can never change what resource servers receive.
//!
//! What this module must never do: put anything but `resource_id`, `resource_scopes` and `exp` in a permission.

use serde_json::{Map, Value};

use crate::protocol::uma::GrantedPermission;

/// One permission as a resource server reads it.
pub fn permission(p: &GrantedPermission) -> Value {
    let mut member = Map::new();
    member.insert("resource_id".into(), Value::from(p.resource_id.as_str()));
    member.insert(
        "resource_scopes".into(),
        Value::from(p.resource_scopes.clone()),
    );
    member.insert("exp".into(), Value::from(p.exp));
    Value::Object(member)
}

/// The `permissions` array of an RPT or of its introspection response.
pub fn permissions(granted: &[GrantedPermission]) -> Value {
    Value::Array(granted.iter().map(permission).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_has_exactly_the_three_members() {
        let granted = [GrantedPermission {
            resource_id: "r1".into(),
            resource_scopes: vec!["view".into()],
            exp: 42,
        }];
        assert_eq!(
            permissions(&granted),
            serde_json::json!([{"resource_id": "r1", "resource_scopes": ["view"], "exp": 42}])
        );
    }
}
