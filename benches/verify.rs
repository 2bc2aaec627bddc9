//! `Verifier::verify` against a bare `jsonwebtoken::decode` of the same token, same run.
//!
//! The baseline is what a hand-written middleware does: decode with a `Validation` that checks
//! the algorithm, `exp`, `iss` and `aud`, into a typed claims struct. permiso additionally
//! checks structure strictly, duplicate members, `typ`, the key's algorithm binding,
//! `nbf`/`iat`, normalizes scopes and evaluates the service-token and trust rules.
//!
//! Run: `cargo bench --bench verify`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use permiso::testing::SigningKey;
use permiso::{Algorithm, Issuer, Key, KeySet, ServiceTokenRule, Verifier};
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

/// Polls a future that never waits (static keys) to completion.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
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

fn validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[ISS]);
    v.set_audience(&[ISS]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    v
}

fn bench_pair(
    c: &mut Criterion,
    name: &str,
    token: &str,
    verifier: &Verifier,
    key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) {
    // Both must accept the token, or the comparison means nothing.
    now(verifier.verify(token)).expect("permiso accepts the token");
    jsonwebtoken::decode::<PermisoClaims>(token, key, validation).expect("jsonwebtoken accepts");

    let mut group = c.benchmark_group(name);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<PermisoClaims>(black_box(token), key, validation).unwrap())
    });
    group.bench_function("permiso_verify", |b| b.iter(|| now(verifier.verify(black_box(token))).unwrap()));
    group.finish();
}

fn hs256(c: &mut Criterion) {
    let secret = b"0123456789abcdef0123456789abcdef";
    let token = SigningKey::hmac(Algorithm::HS256, secret).sign(&claims());
    let verifier = Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, secret)).build().unwrap();
    let key = jsonwebtoken::DecodingKey::from_secret(secret).unwrap();
    bench_pair(c, "verify_hs256", &token, &verifier, &key, &validation(jsonwebtoken::Algorithm::HS256));
}

fn rs256(c: &mut Criterion) {
    let signer = SigningKey::generate(Algorithm::RS256).with_kid("rsa-1");
    let token = signer.sign(&claims());
    let pem = signer.public_pem().unwrap();
    let verifier = Verifier::builder([ISS])
        .issuer(
            Issuer::keys(ISS, KeySet::new([Key::from_pem(&pem).unwrap().with_kid("rsa-1")]))
                .service_tokens(ServiceTokenRule::permiso()),
        )
        .build()
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    bench_pair(c, "verify_rs256", &token, &verifier, &key, &validation(jsonwebtoken::Algorithm::RS256));
}

criterion_group!(benches, hs256, rs256);
criterion_main!(benches);
