//! Certificate-bound tokens (RFC 8705) behind a TLS-terminating proxy: nginx (started by the
//! test on loopback) in front of `payment_service`'s routes, forwarding the client's
//! certificate as `$ssl_client_escaped_cert`; the service configured only by
//! `PERMISO_CLIENT_CERT_*` and reading the header only from nginx's address.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "../examples/payment_service/routes.rs"]
mod routes;
#[path = "support/served.rs"]
mod served;

use std::net::SocketAddr;

use permiso::testing::TestIssuer;
use serde_json::Value;

/// The routes on 127.0.0.1, trusting certificate headers from nginx's address only.
async fn serve(idp: &TestIssuer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth = served::layer_for(
        idp,
        &[
            ("PERMISO_CLIENT_CERT_HEADER", "X-Client-Cert"),
            ("PERMISO_CLIENT_CERT_FORMAT", "pem-urlencoded"),
            ("PERMISO_CLIENT_CERT_TRUSTED_PROXIES", nginx::PROXY_ADDR),
            ("PERMISO_RESOURCE_METADATA", "true"),
            ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
        ],
    );
    let app = routes::router_with(auth, None).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get(client: &reqwest::Client, url: &str, token: &str, header: Option<&str>) -> (u16, String, Value) {
    let mut req = client.get(url).bearer_auth(token);
    if let Some(header) = header {
        req = req.header("x-client-cert", header);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www =
        res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, www, res.json().await.unwrap_or(Value::Null))
}

/// What nginx's `$ssl_client_escaped_cert` gives for `pem`.
fn escaped(pem: &str) -> String {
    pem.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn nginx_forwards_the_certificate_that_binds_the_token() {
    let idp = TestIssuer::start().await;
    let (server, alice, mallory) = (certs::server(), certs::client("alice"), certs::client("mallory"));
    let service = serve(&idp).await;
    let proxy = nginx::start(&server, &service.to_string());
    let url = format!("{}/api/v1/transactions", proxy.base);
    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());

    let (status, _, body) = get(&certs::https_client(&server, Some(&alice)), &url, &bound, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["certificate_bound"], true);

    for (who, client) in [("another certificate", Some(&mallory)), ("no certificate", None)] {
        let (status, www, body) = get(&certs::https_client(&server, client), &url, &bound, None).await;
        assert_eq!(status, 401, "{who}: {body}");
        assert!(www.contains("error=\"invalid_token\""), "{who}: {www}");
    }

    // A client cannot name a certificate through nginx either: nginx sets the header itself
    // (empty without a client certificate, so not sent) over whatever the client sent.
    let forged = escaped(&alice.cert);
    let (status, _, _) =
        get(&certs::https_client(&server, Some(&mallory)), &url, &bound, Some(forged.as_str())).await;
    assert_eq!(status, 401);
    let (status, _, _) = get(&certs::https_client(&server, None), &url, &bound, Some(forged.as_str())).await;
    assert_eq!(status, 401, "without a client certificate, nginx does not pass the client's header on");

    let plain = idp.token("payment-service", &["read:transactions"]);
    let (status, _, body) = get(&certs::https_client(&server, None), &url, &plain, None).await;
    assert_eq!((status, &body["certificate_bound"]), (200, &Value::Bool(false)), "{body}");
}

#[tokio::test]
async fn the_header_straight_from_a_client_is_refused() {
    let idp = TestIssuer::start().await;
    let alice = certs::client("alice");
    let service = serve(&idp).await;
    let url = format!("http://{service}/api/v1/transactions");
    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());
    let forged = escaped(&alice.cert);

    // From 127.0.0.1, not nginx's 127.0.0.2: refused whatever it says, never trusted.
    let (status, www, body) = get(&reqwest::Client::new(), &url, &bound, Some(forged.as_str())).await;
    assert_eq!(status, 400, "{body}");
    assert!(www.contains("error=\"invalid_request\""), "{www}");
    assert_eq!(
        body["error_description"],
        "the client certificate header is accepted only from a trusted proxy"
    );
    // Even with an unbound token, and even empty-looking.
    let plain = idp.token("payment-service", &["read:transactions"]);
    let (status, _, _) = get(&reqwest::Client::new(), &url, &plain, Some(forged.as_str())).await;
    assert_eq!(status, 400);
    // Without the header, the direct caller is judged as usual.
    let (status, _, _) = get(&reqwest::Client::new(), &url, &plain, None).await;
    assert_eq!(status, 200);

    // RFC 9728: the service says it takes certificate-bound tokens.
    let doc: Value = reqwest::get(format!("http://{service}/.well-known/oauth-protected-resource"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true, "{doc}");
}
