//! The load bench's route behind jwt-authorizer 0.15 (axum 0.7), on one thread:
//!
//! `load-jwt-authorizer ALG ISS AUD JWKS_URL SECRET BIND`

use axum::routing::get;
use axum::Router;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, Validation};

async fn handler() -> &'static str {
    "[]"
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, alg, iss, aud, jwks_url, secret, bind] = &args[..] else {
        eprintln!("usage: load-jwt-authorizer ALG ISS AUD JWKS_URL SECRET BIND");
        std::process::exit(2);
    };
    let builder = if alg == "hs256" {
        JwtAuthorizer::<serde_json::Value>::from_secret(secret)
    } else {
        JwtAuthorizer::<serde_json::Value>::from_jwks_url(jwks_url)
    };
    let auth: Authorizer<serde_json::Value> =
        builder.validation(Validation::new().iss(&[iss]).aud(&[aud])).build().await.expect("authorizer");
    let app = Router::new().route("/api/v1/transactions", get(handler)).layer(auth.into_layer());
    let listener = tokio::net::TcpListener::bind(bind.as_str()).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}
