//! Typed token requests (RFC 6749 §3.2, §4.1.3, §4.4.2, §6; UMA Grant §3.3.1). The HTTP edge parses the form
//! into one [`TokenRequest`] variant with its typed fields, so no grant reads a parameter by name. The checks
//! that decide whether a client may use a grant at all ([`check_eligible`]) come before the fields are read,
//! so a client that may not use a grant learns that first. This module must never see HTTP or SQL.

use super::client::Client;
use super::types::GrantType;
use crate::error::{ErrorCode, OAuthError};
use crate::scope::Scopes;
use crate::secret::{AccessToken, AuthCode, Pct, RefreshToken, Ticket};
use crate::uma::grant::{ClaimToken, UmaGrantRequest};

/// A PKCE code verifier (RFC 7636 §4.1): 43 to 128 unreserved characters. It is a one-time secret, so its
/// `Debug` is redacted too.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(text: &str) -> Result<Self, OAuthError> {
        let valid = (43..=128).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(OAuthError::invalid_request(
                "`code_verifier` must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~",
            ))
        }
    }

    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

/// One request to the token endpoint, by grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3, RFC 7636 §4.5.
    AuthorizationCode {
        code: AuthCode,
        redirect_uri: Option<String>,
        code_verifier: Option<CodeVerifier>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        refresh_token: RefreshToken,
        scope: Option<Scopes>,
    },
    /// RFC 6749 §4.4.2.
    ClientCredentials { scope: Option<Scopes> },
    /// UMA Grant §3.3.1.
    UmaTicket(UmaGrantRequest),
}

/// Where the parameters of a request come from: the form at the HTTP edge, a map in tests.
pub trait Parameters {
    fn get(&self, name: &str) -> Option<&str>;

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is missing")))
    }
}

fn scope(params: &impl Parameters) -> Result<Option<Scopes>, OAuthError> {
    params.get("scope").map(Scopes::parse).transpose()
}

impl TokenRequest {
    /// Reads the fields of `grant` from `params`. `grant` is supported: [`check_eligible`] refused the rest.
    pub fn parse(grant: &GrantType, params: &impl Parameters) -> Result<Self, OAuthError> {
        Ok(match grant {
            GrantType::AuthorizationCode => {
                let code = AuthCode::new(params.require("code")?);
                let code_verifier = params
                    .get("code_verifier")
                    .map(CodeVerifier::parse)
                    .transpose()?;
                TokenRequest::AuthorizationCode {
                    code,
                    redirect_uri: params.get("redirect_uri").map(str::to_owned),
                    code_verifier,
                }
            }
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: RefreshToken::new(params.require("refresh_token")?),
                scope: scope(params)?,
            },
            GrantType::ClientCredentials => TokenRequest::ClientCredentials {
                scope: scope(params)?,
            },
            GrantType::UmaTicket => TokenRequest::UmaTicket(parse_uma(params)?),
            GrantType::Unknown(_) => return Err(unsupported(grant)),
        })
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::UmaTicket(_) => GrantType::UmaTicket,
        }
    }
}

fn parse_uma(params: &impl Parameters) -> Result<UmaGrantRequest, OAuthError> {
    let claim_token = match (params.get("claim_token"), params.get("claim_token_format")) {
        (Some(token), Some(format)) => Some(ClaimToken {
            token: AccessToken::new(token),
            format: format.to_owned(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(format!(
                "`claim_token` needs `claim_token_format` (`{}`)",
                crate::claims::ID_TOKEN_FORMAT
            )));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "`claim_token_format` was sent without a `claim_token`",
            ));
        }
    };
    let scope = scope(params)?;
    Ok(UmaGrantRequest {
        ticket: Ticket::new(params.require("ticket")?),
        claim_token,
        pct: params.get("pct").map(Pct::new),
        rpt: params.get("rpt").map(AccessToken::new),
        scope,
    })
}

fn unsupported(grant: &GrantType) -> OAuthError {
    OAuthError::new(
        ErrorCode::UnsupportedGrantType,
        format!(
            "grant type {} is not supported (supported: {})",
            crate::error::quoted(grant.as_str()),
            GrantType::supported_list()
        ),
    )
}

/// Whether this authenticated client may use `grant` at all (RFC 6749 §5.2 `unsupported_grant_type`,
/// `unauthorized_client`): the grant must be supported, a public client has no credentials for the client
/// credentials grant (RFC 6749 §4.4), and a client registered with grant types uses only those.
pub fn check_eligible(client: &Client, grant: &GrantType) -> Result<(), OAuthError> {
    if !grant.is_supported() {
        return Err(unsupported(grant));
    }
    if *grant == GrantType::ClientCredentials && client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the client_credentials grant",
        ));
    }
    check_client_grant(client, grant)
}

/// Refuses a grant type the client is not registered for. Clients registered with no grant types may use
/// any grant their type allows.
pub fn check_client_grant(client: &Client, grant: &GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "client `{}` is not registered for grant type {}",
            client.client_id,
            crate::error::quoted(grant.as_str())
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::oauth::AuthMethod;

    struct Map(BTreeMap<&'static str, &'static str>);

    impl Parameters for Map {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
    }

    fn params(pairs: &[(&'static str, &'static str)]) -> Map {
        Map(pairs.iter().copied().collect())
    }

    fn client(grants: Vec<GrantType>, public: bool) -> Client {
        let method = if public {
            AuthMethod::None
        } else {
            AuthMethod::ClientSecretBasic
        };
        Client {
            grant_types: grants,
            ..Client::for_tests("c1", method, "0123456789abcdef")
        }
    }

    #[test]
    fn each_grant_gets_its_typed_fields() {
        let verifier = "a".repeat(43);
        let verifier: &'static str = Box::leak(verifier.into_boxed_str());
        let request = TokenRequest::parse(
            &GrantType::AuthorizationCode,
            &params(&[
                ("code", "c0de"),
                ("redirect_uri", "https://app.example/cb"),
                ("code_verifier", verifier),
            ]),
        )
        .expect("parsed");
        let TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } = &request
        else {
            panic!("authorization code expected: {request:?}");
        };
        assert_eq!(code.secret(), "c0de");
        assert_eq!(redirect_uri.as_deref(), Some("https://app.example/cb"));
        assert_eq!(
            code_verifier.as_ref().map(CodeVerifier::secret),
            Some(verifier)
        );
        assert_eq!(request.grant_type(), GrantType::AuthorizationCode);
        assert!(
            !format!("{request:?}").contains("c0de"),
            "codes are redacted"
        );

        let request = TokenRequest::parse(
            &GrantType::RefreshToken,
            &params(&[("refresh_token", "r1"), ("scope", "openid email")]),
        )
        .expect("parsed");
        assert_eq!(
            request,
            TokenRequest::RefreshToken {
                refresh_token: RefreshToken::new("r1"),
                scope: Some(Scopes::parse("email openid").expect("scope")),
            }
        );
    }

    #[test]
    fn the_uma_grant_parses_into_the_domain_request() {
        let request = TokenRequest::parse(
            &GrantType::UmaTicket,
            &params(&[
                ("ticket", "t1"),
                ("claim_token", "id.token.x"),
                ("claim_token_format", crate::claims::ID_TOKEN_FORMAT),
                ("pct", "p1"),
                ("rpt", "r1"),
                ("scope", "view edit"),
            ]),
        )
        .expect("parsed");
        let TokenRequest::UmaTicket(req) = request else {
            panic!("expected the UMA grant, got {request:?}")
        };
        assert_eq!(req.ticket.secret(), "t1");
        assert_eq!(
            req.claim_token
                .as_ref()
                .map(|c| (c.token.secret(), c.format.as_str())),
            Some(("id.token.x", crate::claims::ID_TOKEN_FORMAT))
        );
        assert_eq!(req.pct.as_ref().map(Pct::secret), Some("p1"));
        assert_eq!(req.rpt.as_ref().map(AccessToken::secret), Some("r1"));
        assert_eq!(
            req.scopes().into_iter().collect::<Vec<_>>(),
            vec!["edit".to_owned(), "view".to_owned()]
        );
        assert!(!format!("{req:?}").contains("t1"), "the ticket is redacted");
    }

    #[test]
    fn missing_and_malformed_fields_are_invalid_request() {
        let cases: [(GrantType, Map, &str); 5] = [
            (
                GrantType::AuthorizationCode,
                params(&[]),
                "`code` is missing",
            ),
            (
                GrantType::AuthorizationCode,
                params(&[("code", "c"), ("code_verifier", "short")]),
                "`code_verifier` must be",
            ),
            (
                GrantType::RefreshToken,
                params(&[]),
                "`refresh_token` is missing",
            ),
            (GrantType::UmaTicket, params(&[]), "`ticket` is missing"),
            (
                GrantType::UmaTicket,
                params(&[("ticket", "t"), ("claim_token", "x")]),
                "needs `claim_token_format`",
            ),
        ];
        for (grant, params, needle) in cases {
            let err = TokenRequest::parse(&grant, &params).expect_err("refused");
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{grant}");
            assert!(err.to_string().contains(needle), "{grant}: {err}");
        }
        let err = TokenRequest::parse(&GrantType::ClientCredentials, &params(&[("scope", "a  b")]))
            .expect_err("bad scope");
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn verifier_syntax() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(CodeVerifier::parse(verifier).is_ok());
        assert!(CodeVerifier::parse("short").is_err());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{verifier}+")).is_err());
    }

    #[test]
    fn eligibility_comes_from_the_grant_and_the_client() {
        let Ok(password) = "password".parse::<GrantType>();
        let err = check_eligible(&client(vec![], false), &password).expect_err("unknown");
        assert_eq!(err.code, ErrorCode::UnsupportedGrantType);
        assert!(err.to_string().contains("`password`"), "{err}");

        let err = check_eligible(&client(vec![], true), &GrantType::ClientCredentials)
            .expect_err("public");
        assert_eq!(err.code, ErrorCode::UnauthorizedClient);

        let restricted = client(vec![GrantType::UmaTicket], false);
        assert!(check_eligible(&restricted, &GrantType::UmaTicket).is_ok());
        let err =
            check_eligible(&restricted, &GrantType::RefreshToken).expect_err("not registered");
        assert_eq!(err.code, ErrorCode::UnauthorizedClient);
        assert!(check_eligible(&client(vec![], false), &GrantType::RefreshToken).is_ok());
    }
}
