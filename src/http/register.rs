//! Dynamic client registration (RFC 7591 §3), with the `claims_redirect_uris` member UMA Grant §2 requires.
//!
//! Routed only when the admin configured an initial access token (RFC 7591 §3, "protected registration");
//! the caller presents it as `Authorization: Bearer`. Open registration is not offered: a registered client
//! can ask the resource owners of this server for consent, so who may register is the admin's call.
//!
//! The metadata rules and the registration service live in [`crate::oauth::registration`], shared with the
//! admin CLI; this module checks the initial access token, reads the JSON object, calls the service and
//! renders the response. It must never let the caller choose the client id or the secret, never store the
//! secret in clear, and never answer a bad document with anything but RFC 7591 §3.2.2 `invalid_redirect_uri`
//! / `invalid_client_metadata` (or `invalid_request` for a body that is not a JSON object).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::forms;
use super::{AppState, bearer, no_store_json, paths, post_only};
use crate::clock::UnixTime;
use crate::crypto;
use crate::error::OAuthError;
use crate::oauth::registration::{self, Registration};
use crate::oauth::{AuthMethod, Client, ClientSecret, GrantType, InitialAccessToken};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only(paths::REGISTER, register));
}

/// Checks the initial access token. Both sides are hashed first so the comparison takes the same time
/// whatever the length of the guess.
fn check_initial_token(req: &HttpRequest, state: &AppState) -> Result<(), OAuthError> {
    let Some(expected) = state
        .settings
        .initial_access_token
        .as_ref()
        .map(InitialAccessToken::secret)
    else {
        return Err(OAuthError::not_found(
            "dynamic client registration is not enabled on this server",
        ));
    };
    let presented = bearer::bearer_token(req).map_err(|mut err| {
        err.description = Some(
            "registration needs the initial access token in the `Authorization: Bearer` header"
                .into(),
        );
        err
    })?;
    let matches = crypto::constant_time_eq(
        crypto::hash_secret(&presented).as_bytes(),
        crypto::hash_secret(expected).as_bytes(),
    );
    if matches {
        Ok(())
    } else {
        Err(OAuthError::invalid_token(
            "the initial access token is not valid",
        ))
    }
}

/// The registration response (RFC 7591 §3.2.1): the registered metadata, and the secret in clear this once.
/// Extension members and the other stored metadata ride along through `flatten`.
#[derive(Debug, Serialize)]
struct RegisteredClient<'a> {
    client_id: &'a str,
    client_id_issued_at: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    /// RFC 7591 §3.2.1: 0 means the secret does not expire; sent only with a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<UnixTime>,
    token_endpoint_auth_method: AuthMethod,
    grant_types: &'a [GrantType],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    redirect_uris: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    claims_redirect_uris: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<&'a str>,
    #[serde(flatten)]
    metadata: &'a Map<String, Value>,
}

impl<'a> RegisteredClient<'a> {
    fn new(client: &'a Client, secret: Option<&'a ClientSecret>) -> Self {
        Self {
            client_id: &client.client_id,
            client_id_issued_at: client.created_at,
            client_secret: secret.map(ClientSecret::secret),
            client_secret_expires_at: secret.map(|_| 0),
            token_endpoint_auth_method: client.auth_method,
            grant_types: &client.grant_types,
            redirect_uris: &client.redirect_uris,
            claims_redirect_uris: &client.claims_redirect_uris,
            client_name: client.client_name.as_deref(),
            metadata: &client.metadata,
        }
    }
}

async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    check_initial_token(&req, &state)?;
    let Value::Object(body) = forms::read_json(&req, payload, &state).await? else {
        return Err(OAuthError::invalid_request(
            "the body must be a JSON object of client metadata (RFC 7591 §2)",
        ));
    };
    let registration = Registration::parse(body)?;
    let response = state
        .run(move |st| {
            let registered = st.store.write(|tx| {
                registration::register(tx, st.random.as_ref(), registration, st.now())
            })?;
            log::info!(
                "registered client `{}` dynamically",
                registered.client.client_id
            );
            serde_json::to_value(RegisteredClient::new(
                &registered.client,
                registered.secret.as_ref(),
            ))
            .map_err(|e| OAuthError::server_error(&e))
        })
        .await?;
    Ok(no_store_json(StatusCode::CREATED, &response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::registration::NewClient;

    #[test]
    fn the_response_has_the_registered_metadata_and_the_secret_once() {
        let secret = ClientSecret::new("0123456789abcdef");
        let mut metadata = Map::new();
        metadata.insert("x-extension".into(), serde_json::json!({"kept": true}));
        let client = NewClient {
            client_id: "abc".into(),
            secret: Some(secret.clone()),
            grant_types: vec![GrantType::ClientCredentials],
            metadata,
            ..Default::default()
        }
        .build(7)
        .expect("builds");
        let doc =
            serde_json::to_value(RegisteredClient::new(&client, Some(&secret))).expect("json");
        assert_eq!(
            doc,
            serde_json::json!({
                "client_id": "abc",
                "client_id_issued_at": 7,
                "client_secret": "0123456789abcdef",
                "client_secret_expires_at": 0,
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["client_credentials"],
                "x-extension": {"kept": true},
            })
        );
        let doc = serde_json::to_value(RegisteredClient::new(&client, None)).expect("json");
        assert!(doc.get("client_secret").is_none());
        assert!(doc.get("client_secret_expires_at").is_none());
    }
}
