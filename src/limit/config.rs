//! Rate limits from the environment or the `[rate_limits]` TOML table.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::layer::RateLimitLayer;
use super::policy::OnLimitStoreError;
use super::settings::RateLimits;
use crate::error::{ConfigError, ConfigErrorKind};

/// The `[rate_limits]` table, and the variables read into the same shape.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    default: Option<u32>,
    burst: Option<u32>,
    clients: Option<HashMap<String, u32>>,
    exempt: Option<Vec<String>>,
    redis_url: Option<String>,
    key_prefix: Option<String>,
    on_redis_error: Option<OnLimitStoreError>,
    redis_timeout_ms: Option<u64>,
}

struct Names {
    redis: &'static str,
    timeout: &'static str,
}

impl RateLimits {
    /// The layer as the environment configures it, or `None` when no limit is set.
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `PERMISO_RATE_LIMITS` | `client_id=per_minute,...` |
    /// | `PERMISO_RATE_LIMIT_DEFAULT` | per-minute limit of every other client |
    /// | `PERMISO_RATE_LIMIT_BURST` | requests that may come at once (default: a minute's worth) |
    /// | `PERMISO_RATE_LIMIT_EXEMPT` | `client_id,...` never limited |
    /// | `PERMISO_RATE_LIMIT_REDIS_URL` | count in Redis, fleet-wide (feature `redis`) |
    /// | `PERMISO_RATE_LIMIT_KEY_PREFIX` | Redis key prefix (default `permiso:rate_limit:`) |
    /// | `PERMISO_RATE_LIMIT_ON_REDIS_ERROR` | `allow` (default) or `reject` |
    /// | `PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS` | one Redis call's bound (default 50) |
    ///
    /// With `PERMISO_CONFIG=path`, the file's `[rate_limits]` table instead: `default`,
    /// `burst`, `clients = { "payment-service" = 120 }`, `exempt = [...]`, `redis_url`,
    /// `key_prefix`, `on_redis_error`, `redis_timeout_ms`.
    ///
    /// ```
    /// use permiso::limit::RateLimits;
    ///
    /// let layer = RateLimits::from_env_vars([
    ///     ("PERMISO_RATE_LIMITS", "payment-service=120,report-service=30"),
    ///     ("PERMISO_RATE_LIMIT_BURST", "20"),
    /// ])?;
    /// assert!(layer.is_some());
    /// assert!(RateLimits::from_env_vars([("PERMISO_AUDIENCE", "x")])?.is_none());
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A setting that does not parse or cannot work, named.
    pub fn from_env() -> Result<Option<RateLimitLayer>, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Option<RateLimitLayer>, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(&crate::vars::lookup(vars))
    }

    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<RateLimitLayer>, ConfigError> {
        if let Some(path) = get("PERMISO_CONFIG").map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
            let text = crate::vars::read_config_file(&path)?;
            return Self::from_toml(&text, &path);
        }
        let get = &crate::vars::by_rule(get)?;
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_owned());
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, m);
        let number = |name: &str| -> Result<Option<u32>, ConfigError> {
            var(name)
                .map(|v| {
                    v.parse().map_err(|_| invalid(format!("{name}: expected a whole number, got {v:?}")))
                })
                .transpose()
        };
        let list = |name: &str| {
            var(name).map(|v| {
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>()
            })
        };
        let clients = list("PERMISO_RATE_LIMITS")
            .map(|pairs| {
                pairs
                    .iter()
                    .map(|pair| {
                        let (id, n) = pair.split_once('=').ok_or_else(|| {
                            invalid(
                                "PERMISO_RATE_LIMITS: expected client_id=per_minute, comma-separated".into(),
                            )
                        })?;
                        let n = n.trim().parse().map_err(|_| {
                            invalid(format!(
                                "PERMISO_RATE_LIMITS: the limit of {:?} is not a whole number",
                                id.trim()
                            ))
                        })?;
                        Ok((id.trim().to_owned(), n))
                    })
                    .collect::<Result<HashMap<_, _>, ConfigError>>()
            })
            .transpose()?;
        let on_redis_error =
            match var("PERMISO_RATE_LIMIT_ON_REDIS_ERROR").map(|v| v.to_ascii_lowercase()).as_deref() {
                None => None,
                Some("allow") => Some(OnLimitStoreError::Allow),
                Some("reject") => Some(OnLimitStoreError::Reject),
                Some(other) => {
                    return Err(invalid(format!(
                        "PERMISO_RATE_LIMIT_ON_REDIS_ERROR: expected allow or reject, got {other:?}"
                    )));
                }
            };
        let settings = FileLimits {
            default: number("PERMISO_RATE_LIMIT_DEFAULT")?,
            burst: number("PERMISO_RATE_LIMIT_BURST")?,
            clients,
            exempt: list("PERMISO_RATE_LIMIT_EXEMPT"),
            redis_url: var("PERMISO_RATE_LIMIT_REDIS_URL"),
            key_prefix: var("PERMISO_RATE_LIMIT_KEY_PREFIX"),
            on_redis_error,
            redis_timeout_ms: number("PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS")?.map(u64::from),
        };
        if settings.default.is_none() && settings.clients.is_none() {
            return Ok(None);
        }
        settings
            .into_layer(&Names {
                redis: "PERMISO_RATE_LIMIT_REDIS_URL",
                timeout: "PERMISO_RATE_LIMIT_REDIS_TIMEOUT_MS",
            })
            .map(Some)
            .map_err(ConfigError::in_env)
    }

    fn from_toml(text: &str, origin: &str) -> Result<Option<RateLimitLayer>, ConfigError> {
        let mut file: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigError::new(ConfigErrorKind::Invalid, format!("config file {origin}: {}", e.message()))
        })?;
        Self::from_table(file.remove("rate_limits"), origin)
    }

    /// The layer the file's `[rate_limits]` table configures (`origin` names the file), or
    /// `None` when it sets no limit.
    pub(crate) fn from_table(
        table: Option<toml::Value>,
        origin: &str,
    ) -> Result<Option<RateLimitLayer>, ConfigError> {
        let Some(table) = table else { return Ok(None) };
        let limits: FileLimits = crate::vars::read_table(table, origin, "rate_limits")?;
        if limits.default.is_none() && limits.clients.is_none() {
            return Ok(None);
        }
        limits
            .into_layer(&Names {
                redis: "[rate_limits] redis_url",
                timeout: "[rate_limits] redis_timeout_ms",
            })
            .map(Some)
            .map_err(|e| e.in_file(origin))
    }
}

impl FileLimits {
    fn into_layer(self, names: &Names) -> Result<RateLimitLayer, ConfigError> {
        let mut limits = RateLimits::new();
        for (id, n) in self.clients.unwrap_or_default() {
            limits = limits.client(id, n);
        }
        if let Some(n) = self.default {
            limits = limits.default_per_minute(n);
        }
        if let Some(b) = self.burst {
            limits = limits.burst(b);
        }
        for id in self.exempt.unwrap_or_default() {
            limits = limits.exempt(id);
        }
        if let Some(choice) = self.on_redis_error {
            limits = limits.on_store_error(choice);
        }
        if let Some(ms) = self.redis_timeout_ms {
            if ms == 0 || ms > 10_000 {
                return Err(ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{}: must be from 1 to 10000, got {ms}", names.timeout),
                ));
            }
            limits = limits.store_timeout(Duration::from_millis(ms));
        }
        match (self.redis_url, self.key_prefix) {
            #[cfg(feature = "redis")]
            (Some(url), prefix) => {
                limits = limits.redis(url);
                if let Some(p) = prefix {
                    limits = limits.key_prefix(p);
                }
            }
            #[cfg(not(feature = "redis"))]
            (Some(_), _) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{} needs permiso built with its redis feature", names.redis),
                ));
            }
            (None, _) => {}
        }
        let _ = names.redis;
        limits.build()
    }
}
