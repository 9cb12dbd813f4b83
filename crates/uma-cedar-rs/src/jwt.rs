//! Local verification of JWT RPTs (RFC 9068 access tokens, as uma-cedar issues them) against the authorization
//! server's JWK Set.
//!
//! The key set is fetched on first use and kept; a token naming a `kid` the set lacks triggers one refetch (the
//! AS may have rotated its keys), at most once per `refetch_interval`, so a stream of forged `kid`s cannot turn
//! this resource server into a flood of JWKS requests. Header `typ` must be `at+jwt` (§4), `alg` one of the
//! pinned algorithms (never `none`, never an HMAC: a published public key must never serve as a shared secret),
//! and `iss`, `aud` and `exp` are checked before the `permissions` are handed on.
//!
//! What this module must never do: return permissions of a token whose signature it did not verify.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use josekit::jwk::Jwk;
use josekit::jws::{ES256, ES384, EdDSA, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};

use crate::error::{Error, TokenError};
use crate::grant::{Granted, parse_permissions};

/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Keys beyond this many in a JWK Set are ignored.
pub const MAX_KEYS: usize = 100;

/// A signature algorithm an RPT may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    ES256,
    ES384,
    RS256,
    PS256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 5] = [Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256, Alg::EdDSA];
    /// What uma-cedar signs with: the default pin.
    pub const UMA_CEDAR: [Alg; 2] = [Alg::ES256, Alg::RS256];

    pub fn name(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Exact, case-sensitive (RFC 7515 §4.1.1): `none`, `HS256` or `es256` are never an `Alg`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether a public key of this type (`kty`, `crv`) can verify this algorithm.
    fn fits(self, kty: &str, crv: Option<&str>) -> bool {
        match self {
            Self::ES256 => kty == "EC" && crv == Some("P-256"),
            Self::ES384 => kty == "EC" && crv == Some("P-384"),
            Self::RS256 | Self::PS256 => kty == "RSA",
            Self::EdDSA => kty == "OKP" && crv == Some("Ed25519"),
        }
    }

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        Ok(match self {
            Self::ES256 => Box::new(ES256.verifier_from_jwk(jwk)?),
            Self::ES384 => Box::new(ES384.verifier_from_jwk(jwk)?),
            Self::RS256 => Box::new(RS256.verifier_from_jwk(jwk)?),
            Self::PS256 => Box::new(PS256.verifier_from_jwk(jwk)?),
            Self::EdDSA => Box::new(EdDSA.verifier_from_jwk(jwk)?),
        })
    }
}

/// Where the key set comes from: a blocking fetch of the JWKS document.
pub type FetchJwks = Box<dyn Fn() -> Result<Value, Error> + Send + Sync>;

/// What an accepted RPT must say about who issued it and for whom.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The AS's issuer identifier, compared exactly with `iss`.
    pub issuer: String,
    /// This resource server's client id, which `aud` must contain.
    pub audience: String,
    /// The pinned algorithms.
    pub algorithms: Vec<Alg>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway: i64,
}

struct Key {
    kid: String,
    alg: Alg,
    verifier: Arc<dyn JwsVerifier>,
}

/// Verifies RPTs locally; shared by all workers (the key set is behind a lock, verification is not).
pub struct JwtVerifier {
    expect: Expect,
    refetch_interval: Duration,
    fetch: FetchJwks,
    keys: RwLock<Arc<Vec<Key>>>,
    /// When the key set was last fetched (successfully or not); held while fetching, so one thread fetches.
    fetched: Mutex<Option<Instant>>,
}

impl JwtVerifier {
    pub fn new(expect: Expect, refetch_interval: Duration, fetch: FetchJwks) -> Self {
        Self {
            expect,
            refetch_interval,
            fetch,
            keys: RwLock::new(Arc::new(Vec::new())),
            fetched: Mutex::new(None),
        }
    }

    /// Verifies `token` at Unix time `now` and returns what it grants.
    pub fn verify(&self, token: &str, now: i64) -> Result<Granted, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too long".into()));
        }
        let header = josekit::jwt::decode_header(token)
            .map_err(|_| TokenError::Malformed("not a signed JWT".into()))?;
        let text = |name: &str| header.claim(name).and_then(Value::as_str);
        let alg_name = text("alg").ok_or_else(|| TokenError::Malformed("no `alg`".into()))?;
        let alg = Alg::from_name(alg_name)
            .filter(|alg| self.expect.algorithms.contains(alg))
            .ok_or_else(|| TokenError::Algorithm(alg_name.to_owned()))?;
        // RFC 9068 §4: `at+jwt`, or the full media type, compared without regard to case.
        let typ = text("typ").unwrap_or_default().to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Err(TokenError::Malformed(
                "the header's `typ` is not `at+jwt`".into(),
            ));
        }
        let kid = text("kid").ok_or(TokenError::UnknownKey)?;
        let verifier = self.key(kid, alg)?;
        let (payload, _) = josekit::jwt::decode_with_verifier(token, &*verifier)
            .map_err(|_| TokenError::BadSignature)?;
        check_claims(payload.claims_set(), &self.expect, now)
    }

    fn find(&self, kid: &str, alg: Alg) -> Option<Arc<dyn JwsVerifier>> {
        let keys = self.keys.read().map(|keys| Arc::clone(&keys)).ok()?;
        let key = keys.iter().find(|k| k.kid == kid && k.alg == alg);
        key.map(|k| Arc::clone(&k.verifier))
    }

    /// The verifier for (`kid`, `alg`), fetching the key set when it is unknown and the rate bound allows.
    fn key(&self, kid: &str, alg: Alg) -> Result<Arc<dyn JwsVerifier>, TokenError> {
        if let Some(found) = self.find(kid, alg) {
            return Ok(found);
        }
        let mut fetched = self
            .fetched
            .lock()
            .map_err(|_| Error::protocol("the key set lock is poisoned"))?;
        // Another worker may have fetched while this one waited for the lock.
        if let Some(found) = self.find(kid, alg) {
            return Ok(found);
        }
        if fetched.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return Err(TokenError::UnknownKey);
        }
        *fetched = Some(Instant::now());
        let document = (self.fetch)()?;
        let keys = parse_jwks(&document, &self.expect.algorithms)?;
        log::debug!(
            "fetched the authorization server's key set: {} usable keys",
            keys.len()
        );
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        self.find(kid, alg).ok_or(TokenError::UnknownKey)
    }
}

/// The usable verification keys of a JWK Set: public, for signing, with a `kid`, of a pinned algorithm.
fn parse_jwks(document: &Value, algorithms: &[Alg]) -> Result<Vec<Key>, Error> {
    let Some(Value::Array(entries)) = document.get("keys") else {
        return Err(Error::protocol("the JWK Set has no `keys` array"));
    };
    let mut keys = Vec::new();
    for entry in entries.iter().take(MAX_KEYS) {
        let Value::Object(map) = entry else { continue };
        let text = |name: &str| map.get(name).and_then(Value::as_str);
        let (Some(kid), Some(kty)) = (text("kid"), text("kty")) else {
            continue;
        };
        // A private or symmetric key has no business in a JWK Set; never build a verifier from one.
        if map.contains_key("d") || kty == "oct" || text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let Ok(jwk) = Jwk::from_map(map.clone()) else {
            continue;
        };
        for &alg in algorithms {
            let named = text("alg").is_none_or(|named| named == alg.name());
            if !named || !alg.fits(kty, text("crv")) {
                continue;
            }
            match alg.verifier(&jwk) {
                Ok(verifier) => keys.push(Key {
                    kid: kid.to_owned(),
                    alg,
                    verifier: Arc::from(verifier),
                }),
                Err(e) => log::warn!(
                    "key `{kid}` of the JWK Set is unusable for {}: {e}",
                    alg.name()
                ),
            }
        }
    }
    Ok(keys)
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: &Expect,
    now: i64,
) -> Result<Granted, TokenError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(expect.issuer.as_str()) {
        return Err(TokenError::claim(
            "iss",
            "not the authorization server's issuer",
        ));
    }
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == expect.audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&expect.audience)),
        _ => false,
    };
    if !audience {
        return Err(TokenError::claim("aud", "not this resource server"));
    }
    let exp = claims.get("exp").and_then(Value::as_i64);
    let exp = exp.ok_or_else(|| TokenError::claim("exp", "missing or not an integer"))?;
    if exp.saturating_add(expect.leeway) <= now {
        return Err(TokenError::claim("exp", "the token has expired"));
    }
    match claims.get("nbf") {
        None => {}
        Some(nbf) => match nbf.as_i64() {
            Some(nbf) if nbf <= now.saturating_add(expect.leeway) => {}
            _ => return Err(TokenError::claim("nbf", "not yet valid")),
        },
    }
    Ok(Granted {
        permissions: parse_permissions(claims.get("permissions"))?,
        subject: text("sub").map(str::to_owned),
        client_id: text("client_id").map(str::to_owned),
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use josekit::jws::{HS256, JwsHeader, JwsSigner};
    use josekit::jwt::JwtPayload;
    use serde_json::json;

    use super::*;

    const ISS: &str = "https://as.example.com";
    const AUD: &str = "bank-rs";
    const NOW: i64 = 1_800_000_000;

    struct TestKey {
        kid: String,
        signer: Box<dyn JwsSigner>,
        public: Value,
    }

    impl TestKey {
        fn es256(kid: &str) -> Self {
            let pair = ES256.generate_key_pair().unwrap();
            let signer = Box::new(ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap());
            let mut public = pair.to_jwk_public_key().as_ref().clone();
            public.insert("kid".into(), kid.into());
            Self {
                kid: kid.into(),
                signer,
                public: Value::Object(public),
            }
        }

        fn sign(&self, claims: &Value, typ: &str) -> String {
            let mut header = JwsHeader::new();
            header.set_token_type(typ);
            header.set_key_id(&self.kid);
            let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
            josekit::jwt::encode_with_signer(&payload, &header, &*self.signer).unwrap()
        }
    }

    fn claims() -> Value {
        json!({"iss": ISS, "aud": AUD, "sub": "bob", "client_id": "budget", "iat": NOW, "exp": NOW + 300,
               "jti": "j", "permissions": [{"resource_id": "stmt", "resource_scopes": ["view"], "exp": NOW + 300}]})
    }

    /// A verifier over a JWKS the test can change, counting fetches.
    fn verifier(
        keys: Arc<Mutex<Vec<Value>>>,
        fetches: Arc<AtomicUsize>,
        interval: Duration,
    ) -> JwtVerifier {
        let expect = Expect {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithms: Alg::UMA_CEDAR.to_vec(),
            leeway: 30,
        };
        let fetch: FetchJwks = Box::new(move || {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok(json!({"keys": keys.lock().unwrap().clone()}))
        });
        JwtVerifier::new(expect, interval, fetch)
    }

    fn setup(
        interval: Duration,
    ) -> (
        TestKey,
        Arc<Mutex<Vec<Value>>>,
        Arc<AtomicUsize>,
        JwtVerifier,
    ) {
        let key = TestKey::es256("k1");
        let keys = Arc::new(Mutex::new(vec![key.public.clone()]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let v = verifier(Arc::clone(&keys), Arc::clone(&fetches), interval);
        (key, keys, fetches, v)
    }

    #[test]
    fn a_good_rpt_grants_its_permissions() {
        let (key, _, fetches, v) = setup(Duration::from_secs(3600));
        let granted = v.verify(&key.sign(&claims(), "at+jwt"), NOW).unwrap();
        assert!(granted.allows("stmt", "view", NOW));
        assert!(!granted.allows("stmt", "edit", NOW));
        assert_eq!(granted.subject.as_deref(), Some("bob"));
        assert_eq!(granted.client_id.as_deref(), Some("budget"));
        // The key set is kept: a second token costs no fetch.
        v.verify(&key.sign(&claims(), "application/at+JWT"), NOW)
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let (key, _, _, v) = setup(Duration::from_secs(3600));
        let token = key.sign(&claims(), "at+jwt");
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["permissions"][0]["resource_scopes"] = json!(["view", "delete"]);
        let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(v.verify(&tampered, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn expired_wrong_audience_and_wrong_issuer_are_refused() {
        let (key, _, _, v) = setup(Duration::from_secs(3600));
        let mut expired = claims();
        expired["exp"] = json!(NOW - 31);
        let refused = v.verify(&key.sign(&expired, "at+jwt"), NOW);
        assert!(
            matches!(refused, Err(TokenError::Claim { claim: "exp", .. })),
            "{refused:?}"
        );
        // Within the leeway it is still good.
        expired["exp"] = json!(NOW - 29);
        assert!(v.verify(&key.sign(&expired, "at+jwt"), NOW).is_ok());

        let mut other = claims();
        other["aud"] = json!(["another-rs"]);
        let refused = v.verify(&key.sign(&other, "at+jwt"), NOW);
        assert!(
            matches!(refused, Err(TokenError::Claim { claim: "aud", .. })),
            "{refused:?}"
        );
        other["aud"] = json!(["another-rs", AUD]);
        assert!(v.verify(&key.sign(&other, "at+jwt"), NOW).is_ok());

        let mut foreign = claims();
        foreign["iss"] = json!("https://as.example.com/");
        let refused = v.verify(&key.sign(&foreign, "at+jwt"), NOW);
        assert!(
            matches!(refused, Err(TokenError::Claim { claim: "iss", .. })),
            "{refused:?}"
        );

        let mut missing = claims();
        missing.as_object_mut().unwrap().remove("permissions");
        let refused = v.verify(&key.sign(&missing, "at+jwt"), NOW);
        assert!(matches!(
            refused,
            Err(TokenError::Claim {
                claim: "permissions",
                ..
            })
        ));
    }

    #[test]
    fn a_token_that_is_not_an_access_token_is_refused() {
        let (key, _, _, v) = setup(Duration::from_secs(3600));
        // An ID token (typ JWT) with otherwise fitting claims must not pass as an RPT.
        let refused = v.verify(&key.sign(&claims(), "JWT"), NOW);
        assert!(
            matches!(refused, Err(TokenError::Malformed(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_looked_up() {
        let (key, _, fetches, v) = setup(Duration::from_secs(3600));
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(
            v.verify(&unsigned, NOW),
            Err(TokenError::Algorithm("none".into()))
        );

        // The public key's bytes as an HMAC secret: the classic confusion attack.
        let secret = key.public.to_string();
        let signer = HS256.signer_from_bytes(secret.as_bytes()).unwrap();
        let mut h = JwsHeader::new();
        h.set_token_type("at+jwt");
        h.set_key_id("k1");
        let payload = JwtPayload::from_map(claims().as_object().unwrap().clone()).unwrap();
        let hmac = josekit::jwt::encode_with_signer(&payload, &h, &signer).unwrap();
        assert_eq!(
            v.verify(&hmac, NOW),
            Err(TokenError::Algorithm("HS256".into()))
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 0);

        // An algorithm that exists but is not pinned.
        let mut h = JwsHeader::new();
        h.set_token_type("at+jwt");
        h.set_key_id("k1");
        h.set_algorithm("ES384");
        let parts: Vec<String> = vec![
            URL_SAFE_NO_PAD.encode(h.to_string()),
            payload.to_string(),
            "c2ln".into(),
        ];
        assert_eq!(
            v.verify(&parts.join("."), NOW),
            Err(TokenError::Algorithm("ES384".into()))
        );
    }

    #[test]
    fn an_unknown_kid_refetches_the_key_set_once_per_interval() {
        // Rotation: the AS starts signing with k2, published after the verifier loaded k1.
        let (key, keys, fetches, v) = setup(Duration::ZERO);
        v.verify(&key.sign(&claims(), "at+jwt"), NOW).unwrap();
        let rotated = TestKey::es256("k2");
        keys.lock().unwrap().push(rotated.public.clone());
        v.verify(&rotated.sign(&claims(), "at+jwt"), NOW).unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);

        // With a rate bound, forged kids cost at most one fetch per interval.
        let (key, _, fetches, v) = setup(Duration::from_secs(3600));
        v.verify(&key.sign(&claims(), "at+jwt"), NOW).unwrap();
        let stranger = TestKey::es256("k-unknown");
        for _ in 0..5 {
            let refused = v.verify(&stranger.sign(&claims(), "at+jwt"), NOW);
            assert_eq!(refused, Err(TokenError::UnknownKey));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_key_with_the_right_kid_but_another_signer_is_refused() {
        let (_, _, _, v) = setup(Duration::from_secs(3600));
        let impostor = TestKey::es256("k1");
        assert_eq!(
            v.verify(&impostor.sign(&claims(), "at+jwt"), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn private_and_symmetric_keys_in_the_set_are_skipped() {
        let pair = ES256.generate_key_pair().unwrap();
        let mut private = pair.to_jwk_private_key().as_ref().clone();
        private.insert("kid".into(), "p".into());
        let oct = json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"});
        let keys = parse_jwks(&json!({"keys": [private, oct]}), &Alg::ALL).unwrap();
        assert!(keys.is_empty());
        assert!(parse_jwks(&json!({"nokeys": []}), &Alg::ALL).is_err());
    }

    #[test]
    fn an_unreachable_key_set_is_a_server_error_not_a_bad_token() {
        let expect = Expect {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithms: Alg::UMA_CEDAR.to_vec(),
            leeway: 0,
        };
        let v = JwtVerifier::new(
            expect,
            Duration::ZERO,
            Box::new(|| Err(Error::Unreachable("down".into()))),
        );
        let key = TestKey::es256("k1");
        let refused = v.verify(&key.sign(&claims(), "at+jwt"), NOW);
        assert!(
            matches!(refused, Err(TokenError::Server(Error::Unreachable(_)))),
            "{refused:?}"
        );
    }

    #[test]
    fn oversized_tokens_are_refused_unread() {
        let (_, _, fetches, v) = setup(Duration::ZERO);
        let token = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(matches!(
            v.verify(&token, NOW),
            Err(TokenError::Malformed(_))
        ));
        assert_eq!(fetches.load(Ordering::SeqCst), 0);
    }
}
