//! Client authentication (RFC 6749 §2.3, RFC 7591 §2): checks presented credentials against the registered
//! client. A client authenticates with the one `token_endpoint_auth_method` it registered: a
//! `client_secret_basic` client may not send its secret in the body, nor the other way round, and a public
//! client sends only its `client_id`. Secrets are compared as SHA-256 hashes in constant time.
//!
//! What this module must never do: tell a caller who does not know the secret anything about the client
//! (unknown client, wrong secret and wrong method look the same until the secret matched), or read a
//! header or the store itself (the HTTP layer gives it the credentials and the client record).

use std::net::IpAddr;

use super::client::Client;
use super::types::AuthMethod;
use crate::crypto;
use crate::error::OAuthError;
use crate::secret::ClientSecret;

/// Credentials as sent, before they are checked: who the caller says it is and how it said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<ClientSecret>,
    /// The method the request used: Basic header, secret in the body, or `client_id` alone.
    pub method: AuthMethod,
    /// The caller's address, for throttling failures.
    pub peer: Option<IpAddr>,
}

/// Checks `creds` against `client` (`None` when no client has that id). On failure the error is
/// `invalid_client`, with the Basic challenge when the caller used Basic (RFC 6749 §5.2).
pub fn verify(client: Option<Client>, creds: &Credentials) -> Result<Client, OAuthError> {
    let basic = creds.method == AuthMethod::ClientSecretBasic;
    let failed = || OAuthError::invalid_client("client authentication failed", basic);
    let client = client.ok_or_else(failed)?;
    match (&client.secret_hash, &creds.secret) {
        (Some(stored), Some(presented)) if crypto::secret_matches(presented.secret(), stored) => {}
        (None, None) => {}
        (None, Some(_)) => {
            return Err(OAuthError::invalid_client(
                "this client is public and has no secret; send only `client_id`",
                basic,
            ));
        }
        _ => return Err(failed()),
    }
    if client.auth_method != creds.method {
        return Err(OAuthError::invalid_client(
            format!(
                "client `{}` registered token_endpoint_auth_method `{}` and must authenticate with it, \
                 not with `{}`",
                client.client_id, client.auth_method, creds.method
            ),
            basic,
        ));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Challenge, ErrorCode};

    const SECRET: &str = "0123456789abcdef";

    fn client(method: AuthMethod) -> Client {
        Client::for_tests("c1", method, SECRET)
    }

    fn creds(method: AuthMethod, secret: Option<&str>) -> Credentials {
        Credentials {
            client_id: "c1".into(),
            secret: secret.map(ClientSecret::new),
            method,
            peer: None,
        }
    }

    #[test]
    fn each_client_authenticates_with_the_method_it_registered() {
        for method in AuthMethod::ALL {
            let secret = method.uses_secret().then_some(SECRET);
            let ok = verify(Some(client(method)), &creds(method, secret)).expect("own method");
            assert_eq!(ok.auth_method, method);
        }
    }

    #[test]
    fn another_method_is_invalid_client_even_with_the_right_secret() {
        let cases = [
            (
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
                false,
            ),
            (
                AuthMethod::ClientSecretPost,
                AuthMethod::ClientSecretBasic,
                true,
            ),
        ];
        for (registered, used, challenge) in cases {
            let err = verify(Some(client(registered)), &creds(used, Some(SECRET)))
                .expect_err("wrong method");
            assert_eq!(err.code, ErrorCode::InvalidClient);
            let text = err.to_string();
            assert!(text.contains(registered.as_str()), "{text}");
            assert_eq!(
                err.challenge == Some(Challenge::Basic),
                challenge,
                "{registered} used with {used}"
            );
        }
    }

    #[test]
    fn the_method_is_revealed_only_to_who_knows_the_secret() {
        let err = verify(
            Some(client(AuthMethod::ClientSecretBasic)),
            &creds(AuthMethod::ClientSecretPost, Some("wrong-wrong-wrong")),
        )
        .expect_err("wrong secret");
        assert_eq!(
            err.description.as_deref(),
            Some("client authentication failed")
        );
        let unknown =
            verify(None, &creds(AuthMethod::ClientSecretBasic, Some(SECRET))).expect_err("unknown");
        assert_eq!(
            unknown.description.as_deref(),
            Some("client authentication failed")
        );
        assert_eq!(unknown.challenge, Some(Challenge::Basic));
    }

    #[test]
    fn public_and_confidential_do_not_mix() {
        let err = verify(
            Some(client(AuthMethod::None)),
            &creds(AuthMethod::ClientSecretPost, Some(SECRET)),
        )
        .expect_err("public with secret");
        assert!(err.to_string().contains("public"), "{err}");
        let err = verify(
            Some(client(AuthMethod::ClientSecretBasic)),
            &creds(AuthMethod::None, None),
        )
        .expect_err("confidential without secret");
        assert_eq!(err.code, ErrorCode::InvalidClient);
    }
}
