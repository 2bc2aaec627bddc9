//! The calling side (feature `client`): permiso's request signature on every outgoing request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower_layer::Layer;
use tower_service::Service;

use super::message::{SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION_HEADER, signature, signature_v2};
use super::version::SignatureVersion;
use crate::client::ServiceCredentials;
use crate::clock::{Clock, SystemClock};

/// The largest body the tower [`SigningLayer`] reads to sign.
const MAX_SIGNED_BODY: usize = 16 * 1024 * 1024;

/// Signs requests with a client secret: `X-Timestamp` and `X-Signature` as permiso's Python `RequestSigner` makes
/// them. Cheap to clone; `Debug` never shows the secret.
///
/// ```
/// use permiso::ManualClock;
/// use permiso::client::{ServiceCredentials, TokenEndpoint};
/// use permiso::signing::Signer;
///
/// let creds = ServiceCredentials::new("payment-service", "payment-service-secret",
///     TokenEndpoint::Url("https://auth.example.com/token".into()));
/// let signer = Signer::new(&creds).clock(ManualClock::at_unix(1764352800));
/// let (timestamp, signature) = signer.sign("GET", "https://user-service.yourcompany.com/api/v1/users/123", b"");
/// assert_eq!(timestamp, "1764352800");
/// assert_eq!(signature, "1e50127df595451ec462201310d7bfae243686b71274ebd35def494ff60a91c2");
/// ```
#[derive(Clone)]
pub struct Signer {
    secret: Arc<[u8]>,
    clock: Arc<dyn Clock>,
    version: SignatureVersion,
}

impl Signer {
    /// Signs with `creds`' client secret.
    pub fn new(creds: &ServiceCredentials) -> Self {
        Self {
            secret: creds.client_secret().expose().as_bytes().into(),
            clock: Arc::new(SystemClock),
            version: SignatureVersion::V1,
        }
    }

    /// The message format (default [`SignatureVersion::V1`], what permiso's Python services
    /// check). `V2` adds `X-Signature-Version: 2`; the receiving service must be a permiso
    /// that knows it.
    #[must_use]
    pub fn version(mut self, version: SignatureVersion) -> Self {
        self.version = version;
        self
    }

    /// The clock for `X-Timestamp` (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// `(X-Timestamp, X-Signature)` for a request with this method, full URL and body, in
    /// this signer's version. The URL is signed as given: send `|` as `%7C` (the middleware
    /// and the layer do), since a receiving permiso refuses a raw `|` in a version 1 request.
    pub fn sign(&self, method: &str, url: &str, body: &[u8]) -> (String, String) {
        let timestamp = self.clock.now_unix().to_string();
        let sig = match self.version {
            SignatureVersion::V1 => signature(&self.secret, method, url, body, &timestamp),
            SignatureVersion::V2 => signature_v2(&self.secret, method, url, body, &timestamp),
        };
        (timestamp, sig)
    }

    /// The headers to send: timestamp, signature, and the version when it is not 1.
    fn headers(&self, method: &str, url: &str, body: &[u8]) -> Signed {
        let (timestamp, sig) = self.sign(method, url, body);
        // Digits and hex only: always valid header values.
        let timestamp = HeaderValue::try_from(timestamp).unwrap_or(HeaderValue::from_static("0"));
        let sig = HeaderValue::try_from(sig).unwrap_or(HeaderValue::from_static(""));
        let version = (self.version == SignatureVersion::V2).then(|| HeaderValue::from_static("2"));
        Signed { timestamp, sig, version }
    }
}

/// The signature headers of one request.
struct Signed {
    timestamp: HeaderValue,
    sig: HeaderValue,
    version: Option<HeaderValue>,
}

impl Signed {
    fn insert_into(self, headers: &mut http::HeaderMap) {
        headers.insert(TIMESTAMP_HEADER, self.timestamp);
        headers.insert(SIGNATURE_HEADER, self.sig);
        match self.version {
            Some(v) => headers.insert(VERSION_HEADER, v),
            None => headers.remove(VERSION_HEADER),
        };
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("secret", &"***")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Why a request could not be signed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SigningError<E> {
    /// The body is a stream the signer cannot see, or could not be read, or is over 16 MiB:
    /// the request is not sent unsigned.
    Body,
    /// The request's URI is not absolute (`scheme://host/...`): the signed URL must be the
    /// one the caller requests.
    RelativeUri,
    /// The inner service failed.
    Service(E),
}

impl<E: fmt::Display> fmt::Display for SigningError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body => {
                f.write_str("the request body cannot be signed (a stream, unreadable, or over 16 MiB)")
            }
            Self::RelativeUri => f.write_str("the request URI is not absolute, so it cannot be signed"),
            Self::Service(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for SigningError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Service(e) => Some(e),
            _ => None,
        }
    }
}

/// `|` in the path and query sent as `%7C`: a version 1 message cannot say where a URL with
/// a raw `|` ends, and a receiving permiso refuses one.
fn encode_bars(url: &mut url::Url) {
    if url.path().contains('|') {
        let path = url.path().replace('|', "%7C");
        url.set_path(&path);
    }
    if let Some(query) = url.query().filter(|q| q.contains('|')) {
        let query = query.replace('|', "%7C");
        url.set_query(Some(&query));
    }
}

/// Signs every request of a `reqwest_middleware` client. Add it after
/// [`BearerMiddleware`](crate::client::BearerMiddleware) so a retry after a 401 is signed
/// anew (a signature is refused the second time). A streaming body is an error, never an
/// unsigned request.
///
/// ```
/// use permiso::client::{BearerMiddleware, ServiceCredentials, TokenEndpoint, TokenSource};
/// use permiso::signing::{Signer, SigningMiddleware};
///
/// let creds = ServiceCredentials::new("payment-service", "secret",
///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()));
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BearerMiddleware::new(TokenSource::new(creds.clone()).unwrap()))
///     .with(SigningMiddleware::new(Signer::new(&creds)))
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct SigningMiddleware {
    signer: Signer,
}

impl SigningMiddleware {
    /// Signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for SigningMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        encode_bars(req.url_mut());
        let body: &[u8] = match req.body() {
            None => b"",
            Some(b) => b.as_bytes().ok_or_else(|| {
                reqwest_middleware::Error::middleware(SigningError::<std::convert::Infallible>::Body)
            })?,
        };
        let signed = self.signer.headers(req.method().as_str(), req.url().as_str(), body);
        signed.insert_into(req.headers_mut());
        next.run(req, extensions).await
    }
}

/// Signs every request of a tower/hyper client. It reads the body (up to 16 MiB) to sign the
/// exact bytes, and sends them on as `Full<Bytes>`; the request URI must be absolute.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use permiso::client::{ServiceCredentials, TokenEndpoint};
/// use permiso::signing::{Signer, SigningLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// let creds = ServiceCredentials::new("payment-service", "secret",
///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()));
/// let client = ServiceBuilder::new()
///     .layer(SigningLayer::new(Signer::new(&creds)))
///     .service(service_fn(|req: Request<Full<Bytes>>| async move {
///         // Send `req` with your HTTP client here.
///         Ok::<_, std::convert::Infallible>(Response::new(()))
///     }));
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SigningLayer {
    signer: Signer,
}

impl SigningLayer {
    /// Signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }
}

impl<S> Layer<S> for SigningLayer {
    type Service = SigningService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigningService { inner, signer: self.signer.clone() }
    }
}

/// The service made by [`SigningLayer`].
#[derive(Clone, Debug)]
pub struct SigningService<S> {
    inner: S,
    signer: Signer,
}

impl<S, B> Service<Request<B>> for SigningService<S>
where
    S: Service<Request<Full<Bytes>>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    S::Response: Send,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = S::Response;
    type Error = SigningError<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(SigningError::Service)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        Box::pin(async move {
            if req.uri().scheme().is_none() || req.uri().authority().is_none() {
                return Err(SigningError::RelativeUri);
            }
            let (mut parts, body) = req.into_parts();
            let bytes = http_body_util::Limited::new(body, MAX_SIGNED_BODY)
                .collect()
                .await
                .map_err(|_| SigningError::Body)?
                .to_bytes();
            if parts.uri.to_string().contains('|') {
                parts.uri = parts
                    .uri
                    .to_string()
                    .replace('|', "%7C")
                    .parse()
                    .map_err(|_| SigningError::RelativeUri)?;
            }
            let url = parts.uri.to_string();
            signer.headers(parts.method.as_str(), &url, &bytes).insert_into(&mut parts.headers);
            inner.call(Request::from_parts(parts, Full::new(bytes))).await.map_err(SigningError::Service)
        })
    }
}
