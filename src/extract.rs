//! axum extractors that read what [`AuthLayer`](crate::AuthLayer) proved (feature `axum`).
//!
//! They never verify anything themselves: the layer verified the token once and left
//! `Arc<Claims>` in the request extensions. An extractor decides 403 or pass; used on a route
//! without the layer it answers 500, because that is a bug in the server, never a silent
//! pass.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use permiso::extract::{RequireScopes, ServiceClient, TrustedClient};
//! use permiso::{AuthLayer, Issuer, Verifier, scopes};
//!
//! scopes! {
//!     pub ReadTransactions = "read:transactions";
//!     pub WriteTransactions = "write:transactions";
//! }
//!
//! async fn list(_: RequireScopes<ReadTransactions>, client: ServiceClient) -> String {
//!     format!("transactions for {}", client.client_id())
//! }
//! async fn create(_: RequireScopes<WriteTransactions>) -> &'static str {
//!     "created"
//! }
//! async fn billing(admin: TrustedClient) -> String {
//!     format!("billing, for trusted {}", admin.client_id())
//! }
//!
//! # let verifier = Verifier::builder(["keystone-auth"]).issuer(Issuer::permiso("keystone-auth", "0123456789abcdef0123456789abcdef")).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", get(list).post(create))
//!     .route("/api/v1/admin/billing", get(billing))
//!     .layer(AuthLayer::new(verifier));
//! # let _ = app;
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::claims::Claims;
use crate::context::{AuthContext, Authenticated, DefaultRejection, OnRejection, RequestLine, missing_layer};
use crate::error::{AuthError, AuthErrorKind};
use crate::require::{Requirement, ScopeList};
use crate::scope::{ScopeSet, Scopes};

/// The token did not meet the route's requirement (401 or 403, RFC 6750).
#[derive(Debug, Clone)]
pub struct AccessDenied {
    error: AuthError,
    context: AuthContext,
    /// The refused request's method and URI, for the rejection event.
    line: Box<(http::Method, http::Uri)>,
}

impl AccessDenied {
    /// Why.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The HTTP status (401 or 403).
    pub fn status(&self) -> StatusCode {
        self.error.status()
    }

    /// The JSON body sent.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.error.body()).into_owned()
    }
}

/// An extractor ran on a route without [`AuthLayer`](crate::AuthLayer): a server bug,
/// answered 500 and logged once.
#[derive(Debug, Clone, Copy, Default)]
pub struct MissingAuthLayer;

impl MissingAuthLayer {
    /// Always 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The JSON body sent.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&AuthError::new(AuthErrorKind::MissingAuthLayer).body()).into_owned()
    }
}

/// Why a permiso extractor refused a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthRejection {
    /// 401/403: the token does not meet the requirement, or there is none.
    AccessDenied(AccessDenied),
    /// 500: no `AuthLayer` ran for this request.
    MissingAuthLayer(MissingAuthLayer),
}

impl AuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AccessDenied(r) => r.status(),
            Self::MissingAuthLayer(r) => r.status(),
        }
    }

    /// The JSON body sent.
    pub fn body_text(&self) -> String {
        match self {
            Self::AccessDenied(r) => r.body_text(),
            Self::MissingAuthLayer(r) => r.body_text(),
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessDenied(r) => write!(f, "{}", r.error),
            Self::MissingAuthLayer(_) => {
                f.write_str("permiso AuthLayer was not found; is `AuthLayer` applied?")
            }
        }
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let res = match self {
            // Shaped by the AuthLayer's on_rejection, like the layer's own rejections.
            Self::AccessDenied(r) => r.context.render(&r.error, RequestLine::new(&r.line.0, &r.line.1)),
            // No layer ran, so there is no on_rejection to ask.
            Self::MissingAuthLayer(_) => DefaultRejection.on_rejection(&missing_layer(), ""),
        };
        res.map(Body::from)
    }
}

/// Checks `requirement` on the verified claims: the extractor's whole decision.
fn decide(parts: &Parts, requirement: &Requirement) -> Result<Arc<Claims>, AuthRejection> {
    check(parts, requirement)?.map_err(|(error, context)| {
        AuthRejection::AccessDenied(AccessDenied {
            error,
            context: context.clone(),
            line: Box::new((parts.method.clone(), parts.uri.clone())),
        })
    })
}

/// The same decision for `Option<…>`: `None` when there is no token or it does not meet the
/// requirement; only a missing layer is an error.
fn decide_optional(parts: &Parts, requirement: &Requirement) -> Result<Option<Arc<Claims>>, AuthRejection> {
    Ok(check(parts, requirement)?.ok())
}

/// The decision itself: the claims, or why they do not do (with the layer's context to answer
/// with); the outer error is a missing layer. Nothing is allocated for a refusal here, so
/// the `Option` extractors pay nothing for one they drop.
#[allow(clippy::type_complexity)]
fn check<'a>(
    parts: &'a Parts,
    requirement: &Requirement,
) -> Result<Result<Arc<Claims>, (AuthError, &'a AuthContext)>, AuthRejection> {
    let context =
        parts.extensions.get::<AuthContext>().ok_or(AuthRejection::MissingAuthLayer(MissingAuthLayer))?;
    let Some(claims) = parts.extensions.get::<Authenticated>().map(Authenticated::claims) else {
        return Ok(Err((AuthError::new(AuthErrorKind::MissingToken), context)));
    };
    Ok(match requirement.check(claims) {
        Ok(()) => Ok(Arc::clone(claims)),
        Err(error) => Err((error, context)),
    })
}

macro_rules! extractor_impls {
    ($ty:ident $(<$g:ident>)?, $check:expr, $build:expr) => {
        impl<St: Send + Sync $(, $g: Scopes)?> FromRequestParts<St> for $ty$(<$g>)? {
            type Rejection = AuthRejection;

            async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
                decide(parts, &$check).map($build)
            }
        }

        impl<St: Send + Sync $(, $g: Scopes)?> OptionalFromRequestParts<St> for $ty$(<$g>)? {
            type Rejection = AuthRejection;

            async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Option<Self>, Self::Rejection> {
                decide_optional(parts, &$check).map(|c| c.map($build))
            }
        }
    };
}

/// Requires every scope of `S` (a [`scopes!`](crate::scopes) marker or a tuple of them),
/// implication rules applied; 403 `insufficient_scope` with `scope="…"` naming them
/// otherwise. Derefs to the [`Claims`].
///
/// ```
/// use permiso::{extract::RequireScopes, scopes};
///
/// scopes! { pub ReadUsers = "read:users"; pub WriteTransactions = "write:transactions"; }
///
/// async fn handler(auth: RequireScopes<(ReadUsers, WriteTransactions)>) -> String {
///     auth.subject().unwrap_or_default().to_owned()
/// }
/// ```
pub struct RequireScopes<S> {
    claims: Arc<Claims>,
    _scopes: PhantomData<fn() -> S>,
}

/// Requires at least one scope of `S`; 403 `insufficient_scope` naming all of them otherwise.
///
/// ```
/// use permiso::{extract::RequireAnyScope, scopes};
///
/// scopes! { pub ReadBilling = "read:billing"; pub AdminBilling = "admin:billing"; }
///
/// async fn handler(_: RequireAnyScope<(ReadBilling, AdminBilling)>) -> &'static str { "ok" }
/// ```
pub struct RequireAnyScope<S> {
    claims: Arc<Claims>,
    _scopes: PhantomData<fn() -> S>,
}

extractor_impls!(RequireScopes<S>, Requirement::AllScopes(ScopeList::Static(S::SCOPES)), |claims| {
    RequireScopes { claims, _scopes: PhantomData }
});
extractor_impls!(RequireAnyScope<S>, Requirement::AnyScope(ScopeList::Static(S::SCOPES)), |claims| {
    RequireAnyScope { claims, _scopes: PhantomData }
});

macro_rules! scope_extractor_common {
    ($ty:ident) => {
        impl<S> $ty<S> {
            /// The verified claims.
            pub fn claims(&self) -> &Arc<Claims> {
                &self.claims
            }
        }

        impl<S> Deref for $ty<S> {
            type Target = Claims;
            fn deref(&self) -> &Claims {
                &self.claims
            }
        }

        impl<S> Clone for $ty<S> {
            fn clone(&self) -> Self {
                Self { claims: Arc::clone(&self.claims), _scopes: PhantomData }
            }
        }

        impl<S: Scopes> fmt::Debug for $ty<S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("required", &S::SCOPES)
                    .field("claims", &self.claims)
                    .finish()
            }
        }
    };
}

scope_extractor_common!(RequireScopes);
scope_extractor_common!(RequireAnyScope);

/// The calling service: a service token (per its issuer's rule) naming its client; 401
/// `invalid_token` ("not a service token") otherwise, as the permiso server answers.
///
/// ```
/// use permiso::extract::ServiceClient;
///
/// async fn whoami(client: ServiceClient) -> String {
///     format!("{} (trusted: {})", client.client_id(), client.is_trusted())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ServiceClient {
    claims: Arc<Claims>,
}

impl ServiceClient {
    /// The client id (`client_id`, else `azp`).
    pub fn client_id(&self) -> &str {
        self.claims.client_id().unwrap_or_default()
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &ScopeSet {
        self.claims.scopes()
    }

    /// Whether the client is trusted.
    pub fn is_trusted(&self) -> bool {
        self.claims.is_trusted()
    }

    /// Whether the request was DPoP-bound: its token names a key (`cnf.jkt`) and the request
    /// carried a valid proof of possession of it (`AuthLayer` lets no bound token through
    /// without one).
    pub fn is_dpop_bound(&self) -> bool {
        self.claims.dpop_jkt().is_some()
    }

    /// Whether the request was certificate-bound (RFC 8705): its token names a client
    /// certificate (`cnf.x5t#S256`) and the request came with that certificate
    /// (`AuthLayer` lets no such token through without it).
    pub fn is_certificate_bound(&self) -> bool {
        self.claims.certificate_thumbprint().is_some()
    }

    /// All the verified claims.
    pub fn claims(&self) -> &Arc<Claims> {
        &self.claims
    }
}

extractor_impls!(ServiceClient, Requirement::ServiceClient, |claims| ServiceClient { claims });

/// A [`ServiceClient`] whose issuer trusts it (its honoured `is_trusted: true`, or its
/// `client_id` on the issuer's trusted list); 403 otherwise. For admin routes.
///
/// ```
/// use permiso::extract::TrustedClient;
///
/// async fn billing(admin: TrustedClient) -> String {
///     format!("billing report for {}", admin.client_id())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct TrustedClient(ServiceClient);

impl Deref for TrustedClient {
    type Target = ServiceClient;
    fn deref(&self) -> &ServiceClient {
        &self.0
    }
}

extractor_impls!(TrustedClient, Requirement::TrustedClient, |claims| TrustedClient(ServiceClient { claims }));
