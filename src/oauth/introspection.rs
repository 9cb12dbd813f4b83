//! Token introspection (RFC 7662, with UMA Federated Authorization §5 for the protection API): what a
//! presented token is, and what the authenticated caller may learn about it.
//!
//! The caller has proved who it is with a PAT or its client credentials (the HTTP layer checks the proof);
//! [`caller_id`] refuses public clients, which with nothing to prove could scan tokens (RFC 7662 §4).
//!
//! This service must never tell a caller anything about a token that is not both active and meant for it:
//! unknown, expired, revoked, rotated-away tokens and other clients' tokens all get the same bare
//! `{"active": false}` (RFC 7662 §2.2), so the answer cannot be used to probe for tokens. An RPT is answered
//! with the permissions its owner's policies still grant now (Federated Authorization §5.1.1), never with
//! those it was issued with.

use serde_json::{Map, Value, json};

use crate::clock::UnixTime;
use crate::context::Context;
use crate::error::OAuthError;
use crate::owner::policies::Policies;
use crate::protocol::tokens::{SubjectKind, TokenKind, TokenRecord};
use crate::protocol::uma::{GrantedPermission, Rpt};
use crate::store::oauth::TokenRead;
use crate::store::traits::{PolicyRead, ResourceRead, RptRead};
use crate::uma::{self, requesting_party, rpt_subject};

use super::Client;
use super::presented::PresentedToken;

/// How the caller proved itself, once the proof was checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Caller<'a> {
    /// A valid PAT issued to this client (Federated Authorization §5).
    Pat { client_id: &'a str },
    /// Client authentication (RFC 7662 §2.1).
    Client(&'a Client),
}

/// The client id the answer is for. Public clients cannot introspect: they prove nothing.
pub fn caller_id(caller: Caller<'_>) -> Result<String, OAuthError> {
    match caller {
        Caller::Pat { client_id } => Ok(client_id.to_owned()),
        Caller::Client(client) if client.is_public() => Err(OAuthError::invalid_client(
            "public clients cannot introspect tokens; use a confidential client or a PAT",
            false,
        )),
        Caller::Client(client) => Ok(client.client_id.clone()),
    }
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Presented {
    /// An access or refresh token of an OAuth grant: PATs and users' access tokens.
    Grant(TokenRecord),
    /// An RPT, with the permissions the owner's policies still grant now: answered with `permissions` and
    /// never `scope` (Federated Authorization §5.1.1), and visible to the resource server that is its
    /// audience rather than to the client holding it.
    Rpt {
        rpt: Rpt,
        permissions: Vec<GrantedPermission>,
    },
}

/// Finds what `token` is, reading through one snapshot. `None` when this server never issued it (or has
/// purged it).
pub fn classify(
    reader: &(impl TokenRead + RptRead + ResourceRead + PolicyRead),
    policies: &Policies,
    token: &PresentedToken,
    now: UnixTime,
) -> Result<Option<Presented>, OAuthError> {
    if let Some(jti) = &token.rpt_jti
        && let Some(rpt) = reader.rpt(jti)?
    {
        let permissions = if rpt.is_active(now) {
            let compiled = policies.compiled_in(reader, &rpt.owner)?;
            uma::rpt::current_permissions(&compiled, reader, &rpt, now)?
        } else {
            Vec::new()
        };
        return Ok(Some(Presented::Rpt { rpt, permissions }));
    }
    Ok(reader.token(&token.hash)?.map(Presented::Grant))
}

impl Presented {
    fn is_active(&self, now: UnixTime) -> bool {
        match self {
            Self::Grant(record) => record.is_active(now),
            // An RPT whose every permission was narrowed away grants nothing: inactive.
            Self::Rpt { rpt, permissions } => rpt.is_active(now) && !permissions.is_empty(),
        }
    }

    /// Whether the client `caller` may learn about this token: an OAuth token only to the client it was
    /// issued to, since nobody else has a use for its metadata.
    fn visible_to(&self, caller: &str) -> bool {
        match self {
            Self::Grant(record) => record.client_id == caller,
            Self::Rpt { rpt, .. } => rpt.resource_server == caller,
        }
    }

    /// The RFC 7662 §2.2 members of an active token.
    fn claims(&self, issuer: &str) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("active".into(), Value::Bool(true));
        match self {
            Self::Grant(record) => {
                let token_type = match record.kind {
                    TokenKind::Access => "Bearer",
                    TokenKind::Refresh => "refresh_token",
                };
                claims.insert("scope".into(), Value::from(record.scope.as_str()));
                claims.insert("client_id".into(), Value::from(record.client_id.as_str()));
                claims.insert("sub".into(), Value::from(record.subject.as_str()));
                if record.subject_kind == SubjectKind::User {
                    claims.insert("username".into(), Value::from(record.subject.as_str()));
                }
                claims.insert("token_type".into(), Value::from(token_type));
                claims.insert("exp".into(), Value::from(record.expires_at));
                claims.insert("iat".into(), Value::from(record.issued_at));
            }
            Self::Rpt { rpt, permissions } => {
                claims.insert("permissions".into(), uma::wire::permissions(permissions));
                claims.insert("client_id".into(), Value::from(rpt.client_id.as_str()));
                claims.insert("aud".into(), Value::from(rpt.resource_server.as_str()));
                // The same `sub` and `requesting_party` as the RPT itself carries.
                let text = |name: &str| rpt.claims.get(name).and_then(Value::as_str);
                let party = text("iss").zip(text("sub"));
                claims.insert(
                    "sub".into(),
                    Value::from(rpt_subject(issuer, party, &rpt.client_id)),
                );
                if let Some((iss, sub)) = party {
                    claims.insert("requesting_party".into(), requesting_party(iss, sub));
                }
                claims.insert("token_type".into(), Value::from("Bearer"));
                claims.insert("exp".into(), Value::from(rpt.expires_at));
                claims.insert("iat".into(), Value::from(rpt.issued_at));
            }
        }
        claims.insert("iss".into(), Value::from(issuer));
        claims
    }
}

/// The introspection answer (RFC 7662 §2.2) for `token` as seen by the client `caller`.
pub fn answer(
    reader: &(impl TokenRead + RptRead + ResourceRead + PolicyRead),
    ctx: &Context,
    policies: &Policies,
    caller: &str,
    token: &PresentedToken,
) -> Result<Value, OAuthError> {
    let now = ctx.now();
    Ok(match classify(reader, policies, token, now)? {
        Some(found) if found.is_active(now) && found.visible_to(caller) => {
            Value::Object(found.claims(&ctx.settings.issuer))
        }
        _ => json!({"active": false}),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Settings;
    use crate::context::FixedRandom;
    use crate::error::ErrorCode;
    use crate::oauth::AuthMethod;
    use crate::policy::PolicySchema;
    use crate::protocol::tokens::NewGrant;
    use crate::protocol::uma::{Description, Resource};
    use crate::store::oauth::{NewToken, TokenStore};
    use crate::store::testing::{public_client, temp_store};
    use crate::store::traits::{PolicyStore, ResourceStore, RptStore};
    use crate::store::{Store, clients, users};

    const NOW: UnixTime = 1_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        ctx: Context,
        policies: Policies,
    }

    /// Client `app` holding the access token `a0` of a user grant; resource server `rs1` owning resource `r`
    /// (scopes `view`, `edit`) with a policy permitting `view`; the RPT `j1` issued to client `c1` for `rs1`,
    /// carrying `view` and `edit` on `r`.
    fn fixture() -> Fixture {
        let (dir, store) = temp_store();
        let ctx = Context {
            clock: Arc::new(ManualClock::new(NOW)),
            random: Arc::new(FixedRandom::new("t")),
            settings: Arc::new(Settings::for_data_dir(dir.path())),
        };
        store
            .write(|tx| {
                for id in ["app", "rs1", "c1"] {
                    clients::insert(tx, &public_client(id))?;
                }
                users::insert(tx, &crate::store::testing::test_user("alice"))?;
                let grant_id = tx.create_grant(
                    &NewGrant {
                        client_id: "app",
                        subject: "alice",
                        subject_kind: SubjectKind::User,
                        scope: "openid email",
                        auth_time: Some(NOW),
                        nonce: None,
                    },
                    NOW,
                )?;
                tx.insert_token(&NewToken {
                    hash: &PresentedToken::opaque("a0").hash,
                    kind: TokenKind::Access,
                    grant_id,
                    scope: "openid email",
                    issued_at: NOW,
                    expires_at: NOW + 100,
                })?;
                tx.insert_resource(&Resource {
                    id: "r".into(),
                    owner: "rs1".into(),
                    client_id: "rs1".into(),
                    description: Description {
                        resource_scopes: vec!["view".into(), "edit".into()],
                        ..Description::default()
                    },
                    created_at: NOW,
                    updated_at: NOW,
                })?;
                tx.put_policy(
                    "rs1",
                    "view",
                    "permit (principal, action == Uma::Action::\"view\", resource);",
                    NOW,
                )?;
                tx.insert_rpt(&Rpt {
                    jti: "j1".into(),
                    client_id: "c1".into(),
                    party: "c1".into(),
                    owner: "rs1".into(),
                    resource_server: "rs1".into(),
                    permissions: vec![GrantedPermission {
                        resource_id: "r".into(),
                        resource_scopes: vec!["view".into(), "edit".into()],
                        exp: NOW + 100,
                    }],
                    claims: Map::new(),
                    issued_at: NOW,
                    expires_at: NOW + 100,
                    revoked: false,
                })
            })
            .expect("fixture");
        Fixture {
            _dir: dir,
            store,
            ctx,
            policies: Policies::new(PolicySchema::base().expect("schema")),
        }
    }

    impl Fixture {
        fn answer(&self, caller: &str, token: &PresentedToken) -> Value {
            let reader = self.store.begin_read().expect("read");
            answer(&reader, &self.ctx, &self.policies, caller, token).expect("answer")
        }
    }

    fn rpt(jti: &str) -> PresentedToken {
        PresentedToken {
            hash: "not-a-token-hash".into(),
            rpt_jti: Some(jti.into()),
        }
    }

    #[test]
    fn a_token_is_described_only_to_the_client_it_was_issued_to() {
        let f = fixture();
        let mine = f.answer("app", &PresentedToken::opaque("a0"));
        assert_eq!(mine["active"], true);
        assert_eq!(mine["client_id"], "app");
        assert_eq!(mine["username"], "alice");
        assert_eq!(mine["scope"], "openid email");
        assert_eq!(mine["token_type"], "Bearer");
        assert_eq!(mine["iss"], f.ctx.settings.issuer.as_str());
        let inactive = json!({"active": false});
        assert_eq!(
            f.answer("rs1", &PresentedToken::opaque("a0")),
            inactive,
            "another client's token looks exactly like an unknown one"
        );
        assert_eq!(f.answer("app", &PresentedToken::opaque("nope")), inactive);
    }

    #[test]
    fn an_rpt_shows_its_audience_what_the_policies_still_grant() {
        let f = fixture();
        let seen = f.answer("rs1", &rpt("j1"));
        assert_eq!(seen["active"], true);
        assert_eq!(seen["aud"], "rs1");
        assert_eq!(seen["client_id"], "c1");
        assert!(seen.get("scope").is_none(), "permissions, never scope");
        let permissions = seen["permissions"].as_array().expect("permissions");
        assert_eq!(permissions.len(), 1);
        assert_eq!(
            permissions[0]["resource_scopes"],
            json!(["view"]),
            "`edit` is no longer permitted"
        );
        assert_eq!(
            f.answer("c1", &rpt("j1")),
            json!({"active": false}),
            "the holder is not the audience"
        );
        f.store
            .write(|tx| tx.revoke_rpt("j1").map(|_| ()))
            .expect("revoke");
        assert_eq!(f.answer("rs1", &rpt("j1")), json!({"active": false}));
    }

    #[test]
    fn public_clients_cannot_introspect() {
        let err = caller_id(Caller::Client(&public_client("app"))).expect_err("public");
        assert_eq!(err.code, ErrorCode::InvalidClient);
        let confidential =
            Client::for_tests("rs1", AuthMethod::ClientSecretBasic, "0123456789abcdef");
        assert_eq!(
            caller_id(Caller::Client(&confidential)).expect("confidential"),
            "rs1"
        );
        assert_eq!(
            caller_id(Caller::Pat { client_id: "rs1" }).expect("pat"),
            "rs1"
        );
    }
}
