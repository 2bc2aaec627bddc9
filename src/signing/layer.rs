//! The receiving side: [`SignatureLayer`] checks the request signatures of permiso's Python
//! `RequestSigner` after `AuthLayer`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::settings::{RequestSigning, Settings};
use super::stage::sealed::{Check, Signatures};
use super::stage::{BodyStep, BoxFuture, Known, check};
use crate::body::AuthBody;
use crate::context::{AuthContext, RequestLine, missing_layer_response};
use crate::error::{AuthError, AuthErrorKind, ConfigError};

/// Checks request signatures as permiso's Python `RequestSigner` makes them; see the
/// [module docs](super). Made by [`RequestSigning::build`](super::RequestSigning::build) and given
/// to the [`AuthLayer`](crate::AuthLayer) with
/// [`AuthLayerBuilder::signatures`](crate::AuthLayerBuilder::signatures): the layer runs it
/// after the token and before rate limits, and its rejections (401 `invalid_signature`, 413)
/// are shaped by the layer's `on_rejection`.
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
///     .layer(AuthLayer::builder(verifier).signatures(signing).build());
/// # let _ = app;
/// ```
///
/// It is also a tower layer of its own, for services written before the builder: stacked
/// inside the `AuthLayer` (`.layer(signing).layer(auth)`), and outside a hand-stacked
/// `RateLimitLayer`; behind one it answers 500 rather than let unsigned requests spend a
/// client's limit.
#[derive(Clone)]
pub struct SignatureLayer {
    settings: Arc<Settings>,
}

impl RequestSigning {
    /// Checks the settings and makes the layer.
    ///
    /// # Errors
    ///
    /// A public base URL that is not an absolute http(s) URL without query; no client
    /// secret, or an empty one; a window or body cap out of range; a bad Redis URL.
    pub fn build(self) -> Result<SignatureLayer, ConfigError> {
        Ok(SignatureLayer { settings: Arc::new(self.check()?) })
    }

    /// The layer as the environment configures it, or `None` when signatures are off.
    ///
    /// `PERMISO_SIGNATURES` (`required`, `optional` or `off`, the default);
    /// `PERMISO_SIGNING_SECRETS` (`client_id=ENV_VAR_NAME,...`: each secret is read from the
    /// named variable); `PERMISO_PUBLIC_BASE_URL`; `PERMISO_SIGNING_WINDOW_SECS`;
    /// `PERMISO_SIGNING_MAX_BODY_BYTES`; `PERMISO_SIGNING_REPLAY_REDIS_URL` (feature `redis`);
    /// `PERMISO_SIGNING_REPLAY_ON_ERROR` (`reject`, the default, or `allow`);
    /// `PERMISO_SIGNING_MIN_VERSION` (`1`, the default, or `2`).
    /// With `PERMISO_CONFIG=path`, the file's `[signing]` table instead (same meanings:
    /// `mode`, `secrets = { client_id = "ENV_VAR_NAME" }` for the first issuer's clients,
    /// `issuer_secrets = { "<iss>" = { client_id = "ENV_VAR_NAME" } }` for other issuers',
    /// `public_base_url`, `window_secs`, `max_body_bytes`, `replay_redis_url`,
    /// `replay_on_error`, `min_version`).
    ///
    /// # Errors
    ///
    /// A bad or missing setting, named; never a secret's value.
    pub fn from_env() -> Result<Option<SignatureLayer>, ConfigError> {
        let get = |k: &str| std::env::var(k).ok();
        Self::from_lookup(&get)?.map(Self::build).transpose().map_err(crate::vars::naming(&get))
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
        let get = crate::vars::lookup(vars);
        Self::from_lookup(&get)?.map(Self::build).transpose().map_err(crate::vars::naming(&get))
    }
}

impl Signatures for SignatureLayer {}
impl Signatures for Option<SignatureLayer> {}

#[allow(private_interfaces)]
impl<B> Check<B> for Option<SignatureLayer>
where
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    #[inline]
    fn check(&self, req: &Request<B>, known: Option<Known<'_>>) -> BodyStep<B> {
        match self {
            Some(layer) => check(&layer.settings, req, known),
            None => BodyStep::Pass,
        }
    }
}

#[allow(private_interfaces)]
impl<B> Check<B> for SignatureLayer
where
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn check(&self, req: &Request<B>, known: Option<Known<'_>>) -> BodyStep<B> {
        check(&self.settings, req, known)
    }
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
        SignatureService { inner, layer: self.clone() }
    }
}

/// The service made by [`SignatureLayer`] when it is stacked by hand.
#[derive(Clone)]
pub struct SignatureService<S> {
    inner: S,
    layer: SignatureLayer,
}

impl<S> fmt::Debug for SignatureService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureService").finish_non_exhaustive()
    }
}

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
        let Some(context) = req.extensions().get::<AuthContext>() else {
            return reject(missing_layer_response(req.headers()));
        };
        if context.is_rate_limited() {
            static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                crate::log::warn!(
                    "permiso's SignatureLayer runs after RateLimitLayer, so unsigned requests would spend \
                     clients' limits; give both to the AuthLayer instead: \
                     AuthLayer::builder(verifier).signatures(signing).rate_limits(limits).build(). Answering 500"
                );
            }
            let err = AuthError::new(AuthErrorKind::MissingAuthLayer)
                .with_description("the service's authentication layers are in the wrong order");
            return reject(context.render(&err, RequestLine::of(&req)));
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match Check::check(&self.layer, &req, None) {
            BodyStep::Pass => {
                let fut = inner.call(req);
                Box::pin(async move { fut.await.map(|res| res.map(AuthBody::inner)) })
            }
            BodyStep::Refused(res) => reject(res),
            BodyStep::Read(reader) => Box::pin(async move {
                match reader(req).await {
                    Ok(req) => inner.call(req).await.map(|res| res.map(AuthBody::inner)),
                    Err(res) => Ok(res.map(AuthBody::rejection)),
                }
            }),
        }
    }
}
