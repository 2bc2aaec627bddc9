//! What needs tonic: reading the verified token in handlers (`tonic::Status` errors), and
//! tokens on a tonic channel.

use std::sync::Arc;

use tonic::Status;
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::claims::Claims;
use crate::context::{AuthContext, Authenticated, RequestLine, Stage, missing_layer, report};
use crate::error::{AuthError, AuthErrorKind};
use crate::require::{Requirement, ScopeList};

impl AuthError {
    /// This rejection as a `tonic::Status`: the code of [`grpc_code`](Self::grpc_code), the
    /// description as the message, and the `www-authenticate` challenge as metadata.
    ///
    /// ```
    /// use permiso::{AuthError, AuthErrorKind};
    ///
    /// let status = AuthError::new(AuthErrorKind::UntrustedClient).to_status("payments");
    /// assert_eq!(status.code(), tonic::Code::PermissionDenied);
    /// assert!(status.metadata().get("www-authenticate").is_some());
    /// ```
    pub fn to_status(&self, realm: &str) -> Status {
        let mut metadata = MetadataMap::new();
        for challenge in self.challenges(realm) {
            if let Ok(v) = MetadataValue::try_from(challenge.as_bytes()) {
                metadata.append("www-authenticate", v);
            }
        }
        if let Some(secs) = self.retry_after() {
            metadata.insert("retry-after", MetadataValue::from(secs));
        }
        Status::with_metadata(tonic::Code::from(i32::from(self.grpc_code())), self.grpc_text(), metadata)
    }
}

/// What a gRPC handler asks of the request `AuthLayer` verified: the claims, scopes
/// (permiso's `admin:X` implication applied), a service client, a trusted client. Errors
/// are `tonic::Status` with the codes of the [module docs](crate::grpc), so a handler ends
/// with `?`.
///
/// ```
/// use permiso::grpc::GrpcAuth;
///
/// async fn list(request: tonic::Request<()>) -> Result<tonic::Response<String>, tonic::Status> {
///     let caller = request.require_scopes(["read:transactions"])?;
///     Ok(tonic::Response::new(caller.client_id().unwrap_or_default().to_owned()))
/// }
/// // Without AuthLayer in front there are no claims: INTERNAL, never a pass.
/// # let status = tokio::runtime::Builder::new_current_thread().build().unwrap()
/// #     .block_on(list(tonic::Request::new(()))).unwrap_err();
/// # assert_eq!(status.code(), tonic::Code::Internal);
/// ```
pub trait GrpcAuth {
    /// The verified claims (`UNAUTHENTICATED` without a token, `INTERNAL` without a layer).
    ///
    /// # Errors
    ///
    /// As above.
    fn claims(&self) -> Result<&Arc<Claims>, Status>;

    /// The claims, if they grant every one of `scopes`; `PERMISSION_DENIED` naming them
    /// otherwise.
    ///
    /// # Errors
    ///
    /// As [`claims`](Self::claims), or a missing scope.
    fn require_scopes<'a, I: IntoIterator<Item = &'a str>>(&self, scopes: I) -> Result<&Arc<Claims>, Status>;

    /// The claims, if they grant at least one of `scopes`.
    ///
    /// # Errors
    ///
    /// As [`claims`](Self::claims), or none of the scopes.
    fn require_any_scope<'a, I: IntoIterator<Item = &'a str>>(
        &self,
        scopes: I,
    ) -> Result<&Arc<Claims>, Status>;

    /// The claims of a service token naming its client (`UNAUTHENTICATED` otherwise).
    ///
    /// # Errors
    ///
    /// As [`claims`](Self::claims), or not a service token.
    fn require_service(&self) -> Result<&Arc<Claims>, Status>;

    /// The claims of a trusted client's service token (`PERMISSION_DENIED` otherwise).
    ///
    /// # Errors
    ///
    /// As [`require_service`](Self::require_service), or an untrusted client.
    fn require_trusted(&self) -> Result<&Arc<Claims>, Status>;
}

impl<T> GrpcAuth for tonic::Request<T> {
    fn claims(&self) -> Result<&Arc<Claims>, Status> {
        decide(self.extensions(), None)
    }

    fn require_scopes<'a, I: IntoIterator<Item = &'a str>>(&self, scopes: I) -> Result<&Arc<Claims>, Status> {
        let list = ScopeList::Owned(scopes.into_iter().map(Into::into).collect());
        decide(self.extensions(), Some(&Requirement::AllScopes(list)))
    }

    fn require_any_scope<'a, I: IntoIterator<Item = &'a str>>(
        &self,
        scopes: I,
    ) -> Result<&Arc<Claims>, Status> {
        let list = ScopeList::Owned(scopes.into_iter().map(Into::into).collect());
        decide(self.extensions(), Some(&Requirement::AnyScope(list)))
    }

    fn require_service(&self) -> Result<&Arc<Claims>, Status> {
        decide(self.extensions(), Some(&Requirement::ServiceClient))
    }

    fn require_trusted(&self) -> Result<&Arc<Claims>, Status> {
        decide(self.extensions(), Some(&Requirement::TrustedClient))
    }
}

fn decide<'a>(
    ext: &'a tonic::Extensions,
    requirement: Option<&Requirement>,
) -> Result<&'a Arc<Claims>, Status> {
    let Some(context) = ext.get::<AuthContext>() else {
        let err = missing_layer();
        report(&err, Stage::Behind, RequestLine::UNKNOWN);
        return Err(err.to_status(""));
    };
    let refuse = |err: AuthError| {
        report(&err, Stage::Behind, RequestLine::UNKNOWN);
        err.to_status(context.realm())
    };
    let claims = ext
        .get::<Authenticated>()
        .map(Authenticated::claims)
        .ok_or_else(|| refuse(AuthError::new(AuthErrorKind::MissingToken)))?;
    if let Some(requirement) = requirement {
        requirement.check(claims).map_err(refuse)?;
    }
    Ok(claims)
}

#[cfg(feature = "client")]
mod calling {
    use std::collections::VecDeque;
    use std::fmt;
    use std::future::{Future, poll_fn};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body::{Body, Frame};
    use tower_layer::Layer;
    use tower_service::Service;

    use crate::client::TokenError;
    use crate::client::exchange::{Exchange, Next};
    use crate::client::layer::authorize;
    use crate::client::{AccessToken, TokenSource};

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// How much of a request is kept to send it again after `UNAUTHENTICATED`.
    const MAX_REPLAY_BYTES: usize = 4 * 1024 * 1024;

    /// Adds the token of a [`TokenSource`] to every call on a tonic channel
    /// (`authorization: Bearer …`, or `DPoP …` with a fresh proof for a bound token). When the
    /// server answers `UNAUTHENTICATED` asking for a new token (`invalid_token`, or no error
    /// named), it drops the cached token, gets a new one and sends the call once more — when
    /// the call can be sent again: its whole request was ready at once (unary and
    /// server-streaming calls, up to 4 MiB). A client-streaming call is sent as it streams
    /// and never held back; the next call gets the new token.
    ///
    /// ```no_run
    /// # async fn run(source: permiso::client::TokenSource) -> Result<(), Box<dyn std::error::Error>> {
    /// use permiso::grpc::GrpcBearerLayer;
    ///
    /// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect().await?;
    /// let channel = tower::ServiceBuilder::new().layer(GrpcBearerLayer::new(source)).service(channel);
    /// // PaymentsClient::new(channel) — any tonic client takes it.
    /// # let _ = channel;
    /// # Ok(()) }
    /// ```
    #[derive(Clone, Debug)]
    #[must_use]
    pub struct GrpcBearerLayer {
        source: TokenSource,
        origin: Option<Origin>,
    }

    impl GrpcBearerLayer {
        /// Tokens from `source`.
        pub fn new(source: TokenSource) -> Self {
            Self { source, origin: None }
        }

        /// The server's origin as the channel reaches it (`https://payments.internal:50051`),
        /// needed for DPoP proofs (their `htu` is the call's full URL): a tonic channel adds
        /// the origin to each request only after this layer. Without it a DPoP-bound call
        /// fails with [`GrpcBearerError::NoOrigin`] rather than go without its proof.
        ///
        /// # Errors
        ///
        /// `origin` is not an absolute `scheme://host[:port]` URI.
        pub fn origin(mut self, origin: &str) -> Result<Self, crate::error::ConfigError> {
            let invalid = || {
                crate::error::ConfigError::new(
                    crate::error::ConfigErrorKind::Invalid,
                    "GrpcBearerLayer::origin: expected an absolute scheme://host[:port] URI",
                )
            };
            let parts = http::Uri::try_from(origin).map_err(|_| invalid())?.into_parts();
            if parts.scheme.is_none() || parts.authority.is_none() {
                return Err(invalid());
            }
            self.origin = Some((parts.scheme, parts.authority));
            Ok(self)
        }
    }

    impl<S> Layer<S> for GrpcBearerLayer {
        type Service = GrpcBearer<S>;

        fn layer(&self, inner: S) -> Self::Service {
            GrpcBearer { inner, source: self.source.clone(), origin: self.origin.clone() }
        }
    }

    type Origin = (Option<http::uri::Scheme>, Option<http::uri::Authority>);

    /// The service made by [`GrpcBearerLayer`].
    #[derive(Clone, Debug)]
    pub struct GrpcBearer<S> {
        inner: S,
        source: TokenSource,
        origin: Option<Origin>,
    }

    /// A failed call: no token could be had, the request body failed, or the channel failed.
    #[derive(Debug)]
    pub enum GrpcBearerError<E> {
        /// The token endpoint refused or was unreachable.
        Token(TokenError),
        /// The request's own body failed while it was read.
        Body(BoxError),
        /// The token is DPoP-bound and the call's URL is unknown: give the layer the server's
        /// [`origin`](GrpcBearerLayer::origin).
        NoOrigin,
        /// The channel failed.
        Service(E),
    }

    impl<E: fmt::Display> fmt::Display for GrpcBearerError<E> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Token(e) => write!(f, "no access token: {e}"),
                Self::Body(e) => write!(f, "the request body failed: {e}"),
                Self::NoOrigin => {
                    f.write_str("a DPoP proof needs the call's URL: set GrpcBearerLayer::origin")
                }
                Self::Service(e) => e.fmt(f),
            }
        }
    }

    impl<E: std::error::Error + 'static> std::error::Error for GrpcBearerError<E> {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                Self::Token(e) => Some(e),
                Self::Body(e) => Some(&**e),
                Self::NoOrigin => None,
                Self::Service(e) => Some(e),
            }
        }
    }

    /// A request body read as far as it was ready: whole (it can be sent again), or a prefix
    /// and the rest still streaming.
    enum Taken<B> {
        Whole(Vec<Frame<Bytes>>),
        Streaming(VecDeque<Frame<Bytes>>, B),
    }

    fn copy(frame: &Frame<Bytes>) -> Frame<Bytes> {
        match (frame.data_ref(), frame.trailers_ref()) {
            (Some(data), _) => Frame::data(data.clone()),
            (None, Some(trailers)) => Frame::trailers(trailers.clone()),
            (None, None) => Frame::data(Bytes::new()),
        }
    }

    /// Reads the frames `body` has ready now, without waiting for more.
    async fn take_ready<B>(mut body: B) -> Result<Taken<B>, BoxError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        let mut frames = VecDeque::new();
        let mut held = 0;
        loop {
            let next = poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
                Poll::Pending => Poll::Ready(None),
                Poll::Ready(frame) => Poll::Ready(Some(frame)),
            })
            .await;
            match next {
                None => return Ok(Taken::Streaming(frames, body)),
                Some(None) => return Ok(Taken::Whole(frames.into())),
                Some(Some(frame)) => {
                    let frame = frame.map_err(Into::into)?;
                    held += frame.data_ref().map_or(0, Bytes::len);
                    frames.push_back(frame);
                    if held > MAX_REPLAY_BYTES {
                        return Ok(Taken::Streaming(frames, body));
                    }
                }
            }
        }
    }

    /// Frames read already, then the rest of the body.
    struct Resumed<B> {
        prefix: VecDeque<Frame<Bytes>>,
        rest: Option<B>,
    }

    impl<B> Body for Resumed<B>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if let Some(frame) = self.prefix.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            match &mut self.rest {
                Some(rest) => Pin::new(rest).poll_frame(cx).map(|f| f.map(|f| f.map_err(Into::into))),
                None => Poll::Ready(None),
            }
        }
    }

    fn is_unauthenticated<B>(res: &Response<B>) -> bool {
        res.headers().get("grpc-status").is_some_and(|s| s == "16")
    }

    type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    impl<S, B, RB> Service<Request<B>> for GrpcBearer<S>
    where
        S: Service<Request<tonic::body::Body>, Response = Response<RB>> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Send,
        B: Body<Data = Bytes> + Unpin + Send + 'static,
        B::Error: Into<BoxError>,
        RB: Send + 'static,
    {
        type Response = Response<RB>;
        type Error = GrpcBearerError<S::Error>;
        type Future = BoxFuture<Result<Response<RB>, Self::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx).map_err(GrpcBearerError::Service)
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let source = self.source.clone();
            let origin = self.origin.clone();
            Box::pin(async move {
                let (mut parts, body) = req.into_parts();
                let token = source.token().await.map_err(GrpcBearerError::Token)?;
                if token.is_dpop_bound() && parts.uri.authority().is_none() {
                    // The proof's htu is the full URL, which the channel completes later.
                    let Some((scheme, authority)) = origin else { return Err(GrpcBearerError::NoOrigin) };
                    let mut uri = std::mem::take(&mut parts.uri).into_parts();
                    (uri.scheme, uri.authority) = (scheme, authority);
                    parts.uri = http::Uri::from_parts(uri).map_err(|_| GrpcBearerError::NoOrigin)?;
                }
                // Where a target's `DPoP-Nonce` is kept, as the HTTP bearer layers keep it.
                let nonce_origin = match (parts.uri.scheme_str(), parts.uri.authority()) {
                    (Some(scheme), Some(authority)) => Some(format!("{scheme}://{authority}")),
                    _ => None,
                };
                // The token read above decided the URL; the exchange carries it on.
                let mut exchange = Exchange::with_token(&source, nonce_origin, token);
                let taken = take_ready(body).await.map_err(GrpcBearerError::Body)?;
                let send = |frames: VecDeque<Frame<Bytes>>, rest: Option<B>, token: &AccessToken| {
                    let mut req = Request::from_parts(
                        parts.clone(),
                        tonic::body::Body::new(Resumed { prefix: frames, rest }),
                    );
                    authorize(&mut req, token, &source).map(|()| req)
                };
                match taken {
                    Taken::Streaming(prefix, rest) => {
                        let req =
                            send(prefix, Some(rest), exchange.token()).map_err(GrpcBearerError::Token)?;
                        let res = inner.call(req).await.map_err(GrpcBearerError::Service)?;
                        // A streamed body cannot be sent again: a nonce serves the next call,
                        // a refused token is dropped for it.
                        exchange.after(is_unauthenticated(&res), res.headers(), false).await;
                        Ok(res)
                    }
                    Taken::Whole(frames) => {
                        let req = send(frames.iter().map(copy).collect(), None, exchange.token())
                            .map_err(GrpcBearerError::Token)?;
                        let mut res = inner.call(req).await.map_err(GrpcBearerError::Service)?;
                        // UNAUTHENTICATED (trailers-only) is gRPC's 401: with `use_dpop_nonce`
                        // and `DPoP-Nonce`, or asking for a new token.
                        while exchange.after(is_unauthenticated(&res), res.headers(), true).await
                            != Next::Done
                        {
                            let again = send(frames.iter().map(copy).collect(), None, exchange.token())
                                .map_err(GrpcBearerError::Token)?;
                            poll_fn(|cx| inner.poll_ready(cx)).await.map_err(GrpcBearerError::Service)?;
                            res = inner.call(again).await.map_err(GrpcBearerError::Service)?;
                        }
                        Ok(res)
                    }
                }
            })
        }
    }
}

#[cfg(feature = "client")]
pub use calling::{GrpcBearer, GrpcBearerError, GrpcBearerLayer};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::error::{AuthError, AuthErrorKind, DpopChallenge};

    /// The three renderings of one rejection (HTTP, gRPC trailers-only, `tonic::Status`) carry
    /// the same challenges, in the same order, and the same `Retry-After`.
    #[test]
    fn every_rendering_says_the_same() {
        let dpop = Arc::new(DpopChallenge { algs: Arc::from("ES256 EdDSA"), bearer: true });
        let errors = [
            AuthError::new(AuthErrorKind::Expired).with_dpop_challenge(&dpop),
            AuthError::new(AuthErrorKind::InvalidDpopProof).about_dpop().with_dpop_challenge(&dpop),
            AuthError::insufficient_scope(["read:transactions"]),
            AuthError::new(AuthErrorKind::RevocationUnavailable).with_retry_after(1),
        ];
        for err in errors {
            let http = err.to_response("payments");
            let grpc = err.to_grpc_response("payments");
            let status = err.to_status("payments");
            let challenges = |h: &http::HeaderMap| {
                h.get_all("www-authenticate")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            };
            let from_status: Vec<String> = status
                .metadata()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            assert!(!challenges(http.headers()).is_empty(), "{err:?}");
            assert_eq!(challenges(http.headers()), challenges(grpc.headers()), "{err:?}");
            assert_eq!(challenges(http.headers()), from_status, "{err:?}");
            let retry = http.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(retry, grpc.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()));
            assert_eq!(retry, status.metadata().get("retry-after").map(|v| v.to_str().unwrap().to_owned()));
            assert_eq!(status.message(), err.grpc_text());
        }
    }
}
