//! The response future of [`AuthService`](crate::AuthService): one state machine for every
//! stage of the layer, so that a request passes them all without a box on the common path.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::stages::{Allowed, Behind, BoxFuture, Next, count_accepted, finish};
use crate::body::AuthBody;
use crate::context::{AuthContext, Authenticated, RequestLine};
use crate::signing::{Known, NoSignatures, SignatureStage};
use crate::verifier::{Verifier, VerifyFuture};

pin_project! {
    /// The response future of [`AuthService`](crate::AuthService): answering a rejection,
    /// waiting for a cold verification, a signed body or the shared rate-limit store, or
    /// running the inner service.
    pub struct ResponseFuture<S, ReqBody, Sig = NoSignatures>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, Sig>,
        // A fresh `DPoP-Nonce` for a successful answer (the proof's was the previous window's).
        dpop_nonce: Option<http::HeaderValue>,
    }
}

pin_project! {
    #[project = StateProj]
    #[project_replace = StateReplace]
    enum State<S, ReqBody, Sig>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Response<Bytes> },
        Verifying {
            verify: VerifyFuture,
            req: Request<ReqBody>,
            inner: S,
            verifier: Verifier,
            context: AuthContext,
            behind: Behind<Sig>,
        },
        Reading { read: BoxFuture<Result<Request<ReqBody>, Response<Bytes>>>, inner: S, behind: Behind<Sig> },
        Asking { ask: BoxFuture<Result<Allowed, Response<Bytes>>>, req: Request<ReqBody>, inner: S },
        Calling { #[pin] future: S::Future, headers: Allowed },
        Done,
    }
}

/// What a verification left undone when the layer's `call` returned.
pub(crate) struct Verifying<ReqBody, Sig> {
    pub(crate) verify: VerifyFuture,
    pub(crate) req: Request<ReqBody>,
    pub(crate) verifier: Verifier,
    pub(crate) context: AuthContext,
    pub(crate) behind: Behind<Sig>,
}

impl<S: Service<Request<ReqBody>>, ReqBody, Sig> ResponseFuture<S, ReqBody, Sig> {
    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Self { state: State::Rejected { response }, dpop_nonce: None }
    }

    pub(crate) fn calling(future: S::Future) -> Self {
        Self { state: State::Calling { future, headers: None }, dpop_nonce: None }
    }

    pub(crate) fn verifying(pending: Verifying<ReqBody, Sig>, inner: S) -> Self {
        let Verifying { verify, req, verifier, context, behind } = pending;
        Self { state: State::Verifying { verify, req, inner, verifier, context, behind }, dpop_nonce: None }
    }

    /// Gives a successful answer `nonce` as its `DPoP-Nonce`.
    pub(crate) fn with_dpop_nonce(mut self, nonce: Option<http::HeaderValue>) -> Self {
        self.dpop_nonce = nonce;
        self
    }

    /// The future for `next` on a service that `take` hands over: only the stages that wait
    /// take it; `Call` uses `call` on the readied one in place.
    pub(crate) fn next(
        next: Next<ReqBody>,
        req: Request<ReqBody>,
        behind: impl FnOnce() -> Behind<Sig>,
        inner: &mut S,
    ) -> Self
    where
        S: Clone,
    {
        let take = |inner: &mut S| {
            let clone = inner.clone();
            std::mem::replace(inner, clone)
        };
        let state = match next {
            Next::Call(headers) => State::Calling { future: inner.call(req), headers },
            Next::Refused(response) => State::Rejected { response },
            Next::Reading(reader) => {
                State::Reading { read: reader(req), inner: take(inner), behind: behind() }
            }
            Next::Asking(ask) => State::Asking { ask, req, inner: take(inner) },
        };
        Self { state, dpop_nonce: None }
    }
}

/// The state for `next` of `req` inside the future, which owns the service.
fn resume<S, ReqBody, Sig>(
    next: Next<ReqBody>,
    req: Request<ReqBody>,
    mut inner: S,
    behind: Behind<Sig>,
) -> State<S, ReqBody, Sig>
where
    S: Service<Request<ReqBody>>,
{
    match next {
        Next::Call(headers) => State::Calling { future: inner.call(req), headers },
        Next::Refused(response) => State::Rejected { response },
        Next::Reading(reader) => State::Reading { read: reader(req), inner, behind },
        Next::Asking(ask) => State::Asking { ask, req, inner },
    }
}

impl<S, ReqBody, ResBody, Sig> Future for ResponseFuture<S, ReqBody, Sig>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    Sig: SignatureStage<ReqBody>,
{
    type Output = Result<Response<AuthBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (mut state, dpop_nonce) = (this.state, this.dpop_nonce);
        loop {
            match state.as_mut().project() {
                StateProj::Calling { future, headers } => {
                    let out = std::task::ready!(future.poll(cx));
                    let headers = headers.take();
                    state.set(State::Done);
                    let nonce = dpop_nonce.take();
                    return Poll::Ready(out.map(|res| {
                        let mut res = finish(res.map(AuthBody::inner), headers);
                        if let Some(nonce) = nonce.filter(|_| res.status().is_success()) {
                            res.headers_mut().insert("dpop-nonce", nonce);
                        }
                        res
                    }));
                }
                StateProj::Verifying { verify, .. } => {
                    let verdict = std::task::ready!(verify.as_mut().poll(cx));
                    let StateReplace::Verifying { mut req, inner, verifier, context, behind, .. } =
                        state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Verifying a moment ago")
                    };
                    match verdict {
                        Ok(claims) => {
                            count_accepted(&verifier, &claims);
                            req.extensions_mut().insert(Authenticated(Arc::clone(&claims)));
                            req.extensions_mut().insert(context.clone());
                            let next = behind.run(&req, Known { context: &context, claims: Some(&claims) });
                            state.set(resume(next, req, inner, behind));
                        }
                        Err(err) => {
                            let line = RequestLine::of(&req);
                            return Poll::Ready(Ok(context
                                .render_at_layer(&err, line)
                                .map(AuthBody::rejection)));
                        }
                    }
                }
                StateProj::Reading { read, .. } => {
                    let read = std::task::ready!(read.as_mut().poll(cx));
                    let StateReplace::Reading { inner, behind, .. } =
                        state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Reading a moment ago")
                    };
                    match read {
                        Ok(req) => {
                            let next = behind.limit(&req, None);
                            state.set(resume(next, req, inner, behind));
                        }
                        Err(response) => return Poll::Ready(Ok(response.map(AuthBody::rejection))),
                    }
                }
                StateProj::Asking { ask, .. } => {
                    let answer = std::task::ready!(ask.as_mut().poll(cx));
                    let StateReplace::Asking { req, mut inner, .. } =
                        state.as_mut().project_replace(State::Done)
                    else {
                        unreachable!("the state was Asking a moment ago")
                    };
                    match answer {
                        Ok(headers) => state.set(State::Calling { future: inner.call(req), headers }),
                        Err(response) => return Poll::Ready(Ok(response.map(AuthBody::rejection))),
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

impl<S: Service<Request<ReqBody>>, ReqBody, Sig> fmt::Debug for ResponseFuture<S, ReqBody, Sig> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
