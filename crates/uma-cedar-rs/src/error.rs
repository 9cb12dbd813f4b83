//! What can go wrong talking to the authorization server (AS), and why a token was refused.

/// A failed exchange with the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No answer, a timeout, or a 5xx: the AS cannot be relied on right now.
    #[error("the authorization server is unreachable: {0}")]
    Unreachable(String),
    /// The AS answered with a 4xx: it refuses what was asked.
    #[error("the authorization server refused with HTTP {status}, error `{error}`: {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    /// The AS answered something this library cannot read (not JSON, a member missing, too large).
    #[error("unexpected answer from the authorization server: {0}")]
    Protocol(String),
    /// The configuration cannot work (a URL that is not one, a realm that cannot be quoted).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn protocol(what: impl Into<String>) -> Self {
        Self::Protocol(what.into())
    }

    /// True when the AS could not be asked at all (as opposed to answering no).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

/// Why an RPT was not accepted. The messages never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("signature algorithm `{0}` is not accepted")]
    Algorithm(String),
    #[error("no key of the authorization server matches the token's `kid` and `alg`")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token's `{claim}` is not acceptable: {reason}")]
    Claim { claim: &'static str, reason: String },
    #[error("the token is not active")]
    Inactive,
    /// The keys or the introspection endpoint could not be reached: the token may be fine.
    #[error(transparent)]
    Server(#[from] Error),
}

impl TokenError {
    pub(crate) fn claim(claim: &'static str, reason: impl Into<String>) -> Self {
        Self::Claim {
            claim,
            reason: reason.into(),
        }
    }
}
