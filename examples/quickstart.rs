//! The main demo, end to end on loopback: an issuer, a protected service, a caller.
//!
//! Run: `cargo run --example quickstart`
//!
//! 1. Starts a `TestIssuer` (permiso's `testing` kit): a real OAuth2 issuer on 127.0.0.1 with
//!    a JWKS and a client-credentials token endpoint, two registered clients.
//! 2. Serves the payment service (`examples/payment_service/routes.rs`) behind `AuthLayer`
//!    on a free port; its verifier fetches the issuer's keys over HTTP.
//! 3. Acts as callers: gets tokens from the token endpoint, forges a few bad ones, calls
//!    the routes, and prints what each call got.
//!
//! Exits 0 only if every outcome is the expected one.

#[path = "payment_service/routes.rs"]
mod routes;

use std::process::ExitCode;

use permiso::Verifier;
use permiso::testing::{SigningKey, TestIssuer};
use reqwest::Method;
use serde_json::Value;

/// What a call is, where it goes, its `Authorization` header, and the expected status and
/// `error`.
type Call<'a> = (&'a str, &'a Method, &'a str, Option<String>, (u16, &'a str));

#[tokio::main]
async fn main() -> ExitCode {
    // 1. The issuer: payment-service may read and write transactions; billing-service is an
    //    admin of transactions and trusted.
    let idp = TestIssuer::builder()
        .client("payment-service", "payment-secret", &["read:transactions", "write:transactions"])
        .trusted_client("billing-service", "billing-secret", &["admin:transactions"])
        .start()
        .await;

    // 2. The protected service.
    let verifier = Verifier::builder(["keystone-auth"])
        .issuer(idp.issuer_config())
        .build()
        .expect("valid configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        axum::serve(listener, routes::router(verifier)).await.expect("serve");
    });

    // 3. The callers.
    let http = reqwest::Client::new();
    let token = |client: &'static str, secret: &'static str, scope: Option<&'static str>| {
        let (http, url) = (http.clone(), idp.token_url());
        async move {
            let mut form =
                vec![("grant_type", "client_credentials"), ("client_id", client), ("client_secret", secret)];
            if let Some(s) = scope {
                form.push(("scope", s));
            }
            let res: Value = http.post(url).form(&form).send().await?.json().await?;
            Ok::<String, reqwest::Error>(res["access_token"].as_str().unwrap_or_default().to_owned())
        }
    };
    let (payment, read_only, billing) = match tokio::try_join!(
        token("payment-service", "payment-secret", None),
        token("payment-service", "payment-secret", Some("read:transactions")),
        token("billing-service", "billing-secret", None),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("quickstart: the token endpoint failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let expired = {
        let mut claims = idp.claims_for("payment-service", &["read:transactions"]);
        claims["exp"] = (claims["iat"].as_u64().unwrap_or(0) - 3600).into();
        idp.sign(&claims)
    };
    let forged = {
        // Same kid as the issuer's key, but signed by someone else's.
        let attacker = SigningKey::generate(permiso::Algorithm::RS256).with_kid("key-1");
        attacker.sign(&idp.claims_for("payment-service", &["read:transactions"]))
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let (get, post) = (Method::GET, Method::POST);
    let list = "/api/v1/transactions";
    let admin = "/api/v1/admin/billing";
    let calls: Vec<Call> = vec![
        ("health, no token", &get, "/health", None, (200, "-")),
        ("list, no token", &get, list, None, (401, "-")),
        ("list, malformed header", &get, list, Some("Bearer".into()), (400, "invalid_request")),
        ("list, valid token", &get, list, bearer(&payment), (200, "-")),
        ("list, expired token", &get, list, bearer(&expired), (401, "invalid_token")),
        ("list, bad signature", &get, list, bearer(&forged), (401, "invalid_token")),
        ("create, read-only token", &post, list, bearer(&read_only), (403, "insufficient_scope")),
        ("create, write scope", &post, list, bearer(&payment), (200, "-")),
        ("create, via admin:transactions", &post, list, bearer(&billing), (200, "-")),
        ("billing, untrusted client", &get, admin, bearer(&payment), (403, "insufficient_scope")),
        ("billing, trusted client", &get, admin, bearer(&billing), (200, "-")),
    ];

    let count = calls.len();
    println!("{:<32} {:<5} {:<22} {:<4} reason", "call", "code", "error", "ok");
    let mut failures = 0;
    for (what, method, path, auth, expect) in calls {
        let mut req = http.request(method.clone(), format!("{base}{path}"));
        if let Some(auth) = &auth {
            req = req.header("authorization", auth);
        }
        let (status, error, reason) = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                let error = body["error"]
                    .as_str()
                    .map_or("-", |e| if e == "unauthorized" { "-" } else { e })
                    .to_owned();
                let reason = body["error_description"].as_str().map_or_else(
                    || body["caller"].as_str().map(|c| format!("caller {c}")).unwrap_or_default(),
                    str::to_owned,
                );
                (status, error, reason)
            }
            Err(e) => (0, "-".to_owned(), format!("request failed: {e}")),
        };
        let ok = (status, error.as_str()) == expect;
        failures += usize::from(!ok);
        let mark = if ok { "yes" } else { "NO" };
        println!("{what:<32} {status:<5} {error:<22} {mark:<4} {reason}");
    }
    println!("\nJWKS fetched {} time(s) for {count} calls", idp.jwks_fetches());
    if failures == 0 {
        println!("all outcomes as expected");
        ExitCode::SUCCESS
    } else {
        println!("{failures} unexpected outcome(s)");
        ExitCode::FAILURE
    }
}
