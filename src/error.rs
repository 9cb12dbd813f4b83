//! Protocol errors as data. Every endpoint answers a failure with one of these; the HTTP layer maps it to a
//! status, headers and an RFC 6749 §5.2 JSON body in exactly one place (`http::error`). Nothing internal ever
//! reaches a response body: store and crypto failures become `server_error` and their cause goes to the log.

use std::fmt;

use serde_json::{Map, Value};

/// The longest `error_description` answered, in characters. Descriptions are written for people; anything
/// longer is cut, so no input can make an error body (or the log line it becomes) large.
pub const MAX_DESCRIPTION_CHARS: usize = 512;

/// How much of a caller's input an error message quotes, in characters.
pub const MAX_QUOTED_CHARS: usize = 40;

/// RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in `error_description`: printable ASCII without `"`
/// and `\`.
pub fn is_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x7e') && c != '"' && c != '\\'
}

/// `text` with every character outside the RFC 6749 §5.2 set replaced (line breaks and tabs by a space, `"`
/// by `'`, `§` by `section `, anything else by `?`), cut to `max` characters with `...` marking the cut.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let piece: &str = match c {
            c if is_description_char(c) => c.encode_utf8(&mut buf),
            '\n' | '\r' | '\t' => " ",
            '"' => "'",
            '\u{a7}' => "section ",
            _ => "?",
        };
        // Everything pushed is ASCII, so bytes are characters.
        if out.len() + piece.len() > max {
            out.truncate(max.saturating_sub(3));
            out.push_str("...");
            break;
        }
        out.push_str(piece);
    }
    out
}

/// A caller's input as an error message (or a log line) may quote it: in backticks, at most
/// [`MAX_QUOTED_CHARS`] characters, in the RFC 6749 §5.2 character set (a backtick inside becomes `'`).
pub fn quoted(input: &str) -> String {
    format!("`{}`", printable(input, MAX_QUOTED_CHARS).replace('`', "'"))
}

/// The error codes the server emits: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 7591 §3.2.2,
/// UMA Grant §3.3.6 and Federated Authorization §3.3 and §4.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    InvalidRedirectUri,
    InvalidClientMetadata,
    NotFound,
    UnsupportedMethodType,
    InvalidResourceId,
    NeedInfo,
    RequestDenied,
    RequestSubmitted,
    /// A held request polled sooner than its `interval` (UMA Grant §3.3.6; the code and its 400 as RFC 8628
    /// §3.5 defines them).
    SlowDown,
    PayloadTooLarge,
    /// Too many failed client authentications for this client id from this address ([`crate::throttle`]),
    /// answered 429 as `temporarily_unavailable`. OAuth has no code for this. `temporarily_unavailable`
    /// (RFC 6749 §4.1.2.1) is the registered code whose meaning fits (the server cannot handle the request
    /// now; try later) and client libraries already know it. `invalid_client` would have to be a 401 with a
    /// Basic challenge (§5.2) and tells the client its credentials are wrong, which it did not check; a new
    /// code would be one no client knows.
    TooManyFailures,
    ServerError,
}

impl ErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::NotFound => "not_found",
            Self::UnsupportedMethodType => "unsupported_method_type",
            Self::InvalidResourceId => "invalid_resource_id",
            Self::NeedInfo => "need_info",
            Self::RequestDenied => "request_denied",
            Self::RequestSubmitted => "request_submitted",
            Self::SlowDown => "slow_down",
            Self::TooManyFailures => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The HTTP status each code is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope
            | Self::AccessDenied
            | Self::NeedInfo
            | Self::RequestDenied
            | Self::RequestSubmitted => 403,
            Self::NotFound => 404,
            Self::UnsupportedMethodType => 405,
            Self::PayloadTooLarge => 413,
            Self::TooManyFailures => 429,
            Self::ServerError => 500,
            _ => 400,
        }
    }
}

/// Which `WWW-Authenticate` challenge accompanies a 401 or 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// The client tried HTTP Basic authentication (RFC 6749 §5.2, `invalid_client`).
    Basic,
    /// A bearer token was missing, invalid or lacked scope (RFC 6750 §3). `scope` names what was needed.
    Bearer { scope: Option<String> },
    /// No credentials were sent at all (RFC 6750 §3.1: the challenge then carries no error code).
    BearerMissing,
}

/// A protocol error: code, human-readable description and any extra members (`ticket`, `required_claims`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Option<String>,
    pub extra: Box<Map<String, Value>>,
    pub challenge: Option<Challenge>,
    /// Methods to list in `Allow` for `unsupported_method_type`.
    pub allow: Option<&'static str>,
    /// Seconds to send in `Retry-After`.
    pub retry_after: Option<i64>,
}

impl OAuthError {
    /// The description is made safe here, once for every endpoint and for the log: cut to
    /// [`MAX_DESCRIPTION_CHARS`] and restricted to the characters RFC 6749 §5.2 allows.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(printable(&description.into(), MAX_DESCRIPTION_CHARS)),
            extra: Box::default(),
            challenge: None,
            allow: None,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`; pass whether the client used HTTP Basic so the response carries the challenge.
    pub fn invalid_client(description: impl Into<String>, used_basic: bool) -> Self {
        let mut err = Self::new(ErrorCode::InvalidClient, description);
        if used_basic {
            err.challenge = Some(Challenge::Basic);
        }
        err
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, description)
    }

    pub fn invalid_token(description: impl Into<String>) -> Self {
        let mut err = Self::new(ErrorCode::InvalidToken, description);
        err.challenge = Some(Challenge::Bearer { scope: None });
        err
    }

    /// A protected endpoint was called without any bearer token.
    pub fn missing_token() -> Self {
        let mut err = Self::new(
            ErrorCode::InvalidToken,
            "this endpoint needs an access token in the `Authorization: Bearer` header",
        );
        err.challenge = Some(Challenge::BearerMissing);
        err
    }

    pub fn insufficient_scope(needed: &str) -> Self {
        let mut err = Self::new(
            ErrorCode::InsufficientScope,
            format!("this endpoint needs a token with scope `{needed}`"),
        );
        err.challenge = Some(Challenge::Bearer {
            scope: Some(needed.to_owned()),
        });
        err
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, description)
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut err = Self::new(
            ErrorCode::UnsupportedMethodType,
            format!("this endpoint supports only {allow}"),
        );
        err.allow = Some(allow);
        err
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// Too many failed client authentications: no attempt is checked for `retry_after` seconds.
    pub fn too_many_failures(retry_after: i64) -> Self {
        let mut err = Self::new(
            ErrorCode::TooManyFailures,
            format!(
                "too many failed client authentications for this client from this address; \
                 retry after {retry_after} seconds"
            ),
        );
        err.retry_after = Some(retry_after);
        err
    }

    /// An internal failure. The cause is logged here; the client only learns that something went wrong.
    pub fn server_error(cause: &dyn fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }

    /// Adds a member to the JSON body (for example the new `ticket` of `need_info`).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), Value::from(self.code.as_str()));
        if let Some(description) = &self.description {
            // `description` is a public field: check again, whoever set it.
            body.insert(
                "error_description".into(),
                Value::from(printable(description, MAX_DESCRIPTION_CHARS)),
            );
        }
        for (name, value) in self.extra.iter() {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_error_description_and_extras() {
        let err =
            OAuthError::new(ErrorCode::NeedInfo, "more claims are needed").with("ticket", "t1");
        assert_eq!(
            err.body(),
            serde_json::json!({"error": "need_info", "error_description": "more claims are needed", "ticket": "t1"})
        );
        assert_eq!(err.code.status(), 403);
    }

    #[test]
    fn statuses_follow_the_specs() {
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::InvalidToken.status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.status(), 403);
        assert_eq!(ErrorCode::NotFound.status(), 404);
        assert_eq!(ErrorCode::UnsupportedMethodType.status(), 405);
        assert_eq!(ErrorCode::InvalidGrant.status(), 400);
        assert_eq!(ErrorCode::PayloadTooLarge.as_str(), "invalid_request");
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6749_charset_and_a_bounded_length() {
        let hostile = format!("grant type x\"y\\z\u{e9}\u{1b}[31m\n{}", "A".repeat(60_000));
        let err = OAuthError::invalid_request(hostile);
        let body = err.body();
        let text = body["error_description"].as_str().unwrap_or_default();
        assert!(text.chars().all(is_description_char), "{text:?}");
        assert!(text.chars().count() <= MAX_DESCRIPTION_CHARS);
        assert!(text.starts_with("grant type x'y?z??[31m AAA"), "{text:?}");
        assert!(text.ends_with("..."));
        assert!(err.to_string().chars().all(is_description_char));
    }

    #[test]
    fn quoted_input_is_short_and_printable() {
        assert_eq!(quoted("code"), "`code`");
        assert_eq!(quoted("a`b\"c\u{7}"), "`a'b'c?`");
        let long = quoted(&"x".repeat(1000));
        assert_eq!(long.chars().count(), MAX_QUOTED_CHARS + 2);
        assert!(long.ends_with("...`"));
    }

    #[test]
    fn server_error_hides_the_cause() {
        let err = OAuthError::server_error(&"disk I/O error at /secret/path");
        assert!(!err.body().to_string().contains("/secret/path"));
    }
}
