//! Tokens judged by their issuer: OAuth 2.0 Token Introspection (RFC 7662), and the permiso
//! auth server's `POST /api/v1/auth/introspect` (feature `introspection`).
//!
//! Introspection is for two cases: a service that must not hold the permiso server's HS256
//! signing secret (whoever holds it can mint any service token), and an issuer that hands
//! out **opaque** tokens (oidc-provider's client-credentials tokens by default, Ory Hydra,
//! Keycloak's lightweight tokens), which only the issuer can judge.
//!
//! An issuer is judged by introspection instead of local verification
//! ([`Issuer::introspected`](crate::Issuer::introspected)) or besides it
//! ([`Issuer::introspection`](crate::Issuer::introspection)). A token of JWT shape whose `iss`
//! is an issuer with keys is verified locally; any other token goes to the introspecting
//! issuer. The answer becomes the same [`Claims`](crate::Claims) a verified JWT gives (`scope`,
//! `client_id`, `aud`, `exp`, `cnf`), so extractors, DPoP binding, revocation, request
//! signatures and rate limits work unchanged.
//!
//! ## The cache
//! Keyed by the SHA-256 of the token (the token itself is never stored). An active answer is
//! kept until the earlier of [`cache_max`](Introspection::cache_max) (default 60 s) and the
//! token's `exp`; an inactive one for [`negative_cache`](Introspection::negative_cache)
//! (default 10 s), so a token replayed in a flood costs one call. Concurrent requests with
//! the same new token share one call. Bounded in entries and bytes. Audience, expiry, service
//! token, binding and revocation are checked on every request, hits included.
//!
//! When the endpoint is down, slow or answers garbage, requests get 503
//! `temporarily_unavailable` with `Retry-After`, never 401: callers must not throw away
//! good tokens. An optional [`grace`](Introspection::grace) keeps tokens already known
//! active for a bounded time past their cache lifetime while the endpoint cannot answer.
//!
//! ```
//! use std::time::Duration;
//! use permiso::introspection::Introspection;
//! use permiso::{Issuer, Verifier};
//!
//! // An RFC 7662 endpoint (Keycloak, Hydra, oidc-provider…), with client_secret_basic.
//! let introspection = Introspection::rfc7662("https://idp.example/token/introspection")
//!     .client_secret_basic("payments-api", "its-secret")
//!     .cache_max(Duration::from_secs(30));
//! let verifier = Verifier::builder(["payments"])
//!     .issuer(Issuer::introspected("https://idp.example", introspection))
//!     .build()?;
//! # let _ = verifier;
//! # Ok::<(), permiso::ConfigError>(())
//! ```
//!
//! permiso's own endpoint takes the resource server's own client-credentials token as
//! bearer, from a [`TokenSource`](crate::client::TokenSource) (fetched once, refreshed before
//! it expires and once on a 401):
//!
//! ```
//! use permiso::client::{ServiceCredentials, TokenEndpoint, TokenSource};
//! use permiso::introspection::Introspection;
//! use permiso::{Issuer, Verifier};
//!
//! let own = TokenSource::new(ServiceCredentials::new(
//!     "payments-api",
//!     "its-secret",
//!     TokenEndpoint::Url("https://auth.example/api/v1/auth/service-token".into()),
//! ))?;
//! let introspection = Introspection::permiso("https://auth.example/api/v1/auth/introspect", own);
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso_introspected("keystone-auth", introspection))
//!     .build()?;
//! # let _ = verifier;
//! # Ok::<(), permiso::ConfigError>(())
//! ```

mod answer;
mod cache;
mod config;
mod endpoint;
mod judge;
pub(crate) mod settings;

pub use config::{
    DEFAULT_CACHE_MAX, DEFAULT_MAX_BYTES, DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_MAX_ENTRIES,
    DEFAULT_NEGATIVE_CACHE, DEFAULT_TIMEOUT, Introspection, IntrospectionStyle,
};
pub use judge::IntrospectionStats;
pub(crate) use judge::Introspector;
