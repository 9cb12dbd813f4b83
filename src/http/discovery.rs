//! Discovery (UMA Grant §2, Federated Authorization §2, RFC 8414, OpenID Connect Discovery 1.0 §3) and the
//! JWK Set (RFC 7517). One metadata document is served at all three well-known paths, so clients of any of
//! the three specifications find every endpoint that exists.

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::{AppState, method_not_allowed, paths};
use crate::crypto::keys::KeySet;
use crate::error::OAuthError;
use crate::oauth::{AuthMethod, GrantType};
use crate::scope;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in [
        paths::UMA_CONFIGURATION,
        paths::OAUTH_METADATA,
        paths::OPENID_CONFIGURATION,
    ] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(metadata))
                .default_service(method_not_allowed("GET")),
        );
    }
    cfg.service(
        web::resource(paths::JWKS)
            .route(web::get().to(jwks))
            .default_service(method_not_allowed("GET")),
    );
}

/// The signing algorithms of the keys published now, the signing key's first. Keys rotate while the server
/// runs (`uma-cedar keys rotate`), so this is read from the current key set, never fixed at start: a client
/// that checks a token's `alg` against the metadata then accepts every token a published key signed, and
/// only those.
fn published_algs(keys: &KeySet) -> Vec<String> {
    let mut algs = vec![keys.signing_alg().to_owned()];
    let published = keys
        .jwks()
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|key| key.get("alg").and_then(Value::as_str));
    for alg in published {
        if !algs.iter().any(|a| a == alg) {
            algs.push(alg.to_owned());
        }
    }
    algs
}

/// The metadata document for this server's settings and the keys published now.
pub fn document(state: &AppState, keys: &KeySet) -> Value {
    let s = &state.settings;
    let mut doc = json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint(paths::AUTHORIZE),
        "token_endpoint": s.endpoint(paths::TOKEN),
        "jwks_uri": s.endpoint(paths::JWKS),
        "userinfo_endpoint": s.endpoint(paths::USERINFO),
        "introspection_endpoint": s.endpoint(paths::INTROSPECT),
        "revocation_endpoint": s.endpoint(paths::REVOKE),
        "resource_registration_endpoint": s.endpoint(paths::RESOURCES),
        "permission_endpoint": s.endpoint(paths::PERMISSION),
        "claims_interaction_endpoint": s.endpoint(paths::CLAIMS),
        // Extension: owners manage their Cedar sharing policies here. Not Keycloak's `policy_endpoint`, whose
        // semantics differ.
        "uma_cedar_policy_endpoint": s.endpoint(paths::POLICIES),
        "uma_cedar_decisions_endpoint": s.endpoint(paths::DECISIONS),
        "uma_cedar_requests_endpoint": s.endpoint(paths::REQUESTS),
        // Extension: the OpenAPI 3.1 description of the JSON endpoints.
        "uma_cedar_openapi_uri": s.endpoint(paths::OPENAPI),
        // Where resource owners manage who may use their resources (the console); the name UMA Federated
        // Authorization §3.2 gives this address in resource registration responses.
        "user_access_policy_uri": s.endpoint(paths::CONSOLE),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::SUPPORTED,
        "scopes_supported": scope::SUPPORTED,
        "token_endpoint_auth_methods_supported": AuthMethod::ALL,
        // Introspection takes a PAT as well (UMA Federated Authorization §5), and no public client may call it.
        "introspection_endpoint_auth_methods_supported": [
            AuthMethod::ClientSecretBasic.as_str(),
            AuthMethod::ClientSecretPost.as_str(),
            "bearer",
        ],
        "revocation_endpoint_auth_methods_supported": AuthMethod::ALL,
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": published_algs(keys),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "name"],
        "uma_profiles_supported": [],
        // RFC 9207 §2.3: the authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
    });
    if s.initial_access_token.is_some()
        && let Some(fields) = doc.as_object_mut()
    {
        fields.insert(
            "registration_endpoint".into(),
            Value::from(s.endpoint(paths::REGISTER)),
        );
    }
    doc
}

async fn metadata(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let doc = state.run(|st| Ok(document(st, &*st.key_set()?))).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .json(doc))
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let keys = state.run(|st| st.key_set()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .content_type("application/jwk-set+json")
        .body(keys.jwks().to_string()))
}
