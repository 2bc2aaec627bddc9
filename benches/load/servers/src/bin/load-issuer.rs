//! The key server for the load bench: a permiso `TestIssuer` on 127.0.0.1 serving a JWKS.
//! Prints, one per line: `url=…`, `iss=…`, `jwks=…`, `rs256=<token>`, `rs256_at=<the same claims
//! as an RFC 9068 at+jwt>`, `secret=<hs256 secret>`,
//! `hs256=<token>`, and for the DPoP variant `dpop_key=<base64 PKCS#8 of the caller's key>`,
//! `rs256_dpop=<token bound to it>`, `hs256_dpop=<token bound to it>`, and for the
//! introspection variant `introspect=<RFC 7662 endpoint>` and `opaque=<an opaque token>`
//! (the resource server is the client `payments-api` with secret
//! `load-bench-introspection-secret`), and for the certificate-binding variant
//! `mtls_cert=<a client certificate, URL-encoded PEM as nginx forwards it>`,
//! `rs256_mtls=<token bound to it>`, `hs256_mtls=<token bound to it>`; then `ready`, and
//! serves until killed.

use permiso::testing::{SigningKey, TestIssuer};
use permiso::Algorithm;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let idp = TestIssuer::builder()
        .token_lifetime(24 * 3600)
        .client("payments-api", "load-bench-introspection-secret", &[])
        .start()
        .await;
    let rs256 = idp.token("payment-service", &["read:transactions", "write:transactions"]);
    let secret = "load-bench-shared-secret-0123456789abcdef";
    let hs256 = SigningKey::hmac(Algorithm::HS256, secret)
        .sign(&idp.claims_for("payment-service", &["read:transactions", "write:transactions"]));
    println!("url={}", idp.url());
    println!("iss={}", idp.issuer());
    println!("jwks={}", idp.jwks_url());
    println!("rs256={rs256}");
    // The same claims as an RFC 9068 access token (`typ: at+jwt`), for peers that insist.
    let at_jwt = idp.active_key().sign_at_jwt(&idp.claims_for("payment-service", &["read:transactions", "write:transactions"]));
    println!("rs256_at={at_jwt}");
    println!("secret={secret}");
    println!("hs256={hs256}");
    let key = permiso::dpop::DpopKey::generate().expect("dpop key");
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    println!("dpop_key={}", b64(&key.to_pkcs8_der().expect("pkcs8")));
    let rs256_dpop = idp.dpop_token("payment-service", &["read:transactions", "write:transactions"], key.thumbprint());
    let mut bound = idp.claims_for("payment-service", &["read:transactions", "write:transactions"]);
    bound["cnf"] = serde_json::json!({ "jkt": key.thumbprint() });
    let hs256_dpop = SigningKey::hmac(Algorithm::HS256, secret).sign(&bound);
    println!("rs256_dpop={rs256_dpop}");
    println!("hs256_dpop={hs256_dpop}");
    println!("introspect={}", idp.introspection_url());
    println!("opaque={}", idp.opaque_token("payment-service", &["read:transactions", "write:transactions"]));
    // A client certificate as nginx's $ssl_client_escaped_cert gives it, and tokens bound to it.
    let cert = rcgen::generate_simple_self_signed(Vec::<String>::new()).expect("certificate");
    let escaped: String = cert
        .cert
        .pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let x5t = permiso::mtls::ClientCertificate::from_der(cert.cert.der().to_vec()).thumbprint();
    println!("mtls_cert={escaped}");
    println!("rs256_mtls={}", idp.certificate_bound_token("payment-service", &["read:transactions", "write:transactions"], &x5t));
    let mut bound = idp.claims_for("payment-service", &["read:transactions", "write:transactions"]);
    bound["cnf"] = serde_json::json!({ "x5t#S256": x5t });
    println!("hs256_mtls={}", SigningKey::hmac(Algorithm::HS256, secret).sign(&bound));
    println!("ready");
    let _ = tokio::signal::ctrl_c().await;
}
