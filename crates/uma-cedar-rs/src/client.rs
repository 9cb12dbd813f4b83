//! The resource server's side of the protection API (UMA Federated Authorization §1.4, §3–§5): discovery, the
//! PAT, resource registration, permission requests, introspection and the JWK Set, over blocking HTTP.
//!
//! Every call is blocking (ureq): from an async server, call it on a blocking thread (`web::block`).
//! Answers are read up to [`MAX_ANSWER_BYTES`]; a timeout, a connection failure or a 5xx is
//! [`Error::Unreachable`], a 4xx is [`Error::Refused`] with the server's `error` and `error_description`.
//!
//! The PAT comes from the client credentials grant (scope `uma_protection`) and is replaced before it expires;
//! a call answered `401` (the PAT revoked meanwhile) gets a fresh PAT and is tried once more.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use url::Url;

use crate::error::Error;
use crate::grant::Required;

/// Answers longer than this are refused.
pub const MAX_ANSWER_BYTES: u64 = 1 << 20;
/// Where the UMA metadata is, relative to the issuer (UMA Grant §2).
pub const DISCOVERY_PATH: &str = "/.well-known/uma2-configuration";
/// The PAT's scope (F §1.4.1).
pub const PAT_SCOPE: &str = "uma_protection";

/// The endpoints the resource server uses, from the AS's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: String,
    pub token: Url,
    pub jwks: Url,
    pub introspection: Url,
    pub resource_registration: Url,
    pub permission: Url,
}

impl Endpoints {
    /// Reads a discovery document fetched from `as_uri`; its `issuer` must be `as_uri` (RFC 8414 §3.3).
    pub fn from_document(as_uri: &Url, document: &Value) -> Result<Self, Error> {
        let url = |name: &str| -> Result<Url, Error> {
            let text = document.get(name).and_then(Value::as_str);
            let text = text.ok_or_else(|| Error::protocol(format!("discovery has no `{name}`")))?;
            let url = Url::parse(text)
                .map_err(|_| Error::protocol(format!("discovery's `{name}` is not a URL")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Error::protocol(format!(
                    "discovery's `{name}` is not http(s)"
                )));
            }
            Ok(url)
        };
        let issuer = document
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if issuer.trim_end_matches('/') != as_uri.as_str().trim_end_matches('/') {
            return Err(Error::protocol(format!(
                "discovery at `{as_uri}` names another issuer: `{issuer}`"
            )));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            token: url("token_endpoint")?,
            jwks: url("jwks_uri")?,
            introspection: url("introspection_endpoint")?,
            resource_registration: url("resource_registration_endpoint")?,
            permission: url("permission_endpoint")?,
        })
    }
}

/// The client credentials of the resource server; `Debug` never prints the secret.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// Where the resource server's PAT comes from (F §1.3: an OAuth access token with the `uma_protection` scope).
#[derive(Clone, Default)]
pub enum PatGrant {
    /// The client credentials grant: the PAT stands for the resource server itself (uma-cedar's default).
    #[default]
    ClientCredentials,
    /// A refresh token the resource owner granted the resource server (the authorization code grant with the
    /// `uma_protection` scope). Each refresh answers a rotated refresh token, which replaces it.
    RefreshToken(String),
}

impl std::fmt::Debug for PatGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientCredentials => f.write_str("ClientCredentials"),
            Self::RefreshToken(_) => f.write_str("RefreshToken([redacted])"),
        }
    }
}

struct Pat {
    token: String,
    renew_at: Instant,
}

/// The PAT held and how to get the next one.
struct PatSlot {
    current: Option<Pat>,
    grant: PatGrant,
}

enum Auth<'a> {
    None,
    Basic,
    Bearer(&'a str),
}

enum Body<'a> {
    Empty,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
}

struct Reply {
    status: u16,
    body: Value,
}

/// A blocking client of one authorization server, shared by all workers.
pub struct AsClient {
    as_uri: Url,
    credentials: Credentials,
    agent: ureq::Agent,
    endpoints: Mutex<Option<Arc<Endpoints>>>,
    pat: Mutex<PatSlot>,
}

impl AsClient {
    pub fn new(as_uri: Url, credentials: Credentials, grant: PatGrant, timeout: Duration) -> Self {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls)
            .user_agent(concat!("uma-cedar-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            as_uri,
            credentials,
            agent,
            endpoints: Mutex::new(None),
            pat: Mutex::new(PatSlot {
                current: None,
                grant,
            }),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// The AS's endpoints, discovered on first use and kept (a failed discovery is tried again next time).
    pub fn endpoints(&self) -> Result<Arc<Endpoints>, Error> {
        let mut slot = self.endpoints.lock().map_err(|_| poisoned())?;
        if let Some(endpoints) = slot.as_ref() {
            return Ok(Arc::clone(endpoints));
        }
        let base = self.as_uri.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}{DISCOVERY_PATH}"))
            .map_err(|e| Error::Config(format!("the AS URI: {e}")))?;
        let reply = self.send("GET", &url, Auth::None, Body::Empty)?;
        let document = expect(reply, &[200])?;
        let endpoints = Arc::new(Endpoints::from_document(&self.as_uri, &document)?);
        *slot = Some(Arc::clone(&endpoints));
        Ok(endpoints)
    }

    /// A PAT good for a while yet: the one held, or a new one by the configured [`PatGrant`].
    pub fn pat(&self) -> Result<String, Error> {
        let mut slot = self.pat.lock().map_err(|_| poisoned())?;
        if let Some(pat) = slot
            .current
            .as_ref()
            .filter(|pat| Instant::now() < pat.renew_at)
        {
            return Ok(pat.token.clone());
        }
        let endpoints = self.endpoints()?;
        let form: Vec<(&str, &str)> = match &slot.grant {
            PatGrant::ClientCredentials => {
                vec![("grant_type", "client_credentials"), ("scope", PAT_SCOPE)]
            }
            PatGrant::RefreshToken(token) => {
                vec![("grant_type", "refresh_token"), ("refresh_token", token)]
            }
        };
        let reply = self.send("POST", &endpoints.token, Auth::Basic, Body::Form(&form))?;
        let answer = expect(reply, &[200])?;
        let token = answer.get("access_token").and_then(Value::as_str);
        let token =
            token.ok_or_else(|| Error::protocol("the token answer has no `access_token`"))?;
        if let PatGrant::RefreshToken(held) = &mut slot.grant {
            // The old refresh token is spent once rotated; keep the one the AS answered.
            if let Some(rotated) = answer.get("refresh_token").and_then(Value::as_str) {
                rotated.clone_into(held);
            }
        }
        let lifetime = answer.get("expires_in").and_then(Value::as_u64);
        let renew_at = Instant::now() + renew_after(lifetime.unwrap_or(300));
        slot.current = Some(Pat {
            token: token.to_owned(),
            renew_at,
        });
        Ok(token.to_owned())
    }

    fn forget_pat(&self) {
        if let Ok(mut slot) = self.pat.lock() {
            slot.current = None;
        }
    }

    /// A protection API call with the PAT; a `401` gets a fresh PAT and one more try.
    fn protected(&self, method: &str, url: &Url, body: Body<'_>) -> Result<Reply, Error> {
        let pat = self.pat()?;
        let reply = self.send(method, url, Auth::Bearer(&pat), clone_body(&body))?;
        if reply.status != 401 {
            return Ok(reply);
        }
        self.forget_pat();
        let pat = self.pat()?;
        self.send(method, url, Auth::Bearer(&pat), body)
    }

    /// Registers a resource (F §3.2.1) and returns its id.
    pub fn create_resource(&self, description: &Value) -> Result<String, Error> {
        let endpoints = self.endpoints()?;
        let url = &endpoints.resource_registration;
        let answer = expect(
            self.protected("POST", url, Body::Json(description))?,
            &[201],
        )?;
        string(&answer, "_id")
    }

    /// Replaces the description of a registered resource (F §3.2.3).
    pub fn update_resource(&self, id: &str, description: &Value) -> Result<(), Error> {
        let url = self.resource_url(id)?;
        expect(
            self.protected("PUT", &url, Body::Json(description))?,
            &[200],
        )
        .map(drop)
    }

    /// Deletes a registered resource (F §3.2.4).
    pub fn delete_resource(&self, id: &str) -> Result<(), Error> {
        let url = self.resource_url(id)?;
        let reply = self.protected("DELETE", &url, Body::Empty)?;
        if reply.status == 204 || reply.status == 200 {
            return Ok(());
        }
        expect(reply, &[204]).map(drop)
    }

    fn resource_url(&self, id: &str) -> Result<Url, Error> {
        let mut url = self.endpoints()?.resource_registration.clone();
        url.path_segments_mut()
            .map_err(|()| Error::protocol("the resource registration endpoint cannot take a path"))?
            .pop_if_empty()
            .push(id);
        Ok(url)
    }

    /// Asks the permission endpoint for a ticket covering `required` (F §4.1).
    pub fn request_ticket(&self, required: &[Required]) -> Result<String, Error> {
        let endpoints = self.endpoints()?;
        let body = Value::Array(required.iter().map(Required::to_json).collect());
        let reply = self.protected("POST", &endpoints.permission, Body::Json(&body))?;
        string(&expect(reply, &[201])?, "ticket")
    }

    /// Introspects `token` (F §5.1) and returns the raw answer.
    pub fn introspect(&self, token: &str) -> Result<Value, Error> {
        let endpoints = self.endpoints()?;
        let form = [("token", token), ("token_type_hint", "access_token")];
        let reply = self.protected("POST", &endpoints.introspection, Body::Form(&form))?;
        expect(reply, &[200])
    }

    /// The AS's JWK Set document.
    pub fn jwks(&self) -> Result<Value, Error> {
        let endpoints = self.endpoints()?;
        expect(
            self.send("GET", &endpoints.jwks, Auth::None, Body::Empty)?,
            &[200],
        )
    }

    fn send(
        &self,
        method: &str,
        url: &Url,
        auth: Auth<'_>,
        body: Body<'_>,
    ) -> Result<Reply, Error> {
        let authorization = match auth {
            Auth::None => None,
            // RFC 6749 §2.3.1: id and secret form-encoded, then base64 together.
            Auth::Basic => {
                let id = form_encode(&self.credentials.client_id);
                let secret = form_encode(&self.credentials.client_secret);
                let pair = openssl::base64::encode_block(format!("{id}:{secret}").as_bytes());
                Some(format!("Basic {pair}"))
            }
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        };
        let (content_type, payload) = match body {
            Body::Empty => (None, String::new()),
            Body::Form(pairs) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                let form = form.extend_pairs(pairs).finish();
                (Some("application/x-www-form-urlencoded"), form)
            }
            Body::Json(value) => (Some("application/json"), value.to_string()),
        };
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("Accept", "application/json");
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        if let Some(value) = content_type {
            builder = builder.header("Content-Type", value);
        }
        let request = builder
            .body(payload)
            .map_err(|e| Error::Config(format!("{method} {url}: {e}")))?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|e| Error::Unreachable(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        if status >= 500 {
            return Err(Error::Unreachable(format!("{method} {url}: HTTP {status}")));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| Error::protocol(format!("{method} {url}: {e}")))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|_| Error::protocol(format!("{method} {url}: not JSON")))?
        };
        Ok(Reply { status, body })
    }
}

/// When to replace a PAT that lives `lifetime` seconds: a fifth of its life (at most a minute) before it ends,
/// so no call carries a dying PAT.
fn renew_after(lifetime: u64) -> Duration {
    let margin = (lifetime / 5).min(60);
    Duration::from_secs(lifetime.saturating_sub(margin))
}

fn clone_body<'a>(body: &Body<'a>) -> Body<'a> {
    match body {
        Body::Empty => Body::Empty,
        Body::Form(pairs) => Body::Form(pairs),
        Body::Json(value) => Body::Json(value),
    }
}

fn poisoned() -> Error {
    Error::protocol("a lock of the AS client is poisoned")
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The body of an answer with one of the expected statuses; any other is the server's refusal.
fn expect(reply: Reply, ok: &[u16]) -> Result<Value, Error> {
    if ok.contains(&reply.status) {
        return Ok(reply.body);
    }
    let text = |name: &str| {
        let value = reply
            .body
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("(none)");
        value.chars().take(300).collect::<String>()
    };
    Err(Error::Refused {
        status: reply.status,
        error: text("error"),
        description: text("error_description"),
    })
}

fn string(answer: &Value, name: &str) -> Result<String, Error> {
    let value = answer.get(name).and_then(Value::as_str);
    value
        .map(str::to_owned)
        .ok_or_else(|| Error::protocol(format!("the answer has no `{name}`")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(issuer: &str) -> Value {
        json!({"issuer": issuer, "token_endpoint": "http://127.0.0.1:1/token", "jwks_uri": "http://127.0.0.1:1/jwks",
               "introspection_endpoint": "http://127.0.0.1:1/introspect",
               "resource_registration_endpoint": "http://127.0.0.1:1/uma/resources",
               "permission_endpoint": "http://127.0.0.1:1/uma/permission"})
    }

    #[test]
    fn discovery_must_name_the_issuer_it_was_fetched_from() {
        let as_uri = Url::parse("http://127.0.0.1:1").unwrap();
        let endpoints = Endpoints::from_document(&as_uri, &document("http://127.0.0.1:1")).unwrap();
        assert_eq!(endpoints.permission.path(), "/uma/permission");
        assert!(Endpoints::from_document(&as_uri, &document("http://evil.example")).is_err());
        let mut broken = document("http://127.0.0.1:1");
        broken["permission_endpoint"] = json!("ftp://127.0.0.1/p");
        assert!(Endpoints::from_document(&as_uri, &broken).is_err());
    }

    #[test]
    fn the_pat_is_renewed_before_it_expires() {
        assert_eq!(renew_after(3600), Duration::from_secs(3540));
        assert_eq!(renew_after(100), Duration::from_secs(80));
        assert_eq!(renew_after(0), Duration::ZERO);
    }

    #[test]
    fn refusals_carry_the_servers_error() {
        let reply = Reply {
            status: 400,
            body: json!({"error": "invalid_resource_id", "error_description": "no such resource"}),
        };
        let refused = expect(reply, &[201]).unwrap_err();
        assert_eq!(
            refused,
            Error::Refused {
                status: 400,
                error: "invalid_resource_id".into(),
                description: "no such resource".into()
            }
        );
    }

    #[test]
    fn an_unreachable_server_is_reported_as_such() {
        // Port 9 on loopback: nothing listens (discard), so the connection is refused at once.
        let as_uri = Url::parse("http://127.0.0.1:9").unwrap();
        let credentials = Credentials {
            client_id: "rs".into(),
            client_secret: "s".into(),
        };
        let client = AsClient::new(
            as_uri,
            credentials,
            PatGrant::default(),
            Duration::from_secs(5),
        );
        assert!(
            client
                .request_ticket(&[Required::new("r", &["view"])])
                .unwrap_err()
                .is_unreachable()
        );
        assert!(format!("{:?}", client.credentials).contains("[redacted]"));
    }
}
