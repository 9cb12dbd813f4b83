//! The resource server's answers to a request it cannot serve yet (UMA Grant §3.2, Federated Authorization §4).
//!
//! - a permission ticket was obtained: `401` with `WWW-Authenticate: UMA realm="...", as_uri="...", ticket="..."`;
//! - the permission endpoint refused to issue one: `403`, no ticket (the client has nothing to redeem);
//! - the authorization server could not be reached: `403` with `Warning: 199 - "UMA Authorization Server
//!   Unreachable"`, so the client knows that retrying later may help.
//!
//! Every value is written as an RFC 9110 quoted-string; a value that cannot be (control characters, non-ASCII)
//! is refused rather than sent broken.

use crate::error::Error;

/// The `Warning` header value of a `403` answered because the authorization server was unreachable.
pub const AS_UNREACHABLE_WARNING: &str = "199 - \"UMA Authorization Server Unreachable\"";

/// What the resource server answers instead of the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `401` with this `WWW-Authenticate` value.
    Challenge(String),
    /// `403` without a ticket: the permission endpoint refused.
    Forbidden,
    /// `403` with [`AS_UNREACHABLE_WARNING`]: no ticket could be asked for.
    Unreachable,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Self::Challenge(_) => 401,
            Self::Forbidden | Self::Unreachable => 403,
        }
    }

    /// The headers to send with the status: `(name, value)`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Challenge(value) => vec![("WWW-Authenticate", value.clone())],
            Self::Forbidden => Vec::new(),
            Self::Unreachable => vec![("Warning", AS_UNREACHABLE_WARNING.to_owned())],
        }
    }

    /// A short JSON body saying the same, for humans reading the answer.
    pub fn body(&self) -> String {
        let (error, description) = match self {
            Self::Challenge(_) => (
                "uma_ticket",
                "an RPT is needed: redeem the ticket at the authorization server",
            ),
            Self::Forbidden => (
                "forbidden",
                "the authorization server issues no permission ticket for this request",
            ),
            Self::Unreachable => (
                "authorization_server_unreachable",
                "the authorization server cannot be reached; try again later",
            ),
        };
        serde_json::json!({"error": error, "error_description": description}).to_string()
    }
}

/// The value as an RFC 9110 §5.6.4 quoted-string, or `None` when it holds a character a header cannot carry.
pub fn quoted(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' | '\t' | '!'..='~' => out.push(c),
            _ => return None,
        }
    }
    out.push('"');
    Some(out)
}

/// `UMA realm="...", as_uri="...", ticket="..."` (UMA Grant §3.2).
pub fn uma_challenge(realm: &str, as_uri: &str, ticket: &str) -> Result<String, Error> {
    let q = |name: &str, value: &str| {
        quoted(value).ok_or_else(|| Error::Config(format!("`{name}` cannot go in a header")))
    };
    Ok(format!(
        "UMA realm={}, as_uri={}, ticket={}",
        q("realm", realm)?,
        q("as_uri", as_uri)?,
        q("ticket", ticket)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_has_the_three_parameters_quoted_in_order() {
        let header = uma_challenge("bank", "https://as.example.com", "t-1_x").unwrap();
        assert_eq!(
            header,
            r#"UMA realm="bank", as_uri="https://as.example.com", ticket="t-1_x""#
        );
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quoted(r#"a "b" \c"#).unwrap(), r#""a \"b\" \\c""#);
    }

    #[test]
    fn characters_a_header_cannot_carry_are_refused() {
        assert_eq!(quoted("line\r\nInjected: yes"), None);
        assert_eq!(quoted("caf\u{e9}"), None);
        assert!(uma_challenge("bank\n", "https://as", "t").is_err());
    }

    #[test]
    fn refusals_map_to_status_and_headers() {
        let challenge = Refusal::Challenge("UMA realm=\"r\"".into());
        assert_eq!(challenge.status(), 401);
        assert_eq!(challenge.headers()[0].0, "WWW-Authenticate");
        assert_eq!(Refusal::Forbidden.status(), 403);
        assert!(Refusal::Forbidden.headers().is_empty());
        let warning = Refusal::Unreachable.headers();
        assert_eq!(
            warning,
            vec![("Warning", AS_UNREACHABLE_WARNING.to_owned())]
        );
        assert_eq!(Refusal::Unreachable.status(), 403);
    }
}
