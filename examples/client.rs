//! The calling side: get a client-credentials token and call a protected route with it.
//!
//! Run against running services, configured from the environment in the seed's naming:
//!
//! ```sh
//! AUTH_SERVICE_URL=http://127.0.0.1:8000/api/v1 \
//! PAYMENT_CLIENT_ID=payment-service PAYMENT_CLIENT_SECRET=… \
//! PAYMENT_SCOPES="read:transactions" TARGET_URL=http://127.0.0.1:8001 \
//! cargo run --features client --example client
//! ```
//!
//! Without `AUTH_SERVICE_URL` it starts its own `TestIssuer` and `payment_service` on loopback
//! and calls those, so `cargo run --features client --example client` works anywhere.

#[path = "payment_service/routes.rs"]
mod routes;

use std::process::ExitCode;

use permiso::Verifier;
use permiso::client::{BearerMiddleware, ServiceCredentials, TokenSource};
use permiso::testing::TestIssuer;

#[tokio::main]
async fn main() -> ExitCode {
    // Keeps the in-process issuer alive for the whole run when there is one.
    let mut _issuer = None;
    let (creds, target) = if std::env::var_os("AUTH_SERVICE_URL").is_some() {
        let creds = match ServiceCredentials::from_env("payment") {
            Ok(c) => c,
            Err(e) => {
                eprintln!("client: {e}");
                return ExitCode::from(2);
            }
        };
        (creds, std::env::var("TARGET_URL").unwrap_or_else(|_| "http://127.0.0.1:8001".into()))
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
        let creds = ServiceCredentials::from_env_vars(
            "payment",
            [
                ("AUTH_SERVICE_URL", format!("{}/api/v1", idp.url())),
                ("PAYMENT_CLIENT_ID", "payment-service".into()),
                ("PAYMENT_CLIENT_SECRET", "payment-secret".into()),
                ("PAYMENT_SCOPES", "read:transactions".into()),
            ],
        )
        .expect("credentials");
        println!("no AUTH_SERVICE_URL: using an in-process issuer at {} and service at {target}", idp.url());
        _issuer = Some(idp);
        (creds, target)
    };

    let source = match TokenSource::new(creds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(2);
        }
    };
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerMiddleware::new(source.clone()))
        .build();
    let mut ok = true;
    for _ in 0..3 {
        match http.get(format!("{target}/api/v1/transactions")).send().await {
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
