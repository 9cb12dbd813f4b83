//! Request bodies and query strings, parsed strictly: the declared content type, a size limit, UTF-8, and no
//! repeated parameters (RFC 6749 §3.1, §3.2). Every failure is an `invalid_request` with a description that
//! says what to fix.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use serde_json::Value;

use super::AppState;
use crate::error::OAuthError;

/// Form or query parameters. Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text, refusing repeated parameters.
    pub fn parse(text: &[u8]) -> Result<Self, OAuthError> {
        let mut map = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(text) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{name}` is repeated; send it once"
                )));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is missing")))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), value.to_owned());
    }
}

impl crate::oauth::token::Parameters for Params {
    fn get(&self, name: &str) -> Option<&str> {
        Params::get(self, name)
    }
}

fn content_type_is(req: &HttpRequest, expected: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// Reads the body up to the configured limit.
pub async fn read_body(payload: web::Payload, state: &AppState) -> Result<web::Bytes, OAuthError> {
    let limit = state.settings.max_body_bytes;
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(OAuthError::invalid_request(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(OAuthError::payload_too_large(limit)),
    }
}

/// Reads and parses an `application/x-www-form-urlencoded` body.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Params, OAuthError> {
    if !content_type_is(req, "application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be sent as `Content-Type: application/x-www-form-urlencoded`",
        ));
    }
    let body = read_body(payload, state).await?;
    Params::parse(&body)
}

/// Reads and parses an `application/json` body.
pub async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Value, OAuthError> {
    if !content_type_is(req, "application/json") {
        return Err(OAuthError::invalid_request(
            "the body must be JSON sent as `Content-Type: application/json`",
        ));
    }
    let body = read_body(payload, state).await?;
    serde_json::from_slice(&body)
        .map_err(|e| OAuthError::invalid_request(format!("the body is not valid JSON: {e}")))
}

/// Parses the query string of `req`.
pub fn query(req: &HttpRequest) -> Result<Params, OAuthError> {
    Params::parse(req.query_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let p = Params::parse(b"grant_type=client_credentials&scope=a+b&x=%2F").expect("parse");
        assert_eq!(p.get("scope"), Some("a b"));
        assert_eq!(p.get("x"), Some("/"));
        assert_eq!(
            p.require("grant_type").expect("present"),
            "client_credentials"
        );
    }

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let err = Params::parse(b"scope=a&scope=b").expect_err("repeated");
        assert!(err.to_string().contains("`scope` is repeated"));
    }

    #[test]
    fn empty_value_counts_as_omitted() {
        let p = Params::parse(b"state=&code=1").expect("parse");
        assert_eq!(p.get("state"), None);
        let err = p.require("state").expect_err("missing");
        assert!(err.to_string().contains("`state` is missing"));
    }
}
