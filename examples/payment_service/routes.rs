//! The payment service's routes, shared by the `payment_service` binary, the quickstart and
//! the integration tests.
//!
//! - `GET /health`: no authentication.
//! - `GET /metrics`: Prometheus text, when the service was given a recorder's handle.
//! - `GET /api/v1/transactions`: a service token with `read:transactions`.
//! - `POST /api/v1/transactions`: a service token with `write:transactions`.
//! - `GET /api/v1/admin/billing`: a trusted service client.

use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use permiso::extract::{RequireScopes, ServiceClient, TrustedClient};
use permiso::signing::SignatureLayer;
use permiso::{AuthLayer, ConfiguredAuthLayer, Verifier, scopes};
use serde_json::{Value, json};

scopes! {
    /// Read transactions.
    pub(crate) ReadTransactions = "read:transactions";
    /// Create transactions.
    pub(crate) WriteTransactions = "write:transactions";
}

/// The whole service: `/health` open, everything under `/api` behind one `AuthLayer` that
/// checks the token only.
#[allow(dead_code)] // not every program that includes this file uses both
pub(crate) fn router(verifier: Verifier) -> Router {
    router_with(AuthLayer::builder(verifier).signatures(None::<SignatureLayer>).build(), None)
}

/// The same behind `auth`, the `AuthLayer` with whatever stages it was configured with (token,
/// signatures, rate limits: one layer runs them in that order), `GET /metrics` rendering
/// `metrics` when given, and the RFC 9728 metadata document (open) when `auth` serves one
/// (`PERMISO_RESOURCE_METADATA=true`).
pub(crate) fn router_with(auth: ConfiguredAuthLayer, metrics: Option<PrometheusHandle>) -> Router {
    let api = Router::new()
        .route("/api/v1/transactions", get(list_transactions).post(create_transaction))
        .route("/api/v1/admin/billing", get(billing));
    let mut open = Router::new().route("/health", get(health));
    if let Some(handle) = metrics {
        open = open.route("/metrics", get(move || std::future::ready(handle.render())));
    }
    if let Some(metadata) = auth.resource_metadata() {
        open = open.route_service(metadata.well_known_path(), metadata.service());
    }
    open.merge(api.layer(auth))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn list_transactions(_: RequireScopes<ReadTransactions>, client: ServiceClient) -> Json<Value> {
    Json(json!({
        "transactions": [],
        "caller": client.client_id(),
        "dpop_bound": client.is_dpop_bound(),
        "certificate_bound": client.is_certificate_bound(),
    }))
}

async fn create_transaction(_: RequireScopes<WriteTransactions>, client: ServiceClient) -> Json<Value> {
    Json(json!({"created": true, "caller": client.client_id()}))
}

async fn billing(admin: TrustedClient) -> Json<Value> {
    Json(json!({"billing": "report", "caller": admin.client_id()}))
}
