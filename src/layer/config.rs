//! The whole pipeline from one configuration: [`AuthLayer::from_env`] and
//! [`AuthLayer::from_file`].

use std::path::Path;

use crate::context::DefaultRejection;
use crate::error::ConfigError;
#[cfg(feature = "rate-limit")]
use crate::limit::RateLimits;
use crate::locations::TokenLocations;
use crate::metadata;
use crate::signing::{RequestSigning, SignatureLayer};
use crate::verifier::config::{StageTables, builder_from_vars, config_from_toml};

use super::service::AuthLayer;

/// The environment variables that turn rate limits on; read only with feature `rate-limit`,
/// refused without it rather than ignored.
#[cfg(not(feature = "rate-limit"))]
const LIMIT_VARS: [&str; 2] = ["PERMISO_RATE_LIMITS", "PERMISO_RATE_LIMIT_DEFAULT"];

/// What [`AuthLayer::from_env`] and [`AuthLayer::from_file`] make: the token check and the
/// signature stage (off when not configured; `Option` so that one type covers both), with
/// the rate-limit stage when configured.
pub type ConfiguredAuthLayer = AuthLayer<DefaultRejection, Option<SignatureLayer>>;

impl ConfiguredAuthLayer {
    /// The whole layer as the process environment configures it, every stage read once:
    /// the verifier ([`Verifier::from_env`](crate::Verifier::from_env): issuer, keys,
    /// revocation, DPoP), request signatures
    /// ([`RequestSigning::from_env`](crate::signing::RequestSigning::from_env), off unless
    /// `PERMISO_SIGNATURES` is set) and rate limits
    /// ([`RateLimits::from_env`](crate::limit::RateLimits::from_env), feature `rate-limit`, off
    /// unless a limit is set). With `PERMISO_CONFIG=path`, that TOML file instead, read and
    /// parsed once ([`from_file`](Self::from_file)). The variables and keys are the README's
    /// tables; every name is the one each part has always read.
    ///
    /// ```
    /// use permiso::AuthLayer;
    ///
    /// let layer = AuthLayer::from_env_vars([
    ///     ("PERMISO_ISSUER", "keystone-auth"),
    ///     ("PERMISO_AUDIENCE", "keystone-auth"),
    ///     ("PERMISO_HS256_SECRET", "a-shared-secret-of-at-least-32-bytes!!"),
    ///     ("PERMISO_SIGNATURES", "required"),
    ///     ("PERMISO_PUBLIC_BASE_URL", "https://payments.example.com"),
    ///     ("PERMISO_SIGNING_SECRETS", "payment-service=PAYMENT_SIGNING_SECRET"),
    ///     ("PAYMENT_SIGNING_SECRET", "payment-service-secret"),
    ///     ("PERMISO_RATE_LIMITS", "payment-service=120"),
    /// ])?;
    /// # let _ = layer;
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    ///
    /// The signature stage reads signed bodies, so the service's request body must be
    /// rebuildable from bytes (axum's `Body`); for hyper's `Incoming`, build the layer with
    /// [`AuthLayer::builder`] from the parts' own `from_env`.
    ///
    /// # Errors
    ///
    /// A missing or bad setting of any stage, named (the variable, or the file and key);
    /// never a secret's value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables instead of the process
    /// environment.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(&crate::vars::lookup(vars))
    }

    /// The whole layer as a TOML file configures it (the README's format: the verifier's
    /// keys and `[[issuer]]`s, `[revocation]`, `[dpop]`, `[signing]`, `[rate_limits]`), read
    /// and parsed once. `secret_env` keys and signing secrets are read from the process
    /// environment.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is not valid TOML, has an unknown key, or a bad value; the
    /// message names the file and the key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().display().to_string();
        Self::from_config_file(&path, &|name| std::env::var(name).ok())
    }

    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(path) = get("PERMISO_CONFIG").filter(|p| !p.trim().is_empty()) {
            return Self::from_config_file(path.trim(), get);
        }
        let get = &crate::vars::by_rule(get)?;
        let metadata_on = get("PERMISO_RESOURCE_METADATA")
            .map(|v| crate::vars::parse_bool("PERMISO_RESOURCE_METADATA", &v))
            .transpose()?
            .unwrap_or(false);
        let scopes = get("PERMISO_RESOURCE_METADATA_SCOPES")
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect());
        let parts = Parts {
            verifier: builder_from_vars(get)?.build().map_err(ConfigError::in_env)?,
            signing: RequestSigning::from_lookup(get)?,
            locations: get("PERMISO_TOKEN_LOCATIONS")
                .map(|v| TokenLocations::parse(&v).map_err(ConfigError::in_env))
                .transpose()?,
            metadata: metadata::from_settings(metadata_on, get("PERMISO_PUBLIC_BASE_URL").as_deref(), scopes)
                .map_err(ConfigError::in_env)?,
            certs: crate::mtls::settings::from_lookup(get)?,
            #[cfg(feature = "rate-limit")]
            limits: RateLimits::from_lookup(get)?,
        };
        #[cfg(not(feature = "rate-limit"))]
        if let Some(name) = LIMIT_VARS.iter().find(|n| get(n).is_some_and(|v| !v.trim().is_empty())) {
            return Err(without_rate_limit(name));
        }
        parts.assemble().map_err(ConfigError::in_env)
    }

    fn from_config_file(path: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = crate::vars::read_config_file(path)?;
        let (builder, tables) = config_from_toml(&text, path, get)?;
        let StageTables {
            signing,
            rate_limits,
            client_cert,
            token_locations,
            resource_metadata: (on, base, scopes),
        } = tables;
        #[cfg(not(feature = "rate-limit"))]
        if rate_limits.is_some() {
            return Err(without_rate_limit(&format!("config file {path}: [rate_limits]")));
        }
        let parts = Parts {
            verifier: builder.build().map_err(|e| e.in_file(path))?,
            signing: RequestSigning::from_table(signing, path, get)?,
            locations: token_locations
                .map(|l| TokenLocations::parse(&l.join(",")).map_err(|e| e.in_file(path)))
                .transpose()?,
            metadata: metadata::from_settings(on, base.as_deref(), scopes).map_err(|e| e.in_file(path))?,
            certs: crate::mtls::settings::from_table(client_cert, path)?,
            #[cfg(feature = "rate-limit")]
            limits: RateLimits::from_table(rate_limits, path)?,
        };
        parts.assemble().map_err(|e| e.in_file(path))
    }
}

/// What the one reading of the settings found, before the layer is built from it.
struct Parts {
    verifier: crate::verifier::Verifier,
    signing: Option<RequestSigning>,
    locations: Option<TokenLocations>,
    metadata: Option<crate::metadata::ResourceMetadata>,
    certs: Option<crate::mtls::CertificateBinding>,
    #[cfg(feature = "rate-limit")]
    limits: Option<crate::limit::RateLimitLayer>,
}

impl Parts {
    fn assemble(self) -> Result<ConfiguredAuthLayer, ConfigError> {
        let signing = self.signing.map(RequestSigning::build).transpose()?;
        let mut builder = AuthLayer::builder(self.verifier).signatures(signing);
        if let Some(locations) = self.locations {
            builder = builder.token_locations(locations);
        }
        if let Some(certs) = self.certs {
            builder = builder.client_certificates(certs);
        }
        if let Some(metadata) = self.metadata {
            builder = builder.resource_metadata(metadata);
        }
        #[cfg(feature = "rate-limit")]
        if let Some(limits) = self.limits {
            builder = builder.rate_limits(limits);
        }
        Ok(builder.build())
    }
}

#[cfg(not(feature = "rate-limit"))]
fn without_rate_limit(name: &str) -> ConfigError {
    ConfigError::new(
        crate::error::ConfigErrorKind::Invalid,
        format!("{name} sets rate limits, which need permiso built with its rate-limit feature"),
    )
}
