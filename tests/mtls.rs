//! Certificate-bound tokens (RFC 8705) with permiso serving TLS itself
//! (`permiso::mtls::tls::TlsServer`): `payment_service`'s routes over HTTPS on loopback,
//! called by a real client presenting certificates made for this run.

#[path = "support/certs.rs"]
mod certs;
#[path = "../examples/payment_service/routes.rs"]
mod routes;
#[path = "support/served.rs"]
mod served;

use permiso::mtls::tls::{ClientCerts, TlsServer};
use permiso::testing::TestIssuer;
use serde_json::Value;

use certs::{Pem, https_client};

/// Serves the routes over TLS for `idp`'s tokens, with `extra` variables; the base URL.
async fn serve_tls(idp: &TestIssuer, server: &Pem, clients: ClientCerts, extra: &[(&str, &str)]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let auth = served::layer_for(idp, extra);
    let tls = TlsServer::from_pem(server.cert.as_bytes(), server.key.as_bytes(), clients).unwrap();
    tokio::spawn(tls.serve(listener, routes::router_with(auth, None)));
    base
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, String, Value) {
    let res = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    let www =
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, www, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bound_token_passes_only_with_its_certificate() {
    let idp = TestIssuer::start().await;
    let (server, alice, mallory) = (certs::server(), certs::client("alice"), certs::client("mallory"));
    let base = serve_tls(&idp, &server, ClientCerts::Any, &[]).await;
    let url = format!("{base}/api/v1/transactions");
    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());

    let (status, _, body) = get(&https_client(&server, Some(&alice)), &url, &bound).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["certificate_bound"], true);
    assert_eq!(body["caller"], "payment-service");

    for (who, client) in [("another certificate", Some(&mallory)), ("no certificate", None)] {
        let (status, www, body) = get(&https_client(&server, client), &url, &bound).await;
        assert_eq!(status, 401, "{who}: {body}");
        assert!(www.contains("error=\"invalid_token\""), "{who}: {www}");
        assert!(body["error_description"].as_str().unwrap().contains("certificate"), "{who}: {body}");
    }

    // An unbound token is unaffected by the certificate the client happens to present.
    let plain = idp.token("payment-service", &["read:transactions"]);
    let (status, _, body) = get(&https_client(&server, Some(&mallory)), &url, &plain).await;
    assert_eq!((status, &body["certificate_bound"]), (200, &Value::Bool(false)), "{body}");
    let (status, _, _) = get(&https_client(&server, None), &url, &plain).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_bound_token_is_refused_as_a_plain_bearer_token_without_tls() {
    let idp = TestIssuer::start().await;
    let alice = certs::client("alice");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/transactions", listener.local_addr().unwrap());
    let auth = served::layer_for(&idp, &[]);
    tokio::spawn(async move { axum::serve(listener, routes::router_with(auth, None)).await.unwrap() });
    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());
    let (status, www, body) = get(&reqwest::Client::new(), &url, &bound).await;
    assert_eq!(status, 401, "{body}");
    assert!(www.contains("error=\"invalid_token\""), "{www}");
}

#[tokio::test]
async fn required_binding_refuses_unbound_tokens() {
    let idp = TestIssuer::start().await;
    let (server, alice) = (certs::server(), certs::client("alice"));
    let base = serve_tls(&idp, &server, ClientCerts::Any, &[("PERMISO_CLIENT_CERT_REQUIRED", "true")]).await;
    let url = format!("{base}/api/v1/transactions");
    let client = https_client(&server, Some(&alice));

    let plain = idp.token("payment-service", &["read:transactions"]);
    let (status, www, body) = get(&client, &url, &plain).await;
    assert_eq!(status, 401, "{body}");
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert_eq!(body["error_description"], "a token bound to the client's TLS certificate is required");

    let key = permiso::dpop::DpopKey::generate().unwrap();
    let dpop_bound = idp.dpop_token("payment-service", &["read:transactions"], key.thumbprint());
    let (status, _, _) = get(&client, &url, &dpop_bound).await;
    assert_eq!(status, 401, "a DPoP-bound token is not certificate-bound");

    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());
    let (status, _, body) = get(&client, &url, &bound).await;
    assert_eq!((status, &body["certificate_bound"]), (200, &Value::Bool(true)), "{body}");
}

#[tokio::test]
async fn a_private_ca_accepts_only_the_certificates_it_signed() {
    let idp = TestIssuer::start().await;
    let (server, ca) = (certs::server(), certs::Ca::new());
    let (signed, self_signed) = (ca.client("payment-service"), certs::client("payment-service"));
    let base = serve_tls(&idp, &server, ClientCerts::ChainedTo(ca.pem().into_bytes()), &[]).await;
    let url = format!("{base}/api/v1/transactions");

    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &signed.thumbprint());
    let (status, _, body) = get(&https_client(&server, Some(&signed)), &url, &bound).await;
    assert_eq!((status, &body["certificate_bound"]), (200, &Value::Bool(true)), "{body}");

    // The handshake itself refuses a certificate the CA did not sign.
    let res = https_client(&server, Some(&self_signed)).get(&url).bearer_auth(&bound).send().await;
    assert!(res.is_err() || res.unwrap().status() != 200);
}

#[test]
fn bad_tls_material_is_a_named_error_that_never_shows_the_key() {
    let server = certs::server();
    let err = TlsServer::from_pem(b"no pem here", server.key.as_bytes(), ClientCerts::Any).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = TlsServer::from_pem(server.cert.as_bytes(), b"not a key", ClientCerts::Any).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    let other = certs::server();
    let err =
        TlsServer::from_pem(server.cert.as_bytes(), other.key.as_bytes(), ClientCerts::Any).unwrap_err();
    assert!(!err.to_string().contains(other.key.lines().nth(1).unwrap()), "{err}");
    let err =
        TlsServer::from_pem(server.cert.as_bytes(), server.key.as_bytes(), ClientCerts::ChainedTo(vec![]))
            .unwrap_err();
    assert!(err.to_string().contains("CA"), "{err}");
}
