//! Introspection against a real third-party authorization server: panva's `oidc-provider` 9
//! on loopback issues **opaque** client-credentials tokens (resources `https://opaque.example/`
//! and `https://other.example/`), which only its RFC 7662 endpoint can judge; the
//! `payment_service` routes, configured from the environment alone, ask it as the client
//! `payments-api` (`client_secret_basic`).
//!
//! Needs `node` and `npm` (`.ci/run` installs them when they are missing).

#[path = "support/oidc_provider.rs"]
mod provider;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::time::Duration;

use permiso::Verifier;
use serde_json::Value;

const PAYMENT_SECRET: &str = "payment-secret-for-the-oidc-provider-test";

/// A fresh opaque token from the provider for `resource` with `scope`.
async fn token(issuer: &str, resource: &str, scope: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "payment-service"),
            ("client_secret", PAYMENT_SECRET),
            ("scope", scope),
            ("resource", resource),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.matches('.').count(), 0, "an opaque token, not a JWT");
    token
}

async fn serve(issuer: &str, cache_max_secs: &str) -> (Verifier, String) {
    let url = format!("{issuer}/token/introspection");
    let verifier = Verifier::from_env_vars([
        ("PERMISO_ISSUER", issuer),
        ("PERMISO_AUDIENCE", "payments"),
        ("PERMISO_INTROSPECTION_URL", url.as_str()),
        ("PERMISO_INTROSPECTION_CLIENT_ID", "payments-api"),
        ("PERMISO_INTROSPECTION_CLIENT_SECRET", provider::PAYMENTS_API_SECRET),
        ("PERMISO_INTROSPECTION_CACHE_MAX_SECS", cache_max_secs),
        ("PERMISO_INTROSPECTION_TIMEOUT_MS", "1000"),
        // Inactive answers kept the longest: the 10,000-request flood below can outlast the
        // default 10 s on a loaded machine.
        ("PERMISO_INTROSPECTION_NEGATIVE_CACHE_SECS", "300"),
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = routes::router(verifier.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (verifier, base)
}

async fn call(base: &str, method: reqwest::Method, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, format!("{base}/api/v1/transactions"))
        .bearer_auth(token)
        .json(&serde_json::json!({"amount": 1}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn opaque_tokens_from_oidc_provider_are_judged_by_its_introspection() {
    let (node, port) = tokio::task::spawn_blocking(provider::start_provider).await.unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let (_, base) = serve(&issuer, "1").await;

    // Accepted with the right scope, refused without it.
    let read = token(&issuer, "https://opaque.example/", "read:transactions").await;
    let res = call(&base, reqwest::Method::GET, &read).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["caller"], "payment-service");
    let res = call(&base, reqwest::Method::POST, &read).await;
    assert_eq!(res.status(), 403);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("scope=\"write:transactions\""));
    let write = token(&issuer, "https://opaque.example/", "read:transactions write:transactions").await;
    assert_eq!(call(&base, reqwest::Method::POST, &write).await.status(), 200);

    // Another audience's token: active at the provider, refused here.
    let other = token(&issuer, "https://other.example/", "read:transactions").await;
    let res = call(&base, reqwest::Method::GET, &other).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error_description"],
        "the token is not meant for this audience"
    );

    // Revoked at the provider (RFC 7009): refused once the cached answer is older than the
    // cache maximum (1 s here).
    let revoked = token(&issuer, "https://opaque.example/", "read:transactions").await;
    assert_eq!(call(&base, reqwest::Method::GET, &revoked).await.status(), 200);
    let res = reqwest::Client::new()
        .post(format!("{issuer}/token/revocation"))
        .form(&[
            ("token", revoked.as_str()),
            ("client_id", "payment-service"),
            ("client_secret", PAYMENT_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = call(&base, reqwest::Method::GET, &revoked).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error_description"], "the token is not active");

    // 1,000 concurrent requests with one new token: one introspection call (a service with
    // the default cache maximum, 60 s, so that the answer outlives the burst).
    let (verifier, base) = serve(&issuer, "60").await;
    let stats = || verifier.introspection_stats(&issuer).unwrap();
    let fresh = token(&issuer, "https://opaque.example/", "read:transactions").await;
    let before = stats().calls;
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (client, url, fresh) = (client.clone(), format!("{base}/api/v1/transactions"), fresh.clone());
        tasks.spawn(async move { client.get(url).bearer_auth(fresh).send().await.unwrap().status() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(stats().calls - before, 1);

    // 10,000 requests with 100 random tokens: each distinct token costs one call at most,
    // the rest are answered by the negative cache.
    let before = stats().calls;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000 {
        let random = format!("{:043}", i % 100);
        let (client, url) = (client.clone(), format!("{base}/api/v1/transactions"));
        tasks.spawn(async move { client.get(url).bearer_auth(random).send().await.unwrap().status() });
        if tasks.len() >= 200 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap(), 401);
        }
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    let calls = stats().calls - before;
    assert!(calls <= 100, "{calls} calls for 100 distinct random tokens");

    // The provider down: 503 with Retry-After, never 401.
    let unseen = token(&issuer, "https://opaque.example/", "read:transactions").await;
    drop(node);
    let res = call(&base, reqwest::Method::GET, &unseen).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
}
