//! A real client that no one here wrote follows what `payment_service` says about itself:
//! panva's `oauth4webapi` (npm) reads its RFC 9728 metadata, finds panva's `oidc-provider`
//! there, gets a DPoP-bound token from it, and calls the service with DPoP, retrying with the
//! service's own nonce when asked (`use_dpop_nonce`, RFC 9449 §9).
//!
//! Needs `node` and `npm` (`.ci/run` installs them when they are missing); the first run
//! installs the locked `oauth4webapi` into `examples/oauth4webapi/node_modules`.

#[path = "support/oidc_provider.rs"]
mod provider;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::collections::HashMap;
use std::process::Command;

use permiso::AuthLayer;

/// Runs `client.mjs` against `resource`; its `key=value` lines.
fn run_client(resource: &str) -> HashMap<String, String> {
    let dir = provider::npm_packages("oauth4webapi", "oauth4webapi");
    let out = Command::new("node")
        .args(["client.mjs", resource, "payment-secret-for-the-oidc-provider-test"])
        .current_dir(&dir)
        .output()
        .expect("node client.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "client.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[tokio::test]
async fn oauth4webapi_discovers_the_service_and_answers_its_dpop_nonce() {
    let (_node, port) = tokio::task::spawn_blocking(provider::start_provider).await.unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let auth = AuthLayer::from_env_vars([
        ("PERMISO_ISSUER", issuer.as_str()),
        ("PERMISO_AUDIENCE", "payments"),
        ("PERMISO_DISCOVERY_URL", issuer.as_str()),
        ("PERMISO_REQUIRE_AT_JWT", "true"),
        ("PERMISO_SERVICE_TOKEN", "sub==client_id"),
        ("PERMISO_PUBLIC_BASE_URL", base.as_str()),
        ("PERMISO_DPOP", "required"),
        ("PERMISO_DPOP_NONCE", "required"),
        ("PERMISO_DPOP_NONCE_SECRET", "the-payment-service-replicas-nonce-secret"),
        ("PERMISO_RESOURCE_METADATA", "true"),
        ("PERMISO_RESOURCE_METADATA_SCOPES", "read:transactions,write:transactions"),
    ])
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, routes::router_with(auth, None)).await.unwrap() });

    let seen = tokio::task::spawn_blocking(move || run_client(&base)).await.unwrap();
    let base = format!("http://{}", seen["resource"].trim_start_matches("http://").trim_end_matches('/'));
    assert_eq!(seen["authorization_server"], issuer);
    assert_eq!(seen["dpop_bound_access_tokens_required"], "true");
    assert_eq!(seen["anonymous_status"], "401");
    assert_eq!(seen["challenge_resource_metadata"], format!("{base}/.well-known/oauth-protected-resource"));
    assert_eq!(seen["token_type"].to_ascii_lowercase(), "dpop");
    // The service asked for its nonce once, and the retry with it succeeded.
    assert_eq!(seen.get("resource_use_dpop_nonce").map(String::as_str), Some("1"), "{seen:?}");
    assert_eq!(seen["status"], "200", "{seen:?}");
    let body: serde_json::Value = serde_json::from_str(&seen["body"]).unwrap();
    assert_eq!(body["caller"], "payment-service");
    assert_eq!(body["dpop_bound"], true);
}
