//! The tower layer that verifies each request's bearer token once.
//!
//! [`AuthLayer`] wraps any tower service taking `http::Request<B>` (axum, plain hyper,
//! tonic). For each request it finds the bearer token ([`crate::bearer::extract`]), verifies
//! it with the [`Verifier`], and either puts the claims in the request extensions as
//! `Arc<Claims>` and calls the inner service, or answers the rejection itself: 401/400/403/503
//! with an RFC 6750 `WWW-Authenticate` header and a JSON body. It never returns an error to the
//! server.
//!
//! ```
//! use axum::{Router, routing::get};
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
//!     .build()
//!     .unwrap();
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", get(|| async { "[]" }))
//!     .layer(AuthLayer::new(verifier));
//! # let _ = app;
//! ```
//!
//! Per-route requirements go in the handlers' extractors (`RequireScopes`, `ServiceClient`,
//! `TrustedClient`), or, without axum, in a [`RequireLayer`].

mod body;
mod guard;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

pub use body::AuthBody;
#[cfg(feature = "axum")]
pub(crate) use guard::missing_layer_response;
pub use guard::{GuardFuture, RequireLayer, RequireService};

use crate::error::AuthError;
use crate::verifier::Verifier;

/// What the layer leaves in the request extensions for the extractors, besides the claims:
/// proof that it ran, and the realm to answer with.
#[derive(Clone, Debug)]
pub(crate) struct AuthContext {
    pub(crate) realm: Arc<str>,
}

/// Turns an [`AuthError`] into the response sent. The default
/// ([`DefaultRejection`]) is [`AuthError::to_response`]; any
/// `Fn(&AuthError, &str) -> Response<Bytes>` closure (error, realm) works too.
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use permiso::{AuthError, AuthLayer, Issuer, Verifier};
///
/// # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
/// let layer = AuthLayer::new(verifier).on_rejection(|err: &AuthError, realm: &str| {
///     let mut res = err.to_response(realm);
///     res.headers_mut().insert("x-auth-failure", err.kind().error_code().unwrap_or("none").parse().unwrap());
///     res
/// });
/// # let _ = layer;
/// ```
pub trait OnRejection: Clone + Send + Sync + 'static {
    /// The response for `error`, in protection space `realm`.
    fn on_rejection(&self, error: &AuthError, realm: &str) -> Response<Bytes>;
}

/// The standard RFC 6750 rejection: [`AuthError::to_response`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl OnRejection for DefaultRejection {
    fn on_rejection(&self, error: &AuthError, realm: &str) -> Response<Bytes> {
        error.to_response(realm)
    }
}

impl<F> OnRejection for F
where
    F: Fn(&AuthError, &str) -> Response<Bytes> + Clone + Send + Sync + 'static,
{
    fn on_rejection(&self, error: &AuthError, realm: &str) -> Response<Bytes> {
        self(error, realm)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Required,
    Optional,
}

/// Verifies the bearer token of every request; see the [module docs](self).
///
/// Cheap to clone (`Arc`s inside).
#[derive(Clone)]
#[must_use]
pub struct AuthLayer<R = DefaultRejection> {
    verifier: Verifier,
    mode: Mode,
    realm: Arc<str>,
    rejection: R,
}

impl AuthLayer {
    /// A layer that requires a valid token on every request. The realm defaults to the
    /// verifier's first audience.
    pub fn new(verifier: Verifier) -> Self {
        let realm = verifier.default_realm().into();
        Self { verifier, mode: Mode::Required, realm, rejection: DefaultRejection }
    }
}

impl<R> AuthLayer<R> {
    /// Optional mode: a request without a bearer token passes through unauthenticated (the
    /// extractors then answer 401 where they are used, `Option<…>` extractors give `None`);
    /// a request with a bad token is still refused.
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// The `realm` of `WWW-Authenticate`.
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Replaces how rejections are answered.
    pub fn on_rejection<R2: OnRejection>(self, rejection: R2) -> AuthLayer<R2> {
        AuthLayer { verifier: self.verifier, mode: self.mode, realm: self.realm, rejection }
    }
}

impl<R: 'static> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("verifier", &self.verifier)
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("on_rejection", &rejection_name::<R>())
            .finish()
    }
}

fn rejection_name<R: 'static>() -> &'static str {
    if std::any::TypeId::of::<R>() == std::any::TypeId::of::<DefaultRejection>() { "default" } else { "<fn>" }
}

impl<S, R: Clone> Layer<S> for AuthLayer<R> {
    type Service = AuthService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, layer: self.clone() }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S, R = DefaultRejection> {
    inner: S,
    layer: AuthLayer<R>,
}

impl<S, R: 'static> fmt::Debug for AuthService<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: OnRejection,
    ReqBody: Send + 'static,
    ResBody: 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone is not ready; the original, which `poll_ready` readied, serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let reject = |err: AuthError| {
                    let res = layer.rejection.on_rejection(&err, &layer.realm);
                    Ok(res.map(AuthBody::rejection))
                };
                let verdict = match crate::bearer::extract(req.headers(), req.uri()) {
                    Err(err) => return reject(err),
                    Ok(Some(token)) => Some(layer.verifier.verify(token).await),
                    Ok(None) => None,
                };
                match verdict {
                    Some(Ok(claims)) => {
                        req.extensions_mut().insert(claims);
                    }
                    Some(Err(err)) => return reject(err),
                    None if layer.mode == Mode::Required => {
                        return reject(AuthError::new(crate::AuthErrorKind::MissingToken));
                    }
                    None => {}
                }
                req.extensions_mut().insert(AuthContext { realm: Arc::clone(&layer.realm) });
                inner.call(req).await.map(|res| res.map(AuthBody::inner))
            }),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The response future of [`AuthService`].
pub struct ResponseFuture<B, E> {
    inner: BoxFuture<Result<Response<AuthBody<B>>, E>>,
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<AuthBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
