//! Signing keys and JWTs. A [`KeySet`] is built once from the stored keys (signers are not rebuilt per
//! request): the newest unretired key signs, every published key verifies and appears in the JWKS.

use std::collections::HashMap;
use std::fmt;

use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

use super::{CryptoError, random_string};
use crate::clock::UnixTime;

pub use crate::protocol::alg::Alg;

/// A private key as it is kept: PEM text with its id and publication window. The store keeps these rows;
/// this module only reads and makes them, so it needs no storage of its own.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
    pub publish_until: Option<UnixTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_pem", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish()
    }
}

/// Generates a new private key for `alg`, ready to store.
pub fn generate(alg: Alg, now: UnixTime) -> Result<StoredKey, CryptoError> {
    let private_pem = match alg {
        Alg::ES256 => ES256.generate_key_pair()?.to_pem_private_key(),
        Alg::RS256 => RS256.generate_key_pair(2048)?.to_pem_private_key(),
    };
    Ok(StoredKey {
        kid: random_string(12)?,
        alg: alg.as_str().to_owned(),
        private_pem: String::from_utf8(private_pem)
            .map_err(|_| CryptoError::Key("generated key is not PEM text".into()))?,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

struct SigningKey {
    kid: String,
    signer: Box<dyn JwsSigner>,
}

/// The keys in force: one signer, and a verifier and public JWK per published key.
pub struct KeySet {
    signing: SigningKey,
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Value,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("signing_kid", &self.signing.kid)
            .field("published", &self.verifiers.len())
            .finish()
    }
}

impl KeySet {
    /// Builds the set from stored keys, newest first; the first unretired key signs.
    pub fn from_stored(keys: &[StoredKey]) -> Result<Self, CryptoError> {
        let mut signing = None;
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for key in keys {
            let alg: Alg = key.alg.parse().map_err(CryptoError::Key)?;
            let (signer, mut public): (Box<dyn JwsSigner>, Jwk) = match alg {
                Alg::ES256 => (
                    Box::new(ES256.signer_from_pem(&key.private_pem)?),
                    ES256
                        .key_pair_from_pem(&key.private_pem)?
                        .to_jwk_public_key(),
                ),
                Alg::RS256 => (
                    Box::new(RS256.signer_from_pem(&key.private_pem)?),
                    RS256
                        .key_pair_from_pem(&key.private_pem)?
                        .to_jwk_public_key(),
                ),
            };
            public.set_key_id(&key.kid);
            public.set_key_use("sig");
            public.set_algorithm(alg.as_str());
            let verifier: Box<dyn JwsVerifier> = match alg {
                Alg::ES256 => Box::new(ES256.verifier_from_jwk(&public)?),
                Alg::RS256 => Box::new(RS256.verifier_from_jwk(&public)?),
            };
            verifiers.insert(key.kid.clone(), verifier);
            jwks.push(Value::Object(public.as_ref().clone()));
            if signing.is_none() && key.retired_at.is_none() {
                signing = Some(SigningKey {
                    kid: key.kid.clone(),
                    signer,
                });
            }
        }
        let signing = signing.ok_or_else(|| CryptoError::Key("no active signing key".into()))?;
        Ok(Self {
            signing,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }),
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing.kid
    }

    pub fn signing_alg(&self) -> &str {
        self.signing.signer.algorithm().name()
    }

    /// The JWK Set document (RFC 7517 §5) of every published public key.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Signs `claims` as a JWT (`typ` given, `kid` of the signing key).
    pub fn sign(&self, claims: Map<String, Value>, typ: &str) -> Result<String, CryptoError> {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.signing.kid);
        let payload = JwtPayload::from_map(claims)?;
        Ok(jwt::encode_with_signer(
            &payload,
            &header,
            &*self.signing.signer,
        )?)
    }

    /// Verifies the signature of a JWT signed by one of the published keys and returns its claims.
    /// Only the signature is checked here; callers check `iss`, `aud`, `exp` and the rest.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, CryptoError> {
        let (payload, _) = jwt::decode_with_verifier_selector(token, |header| {
            Ok(header
                .key_id()
                .and_then(|kid| self.verifiers.get(kid))
                .map(|v| &**v))
        })?;
        Ok(payload.claims_set().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(algs: &[Alg]) -> (Vec<StoredKey>, KeySet) {
        let mut keys: Vec<StoredKey> = algs
            .iter()
            .map(|a| generate(*a, 1).expect("generate"))
            .collect();
        keys.reverse();
        let set = KeySet::from_stored(&keys).expect("key set");
        (keys, set)
    }

    #[test]
    fn es256_sign_and_verify() {
        let (keys, set) = set_of(&[Alg::ES256]);
        assert_eq!(set.signing_alg(), "ES256");
        assert_eq!(set.signing_kid(), keys[0].kid);
        let mut claims = Map::new();
        claims.insert("sub".into(), "alice".into());
        let token = set.sign(claims, "JWT").expect("sign");
        let back = set.verify(&token).expect("verify");
        assert_eq!(back.get("sub"), Some(&Value::from("alice")));
    }

    #[test]
    fn tampered_token_is_rejected() {
        let (_, set) = set_of(&[Alg::ES256]);
        let mut claims = Map::new();
        claims.insert("sub".into(), "alice".into());
        let token = set.sign(claims, "JWT").expect("sign");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = super::super::base64url(br#"{"sub":"mallory"}"#);
        parts[1] = &forged;
        assert!(set.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn jwks_lists_every_key_with_kid_use_alg() {
        let (keys, set) = set_of(&[Alg::RS256, Alg::ES256]);
        let listed = set.jwks()["keys"].as_array().expect("keys").clone();
        assert_eq!(listed.len(), 2);
        for (jwk, key) in listed.iter().zip(&keys) {
            assert_eq!(jwk["kid"], Value::from(key.kid.as_str()));
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], Value::from(key.alg.as_str()));
            assert!(jwk.get("d").is_none(), "no private part in the JWKS");
        }
    }

    #[test]
    fn retired_key_verifies_but_does_not_sign() {
        let old = generate(Alg::ES256, 1).expect("old");
        let old_set = KeySet::from_stored(std::slice::from_ref(&old)).expect("old set");
        let token = old_set.sign(Map::new(), "JWT").expect("sign");
        let mut retired = old.clone();
        retired.retired_at = Some(5);
        let new = generate(Alg::RS256, 5).expect("new");
        let set = KeySet::from_stored(&[new.clone(), retired]).expect("set");
        assert_eq!(set.signing_kid(), new.kid);
        assert!(set.verify(&token).is_ok());
    }

    #[test]
    fn no_active_key_is_an_error() {
        let mut key = generate(Alg::ES256, 1).expect("key");
        key.retired_at = Some(2);
        assert!(KeySet::from_stored(&[key]).is_err());
    }
}
