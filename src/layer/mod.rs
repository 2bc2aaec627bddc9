//! The tower layer that verifies each request's bearer token once.
//!
//! [`AuthLayer`] wraps any tower service taking `http::Request<B>` (axum, plain hyper,
//! tonic). For each request it finds the bearer token ([`crate::bearer::extract`]), verifies
//! it with the [`Verifier`], and either puts the claims in the request extensions as
//! [`Authenticated`] and calls the inner service, or answers the rejection itself: 401/400/403/503
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
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

pub use crate::context::Authenticated;
pub use body::AuthBody;
pub use guard::{GuardFuture, RequireLayer, RequireService};

use crate::bearer::{Credentials, Scheme};
use crate::claims::Claims;
use crate::dpop::DpopMode;
use crate::error::{AuthError, AuthErrorKind, DpopChallenge};
use crate::verifier::{Admit, Presented, Verdict, Verifier, VerifyFuture};

/// What the layer leaves in the request extensions besides the claims: proof that it ran, the
/// realm, and how rejections are answered, so that every 401/403 behind the layer is shaped
/// by its [`on_rejection`](AuthLayer::on_rejection). One `Arc`: one count per request.
#[derive(Clone)]
pub(crate) struct AuthContext {
    inner: Arc<ContextInner>,
    /// This request is gRPC: rejections take the gRPC form (`grpc-status`), whatever
    /// `on_rejection` says.
    grpc: bool,
}

/// An [`OnRejection`] with its type erased: (error, realm) → response.
pub(crate) type RenderFn = dyn Fn(&AuthError, &str) -> Response<Bytes> + Send + Sync;

struct ContextInner {
    realm: Arc<str>,
    render: Box<RenderFn>,
    /// The `DPoP` challenge every rejection carries when the verifier accepts DPoP.
    dpop: Option<Arc<DpopChallenge>>,
    /// The verifier's first issuer: the one that settings not scoped to an issuer (signing
    /// secrets, rate-limit tables) apply to.
    primary_issuer: Option<Arc<str>>,
}

impl AuthContext {
    fn new<R: OnRejection>(realm: Arc<str>, rejection: R, verifier: &Verifier) -> Self {
        let dpop = verifier.dpop().map(|policy| {
            Arc::new(DpopChallenge {
                algs: Arc::clone(&policy.algs),
                bearer: policy.mode != DpopMode::Required,
            })
        });
        let inner = Arc::new(ContextInner {
            realm,
            render: Box::new(move |e, realm| rejection.on_rejection(e, realm)),
            dpop,
            primary_issuer: verifier.primary_issuer().map(Arc::from),
        });
        Self { inner, grpc: false }
    }

    /// This context for one request: gRPC or not, by its `content-type`.
    fn for_request(&self, headers: &http::HeaderMap) -> Self {
        Self { inner: Arc::clone(&self.inner), grpc: crate::context::is_grpc(headers) }
    }

    /// The realm of `WWW-Authenticate`.
    pub(crate) fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// The verifier's first issuer (`iss`): settings not scoped to an issuer apply to its
    /// tokens only.
    pub(crate) fn primary_issuer(&self) -> Option<&str> {
        self.inner.primary_issuer.as_deref()
    }

    /// Whether the request is gRPC.
    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The response for `error` refused behind the layer (an extractor, a guard, signatures,
    /// rate limits), as the layer's `on_rejection` shapes it; reported once.
    pub(crate) fn render(&self, error: &AuthError, line: RequestLine<'_>) -> Response<Bytes> {
        report(error, Stage::Behind, line);
        self.shape(error)
    }

    /// The response for `error` refused by the layer itself; reported once.
    fn render_at_layer(&self, error: &AuthError, line: RequestLine<'_>) -> Response<Bytes> {
        report(error, Stage::Layer, line);
        self.shape(error)
    }

    fn shape(&self, error: &AuthError) -> Response<Bytes> {
        let inner = &*self.inner;
        let with_challenge;
        let error = match &inner.dpop {
            Some(challenge) => {
                with_challenge = error.clone().with_dpop_challenge(challenge);
                &with_challenge
            }
            None => error,
        };
        if self.grpc { error.to_grpc_response(&inner.realm) } else { (inner.render)(error, &inner.realm) }
    }
}

/// Where a request was refused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// By `AuthLayer`: the token (or its absence, or the revocation list).
    Layer,
    /// Behind it, on a verified (or absent) token: scopes, trust, signatures, limits.
    Behind,
}

/// The method and path of a refused request, for its rejection event (never the query: a
/// caller may put a token there).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct RequestLine<'a> {
    method: &'a str,
    path: &'a str,
}

impl<'a> RequestLine<'a> {
    /// A line that is not known (a tonic handler sees no URL).
    #[cfg_attr(not(feature = "tonic"), allow(dead_code))]
    pub(crate) const UNKNOWN: RequestLine<'static> = RequestLine { method: "-", path: "-" };

    /// The line of `req`.
    pub(crate) fn of<B>(req: &'a Request<B>) -> Self {
        Self::new(req.method(), req.uri())
    }

    /// The line of a request with this method and URI.
    pub(crate) fn new(method: &'a http::Method, uri: &'a http::Uri) -> Self {
        Self { method: method.as_str(), path: uri.path() }
    }
}

/// Reports one rejection: a tracing event at `info` with the reason, status, method, path,
/// issuer, `kid` and client id when known (never the token, the query or a secret), and the
/// metric (`permiso_requests_total` at the layer, `permiso_denials_total` behind it).
pub(crate) fn report(error: &AuthError, stage: Stage, line: RequestLine<'_>) {
    let about = error.about();
    let issuer = about.and_then(|a| a.issuer.as_ref());
    let client = about.and_then(|a| a.client_id.as_deref());
    #[cfg(not(feature = "tracing"))]
    let _ = line;
    #[cfg(feature = "tracing")]
    {
        let kid = about.and_then(|a| a.kid.as_deref());
        tracing::info!(
            reason = error.kind().reason(),
            status = error.status().as_u16(),
            method = crate::error::printable(line.method, 16).as_ref(),
            path = crate::error::printable(line.path, 200).as_ref(),
            issuer = issuer.map_or("unknown", |i| &**i),
            kid = kid.unwrap_or("-"),
            client_id = client.unwrap_or("-"),
            stage = if stage == Stage::Layer { "layer" } else { "behind" },
            "permiso refused a request"
        );
    }
    match stage {
        Stage::Layer => crate::metrics::request("rejected", error.kind().reason(), issuer, client),
        Stage::Behind => crate::metrics::denial(error.kind().reason(), issuer, client),
    }
}

impl fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthContext")
            .field("realm", &self.inner.realm)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

/// Left in a request's extensions by `RateLimitLayer`: a `SignatureLayer` after it would let
/// requests without a valid signature spend the client's limit, so it refuses to run then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateLimitRan;

/// The error for a request that reached an extractor or a guard without an `AuthLayer`. The
/// server bug is logged once per process, not once per request.
pub(crate) fn missing_layer() -> AuthError {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::log::warn!(
            "a permiso extractor or RequireLayer is used on a route without AuthLayer; answering 500"
        );
    }
    AuthError::new(AuthErrorKind::MissingAuthLayer)
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

/// Verifies the bearer token of every request: it finds the token, verifies it once with
/// the [`Verifier`], and either leaves [`Authenticated`] in the extensions and calls the inner
/// service, or answers the rejection itself (401/400/403/503, RFC 6750), never an error to
/// the server.
///
/// Cheap to clone (`Arc`s inside).
///
/// ```
/// use axum::{Router, routing::get};
/// use permiso::{AuthLayer, Issuer, Verifier};
///
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .build()
///     .unwrap();
/// // Requests without a token pass unauthenticated; a bad token is still refused.
/// let layer = AuthLayer::new(verifier).realm("payments").optional();
/// let app: Router = Router::new().route("/", get(|| async { "ok" })).layer(layer);
/// # let _ = app;
/// ```
#[derive(Clone)]
#[must_use]
pub struct AuthLayer<R = DefaultRejection> {
    verifier: Verifier,
    mode: Mode,
    admit: Admit,
    realm: Arc<str>,
    rejection: R,
    context: AuthContext,
}

impl AuthLayer {
    /// A layer that requires a valid token on every request. The realm defaults to the
    /// verifier's first audience.
    pub fn new(verifier: Verifier) -> Self {
        let realm: Arc<str> = verifier.default_realm().into();
        let context = AuthContext::new(Arc::clone(&realm), DefaultRejection, &verifier);
        Self {
            verifier,
            mode: Mode::Required,
            admit: Admit::ServiceTokens,
            realm,
            rejection: DefaultRejection,
            context,
        }
    }
}

impl<R: OnRejection> AuthLayer<R> {
    /// Optional mode: a request without a bearer token passes through unauthenticated (the
    /// extractors then answer 401 where they are used, `Option<…>` extractors give `None`);
    /// a request with a bad token is still refused.
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// Lets through any verified access token, not only service tokens: a user's token from
    /// the permiso auth server (`"type": "user"`), or a token of an OIDC issuer that its
    /// [`ServiceTokenRule`](crate::ServiceTokenRule) does not call a service token.
    ///
    /// By default the layer answers such a token 401 `invalid_token` ("not a service token")
    /// on every route, whatever the route's extractors or guards ask: this is
    /// service-to-service middleware. With this opt-in, `RequireScopes`/`RequireLayer`
    /// routes accept them on their scopes alone; `ServiceClient` and `TrustedClient` still
    /// refuse them. A refresh token (`"type": "refresh"`) is never accepted, opt-in or not.
    ///
    /// ```
    /// use permiso::{AuthLayer, Issuer, Verifier};
    ///
    /// let verifier = Verifier::builder(["keystone-auth"])
    ///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
    ///     .build()
    ///     .unwrap();
    /// let layer = AuthLayer::new(verifier).accept_any_access_token();
    /// # let _ = layer;
    /// ```
    pub fn accept_any_access_token(mut self) -> Self {
        self.admit = Admit::AccessTokens;
        self
    }

    /// The `realm` of `WWW-Authenticate`.
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = realm.into();
        self.context = AuthContext::new(Arc::clone(&self.realm), self.rejection.clone(), &self.verifier);
        self
    }

    /// Replaces how rejections are answered: the layer's own, and every 401/403 of the
    /// extractors and [`RequireLayer`]s behind it.
    pub fn on_rejection<R2: OnRejection>(self, rejection: R2) -> AuthLayer<R2> {
        let context = AuthContext::new(Arc::clone(&self.realm), rejection.clone(), &self.verifier);
        AuthLayer {
            verifier: self.verifier,
            mode: self.mode,
            admit: self.admit,
            realm: self.realm,
            rejection,
            context,
        }
    }
}

impl<R: 'static> fmt::Debug for AuthLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("verifier", &self.verifier)
            .field("mode", &self.mode)
            .field("admit", &self.admit)
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

impl<S: Clone, R> AuthService<S, R> {
    /// Waits for `verify` before calling the inner service: the service that `poll_ready`
    /// readied goes with it; a clone stays for the next call.
    fn verifying<ReqBody>(
        &mut self,
        verify: VerifyFuture,
        req: Request<ReqBody>,
        context: AuthContext,
    ) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::verifying(verify, req, inner, self.layer.verifier.clone(), context)
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let layer = &self.layer;
        let context = layer.context.for_request(req.headers());
        let reject =
            |err: AuthError| ResponseFuture::rejected(context.render_at_layer(&err, RequestLine::of(&req)));
        let credentials = match crate::bearer::credentials(req.headers(), req.uri()) {
            Err(err) => return reject(err),
            Ok(None) if layer.mode == Mode::Required => {
                return reject(AuthError::new(AuthErrorKind::MissingToken));
            }
            Ok(None) => {
                crate::metrics::request("anonymous", "none", None, None);
                None
            }
            Ok(Some(credentials)) => Some(credentials),
        };
        let claims = match credentials {
            None => None,
            Some(Credentials { scheme: Scheme::Bearer, token }) => {
                if layer.verifier.dpop().is_some_and(|d| d.mode == DpopMode::Required) {
                    return reject(AuthError::new(AuthErrorKind::DpopRequired));
                }
                match layer.verifier.verify_now(token, Presented::Bearer, layer.admit) {
                    // The common case: a token seen before and not revoked, answered without
                    // waiting or boxing.
                    Verdict::Verified(claims) => Some(claims),
                    Verdict::Rejected(err) => return reject(err),
                    Verdict::Pending(verify) => return self.verifying(verify, req, context),
                }
            }
            Some(Credentials { scheme: Scheme::Dpop, token }) => {
                let Some(policy) = layer.verifier.dpop() else {
                    return reject(
                        AuthError::new(AuthErrorKind::InvalidRequest)
                            .with_description("the DPoP authorization scheme is not accepted here"),
                    );
                };
                let proof = match policy.capture(req.headers(), req.method(), req.uri()) {
                    Ok(proof) => proof,
                    Err(err) => return reject(err.about_dpop()),
                };
                // The token may come from the cache; the proof is checked on every request.
                let verdict = layer.verifier.verify_now(token, Presented::Dpop, layer.admit);
                let (policy, token) = (Arc::clone(policy), token.to_owned());
                let verify = Box::pin(async move {
                    let claims = match verdict {
                        Verdict::Verified(claims) => claims,
                        Verdict::Rejected(err) => return Err(err.about_dpop()),
                        Verdict::Pending(rest) => rest.await.map_err(AuthError::about_dpop)?,
                    };
                    let jkt = claims.dpop_jkt().unwrap_or_default();
                    policy.check(&proof, Some((&token, jkt))).await.map_err(|e| e.about_verified(&claims))?;
                    Ok(claims)
                });
                return self.verifying(verify, req, context);
            }
        };
        if let Some(claims) = claims {
            count_accepted(&layer.verifier, &claims);
            req.extensions_mut().insert(Authenticated(claims));
        }
        req.extensions_mut().insert(context);
        ResponseFuture::calling(self.inner.call(req))
    }
}

/// Counts an accepted request (a no-op without the `metrics` feature).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
fn count_accepted(verifier: &Verifier, claims: &Claims) {
    #[cfg(feature = "metrics")]
    crate::metrics::request("accepted", "none", verifier.issuer_label(claims.issuer()), claims.client_id());
}

pin_project! {
    /// The response future of [`AuthService`]: answering a rejection, waiting for a cold
    /// verification, or running the inner service.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Response<Bytes> },
        Verifying { verify: VerifyFuture, req: Request<ReqBody>, inner: S, verifier: Verifier, context: AuthContext },
        Calling { #[pin] future: S::Future },
        Done,
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> ResponseFuture<S, ReqBody> {
    fn rejected(response: Response<Bytes>) -> Self {
        Self { state: State::Rejected { response } }
    }

    fn verifying(
        verify: VerifyFuture,
        req: Request<ReqBody>,
        inner: S,
        verifier: Verifier,
        context: AuthContext,
    ) -> Self {
        Self { state: State::Verifying { verify, req, inner, verifier, context } }
    }

    fn calling(future: S::Future) -> Self {
        Self { state: State::Calling { future } }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<AuthBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Calling { future } => {
                    let out = std::task::ready!(future.poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(out.map(|res| res.map(AuthBody::inner)));
                }
                StateProj::Verifying { verify, .. } => {
                    let verdict = std::task::ready!(verify.as_mut().poll(cx));
                    let StateReplace::Verifying { mut req, mut inner, verifier, context, .. } =
                        state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Verifying a moment ago")
                    };
                    match verdict {
                        Ok(claims) => {
                            count_accepted(&verifier, &claims);
                            req.extensions_mut().insert(Authenticated(claims));
                            req.extensions_mut().insert(context);
                            state.set(State::Calling { future: inner.call(req) });
                        }
                        Err(err) => {
                            let line = RequestLine::of(&req);
                            return Poll::Ready(Ok(context
                                .render_at_layer(&err, line)
                                .map(AuthBody::rejection)));
                        }
                    }
                }
                StateProj::Rejected { .. } => {
                    let StateReplace::Rejected { response } = state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Rejected a moment ago")
                    };
                    return Poll::Ready(Ok(response.map(AuthBody::rejection)));
                }
                StateProj::Done => panic!("permiso's AuthService future was polled after it completed"),
            }
        }
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
