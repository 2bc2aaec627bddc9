//! DPoP on the calling side: a `TokenSource` with a key gets bound tokens from a real
//! `TestIssuer` token endpoint (which may ask for a nonce), and the bearer layers send them to
//! real services on loopback with a fresh proof per request.

#![cfg(feature = "client")]

#[path = "../examples/payment_service/routes.rs"]
mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use permiso::Verifier;
use permiso::client::{BearerLayer, BearerMiddleware, ServiceCredentials, TokenSource};
use permiso::testing::TestIssuer;
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};

const SECRET: &str = "payment-secret";

fn vars(idp: &TestIssuer, dpop: &str) -> Vec<(String, String)> {
    vec![
        ("AUTH_SERVICE_URL".into(), format!("{}/api/v1", idp.url())),
        ("PAYMENT_CLIENT_ID".into(), "payment-service".into()),
        ("PAYMENT_CLIENT_SECRET".into(), SECRET.into()),
        ("PAYMENT_SCOPES".into(), "read:transactions".into()),
        ("PAYMENT_DPOP".into(), dpop.into()),
    ]
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn payload(jws: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_source_with_a_key_gets_a_bound_token_and_calls_with_proofs() {
    let idp = TestIssuer::builder().client("payment-service", SECRET, &["read:transactions"]).start().await;
    // The token endpoint asks for a nonce first: one more request, then a bound token.
    idp.set_dpop_nonce(Some("issuer-nonce-1"));
    let source = TokenSource::from_env_vars("payment", vars(&idp, "true")).unwrap();
    let token = source.token().await.unwrap();
    assert!(token.is_dpop_bound());
    assert_eq!(idp.token_requests(), 2);
    assert!(payload(token.secret())["cnf"]["jkt"].is_string());
    assert!(!format!("{token:?}").contains(token.secret()));

    // DPoP is opt-in on the receiving side, checked against the service's own origin.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .dpop(permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Allowed).public_base_url(&base))
        .build()
        .unwrap();
    let app = routes::router(verifier);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source.clone()))
        .build();
    for _ in 0..3 {
        let res = client.get(format!("{base}/api/v1/transactions?page=1")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["dpop_bound"], true, "{body}");
    }
    // Refused for another reason (no write scope): no refetch, no loop.
    let res = client.post(format!("{base}/api/v1/transactions")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(idp.token_requests(), 2);

    // The tower layer does the same for http::Request with an absolute URI.
    let http = reqwest::Client::new();
    let send = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let http = http.clone();
        async move {
            let (parts, body) = req.into_parts();
            let req = http::Request::from_parts(parts, body.collect().await.unwrap().to_bytes());
            let res = http.execute(reqwest::Request::try_from(req)?).await?;
            let mut out = http::Response::new(Bytes::new());
            *out.status_mut() = res.status();
            *out.body_mut() = res.bytes().await?;
            Ok::<_, reqwest::Error>(out)
        }
    });
    let svc = ServiceBuilder::new().layer(BearerLayer::new(source)).service(send);
    let req =
        http::Request::get(format!("{base}/api/v1/transactions")).body(Full::new(Bytes::new())).unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(body["dpop_bound"], true);
}

/// A target that wants `DPoP-Nonce: n-<k>` in every proof, answering 401 `use_dpop_nonce`
/// with the nonce otherwise (RFC 9449 §9), and counts requests.
async fn nonce_target(requests: Arc<AtomicU64>) -> String {
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let requests = Arc::clone(&requests);
            async move {
                requests.fetch_add(1, Ordering::SeqCst);
                let proof = headers.get("dpop").and_then(|v| v.to_str().ok()).map(payload);
                let scheme_ok = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.starts_with("DPoP "));
                let nonce_ok = proof.as_ref().is_some_and(|p| p["nonce"] == "server-nonce-7");
                let mut res = axum::response::Response::new(axum::body::Body::empty());
                if !(scheme_ok && nonce_ok) {
                    *res.status_mut() = StatusCode::UNAUTHORIZED;
                    let h = res.headers_mut();
                    h.insert(
                        "www-authenticate",
                        r#"DPoP error="use_dpop_nonce", error_description="nonce""#.parse().unwrap(),
                    );
                    h.insert("dpop-nonce", "server-nonce-7".parse().unwrap());
                }
                res
            }
        }),
    );
    serve(app).await
}

#[tokio::test]
async fn a_target_asking_for_a_nonce_gets_one_retry_then_the_nonce_every_time() {
    let idp = TestIssuer::builder().client("payment-service", SECRET, &["read:transactions"]).start().await;
    let source = TokenSource::from_env_vars("payment", vars(&idp, "1")).unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let base = nonce_target(Arc::clone(&requests)).await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source))
        .build();
    assert_eq!(client.get(&base).send().await.unwrap().status(), 200);
    assert_eq!(requests.load(Ordering::SeqCst), 2, "one retry with the nonce");
    assert_eq!(client.get(&base).send().await.unwrap().status(), 200);
    assert_eq!(requests.load(Ordering::SeqCst), 3, "the nonce is remembered");
    // A nonce retry is not a token problem: no refetch.
    assert_eq!(idp.token_requests(), 1);
}

#[test]
fn dpop_settings_are_checked() {
    let err = TokenSource::from_env_vars(
        "payment",
        [
            ("AUTH_SERVICE_URL", "http://127.0.0.1:9/api/v1"),
            ("PAYMENT_CLIENT_ID", "payment-service"),
            ("PAYMENT_CLIENT_SECRET", "s"),
            ("PAYMENT_DPOP", "maybe"),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("PAYMENT_DPOP"), "{err}");
    let creds = ServiceCredentials::new(
        "payment-service",
        "s",
        permiso::client::TokenEndpoint::Permiso("http://127.0.0.1:9/api/v1".into()),
    );
    let source = TokenSource::builder(creds).dpop(permiso::dpop::DpopKey::generate().unwrap()).build();
    assert!(source.is_ok());
}
