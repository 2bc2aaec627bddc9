//! The key server for the load bench: a permiso `TestIssuer` on 127.0.0.1 serving a JWKS.
//! Prints, one per line: `url=…`, `iss=…`, `jwks=…`, `rs256=<token>`, `secret=<hs256 secret>`,
//! `hs256=<token>`, then serves until killed.

use permiso::testing::{SigningKey, TestIssuer};
use permiso::Algorithm;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let idp = TestIssuer::builder().token_lifetime(24 * 3600).start().await;
    let rs256 = idp.token("payment-service", &["read:transactions", "write:transactions"]);
    let secret = "load-bench-shared-secret-0123456789abcdef";
    let hs256 = SigningKey::hmac(Algorithm::HS256, secret)
        .sign(&idp.claims_for("payment-service", &["read:transactions", "write:transactions"]));
    println!("url={}", idp.url());
    println!("iss={}", idp.issuer());
    println!("jwks={}", idp.jwks_url());
    println!("rs256={rs256}");
    println!("secret={secret}");
    println!("hs256={hs256}");
    let _ = tokio::signal::ctrl_c().await;
}
