//! One issuer as configured ([`Issuer`]) and as the verifier uses it (`IssuerPolicy`): the
//! same rules, with the keys loaded and the algorithms settled.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::service_rule::ServiceTokenRule;
use crate::algorithm::Algorithm;
use crate::error::ConfigError;
use crate::introspection::{Introspection, Introspector};
use crate::keys::{Key, KeySet, KeySource, RemoteKeys};

/// Which `typ` an issuer's tokens must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenTyp {
    /// Absent, `JWT` or `at+jwt` (ID, logout and event tokens are refused).
    AnyAccessToken,
    /// RFC 9068: `at+jwt`, with `sub`, `client_id`, `iat` and `jti` required.
    AtJwt,
}

/// What an issuer decides about its tokens, the same before and after `build()`.
#[derive(Clone)]
pub(crate) struct IssuerRules {
    pub(crate) iss: String,
    pub(crate) service_rule: ServiceTokenRule,
    pub(crate) typ: TokenTyp,
    pub(crate) trusted_clients: HashSet<String>,
    pub(crate) honour_is_trusted: bool,
}

impl IssuerRules {
    /// The fields both `Debug`s show; the caller adds its keys and algorithms.
    fn debug_fields<'x, 'a, 'b: 'a>(
        &self,
        d: &'x mut fmt::DebugStruct<'a, 'b>,
    ) -> &'x mut fmt::DebugStruct<'a, 'b> {
        d.field("iss", &self.iss)
            .field("service_tokens", &self.service_rule)
            .field("typ", &self.typ)
            .field("trusted_clients", &self.trusted_clients.len())
            .field("honour_is_trusted", &self.honour_is_trusted)
    }
}

/// One token issuer: its exact `iss`, where its keys come from, which algorithms it signs
/// with, what its service tokens look like, and whom it trusts.
///
/// ```
/// use permiso::keys::KeySet;
/// use permiso::{Algorithm, Issuer, ServiceTokenRule};
///
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let oidc = Issuer::keys("https://auth.example.com", KeySet::from_jwks(jwks).unwrap())
///     .algorithms([Algorithm::EdDSA])
///     .service_tokens(ServiceTokenRule::claims_match("sub", "client_id"))
///     .trusted_clients(["billing-service"])
///     .require_at_jwt();
/// # let _ = oidc;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Issuer {
    pub(crate) rules: IssuerRules,
    pub(crate) keys: Result<KeySource<RemoteKeys>, ConfigError>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) allow_short_secret: bool,
    /// Whether `keys` can verify its tokens here (not for an issuer judged by introspection
    /// alone).
    pub(crate) local: bool,
    pub(crate) introspection: Option<Introspection>,
}

impl Issuer {
    /// An issuer that signs with a shared secret (HS256 unless
    /// [`algorithms`](Self::algorithms) says otherwise). Service tokens: `sub == client_id`.
    pub fn hmac(iss: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        let keys = Key::hmac(secret).map(|k| KeySource::Static(Arc::new(KeySet::new([k]))));
        Self::with_source(iss.into(), keys, ServiceTokenRule::claims_match("sub", "client_id"))
    }

    /// The permiso auth server: HS256 with its shared secret, service tokens marked
    /// `"type": "service"`.
    ///
    /// Its tokens' `"is_trusted": true` is honoured (see
    /// [`trust_is_trusted_claim`](Self::trust_is_trusted_claim)).
    pub fn permiso(iss: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        Self::hmac(iss, secret).service_tokens(ServiceTokenRule::permiso()).trust_is_trusted_claim()
    }

    /// An issuer with fixed public keys (from PEM, JWK or a JWKS document). The allowed
    /// algorithms default to each key's own (`alg`, else RS256 / ES256 / ES384 / EdDSA by
    /// type). Service tokens: `sub == client_id`.
    pub fn keys(iss: impl Into<String>, keys: KeySet) -> Self {
        Self::with_source(
            iss.into(),
            Ok(KeySource::Static(Arc::new(keys))),
            ServiceTokenRule::claims_match("sub", "client_id"),
        )
    }

    /// An issuer whose keys are fetched over HTTP (a JWKS URL, or discovery) and cached;
    /// see [`RemoteKeys`]. The allowed algorithms default to every asymmetric one, each key
    /// still bound to its own type and `alg`. Service tokens: `sub == client_id`.
    pub fn remote(iss: impl Into<String>, keys: RemoteKeys) -> Self {
        Self::with_source(
            iss.into(),
            Ok(KeySource::Remote(keys)),
            ServiceTokenRule::claims_match("sub", "client_id"),
        )
    }

    /// Shorthand for [`Issuer::remote`] with [`RemoteKeys::jwks_url`].
    pub fn jwks_url(iss: impl Into<String>, url: impl Into<String>) -> Self {
        Self::remote(iss, RemoteKeys::jwks_url(url))
    }

    /// Shorthand for [`Issuer::remote`] with [`RemoteKeys::discovery`] from the issuer
    /// identifier itself (`iss` is the issuer URL).
    pub fn discover(iss: impl Into<String>) -> Self {
        let iss = iss.into();
        Self::remote(iss.clone(), RemoteKeys::discovery(iss))
    }

    fn with_source(
        iss: String,
        keys: Result<KeySource<RemoteKeys>, ConfigError>,
        rule: ServiceTokenRule,
    ) -> Self {
        Self {
            rules: IssuerRules {
                iss,
                service_rule: rule,
                typ: TokenTyp::AnyAccessToken,
                trusted_clients: HashSet::new(),
                honour_is_trusted: false,
            },
            keys,
            algorithms: None,
            allow_short_secret: false,
            local: true,
            introspection: None,
        }
    }

    /// An issuer whose tokens are judged by introspection alone (RFC 7662; feature
    /// `introspection`): its tokens, opaque or JWT, are sent to its endpoint, never verified
    /// here. Service tokens are those of the client-credentials grant
    /// ([`ServiceTokenRule::client_credentials`]).
    ///
    /// ```
    /// use permiso::introspection::Introspection;
    /// use permiso::{Issuer, Verifier};
    ///
    /// let idp = Issuer::introspected(
    ///     "https://idp.example",
    ///     Introspection::rfc7662("https://idp.example/token/introspection")
    ///         .client_secret_basic("payments-api", "its-secret"),
    /// );
    /// let verifier = Verifier::builder(["payments"]).issuer(idp).build()?;
    /// # let _ = verifier;
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    #[cfg(feature = "introspection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
    pub fn introspected(iss: impl Into<String>, introspection: Introspection) -> Self {
        Self::judged_by(iss.into(), introspection, ServiceTokenRule::client_credentials())
    }

    /// The permiso auth server judged by its `POST /api/v1/auth/introspect` alone (feature
    /// `introspection`), for a service that must not hold the HS256 signing secret: service
    /// tokens are `"type": "service"` and `is_trusted` is honoured, as with
    /// [`Issuer::permiso`]. See [`Introspection::permiso`].
    #[cfg(feature = "introspection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
    pub fn permiso_introspected(iss: impl Into<String>, introspection: Introspection) -> Self {
        Self::judged_by(iss.into(), introspection, ServiceTokenRule::permiso()).trust_is_trusted_claim()
    }

    #[cfg(feature = "introspection")]
    fn judged_by(iss: String, introspection: Introspection, rule: ServiceTokenRule) -> Self {
        let mut issuer = Self::with_source(iss, Ok(KeySource::Static(Arc::new(KeySet::new([])))), rule);
        issuer.local = false;
        issuer.introspection = Some(introspection);
        issuer
    }

    /// Judges this issuer's tokens that cannot be verified here (opaque ones) by
    /// introspection (feature `introspection`), besides verifying its JWTs with its keys.
    ///
    /// ```
    /// use permiso::introspection::Introspection;
    /// use permiso::Issuer;
    ///
    /// let idp = Issuer::discover("https://idp.example").introspection(
    ///     Introspection::rfc7662("https://idp.example/token/introspection")
    ///         .client_secret_post("payments-api", "its-secret"),
    /// );
    /// # let _ = idp;
    /// ```
    #[cfg(feature = "introspection")]
    #[cfg_attr(docsrs, doc(cfg(feature = "introspection")))]
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// An issuer judged by `introspection` alone, with its style's service-token rule.
    #[cfg(feature = "introspection")]
    pub(crate) fn by_introspection_style(iss: String, introspection: Introspection) -> Self {
        match introspection.style() {
            crate::introspection::IntrospectionStyle::Permiso => {
                Self::permiso_introspected(iss, introspection)
            }
            _ => Self::introspected(iss, introspection),
        }
    }

    #[cfg(not(feature = "introspection"))]
    pub(crate) fn by_introspection_style(_: String, introspection: Introspection) -> Self {
        match introspection {}
    }

    /// As [`introspection`](Self::introspection), when there may be none.
    pub(crate) fn maybe_introspection(mut self, introspection: Option<Introspection>) -> Self {
        if introspection.is_some() {
            self.introspection = introspection;
        }
        self
    }

    /// The algorithms accepted from this issuer. Each must fit one of its keys.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let mut algs: Vec<_> = algorithms.into_iter().collect();
        algs.sort_unstable();
        algs.dedup();
        self.algorithms = Some(algs);
        self
    }

    /// Which of this issuer's tokens count as service tokens.
    pub fn service_tokens(mut self, rule: ServiceTokenRule) -> Self {
        self.rules.service_rule = rule;
        self
    }

    /// Client ids of *this issuer* treated as trusted whatever their token says (matched
    /// against the `client_id` claim only, never `azp`). Client ids are unique only within an
    /// issuer, so trust is never shared between issuers.
    pub fn trusted_clients<I, S>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules.trusted_clients.extend(clients.into_iter().map(Into::into));
        self
    }

    /// Honours this issuer's `"is_trusted": true` claim (the JSON boolean). On by default
    /// for [`Issuer::permiso`] only: any other issuer's tokens could carry the claim without
    /// meaning it.
    pub fn trust_is_trusted_claim(mut self) -> Self {
        self.rules.honour_is_trusted = true;
        self
    }

    /// Ignores the `is_trusted` claim; only [`trusted_clients`](Self::trusted_clients) are
    /// trusted.
    pub fn ignore_is_trusted_claim(mut self) -> Self {
        self.rules.honour_is_trusted = false;
        self
    }

    /// Accepts an HMAC secret shorter than 32 bytes. **Unsafe**: RFC 7518 §3.2 requires a
    /// key at least as long as the hash, and a short secret can be brute-forced from one
    /// token. Without this, `build()` refuses such a secret.
    pub fn dangerous_allow_short_secret(mut self) -> Self {
        self.allow_short_secret = true;
        self
    }

    /// RFC 9068 mode: `typ` must be `at+jwt` (or `application/at+jwt`) and `sub`,
    /// `client_id`, `iat` and `jti` are required.
    pub fn require_at_jwt(mut self) -> Self {
        self.rules.typ = TokenTyp::AtJwt;
        self
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Issuer");
        self.rules
            .debug_fields(&mut d)
            .field("keys", &self.keys.as_ref().ok().filter(|_| self.local))
            .field("algorithms", &self.algorithms)
            .field("introspection", &self.introspection)
            .finish()
    }
}

/// An issuer as the verifier uses it: keys loaded, algorithms settled.
pub(crate) struct IssuerPolicy {
    /// The configured `iss`, shared with metrics labels and rejection notes.
    pub(crate) label: Arc<str>,
    pub(crate) rules: IssuerRules,
    pub(crate) keys: KeySource,
    pub(crate) algorithms: Vec<Algorithm>,
    /// Whether its JWTs are verified here with `keys`.
    pub(crate) local: bool,
    pub(crate) introspection: Option<Arc<Introspector>>,
}

impl fmt::Debug for IssuerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Issuer");
        self.rules
            .debug_fields(&mut d)
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("introspection", &self.introspection.as_deref().map(Introspector::describe))
            .finish()
    }
}
