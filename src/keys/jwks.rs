//! Keys fetched over HTTP from a JWKS URL or found by discovery, cached, refreshed, and kept
//! through rotations and outages.
//!
//! How the cache behaves (each a setting on [`RemoteKeys`]):
//!
//! - Nothing is fetched at start-up; the first request (or [`Verifier::warm_up`]) fetches.
//!   Concurrent callers wait on that one fetch (single-flight), never longer than the fetch
//!   timeout (default 5 s).
//! - A key set lives for the response's `Cache-Control: max-age`, clamped to
//!   [60 s, 24 h] (default 10 min when absent). A background task refreshes it ahead of
//!   expiry, with jitter, and stops when the last [`Verifier`] clone is dropped.
//! - A token whose `kid` is unknown triggers at most one refetch per cooldown (default 30 s);
//!   kids still unknown after a refetch are remembered for the cooldown, so a flood of random
//!   kids costs no fetches.
//! - A failed refresh keeps the last good keys for a stale window (default 1 h), logging a
//!   warning and counting it in [`KeyStats`]. A response without a usable key never replaces a
//!   good set.
//! - With no usable key because the key server cannot be reached, requests get 503 with
//!   `Retry-After`; failed fetches are retried at most every 5 s.
//! - HTTPS only (plain HTTP only to loopback, or through
//!   [`RemoteKeys::dangerous_allow_http`]), redirects are not followed, bodies are capped
//!   (256 KiB), and the discovered `issuer` must equal the configured one exactly.
//!
//! [`Verifier`]: crate::Verifier
//! [`Verifier::warm_up`]: crate::Verifier::warm_up

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CACHE_CONTROL, HeaderMap};

use super::KeySet;
use crate::clock::Clock;
use crate::error::{AuthError, ConfigError, ConfigErrorKind};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BODY: usize = 256 * 1024;
const DEFAULT_TTL: Duration = Duration::from_secs(600);
const DEFAULT_MIN_TTL: Duration = Duration::from_secs(60);
const DEFAULT_MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
const DEFAULT_STALE: Duration = Duration::from_secs(3600);
const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(5);
const UNKNOWN_KID_MEMORY: u64 = 10_000;
/// How often discovery runs again, so a moved `jwks_uri` is followed.
const REDISCOVER_EVERY: Duration = Duration::from_secs(24 * 3600);
/// The largest fetch timeout accepted.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest key-set lifetime, TTL bound and stale window accepted: a week.
pub(crate) const MAX_KEY_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest refetch cooldown and failure backoff accepted: a day.
pub(crate) const MAX_COOLDOWN: Duration = Duration::from_secs(24 * 3600);

/// Where and how to fetch an issuer's keys. Every setting has a sensible default; the
/// constructors only need the URL.
///
/// ```
/// use std::time::Duration;
/// use permiso::{Issuer, RemoteKeys, Verifier};
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
    source: Source,
    client: Option<reqwest::Client>,
    timeout: Duration,
    max_body_bytes: usize,
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    cooldown: Duration,
    stale_window: Duration,
    failure_backoff: Duration,
    allow_http: bool,
}

#[derive(Clone, Debug)]
enum Source {
    Jwks(String),
    Discovery(String),
}

impl RemoteKeys {
    /// Keys from a JWKS document at `url`.
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Self::new(Source::Jwks(url.into()))
    }

    /// Keys found by discovery from an issuer URL: OpenID Connect
    /// `{issuer}/.well-known/openid-configuration`, then RFC 8414
    /// `/.well-known/oauth-authorization-server`. The document's `issuer` must equal the
    /// verifier's configured `iss` exactly.
    pub fn discovery(issuer_url: impl Into<String>) -> Self {
        Self::new(Source::Discovery(issuer_url.into()))
    }

    fn new(source: Source) -> Self {
        Self {
            source,
            client: None,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY,
            default_ttl: DEFAULT_TTL,
            min_ttl: DEFAULT_MIN_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            cooldown: DEFAULT_COOLDOWN,
            stale_window: DEFAULT_STALE,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            allow_http: false,
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
        self.allow_http = true;
        self
    }

    /// Checks the settings; called by the verifier's `build()`.
    pub(crate) fn validate(&self, iss: &str) -> Result<(), ConfigError> {
        let (what, url) = match &self.source {
            Source::Jwks(u) => ("jwks_url", u),
            Source::Discovery(u) => ("discovery_url", u),
        };
        check_url(url, self.allow_http).map_err(|why| {
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
        d.field("source", &self.source);
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
        if self.allow_http {
            d.field("dangerous_allow_http", &true);
        }
        d.finish_non_exhaustive()
    }
}

/// Whether `url` may be fetched: HTTPS, or HTTP to a loopback host, or HTTP when allowed.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "is not a valid URL")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain credentials");
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http || is_loopback(&parsed) => Ok(parsed),
        "http" => Err("must use https (plain http only to loopback, or with dangerous_allow_http)"),
        _ => Err("must be an https URL"),
    }
}

/// Whether a URL named by a discovery document may be fetched. It must be HTTPS unless the
/// discovery URL itself was plain HTTP (loopback, or allowed): an HTTPS issuer's document
/// cannot send us to plain HTTP, not even on loopback.
pub(crate) fn discovered_url(discovery: &Url, url: &str, allow_http: bool) -> Result<Url, &'static str> {
    let parsed = check_url(url, allow_http)?;
    if parsed.scheme() == "http" && discovery.scheme() == "https" && !allow_http {
        return Err("must use https, as the discovery document did");
    }
    Ok(parsed)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
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

struct State {
    keys: Option<Arc<KeySet>>,
    fresh_until: u64,
    stale_until: u64,
    /// Incremented by every fetch attempt; callers that waited for a fetch see it changed.
    attempts: u64,
    last_attempt: Option<u64>,
    last_attempt_failed: bool,
    last_kid_refetch: Option<u64>,
    last_error: Option<KeyFetchError>,
    jwks_uri: Option<Url>,
    /// When discovery last ran (discovery sources only).
    discovered_at: u64,
}

/// The live cache of one issuer's remote keys.
pub(crate) struct Remote {
    iss: String,
    cfg: RemoteKeys,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    fetch_lock: tokio::sync::Mutex<()>,
    unknown_kids: moka::sync::Cache<String, ()>,
    refreshes: AtomicU64,
    failures: AtomicU64,
    stale_uses: AtomicU64,
    refresher_started: AtomicBool,
    background_refresh: AtomicBool,
    refresher: Mutex<Option<tokio::task::AbortHandle>>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeySource").field("config", &self.cfg).field("stats", &self.stats()).finish()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(handle) = self.refresher.lock().ok().and_then(|mut slot| slot.take()) {
            handle.abort();
        }
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

impl Remote {
    pub(crate) fn new(iss: &str, cfg: RemoteKeys, clock: Arc<dyn Clock>) -> Result<Arc<Self>, ConfigError> {
        cfg.validate(iss)?;
        let client = match &cfg.client {
            Some(c) => c.clone(),
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(cfg.timeout)
                .user_agent(concat!("permiso/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|_| {
                    ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built")
                })?,
        };
        let jwks_uri = match &cfg.source {
            Source::Jwks(u) => check_url(u, cfg.allow_http).ok(),
            Source::Discovery(_) => None,
        };
        Ok(Arc::new(Self {
            iss: iss.to_owned(),
            unknown_kids: moka::sync::Cache::builder()
                .max_capacity(UNKNOWN_KID_MEMORY)
                .time_to_live(cfg.cooldown.max(Duration::from_secs(1)))
                .build(),
            cfg,
            client,
            clock,
            state: RwLock::new(State {
                keys: None,
                fresh_until: 0,
                stale_until: 0,
                attempts: 0,
                last_attempt: None,
                last_attempt_failed: false,
                last_kid_refetch: None,
                last_error: None,
                jwks_uri,
                discovered_at: 0,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            refreshes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            stale_uses: AtomicU64::new(0),
            refresher_started: AtomicBool::new(false),
            background_refresh: AtomicBool::new(false),
            refresher: Mutex::new(None),
        }))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> KeyStats {
        KeyStats {
            refreshes: self.refreshes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            stale_uses: self.stale_uses.load(Ordering::Relaxed),
            ready: self.is_ready(),
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        let now = self.clock.now_unix();
        let s = self.read();
        s.keys.is_some() && now < s.stale_until
    }

    /// Seconds until a fetch may start again after a failed one; 0 when it may start now.
    fn backoff_left(&self, s: &State, now: u64) -> u64 {
        match (s.last_attempt_failed, s.last_attempt) {
            (true, Some(at)) => at.saturating_add(secs(self.cfg.failure_backoff)).saturating_sub(now),
            _ => 0,
        }
    }

    /// Whether `key` is in the usable (fresh or stale) key set, without waiting for a fetch.
    /// Past the set's lifetime this counts a stale use and starts a background refresh, as a
    /// full verification would.
    pub(crate) fn holds(self: &Arc<Self>, key: &super::Key) -> bool {
        let now = self.clock.now_unix();
        let (held, stale, seen, backoff_over) = {
            let s = self.read();
            let held = now < s.stale_until && s.keys.as_ref().is_some_and(|set| set.holds(key));
            (held, now >= s.fresh_until, s.attempts, self.backoff_left(&s, now) == 0)
        };
        if held && stale {
            self.stale_uses.fetch_add(1, Ordering::Relaxed);
            if backoff_over {
                self.refresh_in_background(seen);
            }
        }
        held
    }

    /// The keys to verify a token with `kid`: fetched if there are none, refetched (at most
    /// once per cooldown) if the kid is unknown, stale ones while refreshes fail.
    pub(crate) async fn keys_for(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        let now = self.clock.now_unix();
        let (keys, seen, fresh, usable, kid_refetch_allowed, backoff_left) = {
            let s = self.read();
            let backoff_left = self.backoff_left(&s, now);
            let kid_ok =
                s.last_kid_refetch.is_none_or(|at| now >= at.saturating_add(secs(self.cfg.cooldown)));
            (s.keys.clone(), s.attempts, now < s.fresh_until, now < s.stale_until, kid_ok, backoff_left)
        };

        match keys {
            Some(keys) if usable => {
                self.start_refresher();
                if !fresh {
                    self.stale_uses.fetch_add(1, Ordering::Relaxed);
                    if backoff_left == 0 {
                        self.refresh_in_background(seen);
                    }
                }
                let Some(kid) = kid else { return Ok(keys) };
                if keys.has_kid(kid)
                    || self.unknown_kids.contains_key(kid)
                    || !kid_refetch_allowed
                    || backoff_left > 0
                {
                    return Ok(keys);
                }
                // A kid we have never seen: perhaps the issuer rotated. One refetch per
                // cooldown, shared by everyone asking now. A refetch that fails does not use
                // up the cooldown: the failure backoff spaces the next attempt instead, so a
                // rotation during an outage is picked up soon after the key server is back.
                let _ = self.refresh(seen, true).await;
                // The refetch may have taken a while: the keys must still be within their
                // window now, whatever the refetch's outcome.
                let keys = self.usable_now()?;
                let fetched = !self.read().last_attempt_failed;
                // Remembered only when a successful fetch confirmed the kid is not there.
                if fetched && !keys.has_kid(kid) {
                    self.unknown_kids.insert(kid.to_owned(), ());
                }
                Ok(keys)
            }
            _ => {
                if backoff_left > 0 {
                    let mut err = AuthError::keys_unavailable(backoff_left);
                    if let Some(last) = self.read().last_error.clone() {
                        err = err.with_source(last);
                    }
                    return Err(err);
                }
                self.refresh(seen, false).await?;
                self.start_refresher();
                self.usable_now()
            }
        }
    }

    /// One fetch at a time. A caller that waited while another fetched takes that result
    /// instead of fetching again.
    pub(crate) async fn refresh(&self, seen_attempts: u64, for_kid: bool) -> Result<(), AuthError> {
        let _guard = self.fetch_lock.lock().await;
        {
            let s = self.read();
            if s.attempts != seen_attempts {
                drop(s);
                // Someone else fetched while we waited: their outcome is ours, but only keys
                // still inside their window count, never merely "some keys are held".
                return self.usable_now().map(|_| ());
            }
        }
        let now = self.clock.now_unix();
        let previous_kid_refetch = self.read().last_kid_refetch;
        if for_kid {
            self.write().last_kid_refetch = Some(now);
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let (jwks_uri, rediscover) = {
            let s = self.read();
            let due = matches!(self.cfg.source, Source::Discovery(_))
                && now >= s.discovered_at.saturating_add(REDISCOVER_EVERY.as_secs());
            (s.jwks_uri.clone(), due)
        };
        let result = tokio::time::timeout(self.cfg.timeout, self.fetch(jwks_uri, rediscover))
            .await
            .unwrap_or(Err(KeyFetchError::Unreachable));
        let now = self.clock.now_unix();
        let mut s = self.write();
        s.attempts += 1;
        s.last_attempt = Some(now);
        if rediscover {
            s.discovered_at = now;
        }
        match result {
            Ok((uri, set, ttl)) => {
                s.jwks_uri = Some(uri);
                let set = match &s.keys {
                    Some(previous) => set.reusing(previous),
                    None => set,
                };
                s.keys = Some(Arc::new(set));
                s.fresh_until = now.saturating_add(ttl);
                s.stale_until = s.fresh_until.saturating_add(self.cfg.stale_window.as_secs());
                s.last_attempt_failed = false;
                s.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                s.last_attempt_failed = true;
                s.last_kid_refetch = previous_kid_refetch;
                let have_keys = s.keys.is_some() && now < s.stale_until;
                crate::log::warn!(
                    issuer = %self.iss,
                    error = %e,
                    keeping_previous_keys = have_keys,
                    "refreshing the issuer's keys failed"
                );
                s.last_error = Some(e.clone());
                if have_keys { Ok(()) } else { Err(self.unavailable(&e)) }
            }
        }
    }

    /// The held keys, if they are inside their stale window by the clock's now; otherwise the
    /// 503 saying why. Every path that hands out keys ends here, so keys past the window never
    /// verify, however a fetch went.
    fn usable_now(&self) -> Result<Arc<KeySet>, AuthError> {
        let now = self.clock.now_unix();
        let s = self.read();
        match &s.keys {
            Some(keys) if now < s.stale_until => Ok(Arc::clone(keys)),
            _ => Err(self.unavailable(s.last_error.as_ref().unwrap_or(&KeyFetchError::Unreachable))),
        }
    }

    fn unavailable(&self, e: &KeyFetchError) -> AuthError {
        AuthError::keys_unavailable(secs(self.cfg.failure_backoff)).with_source(e.clone())
    }

    /// Starts one refresh without waiting for it; while it runs, further calls do nothing.
    fn refresh_in_background(self: &Arc<Self>, seen: u64) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.background_refresh.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        rt.spawn(async move {
            let _ = this.refresh(seen, false).await;
            this.background_refresh.store(false, Ordering::Release);
        });
    }

    /// Starts the task that refreshes ahead of expiry, once keys are held, if a runtime is
    /// there. It holds only a weak reference and is aborted when the source is dropped.
    fn start_refresher(self: &Arc<Self>) {
        if self.refresher_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.refresher_started.store(false, Ordering::Release);
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        let handle = rt.spawn(async move {
            loop {
                let Some(wait) = weak.upgrade().map(|this| this.next_refresh_in()) else {
                    return;
                };
                tokio::time::sleep(wait).await;
                let Some(this) = weak.upgrade() else { return };
                let seen = this.read().attempts;
                let _ = this.refresh(seen, false).await;
            }
        });
        if let Ok(mut slot) = self.refresher.lock() {
            *slot = Some(handle.abort_handle());
        }
    }

    /// When the background task should refresh next: at 80–90 % of the key set's life, or
    /// after the failure backoff when the last attempt failed.
    fn next_refresh_in(&self) -> Duration {
        let now = self.clock.now_unix();
        let s = self.read();
        if s.keys.is_none() || s.last_attempt_failed {
            let base = self.cfg.failure_backoff.max(Duration::from_secs(1));
            return base + jitter(base / 2);
        }
        let left = s.fresh_until.saturating_sub(now);
        let ahead = Duration::from_secs(left) / 10 + jitter(Duration::from_secs(left) / 10);
        Duration::from_secs(left).saturating_sub(ahead).max(Duration::from_secs(1))
    }

    /// Discovery (when configured and not done yet, or due again), then the JWKS. A
    /// rediscovery that fails keeps the `jwks_uri` found before.
    async fn fetch(&self, known: Option<Url>, rediscover: bool) -> Result<(Url, KeySet, u64), KeyFetchError> {
        let uri = match (known, rediscover) {
            (Some(u), false) => u,
            (known, _) => match (self.discover().await, known) {
                (Ok(u), _) => u,
                (Err(e), Some(u)) => {
                    crate::log::warn!(issuer = %self.iss, error = %e, "rediscovery failed; keeping the known jwks_uri");
                    u
                }
                (Err(e), None) => return Err(e),
            },
        };
        let (body, headers) = self.get(uri.clone()).await?;
        let set = super::jwk::parse_set(&body).map_err(|_| KeyFetchError::Malformed)?;
        if set.is_empty() {
            return Err(KeyFetchError::NoUsableKey);
        }
        Ok((uri, set, self.ttl(&headers)))
    }

    async fn discover(&self) -> Result<Url, KeyFetchError> {
        let Source::Discovery(base) = &self.cfg.source else {
            return Err(KeyFetchError::Discovery("no JWKS URL"));
        };
        let base = Url::parse(base).map_err(|_| KeyFetchError::Discovery("invalid issuer URL"))?;
        let mut last = KeyFetchError::Discovery("no discovery document");
        for url in discovery_urls(&base) {
            match self.get(url).await {
                Ok((body, _)) => {
                    #[derive(serde::Deserialize)]
                    struct Doc {
                        issuer: Option<String>,
                        jwks_uri: Option<String>,
                    }
                    let doc: Doc = serde_json::from_slice(&body).map_err(|_| KeyFetchError::Malformed)?;
                    if doc.issuer.as_deref() != Some(self.iss.as_str()) {
                        crate::log::warn!(issuer = %self.iss, "discovery document names another issuer");
                        return Err(KeyFetchError::Discovery("the document's issuer does not match"));
                    }
                    let uri = doc.jwks_uri.ok_or(KeyFetchError::Discovery("the document has no jwks_uri"))?;
                    return discovered_url(&base, &uri, self.cfg.allow_http)
                        .map_err(|_| KeyFetchError::Discovery("the jwks_uri is not an acceptable URL"));
                }
                Err(KeyFetchError::Status(404)) => last = KeyFetchError::Status(404),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// One GET, with the body capped and redirects refused.
    async fn get(&self, url: Url) -> Result<(Vec<u8>, HeaderMap), KeyFetchError> {
        let mut res = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.cfg.timeout)
            .send()
            .await
            .map_err(|_| KeyFetchError::Unreachable)?;
        if res.url() != &url {
            return Err(KeyFetchError::Redirected);
        }
        if !res.status().is_success() {
            return Err(KeyFetchError::Status(res.status().as_u16()));
        }
        let cap = self.cfg.max_body_bytes;
        if res.content_length().is_some_and(|len| len > cap as u64) {
            return Err(KeyFetchError::TooLarge);
        }
        let headers = res.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|_| KeyFetchError::Unreachable)? {
            if body.len() + chunk.len() > cap {
                return Err(KeyFetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, headers))
    }

    /// The key set's lifetime in seconds, from `Cache-Control`.
    fn ttl(&self, headers: &HeaderMap) -> u64 {
        let mut ttl = None;
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',').map(str::trim) {
                if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache") {
                    ttl = Some(0);
                } else if let Some(v) = directive
                    .split_once('=')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("max-age"))
                    .and_then(|(_, v)| v.trim().trim_matches('"').parse::<u64>().ok())
                {
                    ttl = Some(ttl.map_or(v, |t: u64| t.min(v)));
                }
            }
        }
        let ttl = ttl.unwrap_or(self.cfg.default_ttl.as_secs());
        ttl.clamp(secs(self.cfg.min_ttl), secs(self.cfg.max_ttl))
    }
}

/// OpenID Connect first, then RFC 8414 (the well-known segment goes before the issuer's path).
pub(crate) fn discovery_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    for u in [&mut oidc, &mut oauth] {
        u.set_query(None);
        u.set_fragment(None);
    }
    vec![oidc, oauth]
}

/// A random duration in [0, max), from the system's random source.
pub(crate) fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() || max.is_zero() {
        return Duration::ZERO;
    }
    let millis = max.as_millis().max(1) as u64;
    Duration::from_millis(u64::from_le_bytes(b) % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("https://auth.example.com/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://127.5.0.1/jwks", false).is_ok());
        assert!(check_url("http://[::1]:80/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://auth.example.com/jwks", false).is_err());
        assert!(check_url("http://10.0.0.1/jwks", false).is_err());
        assert!(check_url("http://auth.example.com/jwks", true).is_ok());
        assert!(check_url("ftp://auth.example.com/jwks", true).is_err());
        assert!(check_url("file:///etc/passwd", true).is_err());
        assert!(check_url("https://user:pw@auth.example.com/jwks", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }

    #[test]
    fn an_https_discovery_never_leads_to_plain_http() {
        let https = Url::parse("https://auth.example.com").unwrap();
        let http = Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(discovered_url(&https, "https://keys.example.com/jwks", false).is_ok());
        assert!(discovered_url(&https, "http://127.0.0.1:9/jwks", false).is_err());
        assert!(discovered_url(&https, "http://localhost/jwks", false).is_err());
        assert!(discovered_url(&https, "http://keys.example.com/jwks", true).is_ok());
        assert!(discovered_url(&http, "http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(discovered_url(&http, "https://keys.example.com/jwks", false).is_ok());
        // A loopback-HTTP discovery does not open plain HTTP to other hosts.
        assert!(discovered_url(&http, "http://keys.example.com/jwks", false).is_err());
    }

    #[test]
    fn discovery_urls_follow_oidc_then_rfc8414() {
        let urls = discovery_urls(&Url::parse("https://a.example/tenant/x/").unwrap());
        assert_eq!(urls[0].as_str(), "https://a.example/tenant/x/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://a.example/.well-known/oauth-authorization-server/tenant/x");
        let urls = discovery_urls(&Url::parse("https://a.example").unwrap());
        assert_eq!(urls[0].as_str(), "https://a.example/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://a.example/.well-known/oauth-authorization-server");
    }

    #[test]
    fn ttl_from_cache_control_is_clamped() {
        let remote =
            Remote::new("i", RemoteKeys::jwks_url("https://a.example/jwks"), Arc::new(crate::SystemClock))
                .unwrap();
        let ttl = |v: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = v {
                h.insert(CACHE_CONTROL, v.parse().unwrap());
            }
            remote.ttl(&h)
        };
        assert_eq!(ttl(None), 600);
        assert_eq!(ttl(Some("public, max-age=300")), 300);
        assert_eq!(ttl(Some("max-age=5")), 60);
        assert_eq!(ttl(Some("max-age=99999999")), 86_400);
        assert_eq!(ttl(Some("no-store")), 60);
        assert_eq!(ttl(Some("max-age=garbage")), 600);
        assert_eq!(ttl(Some("MAX-AGE = 120")), 120);
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
