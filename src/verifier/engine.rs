//! [`Verifier`]: the checks of one token, in order, with the cache and the key sources.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::checks;
use super::issuer::{IssuerPolicy, TokenTyp};
use crate::cache::{CacheStats, TokenCache, Verified};
use crate::claims::Claims;
use crate::clock::Clock;
use crate::error::{AuthError, AuthErrorKind};
use crate::keys::{KeyError, KeyFetchError, KeySource, KeyStats};
use crate::metrics::Timer;
use crate::mtls::CertProof;
use crate::revocation::{Checker, Local, RevocationStats};
use crate::scope::ScopeRules;
use crate::token;

/// How many keys one token may be tried against when its `kid` does not single one out.
/// A kid-less token costs at most this many signature checks, however large the key set:
/// issuers that publish more keys of one type must send `kid`.
const MAX_CANDIDATE_KEYS: usize = 8;

/// Verifies bearer tokens. Cheap to clone (one `Arc`), `Send + Sync`.
///
/// ```
/// use permiso::{Issuer, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .build()
///     .unwrap();
/// let err = verifier.verify("not-a-token").await.unwrap_err();
/// assert_eq!(err.status(), 401);
/// assert_eq!(verifier.cache_stats().unwrap().entries, 0);
/// # });
/// ```
///
/// A token in permiso's exact shape, verified end to end:
///
/// ```
/// use permiso::{Issuer, Verifier};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let secret = b"a-shared-secret-of-at-least-32-bytes!!";
/// let verifier = Verifier::builder(["keystone-auth"]).issuer(Issuer::permiso("keystone-auth", secret)).build()?;
/// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
/// let claims = serde_json::json!({
///     "iss": "keystone-auth", "aud": ["keystone-auth"], "sub": "payment-service",
///     "exp": now + 3600, "iat": now, "nbf": now, "jti": "2b1f0c1e",
///     "type": "service", "client_id": "payment-service",
///     "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
/// });
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
///     &claims,
///     &jsonwebtoken::EncodingKey::from_secret(secret)?,
/// )?;
/// let verified = verifier.verify(&token).await?;
/// assert_eq!(verified.client_id(), Some("payment-service"));
/// assert!(verified.is_service_token() && verified.is_trusted());
/// assert!(verified.scopes().satisfies("read:transactions"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Verifier {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) issuers: Vec<IssuerPolicy>,
    /// Whether an issuer judges tokens by introspection.
    pub(super) introspecting: bool,
    pub(super) audiences: Vec<String>,
    pub(super) leeway: i64,
    pub(super) max_token_bytes: usize,
    pub(super) scope_rules: Option<Arc<ScopeRules>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) cache: Option<TokenCache>,
    pub(super) revocation: Option<Checker>,
    pub(super) dpop: Option<Arc<crate::dpop::DpopPolicy>>,
}

/// A verification still waiting for keys or for the revocation list.
pub(crate) type VerifyFuture = Pin<Box<dyn Future<Output = Result<Arc<Claims>, AuthError>> + Send + 'static>>;

/// How the token came: the scheme decides whether a key binding is expected, and the
/// request's client certificate whether a certificate binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Presented {
    /// `DPoP`: the token must be bound (`cnf.jkt`); the layer checks the proof. Otherwise
    /// (`Bearer`, [`Verifier::verify`]) a DPoP-bound token is refused, since no proof goes
    /// with it.
    dpop: bool,
    /// The request's certificate (RFC 8705), and whether one must be bound.
    cert: CertProof,
}

impl Presented {
    /// `Bearer` (or [`Verifier::verify`]) without a client certificate.
    pub(crate) const BEARER: Self = Self { dpop: false, cert: CertProof::NONE };
    /// `DPoP` without a client certificate.
    pub(crate) const DPOP: Self = Self { dpop: true, cert: CertProof::NONE };

    /// With the request's client certificate.
    pub(crate) fn with_certificate(self, cert: CertProof) -> Self {
        Self { cert, ..self }
    }
}

/// Which verified tokens an entry point lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Only service tokens under their issuer's [`ServiceTokenRule`] (`AuthLayer`'s default).
    ServiceTokens,
    /// Any access token (a user's too); never a refresh token.
    AccessTokens,
}

/// Whether `claims` may pass an entry point that admits `admit`. Runs on every request, cache
/// hits included, after the token itself verified.
fn check_admitted(claims: &Claims, admit: Admit) -> Result<(), AuthError> {
    if admit == Admit::ServiceTokens && !claims.is_service_token() {
        return Err(AuthError::new(AuthErrorKind::NotServiceToken));
    }
    Ok(())
}

/// Whether `claims` fit the way the token came. Runs on every request, cache hits included:
/// the binding is the token's, the proof is the request's.
fn check_binding(claims: &Claims, presented: Presented) -> Result<(), AuthError> {
    // The common case, an unbound token: one lookup.
    if !claims.has_confirmation() {
        presented.cert.check_unbound()?;
        return if presented.dpop { Err(AuthError::new(AuthErrorKind::DpopUnbound)) } else { Ok(()) };
    }
    // Each confirmation method the token names must be proven: a certificate by the
    // request's TLS (RFC 8705), a key by the DPoP proof the layer checks after this.
    presented.cert.check(claims)?;
    match (presented.dpop, claims.dpop_jkt().is_some()) {
        (false, false) | (true, true) => Ok(()),
        // A token bound to a key is only as good as the proof of possession that goes with
        // it; presented alone it may be a stolen copy.
        (false, true) => Err(AuthError::new(AuthErrorKind::SenderConstrained)),
        (true, false) => Err(AuthError::new(AuthErrorKind::DpopUnbound)),
    }
}

/// What a verifier can say about a token without waiting.
pub(crate) enum Verdict {
    /// Verified (and not revoked): from the token cache and a local revocation answer.
    Verified(Arc<Claims>),
    /// Refused.
    Rejected(AuthError),
    /// Keys or the revocation list must be asked first.
    Pending(VerifyFuture),
}

/// What [`Verifier::try_now`] found.
enum Now {
    Decided(Verdict),
    /// Not cached: every check must run (timed from here).
    Cold(Timer),
}

impl Verifier {
    /// The DPoP checker, or `None` when DPoP is off.
    pub(crate) fn dpop(&self) -> Option<&Arc<crate::dpop::DpopPolicy>> {
        self.inner.dpop.as_ref()
    }

    /// The first configured issuer's `iss`: settings not scoped to an issuer (signing
    /// secrets, rate-limit tables) apply to its tokens.
    pub(crate) fn primary_issuer(&self) -> Option<&str> {
        self.inner.issuers.first().map(|i| i.rules.iss.as_str())
    }

    /// Every configured issuer's `iss`, in order.
    pub(crate) fn issuer_names(&self) -> Vec<String> {
        self.inner.issuers.iter().map(|i| i.rules.iss.clone()).collect()
    }

    /// The realm a layer answers with unless told otherwise: the first audience.
    pub(crate) fn default_realm(&self) -> &str {
        self.inner.audiences.first().map_or("api", String::as_str)
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// Fetches every remote issuer's keys now, instead of on the first request. Optional:
    /// start-up never waits for the network unless you call this.
    ///
    /// # Errors
    ///
    /// The first issuer whose keys could not be had, with why.
    pub async fn warm_up(&self) -> Result<(), KeyFetchError> {
        for issuer in &self.inner.issuers {
            if let KeySource::Remote(remote) = &issuer.keys {
                remote.keys_for(None).await.map_err(|e| e.cause)?;
            }
        }
        Ok(())
    }

    /// Whether every issuer has usable keys now (static ones always do; remote ones once
    /// fetched, and while within their stale window). For readiness probes.
    pub fn is_ready(&self) -> bool {
        self.inner.issuers.iter().all(|i| match &i.keys {
            KeySource::Static(_) => true,
            KeySource::Remote(r) => r.is_ready(),
        })
    }

    /// The remote key cache's counters for the issuer `iss`, or `None` if it has no remote
    /// keys.
    pub fn key_stats(&self, iss: &str) -> Option<KeyStats> {
        self.inner.issuers.iter().find(|i| i.rules.iss == iss).and_then(|i| match &i.keys {
            KeySource::Remote(r) => Some(r.stats()),
            KeySource::Static(_) => None,
        })
    }

    /// Verifies a compact JWS bearer token and returns its claims.
    ///
    /// Checks, cheapest first: size; structure and base64url; header (`alg` allowed for the
    /// issuer, no `crit`, `typ`); claims (types, `iss` exact, no `cnf`, `exp`/`nbf`/`iat`
    /// with leeway, `aud`, RFC 9068 claims when required); then the signature with the
    /// issuer's key for the token's `kid` and `alg` (without a `kid`, at most 8 keys that
    /// fit the algorithm are tried). An unknown `iss` is refused before any key lookup.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying why; see [`AuthErrorKind`].
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let (presented, admit) = (Presented::BEARER, Admit::AccessTokens);
        let verdict = match self.try_now(token, presented, admit) {
            Now::Decided(verdict) => verdict,
            // Borrowing the token (no copy of it); boxed, so that a cache hit's future stays
            // small.
            Now::Cold(timer) => return Box::pin(self.cold(token, presented, admit, timer)).await,
        };
        match verdict {
            Verdict::Verified(claims) => Ok(claims),
            Verdict::Rejected(err) => Err(err),
            Verdict::Pending(rest) => rest.await,
        }
    }

    /// As much of [`verify`](Self::verify) as can be done without waiting: a token cache hit
    /// and a local revocation answer need no future at all (the layer's hot path).
    pub(crate) fn verify_now(&self, token: &str, presented: Presented, admit: Admit) -> Verdict {
        match self.try_now(token, presented, admit) {
            Now::Decided(verdict) => verdict,
            Now::Cold(timer) => {
                let this = self.clone();
                let token = token.to_owned();
                Verdict::Pending(Box::pin(async move { this.cold(&token, presented, admit, timer).await }))
            }
        }
    }

    /// The cache's (or the introspection cache's) answer, or that the token must be verified.
    fn try_now(&self, token: &str, presented: Presented, admit: Admit) -> Now {
        let timer = Timer::start();
        let Some(claims) = self.verify_cached(token) else {
            if self.inner.introspecting
                && let Some(verdict) = self.introspect_now(token, presented, admit, timer)
            {
                return Now::Decided(verdict);
            }
            return Now::Cold(timer);
        };
        timer.cached();
        Now::Decided(self.admit_now(claims, presented, admit))
    }

    /// Every check of a token the cache does not hold, then the request's.
    async fn cold(
        &self,
        token: &str,
        presented: Presented,
        admit: Admit,
        timer: Timer,
    ) -> Result<Arc<Claims>, AuthError> {
        let cold = async {
            let verified = self.verify_and_cache(token).await;
            timer.cold(self.inner.cache.is_some());
            self.admit(verified?, presented, admit).await
        };
        #[cfg(feature = "tracing")]
        let cold =
            tracing::Instrument::instrument(cold, tracing::debug_span!("permiso.verify", path = "cold"));
        cold.await
    }

    /// The checks of verified (or introspected) claims that the request or shared state
    /// decide, without waiting when the revocation list need not be asked.
    pub(super) fn admit_now(&self, claims: Arc<Claims>, presented: Presented, admit: Admit) -> Verdict {
        if let Err(err) = check_admitted(&claims, admit).and_then(|()| check_binding(&claims, presented)) {
            return Verdict::Rejected(self.about_claims(err, &claims));
        }
        // Revocation runs on every request, cache hits included (see cache.rs).
        let Some(checker) = &self.inner.revocation else {
            return Verdict::Verified(claims);
        };
        match checker.check_local(&claims, self.inner.now()) {
            Local::Allowed => Verdict::Verified(claims),
            Local::Refused(err) => Verdict::Rejected(self.about_claims(err, &claims)),
            Local::Ask => {
                let this = self.clone();
                Verdict::Pending(Box::pin(async move {
                    this.ask_revocation_list(&claims).await.map_err(|e| this.about_claims(e, &claims))?;
                    Ok(claims)
                }))
            }
        }
    }

    /// [`admit_now`](Self::admit_now), waiting for the revocation list when it must.
    pub(super) async fn admit(
        &self,
        claims: Arc<Claims>,
        presented: Presented,
        admit: Admit,
    ) -> Result<Arc<Claims>, AuthError> {
        check_admitted(&claims, admit).map_err(|e| self.about_claims(e, &claims))?;
        check_binding(&claims, presented).map_err(|e| self.about_claims(e, &claims))?;
        self.check_revocation(&claims).await.map_err(|e| self.about_claims(e, &claims))?;
        Ok(claims)
    }

    /// `err` noted with the issuer and client of verified `claims` (for logs and metrics).
    pub(super) fn about_claims(&self, err: AuthError, claims: &Claims) -> AuthError {
        let err = err.about_client(claims.client_id());
        match self.issuer_label(claims.issuer()) {
            Some(label) => err.about_issuer(label),
            None => err,
        }
    }

    /// The configured issuer `iss`, as a shared label.
    pub(crate) fn issuer_label(&self, iss: &str) -> Option<&Arc<str>> {
        self.inner.issuers.iter().find(|i| i.rules.iss == iss).map(|i| &i.label)
    }

    /// The revocation check of verified claims, asking the list when no local answer will do.
    async fn check_revocation(&self, claims: &Claims) -> Result<(), AuthError> {
        let Some(checker) = &self.inner.revocation else { return Ok(()) };
        match checker.check_local(claims, self.inner.now()) {
            Local::Allowed => Ok(()),
            Local::Refused(err) => Err(err),
            Local::Ask => checker.ask(claims).await,
        }
    }

    async fn ask_revocation_list(&self, claims: &Claims) -> Result<(), AuthError> {
        match &self.inner.revocation {
            Some(checker) => checker.ask(claims).await,
            None => Ok(()),
        }
    }

    /// The cache's answer for `token`, if it holds a still-valid entry (without waiting).
    fn verify_cached(&self, token: &str) -> Option<Arc<Claims>> {
        let inner = &*self.inner;
        let cache = inner.cache.as_ref()?;
        let unix = inner.clock.now_unix();
        let now = i64::try_from(unix).unwrap_or(i64::MAX);
        cache.get_valid(token, |entry| {
            checks::check_times(&entry.claims, now, inner.leeway).is_ok()
                && inner.issuers[entry.issuer].keys.holds(&entry.key, unix)
        })
    }

    /// Every token check, then the result is cached (when the cache is on).
    async fn verify_and_cache(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let inner = &*self.inner;
        let verified = self.verify_in_full(token).await?;
        if let Some(cache) = &inner.cache {
            let (now, leeway) = (inner.now(), inner.leeway);
            cache.insert(token, &verified, |c| checks::check_times(c, now, leeway).is_err());
        }
        Ok(verified.claims)
    }

    /// Every check, no cache.
    async fn verify_in_full(&self, token: &str) -> Result<Verified, AuthError> {
        let inner = &*self.inner;
        let parts = token::split(token, inner.max_token_bytes)?;
        let kid = parts.header.kid.as_deref();
        let claims = Claims::parse(&parts.payload).map_err(|e| e.about_kid(kid))?;
        let Some((index, issuer)) =
            inner.issuers.iter().enumerate().find(|(_, i)| i.rules.iss == claims.issuer())
        else {
            return Err(AuthError::new(AuthErrorKind::UnknownIssuer).about_kid(kid));
        };
        self.check_for_issuer(&parts, claims, index, issuer)
            .await
            .map_err(|e| e.about_issuer(&issuer.label).about_kid(kid))
    }

    /// The checks once the token's issuer is known.
    async fn check_for_issuer(
        &self,
        parts: &token::Parts<'_>,
        mut claims: Claims,
        issuer_index: usize,
        issuer: &IssuerPolicy,
    ) -> Result<Verified, AuthError> {
        let inner = &*self.inner;
        checks::check_access_token(&claims)?;
        let alg = parts.header.alg.ok_or_else(|| AuthError::new(AuthErrorKind::MalformedToken))?;
        if !issuer.algorithms.contains(&alg) {
            return Err(AuthError::new(AuthErrorKind::UnsupportedAlgorithm)
                .with_description("the token's algorithm is not allowed for its issuer"));
        }
        checks::check_typ(parts.header.typ.as_deref(), issuer.rules.typ)?;
        checks::check_times(&claims, inner.now(), inner.leeway)?;
        checks::check_audience(&claims, &inner.audiences)?;
        if issuer.rules.typ == TokenTyp::AtJwt {
            checks::check_at_jwt_claims(&claims)?;
        }

        let keys = issuer.keys.current(parts.header.kid.as_deref()).await.map_err(key_error)?;
        let candidates = keys.candidates(parts.header.kid.as_deref(), alg);
        if candidates.keys.is_empty() {
            return Err(if candidates.any_kid_match {
                AuthError::new(AuthErrorKind::UnsupportedAlgorithm)
                    .with_description("the token's algorithm does not fit its key")
            } else {
                AuthError::new(AuthErrorKind::UnknownKey)
            });
        }
        let key = candidates
            .keys
            .iter()
            .take(MAX_CANDIDATE_KEYS)
            .find(|key| key.verify(alg, parts.signing_input, &parts.signature))
            .ok_or_else(|| AuthError::new(AuthErrorKind::InvalidSignature))?;

        checks::finish_claims(&mut claims, &issuer.rules, inner.scope_rules.as_ref());
        Ok(Verified { claims: Arc::new(claims), key: (*key).clone(), issuer: issuer_index })
    }

    /// The verified-token cache's counters, or `None` when the cache is off.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(TokenCache::stats)
    }

    /// The revocation check's counters, or `None` when revocation is off.
    pub fn revocation_stats(&self) -> Option<RevocationStats> {
        self.inner.revocation.as_ref().map(Checker::stats)
    }
}

/// Keys that cannot be had are a 503 saying when to try again; the cause is kept as the
/// error's source, never sent.
fn key_error(e: KeyError) -> AuthError {
    AuthError::keys_unavailable(e.retry_after_secs).with_source(e.cause)
}

impl Inner {
    pub(super) fn now(&self) -> i64 {
        i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Verifier")
            .field("issuers", &inner.issuers)
            .field("audiences", &inner.audiences)
            .field("leeway_secs", &inner.leeway)
            .field("max_token_bytes", &inner.max_token_bytes)
            .field("scope_rules", &inner.scope_rules)
            .field("dpop", &inner.dpop)
            .finish_non_exhaustive()
    }
}
