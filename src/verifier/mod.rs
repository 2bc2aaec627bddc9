//! The one configuration object: which issuers, which audiences, which keys, which rules.
//!
//! ```
//! use permiso::{Issuer, Verifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let secret = b"a-shared-secret-of-at-least-32-bytes!!";
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", secret))
//!     .build()?;
//!
//! // A token in permiso's exact shape, as its server mints them.
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let claims = serde_json::json!({
//!     "iss": "keystone-auth", "aud": ["keystone-auth"], "sub": "payment-service",
//!     "exp": now + 3600, "iat": now, "nbf": now, "jti": "2b1f0c1e",
//!     "type": "service", "client_id": "payment-service",
//!     "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
//! });
//! let token = jsonwebtoken::encode(
//!     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
//!     &claims,
//!     &jsonwebtoken::EncodingKey::from_secret(secret)?,
//! )?;
//!
//! let verified = verifier.verify(&token).await?;
//! assert_eq!(verified.client_id(), Some("payment-service"));
//! assert!(verified.is_service_token());
//! assert!(verified.scopes().satisfies("read:transactions"));
//!
//! let err = verifier.verify("not-a-token").await.unwrap_err();
//! assert_eq!(err.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod builder;
mod checks;
pub(crate) mod config;
mod engine;
mod introspected;
mod issuer;
mod service_rule;
#[cfg(test)]
mod tests;

pub use builder::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, TokenCacheLimits, VerifierBuilder};
pub use engine::Verifier;
pub(crate) use engine::{Admit, Presented, Verdict, VerifyFuture};
pub use issuer::Issuer;
pub use service_rule::ServiceTokenRule;
