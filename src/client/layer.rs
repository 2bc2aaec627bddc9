//! The outgoing side as a tower layer: a bearer token on every request, one retry after a 401.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use super::exchange::{Exchange, Next};
use super::source::{AccessToken, TokenSource};
use super::token_error::TokenError;

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to every outgoing request (for a
/// DPoP-bound token, `Authorization: DPoP …` and a fresh `DPoP` proof for the request's
/// method and URL — its URI when absolute, else `Host` over `http` — with one retry carrying
/// a nonce the target asks for). On a 401
/// from the target whose challenge says `invalid_token` (or names no error) it drops the
/// cached token, gets a new one and sends the request once more (at most one forced refetch
/// per [interval](super::TokenSourceBuilder::refetch_after_401_interval)); a second 401 is
/// returned as it is. The body type must be `Clone` so the request can be
/// replayed (`Full<Bytes>`, `String`, `Empty`…).
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use permiso::client::{BearerLayer, ServiceCredentials, TokenEndpoint, TokenSource};
/// use tower::{ServiceBuilder, service_fn};
///
/// let creds = ServiceCredentials::new("payment-service", "secret",
///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()));
/// let source = TokenSource::new(creds).unwrap();
/// let client = ServiceBuilder::new()
///     .layer(BearerLayer::new(source))
///     .service(service_fn(|req: Request<Full<Bytes>>| async move {
///         // Send `req` with your HTTP client here.
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
///     }));
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BearerLayer {
    source: TokenSource,
}

impl BearerLayer {
    /// Tokens from `source`.
    pub fn new(source: TokenSource) -> Self {
        Self { source }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = AddBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddBearer { inner, source: self.source.clone() }
    }
}

/// The service made by [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct AddBearer<S> {
    inner: S,
    source: TokenSource,
}

/// A failed outgoing request: no token could be had, or the inner service failed.
#[derive(Debug)]
pub enum BearerError<E> {
    /// The token endpoint refused or was unreachable.
    Token(TokenError),
    /// The inner service failed.
    Service(E),
}

impl<E: fmt::Display> fmt::Display for BearerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(e) => write!(f, "no access token: {e}"),
            Self::Service(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BearerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(e) => Some(e),
            Self::Service(e) => Some(e),
        }
    }
}

pub(crate) fn authorize<B>(
    req: &mut Request<B>,
    token: &AccessToken,
    source: &TokenSource,
) -> Result<(), TokenError> {
    req.headers_mut().insert(header::AUTHORIZATION, token.authorization()?);
    if token.is_dpop_bound()
        && let Some((origin, url)) = target(req)
    {
        let nonce = source.dpop_nonce(&origin);
        if let Some(proof) = token.dpop_proof(req.method().as_str(), &url, nonce.as_deref()) {
            req.headers_mut().insert("dpop", proof);
        }
    }
    Ok(())
}

/// The origin and URL (without query) a request goes to: its URI when absolute, else its
/// `Host` over `http`.
pub(crate) fn target<B>(req: &Request<B>) -> Option<(String, String)> {
    let uri = req.uri();
    let origin = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => format!("http://{}", req.headers().get(header::HOST)?.to_str().ok()?),
    };
    let url = format!("{origin}{}", uri.path());
    Some((origin, url))
}

fn replay<B: Clone>(req: &Request<B>) -> Request<B> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

impl<S, B, RB> Service<Request<B>> for AddBearer<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Clone + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BearerError<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BearerError::Service)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        Box::pin(async move {
            let origin = target(&req).map(|(o, _)| o);
            let mut exchange = Exchange::start(&source, origin).await.map_err(BearerError::Token)?;
            let retry = replay(&req);
            authorize(&mut req, exchange.token(), &source).map_err(BearerError::Token)?;
            let mut res = inner.call(req).await.map_err(BearerError::Service)?;
            loop {
                let refused = res.status() == StatusCode::UNAUTHORIZED;
                if exchange.after(refused, res.headers(), true).await == Next::Done {
                    return Ok(res);
                }
                let mut again = replay(&retry);
                authorize(&mut again, exchange.token(), &source).map_err(BearerError::Token)?;
                poll_fn(|cx| inner.poll_ready(cx)).await.map_err(BearerError::Service)?;
                res = inner.call(again).await.map_err(BearerError::Service)?;
            }
        })
    }
}
