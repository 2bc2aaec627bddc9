//! The receiving side: [`SignatureLayer`] checks the request signatures of permiso's Python
//! `RequestSigner` after `AuthLayer`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_layer::Layer;
use tower_service::Service;

use super::message::{SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION_HEADER, verify};
use super::settings::{RequestSigning, Settings, SignatureMode};
use super::version::SignatureVersion;
use crate::context::{
    AuthContext, Authenticated, DefaultRejection, OnRejection, RateLimitRan, RequestLine, missing_layer,
};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::layer::AuthBody;

/// Checks request signatures as permiso's Python `RequestSigner` makes them after [`AuthLayer`](crate::AuthLayer); see the
/// [module docs](super). Made by [`RequestSigning::build`](super::RequestSigning::build). Its rejections (401
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
///     .layer(AuthLayer::new(verifier));   // with rate limits: .layer(limits).layer(signing)…
/// # let _ = app;
/// ```
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
        Self::from_lookup(&|k| std::env::var(k).ok())?.map(Self::build).transpose()
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
        Self::from_lookup(&crate::vars::lookup(vars))?.map(Self::build).transpose()
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
        if req.extensions().get::<RateLimitRan>().is_some() {
            static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                crate::log::warn!(
                    "permiso's SignatureLayer runs after RateLimitLayer, so unsigned requests would spend \
                     clients' limits; stack it outside: .layer(limits).layer(signing).layer(auth). Answering 500"
                );
            }
            let err = AuthError::new(AuthErrorKind::MissingAuthLayer)
                .with_description("the service's authentication layers are in the wrong order");
            return reject(context.render(&err, RequestLine::of(&req)));
        }
        let settings = Arc::clone(&self.settings);
        let verified = req.extensions().get::<Authenticated>().map(|a| Arc::clone(a.claims()));
        let about = move |err: AuthError| match &verified {
            Some(claims) => err.about_verified(claims),
            None => err,
        };
        let error = |kind: AuthErrorKind| about(AuthError::new(kind));
        let line = RequestLine::of(&req);
        let refuse = |kind: AuthErrorKind| reject(context.render(&error(kind), line));
        let refuse_with = |kind: AuthErrorKind, why: &'static str| {
            reject(context.render(&error(kind).with_description(why), line))
        };
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
        let version = match single(headers, VERSION_HEADER) {
            Ok(None) => SignatureVersion::V1,
            Ok(Some(v)) => match v.parse::<SignatureVersion>() {
                Ok(version) => version,
                Err(_) => {
                    return refuse_with(
                        AuthErrorKind::SignatureMissing,
                        "X-Signature-Version must be 1 or 2",
                    );
                }
            },
            Err(()) => {
                return refuse_with(AuthErrorKind::SignatureMissing, "X-Signature-Version must be 1 or 2");
            }
        };
        if version < settings.min_version {
            return refuse_with(
                AuthErrorKind::SignatureMismatch,
                "this service accepts only X-Signature-Version: 2 signatures",
            );
        }
        // The client the verified token names, under its issuer: its secret signs.
        let Some(claims) = req.extensions().get::<Authenticated>().map(Authenticated::claims) else {
            return refuse(AuthErrorKind::MissingToken);
        };
        let Some(client) = claims.client_id() else {
            return refuse(AuthErrorKind::SignatureUnknownClient);
        };
        let iss = claims.issuer();
        let key = match settings.issuer_secrets.get(iss).and_then(|table| table.get(client)) {
            Some(key) => key.clone(),
            None if context.primary_issuer() == Some(iss) => match settings.secrets.get(client) {
                Some(key) => key.clone(),
                None => return refuse(AuthErrorKind::SignatureUnknownClient),
            },
            None => return refuse(AuthErrorKind::SignatureUnknownClient),
        };
        let partition = format!("{iss}\n{client}");
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        if version == SignatureVersion::V1 && (path.contains('|') || req.method().as_str().contains('|')) {
            // Version 1's message cannot say where the URL ends: a raw `|` could move bytes
            // between the URL and the body under one signature.
            return refuse_with(
                AuthErrorKind::SignatureMismatch,
                "a request signed in version 1 must not hold a raw '|' in its path or query; send it as %7C",
            );
        }
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
            let error = |kind: AuthErrorKind| about(AuthError::new(kind));
            let (parts, body) = req.into_parts();
            let line = RequestLine::new(&parts.method, &parts.uri);
            let answer = |err: AuthError| Ok(context.render(&err, line).map(AuthBody::rejection));
            let Ok(collected) = http_body_util::Limited::new(body, settings.max_body).collect().await else {
                return answer(error(AuthErrorKind::PayloadTooLarge));
            };
            let bytes = collected.to_bytes();
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let url = format!("{}{}", settings.base, path);
            if !verify(&key, version, (parts.method.as_str(), &url, &bytes, &timestamp), &signature) {
                // Server side only: the URL the signature was checked over, so a caller that
                // signed another spelling of it (localhost for 127.0.0.1, http for https) can be
                // told why. Never the signature or the secret.
                #[cfg(feature = "tracing")]
                tracing::info!(
                    checked_url = %url,
                    method = %parts.method,
                    version = version.as_str(),
                    "permiso: a request signature did not match; the caller must sign this exact URL \
                     (the public base URL plus the path and query)"
                );
                return answer(error(AuthErrorKind::SignatureMismatch));
            }
            // Only a signature that verified is remembered: nobody can fill the store.
            let seen = signature.to_ascii_lowercase();
            let until = signed_at.saturating_add(settings.window);
            if let Err(err) = settings
                .replay
                .first_use(&partition, &seen, now, until)
                .await
                .check(AuthErrorKind::SignatureReplayed)
            {
                return answer(about(err));
            }
            let req = Request::from_parts(parts, ReqBody::from(bytes));
            inner.call(req).await.map(|res| res.map(AuthBody::inner))
        })
    }
}
