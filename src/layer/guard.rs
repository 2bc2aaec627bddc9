//! A per-route requirement for services without axum: the tower twin of the extractors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{AuthBody, AuthContext};
use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};
use crate::require;

#[derive(Clone)]
enum Requirement {
    All(Arc<[Box<str>]>),
    Any(Arc<[Box<str>]>),
    Service,
    Trusted,
}

/// Requires something of the token an [`AuthLayer`](super::AuthLayer) (applied outside it)
/// verified: scopes, a service token, a trusted client. Answers 403 (or 401 when the
/// `AuthLayer` is optional and no token came) itself, with the same RFC 6750 response as the
/// axum extractors; answers 500 if no `AuthLayer` ran, since that is a server bug.
///
/// ```
/// use http::{Request, Response};
/// use permiso::{AuthLayer, Issuer, RequireLayer, Verifier};
/// use tower::{ServiceBuilder, service_fn};
///
/// # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
/// let list = ServiceBuilder::new()
///     .layer(AuthLayer::new(verifier))
///     .layer(RequireLayer::scopes(["read:transactions"]))
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("[]")))
///     }));
/// # let _ = list;
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequireLayer {
    requirement: Requirement,
}

impl RequireLayer {
    /// Every one of `scopes` (implication rules applied).
    ///
    /// # Panics
    ///
    /// When `scopes` is empty or holds an empty scope: a requirement of nothing would let
    /// every token through, so it is refused where the layer is built, never at a request.
    #[track_caller]
    pub fn scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self { requirement: Requirement::All(scope_list(scopes, "RequireLayer::scopes")) }
    }

    /// At least one of `scopes`.
    ///
    /// # Panics
    ///
    /// When `scopes` is empty or holds an empty scope, as [`scopes`](Self::scopes).
    #[track_caller]
    pub fn any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        Self { requirement: Requirement::Any(scope_list(scopes, "RequireLayer::any_scope")) }
    }

    /// A service token (per its issuer's rule) naming its client.
    pub fn service_client() -> Self {
        Self { requirement: Requirement::Service }
    }

    /// A service token of a trusted client.
    pub fn trusted_client() -> Self {
        Self { requirement: Requirement::Trusted }
    }

    fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        fn strs(list: &[Box<str>]) -> Vec<&str> {
            list.iter().map(|s| &**s).collect()
        }
        match &self.requirement {
            Requirement::All(list) => require::all_scopes(claims, &strs(list)),
            Requirement::Any(list) => require::any_scope(claims, &strs(list)),
            Requirement::Service => require::service(claims),
            Requirement::Trusted => require::trusted(claims),
        }
    }
}

#[track_caller]
fn scope_list<I, S>(scopes: I, what: &str) -> Arc<[Box<str>]>
where
    I: IntoIterator<Item = S>,
    S: Into<Box<str>>,
{
    let list: Arc<[Box<str>]> = scopes.into_iter().map(Into::into).collect();
    assert!(
        !list.is_empty() && list.iter().all(|s| !s.is_empty()),
        "{what} needs at least one scope, and no empty one: an empty requirement would let every token through"
    );
    list
}

impl fmt::Debug for RequireLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("RequireLayer");
        match &self.requirement {
            Requirement::All(s) => t.field(&("all", s)),
            Requirement::Any(s) => t.field(&("any", s)),
            Requirement::Service => t.field(&"service_client"),
            Requirement::Trusted => t.field(&"trusted_client"),
        };
        t.finish()
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService { inner, layer: self.clone() }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone, Debug)]
pub struct RequireService<S> {
    inner: S,
    layer: RequireLayer,
}

/// The response for a request that reached a guarded route or extractor without an
/// `AuthLayer`. The server bug is logged once per process, not once per request.
pub(crate) fn missing_layer_response() -> Response<Bytes> {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::log::warn!(
            "a permiso extractor or RequireLayer is used on a route without AuthLayer; answering 500"
        );
    }
    let body = serde_json::json!({
        "error": "server_error",
        "error_description": "authentication is not configured for this route (is AuthLayer applied?)",
    });
    let mut res = Response::new(Bytes::from(body.to_string()));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(ctx) = req.extensions().get::<AuthContext>() else {
            return GuardFuture::reject(missing_layer_response());
        };
        let verdict = match req.extensions().get::<Arc<Claims>>() {
            Some(claims) => self.layer.check(claims),
            None => Err(AuthError::new(AuthErrorKind::MissingToken)),
        };
        match verdict {
            Ok(()) => GuardFuture::Inner { fut: self.inner.call(req) },
            Err(err) => GuardFuture::reject(err.to_response(&ctx.realm)),
        }
    }
}

pin_project! {
    /// The response future of [`RequireService`].
    #[project = GuardFutureProj]
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum GuardFuture<F, B> {
        Inner { #[pin] fut: F },
        Reject { res: Option<Response<Bytes>>, _body: std::marker::PhantomData<fn() -> B> },
    }
}

impl<F, B> GuardFuture<F, B> {
    fn reject(res: Response<Bytes>) -> Self {
        GuardFuture::Reject { res: Some(res), _body: std::marker::PhantomData }
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<AuthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardFutureProj::Inner { fut } => fut.poll(cx).map_ok(|res| res.map(AuthBody::inner)),
            GuardFutureProj::Reject { res, .. } => match res.take() {
                Some(res) => Poll::Ready(Ok(res.map(AuthBody::rejection))),
                None => Poll::Pending,
            },
        }
    }
}
