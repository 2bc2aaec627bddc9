//! [`VerifierBuilder`]: every setting of a [`Verifier`], checked as a whole at `build()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Inner, Verifier};
use super::issuer::{Issuer, IssuerPolicy};
use crate::algorithm::Algorithm;
use crate::cache::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::introspection::Introspector;
use crate::keys::{Key, KeySource};
use crate::revocation::{Checker, Revocation};
use crate::scope::ScopeRules;

impl Verifier {
    /// Starts a verifier for tokens meant for one of `audiences` (the `aud` claim must name
    /// at least one).
    pub fn builder<I, S>(audiences: I) -> VerifierBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        VerifierBuilder::new(audiences.into_iter().map(Into::into).collect())
    }
}

/// The default clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default largest token accepted, in bytes; larger ones are refused unread.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The shortest HMAC secret accepted without an explicit opt-in (RFC 7518 §3.2: at least the
/// hash size, 256 bits for HS256).
const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Configures a [`Verifier`]; every setting is checked at [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use permiso::{ConfigErrorKind, Issuer, Verifier};
///
/// let secret = "a-shared-secret-of-at-least-32-bytes!!";
/// let verifier = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", secret))
///     .leeway(Duration::from_secs(30))
///     .build()
///     .unwrap();
/// # let _ = verifier;
///
/// // The whole policy is checked at build(): here, an issuer configured twice.
/// let err = Verifier::builder(["keystone-auth"])
///     .issuer(Issuer::permiso("keystone-auth", secret))
///     .issuer(Issuer::permiso("keystone-auth", secret))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::Conflict);
/// ```
#[must_use]
pub struct VerifierBuilder {
    audiences: Vec<String>,
    issuers: Vec<Issuer>,
    leeway: Duration,
    max_token_bytes: usize,
    scope_rules: ScopeRules,
    trusted_clients: Vec<String>,
    clock: Arc<dyn Clock>,
    cache: Option<TokenCacheLimits>,
    revocation: Option<Revocation>,
    dpop: crate::dpop::Dpop,
}

/// The bounds of the verified-token cache.
///
/// ```
/// use permiso::{Issuer, TokenCacheLimits, Verifier};
///
/// let verifier = Verifier::builder(["orders"])
///     .issuer(Issuer::permiso("keystone-auth", "a-shared-secret-of-at-least-32-bytes!!"))
///     .token_cache(TokenCacheLimits { max_entries: 1_000, ..TokenCacheLimits::default() })
///     .build()
///     .unwrap();
/// # let _ = verifier;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCacheLimits {
    /// At most this many tokens (default 10,000).
    pub max_entries: usize,
    /// At most about this many bytes, counted as the entries really hold them (default
    /// 16 MiB).
    pub max_bytes: usize,
}

impl Default for TokenCacheLimits {
    fn default() -> Self {
        Self { max_entries: DEFAULT_MAX_ENTRIES, max_bytes: DEFAULT_MAX_BYTES }
    }
}

impl VerifierBuilder {
    pub(super) fn new(audiences: Vec<String>) -> Self {
        Self {
            audiences,
            issuers: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            scope_rules: ScopeRules::permiso(),
            trusted_clients: Vec::new(),
            clock: Arc::new(SystemClock),
            cache: Some(TokenCacheLimits::default()),
            revocation: None,
            dpop: crate::dpop::Dpop::default(),
        }
    }

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
    pub fn token_cache(mut self, limits: TokenCacheLimits) -> Self {
        self.cache = Some(limits);
        self
    }

    /// How DPoP-bound tokens and their proofs are checked (RFC 9449; see
    /// [`permiso::dpop`](crate::dpop)). Default: [`DpopMode::Off`](crate::dpop::DpopMode);
    /// turned on, it needs the service's public base URL
    /// ([`Dpop::public_base_url`](crate::dpop::Dpop::public_base_url)).
    pub fn dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        self.dpop = dpop;
        self
    }

    /// Checks every verified token against a revocation list (see [`Revocation`]): on every
    /// request, verified-token cache hits included.
    pub fn revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = Some(revocation);
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
        crate::metrics::Timer::calibrate();
        if !self.trusted_clients.is_empty() && self.issuers.len() > 1 {
            return Err(ConfigError::new(
                Conflict,
                "trusted_clients at the top level is for a single issuer; with several, set each issuer's own trusted_clients",
            ));
        }
        let mut issuers = Vec::with_capacity(self.issuers.len());
        let mut top_level_trusted = self.trusted_clients;
        for issuer in self.issuers {
            let iss = issuer.rules.iss.clone();
            if iss.is_empty() {
                return Err(ConfigError::new(Invalid, "an issuer's iss is empty"));
            }
            if issuers.iter().any(|i: &IssuerPolicy| i.rules.iss == iss) {
                return Err(ConfigError::new(Conflict, format!("issuer {iss:?} is configured twice")));
            }
            let keys = match issuer.keys {
                Ok(KeySource::Static(set)) => KeySource::Static(set),
                Ok(KeySource::Remote(cfg)) => KeySource::Remote(cfg.start(&iss, Arc::clone(&self.clock))?),
                Err(e) => return Err(ConfigError::new(e.kind(), format!("issuer {iss:?}: {e}"))),
            };
            let introspection =
                issuer.introspection.map(|i| Introspector::new(i, &iss).map(Arc::new)).transpose()?;
            if !issuer.local {
                let mut rules = issuer.rules;
                rules.trusted_clients.extend(top_level_trusted.drain(..));
                let label = rules.iss.as_str().into();
                issuers.push(IssuerPolicy {
                    label,
                    rules,
                    keys,
                    algorithms: Vec::new(),
                    local: false,
                    introspection,
                });
                continue;
            }
            if !issuer.allow_short_secret
                && let Some(set) = keys.known_keys()
                && set.iter().any(|k| k.hmac_secret_len().is_some_and(|len| len < MIN_HMAC_SECRET_BYTES))
            {
                return Err(ConfigError::new(
                    ConfigErrorKind::Key,
                    format!(
                        "issuer {iss:?}: the HMAC secret is shorter than {MIN_HMAC_SECRET_BYTES} bytes (RFC 7518 section 3.2); \
                         use a longer secret, or accept it (unsafe) with PERMISO_ALLOW_SHORT_SECRET=true \
                         in the environment, allow_short_secret = true in the TOML file, or \
                         Issuer::dangerous_allow_short_secret() in code"
                    ),
                ));
            }
            let algorithms = settle_algorithms(&iss, &keys, issuer.algorithms)?;
            let mut rules = issuer.rules;
            rules.trusted_clients.extend(top_level_trusted.drain(..));
            let label = rules.iss.as_str().into();
            issuers.push(IssuerPolicy { label, rules, keys, algorithms, local: true, introspection });
        }
        let dpop = self.dpop.build(self.leeway.as_secs(), Arc::clone(&self.clock))?.map(Arc::new);
        if let Some(r) = &self.revocation {
            r.validate()?;
        }
        let scope_rules = (!self.scope_rules.is_empty()).then(|| Arc::new(self.scope_rules));
        let introspecting = issuers.iter().any(|i| i.introspection.is_some());
        Ok(Verifier {
            inner: Arc::new(Inner {
                introspecting,
                issuers,
                audiences: self.audiences,
                leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(600),
                max_token_bytes: self.max_token_bytes,
                scope_rules,
                clock: self.clock,
                cache: self
                    .cache
                    .filter(|l| l.max_entries > 0 && l.max_bytes > 0)
                    .map(|l| TokenCache::new(l.max_entries, l.max_bytes)),
                revocation: self.revocation.map(|r| Checker::new(r, self.leeway.as_secs())),
                dpop,
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
            .field("dpop", &self.dpop)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish_non_exhaustive()
    }
}
