//! A local account: a resource owner or requesting party who logs in at the authorization endpoint.

use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub created_at: UnixTime,
}
