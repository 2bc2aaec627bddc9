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

pub use crate::context::{Authenticated, DefaultRejection, OnRejection};
pub use body::AuthBody;
pub use guard::{GuardFuture, RequireLayer, RequireService};

use crate::bearer::{Credentials, Scheme};
use crate::claims::Claims;
use crate::context::{AuthContext, RequestLine};
use crate::dpop::DpopMode;
use crate::error::{AuthError, AuthErrorKind};
use crate::verifier::{Admit, Presented, Verdict, Verifier, VerifyFuture};

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
