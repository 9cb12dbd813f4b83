//! Criterion benchmarks of the request paths a busy resource server hits: checking a PAT, issuing a PAT by
//! client credentials, and signing a JWT (through josekit, as the server does, and through openssl alone).
//! Run with `cargo bench --bench hot_paths`; figures are in `BENCHMARKS.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test and benchmark code stops at the first surprise"
)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use openssl::pkey::{PKey, Private};
use serde_json::{Map, Value};
use uma_cedar::clock::SystemClock;
use uma_cedar::config::Settings;
use uma_cedar::crypto;
use uma_cedar::crypto::keys::{self, Alg, KeySet};
use uma_cedar::http::AppState;
use uma_cedar::http::bearer::check_pat;
use uma_cedar::issue::issue_tokens;
use uma_cedar::oauth::registration::NewClient;
use uma_cedar::store::clients;
use uma_cedar::store::tokens::{NewGrant, SubjectKind, create_grant};

fn setup() -> (tempfile::TempDir, AppState) {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_data_dir(&dir.path().join("data"));
    let state = uma_cedar::app::open(settings, Arc::new(SystemClock)).expect("open");
    let client = NewClient {
        client_id: "rs".into(),
        secret: Some("bench-secret-0123456789".into()),
        ..Default::default()
    }
    .build(0)
    .expect("client");
    state
        .store
        .write(|tx| clients::insert(tx, &client))
        .expect("insert");
    (dir, state)
}

fn issue_pat(state: &AppState) -> String {
    let now = state.now();
    state
        .store
        .write(|tx| {
            let grant = NewGrant {
                client_id: "rs",
                subject: "rs",
                subject_kind: SubjectKind::Client,
                scope: "uma_protection",
                auth_time: None,
                nonce: None,
            };
            let id = create_grant(tx, &grant, now)?;
            issue_tokens(tx, &state.settings, id, "uma_protection", false, now)
        })
        .expect("issue")
        .access_token
}

fn benches(c: &mut Criterion) {
    let (_dir, state) = setup();
    let pat = issue_pat(&state);

    c.bench_function("hash_secret", |b| b.iter(|| crypto::hash_secret(&pat)));
    c.bench_function("check_pat (store lookup)", |b| {
        b.iter(|| check_pat(&state, &pat).expect("valid PAT"))
    });
    c.bench_function("issue_pat (grant + token, one transaction)", |b| {
        b.iter(|| issue_pat(&state))
    });
    let keys = state.key_set().expect("keys");
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from("http://127.0.0.1:8080"));
    claims.insert("sub".into(), Value::from("alice"));
    claims.insert("aud".into(), Value::from("client"));
    claims.insert("exp".into(), Value::from(2_000_000_000));
    c.bench_function("sign ES256 JWT", |b| {
        b.iter(|| keys.sign(claims.clone(), "JWT").expect("sign"))
    });
    let token = keys.sign(claims.clone(), "JWT").expect("sign");
    c.bench_function("verify ES256 JWT", |b| {
        b.iter(|| keys.verify(&token).expect("verify"))
    });

    // The same signature with one key, through josekit (as the server signs) and through openssl alone: what
    // josekit adds around the ECDSA signature itself.
    let stored = keys::generate(Alg::ES256, 0).expect("key");
    let set = KeySet::from_stored(std::slice::from_ref(&stored)).expect("key set");
    let pkey = PKey::private_key_from_pem(stored.private_pem.as_bytes()).expect("PEM");
    let direct = sign_es256_openssl(&pkey, &stored.kid, &claims);
    assert_eq!(
        set.verify(&direct).expect("the openssl JWT verifies"),
        claims,
        "both make the same JWT but for the signature"
    );
    c.bench_function("sign ES256 JWT: josekit", |b| {
        b.iter(|| set.sign(claims.clone(), "JWT").expect("sign"))
    });
    c.bench_function("sign ES256 JWT: openssl alone", |b| {
        b.iter(|| sign_es256_openssl(&pkey, &stored.kid, &claims))
    });
}

/// The ES256 JWT signature made with openssl directly, without josekit: the same header and claims, serialised
/// with serde_json, base64url, an ECDSA P-256 signature over the SHA-256 of the signing input, and its (r, s)
/// as two 32-byte big-endian numbers (RFC 7518 §3.4). Only here to tell what josekit costs around the signature.
fn sign_es256_openssl(key: &PKey<Private>, kid: &str, claims: &Map<String, Value>) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
    let mut input = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header"));
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims")));
    let digest = openssl::sha::sha256(input.as_bytes());
    let ec = key.ec_key().expect("EC key");
    let sig = openssl::ecdsa::EcdsaSig::sign(&digest, &ec).expect("sign");
    let mut raw = [0u8; 64];
    let r = sig.r().to_vec_padded(32).expect("r");
    let s = sig.s().to_vec_padded(32).expect("s");
    raw[..32].copy_from_slice(&r);
    raw[32..].copy_from_slice(&s);
    input.push('.');
    input.push_str(&URL_SAFE_NO_PAD.encode(raw));
    input
}

criterion_group!(hot_paths, benches);
criterion_main!(hot_paths);
