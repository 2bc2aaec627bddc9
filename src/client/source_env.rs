//! [`TokenSource::from_env`]: a token source from the environment alone, in the naming of
//! permiso's Python client (`{NAME}_CLIENT_ID`, …) plus the calling side's own settings.

#[cfg(feature = "redis")]
use std::time::Duration;

use super::credentials::{ClientAuth, ServiceCredentials};
use super::identity::ClientIdentity;
use super::source::TokenSource;
use crate::dpop::DpopKey;
use crate::error::{ConfigError, ConfigErrorKind};

impl TokenSource {
    /// The source of service `name`, from the environment alone: its credentials (see
    /// [`ServiceCredentials::from_env`]) and, when `PERMISO_TOKEN_CACHE_REDIS_URL` is set, a
    /// token shared by every replica through that Redis (feature `redis`; see
    /// [`TokenStore`](super::store::TokenStore)), each Redis call bounded by
    /// `PERMISO_TOKEN_CACHE_TIMEOUT_MS` (default 200). `{NAME}_RESOURCE` sends an RFC 8707
    /// `resource`; `{NAME}_DPOP=true` asks for DPoP-bound tokens with a key generated at start
    /// (see [`TokenSourceBuilder::dpop`](super::TokenSourceBuilder::dpop)).
    /// `{NAME}_CLIENT_CERT_FILE` and `{NAME}_CLIENT_KEY_FILE` (PEM) present a TLS client
    /// certificate to the token endpoint (RFC 8705; see
    /// [`TokenSourceBuilder::client_certificate`](super::TokenSourceBuilder::client_certificate));
    /// with no `{NAME}_CLIENT_SECRET`, the certificate is how the client authenticates
    /// ([`ClientAuth::TlsClientAuth`]).
    ///
    /// # Errors
    ///
    /// As [`ServiceCredentials::from_env`]; a bad store setting, named.
    pub fn from_env(name: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(name, &|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(name: &str, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(name, &crate::vars::lookup(vars))
    }

    fn from_lookup(name: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut builder = Self::builder(ServiceCredentials::from_lookup(name, get)?);
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty());
        let prefix = super::credentials::env_prefix(name);
        if let Some(resource) = var(&format!("{prefix}_RESOURCE")) {
            builder = builder.resource(resource.trim());
        }
        let dpop_var = format!("{prefix}_DPOP");
        if let Some(v) = var(&dpop_var)
            && crate::vars::parse_bool(&dpop_var, &v)?
        {
            builder = builder.dpop(DpopKey::generate()?);
        }
        if let Some(identity) = ClientIdentity::from_lookup(&prefix, get)? {
            // No secret: the certificate is how the client authenticates (RFC 8705 §2).
            if builder.credentials().client_secret().expose().is_empty() {
                builder = builder.client_auth(ClientAuth::TlsClientAuth);
            }
            builder = builder.client_certificate(identity);
        }
        let Some(url) = var("PERMISO_TOKEN_CACHE_REDIS_URL") else {
            if var("PERMISO_TOKEN_CACHE_TIMEOUT_MS").is_some() {
                return Err(ConfigError::new(
                    ConfigErrorKind::Missing,
                    "PERMISO_TOKEN_CACHE_TIMEOUT_MS is set but PERMISO_TOKEN_CACHE_REDIS_URL (which turns the shared store on) is not",
                ));
            }
            return builder.build();
        };
        #[cfg(feature = "redis")]
        {
            // The URL may hold a password: the error names the variable, not the value.
            let store = super::store::RedisTokenStore::new(&url).map_err(|e| {
                ConfigError::new(ConfigErrorKind::Invalid, format!("PERMISO_TOKEN_CACHE_REDIS_URL: {e}"))
            })?;
            let mut builder = builder.shared_store(store);
            if let Some(ms) = var("PERMISO_TOKEN_CACHE_TIMEOUT_MS") {
                let ms = ms.trim().parse::<u64>().ok().filter(|ms| (1..=10_000).contains(ms)).ok_or_else(
                    || {
                        ConfigError::new(
                            ConfigErrorKind::Invalid,
                            format!(
                                "PERMISO_TOKEN_CACHE_TIMEOUT_MS: expected 1 to 10000 milliseconds, got {:?}",
                                ms.trim()
                            ),
                        )
                    },
                )?;
                builder = builder.shared_store_timeout(Duration::from_millis(ms));
            }
            builder.build()
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (url, builder);
            Err(ConfigError::new(
                ConfigErrorKind::Invalid,
                "PERMISO_TOKEN_CACHE_REDIS_URL needs permiso built with its redis feature",
            ))
        }
    }
}
