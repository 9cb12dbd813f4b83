//! What an issued RPT grants now (UMA Grant §3.3.5.1 upgrade, Federated Authorization §5.1.1 introspection).
//!
//! An RPT records the permissions granted when it was issued; the owner may narrow a policy or delete a
//! resource since. Introspection answers, and an upgrade carries over, only what the owner's policies still
//! grant on resources still registered with the RPT's owner and resource server. Used by both, so neither
//! the introspection endpoint nor the grant has its own copy.
//!
//! What this module must never do: grant a scope the RPT did not carry, keep a permission past its own `exp`,
//! or look at a resource of another owner or resource server than the RPT's.

use crate::clock::UnixTime;
use crate::crypto::keys::KeySet;
use crate::owner::Policies;
use crate::policy::{Claims, Compiled};
use crate::protocol::uma::{GrantedPermission, Rpt};
use crate::store::{ResourceRead, StoreError};

/// The permissions of `rpt` that `compiled` (its owner's policy set) still grants at `now`, for resources
/// `resources` still holds under the RPT's owner and resource server.
pub fn current_permissions(
    compiled: &Compiled,
    resources: &impl ResourceRead,
    rpt: &Rpt,
    now: UnixTime,
) -> Result<Vec<GrantedPermission>, StoreError> {
    // Claims that no longer parse identify no one: the RPT then keeps only what needs no claims.
    let claims = if rpt.claims.is_empty() {
        None
    } else {
        Claims::from_json(rpt.claims.clone()).ok()
    };
    let mut out = Vec::new();
    for perm in rpt.live_permissions(now) {
        let Some(resource) =
            resources.get_scoped(&rpt.owner, &rpt.resource_server, &perm.resource_id)?
        else {
            continue;
        };
        let scopes: Vec<String> = perm
            .resource_scopes
            .iter()
            .filter(|s| resource.description.has_scope(s))
            .filter(|scope| {
                Policies::decide_with(
                    compiled,
                    &resource,
                    claims.as_ref(),
                    scope,
                    &rpt.client_id,
                    now,
                )
                .is_permit()
            })
            .cloned()
            .collect();
        if !scopes.is_empty() {
            out.push(GrantedPermission {
                resource_id: perm.resource_id,
                resource_scopes: scopes,
                exp: perm.exp,
            });
        }
    }
    Ok(out)
}

/// The `jti` of `token` if it is a JWT signed with one of `keys` (an RPT of ours, maybe expired); `None`
/// for anything else.
pub fn rpt_jti(keys: &KeySet, token: &str) -> Option<String> {
    if token.split('.').count() != 3 {
        return None;
    }
    let claims = keys.verify(token).ok()?;
    claims
        .get("jti")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::policy::{PolicySchema, Source};
    use crate::protocol::uma::{Description, Resource};
    use crate::store::testing::{public_client, temp_store};
    use crate::store::{ResourceStore, clients};

    const VIEW_ONLY: &str = "permit (principal, action == Uma::Action::\"view\", resource);";

    fn compiled(text: &str) -> Compiled {
        let schema = PolicySchema::base().expect("schema");
        crate::policy::compile(&schema, Some("rs1"), &[Source::new("p", text)])
    }

    fn resource(id: &str, rs: &str) -> Resource {
        Resource {
            id: id.into(),
            owner: "rs1".into(),
            client_id: rs.into(),
            description: Description {
                resource_scopes: vec!["view".into(), "edit".into()],
                ..Description::default()
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn granted(id: &str, scopes: &[&str], exp: UnixTime) -> GrantedPermission {
        GrantedPermission {
            resource_id: id.into(),
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            exp,
        }
    }

    fn rpt(permissions: Vec<GrantedPermission>) -> Rpt {
        Rpt {
            jti: "j".into(),
            client_id: "c1".into(),
            party: "p".into(),
            owner: "rs1".into(),
            resource_server: "rs1".into(),
            permissions,
            claims: Map::new(),
            issued_at: 0,
            expires_at: 1_000,
            revoked: false,
        }
    }

    #[test]
    fn narrowed_policies_expired_permissions_and_other_servers_resources_drop_out() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                for id in ["rs1", "rs2", "c1"] {
                    clients::insert(tx, &public_client(id))?;
                }
                tx.insert_resource(&resource("a", "rs1"))?;
                tx.insert_resource(&resource("b", "rs1"))?;
                // Same id space, another resource server: never consulted for an RPT of rs1.
                tx.insert_resource(&resource("other", "rs2"))
            })
            .expect("seed");
        let issued = rpt(vec![
            granted("a", &["view", "edit", "print"], 500),
            granted("b", &["view"], 100),
            granted("other", &["view"], 500),
            granted("gone", &["view"], 500),
        ]);
        let now = store
            .read(|r| current_permissions(&compiled(VIEW_ONLY), r, &issued, 200))
            .expect("reevaluate");
        // `edit` is no longer permitted, `print` was never registered, `b` expired, `other` belongs to
        // another resource server, `gone` is not registered.
        assert_eq!(now, vec![granted("a", &["view"], 500)]);
    }

    #[test]
    fn nothing_permitted_means_nothing_left() {
        let (_dir, store) = temp_store();
        store
            .write(|tx| {
                clients::insert(tx, &public_client("rs1"))?;
                tx.insert_resource(&resource("a", "rs1"))
            })
            .expect("seed");
        let issued = rpt(vec![granted("a", &["view"], 500)]);
        let now = store
            .read(|r| current_permissions(&compiled(""), r, &issued, 10))
            .expect("reevaluate");
        assert!(now.is_empty());
    }

    #[test]
    fn only_our_signed_jwts_have_a_jti() {
        let key = crate::crypto::keys::generate(crate::crypto::keys::Alg::ES256, 0).expect("key");
        let keys = KeySet::from_stored(&[key]).expect("keys");
        assert_eq!(rpt_jti(&keys, "not-a-jwt"), None);
        assert_eq!(rpt_jti(&keys, "a.b.c"), None);
        let mut claims = Map::new();
        claims.insert("jti".into(), "j1".into());
        let ours = keys.sign(claims.clone(), "at+jwt").expect("sign");
        assert_eq!(rpt_jti(&keys, &ours).as_deref(), Some("j1"));
        let other = crate::crypto::keys::generate(crate::crypto::keys::Alg::ES256, 0).expect("key");
        let theirs = KeySet::from_stored(&[other])
            .expect("keys")
            .sign(claims, "at+jwt")
            .expect("sign");
        assert_eq!(rpt_jti(&keys, &theirs), None, "signed by a key not ours");
    }
}
