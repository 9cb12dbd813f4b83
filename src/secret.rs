//! Secrets and bearer values as newtypes: client secrets, tokens, codes, tickets, PCTs, the initial access
//! token, passwords and webhook secrets. Their `Debug` prints `[redacted]`, so a derived `Debug` on anything
//! holding one (a request, the settings, a log line) never leaks the value. They must never implement
//! `Display`: reading the value is always the explicit [`secret`](ClientSecret::secret) call. Plain types: any
//! layer may use them.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value in clear: for hashing, comparing or sending it, never for logging.
            pub fn secret(&self) -> &str {
                &self.0
            }

            pub fn into_secret(self) -> String {
                self.0
            }

            /// Length in bytes, for the minimum-length rules.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// A client secret in clear, as the admin gave it or a client presented it.
    ClientSecret
);
secret_type!(
    /// An opaque access token (PAT or user token) or the compact form of an RPT.
    AccessToken
);
secret_type!(
    /// A refresh token.
    RefreshToken
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthCode
);
secret_type!(
    /// A permission ticket (UMA Grant §3.2).
    Ticket
);
secret_type!(
    /// A persisted claims token (UMA Grant §3.3.3).
    Pct
);
secret_type!(
    /// The bearer token that enables dynamic client registration (RFC 7591 §3).
    InitialAccessToken
);
secret_type!(
    /// The bearer token a scraper presents at `/metrics` when the settings protect them.
    MetricsToken
);
secret_type!(
    /// A user's password in clear.
    Password
);
secret_type!(
    /// The key a webhook's deliveries are signed with (HMAC-SHA256), shared with its receiver.
    WebhookSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let values: [&dyn fmt::Debug; 9] = [
            &ClientSecret::new("s3cret-client-value"),
            &AccessToken::new("s3cret-access-value"),
            &RefreshToken::new("s3cret-refresh-value"),
            &AuthCode::new("s3cret-code-value"),
            &Ticket::new("s3cret-ticket-value"),
            &Pct::new("s3cret-pct-value"),
            &InitialAccessToken::new("s3cret-iat-value"),
            &Password::new("s3cret-password"),
            &WebhookSecret::new("s3cret-webhook"),
        ];
        for value in values {
            let printed = format!("{value:?} {value:#?}");
            assert!(!printed.contains("s3cret"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
        assert_eq!(
            format!("{:?}", Some(Ticket::new("t"))),
            "Some(Ticket([redacted]))"
        );
    }

    #[test]
    fn the_value_is_still_there_for_who_asks() {
        let secret = ClientSecret::new("abc");
        assert_eq!(secret.secret(), "abc");
        assert_eq!(serde_json::to_string(&secret).expect("json"), "\"abc\"");
    }
}
