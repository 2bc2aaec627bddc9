//! DPoP as configured: the `[dpop]` table of the settings file, or the `PERMISO_DPOP*`
//! variables, checked into a [`Dpop`].

use std::time::Duration;

use serde::Deserialize;

use super::policy::{Dpop, DpopMode};
use crate::algorithm::Algorithm;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::on_error::OnStoreError;
use crate::vars::{OneOrMany, Secret};

/// DPoP as configured: the `[dpop]` table, or the `PERMISO_DPOP*` variables.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DpopSettings {
    pub(crate) mode: Option<DpopMode>,
    pub(crate) algorithms: Option<Vec<String>>,
    pub(crate) max_age_secs: Option<u64>,
    /// One URL or several (TOML: a string or a list; the environment: comma-separated).
    pub(crate) public_base_url: Option<OneOrMany>,
    pub(crate) replay_redis_url: Option<Secret>,
    pub(crate) replay_on_error: Option<OnStoreError>,
    /// `required`: this server issues nonces (RFC 9449 §9); `off` (default).
    pub(crate) nonce: Option<String>,
    pub(crate) nonce_secret: Option<Secret>,
    pub(crate) nonce_secret_file: Option<String>,
    pub(crate) nonce_window_secs: Option<u64>,
}

pub(crate) struct DpopNames {
    algorithms: &'static str,
    max_age: &'static str,
    replay: &'static str,
    nonce: &'static str,
    nonce_secret: &'static str,
    nonce_secret_file: &'static str,
}

pub(crate) const DPOP_ENV_NAMES: DpopNames = DpopNames {
    algorithms: "PERMISO_DPOP_ALGORITHMS",
    max_age: "PERMISO_DPOP_MAX_AGE_SECS",
    replay: "PERMISO_DPOP_REPLAY_REDIS_URL",
    nonce: "PERMISO_DPOP_NONCE",
    nonce_secret: "PERMISO_DPOP_NONCE_SECRET",
    nonce_secret_file: "PERMISO_DPOP_NONCE_SECRET_FILE",
};

pub(crate) const DPOP_TOML_NAMES: DpopNames = DpopNames {
    algorithms: "[dpop] algorithms",
    max_age: "[dpop] max_age_secs",
    replay: "[dpop] replay_redis_url",
    nonce: "[dpop] nonce",
    nonce_secret: "[dpop] nonce_secret",
    nonce_secret_file: "[dpop] nonce_secret_file",
};

impl DpopSettings {
    /// The nonce settings of the `PERMISO_DPOP_NONCE*` variables (`var` gives a set one).
    pub(crate) fn nonce_from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let window = var("PERMISO_DPOP_NONCE_WINDOW_SECS")
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ConfigError::new(
                        ConfigErrorKind::Invalid,
                        format!(
                            "PERMISO_DPOP_NONCE_WINDOW_SECS: expected a whole number of seconds, got {v:?}"
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            nonce: var("PERMISO_DPOP_NONCE"),
            nonce_secret: var("PERMISO_DPOP_NONCE_SECRET").map(Secret),
            nonce_secret_file: var("PERMISO_DPOP_NONCE_SECRET_FILE"),
            nonce_window_secs: window,
            ..Self::default()
        })
    }

    pub(crate) fn into_dpop(self, names: &DpopNames) -> Result<Dpop, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, m);
        let mut dpop = Dpop::new(self.mode.unwrap_or_default());
        if let Some(list) = self.algorithms {
            let algs = list
                .iter()
                .map(|a| {
                    a.trim()
                        .parse::<Algorithm>()
                        .map_err(|_| invalid(format!("{}: unknown algorithm {a:?}", names.algorithms)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            dpop = dpop.algorithms(algs);
        }
        if let Some(secs) = self.max_age_secs {
            if secs == 0 || secs > 600 {
                return Err(invalid(format!("{}: must be from 1 to 600, got {secs}", names.max_age)));
            }
            dpop = dpop.max_age(Duration::from_secs(secs));
        }
        for url in self.public_base_url.map(OneOrMany::into_vec).unwrap_or_default() {
            dpop = dpop.public_base_url(url);
        }
        let secret = match (self.nonce_secret, self.nonce_secret_file) {
            (Some(Secret(s)), None) => Some(s),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path).map(|s| s.trim_end_matches(['\r', '\n']).to_owned()).map_err(
                    |e| invalid(format!("{}: {path:?} cannot be read: {e}", names.nonce_secret_file)),
                )?,
            ),
            (Some(_), Some(_)) => {
                let (a, b) = (names.nonce_secret, names.nonce_secret_file);
                return Err(invalid(format!("{a} and {b}: set one, not both")));
            }
            (None, None) => None,
        };
        match (self.nonce.as_deref().map(|n| n.trim().to_ascii_lowercase()).as_deref(), secret) {
            (None | Some("off"), _) => {}
            (Some("required"), Some(secret)) => dpop = dpop.require_nonces(secret),
            (Some("required"), None) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    format!(
                        "{}: required needs {} (or {1}_file), shared by every replica",
                        names.nonce, names.nonce_secret
                    ),
                ));
            }
            (Some(other), _) => {
                return Err(invalid(format!("{}: expected required or off, got {other:?}", names.nonce)));
            }
        }
        if let Some(secs) = self.nonce_window_secs {
            dpop = dpop.nonce_window(Duration::from_secs(secs));
        }
        if let Some(on_error) = self.replay_on_error {
            dpop = dpop.replay_on_error(on_error);
        }
        if let Some(url) = self.replay_redis_url {
            #[cfg(feature = "redis")]
            {
                dpop = dpop.shared_replay_store(url.0);
            }
            #[cfg(not(feature = "redis"))]
            {
                let _ = url;
                return Err(invalid(format!("{} needs permiso built with its redis feature", names.replay)));
            }
        }
        let _ = names.replay;
        Ok(dpop)
    }
}
