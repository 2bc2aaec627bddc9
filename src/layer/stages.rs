//! The stages an [`AuthLayer`](crate::AuthLayer) runs after the token, in their one order:
//! request signature, then rate limit.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};

use crate::claims::Claims;
#[cfg(feature = "rate-limit")]
use crate::limit::{LimitStep, RateLimitLayer};
use crate::signing::{BodyStep, Check, Known, NoSignatures, Reader, SignatureStage};
use crate::verifier::Verifier;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The headers the rate-limit stage puts on an allowed response.
pub(crate) type Allowed = Option<[HeaderValue; 2]>;

/// The stages after the token. Cheap to clone: `Arc`s, or nothing.
#[derive(Clone)]
pub(crate) struct Behind<Sig> {
    pub(crate) signatures: Sig,
    #[cfg(feature = "rate-limit")]
    pub(crate) limits: Option<RateLimitLayer>,
}

impl Behind<NoSignatures> {
    pub(crate) fn none() -> Self {
        Self {
            signatures: NoSignatures,
            #[cfg(feature = "rate-limit")]
            limits: None,
        }
    }
}

/// What comes next for a request whose token passed (decided from the request's head; the
/// request stays with the caller).
pub(crate) enum Next<B> {
    /// Every stage passed: call the inner service, then put these headers on its response.
    Call(Allowed),
    /// A stage refused: answer this.
    Refused(Response<Bytes>),
    /// The signature stage must read the body: hand it the request.
    Reading(Reader<B>),
    /// The rate-limit stage is asking its shared store.
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    Asking(BoxFuture<Result<Allowed, Response<Bytes>>>),
}

impl<Sig> Behind<Sig> {
    /// Whether no stage runs after the token: the layer then calls the inner service at once.
    #[inline]
    pub(crate) fn is_empty<B>(&self) -> bool
    where
        Sig: SignatureStage<B>,
    {
        #[cfg(feature = "rate-limit")]
        if self.limits.is_some() {
            return false;
        }
        <Sig as Check<B>>::CHECKS_NOTHING
    }

    /// Runs the stages on `req`, whose claims (if any) and context are in its extensions
    /// and in `known`.
    #[inline]
    pub(crate) fn run<B>(&self, req: &Request<B>, known: Known<'_>) -> Next<B>
    where
        Sig: SignatureStage<B>,
    {
        match Check::check(&self.signatures, req, Some(known)) {
            BodyStep::Pass => self.limit(req, Some(known)),
            BodyStep::Refused(res) => Next::Refused(res),
            BodyStep::Read(reader) => Next::Reading(reader),
        }
    }

    /// The rate-limit stage alone: what follows the signature check (`known` from the
    /// layer), or a signature read (`None`: the context and claims are in the extensions).
    #[inline]
    #[cfg_attr(not(feature = "rate-limit"), allow(unused_variables))]
    pub(crate) fn limit<B>(&self, req: &Request<B>, known: Option<Known<'_>>) -> Next<B> {
        #[cfg(feature = "rate-limit")]
        if let Some(limits) = &self.limits {
            return match limits.check(req, known) {
                LimitStep::Pass(headers) => Next::Call(headers),
                LimitStep::Refused(res) => Next::Refused(res),
                LimitStep::Asking(ask) => Next::Asking(ask),
            };
        }
        Next::Call(None)
    }
}

impl<Sig: fmt::Debug> fmt::Debug for Behind<Sig> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Stages");
        d.field("signatures", &self.signatures);
        #[cfg(feature = "rate-limit")]
        d.field("rate_limits", &self.limits);
        d.finish()
    }
}

/// The response of the inner service with the rate-limit headers, if any.
#[inline]
pub(crate) fn finish<B>(res: Response<B>, headers: Allowed) -> Response<B> {
    #[cfg(feature = "rate-limit")]
    return crate::limit::with_headers(res, headers);
    #[cfg(not(feature = "rate-limit"))]
    {
        let _ = headers;
        res
    }
}

/// Counts an accepted request (a no-op without the `metrics` feature).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count_accepted(verifier: &Verifier, claims: &Claims) {
    #[cfg(feature = "metrics")]
    crate::metrics::request("accepted", "none", verifier.issuer_label(claims.issuer()), claims.client_id());
}
