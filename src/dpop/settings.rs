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
}

pub(crate) struct DpopNames {
    algorithms: &'static str,
    max_age: &'static str,
    replay: &'static str,
}

pub(crate) const DPOP_ENV_NAMES: DpopNames = DpopNames {
    algorithms: "PERMISO_DPOP_ALGORITHMS",
    max_age: "PERMISO_DPOP_MAX_AGE_SECS",
    replay: "PERMISO_DPOP_REPLAY_REDIS_URL",
};

pub(crate) const DPOP_TOML_NAMES: DpopNames = DpopNames {
    algorithms: "[dpop] algorithms",
    max_age: "[dpop] max_age_secs",
    replay: "[dpop] replay_redis_url",
};

impl DpopSettings {
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
        let urls = match self.public_base_url {
            None => Vec::new(),
            Some(OneOrMany::One(url)) => vec![url],
            Some(OneOrMany::Many(urls)) => urls,
        };
        for url in urls {
            dpop = dpop.public_base_url(url);
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
