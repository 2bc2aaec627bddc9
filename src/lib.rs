//! # permiso
//!
//! Service-to-service authentication for tower and axum, correct by default and fast.
//!
//! A resource server adds one [`AuthLayer`]: it verifies each request's bearer token once
//! with a [`Verifier`] (issuers, audiences, keys, rules) and answers every rejection itself
//! (RFC 6750: 401/400/403/503, `WWW-Authenticate`, a JSON body). Handlers state what they
//! need in their types with the [`extract`] extractors. A caller gets tokens with the
//! [`client`] module (feature `client`); a service tests itself against a real issuer on
//! loopback with [`testing::TestIssuer`] (feature `testing`).
//!
//! ```
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use permiso::extract::{RequireScopes, ServiceClient};
//! use permiso::testing::TestIssuer;
//! use permiso::{AuthLayer, Verifier, scopes};
//! use tower::ServiceExt;
//!
//! scopes! { pub ReadTransactions = "read:transactions"; }
//!
//! async fn list(_: RequireScopes<ReadTransactions>, client: ServiceClient) -> String {
//!     format!("transactions for {}", client.client_id())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // In production: `AuthLayer::from_env()?` (every stage, from PERMISO_* variables), or
//! // `AuthLayer::builder(Verifier::builder([...]).issuer(...).build()?)`.
//! let idp = TestIssuer::start().await;
//! let verifier = Verifier::builder(["keystone-auth"]).issuer(idp.issuer_config()).build().unwrap();
//! let app = Router::new().route("/transactions", get(list)).layer(AuthLayer::new(verifier));
//!
//! let token = idp.token("payment-service", &["read:transactions"]);
//! let req = Request::get("/transactions").header("authorization", format!("Bearer {token}"));
//! let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 200);
//!
//! let res = app.oneshot(Request::get("/transactions").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="keystone-auth""#);
//! # });
//! ```
//!
//! What is where (each item has one path):
//! - verifying: the [`Verifier`] and its [`VerifierBuilder`], [`Issuer`],
//!   [`ServiceTokenRule`]; configuration from the environment or a TOML file
//!   ([`Verifier::from_env`]);
//! - [`keys`]: `Key`, `KeySet` (shared secrets, PEM, JWK, JWKS) and `RemoteKeys`;
//! - [`revocation`]: `Revocation`, `MemoryRevocations`, `RedisRevocations` (feature `redis`);
//! - the tower side: [`AuthLayer`] (it leaves [`Authenticated`] in the extensions), the
//!   stages it runs after the token ([`AuthLayerBuilder`]: request signatures, rate limits, in
//!   one fixed order), the whole pipeline from the environment or a TOML file
//!   ([`AuthLayer::from_env`]), and the tower-only [`RequireLayer`]; the services, futures
//!   and body types they make are in [`layer`];
//! - [`extract`]: axum extractors (feature `axum`, on by default);
//! - what a verified token says: [`Claims`], [`ScopeSet`], [`scopes!`];
//! - rejections: [`AuthError`] and how it is answered over HTTP;
//! - [`bearer`]: finding the token in a request;
//! - [`client`]: the calling side (feature `client`); [`testing`]: `TestIssuer` (feature
//!   `testing`).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
pub mod bearer;
mod body;
mod cache;
mod claims;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod clock;
mod config_error;
mod context;
pub mod dpop;
mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
mod fetch;
pub mod grpc;
mod heap;
#[cfg(feature = "introspection")]
#[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
pub mod introspection;
#[cfg(not(feature = "introspection"))]
#[path = "introspection/off.rs"]
pub(crate) mod introspection;
pub mod keys;
pub mod layer;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub mod limit;
mod locations;
mod log;
mod metadata;
pub mod metrics;
pub mod mtls;
mod names;
mod on_error;
#[cfg(feature = "redis")]
mod redis;
mod replay;
mod require;
pub mod revocation;
mod scope;
pub mod signing;
mod token;
mod vars;
mod verifier;

/// Used by the `scopes!` expansion; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::scope::valid_scope_name;
}

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// Every code block of README.md, compiled (and run unless marked `no_run`) by
/// `cargo test --doc --all-features`, so the README cannot drift from the API.
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "client",
    feature = "redis",
    feature = "rate-limit",
    feature = "tonic",
    feature = "testing"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use cache::CacheStats;
pub use claims::Claims;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
pub use layer::{
    AuthLayer, AuthLayerBuilder, Authenticated, ConfiguredAuthLayer, DefaultRejection, OnRejection,
    RequireLayer,
};
pub use on_error::OnStoreError;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisTarget;

// Earlier paths, kept working: these items live in their modules (`permiso::keys`,
// `permiso::layer`, `permiso::revocation`), and the root shows only the core.
#[doc(hidden)]
pub use keys::{Key, KeyFetchError, KeySet, KeyStats, RemoteKeys};
#[doc(hidden)]
pub use layer::{AuthBody, AuthService, GuardFuture, RequireService, ResponseFuture};
#[cfg(feature = "redis")]
#[doc(hidden)]
pub use revocation::RedisRevocations;
#[doc(hidden)]
pub use revocation::{
    DEFAULT_MAX_STALENESS, DEFAULT_REVOCATION_KEY_PREFIX, DEFAULT_REVOCATION_TIMEOUT, MemoryRevocations,
    OnRevocationError, Revocation, RevocationError, RevocationList, RevocationStats,
};
pub use scope::{ScopeMarker, ScopeRules, ScopeSet, Scopes};
pub use verifier::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, Issuer, ServiceTokenRule, TokenCacheLimits, Verifier,
    VerifierBuilder,
};
