//! OAuth scopes (RFC 6749 §3.3): a space-separated list of scope tokens, kept as an ordered set.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::OAuthError;

/// The scope of a protection API access token (PAT), Federated Authorization §1.3.1.
pub const UMA_PROTECTION: &str = "uma_protection";
/// The scope of a token that manages its subject's own sharing policies (the policy API, an extension): a
/// resource server holding only a PAT must never rewrite an owner's policies.
pub const UMA_POLICY: &str = "uma_policy";
/// OpenID Connect scopes for ID tokens.
pub const OPENID: &str = "openid";
pub const EMAIL: &str = "email";
pub const PROFILE: &str = "profile";

/// Scopes a client may ask for at the authorization and token endpoints.
pub const SUPPORTED: &[&str] = &[UMA_PROTECTION, UMA_POLICY, OPENID, EMAIL, PROFILE];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

fn is_scope_char(c: char) -> bool {
    // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    c == '\x21' || ('\x23'..='\x5b').contains(&c) || ('\x5d'..='\x7e').contains(&c)
}

impl Scopes {
    /// Parses a `scope` parameter. Tokens are separated by single spaces; anything else is `invalid_scope`.
    pub fn parse(text: &str) -> Result<Self, OAuthError> {
        let mut set = BTreeSet::new();
        for token in text.split(' ') {
            if token.is_empty() || !token.chars().all(is_scope_char) {
                return Err(OAuthError::invalid_scope(format!(
                    "{} is not a space-separated list of scope tokens",
                    crate::error::quoted(text)
                )));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Refuses scopes outside `allowed`, naming the first unknown one.
    pub fn check_within(&self, allowed: &[&str]) -> Result<(), OAuthError> {
        match self.0.iter().find(|s| !allowed.contains(&s.as_str())) {
            Some(unknown) => Err(OAuthError::invalid_scope(format!(
                "scope {} is not supported here (supported: {})",
                crate::error::quoted(unknown),
                allowed.join(", ")
            ))),
            None => Ok(()),
        }
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
            first = false;
        }
        Ok(())
    }
}

impl<'a> FromIterator<&'a str> for Scopes {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        Self(iter.into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedupes_and_sorts() {
        let s = Scopes::parse("openid uma_protection openid").expect("parse");
        assert_eq!(s.to_string(), "openid uma_protection");
        assert!(s.contains("openid"));
    }

    #[test]
    fn rejects_bad_separators_and_characters() {
        for bad in ["", "a  b", " a", "a\"b", "a\\b", "é"] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn check_within_names_the_unknown_scope() {
        let err = Scopes::parse("openid admin")
            .expect("parse")
            .check_within(SUPPORTED)
            .expect_err("unknown");
        assert!(err.to_string().contains("`admin`"));
    }
}
