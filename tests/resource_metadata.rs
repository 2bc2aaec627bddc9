//! RFC 9728 protected-resource metadata served by `payment_service` (configured by
//! `PERMISO_RESOURCE_METADATA`), read over HTTP with a real client: the document, and the
//! `resource_metadata` parameter of every 401 challenge pointing at it.

#[path = "../examples/payment_service/routes.rs"]
mod routes;
#[path = "support/served.rs"]
mod served;

use permiso::AuthLayer;
use permiso::testing::TestIssuer;
use serde_json::Value;
use served::serve_from_env;

#[tokio::test]
async fn the_document_is_served_and_every_401_points_at_it() {
    let idp = TestIssuer::start().await;
    let base = serve_from_env(
        &idp,
        &[
            ("PERMISO_RESOURCE_METADATA", "true"),
            ("PERMISO_RESOURCE_METADATA_SCOPES", "read:transactions,write:transactions"),
            ("PERMISO_DPOP", "allowed"),
            ("PERMISO_TOKEN_LOCATIONS", "query:access_token"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{base}/.well-known/oauth-protected-resource");
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["resource"], base.as_str());
    assert_eq!(doc["authorization_servers"], serde_json::json!([idp.issuer()]));
    assert_eq!(doc["scopes_supported"], serde_json::json!(["read:transactions", "write:transactions"]));
    assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header", "query"]));
    assert!(doc["dpop_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(doc["dpop_bound_access_tokens_required"], false);

    // Every 401 challenge names the document; a 403 does not need to.
    let expected = format!("resource_metadata=\"{url}\"");
    let none = http.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let challenges: Vec<_> =
        none.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(challenges.iter().all(|c| c.contains(&expected)), "{challenges:?}");
    let bad =
        http.get(format!("{base}/api/v1/transactions")).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"].to_str().unwrap().contains(&expected));
    let token = idp.token("payment-service", &["read:transactions"]);
    let forbidden =
        http.post(format!("{base}/api/v1/transactions")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    assert!(!forbidden.headers()["www-authenticate"].to_str().unwrap().contains("resource_metadata"));
    // The document is open, the API is not.
    assert_eq!(
        http.get(format!("{base}/api/v1/transactions")).bearer_auth(&token).send().await.unwrap().status(),
        200
    );
    assert_eq!(http.post(&url).send().await.unwrap().status(), 405);
}

#[tokio::test]
async fn without_metadata_nothing_is_served_or_named() {
    let idp = TestIssuer::start().await;
    let base = serve_from_env(&idp, &[]).await;
    let http = reqwest::Client::new();
    // Not served: the path falls to the API's router, behind the layer.
    let res = http.get(format!("{base}/.well-known/oauth-protected-resource")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let none = http.get(format!("{base}/api/v1/transactions")).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], r#"Bearer realm="keystone-auth""#);
    let err = AuthLayer::from_env_vars([
        ("PERMISO_ISSUER", "keystone-auth"),
        ("PERMISO_AUDIENCE", "keystone-auth"),
        ("PERMISO_HS256_SECRET", "a-shared-secret-of-at-least-32-bytes!!"),
        ("PERMISO_RESOURCE_METADATA", "true"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("PERMISO_PUBLIC_BASE_URL"), "{err}");
}
