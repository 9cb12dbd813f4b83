//! Claim tokens pushed to the UMA grant (UMA Grant §3.3.1 `claim_token` + `claim_token_format`): OpenID
//! Connect ID tokens issued by this server or by an issuer the admin trusts, verified into claims about the
//! requesting party. [`ClaimsVerifier::verify`] is the one entry point; the grant turns a [`ClaimError`] into
//! `need_info` or `invalid_request`.
//!
//! Plain Rust: signatures are checked in [`crate::crypto::jwks`], documents are fetched in [`fetch`] and kept in
//! [`cache`], the configuration is read in [`issuers`]. Everything here blocks (a fetch may take seconds), so it
//! runs inside `web::block`, never on an async worker.
//!
//! What this module must never do: fetch keys for an issuer that is not trusted (the `iss` check comes first);
//! return claims whose signature was not verified, or of a token addressed to another client; or put secrets or
//! key material into an error (its text becomes an `error_description`).

pub mod cache;
pub mod fetch;
pub mod issuers;
#[cfg(test)]
pub(crate) mod testing;
pub mod upstream;

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};

use self::cache::{CachePolicy, JwksCache, KeysError};
use self::fetch::{FetchJwks, Fetcher};
use self::issuers::TrustedIssuer;
use crate::clock::UnixTime;
use crate::config::{ConfigError, Settings};
use crate::crypto::jwks::{JwkSet, JwsError, UnverifiedJws};
use crate::crypto::keys::KeySet;
use crate::keyring::{KeyError, KeyRing};

/// `claim_token_format` of an OpenID Connect ID token (UMA Grant §3.3.1), the only format accepted.
pub const ID_TOKEN_FORMAT: &str = "http://openid.net/specs/openid-connect-core-1_0.html#IDToken";

/// Seconds of clock difference tolerated between an issuer and this server on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;

/// Larger claim tokens are refused before any parsing. Real ID tokens are one or two kilobytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Where this server's own signing keys come from. [`KeyRing`] in the server; a fixed set in tests.
pub trait OwnKeys: Send + Sync {
    fn key_set(&self, now: UnixTime) -> Result<Arc<KeySet>, KeyError>;
}

impl OwnKeys for KeyRing {
    fn key_set(&self, now: UnixTime) -> Result<Arc<KeySet>, KeyError> {
        self.current(now)
    }
}

/// Claims of a claim token whose signature, issuer, audience and validity period were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    issuer: String,
    subject: String,
    issued_here: bool,
    claims: Map<String, Value>,
}

impl VerifiedClaims {
    /// `iss`: this server's issuer or a trusted one. A subject is only unique together with it.
    pub fn iss(&self) -> &str {
        &self.issuer
    }

    /// `sub`: the requesting party at that issuer.
    pub fn sub(&self) -> &str {
        &self.subject
    }

    /// True when this server issued the token itself.
    pub fn issued_by_this_server(&self) -> bool {
        self.issued_here
    }

    /// Every claim of the token as signed (registered ones included). Which of them become principal
    /// attributes is the policy engine's choice.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
}

/// Why a claim token was refused. The text is meant for an `error_description`: lowercase, what was wrong,
/// values from the token quoted in backticks and sanitised, never keys or fetch details (those go to the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "claim token format `{0}` is not supported; send an OpenID Connect ID token with `claim_token_format` `{ID_TOKEN_FORMAT}`"
    )]
    UnsupportedFormat(String),
    #[error("the claim token is malformed: {0}")]
    Malformed(String),
    #[error("the claim token is not an ID token: {0}")]
    NotAnIdToken(String),
    #[error(
        "the claim token's signature algorithm `{0}` is not accepted (accepted: ES256, ES384, RS256, PS256, EdDSA)"
    )]
    UnsupportedAlgorithm(String),
    #[error("the claim token's issuer `{0}` is not trusted by this server")]
    UntrustedIssuer(String),
    #[error("the keys of issuer `{0}` cannot be obtained right now; try again later")]
    KeysUnavailable(String),
    #[error("the claim token is signed with a key that issuer `{0}` does not publish")]
    UnknownKey(String),
    #[error("the claim token's signature does not verify")]
    BadSignature,
    #[error("the claim token has expired")]
    Expired,
    #[error("the claim token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the claim token's `iat` is in the future")]
    IssuedInFuture,
    #[error("the claim token is not addressed to client `{0}` (`aud`)")]
    WrongAudience(String),
    #[error("the claim token was issued to another client (`azp`)")]
    AuthorizedPartyMismatch,
    #[error("the server could not check the claim token")]
    Internal,
}

/// A value from the request, fit to quote in an `error_description` (RFC 6749 §5.2 allows printable ASCII
/// except `"` and `\`; backticks are dropped too, as they delimit the quote): other characters are dropped and
/// long values cut.
fn quoted(text: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = text
        .chars()
        .filter(|c| matches!(c, ' '..='~') && !matches!(c, '"' | '\\' | '`'))
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push_str("...");
    }
    out
}

fn malformed(reason: impl Into<String>) -> ClaimError {
    ClaimError::Malformed(reason.into())
}

fn from_jws(err: JwsError, iss: &str) -> ClaimError {
    match err {
        JwsError::Malformed(reason) => ClaimError::Malformed(reason),
        JwsError::UnsupportedAlg(alg) => ClaimError::UnsupportedAlgorithm(quoted(&alg)),
        JwsError::UnknownKey => ClaimError::UnknownKey(quoted(iss)),
        JwsError::BadSignature => ClaimError::BadSignature,
    }
}

/// Verifies claim tokens. Built once at startup; cheap to share.
pub struct ClaimsVerifier {
    own_issuer: String,
    own_keys: Arc<dyn OwnKeys>,
    /// This server's key set in verifier form, rebuilt only when the key ring hands out a new set.
    own_jwks: Mutex<Option<(Arc<KeySet>, Arc<JwkSet>)>>,
    trusted_order: Vec<String>,
    cache: JwksCache,
}

impl std::fmt::Debug for ClaimsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimsVerifier")
            .field("own_issuer", &self.own_issuer)
            .field("cache", &self.cache)
            .finish()
    }
}

/// A trusted issuer whose local JWK Set file cannot be used; the server does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `trusted_issuers`: issuer `{issuer}`: cannot use its JWK Set {reason}")]
pub struct ClaimsSetupError {
    pub issuer: String,
    pub reason: String,
}

impl ClaimsVerifier {
    pub fn new(
        own_issuer: impl Into<String>,
        own_keys: Arc<dyn OwnKeys>,
        trusted: &[TrustedIssuer],
        fetcher: Arc<dyn FetchJwks>,
        policy: CachePolicy,
    ) -> Self {
        Self {
            own_issuer: own_issuer.into(),
            own_keys,
            own_jwks: Mutex::new(None),
            trusted_order: trusted.iter().map(|t| t.issuer.clone()).collect(),
            cache: JwksCache::new(trusted, fetcher, policy),
        }
    }

    /// The verifier the server runs with: the settings' issuers (checked here, so a malformed entry stops the
    /// server), the real fetcher, the default cache policy.
    pub fn from_settings(
        settings: &Settings,
        own_keys: Arc<dyn OwnKeys>,
    ) -> Result<Self, ConfigError> {
        let trusted = issuers::parse_trusted_issuers(&settings.trusted_issuers, &settings.issuer)?;
        Ok(Self::new(
            settings.issuer.clone(),
            own_keys,
            &trusted,
            Arc::new(Fetcher::default()),
            CachePolicy::default(),
        ))
    }

    /// Reads the JWK Set files of trusted issuers now, so a broken file stops the server at startup.
    pub fn load_local_keys(&self, now: UnixTime) -> Result<(), ClaimsSetupError> {
        self.cache
            .load_files(now)
            .map_err(|(issuer, reason)| ClaimsSetupError { issuer, reason })
    }

    /// This server's issuer identifier.
    pub fn own_issuer(&self) -> &str {
        &self.own_issuer
    }

    /// Every issuer whose ID tokens are accepted: this server first, then the configured ones in order.
    /// The grant can name them in `need_info`'s `required_claims`.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.own_issuer.as_str())
            .chain(self.trusted_order.iter().map(String::as_str))
    }

    pub fn is_trusted(&self, issuer: &str) -> bool {
        issuer == self.own_issuer || self.cache.is_trusted(issuer)
    }

    /// Verifies a claim token pushed by `presenting_client_id` and returns its claims. Checks, in order: the
    /// format, the token's shape and algorithm, that it is an ID token, that `iss` is trusted (before any key
    /// is fetched), the signature, then `sub`, `aud` (must name the client), `azp` (if present, must be the
    /// client), `exp`, `iat` and `nbf` with [`LEEWAY_SECONDS`] of tolerance.
    pub fn verify(
        &self,
        token: &str,
        format: &str,
        presenting_client_id: &str,
        now: UnixTime,
    ) -> Result<VerifiedClaims, ClaimError> {
        if format != ID_TOKEN_FORMAT {
            return Err(ClaimError::UnsupportedFormat(quoted(format)));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed(format!(
                "it is larger than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let jws = UnverifiedJws::parse(token).map_err(|e| from_jws(e, ""))?;
        check_token_type(&jws)?;
        let iss = match jws.unverified_claims().get("iss") {
            Some(Value::String(iss)) if !iss.is_empty() => iss.clone(),
            Some(_) => return Err(malformed("`iss` is not a non-empty string")),
            None => return Err(malformed("it has no `iss`")),
        };
        let issued_here = iss == self.own_issuer;
        let keys = if issued_here {
            self.own_key_set(now)?
        } else {
            self.cache.keys_for(&iss, &jws, now).map_err(|e| match e {
                KeysError::Untrusted => ClaimError::UntrustedIssuer(quoted(&iss)),
                KeysError::Unavailable => ClaimError::KeysUnavailable(quoted(&iss)),
            })?
        };
        let claims = keys.verify(&jws).map_err(|e| from_jws(e, &iss))?;
        check_claims(claims, &iss, issued_here, presenting_client_id, now)
    }

    fn own_key_set(&self, now: UnixTime) -> Result<Arc<JwkSet>, ClaimError> {
        let current = self.own_keys.key_set(now).map_err(|e| {
            log::error!("claim token check: own signing keys unavailable: {e}");
            ClaimError::Internal
        })?;
        let mut cached = self.own_jwks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((keys, set)) = cached.as_ref()
            && Arc::ptr_eq(keys, &current)
        {
            return Ok(set.clone());
        }
        let set = Arc::new(JwkSet::from_value(current.jwks()).map_err(|e| {
            log::error!("claim token check: own JWKS unusable: {e}");
            ClaimError::Internal
        })?);
        *cached = Some((current, set.clone()));
        Ok(set)
    }
}

/// OpenID Connect ID tokens are typed `JWT` or not at all. Refusing other types keeps tokens meant for
/// something else (access tokens `at+jwt`, logout tokens `logout+jwt`) from passing as identity evidence, even
/// when they carry the right `iss` and `aud`.
fn check_token_type(jws: &UnverifiedJws<'_>) -> Result<(), ClaimError> {
    if let Some(typ) = jws.typ()
        && !typ.eq_ignore_ascii_case("JWT")
        && !typ.eq_ignore_ascii_case("application/jwt")
    {
        return Err(ClaimError::NotAnIdToken(format!(
            "its `typ` is `{}`",
            quoted(typ)
        )));
    }
    // Back-channel logout tokens (OpenID Connect Back-Channel Logout §2.4) are addressed to the client too.
    if jws.unverified_claims().contains_key("events") {
        return Err(ClaimError::NotAnIdToken(
            "it carries `events`, as a logout token does".into(),
        ));
    }
    Ok(())
}

/// A NumericDate claim (RFC 7519 §2): seconds, possibly with a fraction, which is dropped.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<UnixTime>, ClaimError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| malformed(format!("`{name}` is not a time in seconds"))),
        Some(_) => Err(malformed(format!("`{name}` is not a number"))),
    }
}

/// The audiences of `aud`, a string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, ClaimError> {
    match claims.get("aud") {
        Some(Value::String(aud)) => Ok(vec![aud.as_str()]),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| malformed("`aud` lists something other than strings"))
            })
            .collect(),
        Some(_) => Err(malformed("`aud` is neither a string nor an array")),
        None => Err(malformed("it has no `aud`")),
    }
}

/// The checks of OpenID Connect Core §3.1.3.7 that apply to a token pushed by a client, on verified claims.
fn check_claims(
    claims: Map<String, Value>,
    iss: &str,
    issued_here: bool,
    client_id: &str,
    now: UnixTime,
) -> Result<VerifiedClaims, ClaimError> {
    // The verified payload is the one whose `iss` chose the keys; checked again so that can never drift.
    if claims.get("iss").and_then(Value::as_str) != Some(iss) {
        return Err(malformed("`iss` changed between parsing and verification"));
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        _ => return Err(malformed("it has no `sub` string")),
    };
    // A token minted for another client must not be replayable by this one (OpenID Connect Core §3.1.3.7,
    // items 3 to 5).
    if !audiences(&claims)?.contains(&client_id) {
        return Err(ClaimError::WrongAudience(quoted(client_id)));
    }
    match claims.get("azp") {
        None => {}
        Some(Value::String(azp)) if azp == client_id => {}
        Some(Value::String(_)) => return Err(ClaimError::AuthorizedPartyMismatch),
        Some(_) => return Err(malformed("`azp` is not a string")),
    }
    let exp = numeric_date(&claims, "exp")?.ok_or_else(|| malformed("it has no `exp`"))?;
    if now >= exp.saturating_add(LEEWAY_SECONDS) {
        return Err(ClaimError::Expired);
    }
    let iat = numeric_date(&claims, "iat")?.ok_or_else(|| malformed("it has no `iat`"))?;
    if iat > now.saturating_add(LEEWAY_SECONDS) {
        return Err(ClaimError::IssuedInFuture);
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")?
        && nbf > now.saturating_add(LEEWAY_SECONDS)
    {
        return Err(ClaimError::NotYetValid);
    }
    Ok(VerifiedClaims {
        issuer: iss.to_owned(),
        subject,
        issued_here,
        claims,
    })
}

#[cfg(test)]
mod tests;
