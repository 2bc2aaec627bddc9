//! One limit, and a store's answer for one request under it.

use std::time::Duration;

/// The Redis key prefix of the fleet-wide store: `permiso:rate_limit:<iss>:<client_id>` (the
/// issuer with `:` and `%` percent-encoded).
pub const DEFAULT_RATE_LIMIT_KEY_PREFIX: &str = "permiso:rate_limit:";
/// How long one Redis call may take before the store counts as unavailable.
pub const DEFAULT_RATE_LIMIT_TIMEOUT: Duration = Duration::from_millis(50);

/// What to do with a request when the shared (Redis) store cannot answer in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLimitStoreError {
    /// Let it through, unlimited (the default: a limiter outage must not take the service
    /// down). Logged at most once a second.
    #[default]
    Allow,
    /// Refuse it with 503 `temporarily_unavailable` and `Retry-After: 1`.
    Reject,
}

/// One limit: requests per minute, and how many may come at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(super) per_minute: u32,
    pub(super) burst: u32,
}

/// A store's answer for one request.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Counted and allowed: `remaining` more may come at once; the burst is whole again in
    /// `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Over the limit: the next request is allowed after `retry_after`.
    Limited { retry_after: Duration },
    /// No limit applies to this client.
    Unlimited,
}
