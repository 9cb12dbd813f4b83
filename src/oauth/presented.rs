//! A token as a client presents it to introspection or revocation, read once before any transaction: the
//! SHA-256 under which an OAuth token or a PCT would be stored, and the `jti` if it is a JWT signed with one
//! of this server's keys (an RPT). Verifying the signature here keeps that work out of the write lock.
//!
//! What this module must never do: keep the token in clear, or take a JWT whose signature does not verify
//! for one of ours.

use crate::crypto::{self, keys::KeySet};
use crate::uma;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    /// SHA-256 of the value: the key of access and refresh tokens and of PCTs.
    pub hash: String,
    /// The `jti` of a JWT signed with one of `keys`: the key of an RPT.
    pub rpt_jti: Option<String>,
}

impl PresentedToken {
    pub fn read(keys: &KeySet, token: &str) -> Self {
        Self {
            hash: crypto::hash_secret(token),
            rpt_jti: uma::rpt::rpt_jti(keys, token),
        }
    }

    /// A token that is no JWT of ours, by its hash alone.
    #[cfg(test)]
    pub fn opaque(token: &str) -> Self {
        Self {
            hash: crypto::hash_secret(token),
            rpt_jti: None,
        }
    }
}
