//! One Redis connection policy for everything permiso keeps in Redis (feature `redis`): where
//! it is (one server, or a Cluster), how long a call may take, how it reconnects.
//!
//! - Nothing connects at start-up: the first call does, inside the caller's runtime.
//! - Every call is bounded by one timeout, connecting included: a Redis that is down, slow
//!   or stalled (`DEBUG SLEEP`) costs a caller at most that long, never a hang.
//! - Reconnecting is the client library's (redis-rs `ConnectionManager` for one server, its
//!   cluster connection for a Cluster): on demand, one attempt at a time, with jittered
//!   exponential backoff, so an outage never turns into a storm of connects. A Cluster whose
//!   first connection failed is tried again at most once per second.
//! - **One handle per Redis**: every feature configured with the same URL (revocation, replay
//!   protection, rate limits, the shared token store) shares one handle and its connection.
//! - **A breaker**: a call that finds Redis gone (no answer in time, connection refused or
//!   dropped) opens it; while it is open every call, from every feature, fails at once with
//!   [`RedisFailure::Unreachable`] and each feature answers its failure mode (`reject` or
//!   `allow`) without waiting, while one background task asks Redis (`PING`) once a second
//!   and closes the breaker when it answers.
//! - A URL's password never appears in `Debug`, logs or errors.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue};

use crate::error::{ConfigError, ConfigErrorKind};

/// Where Redis is: `redis://host:port[/db]` (or `rediss://` for TLS) for one server; for a
/// Cluster, several seed nodes separated by commas, or one with the `redis+cluster://` scheme.
///
/// ```
/// use permiso::RedisTarget;
///
/// let one = RedisTarget::parse("redis://127.0.0.1:6379").unwrap();
/// assert!(!one.is_cluster());
/// let cluster = RedisTarget::parse("redis://10.0.0.1:7000,redis://10.0.0.2:7001").unwrap();
/// assert!(cluster.is_cluster());
/// let seed = RedisTarget::parse("redis+cluster://:s3cret@10.0.0.1:7000").unwrap();
/// assert!(seed.is_cluster());
/// assert!(!format!("{seed:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedisTarget {
    nodes: Vec<String>,
    cluster: bool,
}

impl RedisTarget {
    /// Parses the setting (see the type's docs).
    ///
    /// # Errors
    ///
    /// An empty setting, or a URL the Redis client does not accept; the message never
    /// shows a password.
    pub fn parse(setting: &str) -> Result<Self, ConfigError> {
        let parts: Vec<&str> = setting.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let bad = |why: &str| ConfigError::new(ConfigErrorKind::Invalid, format!("the Redis URL {why}"));
        if parts.is_empty() {
            return Err(bad("is empty"));
        }
        let mut cluster = parts.len() > 1;
        let mut nodes = Vec::with_capacity(parts.len());
        for part in parts {
            let url = match part.strip_prefix("redis+cluster://") {
                Some(rest) => {
                    cluster = true;
                    format!("redis://{rest}")
                }
                None => part.to_owned(),
            };
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(bad("must start with redis://, rediss:// or redis+cluster://"));
            }
            redis::Client::open(url.as_str()).map_err(|_| bad("is not a valid Redis URL"))?;
            nodes.push(url);
        }
        Ok(Self { nodes, cluster })
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted: Vec<String> = self.nodes.iter().map(|n| redact(n)).collect();
        f.debug_struct("RedisTarget").field("nodes", &redacted).field("cluster", &self.cluster).finish()
    }
}

/// The URL without its user information.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Why a Redis call gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedisFailure {
    /// No answer within the timeout (connecting included).
    Timeout,
    /// Not connected, and not trying again yet.
    Unreachable,
    /// Redis does not hold the script named by `EVALSHA` (load it with `EVAL`).
    NoScript,
    /// Redis answered with an error, or the connection broke.
    Failed(String),
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("Redis did not answer in time"),
            Self::Unreachable => f.write_str("Redis cannot be reached"),
            Self::NoScript => f.write_str("Redis does not hold the script"),
            Self::Failed(why) => write!(f, "Redis failed: {why}"),
        }
    }
}

impl std::error::Error for RedisFailure {}

impl RedisFailure {
    /// Whether this failure says Redis is gone (rather than that it refused one command).
    fn means_down(&self) -> bool {
        matches!(self, Self::Timeout | Self::Unreachable)
    }
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A shared, lazily connected handle on Redis with the policy above. Clones share one
/// connection and one breaker; [`Redis::shared`] gives every feature with the same target the
/// same handle.
#[derive(Clone)]
pub(crate) struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    target: RedisTarget,
    connection: Mutex<Option<Connection>>,
    connect_lock: tokio::sync::Mutex<()>,
    /// Milliseconds since `started` of the last failed first connection (Cluster).
    last_failure_ms: AtomicU64,
    started: Instant,
    /// The breaker: Redis was found gone and has not answered a probe since.
    down: AtomicBool,
    /// A background probe is running.
    probing: AtomicBool,
}

/// How long a failed first connection to a Cluster waits before the next try.
const CONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// The client library's own bounds on one connection attempt and one response: a broken
/// connection is noticed, and replaced, within this. Callers bound their calls tighter.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the background probe asks a Redis that is down.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

impl Redis {
    /// The one handle of this process on `target`: made on first use, shared by every
    /// feature that names the same Redis while any of them holds it.
    pub(crate) fn shared(target: RedisTarget) -> Self {
        static HANDLES: OnceLock<Mutex<HashMap<RedisTarget, Weak<Inner>>>> = OnceLock::new();
        let mut handles = HANDLES.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = handles.get(&target).and_then(Weak::upgrade) {
            return Self { inner };
        }
        handles.retain(|_, weak| weak.strong_count() > 0);
        let redis = Self::new(target.clone());
        handles.insert(target, Arc::downgrade(&redis.inner));
        redis
    }

    /// A handle of its own on `target`.
    fn new(target: RedisTarget) -> Self {
        Self {
            inner: Arc::new(Inner {
                target,
                connection: Mutex::new(None),
                connect_lock: tokio::sync::Mutex::new(()),
                last_failure_ms: AtomicU64::new(u64::MAX),
                started: Instant::now(),
                down: AtomicBool::new(false),
                probing: AtomicBool::new(false),
            }),
        }
    }

    /// Whether the breaker is open: Redis was found gone and has not answered since.
    pub(crate) fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }

    /// Runs `cmd`, connecting first if needed, all within `timeout`.
    ///
    /// While the breaker is open this fails at once with [`RedisFailure::Unreachable`]; a
    /// call that finds Redis gone opens it and starts the background probe.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
    ) -> Result<T, RedisFailure> {
        if self.is_down() {
            return Err(RedisFailure::Unreachable);
        }
        let result = match tokio::time::timeout(timeout, self.inner.query_unbounded(cmd)).await {
            Ok(result) => result,
            Err(_) => Err(RedisFailure::Timeout),
        };
        if result.as_ref().is_err_and(RedisFailure::means_down) {
            self.trip();
        }
        result
    }

    /// Opens the breaker and starts the one probe that closes it again.
    fn trip(&self) {
        self.inner.down.store(true, Ordering::Relaxed);
        if self.inner.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                // Nobody holds the handle any more: nothing to probe for.
                let Some(inner) = inner.upgrade() else { return };
                let ping = redis::cmd("PING");
                let answer =
                    tokio::time::timeout(CLIENT_TIMEOUT, inner.query_unbounded::<String>(&ping)).await;
                if matches!(answer, Ok(Ok(_))) {
                    // In this order: a call that trips the breaker meanwhile either sees no
                    // probe and starts one, or is closed over by this one and trips it again
                    // on its next failure; the breaker never stays open without a probe.
                    inner.probing.store(false, Ordering::Release);
                    inner.down.store(false, Ordering::Relaxed);
                    crate::log::info!(redis = ?inner.target, "Redis answers again");
                    return;
                }
            }
        });
    }
}

impl Inner {
    async fn query_unbounded<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisFailure> {
        let failed = |e: redis::RedisError| match e.code() {
            Some("NOSCRIPT") => RedisFailure::NoScript,
            _ if e.is_io_error()
                || e.is_connection_refusal()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_unrecoverable_error() =>
            {
                RedisFailure::Unreachable
            }
            _ => RedisFailure::Failed(format!("{:?}", e.kind())),
        };
        match self.connection().await? {
            Connection::Single(mut c) => cmd.query_async(&mut c).await.map_err(failed),
            Connection::Cluster(mut c) => cmd.query_async(&mut c).await.map_err(failed),
        }
    }

    /// The connection handle, made on first use.
    async fn connection(&self) -> Result<Connection, RedisFailure> {
        if let Some(c) = self.connection.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        let _guard = self.connect_lock.lock().await;
        if let Some(c) = self.connection.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        let connection = if self.target.cluster {
            let last = self.last_failure_ms.load(Ordering::Relaxed);
            let now = self.started.elapsed().as_millis() as u64;
            if last != u64::MAX && now.saturating_sub(last) < CONNECT_BACKOFF.as_millis() as u64 {
                return Err(RedisFailure::Unreachable);
            }
            let client = redis::cluster::ClusterClient::builder(self.target.nodes.iter().map(String::as_str))
                .connection_timeout(CLIENT_TIMEOUT)
                .response_timeout(CLIENT_TIMEOUT)
                .retries(1)
                .build()
                .map_err(|e| RedisFailure::Failed(format!("{:?}", e.kind())))?;
            match client.get_async_connection().await {
                Ok(c) => Connection::Cluster(c),
                Err(e) => {
                    self.last_failure_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    return Err(RedisFailure::Failed(format!("{:?}", e.kind())));
                }
            }
        } else {
            let client = redis::Client::open(self.target.nodes[0].as_str())
                .map_err(|e| RedisFailure::Failed(format!("{:?}", e.kind())))?;
            // Lazy: connects on the first command, reconnects on demand with jittered
            // exponential backoff (50 ms doubling to 2 s), one attempt at a time.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CLIENT_TIMEOUT))
                .set_response_timeout(Some(CLIENT_TIMEOUT))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_secs(2));
            let manager = ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| RedisFailure::Failed(format!("{:?}", e.kind())))?;
            Connection::Single(manager)
        };
        *self.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
        Ok(connection)
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("target", &self.inner.target)
            .field("down", &self.is_down())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_never_show_a_password() {
        let t = RedisTarget::parse("redis://:hunter2@127.0.0.1:6379/2").unwrap();
        assert!(!t.is_cluster());
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(RedisTarget::parse("redis://a:1, redis://b:2").unwrap().is_cluster());
        assert!(RedisTarget::parse("redis+cluster://127.0.0.1:7000").unwrap().is_cluster());
        for bad in ["", " , ", "http://127.0.0.1:6379", "127.0.0.1:6379", "redis://:hunter2@[::1"] {
            let err = RedisTarget::parse(bad).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }
}
