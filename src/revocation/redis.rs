//! permiso's own revocation list in Redis: key `<prefix><jti>`, present means revoked.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::policy::{DEFAULT_REVOCATION_KEY_PREFIX, Revocation, RevocationError, RevocationList};
use crate::error::ConfigError;
use crate::redis::{Redis, RedisTarget};

/// The revocation list the permiso server writes: Redis key `<prefix><jti>` (prefix
/// `revoked_token:` by default) with a TTL until the token's `exp`; present means revoked.
/// One server or a Cluster (see [`RedisTarget`]); each request is one `EXISTS`, bounded by
/// the [`Revocation`]'s timeout.
///
/// ```
/// use permiso::revocation::RedisRevocations;
/// use permiso::{Issuer, Verifier};
///
/// let revocation = RedisRevocations::new("redis://127.0.0.1:6379")?.revocation();
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .revocation(revocation) // nothing connects until the first request
///     .build()?;
/// # let _ = verifier;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisRevocations {
    target: RedisTarget,
    prefix: Arc<str>,
}

impl RedisRevocations {
    /// The list in the Redis at `url` (one server, a comma-separated Cluster seed list, or
    /// `redis+cluster://…`).
    ///
    /// # Errors
    ///
    /// The URL is not one the Redis client accepts.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Ok(Self { target: RedisTarget::parse(url)?, prefix: DEFAULT_REVOCATION_KEY_PREFIX.into() })
    }

    /// Another key prefix (default `revoked_token:`).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// This list with the default policy, to tune and give to the verifier.
    pub fn revocation(self) -> Revocation {
        let redis = Redis::shared(self.target);
        let timeout_ms = Arc::new(AtomicU64::new(0));
        let list = RedisList { redis, prefix: self.prefix, timeout_ms: Arc::clone(&timeout_ms) };
        Revocation::with_bounded_list(Arc::new(list), "redis", timeout_ms)
    }
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .finish()
    }
}

struct RedisList {
    redis: Redis,
    prefix: Arc<str>,
    /// The revocation policy's timeout: each call is bounded here, so that the shared
    /// handle's breaker sees a Redis that does not answer.
    timeout_ms: Arc<AtomicU64>,
}

impl RevocationList for RedisList {
    fn is_revoked<'a>(
        &'a self,
        jti: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>> {
        Box::pin(async move {
            let mut key = String::with_capacity(self.prefix.len() + jti.len());
            key.push_str(&self.prefix);
            key.push_str(jti);
            let present: bool = self
                .redis
                .query(
                    redis::cmd("EXISTS").arg(&key),
                    Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed)),
                )
                .await
                .map_err(|e| RevocationError::new(e.to_string()))?;
            Ok(present)
        })
    }
}
