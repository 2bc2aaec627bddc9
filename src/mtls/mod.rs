//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf.x5t#S256` names a
//! client certificate passes [`AuthLayer`](crate::AuthLayer) only on a request made with
//! that certificate, so a stolen copy is useless without the certificate's private key — as
//! with DPoP, but with no proof to sign per request.
//!
//! The layer checks every bound token; what this module configures is where the request's
//! certificate comes from:
//!
//! - **permiso serving TLS itself**: [`tls::TlsServer`] (feature `tls`) accepts TLS connections
//!   with rustls, asks for client certificates and puts the peer's into each request's
//!   extensions as a [`ClientCertificate`];
//! - **your own acceptor**: insert a [`ClientCertificate`] (and a [`PeerAddr`]) yourself;
//! - **behind a TLS-terminating proxy** (nginx, Envoy, a mesh sidecar): a
//!   [`CertificateBinding`] naming the header the proxy writes, its [`CertHeaderFormat`] and
//!   the proxies' addresses. The same settings are `[client_cert]` in the settings tree
//!   (`PERMISO_CLIENT_CERT_HEADER`, `_FORMAT`, `_TRUSTED_PROXIES`, `_REQUIRED`).
//!
//! A bound token without its certificate, or with another, is answered 401 `invalid_token`
//! ([`AuthErrorKind::CertificateMismatch`](crate::AuthErrorKind::CertificateMismatch));
//! unbound tokens pass unless the binding is [required](CertificateBindingBuilder::required).
//! [`ServiceClient::is_certificate_bound`](crate::extract::ServiceClient::is_certificate_bound)
//! tells a handler which it got.
//!
//! ```
//! use permiso::mtls::{CertHeaderFormat, CertificateBinding};
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! let verifier = Verifier::builder(["payments"])
//!     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
//!     .build()?;
//! let layer = AuthLayer::builder(verifier)
//!     .client_certificates(
//!         CertificateBinding::builder()
//!             .header("x-forwarded-client-cert", CertHeaderFormat::Xfcc)
//!             .trusted_proxies(["127.0.0.1"])
//!             .build()?,
//!     )
//!     .build();
//! # let _ = layer;
//! # Ok::<(), permiso::ConfigError>(())
//! ```

mod binding;
mod cert;
mod proxy;
pub(crate) mod settings;
#[cfg(feature = "tls")]
pub mod tls;

pub(crate) use binding::CertProof;
pub use binding::{CertificateBinding, CertificateBindingBuilder};
#[cfg(feature = "client")]
pub(crate) use cert::pem_der;
pub use cert::{CertHeaderFormat, ClientCertificate};
pub use proxy::PeerAddr;
