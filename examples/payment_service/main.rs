//! The seed tutorial's payment service, protected by permiso and configured only from the
//! environment: what an operator points at a real permiso or OIDC server.
//!
//! Run against a permiso server (HS256 shared secret):
//!
//! ```sh
//! PERMISO_ISSUER=keystone-auth PERMISO_AUDIENCE=keystone-auth \
//! PERMISO_HS256_SECRET=… cargo run --example payment_service
//! ```
//!
//! or against an OIDC issuer (`PERMISO_DISCOVERY_URL=https://…`), or with several issuers from
//! a TOML file (`PERMISO_CONFIG=path`). It listens on `PERMISO_BIND` (default
//! `127.0.0.1:8001`) and prints `listening on http://ADDR` once ready.

mod routes;

use std::process::ExitCode;

use permiso::Verifier;

#[tokio::main]
async fn main() -> ExitCode {
    let verifier = match Verifier::from_env() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("payment_service: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let bind = std::env::var("PERMISO_BIND").unwrap_or_else(|_| "127.0.0.1:8001".into());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("payment_service: cannot listen on {bind}: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().expect("bound address");
    println!("listening on http://{addr}");
    let app = routes::router(verifier);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payment_service: {e}");
            ExitCode::FAILURE
        }
    }
}
