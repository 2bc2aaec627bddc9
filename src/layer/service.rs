//! [`AuthLayer`] and the service it makes: the token check, then the stages behind it.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::{ResponseFuture, Verifying};
use super::stages::{Behind, count_accepted};
use crate::bearer::{Credentials, Scheme};
use crate::body::AuthBody;
use crate::context::{AuthContext, Authenticated, DefaultRejection, RequestLine};
use crate::dpop::DpopMode;
use crate::error::{AuthError, AuthErrorKind};
use crate::locations::TokenLocations;
use crate::metadata::ResourceMetadata;
use crate::mtls::{CertProof, CertificateBinding};
use crate::signing::{Known, NoSignatures, SignatureStage};
use crate::verifier::{Admit, Presented, Verdict, Verifier, VerifyFuture};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Required,
    Optional,
}

/// Verifies the bearer token of every request: it finds the token, verifies it once with
/// the [`Verifier`], runs the stages configured behind it (request signatures, rate limits;
/// see [`AuthLayer::builder`]), and either leaves [`Authenticated`] in the extensions and
/// calls the inner service, or answers the rejection itself (401/400/403/429/503, RFC 6750),
/// never an error to the server.
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
/// let layer = AuthLayer::builder(verifier).realm("payments").optional().build();
/// let app: Router = Router::new().route("/", get(|| async { "ok" })).layer(layer);
/// # let _ = app;
/// ```
#[derive(Clone)]
#[must_use]
pub struct AuthLayer<R = DefaultRejection, Sig = NoSignatures> {
    pub(crate) verifier: Verifier,
    pub(crate) mode: Mode,
    pub(crate) admit: Admit,
    pub(crate) realm: Arc<str>,
    pub(crate) rejection: R,
    pub(crate) context: AuthContext,
    pub(crate) behind: Behind<Sig>,
    /// Where else the token may be; `None`: `Authorization` only.
    pub(crate) locations: Option<Arc<TokenLocations>>,
    /// The RFC 9728 metadata it serves, if any.
    pub(crate) metadata: Option<Arc<ResourceMetadata>>,
    /// Where the client certificate comes from besides the extensions (RFC 8705).
    pub(crate) certs: Option<Arc<CertificateBinding>>,
}

impl<R: 'static, Sig: fmt::Debug> fmt::Debug for AuthLayer<R, Sig> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("verifier", &self.verifier)
            .field("mode", &self.mode)
            .field("admit", &self.admit)
            .field("realm", &self.realm)
            .field("on_rejection", &rejection_name::<R>())
            .field("stages", &self.behind)
            .field("token_locations", &self.locations)
            .field("resource_metadata", &self.metadata)
            .field("client_certificates", &self.certs)
            .finish()
    }
}

impl<R, Sig> AuthLayer<R, Sig> {
    /// The RFC 9728 metadata this layer names in its challenges, to serve (see
    /// [`AuthLayerBuilder::resource_metadata`](crate::AuthLayerBuilder::resource_metadata)).
    pub fn resource_metadata(&self) -> Option<&ResourceMetadata> {
        self.metadata.as_deref()
    }
}

pub(crate) fn rejection_name<R: 'static>() -> &'static str {
    if std::any::TypeId::of::<R>() == std::any::TypeId::of::<DefaultRejection>() { "default" } else { "<fn>" }
}

impl<S, R: Clone, Sig: Clone> Layer<S> for AuthLayer<R, Sig> {
    type Service = AuthService<S, R, Sig>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, layer: self.clone() }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S, R = DefaultRejection, Sig = NoSignatures> {
    inner: S,
    layer: AuthLayer<R, Sig>,
}

impl<S, R: 'static, Sig: fmt::Debug> fmt::Debug for AuthService<S, R, Sig> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl<S, R, Sig, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S, R, Sig>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    Sig: SignatureStage<ReqBody>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, Sig>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let layer = &self.layer;
        let context = layer.context.for_request(req.headers());
        let reject =
            |err: AuthError| ResponseFuture::rejected(context.render_at_layer(&err, RequestLine::of(&req)));
        let found = match &layer.locations {
            None => crate::bearer::credentials(req.headers(), req.uri()),
            Some(locations) => locations.find(req.headers(), req.uri()),
        };
        // The `DPoP-Nonce` a success carries, when this server's nonce window turned.
        let mut nonce = None;
        // The claims of a token answered at once (from the cache), for the stages after it.
        let mut verified = None;
        let credentials = match found {
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
        let cert =
            match CertificateBinding::presented(layer.certs.as_deref(), req.extensions(), req.headers()) {
                Ok(cert) => cert,
                Err(err) => return reject(err),
            };
        let verify = match credentials {
            None => None,
            Some(Credentials { scheme: Scheme::Bearer, token }) => {
                if layer.verifier.dpop().is_some_and(|d| d.mode == DpopMode::Required) {
                    return reject(AuthError::new(AuthErrorKind::DpopRequired));
                }
                match layer.verifier.verify_now(token, Presented::BEARER.with_certificate(cert), layer.admit)
                {
                    // The common case: a token seen before and not revoked, answered without
                    // waiting or boxing.
                    Verdict::Verified(claims) => {
                        count_accepted(&layer.verifier, &claims);
                        verified = Some(claims);
                        None
                    }
                    Verdict::Rejected(err) => return reject(err),
                    Verdict::Pending(verify) => Some(verify),
                }
            }
            Some(Credentials { scheme: Scheme::Dpop, token }) => {
                match dpop_verification(&layer.verifier, layer.admit, token, &req, cert) {
                    Ok((verify, renewal)) => {
                        nonce = renewal;
                        Some(verify)
                    }
                    Err(err) => return reject(err),
                }
            }
        };
        if let Some(verify) = verify {
            // Waits for the verification: the service that `poll_ready` readied goes with it;
            // a clone stays for the next call.
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let (verifier, behind) = (layer.verifier.clone(), layer.behind.clone());
            let pending = Verifying { verify, req, verifier, context, behind };
            return ResponseFuture::verifying(pending, inner).with_dpop_nonce(nonce);
        }
        if layer.behind.is_empty::<ReqBody>() {
            // The common case: nothing after the token.
            if let Some(claims) = verified {
                req.extensions_mut().insert(Authenticated(claims));
            }
            req.extensions_mut().insert(context);
            return ResponseFuture::calling(self.inner.call(req));
        }
        if let Some(claims) = &verified {
            req.extensions_mut().insert(Authenticated(Arc::clone(claims)));
        }
        req.extensions_mut().insert(context.clone());
        let next = layer.behind.run(&req, Known { context: &context, claims: verified.as_ref() });
        ResponseFuture::next(next, req, || self.layer.behind.clone(), &mut self.inner)
    }
}

/// A DPoP-bound request's verification: the proof captured now, the token (cached or not) and
/// the proof checked together later. Apart from `call` (and not generic over the body), so
/// that the bearer path stays small.
#[inline(never)]
fn dpop_verification<B>(
    verifier: &Verifier,
    admit: Admit,
    token: &str,
    req: &Request<B>,
    cert: CertProof,
) -> Result<(VerifyFuture, Option<http::HeaderValue>), AuthError> {
    let presented = Presented::DPOP.with_certificate(cert);
    dpop_verification_of(verifier, admit, token, presented, (req.headers(), req.method(), req.uri()))
}

fn dpop_verification_of(
    verifier: &Verifier,
    admit: Admit,
    token: &str,
    presented: Presented,
    (headers, method, uri): (&http::HeaderMap, &http::Method, &http::Uri),
) -> Result<(VerifyFuture, Option<http::HeaderValue>), AuthError> {
    let Some(policy) = verifier.dpop() else {
        return Err(AuthError::new(AuthErrorKind::InvalidRequest)
            .with_description("the DPoP authorization scheme is not accepted here"));
    };
    let proof = policy.capture(headers, method, uri).map_err(AuthError::about_dpop)?;
    let renewal = policy.renewal(&proof).and_then(|n| http::HeaderValue::from_str(&n).ok());
    // The token may come from the cache; the proof is checked on every request.
    let verdict = verifier.verify_now(token, presented, admit);
    let (policy, token) = (Arc::clone(policy), token.to_owned());
    let verify: VerifyFuture = Box::pin(async move {
        let claims = match verdict {
            Verdict::Verified(claims) => claims,
            Verdict::Rejected(err) => return Err(err.about_dpop()),
            Verdict::Pending(rest) => rest.await.map_err(AuthError::about_dpop)?,
        };
        let jkt = claims.dpop_jkt().unwrap_or_default();
        policy.check(&proof, Some((&token, jkt))).await.map_err(|e| e.about_verified(&claims))?;
        Ok(claims)
    });
    Ok((verify, renewal))
}
