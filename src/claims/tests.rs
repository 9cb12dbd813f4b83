//! Tests of claim token verification end to end: keys made here, an "issuer" serving its JWKS from a file or
//! from a loopback HTTP server, and a manual clock.

use std::sync::Arc;

use serde_json::{Value, json};

use super::testing::JwksServer;
use super::*;
use crate::clock::{Clock, ManualClock};
use crate::crypto::jwks::SigAlg;
use crate::crypto::jwks::testing::{TestKey, hmac_signed, jwks_of, unsigned};
use crate::crypto::keys::{self, Alg};
use issuers::JwksSource;

const OWN: &str = "https://as.example";
const IDP: &str = "https://idp.example";
const FILE_IDP: &str = "https://files.example";
const CLIENT: &str = "photo-app";
const START: UnixTime = 1_800_000_000;

/// This server's keys, fixed for the test.
struct FixedKeys(Arc<KeySet>);

impl OwnKeys for FixedKeys {
    fn key_set(&self, _: UnixTime) -> Result<Arc<KeySet>, KeyError> {
        Ok(self.0.clone())
    }
}

/// A verifier trusting `IDP` (served over loopback HTTP) and `FILE_IDP` (a JWKS file), plus its own keys.
struct Setup {
    verifier: ClaimsVerifier,
    own: Arc<KeySet>,
    idp: TestKey,
    server: JwksServer,
    file_key: TestKey,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self::with_idp_key(TestKey::new(SigAlg::RS256, "idp-1"))
    }

    fn with_idp_key(idp: TestKey) -> Self {
        let own = Arc::new(
            KeySet::from_stored(&[keys::generate(Alg::ES256, START).expect("own key")])
                .expect("own set"),
        );
        let server = JwksServer::start(jwks_of(&[&idp]).to_string().into_bytes());
        let dir = tempfile::tempdir().expect("dir");
        let file_key = TestKey::new(SigAlg::ES256, "file-1");
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks_of(&[&file_key]).to_string()).expect("write jwks");
        let trusted = vec![
            TrustedIssuer {
                issuer: IDP.into(),
                jwks: JwksSource::Url(url::Url::parse(&server.url()).expect("url")),
            },
            TrustedIssuer {
                issuer: FILE_IDP.into(),
                jwks: JwksSource::File(path),
            },
        ];
        let verifier = ClaimsVerifier::new(
            OWN,
            Arc::new(FixedKeys(own.clone())),
            &trusted,
            Arc::new(Fetcher::default()),
            CachePolicy::default(),
        );
        Self {
            verifier,
            own,
            idp,
            server,
            file_key,
            clock: ManualClock::new(START),
            _dir: dir,
        }
    }

    fn verify(&self, token: &str) -> Result<VerifiedClaims, ClaimError> {
        self.verifier
            .verify(token, ID_TOKEN_FORMAT, CLIENT, self.clock.now())
    }

    /// ID token claims as an issuer would mint them now for `CLIENT`.
    fn claims(&self, iss: &str) -> Value {
        let now = self.clock.now();
        json!({
            "iss": iss, "sub": "bob", "aud": CLIENT, "iat": now, "exp": now + 300,
            "email": "bob@example.com", "email_verified": true,
        })
    }

    fn own_token(&self, claims: &Value) -> String {
        let map = claims.as_object().cloned().expect("object");
        self.own.sign(map, "JWT").expect("sign")
    }
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    if let Some(map) = claims.as_object_mut() {
        map.remove(name);
    }
    claims
}

#[test]
fn an_id_token_of_this_server_is_accepted_without_any_fetch() {
    let s = Setup::new();
    let verified = s.verify(&s.own_token(&s.claims(OWN))).expect("valid");
    assert_eq!(verified.iss(), OWN);
    assert_eq!(verified.sub(), "bob");
    assert!(verified.issued_by_this_server());
    assert_eq!(verified.get("email"), Some(&Value::from("bob@example.com")));
    assert_eq!(s.server.requests(), 0);
}

#[test]
fn a_trusted_issuers_token_is_accepted_with_keys_from_http() {
    let s = Setup::new();
    let verified = s.verify(&s.idp.sign(&s.claims(IDP))).expect("valid");
    assert_eq!(verified.iss(), IDP);
    assert!(!verified.issued_by_this_server());
    assert_eq!(
        verified.claims().get("email_verified"),
        Some(&Value::Bool(true))
    );
    assert_eq!(s.server.requests(), 1);
    s.verify(&s.idp.sign(&s.claims(IDP))).expect("valid again");
    assert_eq!(s.server.requests(), 1, "keys are cached");
}

#[test]
fn a_trusted_issuers_token_is_accepted_with_keys_from_a_file() {
    let s = Setup::new();
    let verified = s
        .verify(&s.file_key.sign(&s.claims(FILE_IDP)))
        .expect("valid");
    assert_eq!(verified.iss(), FILE_IDP);
}

#[test]
fn es256_and_rs256_issuers_both_verify() {
    for alg in [SigAlg::ES256, SigAlg::RS256] {
        let s = Setup::with_idp_key(TestKey::new(alg, "k"));
        s.verify(&s.idp.sign(&s.claims(IDP)))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn expiry_is_checked_with_the_clock_and_a_small_leeway() {
    let s = Setup::new();
    let token = s.idp.sign(&s.claims(IDP));
    let own = s.own_token(&s.claims(OWN));
    s.clock.advance(300 + LEEWAY_SECONDS - 1);
    assert!(s.verify(&token).is_ok(), "inside the leeway");
    assert!(s.verify(&own).is_ok(), "inside the leeway");
    s.clock.advance(1);
    assert_eq!(s.verify(&token).unwrap_err(), ClaimError::Expired);
    assert_eq!(s.verify(&own).unwrap_err(), ClaimError::Expired);
}

#[test]
fn iat_and_nbf_in_the_future_are_refused() {
    let s = Setup::new();
    let later = s.clock.now() + LEEWAY_SECONDS + 1;
    let claims = with(s.claims(IDP), "iat", later.into());
    assert_eq!(
        s.verify(&s.idp.sign(&claims)).unwrap_err(),
        ClaimError::IssuedInFuture
    );
    let claims = with(s.claims(IDP), "nbf", later.into());
    assert_eq!(
        s.verify(&s.idp.sign(&claims)).unwrap_err(),
        ClaimError::NotYetValid
    );
    let soon = s.clock.now() + LEEWAY_SECONDS;
    let claims = with(with(s.claims(IDP), "nbf", soon.into()), "iat", soon.into());
    assert!(s.verify(&s.idp.sign(&claims)).is_ok(), "within the leeway");
}

#[test]
fn the_audience_must_name_the_presenting_client() {
    let s = Setup::new();
    let other = with(s.claims(IDP), "aud", "other-app".into());
    assert_eq!(
        s.verify(&s.idp.sign(&other)).unwrap_err(),
        ClaimError::WrongAudience(CLIENT.into())
    );
    let own_other = with(s.claims(OWN), "aud", json!(["other-app", "third"]));
    assert_eq!(
        s.verify(&s.own_token(&own_other)).unwrap_err(),
        ClaimError::WrongAudience(CLIENT.into())
    );
    let listed = with(s.claims(IDP), "aud", json!(["other-app", CLIENT]));
    assert!(s.verify(&s.idp.sign(&listed)).is_ok());
    // The same token pushed by the client it was minted for, and by another one.
    let token = s.idp.sign(&s.claims(IDP));
    assert!(
        s.verifier
            .verify(&token, ID_TOKEN_FORMAT, "other-app", s.clock.now())
            .is_err()
    );
    let no_aud = without(s.claims(IDP), "aud");
    assert!(matches!(
        s.verify(&s.idp.sign(&no_aud)),
        Err(ClaimError::Malformed(_))
    ));
}

#[test]
fn azp_when_present_must_be_the_presenting_client() {
    let s = Setup::new();
    let both = with(s.claims(IDP), "aud", json!([CLIENT, "other-app"]));
    let theirs = with(both.clone(), "azp", "other-app".into());
    assert_eq!(
        s.verify(&s.idp.sign(&theirs)).unwrap_err(),
        ClaimError::AuthorizedPartyMismatch
    );
    let ours = with(both, "azp", CLIENT.into());
    assert!(s.verify(&s.idp.sign(&ours)).is_ok());
}

#[test]
fn an_untrusted_issuer_is_refused_before_any_fetch() {
    let s = Setup::new();
    let token = s.idp.sign(&s.claims("https://evil.example"));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        ClaimError::UntrustedIssuer("https://evil.example".into())
    );
    // Trailing slashes and case count: `iss` matches the configured issuer exactly or not at all.
    let token = s.idp.sign(&s.claims("https://idp.example/"));
    assert!(matches!(
        s.verify(&token),
        Err(ClaimError::UntrustedIssuer(_))
    ));
    assert_eq!(s.server.requests(), 0);
}

#[test]
fn a_tampered_payload_is_refused() {
    let s = Setup::new();
    for token in [s.idp.sign(&s.claims(IDP)), s.own_token(&s.claims(OWN))] {
        let parts: Vec<&str> = token.split('.').collect();
        let iss = s.verify(&token).expect("valid").iss().to_owned();
        let forged = crate::crypto::base64url(
            with(s.claims(&iss), "sub", "alice".into())
                .to_string()
                .as_bytes(),
        );
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(s.verify(&tampered).unwrap_err(), ClaimError::BadSignature);
    }
}

#[test]
fn alg_none_and_hmac_are_refused() {
    let s = Setup::new();
    for iss in [OWN, IDP] {
        assert_eq!(
            s.verify(&unsigned(&s.claims(iss))).unwrap_err(),
            ClaimError::UnsupportedAlgorithm("none".into())
        );
    }
    // HS256 keyed with the issuer's published RSA modulus: the public key must never act as a secret.
    let secret = s.idp.public_jwk()["n"]
        .as_str()
        .expect("n")
        .as_bytes()
        .to_vec();
    let token = hmac_signed(&s.claims(IDP), &s.idp.kid, &secret);
    assert_eq!(
        s.verify(&token).unwrap_err(),
        ClaimError::UnsupportedAlgorithm("HS256".into())
    );
    assert_eq!(s.server.requests(), 0, "refused before any key is fetched");
}

#[test]
fn a_token_signed_by_one_issuer_cannot_claim_another() {
    let s = Setup::new();
    // Signed by the trusted IdP, claiming to be this server.
    let token = s.idp.sign(&s.claims(OWN));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        ClaimError::UnknownKey(OWN.into())
    );
    // Signed by the file issuer's key, claiming the HTTP issuer (whose keys lack that kid).
    let token = s.file_key.sign(&s.claims(IDP));
    assert_eq!(
        s.verify(&token).unwrap_err(),
        ClaimError::UnknownKey(IDP.into())
    );
    // The same kid as the IdP's key but another key: the signature does not verify.
    let impostor = TestKey::new(SigAlg::RS256, &s.idp.kid);
    assert_eq!(
        s.verify(&impostor.sign(&s.claims(IDP))).unwrap_err(),
        ClaimError::BadSignature
    );
}

#[test]
fn an_unknown_kid_triggers_one_refresh_and_then_the_rotated_key_verifies() {
    let s = Setup::new();
    s.verify(&s.idp.sign(&s.claims(IDP))).expect("first key");
    assert_eq!(s.server.requests(), 1);

    // The issuer rotates: it now publishes the old and a new key, and signs with the new one.
    let rotated = TestKey::new(SigAlg::ES256, "idp-2");
    s.server
        .set_body(jwks_of(&[&s.idp, &rotated]).to_string().into_bytes());
    s.clock.advance(CachePolicy::default().min_refresh_interval);
    let verified = s
        .verify(&rotated.sign(&s.claims(IDP)))
        .expect("rotated key");
    assert_eq!(verified.sub(), "bob");
    assert_eq!(s.server.requests(), 2, "exactly one refresh");
    s.verify(&rotated.sign(&s.claims(IDP))).expect("again");
    s.verify(&s.idp.sign(&s.claims(IDP)))
        .expect("old key still published");
    assert_eq!(s.server.requests(), 2, "no refresh for known keys");
}

#[test]
fn refreshes_are_rate_limited_per_issuer() {
    let s = Setup::new();
    s.verify(&s.idp.sign(&s.claims(IDP))).expect("first key");
    for i in 0..10 {
        let bogus = TestKey::new(SigAlg::RS256, &format!("bogus-{i}"));
        assert_eq!(
            s.verify(&bogus.sign(&s.claims(IDP))).unwrap_err(),
            ClaimError::UnknownKey(IDP.into())
        );
    }
    assert_eq!(s.server.requests(), 1, "no refresh inside the interval");
    s.clock.advance(CachePolicy::default().min_refresh_interval);
    for i in 0..10 {
        let bogus = TestKey::new(SigAlg::RS256, &format!("late-{i}"));
        assert!(s.verify(&bogus.sign(&s.claims(IDP))).is_err());
    }
    assert_eq!(
        s.server.requests(),
        2,
        "one refresh once the interval passed"
    );
}

#[test]
fn an_oversize_or_malformed_jwks_leaves_the_issuer_unavailable() {
    let oversize = vec![b' '; usize::try_from(fetch::DEFAULT_MAX_BYTES).expect("size") + 1];
    for body in [
        oversize,
        b"{\"keys\": \"nope\"}".to_vec(),
        b"<html/>".to_vec(),
    ] {
        let s = Setup::new();
        s.server.set_body(body);
        assert_eq!(
            s.verify(&s.idp.sign(&s.claims(IDP))).unwrap_err(),
            ClaimError::KeysUnavailable(IDP.into())
        );
        assert_eq!(s.server.requests(), 1);
    }
}

#[test]
fn only_the_id_token_format_is_accepted() {
    let s = Setup::new();
    let token = s.own_token(&s.claims(OWN));
    for format in ["urn:ietf:params:oauth:token-type:jwt", "", "idtoken"] {
        assert!(matches!(
            s.verifier.verify(&token, format, CLIENT, s.clock.now()),
            Err(ClaimError::UnsupportedFormat(_))
        ));
    }
}

#[test]
fn tokens_of_other_types_are_not_id_tokens() {
    let s = Setup::new();
    let access = s.idp.sign_with_header(&s.claims(IDP), |h| {
        h.set_key_id(&s.idp.kid);
        h.set_token_type("at+jwt");
    });
    assert!(matches!(
        s.verify(&access),
        Err(ClaimError::NotAnIdToken(reason)) if reason.contains("at+jwt")
    ));
    let logout = with(
        s.claims(IDP),
        "events",
        json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
    );
    assert!(matches!(
        s.verify(&s.idp.sign(&logout)),
        Err(ClaimError::NotAnIdToken(_))
    ));
    let untyped = s.idp.sign_with_header(&s.claims(IDP), |h| {
        h.set_key_id(&s.idp.kid);
        h.set_token_type("JWT");
    });
    assert!(s.verify(&untyped).is_ok());
}

#[test]
fn required_claims_must_be_present() {
    let s = Setup::new();
    for missing in ["sub", "exp", "iat", "iss"] {
        let token = s.own_token(&without(s.claims(OWN), missing));
        assert!(
            matches!(s.verify(&token), Err(ClaimError::Malformed(ref m)) if m.contains(missing)),
            "{missing}"
        );
    }
    assert!(matches!(
        s.verify("not-a-token"),
        Err(ClaimError::Malformed(_))
    ));
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert!(matches!(s.verify(&huge), Err(ClaimError::Malformed(_))));
}

#[test]
fn error_descriptions_quote_request_values_safely() {
    let s = Setup::new();
    let hostile = format!("https://evil.example/\"\\`\u{7}{}", "x".repeat(200));
    let token = s.idp.sign(&s.claims(&hostile));
    let text = s.verify(&token).unwrap_err().to_string();
    assert!(!text.contains('"') && !text.contains('\\') && !text.contains('\u{7}'));
    assert!(text.len() < 200, "{text}");
    assert!(text.starts_with("the claim token's issuer `https://evil.example/"));
}

#[test]
fn the_verifier_lists_the_issuers_it_trusts() {
    let s = Setup::new();
    assert_eq!(
        s.verifier.issuers().collect::<Vec<_>>(),
        [OWN, IDP, FILE_IDP]
    );
    assert!(s.verifier.is_trusted(OWN) && s.verifier.is_trusted(FILE_IDP));
    assert!(!s.verifier.is_trusted("https://evil.example"));
}

#[test]
fn a_broken_local_jwks_file_is_reported_at_startup() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, "{\"keys\": []}").expect("write");
    let own = Arc::new(
        KeySet::from_stored(&[keys::generate(Alg::ES256, START).expect("key")]).expect("set"),
    );
    let verifier = ClaimsVerifier::new(
        OWN,
        Arc::new(FixedKeys(own)),
        &[TrustedIssuer {
            issuer: FILE_IDP.into(),
            jwks: JwksSource::File(path.clone()),
        }],
        Arc::new(Fetcher::default()),
        CachePolicy::default(),
    );
    let err = verifier.load_local_keys(START).expect_err("no usable key");
    assert_eq!(err.issuer, FILE_IDP);
    let text = err.to_string();
    assert!(
        text.contains("`trusted_issuers`") && text.contains("no usable"),
        "{text}"
    );

    let key = TestKey::new(SigAlg::ES256, "k");
    std::fs::write(&path, jwks_of(&[&key]).to_string()).expect("write");
    verifier.load_local_keys(START).expect("valid file");
}

#[test]
fn the_app_state_verifies_the_servers_own_id_tokens_and_checks_files_at_startup() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(START));
    let mut settings = Settings::for_data_dir(&dir.path().join("data"));
    settings.issuer = OWN.into();
    let state = crate::app::open(settings.clone(), clock.clone()).expect("open");
    let keys = state.keys.current(START).expect("keys");
    let token = keys
        .sign(
            json!({"iss": OWN, "sub": "alice", "aud": CLIENT, "iat": START, "exp": START + 60})
                .as_object()
                .cloned()
                .expect("object"),
            "JWT",
        )
        .expect("sign");
    let verified = state
        .claims
        .verify(&token, ID_TOKEN_FORMAT, CLIENT, START)
        .expect("own token");
    assert_eq!(verified.sub(), "alice");

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "not json").expect("write");
    settings.trusted_issuers = vec![crate::config::TrustedIssuerEntry {
        issuer: IDP.into(),
        jwks_uri: broken.display().to_string(),
        ..Default::default()
    }];
    match crate::app::open(settings, clock) {
        Ok(_) => panic!("a broken JWKS file must stop the server"),
        Err(err) => assert!(err.to_string().contains(IDP), "{err}"),
    }
}

/// Upstream sign-in checks the provider's ID token with this same verification, then that it comes from the
/// provider the party went to and carries the sign-in's `nonce`.
#[test]
fn an_upstream_id_token_must_be_the_providers_signed_for_us_and_carry_the_nonce() {
    use upstream::{Upstream, UpstreamError, providers};
    let s = Setup::new();
    let entry = |issuer: &str| crate::config::TrustedIssuerEntry {
        issuer: issuer.into(),
        jwks_uri: "unused here".into(),
        client_id: Some(CLIENT.into()),
        client_secret: Some(crate::secret::ClientSecret::new("secret")),
        scopes: None,
    };
    let up = Upstream::new(
        providers(&[entry(IDP), entry(FILE_IDP)]).expect("providers"),
        Arc::new(Fetcher::default()),
    );
    let idp = up.provider(IDP).expect("provider");
    let now = s.clock.now();
    let with_nonce = |iss: &str| with(s.claims(iss), "nonce", json!("n-1"));

    let good = s.idp.sign(&with_nonce(IDP));
    let claims = up
        .verify(&s.verifier, idp, &good, "n-1", now)
        .expect("valid");
    assert_eq!(claims.get("email"), Some(&json!("bob@example.com")));
    assert_eq!(claims.get("iss"), Some(&json!(IDP)));
    assert!(!claims.contains_key("nonce") && !claims.contains_key("aud"));

    assert_eq!(
        up.verify(&s.verifier, idp, &good, "n-2", now),
        Err(UpstreamError::NonceMismatch)
    );
    let no_nonce = s.idp.sign(&s.claims(IDP));
    assert_eq!(
        up.verify(&s.verifier, idp, &no_nonce, "n-1", now),
        Err(UpstreamError::NonceMismatch)
    );
    // A good token of another trusted issuer is no sign-in at this provider.
    let elsewhere = s.file_key.sign(&with_nonce(FILE_IDP));
    assert_eq!(
        up.verify(&s.verifier, idp, &elsewhere, "n-1", now),
        Err(UpstreamError::IssuerMismatch)
    );
    let impostor = TestKey::new(SigAlg::RS256, &s.idp.kid);
    assert_eq!(
        up.verify(
            &s.verifier,
            idp,
            &impostor.sign(&with_nonce(IDP)),
            "n-1",
            now
        ),
        Err(UpstreamError::IdToken(ClaimError::BadSignature))
    );
    let for_another = with(with_nonce(IDP), "aud", json!("another-client"));
    assert_eq!(
        up.verify(&s.verifier, idp, &s.idp.sign(&for_another), "n-1", now),
        Err(UpstreamError::IdToken(ClaimError::WrongAudience(
            CLIENT.into()
        )))
    );
    assert_eq!(
        up.verify(&s.verifier, idp, &good, "n-1", now + 300 + LEEWAY_SECONDS),
        Err(UpstreamError::IdToken(ClaimError::Expired))
    );
}
