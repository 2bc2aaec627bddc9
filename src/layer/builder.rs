//! [`AuthLayerBuilder`]: the whole pipeline of an [`AuthLayer`], configured in one place.

use std::fmt;
use std::sync::Arc;

#[cfg(feature = "rate-limit")]
use crate::limit::RateLimitLayer;
use crate::signing::{NoSignatures, Signatures};
use crate::verifier::{Admit, Verifier};

use super::service::{AuthLayer, Mode, rejection_name};
use super::stages::Behind;
use crate::context::{AuthContext, DefaultRejection, OnRejection};
use crate::locations::TokenLocations;
use crate::metadata::{LayerFacts, ResourceMetadata};
use crate::mtls::CertificateBinding;

/// Configures an [`AuthLayer`] and every stage it runs, in the one order the layer runs them:
///
/// 1. the token: bearer or DPoP, verified once (cache, keys, revocation, DPoP proof);
/// 2. the request signature of permiso's Python `RequestSigner`, if
///    [`signatures`](Self::signatures) are configured;
/// 3. the rate limit, if [`rate_limits`](Self::rate_limits) are configured: counted only for
///    requests that passed every check before it, so a caller without the signing secret
///    cannot spend a client's limit with a stolen token;
/// 4. the handlers, where each route's requirement is checked (the `extract` extractors,
///    [`RequireLayer`](crate::RequireLayer), [`GrpcMethods`](crate::grpc::GrpcMethods)).
///
/// No stage can be stacked in another order, and every rejection, whichever stage made it,
/// is shaped by the one [`on_rejection`](Self::on_rejection).
///
/// ```
/// use axum::{Router, routing::post};
/// use permiso::limit::RateLimits;
/// use permiso::signing::{RequestSigning, SignatureMode};
/// use permiso::{AuthLayer, Issuer, Verifier};
///
/// # fn main() -> Result<(), permiso::ConfigError> {
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .build()?;
/// let signing = RequestSigning::new(SignatureMode::Required, "https://payments.example.com")
///     .client_secret("payment-service", "payment-service-secret")
///     .build()?;
/// let limits = RateLimits::new().client("payment-service", 120).build()?;
/// let auth = AuthLayer::builder(verifier).signatures(signing).rate_limits(limits).build();
/// let app: Router = Router::new()
///     .route("/api/v1/transactions", post(|body: String| async move { body }))
///     .layer(auth);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct AuthLayerBuilder<R = DefaultRejection, Sig = NoSignatures> {
    pub(super) verifier: Verifier,
    pub(super) mode: Mode,
    pub(super) admit: Admit,
    pub(super) realm: Option<Arc<str>>,
    pub(super) rejection: R,
    pub(super) behind: Behind<Sig>,
    pub(super) locations: Option<Arc<TokenLocations>>,
    pub(super) metadata: Option<ResourceMetadata>,
    pub(super) certs: Option<Arc<CertificateBinding>>,
}

impl AuthLayer {
    /// A layer that requires a valid service token on every request, and runs no stage
    /// behind the token: `AuthLayer::builder(verifier).build()`. The realm is the verifier's
    /// first audience.
    pub fn new(verifier: Verifier) -> Self {
        Self::builder(verifier).build()
    }

    /// Configures the layer and the stages it runs after the token (request signatures,
    /// rate limits); see [`AuthLayerBuilder`].
    pub fn builder(verifier: Verifier) -> AuthLayerBuilder {
        AuthLayerBuilder {
            verifier,
            mode: Mode::Required,
            admit: Admit::ServiceTokens,
            realm: None,
            rejection: DefaultRejection,
            behind: Behind::none(),
            locations: None,
            metadata: None,
            certs: None,
        }
    }
}

/// The settings of a built layer, changed one at a time: the methods that existed before the
/// builder. Each rebuilds the layer.
impl<R: OnRejection, Sig> AuthLayer<R, Sig> {
    fn into_builder(self) -> AuthLayerBuilder<R, Sig> {
        AuthLayerBuilder {
            verifier: self.verifier,
            mode: self.mode,
            admit: self.admit,
            realm: Some(self.realm),
            rejection: self.rejection,
            behind: self.behind,
            locations: self.locations,
            certs: self.certs,
            metadata: self.metadata.map(|m| (*m).clone()),
        }
    }

    /// Optional mode; see [`AuthLayerBuilder::optional`].
    pub fn optional(self) -> Self {
        self.into_builder().optional().build()
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
    /// let layer = AuthLayer::builder(verifier).accept_any_access_token().build();
    /// # let _ = layer;
    /// ```
    pub fn accept_any_access_token(self) -> Self {
        self.into_builder().accept_any_access_token().build()
    }

    /// The `realm` of `WWW-Authenticate`; see [`AuthLayerBuilder::realm`].
    pub fn realm(self, realm: impl Into<Arc<str>>) -> Self {
        self.into_builder().realm(realm).build()
    }

    /// Replaces how rejections are answered; see [`AuthLayerBuilder::on_rejection`].
    pub fn on_rejection<R2: OnRejection>(self, rejection: R2) -> AuthLayer<R2, Sig> {
        self.into_builder().on_rejection(rejection).build()
    }
}

impl<R: OnRejection, Sig> AuthLayerBuilder<R, Sig> {
    /// Optional mode: a request without a bearer token passes through unauthenticated (the
    /// extractors then answer 401 where they are used, `Option<…>` extractors give `None`);
    /// a request with a bad token is still refused.
    pub fn optional(mut self) -> Self {
        self.mode = Mode::Optional;
        self
    }

    /// Lets through any verified access token, not only service tokens (a user's token from
    /// the permiso auth server); see [`AuthLayer::accept_any_access_token`]. A refresh token
    /// is never accepted.
    pub fn accept_any_access_token(mut self) -> Self {
        self.admit = Admit::AccessTokens;
        self
    }

    /// The `realm` of `WWW-Authenticate` (default: the verifier's first audience).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Replaces how rejections are answered: those of every stage of the layer, and every
    /// 401/403 of the extractors and guards behind it.
    pub fn on_rejection<R2: OnRejection>(self, rejection: R2) -> AuthLayerBuilder<R2, Sig> {
        AuthLayerBuilder {
            verifier: self.verifier,
            mode: self.mode,
            admit: self.admit,
            realm: self.realm,
            rejection,
            behind: self.behind,
            locations: self.locations,
            certs: self.certs,
            metadata: self.metadata,
        }
    }

    /// Checks the request signatures of permiso's Python `RequestSigner` on every request
    /// whose token verified, before rate limits count it: a
    /// [`SignatureLayer`](crate::signing::SignatureLayer) made by
    /// [`RequestSigning::build`](crate::signing::RequestSigning::build), or the
    /// `Option<SignatureLayer>` of
    /// [`RequestSigning::from_env`](crate::signing::RequestSigning::from_env) (`None`:
    /// signatures are off).
    ///
    /// The layer then reads signed request bodies (up to the configured cap), so the
    /// request body type must be rebuildable from bytes (`From<Bytes>`: axum's `Body`).
    pub fn signatures<Sig2: Signatures>(self, signatures: Sig2) -> AuthLayerBuilder<R, Sig2> {
        AuthLayerBuilder {
            verifier: self.verifier,
            mode: self.mode,
            admit: self.admit,
            realm: self.realm,
            rejection: self.rejection,
            behind: Behind {
                signatures,
                #[cfg(feature = "rate-limit")]
                limits: self.behind.limits,
            },
            locations: self.locations,
            certs: self.certs,
            metadata: self.metadata,
        }
    }

    /// Limits each verified client's requests per minute, counting only requests that
    /// passed every check before (token, signature). Made by
    /// [`RateLimits::build`](crate::limit::RateLimits::build) or
    /// [`RateLimits::from_env`](crate::limit::RateLimits::from_env).
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    pub fn rate_limits(mut self, limits: RateLimitLayer) -> Self {
        self.behind.limits = Some(limits);
        self
    }

    /// Where else the token may be besides `Authorization` (a gateway's header, a cookie, the
    /// `access_token` query parameter); see [`TokenLocations`]. Default: `Authorization` only.
    ///
    /// ```
    /// use permiso::layer::TokenLocations;
    /// use permiso::{AuthLayer, Issuer, Verifier};
    ///
    /// let verifier = Verifier::builder(["keystone-auth"])
    ///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
    ///     .build()?;
    /// let locations = TokenLocations::authorization().header("x-access-token")?.cookie("access_token")?;
    /// let layer = AuthLayer::builder(verifier).token_locations(locations).build();
    /// # let _ = layer;
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    pub fn token_locations(mut self, locations: TokenLocations) -> Self {
        self.locations = (!locations.is_authorization_only()).then(|| Arc::new(locations));
        self
    }

    /// Serves RFC 9728 protected-resource metadata: the layer completes `metadata` with its
    /// issuers, token locations and DPoP settings, and names the document in every 401
    /// challenge (`resource_metadata="…"`). Route [`AuthLayer::resource_metadata`]'s
    /// [`service`](ResourceMetadata::service) at its
    /// [`well_known_path`](ResourceMetadata::well_known_path), outside the layer.
    pub fn resource_metadata(mut self, metadata: ResourceMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Where the client certificate of a certificate-bound token (RFC 8705) comes from
    /// besides the request's extensions (a trusted proxy's header), and whether unbound
    /// tokens are refused; see [`permiso::mtls`](crate::mtls). Without it, a certificate
    /// that permiso's TLS helper or your acceptor put in the extensions is still checked.
    ///
    /// ```
    /// use permiso::mtls::CertificateBinding;
    /// use permiso::{AuthLayer, Issuer, Verifier};
    ///
    /// let verifier = Verifier::builder(["payments"])
    ///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
    ///     .build()?;
    /// // permiso serves TLS itself (permiso::mtls::tls); only certificate-bound tokens pass.
    /// let binding = CertificateBinding::builder().required(true).build()?;
    /// let layer = AuthLayer::builder(verifier).client_certificates(binding).build();
    /// # let _ = layer;
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    pub fn client_certificates(mut self, binding: CertificateBinding) -> Self {
        self.certs = Some(Arc::new(binding));
        self
    }

    /// The layer.
    pub fn build(self) -> AuthLayer<R, Sig> {
        let realm = self.realm.unwrap_or_else(|| self.verifier.default_realm().into());
        let metadata = self.metadata.map(|m| {
            let dpop = self.verifier.dpop();
            m.build(&LayerFacts {
                issuers: self.verifier.issuer_names(),
                query_allowed: self.locations.as_ref().is_some_and(|l| l.allows_query()),
                dpop_algs: dpop.map(|d| &*d.algs),
                dpop_required: dpop.is_some_and(|d| d.mode == crate::dpop::DpopMode::Required),
                certificate_bound: self.certs.is_some(),
            })
        });
        let url = metadata.as_ref().map(ResourceMetadata::shared_url);
        #[cfg_attr(not(feature = "rate-limit"), allow(unused_mut))]
        let mut context = AuthContext::new(Arc::clone(&realm), self.rejection.clone(), &self.verifier, url);
        // Its rate limit counts every request before the inner service: a `SignatureLayer`
        // stacked there by hand would come too late, and refuses to run.
        #[cfg(feature = "rate-limit")]
        if self.behind.limits.is_some() {
            context.mark_rate_limited();
        }
        AuthLayer {
            verifier: self.verifier,
            mode: self.mode,
            admit: self.admit,
            realm,
            rejection: self.rejection,
            context,
            behind: self.behind,
            locations: self.locations,
            certs: self.certs,
            metadata: metadata.map(Arc::new),
        }
    }
}

impl<R: 'static, Sig: fmt::Debug> fmt::Debug for AuthLayerBuilder<R, Sig> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("verifier", &self.verifier)
            .field("mode", &self.mode)
            .field("admit", &self.admit)
            .field("realm", &self.realm)
            .field("on_rejection", &rejection_name::<R>())
            .field("stages", &self.behind)
            .field("token_locations", &self.locations)
            .field("client_certificates", &self.certs)
            .finish()
    }
}
