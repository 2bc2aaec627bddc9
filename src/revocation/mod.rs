//! Revocation: a revoked token stops working at every replica, within a bounded staleness.
//!
//! The permiso server revokes a token by writing the Redis key `revoked_token:<jti>` (value
//! `"1"`, TTL until the token's `exp`). A verifier with a [`Revocation`] asks its
//! [`RevocationList`] about every request's `jti` — verified-token cache hits included —
//! after the token itself verified:
//!
//! - a "not revoked" answer is reused locally for at most `max_staleness` (default 1 s; zero
//!   asks every time); a "revoked" answer is kept until the token's `exp`;
//! - concurrent checks of one `jti` share one request to the list;
//! - every request to the list is bounded by `timeout` (default 100 ms); when the list
//!   cannot answer, `on_error` decides: [`OnRevocationError::Reject`] (the default) answers
//!   503 `temporarily_unavailable` with `Retry-After: 1`, [`OnRevocationError::Allow`] lets
//!   the request through, logs it and counts it;
//! - a token without `jti` is refused (401 `invalid_token`): it cannot be looked up.
//!
//! Lists: [`MemoryRevocations`] (one process, and users' tests), `RedisRevocations`
//! (feature `redis`, permiso's own schema, one server or a Cluster), or your own.
//!
//! ```
//! use std::time::Duration;
//! use permiso::revocation::{MemoryRevocations, Revocation};
//! use permiso::{Issuer, Verifier};
//!
//! let revoked = MemoryRevocations::new();
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
//!     .revocation(Revocation::new(revoked.clone()).max_staleness(Duration::ZERO))
//!     .build()
//!     .unwrap();
//! revoked.revoke("2b1f0c1e", u64::MAX); // jti, and until when (the token's exp)
//! # let _ = verifier;
//! ```

mod check;
mod memory;
mod policy;
#[cfg(feature = "redis")]
mod redis;
pub(crate) mod settings;

pub(crate) use check::{Checker, Local};
pub use memory::MemoryRevocations;
pub use policy::{
    DEFAULT_MAX_STALENESS, DEFAULT_REVOCATION_KEY_PREFIX, DEFAULT_REVOCATION_TIMEOUT, OnRevocationError,
    Revocation, RevocationError, RevocationList, RevocationStats,
};
#[cfg(feature = "redis")]
pub use redis::RedisRevocations;
