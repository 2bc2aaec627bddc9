//! Per-client rate limits, a stage of [`AuthLayer`](crate::AuthLayer) (feature `rate-limit`).
//!
//! A [`RateLimitLayer`] given to the layer
//! ([`AuthLayerBuilder::rate_limits`](crate::AuthLayerBuilder::rate_limits)) counts each request
//! against the **verified** client (`client_id`, else `sub`, of the token the layer verified),
//! once every check before it passed (token, request signature), with GCRA: `per_minute`
//! requests a minute, evenly replenished, of which up to `burst` may come at once (by
//! default a whole minute's worth). A client over its limit gets 429 with `Retry-After`, the
//! IETF `RateLimit-Policy` / `RateLimit` fields (`"per-client";q=120;w=60` and
//! `"per-client";r=0;t=1`) and a JSON body `{"error": "rate_limited", …}`; allowed responses
//! carry the two `RateLimit` fields too, so well-behaved callers can pace themselves.
//!
//! Clients with an entry get their own limit; others get the default, if one is set (without
//! one they are not limited); exempt clients are never limited. Requests without a verified
//! token (an optional `AuthLayer`) are not counted. Clients are counted per issuer: named
//! limits and exemptions belong to the verifier's first issuer (the only one in a
//! single-issuer configuration), and a token of another issuer naming the same `client_id`
//! gets the default limit in a bucket of its own — never another issuer's exemption or
//! bucket.
//!
//! Two stores: in-process (the default: [`governor`](https://docs.rs/governor)'s GCRA, each
//! replica counting on its own) and Redis (feature `redis`: one atomic script per request on
//! key `permiso:rate_limit:<iss>:<client_id>`, so the whole fleet shares one count). Every Redis
//! call is bounded by a timeout (50 ms by default); when Redis cannot answer, requests are
//! allowed (the default) or refused with 503 ([`OnLimitStoreError`]), and Redis is left alone
//! for a second before it is asked again.
//!
//! ```
//! use axum::{Router, routing::get};
//! use permiso::limit::RateLimits;
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
//! let limits = RateLimits::new()
//!     .client("payment-service", 120) // its registered rate_limit_per_minute
//!     .default_per_minute(60)
//!     .exempt("billing-batch")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", get(|| async { "[]" }))
//!     .layer(AuthLayer::builder(verifier).rate_limits(limits).build());
//! # let _ = app;
//! # Ok::<(), permiso::ConfigError>(())
//! ```
//!
//! Configuration from the environment or TOML: [`RateLimits::from_env`].

mod config;
mod layer;
mod memory;
mod policy;
#[cfg(feature = "redis")]
mod redis;
mod settings;

pub use layer::{LimitFuture, RateLimitLayer, RateLimitService};
pub(crate) use layer::{LimitStep, with_headers};
pub use policy::{DEFAULT_RATE_LIMIT_KEY_PREFIX, DEFAULT_RATE_LIMIT_TIMEOUT, OnLimitStoreError};
pub use settings::RateLimits;
