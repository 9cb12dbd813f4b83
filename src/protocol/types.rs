//! The protocol's closed vocabularies as enums: grant types (RFC 6749 §4, UMA Grant §3.3.1) and client
//! authentication methods (RFC 7591 §2, RFC 6749 §2.3.1). Each is written out once here and used by discovery,
//! registration, the store's check and client authentication alike. A string never becomes a protocol value
//! anywhere else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How much of an unknown value an error message repeats.
const EXCERPT_CHARS: usize = 64;

/// A printable excerpt of text the client sent, safe to repeat in an `error_description` (RFC 6749 §5.2).
fn excerpt(text: &str) -> String {
    crate::error::printable(text, EXCERPT_CHARS)
}

/// A grant type as named at the token endpoint and in client metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// UMA Grant §3.3.1.
    UmaTicket,
    /// Anything else, kept as a sanitised excerpt so the error can name it.
    Unknown(String),
}

impl GrantType {
    /// Every grant type this server supports, in the order discovery publishes them.
    pub const SUPPORTED: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::UmaTicket,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::UmaTicket => "urn:ietf:params:oauth:grant-type:uma-ticket",
            GrantType::Unknown(text) => text,
        }
    }

    pub fn is_supported(&self) -> bool {
        !matches!(self, GrantType::Unknown(_))
    }

    /// The supported grant types as a comma-separated list, for error messages.
    pub fn supported_list() -> String {
        Self::SUPPORTED
            .iter()
            .map(GrantType::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for GrantType {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::SUPPORTED
            .into_iter()
            .find(|g| g.as_str() == text)
            .unwrap_or_else(|| GrantType::Unknown(excerpt(text))))
    }
}

impl From<&str> for GrantType {
    fn from(text: &str) -> Self {
        let Ok(grant) = text.parse();
        grant
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for GrantType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GrantType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let Ok(grant) = text.parse();
        Ok(grant)
    }
}

/// How a client authenticates at the token, introspection and revocation endpoints (RFC 7591 §2
/// `token_endpoint_auth_method`). A client uses the one it registered, and only that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1); the default for confidential clients.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A public client: `client_id` alone (RFC 7591 §2).
    None,
}

/// A `token_endpoint_auth_method` this server does not know; carries a sanitised excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token_endpoint_auth_method `{0}` is not supported (supported: {list})", list = AuthMethod::supported_list())]
pub struct UnknownAuthMethod(pub String);

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    /// Whether the method presents a client secret.
    pub fn uses_secret(self) -> bool {
        self != AuthMethod::None
    }

    pub fn supported_list() -> String {
        Self::ALL
            .into_iter()
            .map(AuthMethod::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromStr for AuthMethod {
    type Err = UnknownAuthMethod;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| UnknownAuthMethod(excerpt(text)))
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuthMethod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuthMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_round_trip_through_their_names() {
        for grant in GrantType::SUPPORTED {
            assert_eq!(grant.as_str().parse::<GrantType>(), Ok(grant.clone()));
        }
        assert_eq!(
            serde_json::to_value(GrantType::SUPPORTED).expect("json"),
            serde_json::json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:uma-ticket"
            ])
        );
    }

    #[test]
    fn an_unknown_grant_type_keeps_a_sanitised_excerpt() {
        let long = format!("pass\"word\n{}", "x".repeat(200));
        let Ok(grant) = long.parse::<GrantType>();
        let GrantType::Unknown(text) = &grant else {
            panic!("unknown expected, got {grant:?}");
        };
        assert!(text.starts_with("pass'word "), "{text}");
        assert!(text.ends_with("..."));
        assert_eq!(text.chars().count(), EXCERPT_CHARS);
        assert!(!grant.is_supported());
    }

    #[test]
    fn auth_methods_round_trip_and_refuse_others() {
        for method in AuthMethod::ALL {
            assert_eq!(method.as_str().parse(), Ok(method));
            let json = serde_json::to_string(&method).expect("json");
            assert_eq!(
                serde_json::from_str::<AuthMethod>(&json).expect("back"),
                method
            );
        }
        let err = "private_key_jwt"
            .parse::<AuthMethod>()
            .expect_err("unknown");
        assert!(
            err.to_string()
                .contains("`private_key_jwt` is not supported"),
            "{err}"
        );
        assert!(serde_json::from_str::<AuthMethod>("\"tls\"").is_err());
    }
}
