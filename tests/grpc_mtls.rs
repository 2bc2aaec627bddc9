//! Certificate-bound tokens (RFC 8705) over gRPC: the payments tonic service of the
//! `grpc_service` example served by tonic's own TLS server (client certificates from a CA
//! made for this run), `AuthLayer` in front reading the peer certificates tonic records;
//! called by a tonic client presenting its certificate.

#[path = "support/certs.rs"]
mod certs;
#[path = "../examples/grpc_service/service.rs"]
mod service;

use std::time::Duration;

use permiso::testing::TestIssuer;
use permiso::{AuthLayer, Verifier};
use service::pb::ListTransactionsRequest;
use service::pb::payments_client::PaymentsClient;
use service::pb::payments_server::PaymentsServer;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};

async fn serve(idp: &TestIssuer, server: &certs::Pem, ca: &certs::Ca) -> String {
    let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&server.cert, &server.key))
        .client_ca_root(Certificate::from_pem(ca.pem()))
        .client_auth_optional(true);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let router = Server::builder()
        .tls_config(tls)
        .unwrap()
        .layer(AuthLayer::new(verifier))
        .layer(service::methods())
        .add_service(PaymentsServer::new(service::PaymentsService));
    tokio::spawn(router.serve(addr));
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    format!("https://localhost:{port}")
}

async fn list(
    base: &str,
    server: &certs::Pem,
    identity: Option<&certs::Pem>,
    token: &str,
) -> Result<String, tonic::Status> {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&server.cert)).domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    }
    let channel =
        Endpoint::try_from(base.to_owned()).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
    let mut req = tonic::Request::new(ListTransactionsRequest { limit: 10 });
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    PaymentsClient::new(channel).list_transactions(req).await.map(|r| r.into_inner().caller)
}

#[tokio::test]
async fn tonic_peer_certificates_bind_the_token() {
    let idp = TestIssuer::start().await;
    let (server, ca) = (certs::server(), certs::Ca::new());
    let (alice, mallory) = (ca.client("payment-service"), ca.client("mallory"));
    let base = serve(&idp, &server, &ca).await;
    let bound = idp.certificate_bound_token("payment-service", &["read:transactions"], &alice.thumbprint());

    assert_eq!(list(&base, &server, Some(&alice), &bound).await.unwrap(), "payment-service");
    for (who, identity) in [("another certificate", Some(&mallory)), ("no certificate", None)] {
        let status = list(&base, &server, identity, &bound).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{who}: {status:?}");
        let www = status.metadata().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
        assert!(www.contains("error=\"invalid_token\""), "{who}: {www}");
    }
    let plain = idp.token("payment-service", &["read:transactions"]);
    assert_eq!(list(&base, &server, None, &plain).await.unwrap(), "payment-service");
}
