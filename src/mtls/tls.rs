//! permiso serving TLS itself (feature `tls`): a rustls acceptor that asks clients for
//! certificates and puts each connection's [`ClientCertificate`] and [`PeerAddr`] into every
//! request's extensions, where [`AuthLayer`](crate::AuthLayer) finds them.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use permiso::mtls::tls::{ClientCerts, TlsServer};
//!
//! # async fn run(app: Router) -> Result<(), Box<dyn std::error::Error>> {
//! let cert = std::fs::read("/etc/payments/tls/server.crt")?;
//! let key = std::fs::read("/etc/payments/tls/server.key")?;
//! // Any client certificate is asked for; the token's cnf.x5t#S256 decides whether it fits.
//! let tls = TlsServer::from_pem(&cert, &key, ClientCerts::Any)?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! tls.serve(listener, app).await;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{self, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tower_service::Service;

use super::cert::ClientCertificate;
use super::proxy::PeerAddr;
use crate::error::{ConfigError, ConfigErrorKind};

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send a request's head once the connection is idle or new.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Which client certificates the TLS handshake accepts. Either way a client may connect
/// without one (its bearer tokens are then judged as usual; a certificate-bound token is
/// refused, and so is every token when the binding is required).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientCerts {
    /// Any certificate the client proves it holds the key of, self-signed included: RFC 8705
    /// §2.2's `self_signed_tls_client_auth`, where the authorization server knows the
    /// certificate and the token names it. What the binding needs, and the default.
    Any,
    /// Only certificates that chain to one of these CA certificates (PEM), as for RFC 8705
    /// §2.1's `tls_client_auth` with a private CA.
    ChainedTo(Vec<u8>),
}

/// A TLS acceptor for permiso's services: a certificate and key for the server, and client
/// certificates asked for as [`ClientCerts`] says. HTTP/1.1 over TLS (for gRPC's HTTP/2,
/// serve with tonic's own TLS and feature `tonic-tls`).
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, message.into())
}

impl TlsServer {
    /// The server's certificate chain and private key (PEM: PKCS#8, PKCS#1 or SEC1), and
    /// the client certificates to accept.
    ///
    /// # Errors
    ///
    /// The PEM holds no certificate or no key, the key does not fit the certificate, or the
    /// CA certificates of [`ClientCerts::ChainedTo`] cannot be read. Never quotes the key.
    pub fn from_pem(cert_chain: &[u8], key: &[u8], clients: ClientCerts) -> Result<Self, ConfigError> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("the server's certificate PEM cannot be read"))?;
        if chain.is_empty() {
            return Err(invalid("the server's certificate PEM holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| invalid("the server's private key PEM holds no readable key"))?;
        let verifier: Arc<dyn ClientCertVerifier> = match clients {
            ClientCerts::Any => Arc::new(AnyClientCert(provider())),
            ClientCerts::ChainedTo(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|_| invalid("the client CA PEM cannot be read"))?;
                    roots.add(cert).map_err(|_| invalid("a client CA certificate is not valid"))?;
                }
                if roots.is_empty() {
                    return Err(invalid("the client CA PEM holds no certificate"));
                }
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| invalid(format!("the client CA certificates cannot be used: {e}")))?
            }
        };
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|_| invalid("the server's private key does not fit its certificate"))?;
        Ok(Self::from_config(Arc::new(config)))
    }

    /// Your own rustls configuration (its client certificate verifier decides which client
    /// certificates are accepted).
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        Self { acceptor: TlsAcceptor::from(config) }
    }

    /// Accepts connections on `listener` until the task is dropped, and serves each with
    /// `service` (an axum `Router`, or any tower service of `http::Request<Incoming>`):
    /// every request carries the connection's [`PeerAddr`] and, when the client presented
    /// one, its [`ClientCertificate`] (the leaf of its chain). A failed handshake closes that
    /// connection only.
    pub async fn serve<S, B>(self, listener: tokio::net::TcpListener, service: S)
    where
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(_e) => {
                    // Out of descriptors and the like: wait, then go on accepting.
                    crate::log::warn!(error = %_e, "permiso: TLS accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            tokio::spawn(Self::connection(self.acceptor.clone(), tcp, peer, service.clone()));
        }
    }

    async fn connection<S, B>(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, peer: SocketAddr, service: S)
    where
        S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
            return;
        };
        let cert = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first()).map(|leaf| {
            let der: Arc<[u8]> = leaf.as_ref().into();
            ClientCertificate::from_der(der)
        });
        let per_request = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            if let Some(cert) = &cert {
                req.extensions_mut().insert(cert.clone());
            }
            let mut service = service.clone();
            async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                service.call(req).await
            }
        });
        let io = hyper_util::rt::TokioIo::new(stream);
        // A client that never finishes its request head is dropped, as the handshake is.
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(io, per_request)
            .await;
    }
}

/// Accepts any client certificate whose key signed the handshake: the binding, not a CA,
/// decides what the certificate is good for (RFC 8705 §2.2, §3).
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
