//! gRPC over real HTTP/2: the payments tonic service of the `grpc_service` example served on
//! loopback behind `AuthLayer` (with a REST route beside it), called with a tonic client.
//! Each refusal is checked for its `grpc-status`, message and `www-authenticate` metadata.

#![cfg(all(feature = "client", feature = "tonic"))]

#[path = "../examples/grpc_service/service.rs"]
mod service;

use permiso::Verifier;
use permiso::client::{ServiceCredentials, TokenEndpoint, TokenSource};
use permiso::grpc::GrpcBearerLayer;
use permiso::testing::{Fault, TestIssuer};
use service::pb::payments_client::PaymentsClient;
use service::pb::{BillingReportRequest, CreateTransactionRequest, ListTransactionsRequest};
use tonic::Code;
use tonic::transport::Channel;

async fn serve(verifier: Verifier) -> String {
    serve_with(|_| verifier).await
}

/// Serves the gRPC routes with the verifier `make` builds for the service's own URL.
async fn serve_with(make: impl FnOnce(&str) -> Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = make(&base);
    tokio::spawn(async move { axum::serve(listener, service::router(verifier)).await.unwrap() });
    base
}

async fn channel(base: &str) -> Channel {
    tonic::transport::Endpoint::try_from(base.to_owned()).unwrap().connect().await.unwrap()
}

/// A call with `token` (or none) as raw `authorization` metadata.
fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = token {
        req.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

fn refused(status: &tonic::Status, code: Code, error: Option<&str>, what: &str) {
    assert_eq!(status.code(), code, "{what}: {status:?}");
    let www = status.metadata().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let www = www.unwrap_or_else(|| panic!("{what}: no www-authenticate metadata: {status:?}"));
    assert!(www.starts_with("Bearer realm=\"keystone-auth\""), "{what}: {www}");
    match error {
        Some(e) => assert!(www.contains(&format!("error=\"{e}\"")), "{what}: {www}"),
        None => assert!(!www.contains("error="), "{what}: {www}"),
    }
    assert!(!status.message().is_empty(), "{what}");
}

#[tokio::test]
async fn each_refusal_has_its_grpc_status_and_valid_calls_succeed() {
    let idp = TestIssuer::start().await;
    let down = TestIssuer::builder().issuer_name("https://down.example").start().await;
    down.set_jwks_fault(Some(Fault::Status(503)));
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .issuer(down.issuer_config())
        .build()
        .unwrap();
    let base = serve(verifier).await;
    let mut client = PaymentsClient::new(channel(&base).await);

    let reader = idp.token("ledger-service", &["read:transactions"]);
    let writer = idp.token("ledger-service", &["read:transactions", "write:transactions"]);
    let mut expired = idp.claims_for("ledger-service", &["read:transactions"]);
    expired["exp"] = serde_json::json!(1_000_000);
    let expired = idp.sign(&expired);
    let mut trusted = idp.claims_for("billing-service", &["read:transactions"]);
    trusted["is_trusted"] = serde_json::json!(true);
    let trusted = idp.sign(&trusted);
    let from_down = down.token("ledger-service", &["read:transactions"]);

    // Valid calls.
    let reply = client
        .list_transactions(with_token(ListTransactionsRequest { limit: 2 }, Some(&reader)))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().caller, "ledger-service");
    assert_eq!(reply.get_ref().transactions.len(), 2);
    let created = client
        .create_transaction(with_token(
            CreateTransactionRequest { amount_cents: 5, currency: "EUR".into() },
            Some(&writer),
        ))
        .await
        .unwrap();
    assert_eq!(created.get_ref().created_by, "ledger-service");
    let report = client.billing_report(with_token(BillingReportRequest {}, Some(&trusted))).await.unwrap();
    assert_eq!(report.get_ref().caller, "billing-service");

    // Refusals, by the layer and by the per-method requirements.
    let list = ListTransactionsRequest { limit: 1 };
    let status = client.list_transactions(with_token(list, None)).await.unwrap_err();
    refused(&status, Code::Unauthenticated, None, "no token");
    let status = client.list_transactions(with_token(list, Some(&expired))).await.unwrap_err();
    refused(&status, Code::Unauthenticated, Some("invalid_token"), "expired");
    assert_eq!(status.message(), "the token has expired");
    let status = client.list_transactions(with_token(list, Some("not-a-token"))).await.unwrap_err();
    refused(&status, Code::Unauthenticated, Some("invalid_token"), "malformed");
    let create = CreateTransactionRequest { amount_cents: 5, currency: "EUR".into() };
    let status = client.create_transaction(with_token(create.clone(), Some(&reader))).await.unwrap_err();
    refused(&status, Code::PermissionDenied, Some("insufficient_scope"), "wrong scope");
    assert!(status.message().contains("write:transactions"), "{status:?}");
    let status = client.billing_report(with_token(BillingReportRequest {}, Some(&writer))).await.unwrap_err();
    refused(&status, Code::PermissionDenied, Some("insufficient_scope"), "untrusted on the admin method");
    let status = client.list_transactions(with_token(list, Some(&from_down))).await.unwrap_err();
    refused(&status, Code::Unavailable, Some("temporarily_unavailable"), "key server down");
    assert!(status.metadata().get("retry-after").is_some(), "{status:?}");
    // The handler's own check gives the same answer in the same form.
    let status = client.create_transaction(with_token(create, Some(&expired))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_rest_route_and_the_grpc_service_behind_one_layer_answer_in_their_own_form() {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let base = serve(verifier).await;

    let rest = reqwest::get(format!("{base}/api/v1/transactions")).await.unwrap();
    assert_eq!(rest.status(), 401);
    assert_eq!(rest.headers()["content-type"], "application/json");
    assert_eq!(rest.headers()["www-authenticate"], "Bearer realm=\"keystone-auth\"");
    let body: serde_json::Value = rest.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let token = idp.token("ledger-service", &["read:transactions"]);
    let ok = reqwest::Client::new()
        .get(format!("{base}/api/v1/transactions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let mut client = PaymentsClient::new(channel(&base).await);
    let status =
        client.list_transactions(with_token(ListTransactionsRequest { limit: 1 }, None)).await.unwrap_err();
    refused(&status, Code::Unauthenticated, None, "gRPC without a token");
    assert!(
        client
            .list_transactions(with_token(ListTransactionsRequest { limit: 1 }, Some(&token)))
            .await
            .is_ok()
    );

    // A method the service does not list is closed (deny_unlisted), in the gRPC form.
    let mut grpc = tonic::client::Grpc::new(channel(&base).await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/payments.v1.Payments/Refund");
    let codec =
        tonic_prost::ProstCodec::<ListTransactionsRequest, service::pb::ListTransactionsReply>::default();
    let status = grpc
        .unary(with_token(ListTransactionsRequest { limit: 1 }, Some(&token)), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn the_calling_side_refetches_once_after_a_revocation_and_succeeds() {
    let idp =
        TestIssuer::builder().client("ledger-service", "ledger-secret", &["read:transactions"]).start().await;
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .revocation(idp.revocation())
        .build()
        .unwrap();
    let base = serve(verifier).await;
    let creds = ServiceCredentials::new(
        "ledger-service",
        "ledger-secret",
        TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())),
    )
    .with_scopes(["read:transactions"]);
    let source = TokenSource::new(creds).unwrap();
    let layered = tower::ServiceBuilder::new()
        .layer(GrpcBearerLayer::new(source.clone()))
        .service(channel(&base).await);
    let mut client = PaymentsClient::new(layered);

    let first = client.list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap();
    assert_eq!(first.get_ref().caller, "ledger-service");
    assert_eq!(idp.token_requests(), 1);

    // The token is revoked: the server answers UNAUTHENTICATED, the layer gets a new token
    // and sends the call once more.
    idp.revoke(source.token().await.unwrap().secret());
    let again = client.list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap();
    assert_eq!(again.get_ref().caller, "ledger-service");
    assert_eq!(idp.token_requests(), 2);
    // And the new token keeps working.
    assert!(client.list_transactions(ListTransactionsRequest { limit: 1 }).await.is_ok());
    assert_eq!(idp.token_requests(), 2);
}

#[tokio::test]
async fn a_dpop_bound_caller_on_a_tonic_channel_sends_a_proof_per_call() {
    let idp =
        TestIssuer::builder().client("ledger-service", "ledger-secret", &["read:transactions"]).start().await;
    let base = serve_with(|base| {
        Verifier::builder(["keystone-auth"])
            .issuer(idp.issuer_config())
            .dpop(permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Required).public_base_url(base))
            .build()
            .unwrap()
    })
    .await;
    let creds = ServiceCredentials::new(
        "ledger-service",
        "ledger-secret",
        TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())),
    )
    .with_scopes(["read:transactions"]);
    let source =
        TokenSource::builder(creds).dpop(permiso::dpop::DpopKey::generate().unwrap()).build().unwrap();
    // Without the origin the layer cannot make the proof, and says so instead of calling.
    let blind = tower::ServiceBuilder::new()
        .layer(GrpcBearerLayer::new(source.clone()))
        .service(channel(&base).await);
    let err =
        PaymentsClient::new(blind).list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap_err();
    assert!(format!("{err:?}").contains("NoOrigin"), "{err:?}");
    assert!(GrpcBearerLayer::new(source.clone()).origin("/no/origin").is_err());
    let layered = tower::ServiceBuilder::new()
        .layer(GrpcBearerLayer::new(source.clone()).origin(&base).unwrap())
        .service(channel(&base).await);
    let mut client = PaymentsClient::new(layered);
    for _ in 0..3 {
        let reply = client.list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap();
        assert_eq!(reply.get_ref().caller, "ledger-service");
    }
    assert!(source.token().await.unwrap().is_dpop_bound());
    assert_eq!(idp.token_requests(), 1);
    // The same bound token without its proof is refused, in the gRPC form with the DPoP
    // challenge.
    let token = source.token().await.unwrap();
    let mut bare = PaymentsClient::new(channel(&base).await);
    let mut req = tonic::Request::new(ListTransactionsRequest { limit: 1 });
    req.metadata_mut().insert("authorization", format!("DPoP {}", token.secret()).parse().unwrap());
    let status = bare.list_transactions(req).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let www = status.metadata().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    assert!(www.starts_with("DPoP ") && www.contains("invalid_dpop_proof"), "{www}");
}

/// Review round 3, finding 11: a DPoP gRPC target that demands a nonce (UNAUTHENTICATED,
/// `use_dpop_nonce`, `DPoP-Nonce`) gets the call again with a proof carrying it, once, and
/// later calls carry it from the start, as the HTTP bearer layers do.
#[tokio::test]
async fn a_dpop_grpc_target_that_demands_a_nonce_gets_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use base64::Engine as _;

    const NONCE: &str = "grpc-nonce-1";
    let idp =
        TestIssuer::builder().client("ledger-service", "ledger-secret", &["read:transactions"]).start().await;
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    // In front of the service: a target that answers UNAUTHENTICATED (trailers-only) with a
    // nonce to any proof that does not carry it.
    let demand_nonce = move |req: axum::extract::Request, next: axum::middleware::Next| {
        let seen = Arc::clone(&seen);
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            let nonce = req
                .headers()
                .get("dpop")
                .and_then(|p| p.to_str().ok()?.split('.').nth(1).map(str::to_owned))
                .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
                .and_then(|claims| claims["nonce"].as_str().map(str::to_owned));
            if nonce.as_deref() == Some(NONCE) {
                return next.run(req).await;
            }
            axum::http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "16")
                .header(
                    "www-authenticate",
                    r#"DPoP error="use_dpop_nonce", error_description="a nonce is required""#,
                )
                .header("dpop-nonce", NONCE)
                .body(axum::body::Body::empty())
                .unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .dpop(permiso::dpop::Dpop::new(permiso::dpop::DpopMode::Required).public_base_url(&base))
        .build()
        .unwrap();
    let app = service::router(verifier).layer(axum::middleware::from_fn(demand_nonce));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let creds = ServiceCredentials::new(
        "ledger-service",
        "ledger-secret",
        TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())),
    )
    .with_scopes(["read:transactions"]);
    let source =
        TokenSource::builder(creds).dpop(permiso::dpop::DpopKey::generate().unwrap()).build().unwrap();
    let layered = tower::ServiceBuilder::new()
        .layer(GrpcBearerLayer::new(source.clone()).origin(&base).unwrap())
        .service(channel(&base).await);
    let mut client = PaymentsClient::new(layered);
    let reply = client.list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap();
    assert_eq!(reply.get_ref().caller, "ledger-service");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refused once for the nonce, then answered");
    client.list_transactions(ListTransactionsRequest { limit: 1 }).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the next call carries the nonce from the start");
    assert_eq!(idp.token_requests(), 1, "a nonce is no reason for a new token");
}
