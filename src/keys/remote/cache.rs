//! The live cache of one issuer's remote keys: what is held, when it was fetched, when it may
//! be fetched again. Its behaviour is described on [`RemoteKeys`](super::RemoteKeys).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CACHE_CONTROL, HeaderMap};

use super::settings::{
    KeyError, KeyFetchError, KeyStats, Location, REDISCOVER_EVERY, RemoteKeys, UNKNOWN_KID_MEMORY,
};
use crate::clock::Clock;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{self, FetchError, SingleFlight, check_url, discovered_url, jitter};
use crate::keys::jwk;
use crate::keys::key::{Key, KeySet};

/// Why a refresh runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refresh {
    /// The set's lifetime is ending, or there is none yet.
    Scheduled,
    /// A token named a `kid` the set does not hold: perhaps the issuer rotated.
    UnknownKid,
}

fn fetch_error(e: FetchError) -> KeyFetchError {
    match e {
        FetchError::Unreachable => KeyFetchError::Unreachable,
        FetchError::Status(s) => KeyFetchError::Status(s),
        FetchError::Redirected => KeyFetchError::Redirected,
        FetchError::TooLarge => KeyFetchError::TooLarge,
        FetchError::Malformed => KeyFetchError::Malformed,
        FetchError::IssuerMismatch => KeyFetchError::Discovery("the document's issuer does not match"),
    }
}

struct State {
    keys: Option<Arc<KeySet>>,
    fresh_until: u64,
    stale_until: u64,
    last_attempt: Option<u64>,
    last_attempt_failed: bool,
    last_kid_refetch: Option<u64>,
    last_error: Option<KeyFetchError>,
    jwks_uri: Option<Url>,
    /// When discovery last ran (discovery sources only).
    discovered_at: u64,
    /// When the keys held were fetched (clock seconds).
    fetched_at: u64,
}

impl RemoteKeys {
    /// Checks the settings and starts the live cache for issuer `iss`; called by the
    /// verifier's `build()`. Nothing is fetched yet.
    pub(crate) fn start(self, iss: &str, clock: Arc<dyn Clock>) -> Result<Arc<Remote>, ConfigError> {
        self.validate(iss)?;
        Remote::new(iss, self, clock)
    }
}

/// The live cache of one issuer's remote keys.
pub(crate) struct Remote {
    iss: String,
    /// `iss` for metrics labels.
    label: Arc<str>,
    cfg: RemoteKeys,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    flight: SingleFlight,
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
    pub(super) fn new(iss: &str, cfg: RemoteKeys, clock: Arc<dyn Clock>) -> Result<Arc<Self>, ConfigError> {
        let client = match &cfg.client {
            Some(c) => c.clone(),
            None => fetch::client(Some(
                reqwest::Client::builder()
                    .connect_timeout(cfg.timeout)
                    .user_agent(concat!("permiso/", env!("CARGO_PKG_VERSION"))),
            ))
            .map_err(|_| ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built"))?,
        };
        let jwks_uri = match &cfg.location {
            Location::Jwks(u) => check_url(u, cfg.http).ok(),
            Location::Discovery(_) => None,
        };
        Ok(Arc::new(Self {
            iss: iss.to_owned(),
            label: iss.into(),
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
                last_attempt: None,
                last_attempt_failed: false,
                last_kid_refetch: None,
                last_error: None,
                jwks_uri,
                discovered_at: 0,
                fetched_at: 0,
            }),
            flight: SingleFlight::default(),
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
    /// `now` is this source's clock, already read by the caller.
    pub(crate) fn holds(self: &Arc<Self>, key: &Key, now: u64) -> bool {
        let seen = self.flight.generation();
        let (held, stale, backoff_over) = {
            let s = self.read();
            let held = now < s.stale_until && s.keys.as_ref().is_some_and(|set| set.holds(key));
            (held, now >= s.fresh_until, self.backoff_left(&s, now) == 0)
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
    pub(crate) async fn keys_for(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<KeySet>, KeyError> {
        let now = self.clock.now_unix();
        // Read before the state: a fetch that completes in between is then joined, not repeated.
        let seen = self.flight.generation();
        let (keys, fresh, usable, kid_refetch_allowed, backoff_left) = {
            let s = self.read();
            let backoff_left = self.backoff_left(&s, now);
            let kid_ok =
                s.last_kid_refetch.is_none_or(|at| now >= at.saturating_add(secs(self.cfg.cooldown)));
            (s.keys.clone(), now < s.fresh_until, now < s.stale_until, kid_ok, backoff_left)
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
                let _ = self.refresh(seen, Refresh::UnknownKid).await;
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
                    let cause = self.read().last_error.clone().unwrap_or(KeyFetchError::Unreachable);
                    return Err(KeyError { retry_after_secs: backoff_left, cause });
                }
                self.refresh(seen, Refresh::Scheduled).await?;
                self.start_refresher();
                self.usable_now()
            }
        }
    }

    /// One fetch at a time. A caller that waited while another fetched takes that result
    /// instead of fetching again.
    async fn refresh(&self, seen: u64, why: Refresh) -> Result<(), KeyError> {
        match self.flight.run(seen, self.fetch_and_store(why)).await {
            Some(outcome) => outcome,
            // Someone else fetched while we waited: their outcome is ours, but only keys still
            // inside their window count, never merely "some keys are held".
            None => self.usable_now().map(|_| ()),
        }
    }

    /// One fetch (discovery when due, then the JWKS), its outcome stored.
    async fn fetch_and_store(&self, why: Refresh) -> Result<(), KeyError> {
        let now = self.clock.now_unix();
        let previous_kid_refetch = self.read().last_kid_refetch;
        if why == Refresh::UnknownKid {
            self.write().last_kid_refetch = Some(now);
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let (jwks_uri, rediscover) = {
            let s = self.read();
            let due = matches!(self.cfg.location, Location::Discovery(_))
                && now >= s.discovered_at.saturating_add(REDISCOVER_EVERY.as_secs());
            (s.jwks_uri.clone(), due)
        };
        let result = tokio::time::timeout(self.cfg.timeout, self.fetch(jwks_uri, rediscover))
            .await
            .unwrap_or(Err(KeyFetchError::Unreachable));
        let now = self.clock.now_unix();
        let mut s = self.write();
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
                s.fetched_at = now;
                crate::metrics::key_fetch(&self.label, true);
                crate::metrics::key_set_age(&self.label, 0);
                s.fresh_until = now.saturating_add(ttl);
                s.stale_until = s.fresh_until.saturating_add(self.cfg.stale_window.as_secs());
                s.last_attempt_failed = false;
                s.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                crate::metrics::key_fetch(&self.label, false);
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
    fn usable_now(&self) -> Result<Arc<KeySet>, KeyError> {
        let now = self.clock.now_unix();
        let s = self.read();
        match &s.keys {
            Some(keys) if now < s.stale_until => {
                crate::metrics::key_set_age(&self.label, now.saturating_sub(s.fetched_at));
                Ok(Arc::clone(keys))
            }
            _ => Err(self.unavailable(s.last_error.as_ref().unwrap_or(&KeyFetchError::Unreachable))),
        }
    }

    fn unavailable(&self, e: &KeyFetchError) -> KeyError {
        KeyError { retry_after_secs: secs(self.cfg.failure_backoff), cause: e.clone() }
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
            let _ = this.refresh(seen, Refresh::Scheduled).await;
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
                let seen = this.flight.generation();
                let _ = this.refresh(seen, Refresh::Scheduled).await;
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
                (Err(_e), Some(u)) => {
                    crate::log::warn!(issuer = %self.iss, error = %_e, "rediscovery failed; keeping the known jwks_uri");
                    u
                }
                (Err(e), None) => return Err(e),
            },
        };
        let (body, headers) =
            fetch::get_json(&self.client, uri.clone(), self.cfg.timeout, self.cfg.max_body_bytes)
                .await
                .map_err(fetch_error)?;
        let set = jwk::parse_set(&body).map_err(|_| KeyFetchError::Malformed)?;
        if set.is_empty() {
            return Err(KeyFetchError::NoUsableKey);
        }
        Ok((uri, set, self.ttl(&headers)))
    }

    async fn discover(&self) -> Result<Url, KeyFetchError> {
        let Location::Discovery(base) = &self.cfg.location else {
            return Err(KeyFetchError::Discovery("no JWKS URL"));
        };
        let base = Url::parse(base).map_err(|_| KeyFetchError::Discovery("invalid issuer URL"))?;
        let doc = fetch::discover(&self.client, &base, &self.iss, self.cfg.timeout, self.cfg.max_body_bytes)
            .await
            .map_err(|e| {
                if e == FetchError::IssuerMismatch {
                    crate::log::warn!(issuer = %self.iss, "discovery document names another issuer");
                }
                fetch_error(e)
            })?;
        let uri = doc.jwks_uri.ok_or(KeyFetchError::Discovery("the document has no jwks_uri"))?;
        discovered_url(&base, &uri, self.cfg.http)
            .map_err(|_| KeyFetchError::Discovery("the jwks_uri is not an acceptable URL"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
