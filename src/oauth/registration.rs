//! Creating clients (domain rules; storage only through a narrow trait): the rules shared by the admin CLI
//! (`uma-cedar client add`) and dynamic client registration (RFC 7591). Redirect URIs are absolute, have no fragment (RFC 6749 §3.1.2) and are later
//! matched exactly. A client's grant types, authentication method and redirect URIs must agree with each
//! other (RFC 7591 §2.1) whoever registers it.
//!
//! [`Registration`] checks an RFC 7591 §2 metadata document ([`RegistrationRequest`], a serde struct whose
//! extension members ride along) into the same [`NewClient`]; it never lets a request choose what the server
//! assigns (`client_id`, the secret, their timestamps). [`register`] is the registration service (RFC 7591
//! §3.1) against the narrow [`ClientStore`]. The response shapes of registration and of the CLI listing are
//! built in the HTTP layer and the CLI from [`Client`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::client::Client;
use super::types::{AuthMethod, GrantType};
use crate::clock::UnixTime;
use crate::context::Random;
use crate::crypto;
use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scopes;
use crate::secret::ClientSecret;
use crate::store::clients::ClientStore;

/// Why a client description was refused. The message names the field and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    RedirectUri(String),
    #[error("{0}")]
    Metadata(String),
}

/// A client as the admin or a registering client describes it.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    /// The secret in clear; `None` makes a public client.
    pub secret: Option<ClientSecret>,
    /// Defaults to `client_secret_basic` for a confidential client and `none` for a public one.
    pub auth_method: Option<AuthMethod>,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub claims_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub metadata: Map<String, Value>,
}

/// Client identifiers: 1 to 128 characters, printable ASCII without spaces or `:` (which Basic
/// authentication would split on).
pub fn check_client_id(id: &str) -> Result<(), ClientError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic() && c != ':') {
        return Err(ClientError::Metadata(format!(
            "client id `{id}` must be 1 to 128 printable ASCII characters without spaces or `:`"
        )));
    }
    Ok(())
}

/// URI schemes a browser does not navigate to as a request to the client but runs as code or renders as
/// content (RFC 9700 §4.1, RFC 8252 §7.1 and §8.7): a redirect to one would hand the code or the ticket to
/// whatever the URI carries. Native apps keep loopback `http` and private-use schemes (RFC 8252 §7).
const REFUSED_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// Checks one redirect URI.
pub fn check_redirect_uri(uri: &str) -> Result<(), ClientError> {
    let shown = crate::error::quoted(uri);
    let parsed = url::Url::parse(uri).map_err(|e| {
        ClientError::RedirectUri(format!("redirect URI {shown} is not an absolute URI: {e}"))
    })?;
    // The parser lowercases the scheme, so `JavaScript:` is caught too.
    if REFUSED_SCHEMES.contains(&parsed.scheme()) {
        return Err(ClientError::RedirectUri(format!(
            "redirect URI {shown} uses the `{}` scheme, which a browser runs or renders instead of \
             returning to the client; use https (or http on a loopback address, or a private-use scheme \
             for a native app)",
            parsed.scheme()
        )));
    }
    if parsed.fragment().is_some() {
        return Err(ClientError::RedirectUri(format!(
            "redirect URI {shown} must not contain a fragment (RFC 6749 section 3.1.2)"
        )));
    }
    if parsed.cannot_be_a_base() && parsed.scheme() != "urn" {
        return Err(ClientError::RedirectUri(format!(
            "redirect URI {shown} is not a usable URI"
        )));
    }
    Ok(())
}

const AUTHORIZATION_CODE: GrantType = GrantType::AuthorizationCode;
const CLIENT_CREDENTIALS: GrantType = GrantType::ClientCredentials;
const REFRESH_TOKEN: GrantType = GrantType::RefreshToken;
const UMA_TICKET: GrantType = GrantType::UmaTicket;

/// Checks that an explicit list of grant types fits the rest of the description (RFC 7591 §2.1). An empty
/// list is the admin's "any grant the client type allows" and has nothing to contradict.
fn check_consistency(
    grant_types: &[GrantType],
    public: bool,
    redirect_uris: &[String],
    claims_redirect_uris: &[String],
) -> Result<(), ClientError> {
    if grant_types.is_empty() {
        return Ok(());
    }
    let has = |grant: GrantType| grant_types.contains(&grant);
    if public && has(CLIENT_CREDENTIALS) {
        return Err(ClientError::Metadata(
            "a public client (token_endpoint_auth_method `none`) cannot use the `client_credentials` \
             grant: it has no credentials to present"
                .into(),
        ));
    }
    if has(AUTHORIZATION_CODE) && redirect_uris.is_empty() {
        return Err(ClientError::RedirectUri(
            "the `authorization_code` grant needs at least one redirect URI in `redirect_uris`"
                .into(),
        ));
    }
    // Refresh tokens come only from the code and UMA grants; alone the grant type could never be used.
    if has(REFRESH_TOKEN) && !has(AUTHORIZATION_CODE) && !has(UMA_TICKET) {
        return Err(ClientError::Metadata(format!(
            "the `refresh_token` grant needs `{AUTHORIZATION_CODE}` or `{UMA_TICKET}`, which issue refresh tokens"
        )));
    }
    // Claims interaction (UMA Grant §3.3.2) happens only within the UMA grant.
    if !claims_redirect_uris.is_empty() && !has(UMA_TICKET) {
        return Err(ClientError::Metadata(format!(
            "`claims_redirect_uris` are used only by the UMA grant; add `{UMA_TICKET}` to `grant_types`"
        )));
    }
    Ok(())
}

impl NewClient {
    /// Validates the description and builds the record to store (the secret hashed).
    pub fn build(self, now: UnixTime) -> Result<Client, ClientError> {
        check_client_id(&self.client_id)?;
        for uri in self.redirect_uris.iter().chain(&self.claims_redirect_uris) {
            check_redirect_uri(uri)?;
        }
        if let Some(unknown) = self.grant_types.iter().find(|g| !g.is_supported()) {
            return Err(ClientError::Metadata(format!(
                "grant type `{unknown}` is not supported (supported: {})",
                GrantType::supported_list()
            )));
        }
        let auth_method = match (self.auth_method, self.secret.is_some()) {
            (None, true) => AuthMethod::ClientSecretBasic,
            (None | Some(AuthMethod::None), false) => AuthMethod::None,
            (Some(AuthMethod::None), true) => {
                return Err(ClientError::Metadata(
                    "a client with token_endpoint_auth_method `none` cannot have a secret".into(),
                ));
            }
            (Some(method), true) => method,
            (Some(method), false) => {
                return Err(ClientError::Metadata(format!(
                    "auth method `{method}` needs a client secret"
                )));
            }
        };
        if self.secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(ClientError::Metadata(
                "a client secret must be at least 16 characters".into(),
            ));
        }
        check_consistency(
            &self.grant_types,
            auth_method == AuthMethod::None,
            &self.redirect_uris,
            &self.claims_redirect_uris,
        )?;
        Ok(Client {
            client_id: self.client_id,
            secret_hash: self
                .secret
                .as_ref()
                .map(|secret| crypto::hash_secret(secret.secret())),
            auth_method,
            client_name: self.client_name,
            redirect_uris: self.redirect_uris,
            claims_redirect_uris: self.claims_redirect_uris,
            grant_types: self.grant_types,
            metadata: self.metadata,
            created_at: now,
        })
    }
}

/// Members the server assigns or does not honour. A registration request that sends them is not refused
/// (RFC 7591 §3.2.1 lets the server replace values) but they are dropped: a client must never pick its own
/// identifier or secret, and a software statement this server does not verify must not be stored as if it
/// vouched for anything.
const SERVER_MEMBERS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "software_statement",
];

/// URL-valued members of RFC 7591 §2: people and software follow them, so they must be absolute http(s).
const URL_MEMBERS: &[&str] = &[
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
];

/// Plain string members of RFC 7591 §2 that need no rule beyond their type.
const STRING_MEMBERS: &[&str] = &["software_id", "software_version"];

const RESPONSE_TYPES: &[&str] = &["code"];

/// A member of a registration request as sent: absent (or JSON `null`, which counts as omitted), of the
/// type RFC 7591 §2 gives it, or of another type. A member of the wrong type is reported with the error code
/// that member calls for, so it is never a deserialization failure of the whole body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Member<T> {
    #[default]
    Absent,
    Given(T),
    WrongType,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Member<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Self::Absent);
        }
        Ok(T::deserialize(value).map_or(Self::WrongType, Self::Given))
    }
}

impl<T> Member<T> {
    /// The value, `None` when absent, or `wrong` when of another type.
    fn read(self, wrong: impl FnOnce() -> ClientError) -> Result<Option<T>, ClientError> {
        match self {
            Self::Absent => Ok(None),
            Self::Given(value) => Ok(Some(value)),
            Self::WrongType => Err(wrong()),
        }
    }
}

/// The body of a registration request (RFC 7591 §2, §3.1) as sent: the members this server interprets, typed,
/// and every other member kept in `other` (RFC 7591 §2: extension members are stored and echoed, not
/// refused). Checked into a [`Registration`] by [`Registration::check`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Member<Vec<String>>,
    /// UMA Grant §2.
    #[serde(default)]
    pub claims_redirect_uris: Member<Vec<String>>,
    #[serde(default)]
    pub grant_types: Member<Vec<String>>,
    #[serde(default)]
    pub response_types: Member<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_method: Member<String>,
    #[serde(default)]
    pub client_name: Member<String>,
    /// Every other member: `scope`, `contacts`, the URLs, `jwks`, software identifiers, extensions, and the
    /// members the server assigns (dropped by the check).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A dynamic registration request (RFC 7591 §2), parsed and checked, before the server assigns the client
/// id and secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// `token_endpoint_auth_method`, defaulting to `client_secret_basic`.
    pub auth_method: AuthMethod,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub claims_redirect_uris: Vec<String>,
    /// Never empty: the server's "no list means any grant" reading is for admin-created clients only.
    pub grant_types: Vec<GrantType>,
    /// Everything else that is stored and returned: `response_types`, `scope`, `contacts`, the URLs and any
    /// extension member.
    pub metadata: Map<String, Value>,
}

fn not_strings(name: &str) -> String {
    format!("`{name}` must be an array of strings")
}

fn strings(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Reads `name` as a string, if present.
fn string_member<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ClientError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ClientError::Metadata(format!("`{name}` must be a string"))),
    }
}

fn check_url_member(name: &str, text: &str) -> Result<(), ClientError> {
    let usable = url::Url::parse(text)
        .is_ok_and(|url| (url.scheme() == "https" || url.scheme() == "http") && url.has_host());
    if usable {
        Ok(())
    } else {
        Err(ClientError::Metadata(format!(
            "`{name}` must be an absolute http or https URL, got `{text}`"
        )))
    }
}

impl Registration {
    /// Parses a registration request's JSON object (see [`Registration::check`]).
    pub fn parse(body: Map<String, Value>) -> Result<Self, ClientError> {
        let request = serde_json::from_value::<RegistrationRequest>(Value::Object(body))
            .map_err(|e| ClientError::Metadata(format!("the client metadata do not parse: {e}")))?;
        Self::check(request)
    }

    /// Checks the members of a registration request. Omitted members take the RFC 7591 §2 defaults, except
    /// that an omitted `response_types` follows `grant_types`, so a client that only uses client credentials
    /// need not send an empty list, and an omitted `grant_types` includes the UMA grant for a client that
    /// registers `claims_redirect_uris`. JSON `null` counts as omitted.
    pub fn check(request: RegistrationRequest) -> Result<Self, ClientError> {
        let RegistrationRequest {
            redirect_uris,
            claims_redirect_uris,
            grant_types,
            response_types,
            token_endpoint_auth_method,
            client_name,
            other: mut body,
        } = request;
        for name in SERVER_MEMBERS {
            body.remove(*name);
        }
        body.retain(|_, value| !value.is_null());

        let redirect_uris = redirect_uris
            .read(|| ClientError::RedirectUri(not_strings("redirect_uris")))?
            .unwrap_or_default();
        let claims_redirect_uris = claims_redirect_uris
            .read(|| ClientError::RedirectUri(not_strings("claims_redirect_uris")))?
            .unwrap_or_default();
        // RFC 7591 defaults an omitted `grant_types` to `authorization_code`; a client that registers
        // `claims_redirect_uris` is a UMA client (UMA Grant §2), so it gets the UMA grant as well, or alone
        // when it registers no plain redirect URI.
        let grant_types = grant_types
            .read(|| ClientError::Metadata(not_strings("grant_types")))?
            .map(|names| {
                names
                    .iter()
                    .map(|name| {
                        let Ok(grant) = name.parse::<GrantType>();
                        grant
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(
                || match (redirect_uris.is_empty(), claims_redirect_uris.is_empty()) {
                    (true, false) => vec![UMA_TICKET],
                    (false, false) => vec![AUTHORIZATION_CODE, UMA_TICKET],
                    _ => vec![AUTHORIZATION_CODE],
                },
            );
        if grant_types.is_empty() {
            return Err(ClientError::Metadata(
                "`grant_types` must list at least one grant type (or be omitted for `authorization_code`)"
                    .into(),
            ));
        }

        let must_be_string =
            |name: &str| ClientError::Metadata(format!("`{name}` must be a string"));
        let auth_method = token_endpoint_auth_method
            .read(|| must_be_string("token_endpoint_auth_method"))?
            .as_deref()
            .map(str::parse::<AuthMethod>)
            .transpose()
            .map_err(|e| ClientError::Metadata(e.to_string()))?
            .unwrap_or_default();
        let client_name = client_name.read(|| must_be_string("client_name"))?;

        let uses_code = grant_types.contains(&AUTHORIZATION_CODE);
        let response_types =
            match response_types.read(|| ClientError::Metadata(not_strings("response_types")))? {
                Some(list) => list,
                None if uses_code => vec!["code".to_owned()],
                None => Vec::new(),
            };
        if let Some(unknown) = response_types
            .iter()
            .find(|r| !RESPONSE_TYPES.contains(&r.as_str()))
        {
            return Err(ClientError::Metadata(format!(
                "response type `{unknown}` is not supported (supported: {})",
                RESPONSE_TYPES.join(", ")
            )));
        }
        // RFC 7591 §2.1: the `code` response type and the `authorization_code` grant go together.
        if response_types.is_empty() == uses_code {
            return Err(ClientError::Metadata(
                "`response_types` must contain `code` exactly when `grant_types` contains `authorization_code`"
                    .into(),
            ));
        }
        body.insert("response_types".into(), Value::from(response_types));

        if let Some(scope) = string_member(&body, "scope")? {
            Scopes::parse(scope).map_err(|_| {
                ClientError::Metadata(format!(
                    "`scope` must be a space-separated list of scope tokens, got `{scope}`"
                ))
            })?;
        }
        if let Some(contacts) = body.get("contacts")
            && strings(contacts).is_none()
        {
            return Err(ClientError::Metadata(not_strings("contacts")));
        }
        for name in URL_MEMBERS {
            if let Some(text) = string_member(&body, name)? {
                check_url_member(name, text)?;
            }
        }
        for name in STRING_MEMBERS {
            string_member(&body, name)?;
        }
        if body.get("jwks").is_some_and(|jwks| !jwks.is_object()) {
            return Err(ClientError::Metadata(
                "`jwks` must be a JSON Web Key Set object".into(),
            ));
        }
        if body.contains_key("jwks") && body.contains_key("jwks_uri") {
            return Err(ClientError::Metadata(
                "send `jwks` or `jwks_uri`, not both (RFC 7591 §2)".into(),
            ));
        }

        Ok(Self {
            auth_method,
            client_name,
            redirect_uris,
            claims_redirect_uris,
            grant_types,
            metadata: body,
        })
    }

    /// A public client gets no secret.
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// The client to build once the server has chosen its id and (for a confidential client) its secret.
    pub fn into_new_client(self, client_id: String, secret: Option<ClientSecret>) -> NewClient {
        NewClient {
            client_id,
            secret,
            auth_method: Some(self.auth_method),
            client_name: self.client_name,
            redirect_uris: self.redirect_uris,
            claims_redirect_uris: self.claims_redirect_uris,
            grant_types: self.grant_types,
            metadata: self.metadata,
        }
    }
}

impl From<ClientError> for OAuthError {
    /// RFC 7591 §3.2.2: a bad redirect URI is `invalid_redirect_uri`, any other bad member
    /// `invalid_client_metadata`.
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::RedirectUri(description) => {
                OAuthError::new(ErrorCode::InvalidRedirectUri, description)
            }
            ClientError::Metadata(description) => {
                OAuthError::new(ErrorCode::InvalidClientMetadata, description)
            }
        }
    }
}

/// Random bytes in a generated client id: unguessable enough that ids cannot be enumerated.
pub const CLIENT_ID_BYTES: usize = 16;

/// A client just registered: the stored record, and its secret in clear, to be returned this once.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<ClientSecret>,
}

/// Registers a client (RFC 7591 §3.1): the server picks the client id and, for a confidential client, the
/// secret, builds the record by the rules every client follows, and stores it in `tx`.
pub fn register(
    tx: &impl ClientStore,
    random: &dyn Random,
    registration: Registration,
    now: UnixTime,
) -> Result<Registered, OAuthError> {
    let client_id = random
        .string(CLIENT_ID_BYTES)
        .map_err(|e| OAuthError::server_error(&e))?;
    let secret = if registration.is_public() {
        None
    } else {
        Some(ClientSecret::new(
            random.token().map_err(|e| OAuthError::server_error(&e))?,
        ))
    };
    let client = registration
        .into_new_client(client_id, secret.clone())
        .build(now)?;
    tx.insert_client(&client)?;
    Ok(Registered { client, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewClient {
        NewClient {
            client_id: "rs1".into(),
            secret: Some(ClientSecret::new("0123456789abcdef")),
            redirect_uris: vec!["https://rs.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn confidential_client_gets_basic_and_a_hashed_secret() {
        let client = base().build(5).expect("valid");
        assert_eq!(client.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(
            client.secret_hash,
            Some(crypto::hash_secret("0123456789abcdef"))
        );
    }

    #[test]
    fn public_client_has_no_secret() {
        let client = NewClient {
            secret: None,
            ..base()
        }
        .build(5)
        .expect("valid");
        assert!(client.is_public());
        assert_eq!(client.auth_method, AuthMethod::None);
    }

    #[test]
    fn bad_descriptions_are_refused_with_a_reason() {
        let cases = [
            NewClient {
                redirect_uris: vec!["/relative".into()],
                ..base()
            },
            NewClient {
                redirect_uris: vec!["https://a.example/cb#frag".into()],
                ..base()
            },
            NewClient {
                client_id: "has space".into(),
                ..base()
            },
            NewClient {
                client_id: "a:b".into(),
                ..base()
            },
            NewClient {
                secret: Some(ClientSecret::new("short")),
                ..base()
            },
            NewClient {
                grant_types: vec![GrantType::Unknown("password".into())],
                ..base()
            },
            NewClient {
                auth_method: Some(AuthMethod::ClientSecretPost),
                secret: None,
                ..base()
            },
        ];
        for case in cases {
            let id = case.client_id.clone();
            assert!(case.build(0).is_err(), "{id} should be refused");
        }
    }

    #[test]
    fn redirect_uris_that_run_code_or_carry_content_are_refused() {
        for uri in [
            "javascript://x/%0aalert(1)",
            "JavaScript://x/%0aalert(1)",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "data://x/y",
            "vbscript://x/msgbox",
            "file:///etc/passwd",
            "blob:https://a.example/0b1c",
            "about:blank",
        ] {
            for claims in [false, true] {
                let mut client = base();
                if claims {
                    client.claims_redirect_uris = vec![uri.into()];
                } else {
                    client.redirect_uris = vec![uri.into()];
                }
                assert!(
                    matches!(client.build(0), Err(ClientError::RedirectUri(m)) if m.contains("redirect URI")),
                    "{uri} should be refused"
                );
            }
        }
        assert!(matches!(
            check_redirect_uri("javascript://x/%0aalert(1)"),
            Err(ClientError::RedirectUri(m)) if m.contains("`javascript` scheme")
        ));
    }

    #[test]
    fn native_app_redirect_uris_stay_accepted() {
        // RFC 8252 §7.1 and §7.3: private-use schemes and loopback http.
        for uri in [
            "com.example.app:/oauth2redirect",
            "com.example.app://callback",
            "http://127.0.0.1:53123/cb",
            "http://[::1]/cb",
            "http://localhost/cb",
        ] {
            assert_eq!(check_redirect_uri(uri), Ok(()), "{uri}");
        }
        assert!(check_redirect_uri("com.example.app:/cb#x").is_err());
    }

    #[test]
    fn explicit_grant_types_must_fit_the_rest() {
        let public_cc = NewClient {
            secret: None,
            grant_types: vec![CLIENT_CREDENTIALS],
            ..base()
        };
        assert!(
            matches!(public_cc.build(0), Err(ClientError::Metadata(m)) if m.contains("public client"))
        );
        let code_without_redirect = NewClient {
            redirect_uris: vec![],
            grant_types: vec![AUTHORIZATION_CODE],
            ..base()
        };
        assert!(matches!(
            code_without_redirect.build(0),
            Err(ClientError::RedirectUri(_))
        ));
        let lone_refresh = NewClient {
            grant_types: vec![REFRESH_TOKEN],
            ..base()
        };
        assert!(lone_refresh.build(0).is_err());
        let claims_without_uma = NewClient {
            claims_redirect_uris: vec!["https://rs.example/claims".into()],
            grant_types: vec![AUTHORIZATION_CODE],
            ..base()
        };
        assert!(claims_without_uma.build(0).is_err());
        // The admin's empty list means "any grant" and has nothing to contradict.
        let admin = NewClient {
            redirect_uris: vec![],
            claims_redirect_uris: vec!["https://rs.example/claims".into()],
            ..base()
        };
        assert!(admin.build(0).is_ok());
    }

    fn parse(body: serde_json::Value) -> Result<Registration, ClientError> {
        match body {
            Value::Object(map) => Registration::parse(map),
            _ => panic!("test bodies are objects"),
        }
    }

    #[test]
    fn a_client_with_only_claims_redirect_uris_is_a_uma_client() {
        let reg =
            parse(serde_json::json!({"claims_redirect_uris": ["https://app.example/claims"]}))
                .expect("valid");
        assert_eq!(reg.grant_types, vec![UMA_TICKET]);
        let reg = parse(serde_json::json!({
            "redirect_uris": ["https://app.example/cb"],
            "claims_redirect_uris": ["https://app.example/claims"],
        }))
        .expect("valid");
        assert_eq!(reg.grant_types, vec![AUTHORIZATION_CODE, UMA_TICKET]);
    }

    #[test]
    fn registration_applies_rfc7591_defaults() {
        let reg = parse(serde_json::json!({
            "redirect_uris": ["https://app.example/cb"],
            "client_name": "App",
            "logo_uri": "https://app.example/logo.png",
            "x-extension": {"kept": true},
            "client_id": "chosen-by-the-client",
            "client_secret": "chosen-by-the-client",
        }))
        .expect("valid");
        assert_eq!(reg.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(reg.grant_types, vec![AUTHORIZATION_CODE]);
        assert_eq!(reg.client_name.as_deref(), Some("App"));
        assert_eq!(reg.metadata["response_types"], serde_json::json!(["code"]));
        assert_eq!(
            reg.metadata["x-extension"],
            serde_json::json!({"kept": true})
        );
        assert!(!reg.metadata.contains_key("client_id"));
        assert!(!reg.metadata.contains_key("client_secret"));
        assert!(
            !reg.metadata.contains_key("redirect_uris"),
            "kept in its own field"
        );
    }

    #[test]
    fn client_credentials_only_needs_no_response_types() {
        let reg = parse(serde_json::json!({"grant_types": ["client_credentials"]})).expect("valid");
        assert_eq!(reg.metadata["response_types"], serde_json::json!([]));
        let client = reg
            .into_new_client("abc".into(), Some(ClientSecret::new("0123456789abcdef")))
            .build(7)
            .expect("builds");
        assert_eq!(client.grant_types, vec![CLIENT_CREDENTIALS]);
        assert!(client.redirect_uris.is_empty());
    }

    #[test]
    fn bad_registrations_name_the_member() {
        let cases = [
            (
                serde_json::json!({"redirect_uris": "https://a.example/cb"}),
                "redirect_uris",
            ),
            (
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "grant_types": []}),
                "grant_types",
            ),
            (
                serde_json::json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                "`token`",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                "response_types",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
                "private_key_jwt",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "client_name": 5}),
                "client_name",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "scope": "a  b"}),
                "scope",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "contacts": "me"}),
                "contacts",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "client_uri": "javascript:alert(1)"}),
                "client_uri",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "jwks": {"keys": []}, "jwks_uri": "https://a.example/jwks"}),
                "jwks",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(body.clone()).expect_err("refused");
            assert!(err.to_string().contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn a_member_of_the_wrong_type_gets_the_code_it_calls_for_and_null_is_omitted() {
        let redirect = [
            serde_json::json!({"redirect_uris": 5}),
            serde_json::json!({"claims_redirect_uris": {"a": 1}}),
            serde_json::json!({"redirect_uris": ["https://a.example/cb", 7]}),
        ];
        for body in redirect {
            assert!(
                matches!(parse(body.clone()), Err(ClientError::RedirectUri(m)) if m.contains("array of strings")),
                "{body}"
            );
        }
        let metadata = [
            serde_json::json!({"grant_types": "client_credentials"}),
            serde_json::json!({"response_types": "code", "redirect_uris": ["https://a.example/cb"]}),
            serde_json::json!({"token_endpoint_auth_method": ["none"], "redirect_uris": ["https://a.example/cb"]}),
        ];
        for body in metadata {
            assert!(
                matches!(parse(body.clone()), Err(ClientError::Metadata(_))),
                "{body}"
            );
        }
        let reg = parse(serde_json::json!({
            "redirect_uris": ["https://a.example/cb"],
            "grant_types": null,
            "client_name": null,
            "tos_uri": null,
        }))
        .expect("nulls are omitted members");
        assert_eq!(reg.grant_types, vec![AUTHORIZATION_CODE]);
        assert_eq!(reg.client_name, None);
        assert!(!reg.metadata.contains_key("tos_uri"));
    }

    #[test]
    fn register_stores_the_client_with_a_server_chosen_id_and_returns_the_secret_once() {
        use crate::context::FixedRandom;
        use crate::store::oauth::ClientRead;
        let (_dir, store) = crate::store::testing::temp_store();
        let random = FixedRandom::new("0123456789abcdef");
        let confidential = parse(serde_json::json!({
            "grant_types": ["client_credentials"],
            "client_id": "chosen-by-the-client",
        }))
        .expect("valid");
        let registered = store
            .write(|tx| register(tx, &random, confidential, 7))
            .expect("registered");
        assert_ne!(registered.client.client_id, "chosen-by-the-client");
        let secret = registered
            .secret
            .as_ref()
            .expect("a confidential client has a secret");
        let stored = store
            .read(|r| r.client(&registered.client.client_id))
            .expect("read")
            .expect("stored");
        assert_eq!(stored, registered.client);
        assert_eq!(
            stored.secret_hash,
            Some(crypto::hash_secret(secret.secret()))
        );
        assert_eq!(stored.created_at, 7);

        let public = parse(serde_json::json!({
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
        }))
        .expect("valid");
        let registered = store
            .write(|tx| register(tx, &random, public, 8))
            .expect("registered");
        assert!(registered.secret.is_none());
        assert!(registered.client.secret_hash.is_none());
    }
}
