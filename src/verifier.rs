//! The one configuration object: which issuers, which audiences, which keys, which rules.
//!
//! ```
//! use permiso::{Issuer, Verifier};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let secret = b"a-shared-secret-of-at-least-32-bytes!!";
//! let verifier = Verifier::builder(["keystone-auth"])
//!     .issuer(Issuer::permiso("keystone-auth", secret))
//!     .build()?;
//!
//! // A token in permiso's exact shape, as its server mints them.
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let claims = serde_json::json!({
//!     "iss": "keystone-auth", "aud": ["keystone-auth"], "sub": "payment-service",
//!     "exp": now + 3600, "iat": now, "nbf": now, "jti": "2b1f0c1e",
//!     "type": "service", "client_id": "payment-service",
//!     "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
//! });
//! let token = jsonwebtoken::encode(
//!     &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
//!     &claims,
//!     &jsonwebtoken::EncodingKey::from_secret(secret)?,
//! )?;
//!
//! let verified = verifier.verify(&token).await?;
//! assert_eq!(verified.client_id(), Some("payment-service"));
//! assert!(verified.is_service_token());
//! assert!(verified.scopes().satisfies("read:transactions"));
//!
//! let err = verifier.verify("not-a-token").await.unwrap_err();
//! assert_eq!(err.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::algorithm::Algorithm;
use crate::cache::{CacheStats, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, TokenCache};
use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use crate::keys::jwks::Remote;
use crate::keys::{Key, KeyFetchError, KeySet, KeySource, KeyStats, RemoteKeys};
use crate::scope::ScopeRules;
use crate::token;

/// The default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default largest token accepted, in bytes; larger ones are refused unread.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// How many keys one token may be tried against when its `kid` does not single one out.
/// A kid-less token costs at most this many signature checks, however large the key set:
/// issuers that publish more keys of one type must send `kid`.
const MAX_CANDIDATE_KEYS: usize = 8;
/// The shortest HMAC secret accepted without an explicit opt-in (RFC 7518 §3.2: at least the
/// hash size, 256 bits for HS256).
const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Which tokens of an issuer count as *service tokens* (as opposed to, say, a user's).
///
/// ```
/// use permiso::ServiceTokenRule;
///
/// let permiso = ServiceTokenRule::permiso(); // "type" == "service"
/// let rfc9068 = ServiceTokenRule::claims_match("sub", "client_id");
/// let auth0 = ServiceTokenRule::claim_equals("gty", "client-credentials");
/// # let _ = (permiso, rfc9068, auth0, ServiceTokenRule::any());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceTokenRule(Rule);

#[derive(Clone, PartialEq, Eq)]
enum Rule {
    Any,
    Equals { claim: Box<str>, value: Box<str> },
    Match { claim: Box<str>, other: Box<str> },
}

impl ServiceTokenRule {
    /// permiso's rule: the `type` claim is `"service"`.
    pub fn permiso() -> Self {
        Self::claim_equals("type", "service")
    }

    /// The string claim `claim` equals `value`.
    pub fn claim_equals(claim: impl Into<Box<str>>, value: impl Into<Box<str>>) -> Self {
        Self(Rule::Equals { claim: claim.into(), value: value.into() })
    }

    /// The string claims `claim` and `other` are both present and equal (RFC 9068
    /// client-credentials tokens: `sub` == `client_id`).
    pub fn claims_match(claim: impl Into<Box<str>>, other: impl Into<Box<str>>) -> Self {
        Self(Rule::Match { claim: claim.into(), other: other.into() })
    }

    /// Every verified token of the issuer counts as a service token.
    pub fn any() -> Self {
        Self(Rule::Any)
    }

    pub(crate) fn matches(&self, claims: &Claims) -> bool {
        match &self.0 {
            Rule::Any => true,
            Rule::Equals { claim, value } => claims.str_claim(claim) == Some(&**value),
            Rule::Match { claim, other } => match (claims.str_claim(claim), claims.str_claim(other)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl fmt::Debug for ServiceTokenRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::Any => f.write_str("any"),
            Rule::Equals { claim, value } => write!(f, "{claim} == {value:?}"),
            Rule::Match { claim, other } => write!(f, "{claim} == {other}"),
        }
    }
}

/// One token issuer: its exact `iss`, where its keys come from, which algorithms it signs
/// with, and what its service tokens look like.
///
/// ```
/// use permiso::{Algorithm, Issuer, KeySet, ServiceTokenRule};
///
/// # let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
/// let oidc = Issuer::keys("https://auth.example.com", KeySet::from_jwks(jwks).unwrap())
///     .algorithms([Algorithm::EdDSA])
///     .service_tokens(ServiceTokenRule::claims_match("sub", "client_id"))
///     .require_at_jwt();
/// # let _ = oidc;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Issuer {
    iss: String,
    keys: Result<KeySpec, ConfigError>,
    algorithms: Option<Vec<Algorithm>>,
    service_rule: ServiceTokenRule,
    require_at_jwt: bool,
    trusted_clients: Vec<String>,
    honour_is_trusted: bool,
    allow_short_secret: bool,
}

/// An issuer's keys as configured, before the verifier is built.
#[derive(Clone, Debug)]
enum KeySpec {
    Static(Arc<KeySet>),
    Remote(RemoteKeys),
}

impl Issuer {
    /// An issuer that signs with a shared secret (HS256 unless
    /// [`algorithms`](Self::algorithms) says otherwise). Service tokens: `sub == client_id`.
    pub fn hmac(iss: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        let keys = Key::hmac(secret).map(|k| KeySpec::Static(Arc::new(KeySet::new([k]))));
        Self::with_source(iss.into(), keys, ServiceTokenRule::claims_match("sub", "client_id"))
    }

    /// The permiso auth server: HS256 with its shared secret, service tokens marked
    /// `"type": "service"`.
    ///
    /// Its tokens' `"is_trusted": true` is honoured (see [`trust_is_trusted_claim`](Self::trust_is_trusted_claim)).
    pub fn permiso(iss: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        Self::hmac(iss, secret).service_tokens(ServiceTokenRule::permiso()).trust_is_trusted_claim()
    }

    /// An issuer with fixed public keys (from PEM, JWK or a JWKS document). The allowed
    /// algorithms default to each key's own (`alg`, else RS256 / ES256 / ES384 / EdDSA by
    /// type). Service tokens: `sub == client_id`.
    pub fn keys(iss: impl Into<String>, keys: KeySet) -> Self {
        Self::with_source(
            iss.into(),
            Ok(KeySpec::Static(Arc::new(keys))),
            ServiceTokenRule::claims_match("sub", "client_id"),
        )
    }

    /// An issuer whose keys are fetched over HTTP (a JWKS URL, or discovery) and cached;
    /// see [`RemoteKeys`]. The allowed algorithms default to every asymmetric one, each key
    /// still bound to its own type and `alg`. Service tokens: `sub == client_id`.
    pub fn remote(iss: impl Into<String>, keys: RemoteKeys) -> Self {
        Self::with_source(
            iss.into(),
            Ok(KeySpec::Remote(keys)),
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

    fn with_source(iss: String, keys: Result<KeySpec, ConfigError>, rule: ServiceTokenRule) -> Self {
        Self {
            iss,
            keys,
            algorithms: None,
            service_rule: rule,
            require_at_jwt: false,
            trusted_clients: Vec::new(),
            honour_is_trusted: false,
            allow_short_secret: false,
        }
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
        self.service_rule = rule;
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
        self.trusted_clients.extend(clients.into_iter().map(Into::into));
        self
    }

    /// Honours this issuer's `"is_trusted": true` claim (the JSON boolean). On by default
    /// for [`Issuer::permiso`] only: any other issuer's tokens could carry the claim without
    /// meaning it.
    pub fn trust_is_trusted_claim(mut self) -> Self {
        self.honour_is_trusted = true;
        self
    }

    /// Ignores the `is_trusted` claim; only [`trusted_clients`](Self::trusted_clients) are
    /// trusted.
    pub fn ignore_is_trusted_claim(mut self) -> Self {
        self.honour_is_trusted = false;
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
        self.require_at_jwt = true;
        self
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("iss", &self.iss)
            .field("keys", &self.keys.as_ref().ok())
            .field("algorithms", &self.algorithms)
            .field("service_tokens", &self.service_rule)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("trusted_clients", &self.trusted_clients.len())
            .field("honour_is_trusted", &self.honour_is_trusted)
            .finish()
    }
}

/// An issuer as the verifier uses it: policy checked, algorithms settled.
struct IssuerPolicy {
    iss: String,
    keys: KeySource,
    algorithms: Vec<Algorithm>,
    service_rule: ServiceTokenRule,
    require_at_jwt: bool,
    trusted_clients: HashSet<String>,
    honour_is_trusted: bool,
}

impl fmt::Debug for IssuerPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("iss", &self.iss)
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("service_tokens", &self.service_rule)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("trusted_clients", &self.trusted_clients.len())
            .field("honour_is_trusted", &self.honour_is_trusted)
            .finish()
    }
}

/// Verifies bearer tokens. Cheap to clone (one `Arc`), `Send + Sync`.
///
/// Build it with [`Verifier::builder`]; see the [module docs](crate::verifier) for a whole
/// example.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<IssuerPolicy>,
    audiences: Vec<String>,
    leeway: i64,
    max_token_bytes: usize,
    scope_rules: Option<Arc<ScopeRules>>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCache>,
}

impl Verifier {
    /// Starts a verifier for tokens meant for one of `audiences` (the `aud` claim must name
    /// at least one).
    pub fn builder<I, S>(audiences: I) -> VerifierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        VerifierBuilder {
            audiences: audiences.into_iter().map(Into::into).collect(),
            issuers: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            scope_rules: ScopeRules::permiso(),
            trusted_clients: Vec::new(),
            clock: Arc::new(SystemClock),
            cache: Some((DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)),
        }
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
            let KeySource::Remote(remote) = &issuer.keys else {
                continue;
            };
            if let Err(e) = remote.keys_for(None).await {
                return Err(e
                    .source()
                    .and_then(|s| s.downcast_ref::<KeyFetchError>())
                    .cloned()
                    .unwrap_or(KeyFetchError::Unreachable));
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
        self.inner.issuers.iter().find(|i| i.iss == iss).and_then(|i| match &i.keys {
            KeySource::Remote(r) => Some(r.stats()),
            KeySource::Static(_) => None,
        })
    }

    /// Verifies a compact JWS bearer token and returns its claims.
    ///
    /// Checks, cheapest first: size; structure and base64url; header (`alg` allowed for the
    /// issuer, no `crit`, `typ`); claims (types, `iss` exact, `exp`/`nbf`/`iat` with leeway,
    /// `aud`, RFC 9068 claims when required); then the signature with the issuer's key for
    /// the token's `kid` and `alg`. An unknown `iss` is refused before any key lookup.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying why; see [`AuthErrorKind`].
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, AuthError> {
        let inner = &*self.inner;
        let Some(cache) = &inner.cache else {
            return self.verify_in_full(token).await.map(|v| v.claims);
        };
        if let Some(entry) = cache.get(token) {
            let issuer = &inner.issuers[entry.issuer];
            if inner.check_times(&entry.claims).is_ok() && issuer.keys.holds(&entry.key) {
                cache.hit();
                return Ok(Arc::clone(&entry.claims));
            }
            cache.remove(token);
        }
        cache.miss();
        let v = self.verify_in_full(token).await?;
        let expired = |c: &Claims| inner.check_times(c).is_err();
        cache.insert(token, Arc::clone(&v.claims), v.key, v.issuer, expired);
        Ok(v.claims)
    }

    /// Every check, no cache.
    async fn verify_in_full(&self, token: &str) -> Result<Verified, AuthError> {
        let inner = &*self.inner;
        let parts = token::split(token, inner.max_token_bytes)?;
        let mut claims = Claims::parse(&parts.payload)?;
        if claims.is_sender_constrained() {
            // A token bound to a key (RFC 7800 `cnf`: DPoP, mTLS) is only as good as the proof
            // of possession that goes with it; presented alone it is refused.
            return Err(AuthError::new(AuthErrorKind::SenderConstrained));
        }
        let (issuer_index, issuer) = inner
            .issuers
            .iter()
            .enumerate()
            .find(|(_, i)| i.iss == claims.issuer())
            .ok_or_else(|| AuthError::new(AuthErrorKind::UnknownIssuer))?;
        let alg = parts.header.alg.ok_or_else(|| AuthError::new(AuthErrorKind::MalformedToken))?;
        if !issuer.algorithms.contains(&alg) {
            return Err(AuthError::new(AuthErrorKind::UnsupportedAlgorithm)
                .with_description("the token's algorithm is not allowed for its issuer"));
        }
        check_typ(parts.header.typ.as_deref(), issuer.require_at_jwt)?;
        inner.check_times(&claims)?;
        inner.check_audience(&claims)?;
        if issuer.require_at_jwt {
            check_at_jwt_claims(&claims)?;
        }

        let keys = issuer.keys.current(parts.header.kid.as_deref()).await?;
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

        claims.scopes_mut().set_rules(inner.scope_rules.as_ref());
        claims.service = issuer.service_rule.matches(&claims);
        // Trust belongs to the issuer: its own list (by `client_id`, never `azp`) or its
        // honoured `is_trusted`, and only ever for a service token.
        let listed = claims.str_claim("client_id").is_some_and(|id| issuer.trusted_clients.contains(id));
        claims.trusted = claims.service && (listed || (issuer.honour_is_trusted && claims.trusted_claim()));
        Ok(Verified { claims: Arc::new(claims), key: (*key).clone(), issuer: issuer_index })
    }

    /// The verified-token cache's counters, or `None` when the cache is off.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(TokenCache::stats)
    }
}

/// A token that passed every check, and what the cache needs to know of it.
struct Verified {
    claims: Arc<Claims>,
    key: Key,
    issuer: usize,
}

impl Inner {
    fn check_times(&self, claims: &Claims) -> Result<(), AuthError> {
        let now = i64::try_from(self.clock.now_unix()).unwrap_or(i64::MAX);
        if claims.expires_at().saturating_add(self.leeway) <= now {
            return Err(AuthError::new(AuthErrorKind::Expired));
        }
        if claims.not_before().is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(AuthError::new(AuthErrorKind::NotYetValid));
        }
        if claims.issued_at().is_some_and(|iat| iat > now.saturating_add(self.leeway)) {
            return Err(AuthError::new(AuthErrorKind::NotYetValid)
                .with_description("the token was issued in the future"));
        }
        Ok(())
    }

    fn check_audience(&self, claims: &Claims) -> Result<(), AuthError> {
        if claims.audience().is_empty() {
            return Err(
                AuthError::new(AuthErrorKind::InvalidAudience).with_description("the token has no aud claim")
            );
        }
        if claims.audience().iter().any(|a| self.audiences.iter().any(|want| want == a)) {
            Ok(())
        } else {
            Err(AuthError::new(AuthErrorKind::InvalidAudience))
        }
    }
}

/// `typ` (RFC 8725 §3.11): without RFC 9068 mode, absent or a plain JWT / access-token type;
/// with it, `at+jwt` only. Media types compare case-insensitively (RFC 7515 §4.1.9).
fn check_typ(typ: Option<&str>, require_at_jwt: bool) -> Result<(), AuthError> {
    let is = |want: &str| typ.is_some_and(|t| t.eq_ignore_ascii_case(want));
    let at_jwt = is("at+jwt") || is("application/at+jwt");
    let ok =
        if require_at_jwt { at_jwt } else { typ.is_none() || at_jwt || is("JWT") || is("application/jwt") };
    if ok {
        Ok(())
    } else if require_at_jwt {
        Err(AuthError::new(AuthErrorKind::InvalidTokenType)
            .with_description("the token's typ must be at+jwt"))
    } else {
        Err(AuthError::new(AuthErrorKind::InvalidTokenType))
    }
}

fn check_at_jwt_claims(claims: &Claims) -> Result<(), AuthError> {
    let missing =
        |what: &'static str| Err(AuthError::new(AuthErrorKind::InvalidClaim).with_description(what));
    if claims.subject().is_none() {
        return missing("the sub claim is required");
    }
    if claims.str_claim("client_id").is_none() {
        return missing("the client_id claim is required");
    }
    if claims.issued_at().is_none() {
        return missing("the iat claim is required");
    }
    if claims.jwt_id().is_none() {
        return missing("the jti claim is required");
    }
    Ok(())
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
            .finish_non_exhaustive()
    }
}

/// Configures a [`Verifier`]; every setting is checked at [`build`](Self::build).
#[must_use]
pub struct VerifierBuilder {
    audiences: Vec<String>,
    issuers: Vec<Issuer>,
    leeway: Duration,
    max_token_bytes: usize,
    scope_rules: ScopeRules,
    trusted_clients: Vec<String>,
    clock: Arc<dyn Clock>,
    cache: Option<(usize, usize)>,
}

impl VerifierBuilder {
    /// Adds an issuer. Tokens are routed to it by their exact `iss`.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 60 s, at most 10 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest token accepted (default 8 KiB; 256 B to 1 MiB).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Scope implication rules (default [`ScopeRules::permiso`]; use [`ScopeRules::none`]
    /// for exact matching only).
    pub fn scope_rules(mut self, rules: ScopeRules) -> Self {
        self.scope_rules = rules;
        self
    }

    /// Client ids treated as trusted whatever their token says, for a verifier with a
    /// **single issuer** (the `PERMISO_TRUSTED_CLIENTS` case). With several issuers `build()`
    /// refuses this: client ids are unique only within an issuer, so say which with
    /// [`Issuer::trusted_clients`].
    pub fn trusted_clients<I, S>(mut self, clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_clients.extend(clients.into_iter().map(Into::into));
        self
    }

    /// The clock (default: the system clock). Tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Bounds of the verified-token cache (on by default: 10,000 entries, 16 MiB).
    ///
    /// A token seen again is answered from the cache after re-checking `exp`/`nbf` and that
    /// the key which verified it is still in its issuer's set.
    pub fn token_cache(mut self, max_entries: usize, max_bytes: usize) -> Self {
        self.cache = Some((max_entries, max_bytes));
        self
    }

    /// Turns the verified-token cache off: every request verifies the signature.
    pub fn no_token_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Checks the whole policy and builds the verifier.
    ///
    /// # Errors
    ///
    /// No or an empty audience; no issuer; an empty or repeated `iss`; an issuer whose key
    /// could not be loaded; an allowed algorithm none of an issuer's keys can verify; a
    /// leeway over 10 minutes; a size limit outside 256 B – 1 MiB.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        use ConfigErrorKind::*;
        if self.audiences.is_empty() {
            return Err(ConfigError::new(Missing, "at least one audience is required"));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(Invalid, "an audience is empty"));
        }
        if self.issuers.is_empty() {
            return Err(ConfigError::new(Missing, "at least one issuer is required"));
        }
        if self.leeway > Duration::from_secs(600) {
            return Err(ConfigError::new(Invalid, "leeway must be at most 600 seconds"));
        }
        if !(256..=1024 * 1024).contains(&self.max_token_bytes) {
            return Err(ConfigError::new(Invalid, "max_token_bytes must be between 256 and 1048576"));
        }
        if !self.trusted_clients.is_empty() && self.issuers.len() > 1 {
            return Err(ConfigError::new(
                Conflict,
                "trusted_clients at the top level is for a single issuer; with several, set each issuer's own trusted_clients",
            ));
        }
        let mut issuers = Vec::with_capacity(self.issuers.len());
        let mut top_level_trusted = self.trusted_clients;
        for issuer in self.issuers {
            if issuer.iss.is_empty() {
                return Err(ConfigError::new(Invalid, "an issuer's iss is empty"));
            }
            if issuers.iter().any(|i: &IssuerPolicy| i.iss == issuer.iss) {
                return Err(ConfigError::new(
                    Conflict,
                    format!("issuer {:?} is configured twice", issuer.iss),
                ));
            }
            let keys = match issuer.keys {
                Ok(KeySpec::Static(set)) => KeySource::Static(set),
                Ok(KeySpec::Remote(cfg)) => {
                    KeySource::Remote(Remote::new(&issuer.iss, cfg, Arc::clone(&self.clock))?)
                }
                Err(e) => {
                    let why = format!("issuer {:?}: {e}", issuer.iss);
                    return Err(ConfigError::new(e.kind(), why));
                }
            };
            if !issuer.allow_short_secret
                && let Some(set) = keys.known_keys()
                && set.iter().any(|k| k.hmac_secret_len().is_some_and(|len| len < MIN_HMAC_SECRET_BYTES))
            {
                return Err(ConfigError::new(
                    Key,
                    format!(
                        "issuer {:?}: the HMAC secret is shorter than {MIN_HMAC_SECRET_BYTES} bytes (RFC 7518 section 3.2); \
                         use a longer secret, or allow_short_secret (unsafe)",
                        issuer.iss
                    ),
                ));
            }
            let algorithms = settle_algorithms(&issuer.iss, &keys, issuer.algorithms)?;
            let mut trusted_clients: HashSet<String> = issuer.trusted_clients.into_iter().collect();
            trusted_clients.extend(top_level_trusted.drain(..));
            issuers.push(IssuerPolicy {
                iss: issuer.iss,
                keys,
                algorithms,
                service_rule: issuer.service_rule,
                require_at_jwt: issuer.require_at_jwt,
                trusted_clients,
                honour_is_trusted: issuer.honour_is_trusted,
            });
        }
        let scope_rules = (!self.scope_rules.is_empty()).then(|| Arc::new(self.scope_rules));
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuers,
                audiences: self.audiences,
                leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(600),
                max_token_bytes: self.max_token_bytes,
                scope_rules,
                clock: self.clock,
                cache: self.cache.filter(|(e, b)| *e > 0 && *b > 0).map(|(e, b)| TokenCache::new(e, b)),
            }),
        })
    }
}

/// The issuer's allowed algorithms: as given, each fitting a known key, or by default each
/// key's own algorithm.
fn settle_algorithms(
    iss: &str,
    keys: &KeySource,
    given: Option<Vec<Algorithm>>,
) -> Result<Vec<Algorithm>, ConfigError> {
    let known = keys.known_keys();
    let algorithms = match given {
        Some(algs) => algs,
        None => match known {
            Some(set) => {
                let mut algs: Vec<_> = set.iter().map(Key::default_algorithm).collect();
                algs.sort_unstable();
                algs.dedup();
                algs
            }
            None => Algorithm::ALL.into_iter().filter(|a| !a.is_symmetric()).collect(),
        },
    };
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            ConfigErrorKind::Missing,
            format!("issuer {iss:?}: no algorithm is allowed"),
        ));
    }
    if let (None, Some(alg)) = (known, algorithms.iter().find(|a| a.is_symmetric())) {
        return Err(ConfigError::new(
            ConfigErrorKind::Conflict,
            format!("issuer {iss:?}: algorithm {alg} needs a shared secret, not remote public keys"),
        ));
    }
    if let Some(set) = known {
        for alg in &algorithms {
            if !set.iter().any(|k| k.supports(*alg)) {
                let kinds =
                    if set.iter().any(Key::is_symmetric) { "its shared secret" } else { "its public keys" };
                return Err(ConfigError::new(
                    ConfigErrorKind::Conflict,
                    format!("issuer {iss:?}: algorithm {alg} cannot be verified with {kinds}"),
                ));
            }
        }
    }
    Ok(algorithms)
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("audiences", &self.audiences)
            .field("issuers", &self.issuers)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use serde_json::{Value, json};

    use super::*;
    use crate::clock::ManualClock;
    use crate::testing::SigningKey;

    const NOW: u64 = 1_700_000_000;
    const ISS: &str = "keystone-auth";
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn rsa_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate(Algorithm::RS256).with_kid("rsa-1"))
    }

    fn permiso_claims() -> Value {
        json!({
            "iss": ISS, "aud": [ISS], "sub": "payment-service", "exp": NOW + 3600,
            "iat": NOW, "nbf": NOW, "jti": "7d1c", "type": "service",
            "client_id": "payment-service",
            "scopes": ["write:transactions", "read:transactions"], "is_trusted": true,
        })
    }

    fn permiso_verifier() -> Verifier {
        Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap()
    }

    fn hs(claims: &Value) -> String {
        SigningKey::hmac(Algorithm::HS256, SECRET).sign(claims)
    }

    fn with(claims: &Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let mut c = claims.clone();
        f(c.as_object_mut().unwrap());
        c
    }

    fn reject(verifier: &Verifier, token: &str) -> AuthError {
        match block_on(verifier.verify(token)) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn permiso_token_is_accepted_and_normalized() {
        let claims = block_on(permiso_verifier().verify(&hs(&permiso_claims()))).unwrap();
        assert_eq!(claims.issuer(), ISS);
        assert_eq!(claims.client_id(), Some("payment-service"));
        assert!(claims.is_service_token());
        assert!(claims.is_trusted());
        assert!(claims.scopes().satisfies("read:transactions"));
        assert!(!claims.scopes().satisfies("read:users"));
    }

    #[test]
    fn admin_implies_read_and_write_through_the_verifier() {
        let c = with(&permiso_claims(), |c| {
            c.insert("scopes".into(), json!(["admin:transactions"]));
        });
        let claims = block_on(permiso_verifier().verify(&hs(&c))).unwrap();
        assert!(claims.scopes().satisfies("write:transactions"));
        let exact = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET))
            .scope_rules(ScopeRules::none())
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        let claims = block_on(exact.verify(&hs(&c))).unwrap();
        assert!(!claims.scopes().satisfies("write:transactions"));
    }

    #[test]
    fn wrong_secret_is_an_invalid_signature() {
        let token =
            SigningKey::hmac(Algorithm::HS256, b"another-secret-another-secret-xx").sign(&permiso_claims());
        assert_eq!(reject(&permiso_verifier(), &token).kind(), AuthErrorKind::InvalidSignature);
        // A tampered payload under the right secret's signature.
        let good = hs(&permiso_claims());
        let forged = hs(&with(&permiso_claims(), |c| {
            c.insert("scopes".into(), json!(["admin:everything"]));
        }));
        let (head, _) = good.rsplit_once('.').unwrap();
        let (_, sig) = forged.rsplit_once('.').unwrap();
        assert_eq!(
            reject(&permiso_verifier(), &format!("{head}.{sig}")).kind(),
            AuthErrorKind::InvalidSignature
        );
    }

    #[test]
    fn alg_none_is_refused_in_four_spellings() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let payload = URL_SAFE.encode(permiso_claims().to_string());
            let header = URL_SAFE.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for sig in ["", "AA"] {
                let e = reject(&permiso_verifier(), &format!("{header}.{payload}.{sig}"));
                assert!(
                    matches!(e.kind(), AuthErrorKind::UnsupportedAlgorithm | AuthErrorKind::MalformedToken),
                    "{alg}: {e:?}"
                );
                assert_eq!(e.status(), 401);
            }
        }
    }

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as URL_SAFE;

    fn rsa_verifier(algs: Option<Vec<Algorithm>>) -> Verifier {
        let keys = KeySet::new([Key::from_pem(rsa_key().public_pem().unwrap()).unwrap().with_kid("rsa-1")]);
        let mut issuer = Issuer::keys(ISS, keys).service_tokens(ServiceTokenRule::permiso());
        if let Some(a) = algs {
            issuer = issuer.algorithms(a);
        }
        Verifier::builder([ISS]).issuer(issuer).clock(ManualClock::at_unix(NOW)).build().unwrap()
    }

    #[test]
    fn hs256_signed_with_the_rsa_public_key_is_refused() {
        // CVE-2015-9235: the attacker signs HS256 using the RSA public key (PEM bytes, DER,
        // or the modulus) as the HMAC secret.
        let pem = rsa_key().public_pem().unwrap();
        let jwk = rsa_key().public_jwk().unwrap();
        let modulus = jwk["n"].as_str().unwrap().to_owned();
        for secret in [pem.as_bytes().to_vec(), pem.trim_end().as_bytes().to_vec(), modulus.into_bytes()] {
            let attacker = SigningKey::hmac(Algorithm::HS256, &secret).with_kid("rsa-1");
            let e = reject(&rsa_verifier(None), &attacker.sign(&permiso_claims()));
            assert_eq!(e.kind(), AuthErrorKind::UnsupportedAlgorithm);
        }
        // And no configuration can make it work: HS256 on public keys does not build.
        let keys = KeySet::new([Key::from_pem(&pem).unwrap()]);
        let err = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, keys).algorithms([Algorithm::RS256, Algorithm::HS256]))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Conflict);
        assert!(err.to_string().contains("HS256"), "{err}");
    }

    #[test]
    fn rs256_and_ps256_with_one_rsa_key() {
        let v = rsa_verifier(Some(vec![Algorithm::RS256, Algorithm::PS256]));
        block_on(v.verify(&rsa_key().sign(&permiso_claims()))).unwrap();
        let ps = rsa_key().clone().with_algorithm(Algorithm::PS256);
        block_on(v.verify(&ps.sign(&permiso_claims()))).unwrap();
        // PS256 is not allowed by default.
        assert_eq!(
            reject(&rsa_verifier(None), &ps.sign(&permiso_claims())).kind(),
            AuthErrorKind::UnsupportedAlgorithm
        );
        // A PS256 signature presented as RS256 does not verify.
        let ps_token = ps.sign(&permiso_claims());
        let rs_token = rsa_key().sign(&permiso_claims());
        let forged =
            format!("{}.{}", rs_token.rsplit_once('.').unwrap().0, ps_token.rsplit_once('.').unwrap().1);
        assert_eq!(reject(&v, &forged).kind(), AuthErrorKind::InvalidSignature);
    }

    #[test]
    fn jwk_alg_binds_the_key() {
        let mut jwk = rsa_key().public_jwk().unwrap();
        jwk["alg"] = json!("RS256");
        let key = Key::from_jwk(&jwk.to_string()).unwrap();
        // The issuer allows PS256, but this key only RS256: the build says so.
        let err = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, KeySet::new([key])).algorithms([Algorithm::PS256]))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Conflict);
    }

    #[test]
    fn every_asymmetric_algorithm_verifies_from_jwks() {
        let keys: Vec<SigningKey> = [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA]
            .into_iter()
            .map(|a| SigningKey::generate(a).with_kid(a.as_str()))
            .chain([rsa_key().clone()])
            .collect();
        let jwks = json!({"keys": keys.iter().map(|k| k.public_jwk().unwrap()).collect::<Vec<_>>()});
        let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
        assert_eq!(set.len(), 4);
        let v = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, set).service_tokens(ServiceTokenRule::permiso()))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        for key in &keys {
            let claims =
                block_on(v.verify(&key.sign(&permiso_claims()))).unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
            assert!(claims.is_service_token());
            // An ES256/ES384/EdDSA header naming the RSA key's kid: the algorithm does not fit.
            if key.algorithm() != Algorithm::RS256 {
                let mut header = key.header("JWT");
                header["kid"] = json!("rsa-1");
                let e = reject(&v, &key.sign_with_header(&header, &permiso_claims()));
                assert_eq!(e.kind(), AuthErrorKind::UnsupportedAlgorithm, "{key:?}");
            }
        }
    }

    #[test]
    fn ecdsa_zero_and_der_signatures_are_refused() {
        // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
        let key = SigningKey::generate(Algorithm::ES256).with_kid("ec");
        let set = KeySet::new([Key::from_jwk(&key.public_jwk().unwrap().to_string()).unwrap()]);
        let v = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, set))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        let good = key.sign(&permiso_claims());
        let head = good.rsplit_once('.').unwrap().0;
        for sig in [vec![0u8; 64], vec![0u8; 1], vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]] {
            let token = format!("{head}.{}", URL_SAFE.encode(&sig));
            assert_eq!(reject(&v, &token).kind(), AuthErrorKind::InvalidSignature);
        }
    }

    #[test]
    fn embedded_keys_and_key_urls_are_never_used() {
        // The attacker signs with their own key and embeds it (CVE-2018-0114) or points at it.
        let attacker = SigningKey::generate(Algorithm::RS256).with_kid("rsa-1");
        let mut header = attacker.header("JWT");
        header["jwk"] = attacker.public_jwk().unwrap();
        header["jku"] = json!("http://127.0.0.1:1/jwks.json");
        header["x5u"] = json!("http://127.0.0.1:1/cert.pem");
        header["x5c"] = json!(["MIIB"]);
        let e = reject(&rsa_verifier(None), &attacker.sign_with_header(&header, &permiso_claims()));
        assert_eq!(e.kind(), AuthErrorKind::InvalidSignature);
    }

    #[test]
    fn kid_selects_the_key() {
        let a = SigningKey::generate(Algorithm::EdDSA).with_kid("a");
        let b = SigningKey::generate(Algorithm::EdDSA).with_kid("b");
        let jwks = json!({"keys": [a.public_jwk().unwrap(), b.public_jwk().unwrap()]});
        let v = Verifier::builder([ISS])
            .issuer(Issuer::keys(ISS, KeySet::from_jwks(&jwks.to_string()).unwrap()))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        block_on(v.verify(&a.sign(&permiso_claims()))).unwrap();
        block_on(v.verify(&b.sign(&permiso_claims()))).unwrap();
        let unknown = SigningKey::generate(Algorithm::EdDSA).with_kid("c");
        assert_eq!(reject(&v, &unknown.sign(&permiso_claims())).kind(), AuthErrorKind::UnknownKey);
        // b's signature under a's kid fails.
        let mut header = b.header("JWT");
        header["kid"] = json!("a");
        assert_eq!(
            reject(&v, &b.sign_with_header(&header, &permiso_claims())).kind(),
            AuthErrorKind::InvalidSignature
        );
        // Without a kid, each key is tried.
        let mut header = b.header("JWT");
        header.as_object_mut().unwrap().remove("kid");
        block_on(v.verify(&b.sign_with_header(&header, &permiso_claims()))).unwrap();
    }

    #[test]
    fn exp_string_missing_float_huge() {
        let v = permiso_verifier();
        for exp in [json!("1700003600"), json!(null), json!(1e300), json!(u64::MAX), json!(-1), json!(true)] {
            let c = with(&permiso_claims(), |c| {
                c.insert("exp".into(), exp.clone());
            });
            let e = reject(&v, &hs(&c));
            assert_eq!(e.kind(), AuthErrorKind::InvalidClaim, "{exp}");
            assert!(e.description().contains("exp"));
        }
        let missing = with(&permiso_claims(), |c| {
            c.remove("exp");
        });
        assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidClaim);
        // A fraction is a valid NumericDate (RFC 7519 §2).
        let float = with(&permiso_claims(), |c| {
            c.insert("exp".into(), json!(NOW as f64 + 10.5));
        });
        block_on(v.verify(&hs(&float))).unwrap();
    }

    #[test]
    fn expiry_and_not_before_use_the_clock_and_leeway() {
        let clock = ManualClock::at_unix(NOW);
        let v = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET))
            .leeway(Duration::from_secs(30))
            .clock(clock.clone())
            .build()
            .unwrap();
        let token = hs(&permiso_claims());
        block_on(v.verify(&token)).unwrap();
        clock.set_unix(NOW + 3600 + 29);
        block_on(v.verify(&token)).unwrap();
        clock.set_unix(NOW + 3600 + 30);
        assert_eq!(reject(&v, &token).kind(), AuthErrorKind::Expired);

        clock.set_unix(NOW);
        let future = with(&permiso_claims(), |c| {
            c.insert("nbf".into(), json!(NOW + 31));
        });
        assert_eq!(reject(&v, &hs(&future)).kind(), AuthErrorKind::NotYetValid);
        let soon = with(&permiso_claims(), |c| {
            c.insert("nbf".into(), json!(NOW + 30));
        });
        block_on(v.verify(&hs(&soon))).unwrap();
        let issued_later = with(&permiso_claims(), |c| {
            c.insert("iat".into(), json!(NOW + 3000));
        });
        assert_eq!(reject(&v, &hs(&issued_later)).kind(), AuthErrorKind::NotYetValid);
        for claim in ["nbf", "iat"] {
            let bad = with(&permiso_claims(), |c| {
                c.insert(claim.into(), json!("soon"));
            });
            assert_eq!(reject(&v, &hs(&bad)).kind(), AuthErrorKind::InvalidClaim);
        }
    }

    #[test]
    fn wrong_and_lookalike_issuers() {
        let v = permiso_verifier();
        for iss in [
            "other",
            "Keystone-auth",
            "keystone-auth/",
            " keystone-auth",
            "keystone-auth\u{0}",
            "keystone‐auth",
            "",
        ] {
            let c = with(&permiso_claims(), |c| {
                c.insert("iss".into(), json!(iss));
            });
            assert_eq!(reject(&v, &hs(&c)).kind(), AuthErrorKind::UnknownIssuer, "{iss:?}");
        }
        let missing = with(&permiso_claims(), |c| {
            c.remove("iss");
        });
        assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidClaim);
    }

    #[test]
    fn audience_string_or_list() {
        let v = Verifier::builder(["orders", "keystone-auth"])
            .issuer(Issuer::permiso(ISS, SECRET))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        for (aud, ok) in [
            (json!("orders"), true),
            (json!(["x", "keystone-auth"]), true),
            (json!(["x", "y"]), false),
            (json!("Orders"), false),
            (json!([]), false),
            // RFC 7519 §4.1.3: a string aud is one value, never split on spaces.
            (json!("attacker-api keystone-auth"), false),
            (json!("keystone-auth orders"), false),
        ] {
            let c = with(&permiso_claims(), |c| {
                c.insert("aud".into(), aud.clone());
            });
            let r = block_on(v.verify(&hs(&c)));
            assert_eq!(r.is_ok(), ok, "{aud}");
            if !ok {
                assert_eq!(r.unwrap_err().kind(), AuthErrorKind::InvalidAudience);
            }
        }
        let missing = with(&permiso_claims(), |c| {
            c.remove("aud");
        });
        assert_eq!(reject(&v, &hs(&missing)).kind(), AuthErrorKind::InvalidAudience);
        let number = with(&permiso_claims(), |c| {
            c.insert("aud".into(), json!(5));
        });
        assert_eq!(reject(&v, &hs(&number)).kind(), AuthErrorKind::InvalidClaim);
    }

    #[test]
    fn is_trusted_string_is_not_trusted_but_the_allow_list_is() {
        for v in [json!("true"), json!(1), json!("True"), json!(null)] {
            let c = with(&permiso_claims(), |c| {
                c.insert("is_trusted".into(), v.clone());
            });
            assert!(!block_on(permiso_verifier().verify(&hs(&c))).unwrap().is_trusted(), "{v}");
        }
        let untrusted = with(&permiso_claims(), |c| {
            c.insert("is_trusted".into(), json!(false));
        });
        let v = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET))
            .trusted_clients(["payment-service"])
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        assert!(block_on(v.verify(&hs(&untrusted))).unwrap().is_trusted());
    }

    #[test]
    fn trust_belongs_to_the_issuer() {
        const OTHER: &str = "https://idp.example.com";
        let other_key = SigningKey::hmac(Algorithm::HS256, b"another-issuers-secret-0123456789");
        let user = |iss: &str, extra: Value| {
            let mut c = json!({
                "iss": iss, "aud": [ISS], "sub": "alice", "exp": NOW + 3600, "iat": NOW,
                "scopes": ["read:transactions"],
            });
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let v = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET).trusted_clients(["billing-service"]))
            .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789"))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        // `azp` never grants trust, not even with a client id that is trusted elsewhere.
        let azp = other_key.sign(&user(OTHER, json!({"azp": "billing-service", "is_trusted": true})));
        let c = block_on(v.verify(&azp)).unwrap();
        assert!(!c.is_trusted());
        // Another issuer's service token for the same client id: not trusted by permiso's list,
        // and its is_trusted claim is not honoured.
        let other = other_key.sign(&user(
            OTHER,
            json!({"sub": "billing-service", "client_id": "billing-service", "is_trusted": true}),
        ));
        let c = block_on(v.verify(&other)).unwrap();
        assert!(c.is_service_token() && !c.is_trusted());
        // permiso's own: the list and the claim both count, for service tokens only.
        let listed = with(&permiso_claims(), |c| {
            c.insert("client_id".into(), json!("billing-service"));
            c.insert("is_trusted".into(), json!(false));
        });
        assert!(block_on(v.verify(&hs(&listed))).unwrap().is_trusted());
        assert!(block_on(v.verify(&hs(&permiso_claims()))).unwrap().is_trusted());
        let not_service = with(&permiso_claims(), |c| {
            c.insert("type".into(), json!("user"));
        });
        let c = block_on(v.verify(&hs(&not_service))).unwrap();
        assert!(!c.is_service_token() && !c.is_trusted(), "trusted implies a service token");
        // An issuer may be told to honour the claim, or permiso to ignore it.
        let honour = Verifier::builder([ISS])
            .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789").trust_is_trusted_claim())
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        assert!(block_on(honour.verify(&other)).unwrap().is_trusted());
        let ignore = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET).ignore_is_trusted_claim())
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        assert!(!block_on(ignore.verify(&hs(&permiso_claims()))).unwrap().is_trusted());
        // The top-level list is for one issuer; with two it does not build.
        let err = Verifier::builder([ISS])
            .issuer(Issuer::permiso(ISS, SECRET))
            .issuer(Issuer::hmac(OTHER, b"another-issuers-secret-0123456789"))
            .trusted_clients(["billing-service"])
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ConfigErrorKind::Conflict);
        assert!(err.to_string().contains("trusted_clients"), "{err}");
    }

    #[test]
    fn short_hmac_secrets_are_refused_unless_explicitly_allowed() {
        for short in [&b"0123456789abcdef0123456789abcde"[..], b"secret"] {
            let err = Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, short)).build().unwrap_err();
            assert_eq!(err.kind(), ConfigErrorKind::Key);
            assert!(err.to_string().contains("32 bytes"), "{err}");
            // Through a KeySet as well.
            let set = KeySet::new([Key::hmac(short).unwrap()]);
            assert!(Verifier::builder([ISS]).issuer(Issuer::keys(ISS, set)).build().is_err());
            let v = Verifier::builder([ISS])
                .issuer(Issuer::permiso(ISS, short).dangerous_allow_short_secret())
                .clock(ManualClock::at_unix(NOW))
                .build()
                .unwrap();
            let token = SigningKey::hmac(Algorithm::HS256, short).sign(&permiso_claims());
            block_on(v.verify(&token)).unwrap();
        }
    }

    #[test]
    fn a_key_bound_token_without_its_proof_is_refused() {
        for cnf in [
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            json!({}),
        ] {
            let c = with(&permiso_claims(), |c| {
                c.insert("cnf".into(), cnf.clone());
            });
            let e = reject(&permiso_verifier(), &hs(&c));
            assert_eq!(e.kind(), AuthErrorKind::SenderConstrained, "{cnf}");
            assert_eq!(e.status(), 401);
        }
    }

    #[test]
    fn service_token_rules() {
        let not_service = with(&permiso_claims(), |c| {
            c.insert("type".into(), json!("user"));
        });
        assert!(!block_on(permiso_verifier().verify(&hs(&not_service))).unwrap().is_service_token());
        let no_type = with(&permiso_claims(), |c| {
            c.remove("type");
        });
        assert!(!block_on(permiso_verifier().verify(&hs(&no_type))).unwrap().is_service_token());

        let rfc = Verifier::builder([ISS])
            .issuer(Issuer::hmac(ISS, SECRET))
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        assert!(block_on(rfc.verify(&hs(&no_type))).unwrap().is_service_token());
        let user = with(&no_type, |c| {
            c.insert("sub".into(), json!("alice"));
        });
        assert!(!block_on(rfc.verify(&hs(&user))).unwrap().is_service_token());

        let gty = Verifier::builder([ISS])
            .issuer(
                Issuer::hmac(ISS, SECRET)
                    .service_tokens(ServiceTokenRule::claim_equals("gty", "client-credentials")),
            )
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        let cc = with(&user, |c| {
            c.insert("gty".into(), json!("client-credentials"));
        });
        assert!(block_on(gty.verify(&hs(&cc))).unwrap().is_service_token());
        assert!(!block_on(gty.verify(&hs(&user))).unwrap().is_service_token());
    }

    #[test]
    fn typ_checks_and_rfc9068_mode() {
        let key = SigningKey::hmac(Algorithm::HS256, SECRET);
        let v = permiso_verifier();
        for typ in ["JWT", "jwt", "at+jwt", "application/at+JWT"] {
            block_on(v.verify(&key.sign_with_header(&key.header(typ), &permiso_claims()))).unwrap();
        }
        for typ in ["id_token+jwt", "secevent+jwt", "logout+jwt", "JWE", ""] {
            let e = reject(&v, &key.sign_with_header(&key.header(typ), &permiso_claims()));
            assert_eq!(e.kind(), AuthErrorKind::InvalidTokenType, "{typ}");
        }
        let at = Verifier::builder([ISS])
            .issuer(Issuer::hmac(ISS, SECRET).require_at_jwt())
            .clock(ManualClock::at_unix(NOW))
            .build()
            .unwrap();
        block_on(at.verify(&key.sign_at_jwt(&permiso_claims()))).unwrap();
        let e = reject(&at, &key.sign(&permiso_claims()));
        assert_eq!(e.kind(), AuthErrorKind::InvalidTokenType);
        let no_typ = key.sign_with_header(&json!({"alg": "HS256"}), &permiso_claims());
        assert_eq!(reject(&at, &no_typ).kind(), AuthErrorKind::InvalidTokenType);
        for claim in ["sub", "client_id", "iat", "jti"] {
            let c = with(&permiso_claims(), |c| {
                c.remove(claim);
            });
            let e = reject(&at, &key.sign_at_jwt(&c));
            assert_eq!(e.kind(), AuthErrorKind::InvalidClaim, "{claim}");
            assert!(e.description().contains(claim));
        }
    }

    #[test]
    fn a_100_kb_token_is_rejected_unread() {
        let v = permiso_verifier();
        let big = with(&permiso_claims(), |c| {
            c.insert("pad".into(), json!("x".repeat(100 * 1024)));
        });
        let e = reject(&v, &hs(&big));
        assert_eq!(e.kind(), AuthErrorKind::TokenTooLarge);
        assert_eq!(e.status(), 401);
        // Not even base64: the size is all that is looked at.
        assert_eq!(reject(&v, &"\u{0}".repeat(100 * 1024)).kind(), AuthErrorKind::TokenTooLarge);
    }

    #[test]
    fn build_checks_the_whole_policy() {
        let ok = || Issuer::permiso(ISS, SECRET);
        let cases: Vec<(VerifierBuilder, ConfigErrorKind, &str)> = vec![
            (Verifier::builder(Vec::<String>::new()).issuer(ok()), ConfigErrorKind::Missing, "audience"),
            (Verifier::builder([""]).issuer(ok()), ConfigErrorKind::Invalid, "audience"),
            (Verifier::builder([ISS]), ConfigErrorKind::Missing, "issuer"),
            (Verifier::builder([ISS]).issuer(ok()).issuer(ok()), ConfigErrorKind::Conflict, "twice"),
            (Verifier::builder([ISS]).issuer(Issuer::permiso("", SECRET)), ConfigErrorKind::Invalid, "iss"),
            (Verifier::builder([ISS]).issuer(Issuer::permiso(ISS, "")), ConfigErrorKind::Key, "empty"),
            (Verifier::builder([ISS]).issuer(ok().algorithms([])), ConfigErrorKind::Missing, "algorithm"),
            (
                Verifier::builder([ISS]).issuer(ok().algorithms([Algorithm::RS256])),
                ConfigErrorKind::Conflict,
                "RS256",
            ),
            (
                Verifier::builder([ISS]).issuer(ok()).leeway(Duration::from_secs(601)),
                ConfigErrorKind::Invalid,
                "leeway",
            ),
            (
                Verifier::builder([ISS]).issuer(ok()).max_token_bytes(10),
                ConfigErrorKind::Invalid,
                "max_token_bytes",
            ),
        ];
        for (builder, kind, word) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            assert!(err.to_string().contains(word), "{err} should mention {word}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let v = permiso_verifier();
        let text = format!("{v:?} {:?}", Issuer::permiso(ISS, SECRET));
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains(ISS));
    }

    #[test]
    fn verifier_is_cheap_to_share() {
        fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync_clone::<Verifier>();
    }
}
