//! Certificate-bound tokens (RFC 8705) from a real third-party issuer: panva's
//! `oidc-provider` 9 with `mTLS.certificateBoundAccessTokens` and self-signed TLS client
//! authentication, run with Node.js on loopback. permiso's calling side gets a token over
//! mutual TLS (`ClientAuth::TlsClientAuth` with a `ClientIdentity`); the token names the
//! client's certificate, and `payment_service`'s routes served over TLS by permiso accept it
//! only with that certificate.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/oidc_provider.rs"]
mod provider;
#[path = "../examples/payment_service/routes.rs"]
mod routes;

use base64::Engine as _;
use permiso::AuthLayer;
use permiso::client::{ClientAuth, ClientIdentity, ServiceCredentials, TokenEndpoint, TokenSource};
use permiso::mtls::tls::{ClientCerts, TlsServer};
use serde_json::Value;

fn vars(issuer: &str) -> Vec<(&'static str, String)> {
    vec![
        ("PERMISO_ISSUER", issuer.to_owned()),
        ("PERMISO_AUDIENCE", "payments".to_owned()),
        ("PERMISO_DISCOVERY_URL", issuer.to_owned()),
        ("PERMISO_REQUIRE_AT_JWT", "true".to_owned()),
        ("PERMISO_SERVICE_TOKEN", "sub==client_id".to_owned()),
    ]
}

fn source(
    token_url: String,
    identity: Option<ClientIdentity>,
    server: &certs::Pem,
) -> Result<TokenSource, permiso::ConfigError> {
    let creds = ServiceCredentials::new("mtls-service", "", TokenEndpoint::Url(token_url))
        .with_scopes(["read:transactions"]);
    let root = reqwest::Certificate::from_pem(server.cert.as_bytes()).unwrap();
    let mut builder = TokenSource::builder(creds)
        .client_auth(ClientAuth::TlsClientAuth)
        .resource("https://payments.example/")
        .max_attempts(1)
        .http_client_builder(reqwest::Client::builder().tls_certs_only([root]));
    if let Some(identity) = identity {
        builder = builder.client_certificate(identity);
    }
    builder.build()
}

#[tokio::test]
async fn a_certificate_bound_token_from_oidc_provider_works_only_with_its_certificate() {
    let (server, alice, mallory) = (certs::server(), certs::client("mtls-service"), certs::client("mallory"));
    let dir = std::env::temp_dir().join(format!("permiso-oidc-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = server.write(&dir, "server");
    let mtls_port = provider::free_port();
    let env = [
        ("TLS_CERT", crt),
        ("TLS_KEY", key),
        ("MTLS_PORT", mtls_port.to_string()),
        ("MTLS_CLIENT_CERT", alice.cert.clone()),
    ];
    let (_node, port) =
        tokio::task::spawn_blocking(move || provider::start_provider_with(&env)).await.unwrap();
    let issuer = format!("http://127.0.0.1:{port}");
    let token_url = format!("https://127.0.0.1:{mtls_port}/token");

    // The calling side: the token request authenticated by alice's certificate.
    let identity = ClientIdentity::from_pem(alice.cert.as_bytes(), alice.key.as_bytes()).unwrap();
    assert_eq!(identity.thumbprint(), alice.thumbprint());
    assert!(!format!("{identity:?}").contains("PRIVATE"));
    let err = source(token_url.clone(), None, &server).unwrap_err();
    assert!(err.to_string().contains("client certificate"), "{err}");
    let tokens = source(token_url.clone(), Some(identity.clone()), &server).unwrap();
    let token = tokens.token().await.unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.secret().split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["cnf"]["x5t#S256"], alice.thumbprint(), "{payload}");
    assert_eq!(payload["client_id"], "mtls-service");

    // With another certificate, oidc-provider does not authenticate the client at all.
    let other = ClientIdentity::from_pem(mallory.cert.as_bytes(), mallory.key.as_bytes()).unwrap();
    let err = source(token_url, Some(other), &server).unwrap().token().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");

    // The receiving side, served over TLS by permiso.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}/api/v1/transactions", listener.local_addr().unwrap().port());
    let auth = AuthLayer::from_env_vars(vars(&issuer)).unwrap();
    let tls = TlsServer::from_pem(server.cert.as_bytes(), server.key.as_bytes(), ClientCerts::Any).unwrap();
    tokio::spawn(tls.serve(listener, routes::router_with(auth, None)));

    // The caller sends it over the same TLS identity it was bound to.
    let root = reqwest::Certificate::from_pem(server.cert.as_bytes()).unwrap();
    let caller = identity.apply(reqwest::Client::builder().tls_certs_only([root])).build().unwrap();
    let res = caller.get(&url).bearer_auth(token.secret()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (&body["caller"], &body["certificate_bound"]),
        (&Value::from("mtls-service"), &Value::Bool(true))
    );

    for (who, client) in [("another certificate", Some(&mallory)), ("no certificate", None)] {
        let res =
            certs::https_client(&server, client).get(&url).bearer_auth(token.secret()).send().await.unwrap();
        assert_eq!(res.status(), 401, "{who}");
        let www = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\""), "{who}: {www}");
    }

    // A plain bearer token on a service without mTLS: refused, never taken as unbound.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_url = format!("http://{}/api/v1/transactions", listener.local_addr().unwrap());
    let auth = AuthLayer::from_env_vars(vars(&issuer)).unwrap();
    tokio::spawn(async move { axum::serve(listener, routes::router_with(auth, None)).await.unwrap() });
    let res = reqwest::Client::new().get(&plain_url).bearer_auth(token.secret()).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_client_certificate_comes_from_the_environment() {
    let alice = certs::client("mtls-service");
    let dir = std::env::temp_dir().join(format!("permiso-mtls-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) = alice.write(&dir, "client");
    let vars = |extra: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = [
            ("MTLS_TOKEN_URL", "https://auth.example.com/token"),
            ("MTLS_CLIENT_ID", "mtls-service"),
            ("MTLS_CLIENT_CERT_FILE", crt.as_str()),
            ("MTLS_CLIENT_KEY_FILE", key.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        v.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        v.extend(
            extra.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        v
    };
    // No secret: the certificate authenticates the client.
    let source = TokenSource::from_env_vars("mtls", vars(&[])).unwrap();
    assert_eq!(source.client_certificate().unwrap().thumbprint(), alice.thumbprint());
    // A missing half, or a file that is not there, is named; the key never shows.
    for (extra, named) in [
        (&[("MTLS_CLIENT_KEY_FILE", "")][..], "MTLS_CLIENT_KEY_FILE"),
        (&[("MTLS_CLIENT_CERT_FILE", "/nonexistent/client.crt")][..], "MTLS_CLIENT_CERT_FILE"),
        (&[("MTLS_CLIENT_KEY_FILE", crt.as_str())][..], "MTLS_CLIENT_KEY_FILE"),
    ] {
        let err = TokenSource::from_env_vars("mtls", vars(extra)).unwrap_err().to_string();
        assert!(err.contains(named), "{extra:?}: {err}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
