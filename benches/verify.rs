//! `Verifier::verify` against a bare `jsonwebtoken::decode` of the same token, same run.
//!
//! - `cold_<alg>`: every check and the signature, cache off, for HS256, RS256, ES256 and
//!   EdDSA. The baseline is what a hand-written middleware does: `decode` with a `Validation`
//!   checking the algorithm, `exp`, `iss` and `aud`, into a typed claims struct. permiso also
//!   checks structure strictly, duplicate members, `typ`, the key's algorithm binding,
//!   `nbf`/`iat`, normalizes scopes and evaluates the service-token and trust rules.
//! - `warm`: the same token again, answered by the verified-token cache.
//!
//! Run: `cargo bench --bench verify`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use permiso::testing::{SigningKey, immediately};
use permiso::{
    Algorithm, Issuer, Key, KeySet, MemoryRevocations, Revocation, ServiceTokenRule, Verifier,
    VerifierBuilder,
};
use serde::Deserialize;
use serde_json::json;

const ISS: &str = "keystone-auth";

/// The permiso claim shape, as a hand-written middleware would declare it.
#[allow(dead_code)]
#[derive(Deserialize)]
struct PermisoClaims {
    iss: String,
    aud: Vec<String>,
    sub: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    #[serde(rename = "type")]
    token_type: String,
    client_id: String,
    scopes: Vec<String>,
    is_trusted: bool,
}

fn claims() -> serde_json::Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    json!({
        "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": now + 3600,
        "iat": now, "nbf": now, "jti": "8a7c4f3e-51a4-4b5e-9d0c-1f2e3d4c5b6a", "type": "service",
        "client_id": "payment-service",
        "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
    })
}

struct Case {
    token: String,
    permiso: VerifierBuilder,
    key: jsonwebtoken::DecodingKey,
    alg: jsonwebtoken::Algorithm,
}

fn case(alg: Algorithm) -> Case {
    let jwt_alg = match alg {
        Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
        Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        _ => jsonwebtoken::Algorithm::EdDSA,
    };
    if alg == Algorithm::HS256 {
        let secret = b"0123456789abcdef0123456789abcdef";
        return Case {
            token: SigningKey::hmac(alg, secret).sign(&claims()),
            permiso: Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, secret)),
            key: jsonwebtoken::DecodingKey::from_secret(secret).unwrap(),
            alg: jwt_alg,
        };
    }
    let signer = SigningKey::generate(alg).with_kid("k1");
    let pem = signer.public_pem().unwrap();
    let key = match alg {
        Algorithm::RS256 => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_ed_pem(pem.as_bytes()),
    }
    .unwrap();
    let keys = KeySet::new([Key::from_pem(&pem).unwrap().with_kid("k1")]);
    Case {
        token: signer.sign(&claims()),
        permiso: Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, keys).service_tokens(ServiceTokenRule::permiso())),
        key,
        alg: jwt_alg,
    }
}

fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[ISS]);
    v.set_audience(&[ISS]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

fn cold(c: &mut Criterion) {
    for alg in [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
        let Case { token, permiso, key, alg: jwt_alg } = case(alg);
        let verifier = permiso.no_token_cache().build().unwrap();
        let validation = validation(jwt_alg);
        // Both must accept the token, or the comparison means nothing.
        immediately(verifier.verify(&token)).expect("permiso accepts the token");
        jsonwebtoken::decode::<PermisoClaims>(&token, &key, &validation).expect("jsonwebtoken accepts it");

        let mut group = c.benchmark_group(format!("cold_{}", alg.as_str().to_lowercase()));
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| jsonwebtoken::decode::<PermisoClaims>(black_box(&token), &key, &validation).unwrap())
        });
        group.bench_function("permiso_verify", |b| {
            b.iter(|| immediately(verifier.verify(black_box(&token))).unwrap())
        });
        group.finish();
    }
}

fn warm(c: &mut Criterion) {
    let mut group = c.benchmark_group("warm");
    for alg in [Algorithm::HS256, Algorithm::RS256] {
        let Case { token, permiso, .. } = case(alg);
        let verifier = permiso.build().unwrap();
        immediately(verifier.verify(&token)).unwrap();
        group.bench_function(format!("permiso_cache_hit_{}", alg.as_str().to_lowercase()), |b| {
            b.iter(|| immediately(verifier.verify(black_box(&token))).unwrap())
        });
        // (A hit of its own, so the check holds when a filter skipped the bench.)
        immediately(verifier.verify(&token)).unwrap();
        assert!(verifier.cache_stats().unwrap().hits > 0);
    }
    group.finish();
}

/// The revocation check answered from its local entry (the common case: a token reused within
/// `max_staleness`), as the difference between two cache hits measured in the same run.
fn revocation(c: &mut Criterion) {
    let Case { token, permiso, .. } = case(Algorithm::HS256);
    let Case { permiso: with_revocation, .. } = case(Algorithm::HS256);
    let plain = permiso.build().unwrap();
    // A long staleness: every check after the first is answered locally.
    let checked = with_revocation
        .revocation(Revocation::new(MemoryRevocations::new()).max_staleness(Duration::from_secs(3600)))
        .build()
        .unwrap();
    immediately(plain.verify(&token)).unwrap();
    immediately(checked.verify(&token)).unwrap();
    let mut group = c.benchmark_group("revocation");
    group.bench_function("cache_hit", |b| b.iter(|| immediately(plain.verify(black_box(&token))).unwrap()));
    group.bench_function("cache_hit_and_local_revocation_check", |b| {
        b.iter(|| immediately(checked.verify(black_box(&token))).unwrap())
    });
    group.finish();
    let stats = checked.revocation_stats().unwrap();
    assert_eq!(stats.lookups, 1, "every check but the first was local: {stats:?}");
}

criterion_group!(benches, cold, warm, revocation);
criterion_main!(benches);
