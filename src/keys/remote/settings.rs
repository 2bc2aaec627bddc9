//! [`RemoteKeys`]: where an issuer's keys are fetched from and how, checked once.

use std::fmt;
use std::time::Duration;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{HttpPolicy, check_url};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BODY: usize = 256 * 1024;
const DEFAULT_TTL: Duration = Duration::from_secs(600);
const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_STALE: Duration = Duration::from_secs(3600);
const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(5);
pub(super) const UNKNOWN_KID_MEMORY: u64 = 10_000;
/// How often discovery runs again, so a moved `jwks_uri` is followed.
pub(super) const REDISCOVER_EVERY: Duration = Duration::from_secs(24 * 3600);
/// The largest fetch timeout accepted.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest key-set lifetime, TTL bound and stale window accepted: a week.
pub(crate) const MAX_KEY_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest refetch cooldown and failure backoff accepted: a day.
pub(crate) const MAX_COOLDOWN: Duration = Duration::from_secs(24 * 3600);

/// Where and how to fetch an issuer's keys. Every setting has a sensible default; the
/// constructors only need the URL.
///
/// How the cache behaves (each a setting on [`RemoteKeys`]):
///
/// - Nothing is fetched at start-up; the first request (or [`Verifier::warm_up`](crate::Verifier::warm_up)) fetches.
///   Concurrent callers wait on that one fetch (single-flight), never longer than the fetch
///   timeout (default 5 s).
/// - A key set lives for the response's `Cache-Control: max-age`, clamped to
///   [60 s, 24 h] (default 10 min when absent). A background task refreshes it ahead of
///   expiry, with jitter, and stops when the last [`Verifier`](crate::Verifier) clone is dropped.
/// - A token whose `kid` is unknown triggers at most one refetch per cooldown (default 30 s);
///   kids still unknown after a refetch are remembered for the cooldown, so a flood of random
///   kids costs no fetches.
/// - A failed refresh keeps the last good keys for a stale window (default 1 h), logging a
///   warning and counting it in [`KeyStats`]. A response without a usable key never replaces a
///   good set.
/// - With no usable key because the key server cannot be reached, requests get 503 with
///   `Retry-After`; failed fetches are retried at most every 5 s.
/// - HTTPS only (plain HTTP only to loopback, or through
///   [`dangerous_allow_http`](Self::dangerous_allow_http)), redirects are not followed, bodies are capped
///   (256 KiB), and the discovered `issuer` must equal the configured one exactly.
///
/// ```
/// use std::time::Duration;
/// use permiso::keys::RemoteKeys;
/// use permiso::{Issuer, Verifier};
///
/// let keys = RemoteKeys::jwks_url("https://auth.example.com/.well-known/jwks.json")
///     .timeout(Duration::from_secs(2))
///     .stale_window(Duration::from_secs(30 * 60));
/// let verifier = Verifier::builder(["orders"])
///     .issuer(Issuer::remote("https://auth.example.com", keys))
///     .build()
///     .unwrap(); // nothing is fetched yet
/// assert!(!verifier.is_ready());
/// ```
#[derive(Clone)]
#[must_use]
pub struct RemoteKeys {
    pub(super) location: Location,
    pub(super) client: Option<reqwest::Client>,
    pub(super) timeout: Duration,
    pub(super) max_body_bytes: usize,
    pub(super) default_ttl: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) cooldown: Duration,
    pub(super) stale_window: Duration,
    pub(super) failure_backoff: Duration,
    pub(super) http: HttpPolicy,
}

/// Where an issuer's key set is published.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    /// A JWKS document at this URL.
    Jwks(String),
    /// Found through the discovery document of this issuer URL.
    Discovery(String),
}

impl RemoteKeys {
    /// Keys from a JWKS document at `url`.
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Self::new(Location::Jwks(url.into()))
    }

    /// Keys found by discovery from an issuer URL: OpenID Connect
    /// `{issuer}/.well-known/openid-configuration`, then RFC 8414
    /// `/.well-known/oauth-authorization-server`. The document's `issuer` must equal the
    /// verifier's configured `iss` exactly.
    pub fn discovery(issuer_url: impl Into<String>) -> Self {
        Self::new(Location::Discovery(issuer_url.into()))
    }

    fn new(location: Location) -> Self {
        Self {
            location,
            client: None,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY,
            default_ttl: DEFAULT_TTL,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            cooldown: DEFAULT_COOLDOWN,
            stale_window: DEFAULT_STALE,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            http: HttpPolicy::HttpsOrLoopback,
        }
    }

    /// Uses your own `reqwest::Client` (proxy, roots, user agent) for every fetch. permiso
    /// still applies its timeout and body cap, and refuses a response that was redirected.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The most one refresh (discovery and JWKS together) may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body read (default 256 KiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How long a key set lives when the response has no `max-age` (default 10 min).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The bounds a `max-age` is clamped to (default 60 s to 24 h).
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max;
        self
    }

    /// At most one refetch per this interval for unknown `kid`s (default 30 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past expiry the last good keys keep being used while refreshes fail
    /// (default 1 h).
    pub fn stale_window(mut self, window: Duration) -> Self {
        self.stale_window = window;
        self
    }

    /// How long after a failed fetch the next may start (default 5 s); also the
    /// `Retry-After` of a 503 while no key is available.
    pub fn failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// Allows plain `http://` URLs to hosts other than loopback. Keys fetched over plain HTTP
    /// can be replaced by anyone on the path: for development networks only.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.http = HttpPolicy::AllowHttp;
        self
    }

    pub(super) fn validate(&self, iss: &str) -> Result<(), ConfigError> {
        let (what, url) = match &self.location {
            Location::Jwks(u) => ("jwks_url", u),
            Location::Discovery(u) => ("discovery_url", u),
        };
        check_url(url, self.http).map_err(|why| {
            ConfigError::new(ConfigErrorKind::Invalid, format!("issuer {iss:?}: {what} {why}"))
        })?;
        let bad =
            |why: &str| Err(ConfigError::new(ConfigErrorKind::Invalid, format!("issuer {iss:?}: {why}")));
        if self.timeout.is_zero() {
            return bad("the fetch timeout must be positive");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes must be at least 1024");
        }
        if self.min_ttl.is_zero() || self.min_ttl > self.max_ttl {
            return bad("the TTL bounds must satisfy 0 < min <= max");
        }
        if self.failure_backoff.is_zero() {
            return bad("the failure backoff must be positive");
        }
        // Upper bounds keep every later sum of instants finite (and moka's TTL below its own
        // limit); nothing sensible needs more.
        for (what, value, max) in [
            ("the fetch timeout", self.timeout, MAX_TIMEOUT),
            ("the default TTL", self.default_ttl, MAX_KEY_LIFETIME),
            ("the TTL bounds", self.max_ttl, MAX_KEY_LIFETIME),
            ("the refetch cooldown", self.cooldown, MAX_COOLDOWN),
            ("the stale window", self.stale_window, MAX_KEY_LIFETIME),
            ("the failure backoff", self.failure_backoff, MAX_COOLDOWN),
        ] {
            if value > max {
                return bad(&format!("{what} must be at most {} seconds", max.as_secs()));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RemoteKeys {
    /// Shows what differs from the defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RemoteKeys");
        d.field("location", &self.location);
        if self.client.is_some() {
            d.field("http_client", &"custom");
        }
        if self.timeout != DEFAULT_TIMEOUT {
            d.field("timeout", &self.timeout);
        }
        if self.stale_window != DEFAULT_STALE {
            d.field("stale_window", &self.stale_window);
        }
        if self.cooldown != DEFAULT_COOLDOWN {
            d.field("refetch_cooldown", &self.cooldown);
        }
        if self.http == HttpPolicy::AllowHttp {
            d.field("dangerous_allow_http", &true);
        }
        d.finish_non_exhaustive()
    }
}

/// Why keys could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFetchError {
    /// The key server could not be reached, or did not answer within the timeout.
    Unreachable,
    /// The key server answered with this status (redirects included: they are not followed).
    Status(u16),
    /// The response was redirected by a custom HTTP client; it is not trusted.
    Redirected,
    /// The body was larger than the cap.
    TooLarge,
    /// The body was not a JWKS (or discovery) document.
    Malformed,
    /// The JWKS held no usable key.
    NoUsableKey,
    /// The discovery document names another issuer, or no `jwks_uri`, or an insecure one.
    Discovery(&'static str),
}

impl fmt::Display for KeyFetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("the key server could not be reached in time"),
            Self::Status(s) => write!(f, "the key server answered HTTP {s}"),
            Self::Redirected => f.write_str("the key server redirected; redirects are not followed"),
            Self::TooLarge => f.write_str("the key server's response is larger than allowed"),
            Self::Malformed => f.write_str("the key server's response is not a JWKS document"),
            Self::NoUsableKey => f.write_str("the key server's JWKS holds no usable key"),
            Self::Discovery(why) => write!(f, "discovery failed: {why}"),
        }
    }
}

impl std::error::Error for KeyFetchError {}

/// Counters of one issuer's remote key cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// HTTP fetch attempts (discovery and JWKS count as one refresh).
    pub refreshes: u64,
    /// Refreshes that failed.
    pub failures: u64,
    /// Requests served with keys past their lifetime (inside the stale window).
    pub stale_uses: u64,
    /// Whether usable keys are held (fresh or within the stale window).
    pub ready: bool,
}

/// Why no key could be handed out: no usable key set is held (none yet, or past its stale
/// window) and fetching failed. The verifier answers it 503 with `Retry-After`.
#[derive(Clone, Debug)]
pub(crate) struct KeyError {
    /// When a fetch may be tried again.
    pub(crate) retry_after_secs: u64,
    /// What the last fetch ran into.
    pub(crate) cause: KeyFetchError,
}
