//! A per-route requirement for services without axum: the tower twin of the extractors.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::AuthBody;
use crate::context::{
    AuthContext, DefaultRejection, OnRejection, RenderFn, RequestLine, Stage, missing_layer, report,
};
use crate::error::AuthError;
use crate::require::{Requirement, ScopeList};
use crate::scope::Scopes;

type Render = Arc<RenderFn>;

/// Requires something of the token an [`AuthLayer`](super::AuthLayer) (applied outside it)
/// verified: scopes, a service token, a trusted client. Answers 403 (or 401 when the
/// `AuthLayer` is optional and no token came) itself, with the same RFC 6750 response as the
/// axum extractors, shaped by the `AuthLayer`'s `on_rejection`; answers 500 if no `AuthLayer`
/// ran, since that is a server bug.
///
/// ```
/// use http::{Request, Response};
/// use permiso::{AuthLayer, Issuer, RequireLayer, Verifier, scopes};
/// use tower::{ServiceBuilder, service_fn};
///
/// scopes! { pub ReadTransactions = "read:transactions"; }
///
/// # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
/// let list = ServiceBuilder::new()
///     .layer(AuthLayer::new(verifier))
///     // A misspelt marker is a compile error; `RequireLayer::scopes(["…"])` takes strings.
///     .layer(RequireLayer::require_scopes::<ReadTransactions>())
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("[]")))
///     }));
/// # let _ = list;
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequireLayer {
    requirement: Requirement,
    render: Option<Render>,
}

impl RequireLayer {
    fn with(requirement: Requirement) -> Self {
        Self { requirement, render: None }
    }

    pub(crate) fn requirement(&self) -> &Requirement {
        &self.requirement
    }

    /// Every scope of `S` (a [`scopes!`](crate::scopes) marker or a tuple of them),
    /// implication rules applied: the twin of the `RequireScopes<S>` extractor.
    pub fn require_scopes<S: Scopes>() -> Self {
        Self::with(Requirement::AllScopes(ScopeList::Static(S::SCOPES)))
    }

    /// At least one scope of `S`: the twin of the `RequireAnyScope<S>` extractor.
    pub fn require_any_scope<S: Scopes>() -> Self {
        Self::with(Requirement::AnyScope(ScopeList::Static(S::SCOPES)))
    }

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
        Self::with(Requirement::AllScopes(scope_list(scopes, "RequireLayer::scopes")))
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
        Self::with(Requirement::AnyScope(scope_list(scopes, "RequireLayer::any_scope")))
    }

    /// A service token (per its issuer's rule) naming its client.
    pub fn service_client() -> Self {
        Self::with(Requirement::ServiceClient)
    }

    /// A service token of a trusted client.
    pub fn trusted_client() -> Self {
        Self::with(Requirement::TrustedClient)
    }

    /// Shapes this guard's rejections itself, instead of the `AuthLayer`'s `on_rejection`;
    /// also the only way to shape the 500 it answers when no `AuthLayer` ran.
    pub fn on_rejection<R: OnRejection>(mut self, rejection: R) -> Self {
        self.render = Some(Arc::new(move |e, realm| rejection.on_rejection(e, realm)));
        self
    }
}

#[track_caller]
fn scope_list<I, S>(scopes: I, what: &str) -> ScopeList
where
    I: IntoIterator<Item = S>,
    S: Into<Box<str>>,
{
    let list: Arc<[Box<str>]> = scopes.into_iter().map(Into::into).collect();
    assert!(
        !list.is_empty() && list.iter().all(|s| !s.is_empty()),
        "{what} needs at least one scope, and no empty one: an empty requirement would let every token through"
    );
    ScopeList::Owned(list)
}

impl fmt::Debug for RequireLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RequireLayer");
        d.field("requirement", &self.requirement);
        if self.render.is_some() {
            d.field("on_rejection", &"<fn>");
        }
        d.finish()
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

impl<S> RequireService<S> {
    fn render(
        &self,
        error: &AuthError,
        context: Option<&AuthContext>,
        line: RequestLine<'_>,
    ) -> Response<Bytes> {
        if self.layer.render.is_some() {
            report(error, Stage::Behind, line);
        }
        match (&self.layer.render, context) {
            (Some(_), Some(ctx)) if ctx.is_grpc() => error.to_grpc_response(ctx.realm()),
            (Some(render), Some(ctx)) => render(error, ctx.realm()),
            (Some(render), None) => render(error, ""),
            (None, Some(ctx)) => ctx.render(error, line),
            (None, None) => {
                report(error, Stage::Behind, line);
                DefaultRejection.on_rejection(error, "")
            }
        }
    }
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
            return GuardFuture::reject(self.render(&missing_layer(), None, RequestLine::of(&req)));
        };
        match self.layer.requirement.check_request(req.extensions()) {
            Ok(()) => GuardFuture { state: Guard::Inner { fut: self.inner.call(req) } },
            Err(err) => {
                let res = self.render(&err, Some(ctx), RequestLine::of(&req));
                GuardFuture::reject(res)
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequireService`].
    #[derive(Debug)]
    pub struct GuardFuture<F, B> {
        #[pin]
        state: Guard<F, B>,
    }
}

pin_project! {
    #[project = GuardProj]
    #[derive(Debug)]
    enum Guard<F, B> {
        Inner { #[pin] fut: F },
        Reject { res: Option<Response<Bytes>>, _body: std::marker::PhantomData<fn() -> B> },
    }
}

impl<F, B> GuardFuture<F, B> {
    pub(crate) fn reject(res: Response<Bytes>) -> Self {
        GuardFuture { state: Guard::Reject { res: Some(res), _body: std::marker::PhantomData } }
    }

    pub(crate) fn call(fut: F) -> Self {
        GuardFuture { state: Guard::Inner { fut } }
    }
}

impl<F, B, E> Future for GuardFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<AuthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            GuardProj::Inner { fut } => fut.poll(cx).map_ok(|res| res.map(AuthBody::inner)),
            GuardProj::Reject { res, .. } => match res.take() {
                Some(res) => Poll::Ready(Ok(res.map(AuthBody::rejection))),
                None => panic!("permiso's GuardFuture was polled after it completed"),
            },
        }
    }
}
