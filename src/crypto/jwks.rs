//! Public keys of other token issuers and verification of their compact JWS tokens (RFC 7515, RFC 7517).
//!
//! [`JwkSet`] turns a JWK Set document into signature verifiers; [`UnverifiedJws`] splits a token so its
//! issuer can be read before the issuer's keys are chosen; [`JwkSet::verify`] checks the signature and only then
//! returns the claims. Callers check `iss`, `aud`, `exp` and the rest.
//!
//! What this module must never do: accept `alg: none`, an HMAC algorithm (a published public key must never
//! become an HMAC secret) or any algorithm outside [`SigAlg`]; build a verifier from a private or symmetric key
//! it was handed by mistake; or return claims whose signature it did not check, except through
//! [`UnverifiedJws::unverified_claims`], whose name says what they are.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::JoseError;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, ES384, EdDSA, JwsVerifier, PS256, RS256};
use josekit::jwt;
use serde_json::{Map, Value};

/// More keys than this in one document is refused: no real issuer publishes that many, and each key costs a
/// verifier build.
pub const MAX_KEYS: usize = 100;

/// The signature algorithms accepted on tokens of other issuers (and on this server's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigAlg {
    ES256,
    ES384,
    RS256,
    PS256,
    EdDSA,
}

impl SigAlg {
    pub const ALL: [SigAlg; 5] = [
        Self::ES256,
        Self::ES384,
        Self::RS256,
        Self::PS256,
        Self::EdDSA,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JOSE `alg` value names, if it is one we accept. Exact, case-sensitive match (RFC 7515
    /// §4.1.1 values are case-sensitive), so `None` or `hs256` can never slip through.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }
}

impl fmt::Display for SigAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was refused. The messages may reach an `error_description`: they never quote key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("{0}")]
    Malformed(String),
    #[error(
        "signature algorithm `{0}` is not accepted (accepted: ES256, ES384, RS256, PS256, EdDSA)"
    )]
    UnsupportedAlg(String),
    #[error("no published key matches the token's `kid` and `alg`")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// Why a JWK Set document was refused as a whole. Single unusable keys are skipped, not refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("it has no `keys` array")]
    NoKeysArray,
    #[error("it lists {0} keys; at most {MAX_KEYS} are accepted")]
    TooManyKeys(usize),
    #[error("it has no usable signature verification key{}", skipped_suffix(.0))]
    NoUsableKeys(Vec<String>),
}

fn skipped_suffix(skipped: &[String]) -> String {
    if skipped.is_empty() {
        String::new()
    } else {
        format!(" ({})", skipped.join("; "))
    }
}

/// A compact JWS split into its parts, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedJws<'a> {
    token: &'a str,
    alg: SigAlg,
    kid: Option<String>,
    typ: Option<String>,
    claims: Map<String, Value>,
}

fn malformed(reason: impl Into<String>) -> JwsError {
    JwsError::Malformed(reason.into())
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, JwsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("the {what} is not base64url without padding")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(format!("the {what} is not a JSON object"))),
    }
}

fn optional_string(header: &Map<String, Value>, name: &str) -> Result<Option<String>, JwsError> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(malformed(format!("the header's `{name}` is not a string"))),
    }
}

impl<'a> UnverifiedJws<'a> {
    /// Splits a compact JWS and reads its header and payload. Refuses an algorithm outside [`SigAlg`] here,
    /// before any key is looked up.
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let parts: Vec<&str> = token.split('.').collect();
        let (header, payload, signature) = match parts.as_slice() {
            [header, payload, signature] => (*header, *payload, *signature),
            [_, _, _, _, _] => {
                return Err(malformed(
                    "an encrypted token (JWE) is not accepted; send a signed JWT",
                ));
            }
            _ => {
                return Err(malformed(
                    "not a signed JWT (three base64url parts separated by dots)",
                ));
            }
        };
        let header = decode_object(header, "token header")?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => {
                SigAlg::from_name(name).ok_or_else(|| JwsError::UnsupportedAlg(name.clone()))?
            }
            Some(_) => return Err(malformed("the header's `alg` is not a string")),
            None => return Err(malformed("the header has no `alg`")),
        };
        let kid = optional_string(&header, "kid")?;
        let typ = optional_string(&header, "typ")?;
        let claims = decode_object(payload, "token payload")?;
        if signature.is_empty() {
            return Err(malformed("the token has no signature"));
        }
        Ok(Self {
            token,
            alg,
            kid,
            typ,
            claims,
        })
    }

    pub fn alg(&self) -> SigAlg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// The payload as sent. Good only for choosing whose keys to verify with (its `iss`); never trust it.
    pub fn unverified_claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// One usable public key, ready to verify one algorithm.
struct VerifyKey {
    kid: Option<String>,
    alg: SigAlg,
    verifier: Box<dyn JwsVerifier>,
}

/// The signature verification keys of one issuer.
pub struct JwkSet {
    keys: Vec<VerifyKey>,
    skipped: Vec<String>,
}

impl fmt::Debug for JwkSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{}/{}", k.kid.as_deref().unwrap_or("-"), k.alg))
            .collect();
        f.debug_struct("JwkSet")
            .field("keys", &keys)
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

impl JwkSet {
    /// Parses a JWK Set document (RFC 7517 §5).
    pub fn parse(document: &[u8]) -> Result<Self, JwksError> {
        let value: Value =
            serde_json::from_slice(document).map_err(|e| JwksError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Builds the set from an already parsed document. Keys that cannot serve (private or symmetric keys,
    /// encryption keys, unaccepted algorithms, RSA keys under 2048 bits, broken parameters) are skipped and
    /// listed in [`JwkSet::skipped`]; a document with no usable key at all is refused.
    pub fn from_value(document: &Value) -> Result<Self, JwksError> {
        let Value::Object(document) = document else {
            return Err(JwksError::NotJson("the document is not an object".into()));
        };
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(JwksError::NoKeysArray);
        };
        if entries.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys(entries.len()));
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let label = entry.get("kid").and_then(Value::as_str).map_or_else(
                || format!("key {}", index + 1),
                |kid| format!("key `{kid}`"),
            );
            match verify_keys(entry) {
                Ok(built) => keys.extend(built),
                Err(reason) => skipped.push(format!("{label}: {reason}")),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys(skipped));
        }
        Ok(Self { keys, skipped })
    }

    /// How many (key, algorithm) verifiers the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys of the document that were left out, with the reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    fn candidates<'s>(&'s self, jws: &'s UnverifiedJws<'_>) -> impl Iterator<Item = &'s VerifyKey> {
        self.keys.iter().filter(move |key| {
            key.alg == jws.alg
                && match jws.kid() {
                    Some(kid) => key.kid.as_deref() == Some(kid),
                    // RFC 7515 makes `kid` optional: without one, any key of the token's algorithm may be it.
                    None => true,
                }
        })
    }

    /// Whether some key could have signed this token (same `kid`, same algorithm). False is the cue to fetch
    /// the issuer's keys again.
    pub fn has_key_for(&self, jws: &UnverifiedJws<'_>) -> bool {
        self.candidates(jws).next().is_some()
    }

    /// Checks the token's signature and returns its claims.
    pub fn verify(&self, jws: &UnverifiedJws<'_>) -> Result<Map<String, Value>, JwsError> {
        let mut outcome = Err(JwsError::UnknownKey);
        for key in self.candidates(jws) {
            match jwt::decode_with_verifier(jws.token, &*key.verifier) {
                Ok((payload, _)) => return Ok(payload.claims_set().clone()),
                Err(JoseError::InvalidSignature(_)) => outcome = Err(JwsError::BadSignature),
                // Anything else (an unsupported `crit`, a payload whose registered claims have the wrong
                // type) is a malformed token, whichever key we try.
                Err(_) => {
                    return Err(malformed(
                        "the token could not be decoded (unsupported header or claim types)",
                    ));
                }
            }
        }
        outcome
    }
}

/// The algorithms a key may verify: the one its `alg` names, or else those its type and curve allow.
fn algorithms_of(jwk: &Jwk) -> Result<Vec<SigAlg>, String> {
    if let Some(name) = jwk.algorithm() {
        return SigAlg::from_name(name)
            .map(|alg| vec![alg])
            .ok_or_else(|| format!("algorithm `{name}` is not accepted"));
    }
    let curve = jwk.curve();
    let algs = match (jwk.key_type(), curve) {
        ("EC", Some("P-256")) => vec![SigAlg::ES256],
        ("EC", Some("P-384")) => vec![SigAlg::ES384],
        // An RSA key without `alg` may be used with either padding; the token's header decides.
        ("RSA", _) => vec![SigAlg::RS256, SigAlg::PS256],
        ("OKP", Some("Ed25519" | "Ed448")) => vec![SigAlg::EdDSA],
        (kty, crv) => {
            return Err(format!(
                "key type `{kty}`{} has no accepted algorithm",
                crv.map(|c| format!(" on curve `{c}`")).unwrap_or_default()
            ));
        }
    };
    Ok(algs)
}

fn verify_keys(entry: &Value) -> Result<Vec<VerifyKey>, String> {
    let Value::Object(map) = entry else {
        return Err("not a JSON object".into());
    };
    if map.contains_key("d") {
        // Whoever published this leaked a private key: it proves nothing about who signed a token.
        return Err("it contains private key material and is ignored".into());
    }
    let jwk = Jwk::from_map(map.clone()).map_err(|e| format!("not a valid JWK ({e})"))?;
    if jwk.key_type() == "oct" {
        return Err("symmetric keys are never used to verify".into());
    }
    if let Some(usage) = jwk.key_use()
        && usage != "sig"
    {
        return Err(format!("its `use` is `{usage}`, not `sig`"));
    }
    let kid = jwk.key_id().map(str::to_owned);
    let mut built = Vec::new();
    for alg in algorithms_of(&jwk)? {
        let verifier = verifier_for(alg, &jwk).map_err(|e| format!("unusable for {alg} ({e})"))?;
        built.push(VerifyKey {
            kid: kid.clone(),
            alg,
            verifier,
        });
    }
    Ok(built)
}

/// A verifier without its own `kid` check: [`JwkSet`] matches the `kid` itself, and josekit would otherwise
/// refuse a token that names no `kid`.
fn verifier_for(alg: SigAlg, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
    Ok(match alg {
        SigAlg::ES256 => {
            let mut v = ES256.verifier_from_jwk(jwk)?;
            v.remove_key_id();
            Box::new(v)
        }
        SigAlg::ES384 => {
            let mut v = ES384.verifier_from_jwk(jwk)?;
            v.remove_key_id();
            Box::new(v)
        }
        SigAlg::RS256 => {
            let mut v = RS256.verifier_from_jwk(jwk)?;
            v.remove_key_id();
            Box::new(v)
        }
        SigAlg::PS256 => {
            let mut v = PS256.verifier_from_jwk(jwk)?;
            v.remove_key_id();
            Box::new(v)
        }
        SigAlg::EdDSA => {
            let mut v = EdDSA.verifier_from_jwk(jwk)?;
            v.remove_key_id();
            Box::new(v)
        }
    })
}

/// Key pairs and signing for tests of this module and of the claims verifier: an "issuer" the test controls.
#[cfg(test)]
pub(crate) mod testing {
    use josekit::jwk::KeyPair;
    use josekit::jws::{HS256, JwsHeader, JwsSigner};
    use josekit::jwt::JwtPayload;
    use serde_json::{Map, Value};

    use super::SigAlg;

    /// A private key with its `kid`, as an issuer holds it.
    pub struct TestKey {
        pub kid: String,
        signer: Box<dyn JwsSigner>,
        public: Value,
    }

    impl TestKey {
        pub fn new(alg: SigAlg, kid: &str) -> Self {
            let (signer, public): (Box<dyn JwsSigner>, josekit::jwk::Jwk) = match alg {
                SigAlg::ES256 => {
                    let pair = josekit::jws::ES256.generate_key_pair().expect("ec key");
                    (
                        Box::new(
                            josekit::jws::ES256
                                .signer_from_jwk(&pair.to_jwk_private_key())
                                .expect("signer"),
                        ),
                        pair.to_jwk_public_key(),
                    )
                }
                SigAlg::ES384 => {
                    let pair = josekit::jws::ES384.generate_key_pair().expect("ec key");
                    (
                        Box::new(
                            josekit::jws::ES384
                                .signer_from_jwk(&pair.to_jwk_private_key())
                                .expect("signer"),
                        ),
                        pair.to_jwk_public_key(),
                    )
                }
                SigAlg::RS256 | SigAlg::PS256 => {
                    let pair = josekit::jws::RS256
                        .generate_key_pair(2048)
                        .expect("rsa key");
                    // The pair's JWKs carry `alg: RS256`; PS256 signs with the same RSA key.
                    let mut private = pair.to_jwk_private_key();
                    private.set_algorithm(alg.as_str());
                    let signer: Box<dyn JwsSigner> = if alg == SigAlg::RS256 {
                        Box::new(josekit::jws::RS256.signer_from_jwk(&private).expect("rs"))
                    } else {
                        Box::new(josekit::jws::PS256.signer_from_jwk(&private).expect("ps"))
                    };
                    (signer, pair.to_jwk_public_key())
                }
                SigAlg::EdDSA => {
                    let pair = josekit::jws::EdDSA
                        .generate_key_pair(josekit::jwk::Ed25519)
                        .expect("ed key");
                    (
                        Box::new(
                            josekit::jws::EdDSA
                                .signer_from_jwk(&pair.to_jwk_private_key())
                                .expect("signer"),
                        ),
                        pair.to_jwk_public_key(),
                    )
                }
            };
            let mut public = public.as_ref().clone();
            public.remove("alg");
            public.insert("kid".into(), Value::from(kid));
            Self {
                kid: kid.to_owned(),
                signer,
                public: Value::Object(public),
            }
        }

        /// The public JWK (with `kid`, without `alg`, as many issuers publish it).
        pub fn public_jwk(&self) -> Value {
            self.public.clone()
        }

        /// A signed JWT carrying `claims`, with this key's `kid` in the header.
        pub fn sign(&self, claims: &Value) -> String {
            self.sign_with_header(claims, |h| h.set_key_id(&self.kid))
        }

        pub fn sign_with_header(
            &self,
            claims: &Value,
            edit: impl FnOnce(&mut JwsHeader),
        ) -> String {
            let mut header = JwsHeader::new();
            header.set_token_type("JWT");
            edit(&mut header);
            let map: Map<String, Value> = claims.as_object().cloned().expect("claims object");
            let payload = JwtPayload::from_map(map).expect("payload");
            josekit::jwt::encode_with_signer(&payload, &header, &*self.signer).expect("sign")
        }
    }

    /// A JWK Set document listing these keys.
    pub fn jwks_of(keys: &[&TestKey]) -> Value {
        serde_json::json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }

    /// A token with `alg: none` and an empty signature, as an attacker would send it.
    pub fn unsigned(claims: &Value) -> String {
        let header = crate::crypto::base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = crate::crypto::base64url(claims.to_string().as_bytes());
        format!("{header}.{payload}.")
    }

    /// A token signed with HS256 using `secret` (for the "public key as HMAC secret" attack).
    pub fn hmac_signed(claims: &Value, kid: &str, secret: &[u8]) -> String {
        let signer = HS256.signer_from_bytes(secret).expect("hmac signer");
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(kid);
        let payload =
            JwtPayload::from_map(claims.as_object().cloned().expect("claims")).expect("payload");
        josekit::jwt::encode_with_signer(&payload, &header, &signer).expect("sign")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use serde_json::json;

    fn claims() -> Value {
        json!({"iss": "https://idp.example", "sub": "bob", "aud": "app"})
    }

    #[test]
    fn every_accepted_algorithm_verifies_with_a_published_key() {
        for alg in SigAlg::ALL {
            let key = TestKey::new(alg, &format!("k-{alg}"));
            let set = JwkSet::from_value(&jwks_of(&[&key])).expect("set");
            let token = key.sign(&claims());
            let jws = UnverifiedJws::parse(&token).expect("parse");
            assert_eq!(jws.alg(), alg);
            let verified = set.verify(&jws).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(verified.get("sub"), Some(&Value::from("bob")), "{alg}");
        }
    }

    #[test]
    fn a_tampered_payload_is_a_bad_signature() {
        let key = TestKey::new(SigAlg::ES256, "k1");
        let set = JwkSet::from_value(&jwks_of(&[&key])).expect("set");
        let token = key.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = crate::crypto::base64url(
            json!({"iss": "https://idp.example", "sub": "mallory", "aud": "app"})
                .to_string()
                .as_bytes(),
        );
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        let jws = UnverifiedJws::parse(&forged).expect("parse");
        assert_eq!(set.verify(&jws).unwrap_err(), JwsError::BadSignature);
    }

    #[test]
    fn a_token_signed_by_another_key_with_the_same_kid_is_a_bad_signature() {
        let published = TestKey::new(SigAlg::RS256, "k1");
        let impostor = TestKey::new(SigAlg::RS256, "k1");
        let set = JwkSet::from_value(&jwks_of(&[&published])).expect("set");
        let token = impostor.sign(&claims());
        let jws = UnverifiedJws::parse(&token).expect("parse");
        assert_eq!(set.verify(&jws).unwrap_err(), JwsError::BadSignature);
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_used() {
        let token = unsigned(&claims());
        assert_eq!(
            UnverifiedJws::parse(&token).unwrap_err(),
            JwsError::UnsupportedAlg("none".into())
        );
        // The classic confusion attack: the RSA public key's bytes used as the HMAC secret.
        let key = TestKey::new(SigAlg::RS256, "k1");
        let secret = key.public_jwk()["n"]
            .as_str()
            .expect("n")
            .as_bytes()
            .to_vec();
        let token = hmac_signed(&claims(), "k1", &secret);
        assert_eq!(
            UnverifiedJws::parse(&token).unwrap_err(),
            JwsError::UnsupportedAlg("HS256".into())
        );
    }

    #[test]
    fn the_header_algorithm_must_match_the_key() {
        // An ES256 key published with `alg`; a token claiming ES384 with the same kid finds no key.
        let key = TestKey::new(SigAlg::ES256, "k1");
        let mut jwk = key.public_jwk();
        jwk["alg"] = Value::from("ES256");
        let set = JwkSet::from_value(&json!({"keys": [jwk]})).expect("set");
        let other = TestKey::new(SigAlg::ES384, "k1");
        let token = other.sign(&claims());
        let jws = UnverifiedJws::parse(&token).expect("parse");
        assert!(!set.has_key_for(&jws));
        assert_eq!(set.verify(&jws).unwrap_err(), JwsError::UnknownKey);
    }

    #[test]
    fn an_unknown_kid_is_reported_as_such() {
        let key = TestKey::new(SigAlg::ES256, "k1");
        let set = JwkSet::from_value(&jwks_of(&[&key])).expect("set");
        let token = TestKey::new(SigAlg::ES256, "k2").sign(&claims());
        let jws = UnverifiedJws::parse(&token).expect("parse");
        assert!(!set.has_key_for(&jws));
        assert_eq!(set.verify(&jws).unwrap_err(), JwsError::UnknownKey);
    }

    #[test]
    fn a_token_without_kid_is_tried_against_keys_of_its_algorithm() {
        let other = TestKey::new(SigAlg::ES256, "k0");
        let key = TestKey::new(SigAlg::ES256, "k1");
        let set = JwkSet::from_value(&jwks_of(&[&other, &key])).expect("set");
        let token = key.sign_with_header(&claims(), |_| {});
        let jws = UnverifiedJws::parse(&token).expect("parse");
        assert_eq!(jws.kid(), None);
        assert!(set.verify(&jws).is_ok());
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_result_is_refused() {
        let good = TestKey::new(SigAlg::ES256, "good");
        let mut encryption = TestKey::new(SigAlg::ES256, "enc").public_jwk();
        encryption["use"] = Value::from("enc");
        let symmetric = json!({"kty": "oct", "kid": "sym", "k": "c2VjcmV0"});
        let private =
            json!({"kty": "EC", "kid": "priv", "crv": "P-256", "x": "x", "y": "y", "d": "d"});
        let hmac_alg = json!({"kty": "RSA", "kid": "hs", "alg": "HS256", "n": "AQAB", "e": "AQAB"});
        let doc = json!({"keys": [good.public_jwk(), encryption, symmetric, private, hmac_alg]});
        let set = JwkSet::from_value(&doc).expect("set");
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped().len(), 4, "{:?}", set.skipped());
        assert!(
            set.skipped()
                .iter()
                .any(|s| s.contains("`priv`") && s.contains("private"))
        );

        let only_bad = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert!(matches!(
            JwkSet::from_value(&only_bad),
            Err(JwksError::NoUsableKeys(_))
        ));
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(matches!(
            JwkSet::parse(b"not json"),
            Err(JwksError::NotJson(_))
        ));
        assert!(matches!(JwkSet::parse(b"[]"), Err(JwksError::NotJson(_))));
        assert_eq!(JwkSet::parse(b"{}").unwrap_err(), JwksError::NoKeysArray);
        assert_eq!(
            JwkSet::parse(br#"{"keys": {}}"#).unwrap_err(),
            JwksError::NoKeysArray
        );
        let many = json!({"keys": vec![json!({"kty": "oct"}); MAX_KEYS + 1]});
        assert_eq!(
            JwkSet::from_value(&many).unwrap_err(),
            JwksError::TooManyKeys(MAX_KEYS + 1)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        let bad = |token: &str| match UnverifiedJws::parse(token) {
            Err(JwsError::Malformed(reason)) => reason,
            other => panic!("expected malformed for {token:?}, got {other:?}"),
        };
        assert!(bad("abc").contains("three"));
        assert!(bad("a.b.c.d.e").contains("encrypted"));
        assert!(bad("!!.e30.c2ln").contains("base64url"));
        let header = crate::crypto::base64url(br#"{"alg":"ES256"}"#);
        assert!(bad(&format!("{header}.bm90IGpzb24.c2ln")).contains("payload"));
        assert!(bad(&format!("{header}.e30.")).contains("signature"));
        let no_alg = crate::crypto::base64url(br#"{"typ":"JWT"}"#);
        assert!(bad(&format!("{no_alg}.e30.c2ln")).contains("alg"));
    }
}
