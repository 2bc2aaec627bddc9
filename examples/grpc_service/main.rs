//! A tonic payments service protected by permiso, and a tonic client calling it.
//!
//! ```sh
//! cargo run --features client,tonic --example grpc_service
//! ```
//!
//! It starts a `TestIssuer` and the service (gRPC and a REST route behind one `AuthLayer`,
//! each method's scopes declared once with `GrpcMethods`) on loopback, then calls each
//! method with a tonic channel wrapped in `GrpcBearerLayer`: tokens come from the
//! client-credentials flow, refetched once when the server answers `UNAUTHENTICATED`.
//! Prints each outcome; exits non-zero if one is unexpected.

mod service;

use std::process::ExitCode;

use permiso::Verifier;
use permiso::client::{ServiceCredentials, TokenEndpoint, TokenSource};
use permiso::grpc::GrpcBearerLayer;
use permiso::testing::TestIssuer;
use service::pb::payments_client::PaymentsClient;
use service::pb::{BillingReportRequest, CreateTransactionRequest, ListTransactionsRequest};

#[tokio::main]
async fn main() -> ExitCode {
    let idp = TestIssuer::builder()
        .client("ledger-service", "ledger-secret", &["read:transactions", "write:transactions"])
        .trusted_client("billing-service", "billing-secret", &["read:transactions"])
        .start()
        .await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, service::router(verifier)).await });
    println!("issuer at {}, payments gRPC service at http://{addr}", idp.url());

    let client = |id: &str, secret: &str, scopes: &[&str]| {
        let creds =
            ServiceCredentials::new(id, secret, TokenEndpoint::Permiso(format!("{}/api/v1", idp.url())))
                .with_scopes(scopes.iter().copied());
        let source = TokenSource::new(creds).expect("token source");
        let channel =
            tonic::transport::Endpoint::try_from(format!("http://{addr}")).expect("endpoint").connect_lazy();
        PaymentsClient::new(tower::ServiceBuilder::new().layer(GrpcBearerLayer::new(source)).service(channel))
    };
    let mut ledger = client("ledger-service", "ledger-secret", &["read:transactions", "write:transactions"]);
    let mut billing = client("billing-service", "billing-secret", &["read:transactions"]);

    let mut ok = true;
    let mut expect = |what: &str, code: tonic::Code, result: Result<String, tonic::Status>| {
        let got = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        let shown = match result {
            Ok(reply) => reply,
            Err(status) => format!("{:?}: {}", status.code(), status.message()),
        };
        println!("{what:<40} -> {shown}");
        ok &= got == code;
    };
    let r = ledger.list_transactions(ListTransactionsRequest { limit: 2 }).await;
    expect("ledger-service ListTransactions", tonic::Code::Ok, r.map(|r| format!("{:?}", r.into_inner())));
    let r = ledger
        .create_transaction(CreateTransactionRequest { amount_cents: 990, currency: "EUR".into() })
        .await;
    expect("ledger-service CreateTransaction", tonic::Code::Ok, r.map(|r| format!("{:?}", r.into_inner())));
    let r = ledger.billing_report(BillingReportRequest {}).await;
    expect(
        "ledger-service BillingReport (untrusted)",
        tonic::Code::PermissionDenied,
        r.map(|r| format!("{:?}", r.into_inner())),
    );
    let r = billing
        .create_transaction(CreateTransactionRequest { amount_cents: 1, currency: "EUR".into() })
        .await;
    expect(
        "billing-service CreateTransaction (no scope)",
        tonic::Code::PermissionDenied,
        r.map(|r| format!("{:?}", r.into_inner())),
    );
    let r = billing.billing_report(BillingReportRequest {}).await;
    expect(
        "billing-service BillingReport (trusted)",
        tonic::Code::Ok,
        r.map(|r| format!("{:?}", r.into_inner())),
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
