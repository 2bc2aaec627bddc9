//! What `AuthLayer` proved about a request, as it travels to what runs behind the layer, and
//! how the request wants to be answered. Depends on nothing above it.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};

use crate::claims::Claims;
use crate::dpop::DpopMode;
use crate::error::{AuthError, AuthErrorKind, DpopChallenge};
use crate::verifier::Verifier;

/// What the layer proved about a request, left in its extensions for what runs behind it
/// (extractors, [`RequireLayer`](crate::RequireLayer), your own handlers on plain hyper): the verified claims.
///
/// ```
/// use permiso::{Authenticated, Claims};
///
/// fn caller(req: &http::Request<()>) -> Option<&Claims> {
///     req.extensions().get::<Authenticated>().map(|a| &**a.claims())
/// }
/// # assert!(caller(&http::Request::new(())).is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Authenticated(pub(crate) Arc<Claims>);

impl Authenticated {
    /// The verified claims.
    pub fn claims(&self) -> &Arc<Claims> {
        &self.0
    }
}

/// Whether a request is gRPC: `content-type` `application/grpc`, `application/grpc+proto`,
/// `application/grpc;…`.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16
            && v[..16].eq_ignore_ascii_case(b"application/grpc")
            && matches!(v.get(16), None | Some(b'+' | b';'))
    })
}

/// What the layer leaves in the request extensions besides the claims: proof that it ran, the
/// realm, and how rejections are answered, so that every 401/403 behind the layer is shaped
/// by its [`on_rejection`](crate::AuthLayer::on_rejection). One `Arc`: one count per request.
#[derive(Clone)]
pub(crate) struct AuthContext {
    inner: Arc<ContextInner>,
    /// This request is gRPC: rejections take the gRPC form (`grpc-status`), whatever
    /// `on_rejection` says.
    grpc: bool,
    /// A rate limit counted the request before what runs behind (the `AuthLayer`'s own, or a
    /// `RateLimitLayer` stacked by hand): a `SignatureLayer` there would let requests without
    /// a valid signature spend the client's limit, so it refuses to run.
    rate_limited: bool,
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
    /// The RFC 9728 metadata URL every 401 challenge names, when the layer serves metadata.
    resource_metadata: Option<Arc<str>>,
}

impl AuthContext {
    pub(crate) fn new<R: OnRejection>(
        realm: Arc<str>,
        rejection: R,
        verifier: &Verifier,
        resource_metadata: Option<Arc<str>>,
    ) -> Self {
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
            resource_metadata,
        });
        Self { inner, grpc: false, rate_limited: false }
    }

    /// This context for one request: gRPC or not, by its `content-type`.
    pub(crate) fn for_request(&self, headers: &http::HeaderMap) -> Self {
        Self { inner: Arc::clone(&self.inner), grpc: is_grpc(headers), rate_limited: self.rate_limited }
    }

    /// Marks the request as counted by a rate limit before what runs behind it.
    #[cfg(feature = "rate-limit")]
    pub(crate) fn mark_rate_limited(&mut self) {
        self.rate_limited = true;
    }

    /// Whether a rate limit counted the request before what runs behind it.
    pub(crate) fn is_rate_limited(&self) -> bool {
        self.rate_limited
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
    pub(crate) fn render_at_layer(&self, error: &AuthError, line: RequestLine<'_>) -> Response<Bytes> {
        report(error, Stage::Layer, line);
        self.shape(error)
    }

    fn shape(&self, error: &AuthError) -> Response<Bytes> {
        let inner = &*self.inner;
        let with_challenge;
        let error = if inner.dpop.is_some() || inner.resource_metadata.is_some() {
            let mut e = error.clone();
            if let Some(challenge) = &inner.dpop {
                e = e.with_dpop_challenge(challenge);
            }
            if let Some(url) = &inner.resource_metadata {
                e = e.with_resource_metadata(url);
            }
            with_challenge = e;
            &with_challenge
        } else {
            error
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

/// The 500 for a request that reached a permiso stage without an `AuthLayer` in front of it:
/// in the gRPC form for a gRPC request, in the HTTP form otherwise.
pub(crate) fn missing_layer_response(headers: &HeaderMap) -> Response<Bytes> {
    let err = missing_layer();
    if is_grpc(headers) { err.to_grpc_response("") } else { DefaultRejection.on_rejection(&err, "") }
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
