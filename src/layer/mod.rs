//! The tower layer that verifies each request's bearer token once.
//!
//! [`AuthLayer`] wraps any tower service taking `http::Request<B>` (axum, plain hyper,
//! tonic). For each request it finds the bearer token ([`crate::bearer::extract`]), verifies
//! it with the [`Verifier`](crate::Verifier), and either puts the claims in the request extensions as
//! [`Authenticated`] and calls the inner service, or answers the rejection itself: 401/400/403/503
//! with an RFC 6750 `WWW-Authenticate` header and a JSON body. It never returns an error to the
//! server.
//!
//! ```
//! use axum::{Router, routing::get};
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", get(|| async { "[]" }))
//!     .layer(AuthLayer::new(verifier));
//! # let _ = app;
//! ```
//!
//! Request signatures and rate limits are stages of the same layer, run in one fixed order
//! after the token: see [`AuthLayer::builder`]. Per-route requirements go in the handlers'
//! extractors (`RequireScopes`, `ServiceClient`, `TrustedClient`), or, without axum, in a
//! [`RequireLayer`].

mod builder;
mod config;
mod future;
mod guard;
mod service;
mod stages;

pub use crate::body::AuthBody;
pub use crate::context::{Authenticated, DefaultRejection, OnRejection};
pub use crate::locations::TokenLocations;
pub use crate::metadata::{MetadataService, ResourceMetadata};
pub use builder::AuthLayerBuilder;
pub use config::ConfiguredAuthLayer;
pub use future::ResponseFuture;
pub use guard::{GuardFuture, RequireLayer, RequireService};
pub use service::{AuthLayer, AuthService};
