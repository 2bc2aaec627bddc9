//! Remote keys over real loopback HTTP: a `TestIssuer` serves the JWKS, the verifier fetches
//! it with reqwest. Every test asserts how many fetches the issuer saw.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use permiso::testing::{Fault, SigningKey, TestIssuer};
use permiso::{Algorithm, AuthErrorKind, Issuer, KeyFetchError, ManualClock, RemoteKeys, Verifier};

const AUD: &str = "keystone-auth";

fn verifier_for(idp: &TestIssuer, keys: RemoteKeys, clock: &ManualClock) -> Verifier {
    Verifier::builder([AUD]).issuer(Issuer::remote(idp.issuer(), keys)).clock(clock.clone()).build().unwrap()
}

fn now_clock() -> ManualClock {
    ManualClock::now()
}

/// A token from the active key, but naming another `kid`.
fn token_with_kid(idp: &TestIssuer, kid: &str) -> String {
    let key = idp.active_key();
    let mut header = key.header("JWT");
    header["kid"] = serde_json::json!(kid);
    key.sign_with_header(&header, &idp.claims_for("svc", &["read:x"]))
}

#[tokio::test]
async fn start_up_does_not_touch_the_network() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    assert!(!v.is_ready());
    assert_eq!(idp.jwks_fetches(), 0);
    v.warm_up().await.unwrap();
    assert!(v.is_ready());
    assert_eq!(idp.jwks_fetches(), 1);
    // Warm keys serve every later request without fetching.
    for _ in 0..20 {
        v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    }
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(v.key_stats(&idp.issuer()).unwrap().refreshes, 1);
}

#[tokio::test]
async fn rotation_is_picked_up_on_the_first_request_with_the_new_kid() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    let old = idp.token("svc", &["read:x"]);
    v.verify(&old).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);

    let new_kid = idp.rotate(Algorithm::ES256);
    let new = idp.token("svc", &["read:x"]);
    assert!(new_kid != "key-1");
    v.verify(&new).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2, "one refetch for the new kid");
    // The old key is still published: old tokens keep working, no more fetches.
    v.verify(&old).await.unwrap();
    v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_on_a_cold_cache_cause_one_fetch() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    let token = Arc::new(idp.token("svc", &["read:x"]));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (v, token) = (v.clone(), Arc::clone(&token));
        tasks.spawn(async move { v.verify(&token).await.map(|_| ()) });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 1000);
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_cost_at_most_one_fetch_per_cooldown() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    v.warm_up().await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);

    // One signed token reused with 10,000 different kids (re-signing each would only slow
    // the test: the kid is looked up before the signature is checked).
    let signed = idp.token("svc", &["read:x"]);
    let (_, rest) = signed.split_once('.').unwrap();
    let rest: Arc<str> = rest.into();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..10 {
        for i in 0..1000 {
            let (v, rest) = (v.clone(), Arc::clone(&rest));
            tasks.spawn(async move {
                let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"random-{round}-{i}"}}"#);
                let token = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
                v.verify(&token).await.map(|_| ()).unwrap_err().kind()
            });
        }
        while let Some(kind) = tasks.join_next().await {
            assert_eq!(kind.unwrap(), AuthErrorKind::UnknownKey);
        }
    }
    assert_eq!(idp.jwks_fetches(), 2, "warm-up plus one refetch in the cooldown");

    // After the cooldown, one more refetch at most.
    clock.advance(Duration::from_secs(31));
    for i in 0..200 {
        let e = v.verify(&token_with_kid(&idp, &format!("later-{i}"))).await.unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::UnknownKey);
    }
    assert_eq!(idp.jwks_fetches(), 3);
}

#[tokio::test]
async fn key_server_down_after_warm_up_stale_keys_then_503() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    let token_claims = idp.claims_for("svc", &["read:x"]);
    v.warm_up().await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);

    idp.set_jwks_fault(Some(Fault::Status(503)));
    // Past the 10-minute lifetime: refreshes fail, the last good keys stay in use.
    clock.advance(Duration::from_secs(601));
    let mut token = idp.sign(&token_claims);
    v.verify(&token).await.unwrap();
    // Let the background refresh that request started finish.
    wait_for(|| idp.jwks_fetches() >= 2).await;
    assert_eq!(idp.jwks_fetches(), 2);
    for _ in 0..50 {
        v.verify(&token).await.unwrap();
    }
    assert_eq!(idp.jwks_fetches(), 2, "failed refreshes back off instead of hammering");
    let stats = v.key_stats(&idp.issuer()).unwrap();
    assert!(stats.stale_uses >= 51 && stats.failures >= 1, "{stats:?}");
    assert!(v.is_ready());

    // Just inside the one-hour stale window, still served.
    clock.advance(Duration::from_secs(3598));
    token = fresh_token(&idp, &clock);
    v.verify(&token).await.unwrap();
    // Past it: 503 with Retry-After.
    clock.advance(Duration::from_secs(2));
    let e = v.verify(&token).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
    assert_eq!(e.status(), 503);
    assert!(e.retry_after().unwrap() >= 1);
    assert!(!v.is_ready());
    let fetches = idp.jwks_fetches();
    assert!((3..=4).contains(&fetches), "{fetches}");

    // The server comes back: after the backoff the next request fetches and succeeds.
    idp.set_jwks_fault(None);
    clock.advance(Duration::from_secs(6));
    v.verify(&token).await.unwrap();
    assert_eq!(idp.jwks_fetches(), fetches + 1);
}

#[tokio::test]
async fn key_server_down_from_the_start_is_503_with_retry_after() {
    let idp = TestIssuer::start().await;
    let token = idp.token("svc", &["read:x"]);
    idp.shutdown();
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);

    let started = Instant::now();
    let e = v.verify(&token).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
    assert_eq!(e.status(), 503);
    assert_eq!(e.retry_after(), Some(5));
    assert_eq!(v.warm_up().await.unwrap_err(), KeyFetchError::Unreachable);
    // Inside the backoff: answered at once, no new connection attempt.
    for _ in 0..100 {
        assert_eq!(v.verify(&token).await.unwrap_err().kind(), AuthErrorKind::KeysUnavailable);
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(v.key_stats(&idp.issuer()).unwrap().refreshes, 1);

    idp.restart().await;
    clock.advance(Duration::from_secs(5));
    v.verify(&token).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn garbage_empty_html_and_errors_never_replace_good_keys() {
    for fault in [Fault::Garbage, Fault::Empty, Fault::Html, Fault::Status(500)] {
        let idp = TestIssuer::start().await;
        let clock = now_clock();
        let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
        let good = idp.token("svc", &["read:x"]);
        v.verify(&good).await.unwrap();

        idp.set_jwks_fault(Some(fault.clone()));
        // An unknown kid forces a refetch, which gets the bad answer.
        let e = v.verify(&token_with_kid(&idp, "unknown")).await.unwrap_err();
        assert_eq!(e.kind(), AuthErrorKind::UnknownKey, "{fault:?}");
        assert_eq!(idp.jwks_fetches(), 2, "{fault:?}");
        // The good keys are still there.
        v.verify(&good).await.unwrap();
        assert_eq!(v.key_stats(&idp.issuer()).unwrap().failures, 1, "{fault:?}");
        assert_eq!(idp.jwks_fetches(), 2, "{fault:?}");
    }
}

#[tokio::test]
async fn a_slow_key_server_is_cut_off_at_the_timeout() {
    let idp = TestIssuer::start().await;
    idp.set_jwks_fault(Some(Fault::Slow(Duration::from_secs(10))));
    let clock = now_clock();
    let keys = RemoteKeys::jwks_url(idp.jwks_url()).timeout(Duration::from_secs(1));
    let v = verifier_for(&idp, keys, &clock);
    let token = idp.token("svc", &["read:x"]);

    let started = Instant::now();
    let e = v.verify(&token).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_checks_the_issuer() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v =
        Verifier::builder([AUD]).issuer(Issuer::discover(idp.url())).clock(clock.clone()).build().unwrap();
    v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 1));
    // Discovery is not repeated on refetch.
    idp.rotate(Algorithm::EdDSA);
    v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 2));
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let idp = TestIssuer::start().await;
    idp.set_discovery_issuer(Some("https://evil.example".into()));
    let clock = now_clock();
    let v =
        Verifier::builder([AUD]).issuer(Issuer::discover(idp.url())).clock(clock.clone()).build().unwrap();
    let err = v.warm_up().await.unwrap_err();
    assert!(matches!(err, KeyFetchError::Discovery(_)), "{err:?}");
    assert!(err.to_string().contains("issuer"), "{err}");
    clock.advance(Duration::from_secs(10));
    let e = v.verify(&idp.token("svc", &["read:x"])).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
    assert_eq!(idp.discovery_fetches(), 2);
    assert_eq!(idp.jwks_fetches(), 0, "the JWKS of a mismatched issuer is never fetched");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let idp = TestIssuer::start().await;
    idp.set_jwks_fault(Some(Fault::Redirect));
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    assert_eq!(v.warm_up().await.unwrap_err(), KeyFetchError::Status(302));
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(idp.redirect_target_fetches(), 0);

    // Not with the user's own (redirect-following) client either.
    let v = Verifier::builder([AUD])
        .issuer(Issuer::remote(
            idp.issuer(),
            RemoteKeys::jwks_url(idp.jwks_url()).http_client(reqwest::Client::new()),
        ))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(v.warm_up().await.unwrap_err(), KeyFetchError::Redirected);
    let e = v.verify(&idp.token("svc", &[])).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let idp = TestIssuer::start().await;
    for _ in 0..20 {
        idp.add_key(Algorithm::RS256);
    }
    let clock = now_clock();
    let keys = RemoteKeys::jwks_url(idp.jwks_url()).max_body_bytes(2048);
    let v = verifier_for(&idp, keys, &clock);
    assert_eq!(v.warm_up().await.unwrap_err(), KeyFetchError::TooLarge);
    assert_eq!(idp.jwks_fetches(), 1);
}

#[tokio::test]
async fn plain_http_is_refused_except_to_loopback() {
    let clock = now_clock();
    let err = Verifier::builder([AUD])
        .issuer(Issuer::jwks_url("https://auth.example.com", "http://auth.example.com/jwks.json"))
        .clock(clock.clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
    Verifier::builder([AUD])
        .issuer(Issuer::remote(
            "https://auth.example.com",
            RemoteKeys::jwks_url("http://auth.example.com/jwks.json").dangerous_allow_http(),
        ))
        .build()
        .unwrap();
    let err = Verifier::builder([AUD])
        .issuer(Issuer::jwks_url("x", "http://127.0.0.1/jwks").algorithms([Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("HS256"), "{err}");
}

#[tokio::test]
async fn max_age_sets_the_lifetime() {
    let idp = TestIssuer::start().await;
    idp.set_max_age(Some(120));
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    let token = idp.token("svc", &[]);
    v.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(119));
    v.verify(&token).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(v.key_stats(&idp.issuer()).unwrap().stale_uses, 0);
    clock.advance(Duration::from_secs(2));
    v.verify(&token).await.unwrap();
    wait_for(|| idp.jwks_fetches() == 2).await;
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn the_refresher_stops_when_the_verifier_is_dropped() {
    let idp = TestIssuer::start().await;
    idp.set_max_age(Some(1));
    let keys =
        RemoteKeys::jwks_url(idp.jwks_url()).ttl_bounds(Duration::from_secs(1), Duration::from_secs(1));
    let v = Verifier::builder([AUD]).issuer(Issuer::remote(idp.issuer(), keys)).build().unwrap();
    v.warm_up().await.unwrap();
    // The background task refreshes ahead of the 1 s lifetime.
    wait_for(|| idp.jwks_fetches() >= 2).await;
    assert!(idp.jwks_fetches() >= 2, "the background task refreshes");
    drop(v);
    let after_drop = idp.jwks_fetches();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(idp.jwks_fetches() <= after_drop + 1, "{} > {after_drop}", idp.jwks_fetches());
}

#[tokio::test]
async fn hs256_permiso_issuer_needs_no_network() {
    let idp = TestIssuer::builder().hs256().issuer_name("keystone-auth").start().await;
    let v = Verifier::builder([AUD]).issuer(idp.issuer_config()).build().unwrap();
    assert!(v.is_ready());
    let claims = v.verify(&idp.token("svc", &["read:x"])).await.unwrap();
    assert!(claims.is_service_token());
    assert_eq!(idp.jwks_fetches(), 0);
    let stranger = SigningKey::generate(Algorithm::HS256);
    let e = v.verify(&stranger.sign(&idp.claims_for("svc", &[]))).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::InvalidSignature);
}

/// A token valid for an hour from the (manual) clock's now.
fn fresh_token(idp: &TestIssuer, clock: &ManualClock) -> String {
    use permiso::Clock as _;
    let now = clock.now_unix();
    let mut claims = idp.claims_for("svc", &["read:x"]);
    claims["iat"] = now.into();
    claims["nbf"] = now.into();
    claims["exp"] = (now + 3600).into();
    idp.sign(&claims)
}

/// Waits (up to 5 s) for something a background task does.
async fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_rotation_during_an_outage_is_picked_up_once_the_key_server_is_back() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    v.warm_up().await.unwrap();
    // Someone probes a random kid: the cooldown starts.
    assert_eq!(v.verify(&token_with_kid(&idp, "probe")).await.unwrap_err().kind(), AuthErrorKind::UnknownKey);
    assert_eq!(idp.jwks_fetches(), 2);

    idp.shutdown();
    idp.rotate(Algorithm::ES256);
    let rotated = fresh_token(&idp, &clock);
    clock.advance(Duration::from_secs(31));
    // The refetch for the new kid fails: the old keys stay, the token is unknown for now.
    assert_eq!(v.verify(&rotated).await.unwrap_err().kind(), AuthErrorKind::UnknownKey);
    assert_eq!(v.key_stats(&idp.issuer()).unwrap().failures, 1);
    // Within the failure backoff nothing is tried again.
    clock.advance(Duration::from_secs(2));
    assert_eq!(v.verify(&rotated).await.unwrap_err().kind(), AuthErrorKind::UnknownKey);
    assert_eq!(v.key_stats(&idp.issuer()).unwrap().refreshes, 3);

    // Back up: after the 5 s backoff (not the 30 s cooldown) the new key is fetched.
    idp.restart().await;
    clock.advance(Duration::from_secs(4));
    v.verify(&rotated).await.unwrap();
    assert_eq!(idp.jwks_fetches(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_past_the_stale_window_never_verify_on_any_path() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::jwks_url(idp.jwks_url()), &clock);
    v.warm_up().await.unwrap();
    idp.set_jwks_fault(Some(Fault::Status(503)));
    // 40 s past the 10-minute lifetime plus the one-hour stale window.
    clock.advance(Duration::from_secs(600 + 3600 + 40));
    let token = Arc::new(fresh_token(&idp, &clock));
    // Concurrent requests wait on one failing fetch: none may fall back to the old keys.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (v, token) = (v.clone(), Arc::clone(&token));
        tasks.spawn(async move { v.verify(&token).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap_err().kind(), AuthErrorKind::KeysUnavailable);
    }
    // The same with a key server that hangs (the fetch times out while others wait).
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let keys = RemoteKeys::jwks_url(idp.jwks_url()).timeout(Duration::from_millis(500));
    let v = verifier_for(&idp, keys, &clock);
    v.warm_up().await.unwrap();
    idp.set_jwks_fault(Some(Fault::Slow(Duration::from_secs(5))));
    clock.advance(Duration::from_secs(600 + 3600 + 40));
    let token = Arc::new(fresh_token(&idp, &clock));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (v, token) = (v.clone(), Arc::clone(&token));
        tasks.spawn(async move { v.verify(&token).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap_err().kind(), AuthErrorKind::KeysUnavailable);
    }
    // An unknown kid's refetch that fails past the window does not hand out the old keys
    // either.
    clock.advance(Duration::from_secs(10));
    let key = idp.active_key();
    let mut header = key.header("JWT");
    header["kid"] = serde_json::json!("rotated-away");
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(fresh_token(&idp, &clock).split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    let e = v.verify(&key.sign_with_header(&header, &claims)).await.unwrap_err();
    assert_eq!(e.kind(), AuthErrorKind::KeysUnavailable);
}

#[tokio::test]
async fn discovery_runs_again_after_a_day() {
    let idp = TestIssuer::start().await;
    let clock = now_clock();
    let v = verifier_for(&idp, RemoteKeys::discovery(idp.issuer()), &clock);
    v.warm_up().await.unwrap();
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 1));
    // Refreshes within the day reuse the discovered jwks_uri.
    clock.advance(Duration::from_secs(601));
    v.verify(&fresh_token(&idp, &clock)).await.unwrap();
    wait_for(|| idp.jwks_fetches() >= 2).await;
    assert_eq!(idp.discovery_fetches(), 1);
    // A day on, the next refresh reads the discovery document again.
    clock.advance(Duration::from_secs(24 * 3600));
    v.verify(&fresh_token(&idp, &clock)).await.unwrap();
    assert_eq!(idp.discovery_fetches(), 2);
    // And when it fails, the known jwks_uri keeps working.
    idp.set_discovery_fault(Some(Fault::Status(500)));
    clock.advance(Duration::from_secs(24 * 3600 + 10));
    v.verify(&fresh_token(&idp, &clock)).await.unwrap();
    assert_eq!(idp.discovery_fetches(), 3);
}
