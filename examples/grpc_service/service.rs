//! The payments gRPC service of the `grpc_service` example and `tests/grpc.rs`: the three
//! methods of `payments.proto`, with a REST route beside them behind the same `AuthLayer`.
//!
//! - `ListTransactions`: `read:transactions` (declared once in [`methods`]);
//! - `CreateTransaction`: `write:transactions` (declared once, and checked again in the
//!   handler with `GrpcAuth::require_scopes` to show the helper);
//! - `BillingReport`: trusted clients only;
//! - `GET /api/v1/transactions` (REST): any verified token, answered in JSON.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::all)]

pub(crate) mod pb {
    include!("payments.v1.rs");
}

use axum::Router;
use axum::routing::get;
use pb::payments_server::{Payments, PaymentsServer};
use pb::{
    BillingReportReply, BillingReportRequest, CreateTransactionRequest, ListTransactionsReply,
    ListTransactionsRequest, Transaction,
};
use permiso::grpc::{GrpcAuth, GrpcMethods};
use permiso::{AuthLayer, RequireLayer, Verifier};
use tonic::{Request, Response, Status};

pub(crate) const LIST: &str = "/payments.v1.Payments/ListTransactions";
pub(crate) const CREATE: &str = "/payments.v1.Payments/CreateTransaction";
pub(crate) const BILLING: &str = "/payments.v1.Payments/BillingReport";

#[derive(Debug, Default)]
pub(crate) struct PaymentsService;

#[tonic::async_trait]
impl Payments for PaymentsService {
    async fn list_transactions(
        &self,
        request: Request<ListTransactionsRequest>,
    ) -> Result<Response<ListTransactionsReply>, Status> {
        let caller = request.claims()?.client_id().unwrap_or_default().to_owned();
        let limit = request.get_ref().limit.clamp(1, 10);
        let transactions = (0..limit.min(2))
            .map(|i| Transaction {
                id: format!("tx-{i}"),
                amount_cents: 1250,
                currency: "EUR".into(),
                created_by: "ledger-service".into(),
            })
            .collect();
        Ok(Response::new(ListTransactionsReply { transactions, caller }))
    }

    async fn create_transaction(
        &self,
        request: Request<CreateTransactionRequest>,
    ) -> Result<Response<Transaction>, Status> {
        let caller =
            request.require_scopes(["write:transactions"])?.client_id().unwrap_or_default().to_owned();
        let body = request.into_inner();
        if body.amount_cents <= 0 {
            return Err(Status::invalid_argument("amount_cents must be positive"));
        }
        Ok(Response::new(Transaction {
            id: "tx-new".into(),
            amount_cents: body.amount_cents,
            currency: body.currency,
            created_by: caller,
        }))
    }

    async fn billing_report(
        &self,
        request: Request<BillingReportRequest>,
    ) -> Result<Response<BillingReportReply>, Status> {
        let caller = request.require_trusted()?.client_id().unwrap_or_default().to_owned();
        Ok(Response::new(BillingReportReply { report: "all settled".into(), caller }))
    }
}

/// Each method's requirement, declared once; a method not listed is refused.
pub(crate) fn methods() -> GrpcMethods {
    GrpcMethods::new()
        .method(LIST, RequireLayer::scopes(["read:transactions"]))
        .method(CREATE, RequireLayer::scopes(["write:transactions"]))
        .method(BILLING, RequireLayer::trusted_client())
        .deny_unlisted()
}

/// gRPC and REST behind one `AuthLayer`: each request is answered in its own form.
pub(crate) fn router(verifier: Verifier) -> Router {
    let grpc = tower::ServiceBuilder::new().layer(methods()).service(PaymentsServer::new(PaymentsService));
    Router::new()
        .route("/api/v1/transactions", get(|| async { axum::Json(serde_json::json!({"transactions": []})) }))
        .route_service("/payments.v1.Payments/{*method}", grpc)
        .layer(AuthLayer::new(verifier))
}
