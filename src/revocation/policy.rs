//! What a revocation check is: the list it asks, and how it asks (staleness, timeout, failure mode).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ConfigError, ConfigErrorKind};

/// The default longest reuse of a "not revoked" answer.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(1);
/// The default key prefix of revoked tokens in Redis: the permiso server writes
/// `revoked_token:<jti>`.
pub const DEFAULT_REVOCATION_KEY_PREFIX: &str = "revoked_token:";
/// The default bound on one request to the revocation list.
pub const DEFAULT_REVOCATION_TIMEOUT: Duration = Duration::from_millis(100);

/// A list of revoked tokens, by `jti`. Implement it to plug in your own store.
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use permiso::{RevocationError, RevocationList};
///
/// /// Nothing is ever revoked (a sketch: a real list asks its store).
/// struct Nothing;
///
/// impl RevocationList for Nothing {
///     fn is_revoked<'a>(
///         &'a self,
///         _jti: &'a str,
///     ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>> {
///         Box::pin(async { Ok(false) })
///     }
/// }
/// ```
pub trait RevocationList: Send + Sync + 'static {
    /// Whether the token with this `jti` is revoked.
    fn is_revoked<'a>(
        &'a self,
        jti: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RevocationError>> + Send + 'a>>;
}

/// A revocation list could not answer.
///
/// ```
/// use permiso::RevocationError;
///
/// let err = RevocationError::new("the store is down");
/// assert_eq!(err.to_string(), "the revocation list cannot answer: the store is down");
/// ```
#[derive(Clone, Debug)]
pub struct RevocationError {
    why: Arc<str>,
}

impl RevocationError {
    /// An error saying why (it is logged, never sent to callers; keep secrets out of it).
    pub fn new(why: impl Into<Arc<str>>) -> Self {
        Self { why: why.into() }
    }
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the revocation list cannot answer: {}", self.why)
    }
}

impl std::error::Error for RevocationError {}

/// What a request gets when the revocation list cannot answer in time: the one
/// [`OnStoreError`](crate::OnStoreError) vocabulary (`reject`, the default, or `allow`),
/// under the name it had first.
pub type OnRevocationError = crate::on_error::OnStoreError;

/// Revocation as a verifier checks it: the list, and the policy around it. Given to
/// [`VerifierBuilder::revocation`](crate::VerifierBuilder::revocation).
///
/// Revocation: a revoked token stops working at every replica, within a bounded staleness.
///
/// The permiso server revokes a token by writing the Redis key `revoked_token:<jti>` (value
/// `"1"`, TTL until the token's `exp`). A verifier with a [`Revocation`] asks its
/// [`RevocationList`] about every request's `jti` — verified-token cache hits included —
/// after the token itself verified:
///
/// - a "not revoked" answer is reused locally for at most `max_staleness` (default 1 s; zero
///   asks every time); a "revoked" answer is kept until the token's `exp`;
/// - concurrent checks of one `jti` share one request to the list;
/// - every request to the list is bounded by `timeout` (default 100 ms); when the list
///   cannot answer, `on_error` decides: [`OnRevocationError::Reject`] (the default) answers
///   503 `temporarily_unavailable` with `Retry-After: 1`, [`OnRevocationError::Allow`] lets
///   the request through, logs it and counts it;
/// - a token without `jti` is refused (401 `invalid_token`): it cannot be looked up.
///
/// Lists: [`MemoryRevocations`](crate::MemoryRevocations) (one process, and users' tests), [`RedisRevocations`](crate::RedisRevocations)
/// (feature `redis`, permiso's own schema, one server or a Cluster), or your own.
///
/// ```
/// use std::time::Duration;
/// use permiso::revocation::{MemoryRevocations, Revocation};
/// use permiso::{Issuer, Verifier};
///
/// let revoked = MemoryRevocations::new();
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .revocation(Revocation::new(revoked.clone()).max_staleness(Duration::ZERO))
///     .build()
///     .unwrap();
/// revoked.revoke("2b1f0c1e", u64::MAX); // jti, and until when (the token's exp)
/// # let _ = verifier;
/// ```
///
/// The policy's settings:
///
/// ```
/// use std::time::Duration;
/// use permiso::revocation::{MemoryRevocations, OnRevocationError, Revocation};
///
/// let revocation = Revocation::new(MemoryRevocations::new())
///     .max_staleness(Duration::from_millis(500))
///     .timeout(Duration::from_millis(50))
///     .on_error(OnRevocationError::Allow);
/// # let _ = revocation;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Revocation {
    pub(crate) list: Arc<dyn RevocationList>,
    pub(crate) max_staleness: Duration,
    pub(crate) timeout: Duration,
    pub(crate) on_error: OnRevocationError,
    description: &'static str,
    /// Set when the list bounds each call by the policy's timeout itself (Redis, whose
    /// breaker must see its own calls time out): the timeout in milliseconds, shared with it.
    pub(crate) list_timeout_ms: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Revocation {
    /// Checks `list`, with the defaults: 1 s staleness, 100 ms timeout, reject on error.
    pub fn new(list: impl RevocationList) -> Self {
        Self::with_list(Arc::new(list), "custom")
    }

    pub(crate) fn with_list(list: Arc<dyn RevocationList>, description: &'static str) -> Self {
        Self {
            list,
            max_staleness: DEFAULT_MAX_STALENESS,
            timeout: DEFAULT_REVOCATION_TIMEOUT,
            on_error: OnRevocationError::Reject,
            description,
            list_timeout_ms: None,
        }
    }

    /// A list that bounds its own calls: `timeout_ms` is kept equal to this policy's timeout.
    #[cfg(feature = "redis")]
    pub(crate) fn with_bounded_list(
        list: Arc<dyn RevocationList>,
        description: &'static str,
        timeout_ms: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        let revocation = Self { list_timeout_ms: Some(timeout_ms), ..Self::with_list(list, description) };
        let timeout = revocation.timeout;
        revocation.timeout(timeout)
    }

    /// How long a "not revoked" answer may be reused (default 1 s; zero asks the list for
    /// every request). A revocation takes effect everywhere within this bound.
    pub fn max_staleness(mut self, staleness: Duration) -> Self {
        self.max_staleness = staleness;
        self
    }

    /// The bound on one request to the list (default 100 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        if let Some(ms) = &self.list_timeout_ms {
            let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            ms.store(millis, std::sync::atomic::Ordering::Relaxed);
        }
        self
    }

    /// What to do when the list cannot answer in time (default: reject with 503).
    pub fn on_error(mut self, on_error: OnRevocationError) -> Self {
        self.on_error = on_error;
        self
    }

    /// Checks the settings; called by the verifier's `build()`.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |why: &str| Err(ConfigError::new(ConfigErrorKind::Invalid, format!("revocation: {why}")));
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(10) {
            return bad("the timeout must be between 1 ms and 10 s");
        }
        if self.max_staleness > Duration::from_secs(3600) {
            return bad("max_staleness must be at most one hour");
        }
        Ok(())
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("list", &self.description)
            .field("max_staleness", &self.max_staleness)
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .finish()
    }
}

/// The revocation check's counters, like [`CacheStats`](crate::CacheStats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationStats {
    /// Checks made (one per verified request).
    pub checks: u64,
    /// Checks answered from a local entry, without asking the list.
    pub local: u64,
    /// Requests sent to the list (shared by concurrent checks of one `jti`).
    pub lookups: u64,
    /// Checks that found the token revoked.
    pub revoked: u64,
    /// Requests to the list that failed or timed out.
    pub errors: u64,
    /// Requests let through because the list could not answer and `on_error` is `Allow`.
    pub allowed_on_error: u64,
}
