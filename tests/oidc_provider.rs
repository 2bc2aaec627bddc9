//! DPoP against a real third-party issuer: panva's `oidc-provider` 9 (DPoP on, nonces
//! required), run with Node.js on loopback, issues a DPoP-bound RFC 9068 token to permiso's
//! calling side, which calls the payment routes (DPoP required) with a proof per request.
//!
//! Needs `node` and `npm` (`.ci/run` installs Debian's packages when they are missing); the
//! first run installs the locked `oidc-provider` from the npm registry into
//! `examples/oidc-provider/node_modules`. `examples/oidc-provider/run.sh` does the same by
//! hand against the `payment_service` and `client` binaries.

#![cfg(feature = "client")]

#[path = "support/oidc_provider.rs"]
mod provider;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use base64::Engine as _;
use permiso::Verifier;
use permiso::client::{BearerMiddleware, TokenSource};
use serde_json::Value;

#[tokio::test]
async fn a_dpop_bound_token_from_oidc_provider_is_accepted_and_useless_without_its_key() {
    let (_node, port) = tokio::task::spawn_blocking(provider::start_provider).await.unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::from_env_vars([
        ("PERMISO_PUBLIC_BASE_URL", base.as_str()),
        ("PERMISO_ISSUER", issuer.as_str()),
        ("PERMISO_AUDIENCE", "payments"),
        ("PERMISO_DISCOVERY_URL", issuer.as_str()),
        ("PERMISO_REQUIRE_AT_JWT", "true"),
        ("PERMISO_SERVICE_TOKEN", "sub==client_id"),
        ("PERMISO_DPOP", "required"),
    ])
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await.unwrap() });

    let source = TokenSource::from_env_vars(
        "payment",
        [
            ("PAYMENT_TOKEN_URL", format!("{issuer}/token")),
            ("PAYMENT_CLIENT_ID", "payment-service".into()),
            ("PAYMENT_CLIENT_SECRET", "payment-secret-for-the-oidc-provider-test".into()),
            ("PAYMENT_SCOPES", "read:transactions".into()),
            ("PAYMENT_RESOURCE", "https://payments.example/".into()),
            ("PAYMENT_DPOP", "true".into()),
        ],
    )
    .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source.clone()))
        .build();
    for _ in 0..3 {
        let res = client.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["caller"], "payment-service");
        assert_eq!(body["dpop_bound"], true);
    }
    // What oidc-provider issued: an at+jwt bound to the caller's key.
    let token = source.token().await.unwrap();
    assert!(token.is_dpop_bound());
    let part = |i: usize| -> Value {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.secret().split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    assert_eq!(part(0)["typ"], "at+jwt");
    assert!(part(1)["cnf"]["jkt"].is_string());
    assert_eq!(source.fetches(), 1);

    // The same token without the key: as Bearer, or as DPoP without a proof, it is refused.
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/transactions");
    let stolen = http.get(&url).bearer_auth(token.secret()).send().await.unwrap();
    assert_eq!(stolen.status(), 401);
    let www = stolen.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(www.starts_with("DPoP ") && www.contains("error=\"invalid_token\""), "{www}");
    let no_proof =
        http.get(&url).header("authorization", format!("DPoP {}", token.secret())).send().await.unwrap();
    assert_eq!(no_proof.status(), 401);
    assert!(no_proof.headers()["www-authenticate"].to_str().unwrap().contains("invalid_dpop_proof"));
}
