//! The calling side: get a client-credentials token and call a protected route with it.
//!
//! Run against running services, configured from the environment in the naming of permiso's Python client:
//!
//! ```sh
//! AUTH_SERVICE_URL=http://127.0.0.1:8000/api/v1 \
//! PAYMENT_CLIENT_ID=payment-service PAYMENT_CLIENT_SECRET=… \
//! PAYMENT_SCOPES="read:transactions" PAYMENT_SERVICE_URL=http://127.0.0.1:8001 \
//! cargo run --features client --example client
//! ```
//!
//! The secret may come from `PAYMENT_CLIENT_SECRET_FILE` or, Fernet-encrypted, from
//! `PAYMENT_CLIENT_SECRET_ENCRYPTED` with `ENCRYPTION_KEY`. With
//! `PERMISO_TOKEN_CACHE_REDIS_URL=redis://…` (and `--features client,redis`) every replica
//! shares one token through Redis, in the format of permiso's Python `TokenCache`.
//!
//! With `PAYMENT_TOKEN_URL` instead of `AUTH_SERVICE_URL` it uses any OAuth2 token endpoint
//! (`PAYMENT_RESOURCE` names an RFC 8707 resource); with `PAYMENT_DPOP=true` it gets a
//! DPoP-bound token and sends a proof with each call.
//!
//! Without either it starts its own `TestIssuer` and `payment_service` on loopback
//! and calls those, so `cargo run --features client --example client` works anywhere.

#[path = "payment_service/routes.rs"]
mod routes;

use std::process::ExitCode;

use permiso::Verifier;
use permiso::client::{RemoteService, TokenSource};
use permiso::testing::TestIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    // Keeps the in-process issuer alive for the whole run when there is one.
    let mut _issuer = None;
    let from_env = ["AUTH_SERVICE_URL", "PAYMENT_TOKEN_URL"].iter().any(|v| std::env::var_os(v).is_some());
    let configured = if from_env {
        TokenSource::from_env("payment")
            .and_then(|source| Ok((RemoteService::from_env("payment", source.clone())?, source)))
    } else {
        let idp = TestIssuer::builder()
            .client("payment-service", "payment-secret", &["read:transactions"])
            .start()
            .await;
        let verifier =
            Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().expect("config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, routes::router(verifier)).await });
        println!("no AUTH_SERVICE_URL: using an in-process issuer at {} and service at {target}", idp.url());
        let mut vars = vec![
            ("AUTH_SERVICE_URL".to_owned(), format!("{}/api/v1", idp.url())),
            ("PAYMENT_CLIENT_ID".to_owned(), "payment-service".to_owned()),
            ("PAYMENT_CLIENT_SECRET".to_owned(), "payment-secret".to_owned()),
            ("PAYMENT_SCOPES".to_owned(), "read:transactions".to_owned()),
            ("PAYMENT_SERVICE_URL".to_owned(), target),
        ];
        // The shared store, when the environment asks for it, with the in-process services too.
        for name in ["PERMISO_TOKEN_CACHE_REDIS_URL", "PERMISO_TOKEN_CACHE_TIMEOUT_MS"] {
            if let Ok(value) = std::env::var(name) {
                vars.push((name.to_owned(), value));
            }
        }
        _issuer = Some(idp);
        TokenSource::from_env_vars("payment", vars.clone())
            .and_then(|source| Ok((RemoteService::from_env_vars("payment", source.clone(), vars)?, source)))
    };
    let (payments, source) = match configured {
        Ok(c) => c,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("PERMISO_TOKEN_CACHE_REDIS_URL").is_some() {
        println!("sharing the token through Redis (PERMISO_TOKEN_CACHE_REDIS_URL)");
    }

    let mut ok = true;
    for _ in 0..3 {
        match payments.get("/api/v1/transactions").send().await {
            Ok(res) => {
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                println!("GET /api/v1/transactions -> {status} {body}");
                ok &= status.is_success();
            }
            Err(e) => {
                println!("GET /api/v1/transactions failed: {e}");
                ok = false;
            }
        }
    }
    println!("token requests sent: {} (the token is cached between calls)", source.fetches());
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
