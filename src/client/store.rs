//! One token shared by every replica of a client: the format of permiso's Python `TokenCache` in a store
//! all replicas reach (Redis, feature `redis`), so Python and Rust services of one client
//! share it.
//!
//! - Key `service_token:{client_id}` for a source asking for the client's default scopes
//!   (no `{NAME}_SCOPES`), exactly the Python client's; a source asking for particular scopes uses
//!   `service_token_scoped:{client_id}:{sha256(sorted scopes)}`, which no Python client key can equal.
//! - Value `{"access_token": "...", "expires_at": <unix seconds, 60 s before expiry>}`,
//!   written with a TTL of `expires_in - 60` seconds, as the Python client writes it.
//! - A shared token is used only while its `expires_at` is ahead of the local clock; a value
//!   that is not that JSON is ignored.
//! - One fetch per expiry across replicas: a short lock (`SET NX PX`) lets one replica fetch
//!   while the others wait briefly for the shared token, then fetch themselves.
//! - Every store call is bounded by a timeout; a store that is down, slow or holds garbage
//!   only costs that: the source falls back to its own cache and the token endpoint.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The default bound on one store call.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(200);
/// How long a replica that did not get the lock waits for another's token.
const DEFAULT_WAIT: Duration = Duration::from_secs(2);
/// How long the fetch lock lives if its holder never writes the token.
pub(crate) const LOCK_TTL: Duration = Duration::from_secs(5);
/// The Python client's margin: its `expires_at` is this long before the token's real expiry.
pub(crate) const SEED_MARGIN_SECS: u64 = 60;

/// A future a [`TokenStore`] returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where the replicas of a client share their token. Values are the Python client's JSON, written and
/// read by the `TokenSource`; a store only keeps strings.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use permiso::client::{StoreFuture, TokenStore};
///
/// /// One process's store (a sketch: a real one is shared by the replicas, and expires keys).
/// #[derive(Default)]
/// struct Local(Mutex<HashMap<String, String>>);
///
/// impl TokenStore for Local {
///     fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>> {
///         let value = self.0.lock().unwrap().get(key).cloned();
///         Box::pin(async move { Ok(value) })
///     }
///     fn set<'a>(&'a self, key: &'a str, value: &'a str, _ttl: Duration) -> StoreFuture<'a, ()> {
///         self.0.lock().unwrap().insert(key.into(), value.into());
///         Box::pin(async { Ok(()) })
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
///         self.0.lock().unwrap().remove(key);
///         Box::pin(async { Ok(()) })
///     }
///     fn try_lock<'a>(&'a self, key: &'a str, _ttl: Duration) -> StoreFuture<'a, bool> {
///         let mut map = self.0.lock().unwrap();
///         let won = !map.contains_key(key);
///         map.entry(key.into()).or_default();
///         Box::pin(async move { Ok(won) })
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>>;
    /// Writes `value` at `key`, expiring after `ttl`.
    fn set<'a>(&'a self, key: &'a str, value: &'a str, ttl: Duration) -> StoreFuture<'a, ()>;
    /// Removes `key`.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
    /// Takes the lock `key` for `ttl` if nobody holds it; whether this caller got it.
    fn try_lock<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;
}

/// A token store could not answer.
///
/// ```
/// let err = permiso::client::StoreError::new("connection refused");
/// assert_eq!(err.to_string(), "the token store cannot answer: connection refused");
/// ```
#[derive(Clone, Debug)]
pub struct StoreError {
    why: Arc<str>,
}

impl StoreError {
    /// An error saying why (logged, never with a token or secret in it).
    pub fn new(why: impl Into<Arc<str>>) -> Self {
        Self { why: why.into() }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the token store cannot answer: {}", self.why)
    }
}

impl std::error::Error for StoreError {}

/// The value permiso's Python `TokenCache` shares.
#[derive(Serialize, Deserialize)]
pub(crate) struct SeedValue {
    pub(crate) access_token: String,
    /// Written as an integer here; Python writes `time.time() + expires_in - 60`, a float
    /// (`1796000123.51`): both are read, the fraction dropped (toward the earlier time).
    #[serde(deserialize_with = "unix_seconds")]
    pub(crate) expires_at: u64,
}

/// Unix seconds from a JSON integer or a non-negative finite float, rounded down.
fn unix_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Number::deserialize(d)? {
        n if n.is_u64() => n.as_u64().ok_or_else(|| serde::de::Error::custom("expires_at")),
        n => match n.as_f64() {
            Some(f) if (0.0..1.0e15).contains(&f) => Ok(f.floor() as u64),
            _ => Err(serde::de::Error::custom("expires_at is not a time in unix seconds")),
        },
    }
}

/// A store as a `TokenSource` uses it: the keys of its client and scopes, the timeout.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) key: String,
    pub(crate) lock_key: String,
    pub(crate) timeout: Duration,
    pub(crate) wait: Duration,
    /// Store failures are logged at most once a second.
    log_gate: crate::log::Every,
}

impl Shared {
    pub(crate) fn new(
        store: Arc<dyn TokenStore>,
        client_id: &str,
        scopes: &[String],
        timeout: Duration,
    ) -> Self {
        let key = token_key(client_id, scopes);
        Self {
            store,
            lock_key: format!("permiso_token_lock:{key}"),
            key,
            timeout,
            wait: DEFAULT_WAIT,
            log_gate: crate::log::Every::second(),
        }
    }

    /// Runs one store call within the timeout; `None` (logged at most once a second) when it
    /// fails or is late.
    pub(crate) async fn call<T>(&self, _what: &'static str, call: StoreFuture<'_, T>) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(_e)) => {
                if self.log_gate.due() {
                    crate::log::warn!(error = %_e, call = _what, "token store failed; going on without it");
                }
                None
            }
            Err(_) => {
                if self.log_gate.due() {
                    crate::log::warn!(call = _what, "token store timed out; going on without it");
                }
                None
            }
        }
    }

    /// The shared token, if the store holds one in the Python client's format that the local clock
    /// says has not expired.
    pub(crate) async fn read(&self, now: u64) -> Option<SeedValue> {
        let raw = self.call("get", self.store.get(&self.key)).await.flatten()?;
        match serde_json::from_str::<SeedValue>(&raw) {
            Ok(v) if v.expires_at > now && !v.access_token.is_empty() => Some(v),
            Ok(_) => None,
            Err(_) => {
                if self.log_gate.due() {
                    crate::log::warn!(key = %self.key, "the shared token is not in the expected format; ignored");
                }
                None
            }
        }
    }

    /// Shares `token`, valid until `expires_at`, as the Python client does.
    pub(crate) async fn write(&self, token: &str, expires_at: u64, now: u64) {
        let Some(ttl) = expires_at.checked_sub(now + SEED_MARGIN_SECS).filter(|t| *t > 0) else {
            return;
        };
        let value = SeedValue { access_token: token.to_owned(), expires_at: expires_at - SEED_MARGIN_SECS };
        let Ok(json) = serde_json::to_string(&value) else { return };
        let _ = self.call("set", self.store.set(&self.key, &json, Duration::from_secs(ttl))).await;
    }

    /// Drops the shared token if it is still `token` (a target refused it).
    pub(crate) async fn evict(&self, token: &str) {
        let held = self.call("get", self.store.get(&self.key)).await.flatten();
        if held
            .and_then(|raw| serde_json::from_str::<SeedValue>(&raw).ok())
            .is_some_and(|v| v.access_token == token)
        {
            let _ = self.call("delete", self.store.delete(&self.key)).await;
        }
    }
}

/// `service_token:{client_id}` for the client's default scopes; for other scopes a key no
/// Python client key can equal: `service_token_scoped:{client_id}:{hex sha256 of the sorted scopes}`.
pub(crate) fn token_key(client_id: &str, scopes: &[String]) -> String {
    if scopes.is_empty() {
        return format!("service_token:{client_id}");
    }
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sorted.join(" ").as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("service_token_scoped:{client_id}:{hex}")
}

/// permiso's Python `TokenCache` in Redis (feature `redis`): one server or a Cluster.
///
/// ```
/// use permiso::client::{RedisTokenStore, ServiceCredentials, TokenEndpoint, TokenSource};
///
/// let creds = ServiceCredentials::new("payment-service", "secret",
///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()));
/// let source = TokenSource::builder(creds)
///     .shared_store(RedisTokenStore::new("redis://127.0.0.1:6379")?) // nothing connects yet
///     .build()?;
/// # let _ = source;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisTokenStore {
    redis: crate::redis::Redis,
}

#[cfg(feature = "redis")]
impl RedisTokenStore {
    /// The store in the Redis at `url` (see [`RedisTarget`](crate::RedisTarget)).
    ///
    /// # Errors
    ///
    /// The URL is not one the Redis client accepts.
    pub fn new(url: &str) -> Result<Self, crate::error::ConfigError> {
        Ok(Self { redis: crate::redis::Redis::shared(crate::redis::RedisTarget::parse(url)?) })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        // The source bounds each call tighter; this is a backstop.
        self.redis.query(cmd, Duration::from_secs(10)).await.map_err(|e| StoreError::new(e.to_string()))
    }
}

#[cfg(feature = "redis")]
impl TokenStore for RedisTokenStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { self.query(redis::cmd("GET").arg(key)).await })
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a str, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.query(redis::cmd("SET").arg(key).arg(value).arg("EX").arg(ttl.as_secs().max(1))).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.query::<i64>(redis::cmd("DEL").arg(key)).await.map(|_| ()) })
    }

    fn try_lock<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let set: Option<String> =
                self.query(redis::cmd("SET").arg(key).arg("1").arg("NX").arg("PX").arg(ms)).await?;
            Ok(set.is_some())
        })
    }
}

#[cfg(feature = "redis")]
impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore").field("redis", &self.redis).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scopes_use_the_python_clients_key_and_others_cannot_collide_with_it() {
        assert_eq!(token_key("payment-service", &[]), "service_token:payment-service");
        let a = token_key("payment-service", &["read:x".into(), "write:x".into()]);
        let b = token_key("payment-service", &["write:x".into(), "read:x".into(), "read:x".into()]);
        assert_eq!(a, b, "the same set of scopes, the same key");
        assert!(
            a.starts_with("service_token_scoped:payment-service:")
                && a.len() == "service_token_scoped:payment-service:".len() + 64
        );
        assert_ne!(a, token_key("payment-service", &["read:x".into()]));
        // No client id makes a Python client key that equals a scoped one: the prefixes differ.
        assert!(!a.starts_with("service_token:"));
    }
}
