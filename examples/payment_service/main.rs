//! The payment service of the permiso tutorial, protected by permiso and configured only from the
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
//! a TOML file (`PERMISO_CONFIG=path`). Revocation (`PERMISO_REVOCATION_*`, feature `redis`)
//! and request signatures (`PERMISO_SIGNATURES`, `PERMISO_SIGNING_SECRETS`,
//! `PERMISO_PUBLIC_BASE_URL`, …) and per-client rate limits (`PERMISO_RATE_LIMITS`,
//! `PERMISO_RATE_LIMIT_DEFAULT`, …) come from the environment too: `AuthLayer::from_env`
//! reads them all once and builds one layer that runs them in order. With `PERMISO_METRICS=true`
//! it serves Prometheus metrics on `GET /metrics` (`PERMISO_METRICS_CLIENT_ID_LABEL=true` adds
//! the verified client id as a label). Behind a TLS-terminating proxy, certificate-bound tokens
//! (RFC 8705) take their certificate from the proxy's header (`PERMISO_CLIENT_CERT_HEADER`,
//! `PERMISO_CLIENT_CERT_FORMAT`, `PERMISO_CLIENT_CERT_TRUSTED_PROXIES`). Rejections are logged to stderr at `info`. It listens
//! on `PERMISO_BIND` (default `127.0.0.1:8001`) and prints `listening on http://ADDR` once
//! ready.

mod routes;

use std::process::ExitCode;

use permiso::AuthLayer;

#[tokio::main]
async fn main() -> ExitCode {
    // The whole pipeline (token, signatures, rate limits) from one reading of the settings.
    let auth = match AuthLayer::from_env() {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("payment_service: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::INFO).init();
    let flag = |name: &str| std::env::var(name).is_ok_and(|v| matches!(v.trim(), "true" | "1" | "yes"));
    let metrics = if flag("PERMISO_METRICS") {
        permiso::metrics::include_client_ids(flag("PERMISO_METRICS_CLIENT_ID_LABEL"));
        // Histograms with buckets (cheaper per sample than summaries, and they aggregate).
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])
            .and_then(|b| b.install_recorder());
        match recorder {
            Ok(handle) => {
                // Histogram samples wait in the recorder until upkeep: run it regularly.
                let upkeep = handle.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
                Some(handle)
            }
            Err(e) => {
                eprintln!("payment_service: cannot install the metrics recorder: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
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
    eprintln!("payment_service: {auth:?}");
    let app = routes::router_with(auth, metrics);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // The peer address goes with each request: certificate headers (`PERMISO_CLIENT_CERT_*`)
    // are read only from the trusted proxies' addresses.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payment_service: {e}");
            ExitCode::FAILURE
        }
    }
}
