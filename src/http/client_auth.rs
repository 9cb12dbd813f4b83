//! Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3.1): reads how
//! the client presented itself (`client_secret_basic`, `client_secret_post`, or `client_id` alone) and hands
//! the credentials and the stored client to [`crate::oauth::client_auth::verify`], which enforces the method
//! the client registered. No password hashing on this path.
//!
//! Failures are throttled per (client id, peer address) ([`crate::throttle`]): once a pair has used up
//! `client_auth_max_failures` within `client_auth_failure_window`, its attempts get 429 without the secret being
//! checked. The address is the TCP peer's; `X-Forwarded-For` is not trusted.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::forms::Params;
use crate::error::{ErrorCode, OAuthError};
pub use crate::oauth::client_auth::Credentials;
use crate::oauth::{AuthMethod, Client, ClientSecret, client_auth};
use crate::store::oauth::ClientRead;
use crate::throttle::Kind;

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
            secret: Some(ClientSecret::new(decode_component(secret))),
            method: AuthMethod::ClientSecretBasic,
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
            secret: Some(ClientSecret::new(secret)),
            method: AuthMethod::ClientSecretPost,
            peer,
        },
        None => Credentials {
            client_id: client_id.to_owned(),
            secret: None,
            method: AuthMethod::None,
            peer,
        },
    })
}

/// Checks credentials against the registered client (blocking: reads the store), unless this client id
/// and address have too many recent failures. The rules, including the registered method, are
/// [`client_auth::verify`]'s.
pub fn authenticate(state: &AppState, creds: &Credentials) -> Result<Client, OAuthError> {
    let now = state.now();
    let attempt = state
        .throttle
        .attempt(Kind::ClientAuth, &creds.client_id, creds.peer, now)
        .map_err(|blocked| OAuthError::too_many_failures(blocked.retry_after(now)))?;
    let client = state.store.read(|tx| tx.client(&creds.client_id))?;
    let result = client_auth::verify(client, creds);
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
        assert_eq!(
            creds.secret.as_ref().map(ClientSecret::secret),
            Some("p@ss")
        );
        assert_eq!(creds.method, AuthMethod::ClientSecretBasic);
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
