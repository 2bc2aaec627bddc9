//! [`RateLimits`]: the settings of a rate-limit stage, checked once at `build`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::layer::{RateLimitLayer, Shared, Store};
use super::memory::{LimitClock, Memory};
#[cfg(feature = "redis")]
use super::policy::DEFAULT_RATE_LIMIT_KEY_PREFIX;
use super::policy::{DEFAULT_RATE_LIMIT_TIMEOUT, OnLimitStoreError, Policy};
#[cfg(feature = "redis")]
use super::redis;
use crate::clock::Clock;
use crate::error::{ConfigError, ConfigErrorKind};

/// The settings of a [`RateLimitLayer`]; every one is checked at [`build`](Self::build).
///
/// ```
/// use permiso::limit::RateLimits;
///
/// let layer = RateLimits::new().client("payment-service", 120).burst(20).build().unwrap();
/// # let _ = layer;
/// ```
#[must_use]
pub struct RateLimits {
    clients: HashMap<String, u32>,
    default: Option<u32>,
    burst: Option<u32>,
    exempt: HashSet<String>,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "redis")]
    redis: Option<String>,
    #[cfg(feature = "redis")]
    key_prefix: Arc<str>,
    on_store_error: OnLimitStoreError,
    timeout: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimits {
    /// No limits yet: add clients, a default, or both.
    pub fn new() -> Self {
        Self {
            clients: HashMap::new(),
            default: None,
            burst: None,
            exempt: HashSet::new(),
            clock: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            key_prefix: DEFAULT_RATE_LIMIT_KEY_PREFIX.into(),
            on_store_error: OnLimitStoreError::Allow,
            timeout: DEFAULT_RATE_LIMIT_TIMEOUT,
        }
    }

    /// The limit of client `client_id`, in requests per minute (permiso's
    /// `rate_limit_per_minute`).
    pub fn client(mut self, client_id: impl Into<String>, per_minute: u32) -> Self {
        self.clients.insert(client_id.into(), per_minute);
        self
    }

    /// The limit of every client without its own entry (default: none, not limited).
    pub fn default_per_minute(mut self, per_minute: u32) -> Self {
        self.default = Some(per_minute);
        self
    }

    /// How many requests may come at once (default: each limit's own per-minute count, a
    /// whole minute's worth). One burst for every limit.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// A client that is never limited.
    pub fn exempt(mut self, client_id: impl Into<String>) -> Self {
        self.exempt.insert(client_id.into());
        self
    }

    /// The in-process store's clock (default: a monotonic clock). For tests: with a
    /// [`ManualClock`](crate::ManualClock), limits replenish only when it moves.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Counts in Redis, shared by every replica (feature `redis`): one server, a Cluster seed
    /// list, or `redis+cluster://…` (see [`RedisTarget`](crate::RedisTarget)).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// Another Redis key prefix (default [`DEFAULT_RATE_LIMIT_KEY_PREFIX`](super::DEFAULT_RATE_LIMIT_KEY_PREFIX)).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn key_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// What happens when Redis cannot answer (default [`OnLimitStoreError::Allow`]).
    pub fn on_store_error(mut self, choice: OnLimitStoreError) -> Self {
        self.on_store_error = choice;
        self
    }

    /// How long one Redis call may take (default 50 ms; from 1 ms to 10 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and makes the layer. Nothing connects to Redis until the first
    /// request.
    ///
    /// # Errors
    ///
    /// No limit at all; a limit or burst of 0; a timeout out of range; a bad Redis URL.
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, format!("rate limits: {m}"));
        if self.clients.is_empty() && self.default.is_none() {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "rate limits: give a default limit or at least one client's",
            ));
        }
        if let Some((id, _)) = self.clients.iter().find(|(_, n)| **n == 0) {
            return Err(
                invalid(format!("the limit of {id:?} is 0 requests a minute")).at("rate_limits.clients")
            );
        }
        if self.default == Some(0) {
            return Err(invalid("the default limit is 0 requests a minute".into()).at("rate_limits.default"));
        }
        if self.burst == Some(0) {
            return Err(invalid("the burst is 0".into()).at("rate_limits.burst"));
        }
        if self.timeout < Duration::from_millis(1) || self.timeout > Duration::from_secs(10) {
            return Err(invalid("the store timeout must be from 1 ms to 10 s".into())
                .at("rate_limits.redis_timeout_ms"));
        }
        let policy = |per_minute: u32| Policy { per_minute, burst: self.burst.unwrap_or(per_minute) };
        let clients: HashMap<String, Policy> =
            self.clients.iter().map(|(id, n)| (id.clone(), policy(*n))).collect();
        let default = self.default.map(policy);
        let clock = match self.clock {
            Some(c) => LimitClock::Given(c),
            None => LimitClock::Monotonic(Instant::now()),
        };
        #[cfg(feature = "redis")]
        let store = match &self.redis {
            Some(url) => Store::Redis(redis::RedisStore::new(
                crate::redis::RedisTarget::parse(url)
                    .map_err(|e| invalid(e.to_string()).at("rate_limits.redis_url"))?,
                Arc::clone(&self.key_prefix),
                self.timeout,
            )),
            None => Store::Memory(Memory::new(&clients, default, clock)),
        };
        #[cfg(not(feature = "redis"))]
        let store = Store::Memory(Memory::new(&clients, default, clock));
        let policy_header = |p: Policy| {
            HeaderValue::try_from(format!("\"per-client\";q={};w=60", p.per_minute))
                .unwrap_or_else(|_| HeaderValue::from_static("\"per-client\""))
        };
        Ok(RateLimitLayer {
            shared: Arc::new(Shared {
                clients: clients.into_iter().map(|(id, p)| (id, (p, policy_header(p)))).collect(),
                default: default.map(|p| (p, policy_header(p))),
                exempt: self.exempt.into_iter().collect(),
                store,
                on_store_error: self.on_store_error,
                last_log: crate::log::Every::second(),
            }),
        })
    }
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RateLimits");
        d.field("clients", &self.clients)
            .field("default_per_minute", &self.default)
            .field("burst", &self.burst)
            .field("exempt", &self.exempt);
        #[cfg(feature = "redis")]
        d.field("redis", &self.redis.as_deref().map(crate::redis::redact));
        d.field("on_store_error", &self.on_store_error).field("store_timeout", &self.timeout).finish()
    }
}
