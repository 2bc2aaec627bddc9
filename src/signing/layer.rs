//! The receiving side: [`SignatureLayer`] checks the seed's signatures after `AuthLayer`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_lc_rs::hmac;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use serde::Deserialize;
use tower_layer::Layer;
use tower_service::Service;

use super::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use crate::layer::{AuthBody, AuthContext, Authenticated, DefaultRejection, OnRejection, missing_layer};
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

/// How [`SignatureLayer`] checks requests: the mode, the public base URL, each client's
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
            window: DEFAULT_WINDOW,
            max_body: DEFAULT_MAX_BODY,
            clock: Arc::new(SystemClock),
            #[cfg(feature = "redis")]
            replay_redis: None,
        }
    }

    /// The signing secret of the client `client_id` (its client secret, as the seed signs).
    pub fn client_secret(mut self, client_id: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.insert(client_id.into(), secret.as_ref().to_vec());
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
    /// `redis`), so a request replayed to another replica is refused too. A Redis that
    /// cannot answer within 100 ms falls back to this replica's memory.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn shared_replay_store(mut self, redis_url: impl Into<String>) -> Self {
        self.replay_redis = Some(redis_url.into());
        self
    }

    /// Checks the settings and makes the layer.
    ///
    /// # Errors
    ///
    /// A public base URL that is not an absolute http(s) URL without query; no client
    /// secret, or an empty one; a window or body cap out of range; a bad Redis URL.
    pub fn build(self) -> Result<SignatureLayer, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, format!("request signing: {m}"));
        let url = url::Url::parse(&self.base_url)
            .map_err(|_| invalid("the public base URL is not a URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("the public base URL must be http(s), without query or fragment".into()));
        }
        if self.secrets.is_empty() {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "request signing: at least one client secret is required",
            ));
        }
        if let Some(id) = self.secrets.iter().find(|(_, s)| s.is_empty()).map(|(id, _)| id) {
            return Err(invalid(format!("the signing secret of {id:?} is empty")));
        }
        if self.window.is_zero() || self.window > MAX_WINDOW {
            return Err(invalid("the window must be from 1 s to 1 h".into()));
        }
        if self.max_body == 0 || self.max_body > MAX_BODY_LIMIT {
            return Err(invalid("max_body_bytes must be from 1 to 67108864".into()));
        }
        #[cfg(feature = "redis")]
        let replay = ReplayGuard::for_setting(self.replay_redis.as_deref(), "permiso_signature:")
            .map_err(|e| invalid(e.to_string()))?;
        #[cfg(not(feature = "redis"))]
        let replay = ReplayGuard::memory();
        // Kept exactly as given but for a trailing slash: the caller's URL is base + path.
        let base = self.base_url.trim_end_matches('/').to_owned();
        let secrets =
            self.secrets.into_iter().map(|(id, s)| (id, hmac::Key::new(hmac::HMAC_SHA256, &s))).collect();
        Ok(SignatureLayer {
            settings: Arc::new(Settings {
                mode: self.mode,
                base,
                secrets,
                window: self.window.as_secs(),
                max_body: self.max_body,
                clock: self.clock,
                replay,
            }),
        })
    }

    /// The layer as the environment configures it, or `None` when signatures are off.
    ///
    /// `PERMISO_SIGNATURES` (`required`, `optional` or `off`, the default);
    /// `PERMISO_SIGNING_SECRETS` (`client_id=ENV_VAR_NAME,...`: each secret is read from the
    /// named variable); `PERMISO_PUBLIC_BASE_URL`; `PERMISO_SIGNING_WINDOW_SECS`;
    /// `PERMISO_SIGNING_MAX_BODY_BYTES`; `PERMISO_SIGNING_REPLAY_REDIS_URL` (feature `redis`).
    /// With `PERMISO_CONFIG=path`, the file's `[signing]` table instead (same meanings:
    /// `mode`, `secrets = { client_id = "ENV_VAR_NAME" }`, `public_base_url`, `window_secs`,
    /// `max_body_bytes`, `replay_redis_url`).
    ///
    /// # Errors
    ///
    /// A bad or missing setting, named; never a secret's value.
    pub fn from_env() -> Result<Option<SignatureLayer>, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Option<SignatureLayer>, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(&crate::vars::lookup(vars))
    }

    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<SignatureLayer>, ConfigError> {
        let var = |n: &str| get(n).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_owned());
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, m);
        if let Some(path) = var("PERMISO_CONFIG") {
            let text = std::fs::read_to_string(Path::new(&path))
                .map_err(|e| invalid(format!("config file {path}: cannot be read: {e}")))?;
            return Self::from_toml(&text, &path, get);
        }
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
            public_base_url: var("PERMISO_PUBLIC_BASE_URL"),
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
        };
        settings.into_layer(&ENV_NAMES, get).map(Some)
    }

    fn from_toml(
        text: &str,
        origin: &str,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SignatureLayer>, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            signing: Option<FileSigning>,
        }
        let file: File = toml::from_str(text).map_err(|e| {
            ConfigError::new(
                ConfigErrorKind::Invalid,
                format!("config file {origin}: [signing]: {}", e.message()),
            )
        })?;
        match file.signing {
            Some(s) if s.mode.is_some() => s.into_layer(&TOML_NAMES, get).map(Some),
            _ => Ok(None),
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
    fn into_layer(
        self,
        names: &Names,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SignatureLayer, ConfigError> {
        let missing = |m: String| ConfigError::new(ConfigErrorKind::Missing, m);
        let mode = self.mode.unwrap_or(SignatureMode::Required);
        let base = self
            .public_base_url
            .ok_or_else(|| missing(format!("{} is required with request signing", names.base_url)))?;
        let mut signing = RequestSigning::new(mode, base);
        let secrets = self.secrets.unwrap_or_default();
        if secrets.is_empty() {
            return Err(missing(format!("{} is required with request signing", names.secrets)));
        }
        for (client, var) in secrets {
            // The value names a variable; the secret is read from it and never echoed.
            let secret = get(&var).filter(|s| !s.is_empty()).ok_or_else(|| {
                missing(format!(
                    "{}: the signing secret of {client:?} is read from {var}, which is not set",
                    names.secrets
                ))
            })?;
            signing = signing.client_secret(client, secret);
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
        signing.build()
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

struct Settings {
    mode: SignatureMode,
    base: String,
    secrets: HashMap<String, hmac::Key>,
    window: u64,
    max_body: usize,
    clock: Arc<dyn Clock>,
    replay: ReplayGuard,
}

/// Checks the seed's request signatures after [`AuthLayer`](crate::AuthLayer); see the
/// [module docs](super). Made by [`RequestSigning::build`]. Its rejections (401
/// `invalid_signature`, 413) are shaped by the `AuthLayer`'s `on_rejection`.
///
/// The request body type must be buildable from the bytes read (`From<Bytes>`: axum's
/// `Body`, `Full<Bytes>`), since the handler gets the same bytes.
///
/// ```
/// use axum::{Router, routing::post};
/// use permiso::signing::{RequestSigning, SignatureMode};
/// use permiso::{AuthLayer, Issuer, Verifier};
///
/// # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
/// let signing = RequestSigning::new(SignatureMode::Required, "https://payments.example.com")
///     .client_secret("payment-service", "payment-service-secret")
///     .build()
///     .unwrap();
/// let app: Router = Router::new()
///     .route("/api/v1/transactions", post(|body: String| async move { body }))
///     .layer(signing)                    // inside: runs after the token is verified
///     .layer(AuthLayer::new(verifier));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct SignatureLayer {
    settings: Arc<Settings>,
}

impl fmt::Debug for SignatureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("SignatureLayer")
            .field("mode", &s.mode)
            .field("public_base_url", &s.base)
            .field("clients", &s.secrets.len())
            .field("window_secs", &s.window)
            .field("max_body_bytes", &s.max_body)
            .finish()
    }
}

impl<S> Layer<S> for SignatureLayer {
    type Service = SignatureService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SignatureService { inner, settings: Arc::clone(&self.settings) }
    }
}

/// The service made by [`SignatureLayer`].
#[derive(Clone)]
pub struct SignatureService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> fmt::Debug for SignatureService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureService").finish_non_exhaustive()
    }
}

/// The one value of a header, if it is there exactly once and is text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SignatureService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let reject = |res: Response<Bytes>| -> Self::Future {
            Box::pin(std::future::ready(Ok(res.map(AuthBody::rejection))))
        };
        let Some(context) = req.extensions().get::<AuthContext>().cloned() else {
            return reject(DefaultRejection.on_rejection(&missing_layer(), ""));
        };
        let settings = Arc::clone(&self.settings);
        let verified = req.extensions().get::<Authenticated>().map(|a| Arc::clone(a.claims()));
        let error = move |kind: AuthErrorKind| match &verified {
            Some(claims) => AuthError::new(kind).about_verified(claims),
            None => AuthError::new(kind),
        };
        let refuse = |kind: AuthErrorKind| reject(context.render(&error(kind)));
        let headers = req.headers();
        let (Ok(timestamp), Ok(signature)) =
            (single(headers, TIMESTAMP_HEADER), single(headers, SIGNATURE_HEADER))
        else {
            return refuse(AuthErrorKind::SignatureMissing);
        };
        let (timestamp, signature) = match (timestamp, signature) {
            (Some(t), Some(s)) => (t.to_owned(), s.to_owned()),
            (None, None) if settings.mode == SignatureMode::Optional => {
                let fut = self.inner.call(req);
                return Box::pin(async move { fut.await.map(|res| res.map(AuthBody::inner)) });
            }
            _ => return refuse(AuthErrorKind::SignatureMissing),
        };
        // The client the verified token names: its secret signs.
        let Some(client) = req.extensions().get::<Authenticated>().and_then(|a| a.claims().client_id())
        else {
            return refuse(AuthErrorKind::MissingToken);
        };
        let Some(key) = settings.secrets.get(client).cloned() else {
            return refuse(AuthErrorKind::SignatureUnknownClient);
        };
        let now = settings.clock.now_unix();
        let Some(signed_at) = Some(&timestamp)
            .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return refuse(AuthErrorKind::SignatureMissing);
        };
        if signed_at.abs_diff(now) > settings.window {
            return refuse(AuthErrorKind::SignatureStale);
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > settings.max_body as u64) {
            return refuse(AuthErrorKind::PayloadTooLarge);
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let refuse = |kind: AuthErrorKind| Ok(context.render(&error(kind)).map(AuthBody::rejection));
            let (parts, body) = req.into_parts();
            let Ok(collected) = http_body_util::Limited::new(body, settings.max_body).collect().await else {
                return refuse(AuthErrorKind::PayloadTooLarge);
            };
            let bytes = collected.to_bytes();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let url = format!("{}{}", settings.base, path);
            if !verify(&key, parts.method.as_str(), &url, &bytes, &timestamp, &signature) {
                return refuse(AuthErrorKind::SignatureMismatch);
            }
            // Only a signature that verified is remembered: nobody can fill the store.
            let seen = signature.to_ascii_lowercase();
            if !settings.replay.first_use(&seen, now, signed_at.saturating_add(settings.window)).await {
                return refuse(AuthErrorKind::SignatureReplayed);
            }
            let req = Request::from_parts(parts, ReqBody::from(bytes));
            inner.call(req).await.map(|res| res.map(AuthBody::inner))
        })
    }
}
