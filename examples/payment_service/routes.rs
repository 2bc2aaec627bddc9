//! The payment service's routes, shared by the `payment_service` binary, the quickstart and
//! the integration tests.
//!
//! - `GET /health`: no authentication.
//! - `GET /api/v1/transactions`: a service token with `read:transactions`.
//! - `POST /api/v1/transactions`: a service token with `write:transactions`.
//! - `GET /api/v1/admin/billing`: a trusted service client.

use axum::routing::get;
use axum::{Json, Router};
use permiso::extract::{RequireScopes, ServiceClient, TrustedClient};
use permiso::signing::SignatureLayer;
use permiso::{AuthLayer, Verifier, scopes};
use serde_json::{Value, json};

scopes! {
    /// Read transactions.
    pub(crate) ReadTransactions = "read:transactions";
    /// Create transactions.
    pub(crate) WriteTransactions = "write:transactions";
}

/// The whole service: `/health` open, everything under `/api` behind one `AuthLayer`.
#[allow(dead_code)] // not every program that includes this file uses both
pub(crate) fn router(verifier: Verifier) -> Router {
    router_with(verifier, None)
}

/// The same, checking request signatures after the token when `signing` is given.
pub(crate) fn router_with(verifier: Verifier, signing: Option<SignatureLayer>) -> Router {
    let api = Router::new()
        .route("/api/v1/transactions", get(list_transactions).post(create_transaction))
        .route("/api/v1/admin/billing", get(billing));
    let api = match signing {
        Some(layer) => api.layer(layer),
        None => api,
    };
    Router::new().route("/health", get(health)).merge(api.layer(AuthLayer::new(verifier)))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn list_transactions(_: RequireScopes<ReadTransactions>, client: ServiceClient) -> Json<Value> {
    Json(json!({"transactions": [], "caller": client.client_id()}))
}

async fn create_transaction(_: RequireScopes<WriteTransactions>, client: ServiceClient) -> Json<Value> {
    Json(json!({"created": true, "caller": client.client_id()}))
}

async fn billing(admin: TrustedClient) -> Json<Value> {
    Json(json!({"billing": "report", "caller": admin.client_id()}))
}
