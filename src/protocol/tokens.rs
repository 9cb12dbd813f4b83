//! Grants, the OAuth tokens issued under them and the authorization codes that lead to them, as plain
//! values. The store maps its rows to these and the OAuth domain works with them; nothing here knows how
//! they are kept, and no value here holds a token or a code in clear.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// Who a grant's tokens speak for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// A local user who consented at the authorization endpoint.
    User,
    /// The client itself (client credentials): an organisation owning its own resources.
    Client,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A grant to record: who consented to what, for which client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant<'a> {
    pub client_id: &'a str,
    pub subject: &'a str,
    pub subject_kind: SubjectKind,
    pub scope: &'a str,
    pub auth_time: Option<UnixTime>,
    pub nonce: Option<&'a str>,
}

/// A stored token joined with its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub grant_id: i64,
    pub client_id: String,
    pub subject: String,
    pub subject_kind: SubjectKind,
    pub scope: String,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub auth_time: Option<UnixTime>,
    pub nonce: Option<String>,
    pub used: bool,
    /// The token or its grant was revoked.
    pub revoked: bool,
}

impl TokenRecord {
    /// Usable now: not revoked, not expired and (for refresh tokens) not yet rotated.
    pub fn is_active(&self, now: UnixTime) -> bool {
        !self.revoked && !self.used && now < self.expires_at
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// An authorization code and everything it is bound to (RFC 6749 §4.1.2, RFC 7636 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
    /// The grant the code was redeemed for, once it was.
    pub grant_id: Option<i64>,
    pub used: bool,
}

/// A validated authorization request, as it waits between the redirect and the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestParams {
    /// Where to send the browser back: the URI sent, or the client's only registered one.
    pub redirect_uri: String,
    /// Whether `redirect_uri` was sent, which makes it mandatory at the token endpoint.
    pub redirect_uri_sent: bool,
    pub scope: String,
    pub state: Option<String>,
    /// An S256 challenge (RFC 7636); no other method is accepted.
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
}

/// A user's grant to a client that still holds a live token: one row of her connected applications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedGrant {
    pub grant_id: i64,
    pub client_id: String,
    /// The client's registered `client_name`, if any.
    pub client_name: Option<String>,
    /// The scope she consented to, space-separated.
    pub scope: String,
    /// When she consented.
    pub created_at: UnixTime,
    /// True when a live refresh token is among the grant's tokens.
    pub refresh: bool,
}
