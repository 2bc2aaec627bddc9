//! # permiso
//!
//! Service-to-service authentication for tower and axum, correct by default and fast.
//!
//! A resource server builds one [`Verifier`] (issuers, audiences, keys, rules) and verifies
//! each bearer token once; handlers read the resulting [`Claims`]. Every rejection is an
//! [`AuthError`] that renders as an RFC 6750 response.
//!
//! ```
//! use permiso::{Issuer, Verifier};
//!
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
//!     .build()
//!     .expect("valid configuration");
//! # let _ = verifier;
//! ```
//!
//! Modules:
//! - [`verifier`]: the [`Verifier`] and its builder, [`Issuer`], [`ServiceTokenRule`];
//! - [`keys`]: [`Key`] and [`KeySet`] (shared secrets, PEM, JWK, JWKS);
//! - [`claims`], [`scope`]: what a verified token says;
//! - [`error`]: [`AuthError`] and how it is answered over HTTP.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
pub mod bearer;
mod cache;
pub mod claims;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod clock;
mod config;
pub mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
pub mod keys;
pub mod layer;
mod log;
mod require;
pub mod scope;
mod token;
pub mod verifier;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use cache::CacheStats;
pub use claims::Claims;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
pub use keys::{Key, KeyFetchError, KeySet, KeyStats, RemoteKeys};
pub use layer::{AuthLayer, AuthService, DefaultRejection, OnRejection, RequireLayer};
pub use scope::{ScopeRules, ScopeSet};
pub use verifier::{Issuer, ServiceTokenRule, Verifier, VerifierBuilder};
