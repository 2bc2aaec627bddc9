//! The verified-token cache: hits are cheap but never outlive the token, its key, or its
//! validity; invalid tokens never take memory.

use std::sync::Arc;
use std::time::Duration;

use permiso::testing::{SigningKey, TestIssuer};
use permiso::{Algorithm, AuthErrorKind, Clock, Issuer, ManualClock, TokenCacheLimits, Verifier};
use serde_json::json;

const AUD: &str = "keystone-auth";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn hmac_verifier(clock: &ManualClock) -> Verifier {
    Verifier::builder([AUD])
        .issuer(Issuer::permiso("keystone-auth", SECRET))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn claims_at(now: u64, lifetime: u64) -> serde_json::Value {
    json!({
        "iss": "keystone-auth", "aud": [AUD], "sub": "svc", "client_id": "svc", "type": "service",
        "exp": now + lifetime, "iat": now, "nbf": now, "scopes": ["read:x"],
    })
}

#[tokio::test]
async fn a_second_verification_is_a_hit_returning_the_same_claims() {
    let clock = ManualClock::now();
    let v = hmac_verifier(&clock);
    let token = SigningKey::hmac(Algorithm::HS256, SECRET).sign(&claims_at(clock.now_unix(), 600));
    let a = v.verify(&token).await.unwrap();
    let b = v.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let stats = v.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));

    let off = Verifier::builder([AUD])
        .issuer(Issuer::permiso("keystone-auth", SECRET))
        .clock(clock.clone())
        .no_token_cache()
        .build()
        .unwrap();
    off.verify(&token).await.unwrap();
    assert!(off.cache_stats().is_none());
}

#[tokio::test]
async fn a_cached_token_is_rejected_after_its_exp() {
    let clock = ManualClock::now();
    let v = hmac_verifier(&clock);
    let token = SigningKey::hmac(Algorithm::HS256, SECRET).sign(&claims_at(clock.now_unix(), 120));
    v.verify(&token).await.unwrap();
    v.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(120 + 60)); // past exp and the 60 s leeway
    let e = v.verify(&token).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::Expired);
    assert_eq!(v.cache_stats().unwrap().entries, 0, "the stale entry is dropped");
}

#[tokio::test]
async fn a_cached_token_is_rejected_once_its_key_is_retired() {
    let idp = TestIssuer::start().await;
    let clock = ManualClock::now();
    let v = Verifier::builder([AUD]).issuer(idp.issuer_config()).clock(clock.clone()).build().unwrap();
    let old = idp.token("svc", &["read:x"]);
    v.verify(&old).await.unwrap();
    v.verify(&old).await.unwrap();
    assert_eq!(v.cache_stats().unwrap().hits, 1);

    // A rotation that keeps the old key published keeps the cached entry valid.
    idp.rotate(Algorithm::ES256);
    v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
    v.verify(&old).await.unwrap();
    assert_eq!(v.cache_stats().unwrap().hits, 2, "unchanged keys survive a refetch");

    // Retired at the issuer: the verifier learns it at its next refresh, due once the key
    // set's 10-minute lifetime is over. Until then the (stale) set still holds the key.
    idp.retire("key-1");
    clock.advance(Duration::from_secs(601));
    v.verify(&old).await.unwrap();
    for _ in 0..500 {
        if idp.jwks_fetches() >= 3 && v.is_ready() && v.key_stats(&idp.issuer()).unwrap().stale_uses > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(idp.jwks_fetches(), 3, "the hit on a stale set refreshed it");
    let e = v.verify(&old).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::UnknownKey);
    assert_eq!(v.cache_stats().unwrap().entries, 1, "only the ES256 token is left");
}

#[tokio::test]
async fn a_hundred_thousand_invalid_tokens_leave_the_cache_empty() {
    let clock = ManualClock::now();
    let v = hmac_verifier(&clock);
    let now = clock.now_unix();
    let stranger = SigningKey::hmac(Algorithm::HS256, b"not-the-secret-not-the-secret-!!");
    let good = SigningKey::hmac(Algorithm::HS256, SECRET);
    for i in 0..100_000u64 {
        let token = match i % 4 {
            0 => stranger.sign(&claims_at(now + i, 600)),
            1 => good.sign(&claims_at(now - 10_000 - i, 600)), // expired
            2 => {
                let mut c = claims_at(now, 600 + i);
                c["aud"] = json!(["elsewhere"]);
                good.sign(&c)
            }
            _ => format!("{}x", good.sign(&claims_at(now, 600 + i))), // signature altered
        };
        assert!(v.verify(&token).await.is_err());
    }
    let stats = v.cache_stats().unwrap();
    assert_eq!((stats.entries, stats.bytes, stats.hits), (0, 0, 0));
    assert_eq!(stats.misses, 100_000);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let clock = ManualClock::now();
    let v = Verifier::builder([AUD])
        .issuer(Issuer::permiso("keystone-auth", SECRET))
        .clock(clock.clone())
        .token_cache(TokenCacheLimits { max_entries: 160, max_bytes: 1024 * 1024 })
        .build()
        .unwrap();
    let key = SigningKey::hmac(Algorithm::HS256, SECRET);
    for i in 0..2_000 {
        v.verify(&key.sign(&claims_at(clock.now_unix(), 600 + i))).await.unwrap();
    }
    let stats = v.cache_stats().unwrap();
    assert!(stats.entries <= 160 && stats.entries > 0, "{stats:?}");
}
