//! gRPC: the same protection for tonic services (or any gRPC server on tower).
//!
//! [`AuthLayer`](crate::AuthLayer) answers a gRPC request (`content-type: application/grpc`
//! or `application/grpc+…`) in the gRPC form: HTTP 200, trailers-only, with `grpc-status`
//! and a `grpc-message` naming the reason, and the RFC 6750 `www-authenticate` challenge kept
//! as metadata. So do the layers behind it (`RequireLayer`, [`GrpcMethods`], request
//! signatures, rate limits). REST and gRPC routes can share one layer; each request is
//! answered in its own form.
//!
//! | HTTP form | gRPC status |
//! |---|---|
//! | 401 | `UNAUTHENTICATED` (16) |
//! | 403 | `PERMISSION_DENIED` (7) |
//! | 400 | `INVALID_ARGUMENT` (3) |
//! | 429, 413 | `RESOURCE_EXHAUSTED` (8) |
//! | 503 | `UNAVAILABLE` (14) |
//! | 500 | `INTERNAL` (13) |
//!
//! Per-method requirements are declared once with [`GrpcMethods`], keyed by the gRPC path.
//! With the `tonic` feature, handlers read what the request proved with
//! [`GrpcAuth`] on `tonic::Request`, and callers get tokens on a
//! `tonic` channel with [`GrpcBearerLayer`] (feature
//! `client` too).
//!
//! ```
//! use permiso::grpc::GrpcMethods;
//! use permiso::RequireLayer;
//!
//! let methods = GrpcMethods::new()
//!     .method("/payments.v1.Payments/ListTransactions", RequireLayer::scopes(["read:transactions"]))
//!     .method("/payments.v1.Payments/CreateTransaction", RequireLayer::scopes(["write:transactions"]))
//!     .method("/payments.v1.Payments/BillingReport", RequireLayer::trusted_client())
//!     .deny_unlisted();
//! # let _ = methods;
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::context::{AuthContext, RequestLine, missing_layer_response};
use crate::error::{AuthError, AuthErrorKind};
use crate::layer::RequireLayer;
use crate::layer::{AuthBody, GuardFuture};
use crate::require::Requirement;

#[cfg(feature = "tonic")]
mod tonic_side;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use tonic_side::GrpcAuth;
#[cfg(all(feature = "tonic", feature = "client"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "tonic", feature = "client"))))]
pub use tonic_side::{GrpcBearer, GrpcBearerError, GrpcBearerLayer};

/// `grpc-message` is percent-encoded: bytes outside visible ASCII and space, and `%`.
fn grpc_message(text: &str) -> HeaderValue {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static("permission denied"))
}

impl AuthError {
    /// The gRPC status code this error is answered with (see the [module docs](crate::grpc)).
    ///
    /// ```
    /// use permiso::{AuthError, AuthErrorKind};
    /// assert_eq!(AuthError::new(AuthErrorKind::Expired).grpc_code(), 16);
    /// assert_eq!(AuthError::insufficient_scope(["read:x"]).grpc_code(), 7);
    /// ```
    pub fn grpc_code(&self) -> u16 {
        match self.status() {
            StatusCode::FORBIDDEN => 7,
            StatusCode::BAD_REQUEST => 3,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::INTERNAL_SERVER_ERROR => 13,
            _ => 16,
        }
    }

    /// The gRPC form of this rejection: HTTP 200, trailers-only (`grpc-status`,
    /// `grpc-message` = the description, percent-encoded), the `www-authenticate`
    /// challenge(s) and `retry-after` as metadata, no body.
    ///
    /// ```
    /// use permiso::{AuthError, AuthErrorKind};
    ///
    /// let res = AuthError::new(AuthErrorKind::Expired).to_grpc_response("payments");
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["grpc-status"], "16");
    /// assert_eq!(res.headers()["grpc-message"], "the token has expired");
    /// assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    /// ```
    pub fn to_grpc_response(&self, realm: &str) -> Response<Bytes> {
        let mut res = Response::new(Bytes::new());
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(self.grpc_code()));
        headers.insert("grpc-message", grpc_message(&self.grpc_text()));
        for challenge in self.challenges(realm) {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }

    /// The `grpc-message` text (before its wire encoding): the description, and for a
    /// missing scope what was required.
    pub(crate) fn grpc_text(&self) -> String {
        match (self.kind(), self.required_scope()) {
            (AuthErrorKind::InsufficientScope, Some(scope)) => {
                format!("{} (requires: {scope})", self.description())
            }
            _ => self.description().to_owned(),
        }
    }
}

/// Per-method requirements of a gRPC service, declared once and keyed by the gRPC path
/// (`/package.Service/Method`): a tower layer inside [`AuthLayer`](crate::AuthLayer) that
/// checks the verified token against the method's requirement and answers in the gRPC form
/// (`PERMISSION_DENIED`, `UNAUTHENTICATED`). Methods not listed need only what `AuthLayer`
/// checked, unless [`deny_unlisted`](Self::deny_unlisted).
#[derive(Clone, Default)]
#[must_use]
pub struct GrpcMethods {
    methods: Arc<HashMap<String, Requirement>>,
    deny_unlisted: bool,
}

impl GrpcMethods {
    /// No method listed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `path` (`/package.Service/Method`) needs what `require` needs (scopes, any scope,
    /// a service client, a trusted client).
    pub fn method(mut self, path: impl Into<String>, require: RequireLayer) -> Self {
        Arc::make_mut(&mut self.methods).insert(path.into(), require.requirement().clone());
        self
    }

    /// Methods not listed are refused (`PERMISSION_DENIED`), so a method added to the proto
    /// and forgotten here is closed, not open.
    pub fn deny_unlisted(mut self) -> Self {
        self.deny_unlisted = true;
        self
    }
}

impl fmt::Debug for GrpcMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.methods.iter().collect();
        methods.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_struct("GrpcMethods")
            .field("methods", &methods)
            .field("deny_unlisted", &self.deny_unlisted)
            .finish()
    }
}

impl<S> Layer<S> for GrpcMethods {
    type Service = GrpcMethodsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMethodsService { inner, methods: self.clone() }
    }
}

/// The service made by [`GrpcMethods`].
#[derive(Clone, Debug)]
pub struct GrpcMethodsService<S> {
    inner: S,
    methods: GrpcMethods,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcMethodsService<S>
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
        let Some(context) = req.extensions().get::<AuthContext>() else {
            return GuardFuture::reject(missing_layer_response(req.headers()));
        };
        let verdict = match self.methods.methods.get(req.uri().path()) {
            Some(requirement) => requirement.check_request(req.extensions()),
            None if self.methods.deny_unlisted => Err(AuthError::new(AuthErrorKind::InsufficientScope)
                .with_description("this method is not open to any caller")),
            None => Ok(()),
        };
        match verdict {
            Ok(()) => GuardFuture::call(self.inner.call(req)),
            Err(err) => GuardFuture::reject(context.render(&err, RequestLine::of(&req))),
        }
    }
}
