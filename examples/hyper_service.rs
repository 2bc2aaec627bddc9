//! The payment service's protection on plain hyper, without axum: `AuthLayer` verifies, one
//! `RequireLayer` per route decides.
//!
//! Run: `cargo run --example hyper_service`
//!
//! It starts a `TestIssuer`, serves three routes with hyper on a free port, calls each with a
//! token that should pass and one that should not, prints the outcomes, and exits non-zero if
//! one is unexpected.

use std::convert::Infallible;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use permiso::testing::TestIssuer;
use permiso::{AuthLayer, RequireLayer, Verifier, scopes};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

scopes! {
    ReadTransactions = "read:transactions";
    WriteTransactions = "write:transactions";
}

type Body = Full<Bytes>;

/// What every protected route answers once let in.
async fn handler(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let client = req
        .extensions()
        .get::<permiso::Authenticated>()
        .and_then(|auth| auth.claims().client_id().map(str::to_owned))
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(json!({"caller": client}).to_string()))))
}

#[tokio::main]
async fn main() -> ExitCode {
    let idp = TestIssuer::start().await;
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().expect("config");

    // One tower stack per route: verify once, then the route's requirement.
    let auth = AuthLayer::new(verifier);
    let read = ServiceBuilder::new()
        .layer(auth.clone())
        .layer(RequireLayer::require_scopes::<ReadTransactions>())
        .service_fn(handler);
    let write = ServiceBuilder::new()
        .layer(auth.clone())
        .layer(RequireLayer::require_scopes::<WriteTransactions>())
        .service_fn(handler);
    let billing = ServiceBuilder::new().layer(auth).layer(RequireLayer::trusted_client()).service_fn(handler);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (read, write, billing) = (read.clone(), write.clone(), billing.clone());
            let router = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (read, write, billing) = (read.clone(), write.clone(), billing.clone());
                async move {
                    let route = (req.method().clone(), req.uri().path().to_owned());
                    let res = match (route.0.as_str(), route.1.as_str()) {
                        ("GET", "/api/v1/transactions") => read.oneshot(req).await?,
                        ("POST", "/api/v1/transactions") => write.oneshot(req).await?,
                        ("GET", "/api/v1/admin/billing") => billing.oneshot(req).await?,
                        _ => {
                            let mut res = Response::new(Either::Right(Full::new(Bytes::from_static(b"{}"))));
                            *res.status_mut() = StatusCode::NOT_FOUND;
                            return Ok::<_, Infallible>(res);
                        }
                    };
                    Ok(res.map(Either::Left))
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, router).await;
            });
        }
    });

    let reader = idp.token("reporting-service", &["read:transactions"]);
    let writer = idp.token("payment-service", &["write:transactions"]);
    let admin = {
        let mut c = idp.claims_for("billing-service", &[]);
        c["is_trusted"] = json!(true);
        idp.sign(&c)
    };
    let http = reqwest::Client::new();
    let calls = [
        ("GET", "/api/v1/transactions", &reader, 200),
        ("GET", "/api/v1/transactions", &writer, 403),
        ("POST", "/api/v1/transactions", &writer, 200),
        ("POST", "/api/v1/transactions", &reader, 403),
        ("GET", "/api/v1/admin/billing", &admin, 200),
        ("GET", "/api/v1/admin/billing", &reader, 403),
    ];
    let mut failures = 0;
    for (method, path, token, expect) in calls {
        let method = method.parse().expect("method");
        let res = http.request(method, format!("{base}{path}")).bearer_auth(token).send().await;
        let status = res.map_or(0, |r| r.status().as_u16());
        let ok = status == expect;
        failures += usize::from(!ok);
        println!("{path:<24} expected {expect} got {status} {}", if ok { "ok" } else { "UNEXPECTED" });
    }
    if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
