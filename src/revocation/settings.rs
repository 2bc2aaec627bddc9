//! Revocation as configured: the `[revocation]` table of the settings file, or the
//! `PERMISO_REVOCATION_*` variables, checked into a [`Revocation`].

#[cfg(feature = "redis")]
use std::time::Duration;

use serde::Deserialize;

use super::policy::{OnRevocationError, Revocation};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::vars::Secret;

fn invalid(msg: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Invalid, msg)
}

fn missing(msg: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Missing, msg)
}

/// Revocation as configured: the `[revocation]` table, or the `PERMISO_REVOCATION_*`
/// variables. A Redis URL turns it on.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationSettings {
    pub(crate) redis_url: Option<Secret>,
    pub(crate) key_prefix: Option<String>,
    pub(crate) max_staleness_ms: Option<u64>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) on_error: Option<OnRevocationError>,
}

/// The names settings go by in messages: a TOML key or an environment variable.
pub(crate) struct RevocationNames {
    redis_url: &'static str,
    key_prefix: &'static str,
    max_staleness_ms: &'static str,
    timeout_ms: &'static str,
}

pub(crate) const ENV_NAMES: RevocationNames = RevocationNames {
    redis_url: "PERMISO_REVOCATION_REDIS_URL",
    key_prefix: "PERMISO_REVOCATION_KEY_PREFIX",
    max_staleness_ms: "PERMISO_REVOCATION_MAX_STALENESS_MS",
    timeout_ms: "PERMISO_REVOCATION_TIMEOUT_MS",
};

pub(crate) const TOML_NAMES: RevocationNames = RevocationNames {
    redis_url: "[revocation] redis_url",
    key_prefix: "[revocation] key_prefix",
    max_staleness_ms: "[revocation] max_staleness_ms",
    timeout_ms: "[revocation] timeout_ms",
};

impl RevocationSettings {
    pub(crate) fn into_revocation(self, names: &RevocationNames) -> Result<Option<Revocation>, ConfigError> {
        let Some(Secret(url)) = self.redis_url else {
            if self.key_prefix.is_some()
                || self.max_staleness_ms.is_some()
                || self.timeout_ms.is_some()
                || self.on_error.is_some()
            {
                return Err(missing(format!(
                    "revocation settings are given but {} (which turns it on) is not",
                    names.redis_url
                )));
            }
            return Ok(None);
        };
        #[cfg(feature = "redis")]
        {
            // The URL may hold a password: errors name the setting, never the value.
            let list = super::redis::RedisRevocations::new(&url)
                .map_err(|e| invalid(format!("{}: {e}", names.redis_url)))?;
            let list = match self.key_prefix {
                Some(p) if p.is_empty() => {
                    return Err(invalid(format!("{}: must not be empty", names.key_prefix)));
                }
                Some(p) => list.key_prefix(p),
                None => list,
            };
            let mut revocation = list.revocation();
            if let Some(ms) = self.max_staleness_ms {
                if ms > 3_600_000 {
                    return Err(invalid(format!(
                        "{}: must be at most 3600000 (one hour), got {ms}",
                        names.max_staleness_ms
                    )));
                }
                revocation = revocation.max_staleness(Duration::from_millis(ms));
            }
            if let Some(ms) = self.timeout_ms {
                if !(1..=10_000).contains(&ms) {
                    return Err(invalid(format!("{}: must be from 1 to 10000, got {ms}", names.timeout_ms)));
                }
                revocation = revocation.timeout(Duration::from_millis(ms));
            }
            if let Some(on_error) = self.on_error {
                revocation = revocation.on_error(on_error);
            }
            Ok(Some(revocation))
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (url, names.key_prefix, names.max_staleness_ms, names.timeout_ms);
            Err(invalid(format!("{} needs permiso built with its redis feature", names.redis_url)))
        }
    }
}
