//! How request signing is configured: [`RequestSigning`] in code, from the environment or from
//! a TOML table, checked once by [`RequestSigning::build`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::message::MacKey;
use super::version::SignatureVersion;
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::on_error::OnStoreError;
use crate::replay::ReplayGuard;

const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
const DEFAULT_MAX_BODY: usize = 1024 * 1024;
const MAX_WINDOW: Duration = Duration::from_secs(3600);
const MAX_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Whether requests must be signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    /// Every request must carry a valid signature.
    Required,
    /// A request without signature headers passes; one with them must verify.
    Optional,
}

/// How [`SignatureLayer`](super::SignatureLayer) checks requests: the mode, the public base URL, each client's
/// signing secret, the window and the body cap. Every setting is checked at
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use permiso::signing::{RequestSigning, SignatureMode};
///
/// let layer = RequestSigning::new(SignatureMode::Required, "https://payments.example.com")
///     .client_secret("payment-service", "payment-service-secret")
///     .window(Duration::from_secs(120))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[must_use]
pub struct RequestSigning {
    mode: SignatureMode,
    base_url: String,
    secrets: HashMap<String, Vec<u8>>,
    issuer_secrets: HashMap<String, HashMap<String, Vec<u8>>>,
    min_version: SignatureVersion,
    replay_on_error: OnStoreError,
    window: Duration,
    max_body: usize,
    clock: Arc<dyn Clock>,
    #[cfg(feature = "redis")]
    replay_redis: Option<String>,
}

impl RequestSigning {
    /// Checks signatures in `mode`; callers reach this service at `public_base_url` (scheme,
    /// host, port and any path prefix a proxy adds, as the caller sees it).
    pub fn new(mode: SignatureMode, public_base_url: impl Into<String>) -> Self {
        Self {
            mode,
            base_url: public_base_url.into(),
            secrets: HashMap::new(),
            issuer_secrets: HashMap::new(),
            min_version: SignatureVersion::V1,
            replay_on_error: OnStoreError::Reject,
            window: DEFAULT_WINDOW,
            max_body: DEFAULT_MAX_BODY,
            clock: Arc::new(SystemClock),
            #[cfg(feature = "redis")]
            replay_redis: None,
        }
    }

    /// The signing secret of the client `client_id` (its client secret, as permiso's Python
    /// `RequestSigner` signs) for tokens of the verifier's first issuer — the only one in a
    /// single-issuer configuration. A token of another issuer naming the same `client_id`
    /// never uses this secret; give those with
    /// [`issuer_client_secret`](Self::issuer_client_secret).
    pub fn client_secret(mut self, client_id: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.insert(client_id.into(), secret.as_ref().to_vec());
        self
    }

    /// The signing secret of the client `client_id` of the issuer `iss` (exactly the token's
    /// `iss`).
    ///
    /// ```
    /// use permiso::signing::{RequestSigning, SignatureMode};
    ///
    /// let layer = RequestSigning::new(SignatureMode::Required, "https://payments.example.com")
    ///     .client_secret("billing-batch", "billing-batch-secret")
    ///     .issuer_client_secret("https://partner.example.com", "billing-batch", "partner-secret")
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn issuer_client_secret(
        mut self,
        iss: impl Into<String>,
        client_id: impl Into<String>,
        secret: impl AsRef<[u8]>,
    ) -> Self {
        self.issuer_secrets.entry(iss.into()).or_default().insert(client_id.into(), secret.as_ref().to_vec());
        self
    }

    /// The oldest message format accepted (default [`SignatureVersion::V1`], permiso's
    /// Python format). `V2` refuses every request not signed with `X-Signature-Version: 2`.
    pub fn min_version(mut self, version: SignatureVersion) -> Self {
        self.min_version = version;
        self
    }

    /// What a request gets when the shared replay store (Redis) cannot answer: 503 with
    /// `Retry-After: 1` ([`OnStoreError::Reject`], the default) or let through on this
    /// replica's memory alone ([`OnStoreError::Allow`]). This replica's memory always
    /// refuses a signature it saw.
    pub fn replay_on_error(mut self, on_error: OnStoreError) -> Self {
        self.replay_on_error = on_error;
        self
    }

    /// How far `X-Timestamp` may be from now, either way (default 300 s; at most 1 h).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The largest body read (default 1 MiB; 413 beyond; at most 64 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Shares the seen signatures among replicas through Redis (`SET NX EX`, feature
    /// `redis`), so a request replayed to another replica is refused too. Each call is bounded
    /// by 100 ms; see [`replay_on_error`](Self::replay_on_error) for what follows when Redis
    /// cannot answer.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_replay_store(mut self, redis_url: impl Into<String>) -> Self {
        self.replay_redis = Some(redis_url.into());
        self
    }

    /// Checks the settings: what [`build`](Self::build) hands the layer.
    pub(super) fn check(self) -> Result<Settings, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, format!("request signing: {m}"));
        let base_url = |m: &str| invalid(m.into()).at("signing.public_base_url");
        let url =
            url::Url::parse(&self.base_url).map_err(|_| base_url("the public base URL is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(base_url("the public base URL must be http(s), without query or fragment"));
        }
        if self.secrets.is_empty() && self.issuer_secrets.values().all(HashMap::is_empty) {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "request signing: at least one client secret is required",
            ));
        }
        if let Some(id) = self
            .secrets
            .iter()
            .chain(self.issuer_secrets.values().flatten())
            .find(|(_, s)| s.is_empty())
            .map(|(id, _)| id)
        {
            return Err(invalid(format!("the signing secret of {id:?} is empty")).at("signing.secrets"));
        }
        if self.window.is_zero() || self.window > MAX_WINDOW {
            return Err(invalid("the window must be from 1 s to 1 h".into()).at("signing.window_secs"));
        }
        if self.max_body == 0 || self.max_body > MAX_BODY_LIMIT {
            return Err(
                invalid("max_body_bytes must be from 1 to 67108864".into()).at("signing.max_body_bytes")
            );
        }
        #[cfg(feature = "redis")]
        let replay = ReplayGuard::for_setting(
            self.replay_redis.as_deref(),
            "permiso_signature:",
            self.replay_on_error,
        )
        .map_err(|e| invalid(e.to_string()).at("signing.replay_redis_url"))?;
        #[cfg(not(feature = "redis"))]
        let replay = ReplayGuard::memory();
        // Kept exactly as given but for a trailing slash: the caller's URL is base + path.
        let base = self.base_url.trim_end_matches('/').to_owned();
        let keys = |table: HashMap<String, Vec<u8>>| -> ClientKeys {
            table.into_iter().map(|(id, s)| (id, Arc::new(MacKey::new(&s)))).collect()
        };
        let issuer_secrets = self.issuer_secrets.into_iter().map(|(iss, t)| (iss, keys(t))).collect();
        Ok(Settings {
            mode: self.mode,
            base,
            secrets: keys(self.secrets),
            issuer_secrets,
            min_version: self.min_version,
            window: self.window.as_secs(),
            max_body: self.max_body,
            clock: self.clock,
            replay,
        })
    }

    /// The settings the environment (or the file `PERMISO_CONFIG` names) gives, or `None`
    /// when signatures are off.
    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<RequestSigning>, ConfigError> {
        if let Some(path) = get("PERMISO_CONFIG").map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()) {
            let text = crate::vars::read_config_file(&path)?;
            return Self::from_toml(&text, &path, get);
        }
        let get = &crate::vars::by_rule(get)?;
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_owned());
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, m);
        let mode = match var("PERMISO_SIGNATURES").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("off") => return Ok(None),
            Some("required") => SignatureMode::Required,
            Some("optional") => SignatureMode::Optional,
            Some(other) => {
                return Err(invalid(format!(
                    "PERMISO_SIGNATURES: expected required, optional or off, got {other:?}"
                )));
            }
        };
        let settings = FileSigning {
            mode: Some(mode),
            public_base_url: var("PERMISO_SIGNING_PUBLIC_BASE_URL").or_else(|| var("PERMISO_PUBLIC_BASE_URL")),
            secrets: var("PERMISO_SIGNING_SECRETS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            pair.split_once('=').map(|(id, v)| (id.trim().to_owned(), v.trim().to_owned())).ok_or_else(|| {
                                invalid("PERMISO_SIGNING_SECRETS: expected client_id=ENV_VAR_NAME, comma-separated".into())
                            })
                        })
                        .collect::<Result<HashMap<_, _>, _>>()
                })
                .transpose()?,
            window_secs: var("PERMISO_SIGNING_WINDOW_SECS")
                .map(|v| v.parse().map_err(|_| invalid(format!("PERMISO_SIGNING_WINDOW_SECS: expected seconds, got {v:?}"))))
                .transpose()?,
            max_body_bytes: var("PERMISO_SIGNING_MAX_BODY_BYTES")
                .map(|v| v.parse().map_err(|_| invalid(format!("PERMISO_SIGNING_MAX_BODY_BYTES: expected bytes, got {v:?}"))))
                .transpose()?,
            replay_redis_url: var("PERMISO_SIGNING_REPLAY_REDIS_URL"),
            replay_on_error: var("PERMISO_SIGNING_REPLAY_ON_ERROR")
                .map(|v| {
                    OnStoreError::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                        invalid(format!("PERMISO_SIGNING_REPLAY_ON_ERROR: expected reject or allow, got {v:?}"))
                    })
                })
                .transpose()?,
            min_version: var("PERMISO_SIGNING_MIN_VERSION")
                .map(|v| {
                    v.parse().map_err(|_| invalid(format!("PERMISO_SIGNING_MIN_VERSION: expected 1 or 2, got {v:?}")))
                })
                .transpose()?,
            issuer_secrets: None,
        };
        settings.into_signing(&ENV_NAMES, get).map(Some)
    }

    fn from_toml(
        text: &str,
        origin: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<RequestSigning>, ConfigError> {
        let mut file: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigError::new(ConfigErrorKind::Invalid, format!("config file {origin}: {}", e.message()))
        })?;
        Self::from_table(file.remove("signing"), origin, get)
    }

    /// The settings the file's `[signing]` table gives (`origin` names the file), or `None`
    /// when it has none or no `mode`.
    pub(crate) fn from_table(
        table: Option<toml::Value>,
        origin: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<RequestSigning>, ConfigError> {
        let Some(table) = table else { return Ok(None) };
        let signing: FileSigning = crate::vars::read_table(table, origin, "signing")?;
        match signing.mode {
            Some(_) => signing.into_signing(&TOML_NAMES, get).map(Some),
            None => Ok(None),
        }
    }
}

/// The `[signing]` table, and the variables read into the same shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSigning {
    mode: Option<SignatureMode>,
    public_base_url: Option<String>,
    secrets: Option<HashMap<String, String>>,
    window_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    replay_redis_url: Option<String>,
    replay_on_error: Option<OnStoreError>,
    min_version: Option<SignatureVersion>,
    /// Other issuers' clients: `{ "<iss>" = { client_id = "ENV_VAR_NAME" } }`.
    issuer_secrets: Option<HashMap<String, HashMap<String, String>>>,
}

struct Names {
    base_url: &'static str,
    secrets: &'static str,
    window: &'static str,
    replay: &'static str,
}

const ENV_NAMES: Names = Names {
    base_url: "PERMISO_PUBLIC_BASE_URL",
    secrets: "PERMISO_SIGNING_SECRETS",
    window: "PERMISO_SIGNING_WINDOW_SECS",
    replay: "PERMISO_SIGNING_REPLAY_REDIS_URL",
};

const TOML_NAMES: Names = Names {
    base_url: "[signing] public_base_url",
    secrets: "[signing] secrets",
    window: "[signing] window_secs",
    replay: "[signing] replay_redis_url",
};

impl FileSigning {
    fn into_signing(
        self,
        names: &Names,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RequestSigning, ConfigError> {
        let missing = |m: String| ConfigError::new(ConfigErrorKind::Missing, m);
        let mode = self.mode.unwrap_or(SignatureMode::Required);
        let base = self
            .public_base_url
            .ok_or_else(|| missing(format!("{} is required with request signing", names.base_url)))?;
        let mut signing = RequestSigning::new(mode, base);
        let secrets = self.secrets.unwrap_or_default();
        let issuer_secrets = self.issuer_secrets.unwrap_or_default();
        if secrets.is_empty() && issuer_secrets.values().all(HashMap::is_empty) {
            return Err(missing(format!("{} is required with request signing", names.secrets)));
        }
        // The value names a variable; the secret is read from it and never echoed.
        let read = |client: &str, var: &str| {
            get(var).filter(|s| !s.is_empty()).ok_or_else(|| {
                missing(format!(
                    "{}: the signing secret of {client:?} is read from {var}, which is not set",
                    names.secrets
                ))
            })
        };
        for (client, var) in secrets {
            let secret = read(&client, &var)?;
            signing = signing.client_secret(client, secret);
        }
        for (iss, table) in issuer_secrets {
            for (client, var) in table {
                let secret = read(&client, &var)?;
                signing = signing.issuer_client_secret(iss.clone(), client, secret);
            }
        }
        if let Some(on_error) = self.replay_on_error {
            signing = signing.replay_on_error(on_error);
        }
        if let Some(version) = self.min_version {
            signing = signing.min_version(version);
        }
        if let Some(w) = self.window_secs {
            if w == 0 || w > MAX_WINDOW.as_secs() {
                return Err(ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{}: must be from 1 to 3600, got {w}", names.window),
                ));
            }
            signing = signing.window(Duration::from_secs(w));
        }
        if let Some(b) = self.max_body_bytes {
            signing = signing.max_body_bytes(b);
        }
        if let Some(url) = self.replay_redis_url {
            #[cfg(feature = "redis")]
            {
                signing = signing.shared_replay_store(url);
            }
            #[cfg(not(feature = "redis"))]
            {
                let _ = url;
                return Err(ConfigError::new(
                    ConfigErrorKind::Invalid,
                    format!("{} needs permiso built with its redis feature", names.replay),
                ));
            }
        }
        let _ = names.replay;
        Ok(signing)
    }
}

impl fmt::Debug for RequestSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clients: Vec<&String> = self.secrets.keys().collect();
        clients.sort();
        f.debug_struct("RequestSigning")
            .field("mode", &self.mode)
            .field("public_base_url", &self.base_url)
            .field("clients", &clients)
            .field("window", &self.window)
            .field("max_body_bytes", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// An issuer's clients' keys by `client_id` (the table is fixed at build; looked up on every
/// request).
pub(super) type ClientKeys = HashMap<String, Arc<MacKey>, foldhash::fast::RandomState>;

/// What [`RequestSigning::build`] checked, as the layer uses it.
pub(super) struct Settings {
    pub(super) mode: SignatureMode,
    pub(super) base: String,
    /// The first issuer's clients.
    pub(super) secrets: ClientKeys,
    /// Other issuers' clients, by `iss`.
    pub(super) issuer_secrets: HashMap<String, ClientKeys>,
    pub(super) min_version: SignatureVersion,
    pub(super) window: u64,
    pub(super) max_body: usize,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) replay: ReplayGuard,
}
