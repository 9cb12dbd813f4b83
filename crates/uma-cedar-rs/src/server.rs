//! The framework-free core: one [`ResourceServer`] per process, shared by every worker.
//!
//! [`ResourceServer::check`] is the whole decision for one request (UMA Grant §3.2, F §4): a bearer RPT that
//! verifies and covers what the request needs lets it through with the [`Granted`] permissions; anything else
//! (no RPT, an invalid or insufficient one) makes the resource server ask the permission endpoint for a ticket
//! and answer with a [`Refusal`]. It blocks on HTTP: call it from a blocking thread in an async server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use url::Url;

use crate::challenge::{Refusal, uma_challenge};
use crate::client::{AsClient, Credentials, PatGrant};
use crate::error::{Error, TokenError};
use crate::grant::{Granted, Required};
use crate::introspect::{IntrospectionCache, parse_answer};
use crate::jwt::{Alg, Expect, JwtVerifier};

/// How RPTs are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Locally, with the AS's JWK Set: no call per request, but a withdrawn permission stays usable until the
    /// RPT expires.
    Jwt,
    /// At the introspection endpoint, answers cached for `introspection_ttl`: the owner's current policies.
    Introspection,
}

/// How to reach the AS and what to accept.
#[derive(Debug, Clone)]
pub struct Config {
    /// The AS's issuer URI; discovery is at `{as_uri}/.well-known/uma2-configuration`.
    pub as_uri: Url,
    pub credentials: Credentials,
    /// How the PAT is obtained: client credentials unless [`Config::owner_refresh_token`] is set.
    pub pat_grant: PatGrant,
    /// The `realm` of the UMA challenge.
    pub realm: String,
    pub verification: Verification,
    /// Signature algorithms accepted on JWT RPTs.
    pub algorithms: Vec<Alg>,
    /// Clock skew tolerated on `exp` and `nbf`, seconds.
    pub leeway: i64,
    /// At most one JWK Set refetch (for an unknown `kid`) per this interval.
    pub jwks_refetch_interval: Duration,
    pub introspection_ttl: Duration,
    pub introspection_capacity: usize,
    /// Timeout of every call to the AS.
    pub timeout: Duration,
}

impl Config {
    /// A configuration with the defaults: JWT verification of ES256/RS256, 30 s leeway, a JWKS refetch at
    /// most every 30 s, introspection answers cached 30 s (10,000 at most), 10 s timeouts.
    pub fn new(
        as_uri: &str,
        client_id: &str,
        client_secret: &str,
        realm: &str,
    ) -> Result<Self, Error> {
        let as_uri = Url::parse(as_uri).map_err(|e| Error::Config(format!("`{as_uri}`: {e}")))?;
        if !matches!(as_uri.scheme(), "http" | "https") {
            return Err(Error::Config(format!("`{as_uri}` is not http(s)")));
        }
        if crate::challenge::quoted(realm).is_none() {
            return Err(Error::Config("the realm cannot go in a header".into()));
        }
        Ok(Self {
            as_uri,
            credentials: Credentials {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
            },
            pat_grant: PatGrant::ClientCredentials,
            realm: realm.to_owned(),
            verification: Verification::Jwt,
            algorithms: Alg::UMA_CEDAR.to_vec(),
            leeway: 30,
            jwks_refetch_interval: Duration::from_secs(30),
            introspection_ttl: Duration::from_secs(30),
            introspection_capacity: 10_000,
            timeout: Duration::from_secs(10),
        })
    }

    pub fn verification(mut self, verification: Verification) -> Self {
        self.verification = verification;
        self
    }

    /// Gets the PAT by refreshing a token the resource owner granted (the authorization code grant with the
    /// `uma_protection` scope) instead of by client credentials. Rotated refresh tokens are followed.
    pub fn owner_refresh_token(mut self, refresh_token: &str) -> Self {
        self.pat_grant = PatGrant::RefreshToken(refresh_token.to_owned());
        self
    }
}

/// A resource description (F §3.1), as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub scopes: Vec<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
}

impl Resource {
    pub fn new(name: &str, scopes: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            kind: None,
            description: None,
        }
    }

    /// The resource's `type` (F §3.1).
    pub fn kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    pub fn to_json(&self) -> Value {
        let mut value = serde_json::Map::new();
        value.insert("name".into(), json!(self.name));
        value.insert("resource_scopes".into(), json!(self.scopes));
        if let Some(kind) = &self.kind {
            value.insert("type".into(), json!(kind));
        }
        if let Some(text) = &self.description {
            value.insert("description".into(), json!(text));
        }
        Value::Object(value)
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// One resource server's UMA protection: its PAT, its registered resources, the RPT checks.
pub struct ResourceServer {
    config: Config,
    client: Arc<AsClient>,
    jwt: OnceLock<JwtVerifier>,
    cache: IntrospectionCache,
    /// The resource server's own names for its resources → the ids the AS assigned.
    registered: Mutex<HashMap<String, String>>,
}

impl ResourceServer {
    /// No network yet: discovery and the PAT happen on first use (or in [`ResourceServer::connect`]).
    pub fn new(config: Config) -> Self {
        let client = AsClient::new(
            config.as_uri.clone(),
            config.credentials.clone(),
            config.pat_grant.clone(),
            config.timeout,
        );
        let ttl = i64::try_from(config.introspection_ttl.as_secs()).unwrap_or(i64::MAX);
        let cache = IntrospectionCache::new(ttl, config.introspection_capacity);
        Self {
            config,
            client: Arc::new(client),
            jwt: OnceLock::new(),
            cache,
            registered: Mutex::new(HashMap::new()),
        }
    }

    /// Discovers the AS and obtains a PAT now, so a misconfiguration shows at startup.
    pub fn connect(&self) -> Result<(), Error> {
        self.client.endpoints()?;
        self.client.pat().map(drop)
    }

    pub fn client(&self) -> &AsClient {
        &self.client
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Registers the resource known here as `key`, or updates its description when `key` was registered
    /// before (by this process; registered again if the AS no longer knows it). Returns the AS's id.
    pub fn register(&self, key: &str, resource: &Resource) -> Result<String, Error> {
        let description = resource.to_json();
        let known = self.resource_id(key);
        if let Some(id) = known {
            match self.client.update_resource(&id, &description) {
                Ok(()) => return Ok(id),
                Err(Error::Refused { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let id = self.client.create_resource(&description)?;
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert(key.to_owned(), id.clone());
        }
        Ok(id)
    }

    /// Deletes the registration of `key`, if this process registered it.
    pub fn unregister(&self, key: &str) -> Result<(), Error> {
        let id = self.registered.lock().ok().and_then(|mut r| r.remove(key));
        match id {
            Some(id) => self.client.delete_resource(&id),
            None => Ok(()),
        }
    }

    /// The AS's id of the resource registered as `key`.
    pub fn resource_id(&self, key: &str) -> Option<String> {
        self.registered.lock().ok()?.get(key).cloned()
    }

    /// Verifies an RPT (without deciding whether it suffices).
    pub fn verify(&self, rpt: &str) -> Result<Granted, TokenError> {
        let now = unix_now();
        match self.config.verification {
            Verification::Jwt => self.jwt_verifier()?.verify(rpt, now),
            Verification::Introspection => {
                if let Some(granted) = self.cache.get(rpt, now) {
                    return Ok(granted);
                }
                let answer = self.client.introspect(rpt)?;
                let granted = parse_answer(&answer, self.client.client_id())?;
                self.cache.put(rpt, &granted, now);
                Ok(granted)
            }
        }
    }

    fn jwt_verifier(&self) -> Result<&JwtVerifier, Error> {
        if let Some(verifier) = self.jwt.get() {
            return Ok(verifier);
        }
        let endpoints = self.client.endpoints()?;
        let expect = Expect {
            issuer: endpoints.issuer.clone(),
            audience: self.client.client_id().to_owned(),
            algorithms: self.config.algorithms.clone(),
            leeway: self.config.leeway,
        };
        let client = Arc::clone(&self.client);
        let fetch = Box::new(move || client.jwks());
        let verifier = JwtVerifier::new(expect, self.config.jwks_refetch_interval, fetch);
        Ok(self.jwt.get_or_init(|| verifier))
    }

    /// The decision for one request: its `Authorization` header value and what it needs.
    pub fn check(
        &self,
        authorization: Option<&str>,
        required: &[Required],
    ) -> Result<Granted, Refusal> {
        if let Some(rpt) = authorization.and_then(bearer) {
            match self.verify(rpt) {
                Ok(granted) if granted.covers(required, unix_now()) => return Ok(granted),
                Ok(_) => log::debug!("the RPT does not cover the request: asking for a ticket"),
                Err(e) => log::debug!("RPT refused ({e}): asking for a ticket"),
            }
        }
        Err(self.refusal(required))
    }

    /// Asks for a ticket covering `required` and says how to answer (F §4, G §3.2).
    pub fn refusal(&self, required: &[Required]) -> Refusal {
        let ticket = self.client.request_ticket(required).and_then(|ticket| {
            let issuer = self.client.endpoints()?.issuer.clone();
            uma_challenge(&self.config.realm, &issuer, &ticket)
        });
        match ticket {
            Ok(header) => Refusal::Challenge(header),
            Err(Error::Refused {
                status,
                error,
                description,
            }) => {
                log::warn!(
                    "the permission endpoint refused a ticket (HTTP {status} `{error}`: {description})"
                );
                Refusal::Forbidden
            }
            Err(e) => {
                log::warn!("no permission ticket: {e}");
                Refusal::Unreachable
            }
        }
    }
}

/// The token of a `Bearer` authorization (RFC 6750 §2.1; the scheme is case-insensitive).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn descriptions_carry_only_what_was_set() {
        let plain = Resource::new("Statement", &["view"]).to_json();
        assert_eq!(
            plain,
            json!({"name": "Statement", "resource_scopes": ["view"]})
        );
        let full = Resource::new("S", &["view", "export"])
            .kind("statement")
            .description("d")
            .to_json();
        assert_eq!(full["type"], "statement");
        assert_eq!(full["description"], "d");
    }

    #[test]
    fn configuration_is_checked() {
        assert!(Config::new("ftp://as", "rs", "s", "bank").is_err());
        assert!(Config::new("not a url", "rs", "s", "bank").is_err());
        assert!(Config::new("http://127.0.0.1:1", "rs", "s", "bank\r\n").is_err());
        let config = Config::new("http://127.0.0.1:1", "rs", "s", "bank").unwrap();
        assert_eq!(config.verification, Verification::Jwt);
    }

    #[test]
    fn an_unreachable_as_is_a_403_with_a_warning_not_a_401() {
        let config = Config::new("http://127.0.0.1:9", "rs", "s", "bank").unwrap();
        let rs = ResourceServer::new(config);
        let refused = rs
            .check(None, &[Required::new("r", &["view"])])
            .unwrap_err();
        assert_eq!(refused, Refusal::Unreachable);
        let refused = rs
            .check(Some("Bearer x.y.z"), &[Required::new("r", &["view"])])
            .unwrap_err();
        assert_eq!(refused, Refusal::Unreachable);
    }
}
