//! An upstream OpenID Connect sign-in in flight (the claims interaction's "Sign in with" button): what the
//! callback needs to finish it, stored under the SHA-256 of its `state` until the provider sends the browser
//! back.

use crate::clock::UnixTime;

/// One sign-in at an upstream provider, started from a claims interaction visit. Single use: the callback takes
/// it out of the store before acting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSignIn {
    /// The claims interaction visit it belongs to, in clear: the release form that follows the callback
    /// names it. It is worth nothing without the browser's CSRF cookie.
    pub visit_id: String,
    /// SHA-256 of the CSRF token of the browser that started it: the callback must come from that browser.
    pub csrf_hash: String,
    /// The upstream issuer the browser was sent to.
    pub issuer: String,
    /// The `nonce` sent; the ID token must carry it back (OpenID Connect Core §3.1.3.7 item 11).
    pub nonce: String,
    /// The PKCE `code_verifier` (RFC 7636), sent with the code to the token endpoint.
    pub code_verifier: String,
    pub expires_at: UnixTime,
}
