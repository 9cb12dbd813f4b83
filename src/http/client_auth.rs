//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` or `client_secret_post` for confidential clients, `client_id` alone for public ones.
//! Secrets are compared as SHA-256 hashes in constant time; no password hashing on this path.
//!
//! Failures are throttled per (client id, peer address) ([`crate::throttle`]): once a pair has used up
//! `client_auth_max_failures` within `client_auth_failure_window`, its attempts get 429 without the secret being
//! checked. The address is the TCP peer's; `X-Forwarded-For` is not trusted.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::forms::Params;
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::store::Store;
use crate::store::clients::{self, Client};
use crate::throttle::Kind;

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Basic,
    Post,
    /// A public client sending only its `client_id`.
    None,
}

/// Credentials as sent, before they are checked.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    secret: Option<String>,
    pub method: Method,
    /// The caller's address, for throttling.
    pub peer: Option<IpAddr>,
}

fn decode_component(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Reads credentials from the `Authorization: Basic` header or the form. Using both, or neither, is an error.
pub fn credentials(req: &HttpRequest, params: &Params) -> Result<Credentials, OAuthError> {
    let peer = req.peer_addr().map(|a| a.ip());
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    if let Some(encoded) = header {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                OAuthError::invalid_client("the Basic credentials are not valid base64", true)
            })?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("the Basic credentials have no `:`", true))?;
        // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
        let client_id = decode_component(id);
        if params.contains("client_secret") {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: Basic or `client_secret`, not both",
            ));
        }
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "`client_id` in the body differs from the Basic credentials",
            ));
        }
        return Ok(Credentials {
            client_id,
            secret: Some(decode_component(secret)),
            method: Method::Basic,
            peer,
        });
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: HTTP Basic, or `client_id` (and `client_secret`) in the body",
            false,
        ));
    };
    Ok(match params.get("client_secret") {
        Some(secret) => Credentials {
            client_id: client_id.to_owned(),
            secret: Some(secret.to_owned()),
            method: Method::Post,
            peer,
        },
        None => Credentials {
            client_id: client_id.to_owned(),
            secret: None,
            method: Method::None,
            peer,
        },
    })
}

/// Checks credentials against the registered client (blocking: reads the store), unless this client id
/// and address have too many recent failures.
pub fn authenticate(state: &AppState, creds: &Credentials) -> Result<Client, OAuthError> {
    let now = state.now();
    let attempt = state
        .throttle
        .attempt(Kind::ClientAuth, &creds.client_id, creds.peer, now)
        .map_err(|blocked| OAuthError::too_many_failures(blocked.retry_after(now)))?;
    let result = check(&state.store, creds);
    match &result {
        Ok(_) => attempt.succeeded(),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            log::info!("failed client authentication for {:?}", creds.client_id);
        }
        // Not a wrong credential (the store failed): the attempt stays counted, nothing to log twice.
        Err(_) => {}
    }
    result
}

fn check(store: &Store, creds: &Credentials) -> Result<Client, OAuthError> {
    let basic = creds.method == Method::Basic;
    let failed = || OAuthError::invalid_client("client authentication failed", basic);
    let client = store
        .read(|c| clients::get(c, &creds.client_id))?
        .ok_or_else(failed)?;
    match (&client.secret_hash, &creds.secret) {
        (Some(stored), Some(presented)) if crypto::secret_matches(presented, stored) => Ok(client),
        (None, None) => Ok(client),
        (None, Some(_)) => Err(OAuthError::invalid_client(
            "this client is public and has no secret; send only `client_id`",
            basic,
        )),
        _ => Err(failed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let encoded = STANDARD.encode("my%20client:p%40ss");
        let req = TestRequest::default()
            .insert_header(("Authorization", format!("Basic {encoded}")))
            .to_http_request();
        let creds = credentials(&req, &Params::default()).expect("creds");
        assert_eq!(creds.client_id, "my client");
        assert_eq!(creds.secret.as_deref(), Some("p@ss"));
        assert_eq!(creds.method, Method::Basic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let encoded = STANDARD.encode("a:b");
        let req = TestRequest::default()
            .insert_header(("Authorization", format!("Basic {encoded}")))
            .to_http_request();
        let params = Params::parse(b"client_secret=b").expect("params");
        let err = credentials(&req, &params).expect_err("both");
        assert_eq!(err.code, crate::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let req = TestRequest::default().to_http_request();
        let err = credentials(&req, &Params::default()).expect_err("none");
        assert_eq!(err.code, crate::error::ErrorCode::InvalidClient);
    }
}
