//! Upstream OpenID Connect sign-in: the requesting party proves who they are at an OpenID provider the admin
//! trusts (a `[[trusted_issuers]]` entry with `client_id` and `client_secret`), by the authorization code flow
//! with PKCE (S256), `state` and `nonce` (OpenID Connect Core §3.1, RFC 7636). This module knows the providers,
//! reads and caches their discovery documents (OpenID Connect Discovery §4), builds the authorization request,
//! redeems the code at the token endpoint and checks the ID token it returns; the claims interaction
//! ([`crate::uma::interaction`]) keeps `state` and decides what the claims are used for.
//!
//! What this module must never do: accept a discovery document whose `issuer` is not exactly the configured one,
//! accept an ID token that is not signed by the provider's published keys (the check is the trusted-issuer
//! verification of [`super::ClaimsVerifier`]), is addressed to another client or lacks the `nonce` sent, or
//! put the client secret or a provider's answer verbatim into an error (its text reaches a page).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use url::Url;
use url::form_urlencoded::byte_serialize;

use super::fetch::{FetchError, Fetcher};
use super::{ClaimError, ClaimsVerifier, ID_TOKEN_FORMAT, quoted};
use crate::clock::UnixTime;
use crate::config::{ConfigError, TrustedIssuerEntry};
use crate::secret::ClientSecret;

/// The scopes asked when an entry names none.
pub const DEFAULT_SCOPES: &str = "openid email profile";

/// How long a discovery document is used before it is read again.
pub const DISCOVERY_TTL: i64 = 3600;

/// Longest authorization code accepted from the browser; real ones are well under a kilobyte.
pub const MAX_CODE_LEN: usize = 2048;

/// Claims of an ID token that describe the token, not the person: not released to the owner's policies.
const TOKEN_CLAIMS: [&str; 11] = [
    "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "s_hash", "sid", "jti",
];

/// A provider requesting parties may sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub issuer: String,
    pub client_id: String,
    client_secret: ClientSecret,
    pub scopes: String,
}

/// The providers among the trusted issuers: those with a client id and secret. An entry with only one of the
/// two, or scopes without `openid`, stops the server.
pub fn providers(entries: &[TrustedIssuerEntry]) -> Result<Vec<Provider>, ConfigError> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let fail = |reason: &str| ConfigError::Invalid {
            name: "trusted_issuers",
            reason: format!("entry {} (`{}`): {reason}", index + 1, entry.issuer),
        };
        match (&entry.client_id, &entry.client_secret) {
            (None, None) => {
                if entry.scopes.is_some() {
                    return Err(fail(
                        "`scopes` is only used for sign-in; add `client_id` and `client_secret`",
                    ));
                }
            }
            (Some(id), Some(secret)) => {
                if id.is_empty() || secret.is_empty() {
                    return Err(fail("`client_id` and `client_secret` must not be empty"));
                }
                let scopes = entry.scopes.as_deref().unwrap_or(DEFAULT_SCOPES);
                if !scopes.split(' ').any(|s| s == "openid") {
                    return Err(fail("`scopes` must include `openid`"));
                }
                out.push(Provider {
                    issuer: entry.issuer.clone(),
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    scopes: scopes.to_owned(),
                });
            }
            _ => {
                return Err(fail(
                    "sign-in needs both `client_id` and `client_secret` (or neither)",
                ));
            }
        }
    }
    Ok(out)
}

/// How the client authenticates at the token endpoint (OpenID Connect Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form.
    Post,
}

/// What is used from a provider's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: Url,
    pub token: Url,
    pub auth: TokenAuth,
}

/// Why an upstream sign-in failed. The text is shown to the requesting party: no secrets, provider values
/// quoted and sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("`{0}` is not a provider this server signs in with")]
    UnknownProvider(String),
    #[error("the provider `{0}` cannot be reached right now; try again later")]
    Unavailable(String),
    #[error("the provider's discovery document is not usable: {0}")]
    BadDiscovery(String),
    #[error("the provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the provider's token response is not usable: {0}")]
    BadTokenResponse(String),
    #[error("the provider's ID token was refused: {0}")]
    IdToken(ClaimError),
    #[error("the provider's ID token does not carry the `nonce` of this sign-in")]
    NonceMismatch,
    #[error("the ID token comes from another issuer than the one signed in with")]
    IssuerMismatch,
}

/// Reads a discovery document (OpenID Connect Discovery §3, §4.3) of the provider `issuer`.
pub fn parse_discovery(issuer: &str, body: &[u8]) -> Result<Endpoints, UpstreamError> {
    let bad = |reason: &str| UpstreamError::BadDiscovery(reason.to_owned());
    let doc: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| bad("it is not a JSON object"))?;
    // §4.3: the issuer in the document must be exactly the one it was fetched for.
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(bad("its `issuer` is not the configured issuer"));
    }
    let secure = issuer.starts_with("https://");
    let endpoint = |name: &str| -> Result<Url, UpstreamError> {
        let text = doc
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("`{name}` is missing")))?;
        let url = Url::parse(text).map_err(|_| bad(&format!("`{name}` is not a URL")))?;
        let scheme_ok = url.scheme() == "https" || (!secure && url.scheme() == "http");
        if !scheme_ok || url.host().is_none() || url.fragment().is_some() {
            return Err(bad(&format!("`{name}` is not an https URL")));
        }
        Ok(url)
    };
    let authorization = endpoint("authorization_endpoint")?;
    let token = endpoint("token_endpoint")?;
    // Discovery §3: without the list, client_secret_basic is the default.
    let auth = match listed(&doc, "token_endpoint_auth_methods_supported")? {
        None => TokenAuth::Basic,
        Some(methods) if methods.contains(&"client_secret_basic") => TokenAuth::Basic,
        Some(methods) if methods.contains(&"client_secret_post") => TokenAuth::Post,
        Some(_) => {
            return Err(bad(
                "the token endpoint accepts neither client_secret_basic nor client_secret_post",
            ));
        }
    };
    if let Some(methods) = listed(&doc, "code_challenge_methods_supported")?
        && !methods.contains(&"S256")
    {
        return Err(bad("the provider does not support PKCE with S256"));
    }
    Ok(Endpoints {
        authorization,
        token,
        auth,
    })
}

/// The strings of an array member of a discovery document, if it is there.
fn listed<'a>(
    doc: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<&'a str>>, UpstreamError> {
    match doc.get(name) {
        None => Ok(None),
        Some(Value::Array(values)) => Ok(Some(values.iter().filter_map(Value::as_str).collect())),
        Some(_) => Err(UpstreamError::BadDiscovery(format!(
            "`{name}` is not an array"
        ))),
    }
}

/// The values one authorization request carries, made fresh for each sign-in.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    /// `BASE64URL(SHA256(code_verifier))` (RFC 7636 §4.2).
    pub code_challenge: &'a str,
    /// Where the provider sends the browser back: this server's callback.
    pub redirect_uri: &'a str,
}

/// The authorization request URL (OpenID Connect Core §3.1.2.1): the endpoint with its own query kept.
pub fn authorization_url(
    endpoints: &Endpoints,
    provider: &Provider,
    req: &AuthRequest<'_>,
) -> String {
    let mut url = endpoints.authorization.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", req.redirect_uri)
        .append_pair("scope", &provider.scopes)
        .append_pair("state", req.state)
        .append_pair("nonce", req.nonce)
        .append_pair("code_challenge", req.code_challenge)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

fn form_encoded(text: &str) -> String {
    byte_serialize(text.as_bytes()).collect()
}

/// The `Authorization` header of client_secret_basic: id and secret form-encoded, then base64 (RFC 6749 §2.3.1).
fn basic_auth(provider: &Provider) -> String {
    let pair = format!(
        "{}:{}",
        form_encoded(&provider.client_id),
        form_encoded(provider.client_secret.secret())
    );
    format!("Basic {}", STANDARD.encode(pair))
}

/// The ID token of a token response (OpenID Connect Core §3.1.3.3), or the provider's refusal (RFC 6749 §5.2).
pub fn id_token_of(status: u16, body: &[u8]) -> Result<String, UpstreamError> {
    let doc: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        UpstreamError::BadTokenResponse(format!("HTTP {status} without a JSON object"))
    })?;
    if !(200..300).contains(&status) {
        let code = doc
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error code");
        return Err(UpstreamError::Refused(format!("`{}`", quoted(code))));
    }
    match doc.get("id_token") {
        Some(Value::String(token)) if !token.is_empty() => Ok(token.clone()),
        _ => Err(UpstreamError::BadTokenResponse(
            "it carries no `id_token`".into(),
        )),
    }
}

/// OpenID Connect Core §3.1.3.7 item 11: the ID token carries the `nonce` sent, exactly.
pub fn check_nonce(claims: &Map<String, Value>, sent: &str) -> Result<(), UpstreamError> {
    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce) if crate::crypto::constant_time_eq(nonce.as_bytes(), sent.as_bytes()) => Ok(()),
        _ => Err(UpstreamError::NonceMismatch),
    }
}

/// The claims about the person in a verified ID token: everything but what describes the token itself.
pub fn identity_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .filter(|(name, _)| !TOKEN_CLAIMS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// What talks to providers: [`Fetcher`] in the server.
pub trait ProviderHttp: Send + Sync {
    fn get_json(&self, url: &Url) -> Result<Vec<u8>, FetchError>;
    fn post_form(
        &self,
        url: &Url,
        authorization: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), FetchError>;
}

impl ProviderHttp for Fetcher {
    fn get_json(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        Fetcher::get_json(self, url)
    }

    fn post_form(
        &self,
        url: &Url,
        authorization: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), FetchError> {
        Fetcher::post_form(self, url, authorization, form)
    }
}

/// The configured providers, with their discovery documents cached. Built once at startup; everything here
/// may block on the network, so callers run it on the blocking pool.
pub struct Upstream {
    providers: Vec<Provider>,
    http: Arc<dyn ProviderHttp>,
    discovered: Mutex<HashMap<String, (Endpoints, UnixTime)>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("providers", &self.providers)
            .finish()
    }
}

impl Upstream {
    pub fn new(providers: Vec<Provider>, http: Arc<dyn ProviderHttp>) -> Self {
        Self {
            providers,
            http,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_entries(entries: &[TrustedIssuerEntry]) -> Result<Self, ConfigError> {
        Ok(Self::new(providers(entries)?, Arc::new(Fetcher::default())))
    }

    /// The issuers requesting parties may sign in with, in configuration order.
    pub fn issuers(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.issuer.clone()).collect()
    }

    pub fn provider(&self, issuer: &str) -> Result<&Provider, UpstreamError> {
        self.providers
            .iter()
            .find(|p| p.issuer == issuer)
            .ok_or_else(|| UpstreamError::UnknownProvider(quoted(issuer)))
    }

    /// The provider's endpoints: from the cache while fresh, else read again (a stale copy is used while the
    /// provider cannot be reached).
    pub fn endpoints(
        &self,
        provider: &Provider,
        now: UnixTime,
    ) -> Result<Endpoints, UpstreamError> {
        let cached = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&provider.issuer)
            .cloned();
        if let Some((endpoints, at)) = &cached
            && now < at.saturating_add(DISCOVERY_TTL)
        {
            return Ok(endpoints.clone());
        }
        let url = discovery_url(&provider.issuer)?;
        let fetched = self
            .http
            .get_json(&url)
            .map_err(|e| {
                log::warn!("upstream sign-in: discovery of `{}`: {e}", provider.issuer);
                UpstreamError::Unavailable(quoted(&provider.issuer))
            })
            .and_then(|body| parse_discovery(&provider.issuer, &body));
        match (fetched, cached) {
            (Ok(endpoints), _) => {
                self.discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(provider.issuer.clone(), (endpoints.clone(), now));
                Ok(endpoints)
            }
            (Err(UpstreamError::Unavailable(_)), Some((stale, _))) => Ok(stale),
            (Err(e), _) => Err(e),
        }
    }

    /// Redeems `code` at the provider's token endpoint (OpenID Connect Core §3.1.3.1) and returns the ID token.
    pub fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        now: UnixTime,
    ) -> Result<String, UpstreamError> {
        let endpoints = self.endpoints(provider, now)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let header = match endpoints.auth {
            TokenAuth::Basic => Some(basic_auth(provider)),
            TokenAuth::Post => {
                form.push(("client_id", &provider.client_id));
                form.push(("client_secret", provider.client_secret.secret()));
                None
            }
        };
        let (status, body) = self
            .http
            .post_form(&endpoints.token, header.as_deref(), &form)
            .map_err(|e| {
                log::warn!(
                    "upstream sign-in: token request to `{}`: {e}",
                    provider.issuer
                );
                UpstreamError::Unavailable(quoted(&provider.issuer))
            })?;
        id_token_of(status, &body)
    }

    /// Checks an ID token from `provider` with the trusted-issuer verification (signature against the
    /// provider's JWKS, `aud` = our client id, `azp`, `exp`, `iat`), then that it comes from that provider and
    /// carries `nonce`. Returns the identity claims.
    pub fn verify(
        &self,
        verifier: &ClaimsVerifier,
        provider: &Provider,
        id_token: &str,
        nonce: &str,
        now: UnixTime,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let verified = verifier
            .verify(id_token, ID_TOKEN_FORMAT, &provider.client_id, now)
            .map_err(UpstreamError::IdToken)?;
        if verified.iss() != provider.issuer {
            return Err(UpstreamError::IssuerMismatch);
        }
        check_nonce(verified.claims(), nonce)?;
        Ok(identity_claims(verified.claims()))
    }
}

/// `<issuer>/.well-known/openid-configuration` (Discovery §4.1: appended to the issuer, trailing slash dropped).
pub fn discovery_url(issuer: &str) -> Result<Url, UpstreamError> {
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|_| UpstreamError::BadDiscovery("the issuer is not a URL".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://idp.example";

    fn entry(
        client_id: Option<&str>,
        secret: Option<&str>,
        scopes: Option<&str>,
    ) -> TrustedIssuerEntry {
        TrustedIssuerEntry {
            issuer: ISS.into(),
            jwks_uri: "https://idp.example/jwks".into(),
            client_id: client_id.map(str::to_owned),
            client_secret: secret.map(ClientSecret::new),
            scopes: scopes.map(str::to_owned),
        }
    }

    fn provider() -> Provider {
        providers(&[entry(Some("uma cedar"), Some("s3cr:et"), None)])
            .expect("valid")
            .pop()
            .expect("one provider")
    }

    fn discovery(extra: Value) -> Vec<u8> {
        let mut doc = serde_json::json!({
            "issuer": ISS,
            "authorization_endpoint": "https://idp.example/auth?tenant=1",
            "token_endpoint": "https://idp.example/token",
        });
        if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
            doc.extend(extra);
        }
        serde_json::to_vec(&doc).expect("json")
    }

    #[test]
    fn only_entries_with_a_client_id_and_secret_are_providers() {
        let plain = providers(&[entry(None, None, None)]).expect("no sign-in");
        assert!(plain.is_empty());
        let p = provider();
        assert_eq!(p.scopes, DEFAULT_SCOPES);
        assert_eq!(p.client_id, "uma cedar");
        for bad in [
            entry(Some("id"), None, None),
            entry(None, Some("secret"), None),
            entry(None, None, Some("openid")),
            entry(Some("id"), Some("secret"), Some("email profile")),
            entry(Some(""), Some("secret"), None),
        ] {
            let err = providers(std::slice::from_ref(&bad))
                .expect_err("refused")
                .to_string();
            assert!(
                err.contains("entry 1 (`https://idp.example`)"),
                "{bad:?}: {err}"
            );
        }
        assert!(
            !format!("{p:?}").contains("s3cr:et"),
            "the secret is never printed"
        );
    }

    #[test]
    fn discovery_must_name_the_configured_issuer_and_support_s256() {
        let endpoints = parse_discovery(ISS, &discovery(Value::Null)).expect("valid");
        assert_eq!(endpoints.token.as_str(), "https://idp.example/token");
        assert_eq!(endpoints.auth, TokenAuth::Basic);
        let post = discovery(serde_json::json!({
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"]
        }));
        assert_eq!(
            parse_discovery(ISS, &post).expect("post").auth,
            TokenAuth::Post
        );

        let other_issuer = parse_discovery("https://idp.example/", &discovery(Value::Null));
        assert!(
            matches!(other_issuer, Err(UpstreamError::BadDiscovery(m)) if m.contains("issuer"))
        );
        let no_s256 = discovery(serde_json::json!({"code_challenge_methods_supported": ["plain"]}));
        assert!(
            matches!(parse_discovery(ISS, &no_s256), Err(UpstreamError::BadDiscovery(m)) if m.contains("S256"))
        );
        let jwt_only = discovery(
            serde_json::json!({"token_endpoint_auth_methods_supported": ["private_key_jwt"]}),
        );
        assert!(parse_discovery(ISS, &jwt_only).is_err());
        let plain_http =
            discovery(serde_json::json!({"token_endpoint": "http://idp.example/token"}));
        assert!(
            parse_discovery(ISS, &plain_http).is_err(),
            "an https issuer's endpoints are https"
        );
        assert!(parse_discovery(ISS, b"[]").is_err());
    }

    #[test]
    fn the_authorization_request_carries_state_nonce_and_an_s256_challenge() {
        let endpoints = parse_discovery(ISS, &discovery(Value::Null)).expect("valid");
        // RFC 7636 Appendix B.
        let challenge = crate::crypto::pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let url = authorization_url(
            &endpoints,
            &provider(),
            &AuthRequest {
                state: "st",
                nonce: "nn",
                code_challenge: &challenge,
                redirect_uri: "https://as.example/uma/claims/callback",
            },
        );
        let url = Url::parse(&url).expect("url");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(
            query.get("tenant").map(String::as_str),
            Some("1"),
            "the endpoint's query is kept"
        );
        assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
        assert_eq!(query.get("state").map(String::as_str), Some("st"));
        assert_eq!(query.get("nonce").map(String::as_str), Some("nn"));
        assert_eq!(
            query.get("code_challenge").map(String::as_str),
            Some(challenge.as_str())
        );
        assert_eq!(
            query.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert_eq!(query.get("scope").map(String::as_str), Some(DEFAULT_SCOPES));
    }

    #[test]
    fn basic_auth_form_encodes_the_id_and_secret() {
        // RFC 6749 §2.3.1: "uma cedar" -> "uma+cedar", "s3cr:et" -> "s3cr%3Aet".
        assert_eq!(
            basic_auth(&provider()),
            format!("Basic {}", STANDARD.encode("uma+cedar:s3cr%3Aet"))
        );
    }

    #[test]
    fn a_nonce_must_be_carried_back_exactly() {
        let mut claims = Map::new();
        assert_eq!(
            check_nonce(&claims, "n1"),
            Err(UpstreamError::NonceMismatch)
        );
        claims.insert("nonce".into(), Value::from("n2"));
        assert_eq!(
            check_nonce(&claims, "n1"),
            Err(UpstreamError::NonceMismatch)
        );
        claims.insert("nonce".into(), Value::from(1));
        assert_eq!(check_nonce(&claims, "1"), Err(UpstreamError::NonceMismatch));
        claims.insert("nonce".into(), Value::from("n1"));
        assert_eq!(check_nonce(&claims, "n1"), Ok(()));
    }

    #[test]
    fn token_responses() {
        assert_eq!(
            id_token_of(200, br#"{"id_token":"a.b.c","access_token":"x"}"#),
            Ok("a.b.c".into())
        );
        assert!(matches!(
            id_token_of(200, br#"{"access_token":"x"}"#),
            Err(UpstreamError::BadTokenResponse(_))
        ));
        assert_eq!(
            id_token_of(
                400,
                br#"{"error":"invalid_grant","error_description":"secret stuff"}"#
            ),
            Err(UpstreamError::Refused("`invalid_grant`".into()))
        );
        assert!(matches!(
            id_token_of(502, b"<html>"),
            Err(UpstreamError::BadTokenResponse(_))
        ));
    }

    #[test]
    fn identity_claims_leave_the_token_mechanics_out() {
        let claims: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "iss": ISS, "sub": "bob", "email": "bob@idp.example", "aud": "x", "exp": 1, "iat": 1,
            "nonce": "n", "at_hash": "h", "sid": "s"
        }))
        .expect("map");
        let mut kept: Vec<String> = identity_claims(&claims).keys().cloned().collect();
        kept.sort();
        assert_eq!(kept, ["email", "iss", "sub"]);
    }

    struct Down;

    impl ProviderHttp for Down {
        fn get_json(&self, _: &Url) -> Result<Vec<u8>, FetchError> {
            Err(FetchError::Transport("connection refused".into()))
        }
        fn post_form(
            &self,
            _: &Url,
            _: Option<&str>,
            _: &[(&str, &str)],
        ) -> Result<(u16, Vec<u8>), FetchError> {
            Err(FetchError::Transport("connection refused".into()))
        }
    }

    #[test]
    fn a_provider_that_is_down_is_reported_without_details() {
        let upstream = Upstream::new(vec![provider()], Arc::new(Down));
        let p = upstream.provider(ISS).expect("known");
        let err = upstream.endpoints(p, 0).expect_err("down");
        assert_eq!(err, UpstreamError::Unavailable(ISS.into()));
        assert!(!err.to_string().contains("refused"));
        assert!(matches!(
            upstream.provider("https://other.example"),
            Err(UpstreamError::UnknownProvider(_))
        ));
    }
}
