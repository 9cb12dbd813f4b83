//! Claim tokens pushed to the UMA grant: `ClaimsVerifier::verify` against this server's own key and one trusted
//! issuer whose JWK Set is served from memory (no network). Two ways in per input:
//! - the bytes themselves as the token (the grant hands over whatever `claim_token` held), which exercises the
//!   size limit, the JWS parser, the header checks and the signature check;
//! - when the bytes are a JSON object, that object signed as an ID token by this server and by the trusted
//!   issuer, so the claim checks behind the signature (`iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `nbf`) see
//!   arbitrary values too.
//!
//! Every input must end in verified claims or a `ClaimError`, never a panic.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use uma_cedar::claims::cache::CachePolicy;
use uma_cedar::claims::fetch::{FetchError, FetchJwks};
use uma_cedar::claims::issuers::{JwksSource, TrustedIssuer};
use uma_cedar::claims::{ClaimsVerifier, ID_TOKEN_FORMAT, OwnKeys};
use uma_cedar::crypto::keys::{self, Alg, KeySet};
use uma_cedar::keyring::KeyError;

const OWN_ISSUER: &str = "https://as.example";
const TRUSTED_ISSUER: &str = "https://idp.example";
const CLIENT: &str = "photo-app";
/// The verifier's clock; the seed tokens are valid at this time.
const NOW: i64 = 1_800_000_000;

/// This server's signing keys, fixed for the run.
struct FixedKeys(Arc<KeySet>);

impl OwnKeys for FixedKeys {
    fn key_set(&self, _: i64) -> Result<Arc<KeySet>, KeyError> {
        Ok(self.0.clone())
    }
}

/// Serves the trusted issuer's JWK Set from memory, whatever the source.
struct InMemory(Vec<u8>);

impl FetchJwks for InMemory {
    fn fetch(&self, _: &JwksSource) -> Result<Vec<u8>, FetchError> {
        Ok(self.0.clone())
    }
}

struct Setup {
    verifier: ClaimsVerifier,
    own: Arc<KeySet>,
    idp: KeySet,
}

/// Built once per process: generating keys costs far more than one verification.
static SETUP: LazyLock<Option<Setup>> = LazyLock::new(|| {
    let own = Arc::new(KeySet::from_stored(&[keys::generate(Alg::ES256, NOW).ok()?]).ok()?);
    let idp = KeySet::from_stored(&[keys::generate(Alg::RS256, NOW).ok()?]).ok()?;
    let trusted = [TrustedIssuer {
        issuer: TRUSTED_ISSUER.into(),
        jwks: JwksSource::Url(url_of(TRUSTED_ISSUER)?),
    }];
    let verifier = ClaimsVerifier::new(
        OWN_ISSUER,
        Arc::new(FixedKeys(own.clone())),
        &trusted,
        Arc::new(InMemory(idp.jwks().to_string().into_bytes())),
        CachePolicy::default(),
    );
    Some(Setup { verifier, own, idp })
});

fn url_of(issuer: &str) -> Option<url::Url> {
    url::Url::parse(&format!("{issuer}/jwks")).ok()
}

fn verify(setup: &Setup, token: &str) {
    if let Ok(claims) = setup.verifier.verify(token, ID_TOKEN_FORMAT, CLIENT, NOW) {
        // What the grant relies on when verification succeeds.
        assert!(!claims.iss().is_empty() && !claims.sub().is_empty());
        assert!(setup.verifier.is_trusted(claims.iss()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(setup) = SETUP.as_ref() else {
        return;
    };
    // The grant receives the token through a form, which decodes it to text this way.
    verify(setup, &String::from_utf8_lossy(data));

    if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) {
        sign_and_verify(setup, &setup.own, claims.clone());
        sign_and_verify(setup, &setup.idp, claims);
    }
});

fn sign_and_verify(setup: &Setup, signer: &KeySet, claims: Map<String, Value>) {
    if let Ok(token) = signer.sign(claims, "JWT") {
        verify(setup, &token);
    }
}
