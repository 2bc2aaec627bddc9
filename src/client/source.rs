//! Client-credentials tokens, fetched once and reused until shortly before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::Url;

use super::credentials::{ClientAuth, ServiceCredentials, TokenEndpoint};
use super::identity::ClientIdentity;
use super::store::{DEFAULT_STORE_TIMEOUT, LOCK_TTL, SeedValue, Shared, TokenStore};
use super::token_error::{TokenError, TokenErrorKind};
use crate::clock::{Clock, SystemClock};
use crate::dpop::DpopKey;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{self, HttpPolicy, SingleFlight, check_url, jitter};

const DEFAULT_MARGIN: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ATTEMPTS: u32 = 3;
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The longest pause between background refreshes while the token endpoint fails.
const MAX_REFRESH_PAUSE: u64 = 60;

/// An access token. `Debug` never shows it; [`secret`](Self::secret) does.
#[derive(Clone)]
pub struct AccessToken {
    pub(super) token: Arc<str>,
    pub(super) expires_at: u64,
    pub(super) scope: Option<Arc<str>>,
    /// The key a DPoP-bound token is bound to: requests then carry a proof made with it.
    pub(super) dpop: Option<DpopKey>,
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.token == other.token && self.expires_at == other.expires_at && self.scope == other.scope
    }
}

impl Eq for AccessToken {}

impl AccessToken {
    /// The token, for an `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// When it expires, in seconds since the epoch (by the source's clock).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The scopes granted, as the token endpoint reported them.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    fn shared(v: SeedValue) -> Self {
        Self { token: v.access_token.into(), expires_at: v.expires_at, scope: None, dpop: None }
    }

    /// Whether the token is DPoP-bound (`token_type: DPoP`): requests carry
    /// `Authorization: DPoP` and a fresh proof.
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop.is_some()
    }

    /// The `Authorization` value (`Bearer …`, or `DPoP …` for a bound token), marked
    /// sensitive (hidden from `Debug` and HTTP/2 header compression): the one header builder
    /// of the tower layer and the middleware.
    pub(crate) fn authorization(&self) -> Result<http::HeaderValue, TokenError> {
        let scheme = if self.dpop.is_some() { "DPoP" } else { "Bearer" };
        let mut value = http::HeaderValue::try_from(format!("{scheme} {}", self.secret()))
            .map_err(|_| TokenError::malformed_token())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The `DPoP` proof for one request with this token (`None` for a bearer token).
    pub(crate) fn dpop_proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
    ) -> Option<http::HeaderValue> {
        let key = self.dpop.as_ref()?;
        http::HeaderValue::try_from(key.proof(method, url, Some(self.secret()), nonce)).ok()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("dpop_bound", &self.dpop.is_some())
            .finish()
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: u64,
}

/// Where a token came from.
#[derive(Clone, Copy)]
enum Origin {
    /// The token endpoint, by this source.
    Fetched,
    /// The shared store, written by another replica (or a Python service).
    Shared,
}

struct State {
    cached: Option<Cached>,
    last_error: Option<TokenError>,
    /// Fetches failed in a row; spaces the background refreshes.
    failures_in_a_row: u32,
    /// No background refresh before this instant (unix seconds).
    next_refresh_at: u64,
    /// When a target's 401 last dropped the cached token.
    last_forced_refetch: Option<u64>,
    /// The token a target's 401 dropped: never taken from the shared store again.
    refused: Option<Arc<str>>,
}

/// What a [`TokenSourceBuilder`] configures, kept as is by the source.
pub(super) struct Settings {
    pub(super) creds: ServiceCredentials,
    pub(super) auth: ClientAuth,
    pub(super) resource: Option<String>,
    margin: Duration,
    pub(super) timeout: Duration,
    attempts: u32,
    max_backoff: Duration,
    refetch_interval: Duration,
    pub(super) http: HttpPolicy,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) dpop: Option<DpopKey>,
    pub(super) identity: Option<ClientIdentity>,
}

pub(super) struct Inner {
    pub(super) settings: Settings,
    shared: Option<Shared>,
    pub(super) http: reqwest::Client,
    pub(super) endpoint: tokio::sync::OnceCell<Url>,
    state: RwLock<State>,
    flight: SingleFlight,
    /// A background refresh is under way.
    refreshing: AtomicBool,
    pub(super) fetches: AtomicU64,
    /// DPoP nonces servers asked for (`DPoP-Nonce`), by origin: the token endpoint's and
    /// each target's.
    pub(super) dpop_nonces: std::sync::Mutex<HashMap<String, String>>,
}

/// Gets client-credentials tokens and caches one until a margin before it expires.
///
/// One source is one (endpoint, client, scopes); clones share the cache. However many tasks
/// ask at once, one fetch runs. A failed refresh while the cached token is still valid keeps
/// using it.
///
/// ```no_run
/// use permiso::client::{ServiceCredentials, TokenSource};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let source = TokenSource::new(ServiceCredentials::from_env("payment")?)?;
/// let token = source.token().await?;
/// let res = reqwest::Client::new()
///     .get("http://127.0.0.1:8001/api/v1/transactions")
///     .bearer_auth(token.secret())
///     .send()
///     .await?;
/// # let _ = res; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenSource {
    pub(super) inner: Arc<Inner>,
}

/// Configures a [`TokenSource`].
#[must_use]
pub struct TokenSourceBuilder {
    settings: Settings,
    http: Option<reqwest::ClientBuilder>,
    store: Option<(Arc<dyn TokenStore>, Duration)>,
}

impl TokenSourceBuilder {
    /// Presents `identity` in the TLS handshakes of token requests (RFC 8705): the tokens are
    /// then bound to it when the authorization server binds tokens to certificates, and
    /// [`RemoteService`](super::RemoteService)s of this source present it too. With
    /// [`ClientAuth::TlsClientAuth`], it is also how the client authenticates.
    pub fn client_certificate(mut self, identity: ClientIdentity) -> Self {
        self.settings.identity = Some(identity);
        self
    }

    /// The credentials tokens will be asked with.
    pub(super) fn credentials(&self) -> &ServiceCredentials {
        &self.settings.creds
    }

    /// How the client authenticates (default: form fields, permiso's way).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.settings.auth = auth;
        self
    }

    /// An RFC 8707 `resource` indicator sent with each request.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.settings.resource = Some(resource.into());
        self
    }

    /// Refresh this long before expiry (default 60 s; never more than half the lifetime).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.settings.margin = margin;
        self
    }

    /// Timeout of one token request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Attempts per fetch when the endpoint is unreachable or answers 5xx/429 (default 3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.attempts = attempts;
        self
    }

    /// The longest wait between attempts, whatever `Retry-After` says (default 10 s).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.settings.max_backoff = backoff;
        self
    }

    /// The least time between two refetches forced by a target's 401 (default 30 s). A
    /// target that refuses every token costs one token request per interval, not one per
    /// call.
    pub fn refetch_after_401_interval(mut self, interval: Duration) -> Self {
        self.settings.refetch_interval = interval;
        self
    }

    /// Shares one token among every replica of this client through `store` (see
    /// [`TokenStore`]): the key and JSON of permiso's Python `TokenCache`, one fetch per expiry across replicas. Every
    /// store call is bounded by 200 ms (see [`shared_store_timeout`](Self::shared_store_timeout));
    /// a store that fails only costs that, never a call.
    pub fn shared_store(mut self, store: impl TokenStore) -> Self {
        self.store = Some((Arc::new(store), DEFAULT_STORE_TIMEOUT));
        self
    }

    /// The bound on each shared-store call (default 200 ms).
    pub fn shared_store_timeout(mut self, timeout: Duration) -> Self {
        if let Some((_, t)) = &mut self.store {
            *t = timeout;
        }
        self
    }

    /// Your own `reqwest::ClientBuilder` (proxy, roots, user agent) for token requests.
    /// permiso builds it with redirects turned off, whatever the builder says: a token
    /// request carries the client secret, and a redirect would hand it to another URL. (A
    /// built `reqwest::Client` is not taken for that reason: its redirect policy cannot be
    /// changed.)
    pub fn http_client_builder(mut self, builder: reqwest::ClientBuilder) -> Self {
        self.http = Some(builder);
        self
    }

    /// Asks for DPoP-bound tokens (RFC 9449): each token request carries a proof made with
    /// `key`, and the bearer layers then send `Authorization: DPoP` with a fresh proof per
    /// request. A `DPoP-Nonce` the token endpoint or a target asks for (`use_dpop_nonce`) is
    /// sent with one retry. A server that answers `token_type: Bearer` gets bearer requests.
    /// Not with a shared store: bound tokens are this process's alone.
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.settings.dpop = Some(key);
        self
    }

    /// The clock that decides expiry (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }

    /// Allows sending the secret over plain HTTP to hosts other than loopback. Development
    /// networks only.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.settings.http = HttpPolicy::AllowHttp;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// An empty client id or secret, an endpoint URL that is not HTTPS (or loopback HTTP), no
    /// attempts, or a zero timeout.
    pub fn build(self) -> Result<TokenSource, ConfigError> {
        let bad = |m: String| Err(ConfigError::new(ConfigErrorKind::Invalid, m));
        let st = &self.settings;
        let by_certificate = st.auth == ClientAuth::TlsClientAuth;
        if st.creds.client_id().is_empty()
            || (!by_certificate && st.creds.client_secret().expose().is_empty())
        {
            return bad("the client id and secret must not be empty".into());
        }
        if by_certificate && st.identity.is_none() {
            return bad("ClientAuth::TlsClientAuth needs a client certificate (client_certificate)".into());
        }
        let url = match st.creds.endpoint() {
            TokenEndpoint::Url(u) | TokenEndpoint::Discovery(u) | TokenEndpoint::Permiso(u) => u,
        };
        if let Err(why) = check_url(url, st.http) {
            return bad(format!("the token endpoint {why}"));
        }
        if st.attempts == 0 || st.timeout.is_zero() {
            return bad("max_attempts and the timeout must be positive".into());
        }
        let http = match &st.identity {
            Some(identity) => Some(identity.apply(self.http.unwrap_or_else(fetch::builder))),
            None => self.http,
        };
        let http = fetch::client(http)
            .map_err(|_| ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built"))?;
        if st.dpop.is_some() && self.store.is_some() {
            return Err(ConfigError::new(
                ConfigErrorKind::Conflict,
                "a shared token store cannot be used with DPoP: the tokens are bound to this process's key",
            ));
        }
        let shared = self.store.map(|(store, timeout)| {
            Shared::new(store, self.settings.creds.client_id(), self.settings.creds.scopes(), timeout)
        });
        Ok(TokenSource {
            inner: Arc::new(Inner {
                settings: self.settings,
                shared,
                http,
                endpoint: tokio::sync::OnceCell::new(),
                state: RwLock::new(State {
                    cached: None,
                    last_error: None,
                    failures_in_a_row: 0,
                    next_refresh_at: 0,
                    last_forced_refetch: None,
                    refused: None,
                }),
                flight: SingleFlight::default(),
                refreshing: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
                dpop_nonces: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("credentials", &self.settings.creds)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source with the defaults.
    ///
    /// # Errors
    ///
    /// As [`TokenSourceBuilder::build`].
    pub fn new(creds: ServiceCredentials) -> Result<Self, ConfigError> {
        Self::builder(creds).build()
    }

    /// A builder for non-default settings.
    pub fn builder(creds: ServiceCredentials) -> TokenSourceBuilder {
        TokenSourceBuilder {
            settings: Settings {
                creds,
                auth: ClientAuth::default(),
                resource: None,
                margin: DEFAULT_MARGIN,
                timeout: DEFAULT_TIMEOUT,
                attempts: DEFAULT_ATTEMPTS,
                max_backoff: DEFAULT_MAX_BACKOFF,
                refetch_interval: DEFAULT_REFETCH_INTERVAL,
                http: HttpPolicy::HttpsOrLoopback,
                clock: Arc::new(SystemClock),
                dpop: None,
                identity: None,
            },
            http: None,
            store: None,
        }
    }

    /// The credentials tokens are asked with (their secret also signs requests).
    pub(crate) fn credentials(&self) -> &ServiceCredentials {
        &self.inner.settings.creds
    }

    /// The client certificate token requests present, if any
    /// ([`TokenSourceBuilder::client_certificate`]).
    pub fn client_certificate(&self) -> Option<&ClientIdentity> {
        self.inner.settings.identity.as_ref()
    }

    /// How many token requests this source has sent.
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A token to send now: the cached one while it is valid, or a fresh one.
    ///
    /// Inside the refresh margin the cached token is still valid: it is returned at once and
    /// a refresh starts in the background (one at a time, spaced out while the token
    /// endpoint fails), so an outage of the token endpoint never delays a call while a valid
    /// token is held.
    ///
    /// # Errors
    ///
    /// The token endpoint refused (typed by its `error` code) or could not be reached after
    /// the retries, and no cached token is still valid.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let now = self.inner.settings.clock.now_unix();
        // Read before the state: a fetch that completes in between is then joined, not repeated.
        let seen = self.inner.flight.generation();
        {
            let s = self.read();
            match &s.cached {
                Some(c) if now < c.refresh_at => return Ok(c.token.clone()),
                Some(c) if now < c.token.expires_at && tokio::runtime::Handle::try_current().is_ok() => {
                    if now >= s.next_refresh_at {
                        self.refresh_in_background(seen);
                    }
                    return Ok(c.token.clone());
                }
                _ => {}
            }
        }
        self.fetch_shared(seen).await
    }

    /// Starts one refresh without waiting for it; while it runs, further calls do nothing.
    fn refresh_in_background(&self, seen: u64) {
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.fetch_shared(seen).await;
            this.inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// One fetch for everyone asking: a caller that waited while another fetched takes that
    /// result. A failure while the cached token is still valid answers with that token.
    async fn fetch_shared(&self, seen: u64) -> Result<AccessToken, TokenError> {
        if let Some(outcome) = self.inner.flight.run(seen, self.fetch_and_store()).await {
            return outcome;
        }
        // Someone fetched while we waited: use what they got.
        let now = self.inner.settings.clock.now_unix();
        let s = self.read();
        match (s.cached.as_ref().filter(|c| now < c.token.expires_at), &s.last_error) {
            (Some(c), _) => Ok(c.token.clone()),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err(TokenError::new(TokenErrorKind::Unavailable)),
        }
    }

    /// One fetch with its retries, its outcome stored.
    async fn fetch_and_store(&self) -> Result<AccessToken, TokenError> {
        let result = self.obtain().await;
        let now = self.inner.settings.clock.now_unix();
        let mut s = self.write();
        match result {
            Ok((token, origin)) => {
                let refresh_at = match origin {
                    // Python's expires_at is already its margin before the real expiry.
                    Origin::Shared => token.expires_at,
                    Origin::Fetched => {
                        let lifetime = token.expires_at.saturating_sub(now);
                        token.expires_at - self.inner.settings.margin.as_secs().min(lifetime / 2)
                    }
                };
                s.cached = Some(Cached { refresh_at, token: token.clone() });
                s.last_error = None;
                s.failures_in_a_row = 0;
                s.next_refresh_at = 0;
                Ok(token)
            }
            Err(e) => {
                s.last_error = Some(e.clone());
                s.failures_in_a_row = s.failures_in_a_row.saturating_add(1);
                let pause = 1u64.checked_shl(s.failures_in_a_row).unwrap_or(u64::MAX).min(MAX_REFRESH_PAUSE);
                s.next_refresh_at = now.saturating_add(pause);
                match s.cached.as_ref().filter(|c| now < c.token.expires_at) {
                    Some(c) => {
                        crate::log::warn!(error = %e, "token refresh failed; the cached token is still valid");
                        Ok(c.token.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// A token from the shared store, or from the token endpoint (then shared). With a
    /// store: one replica takes the lock and fetches; the others wait briefly for its token,
    /// then fetch themselves. Any store failure means: fetch, as without a store.
    async fn obtain(&self) -> Result<(AccessToken, Origin), TokenError> {
        let Some(shared) = &self.inner.shared else {
            return self.fetch_with_retries().await.map(|t| (t, Origin::Fetched));
        };
        let clock = &self.inner.settings.clock;
        let refused = self.read().refused.clone();
        let usable = |v: &SeedValue| refused.as_deref() != Some(v.access_token.as_str());
        match shared.read(clock.now_unix()).await {
            Some(v) if usable(&v) => return Ok((AccessToken::shared(v), Origin::Shared)),
            // The token a target just refused: drop it for every replica, then fetch.
            Some(v) => shared.evict(&v.access_token).await,
            None => {}
        }
        if shared.call("lock", shared.store.try_lock(&shared.lock_key, LOCK_TTL)).await == Some(false) {
            // Another replica is fetching: wait for its token, a bounded while.
            let deadline = std::time::Instant::now() + shared.wait;
            while std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
                if let Some(v) = shared.read(clock.now_unix()).await.filter(|v| usable(v)) {
                    return Ok((AccessToken::shared(v), Origin::Shared));
                }
            }
        }
        let token = self.fetch_with_retries().await?;
        shared.write(token.secret(), token.expires_at, clock.now_unix()).await;
        Ok((token, Origin::Fetched))
    }

    /// Drops `token` from the cache after a target refused it with a 401, so the next
    /// [`token`](Self::token) fetches a new one; returns whether it did. With a shared store
    /// the token is dropped there too (in the background), so other replicas do not keep
    /// handing it out.
    ///
    /// It does nothing when `token` is no longer the cached one (someone already replaced
    /// it), or when a 401 already forced a refetch within the
    /// [interval](TokenSourceBuilder::refetch_after_401_interval): a target that refuses
    /// every token must not turn each call into a token request.
    pub fn invalidate(&self, token: &AccessToken) -> bool {
        let now = self.inner.settings.clock.now_unix();
        let interval = self.inner.settings.refetch_interval.as_secs();
        let mut s = self.write();
        let recent = s.last_forced_refetch.is_some_and(|at| now < at.saturating_add(interval));
        if recent || !s.cached.as_ref().is_some_and(|c| c.token == *token) {
            return false;
        }
        s.cached = None;
        s.last_forced_refetch = Some(now);
        s.refused = Some(Arc::clone(&token.token));
        drop(s);
        if self.inner.shared.is_some() && tokio::runtime::Handle::try_current().is_ok() {
            let (this, token) = (self.clone(), token.secret().to_owned());
            tokio::spawn(async move {
                if let Some(shared) = &this.inner.shared {
                    shared.evict(&token).await;
                }
            });
        }
        true
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    async fn fetch_with_retries(&self) -> Result<AccessToken, TokenError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, retry_after) = self.fetch_once().await;
            match result {
                Err(e) if e.retryable() && attempt < self.inner.settings.attempts => {
                    let exp = Duration::from_millis(200 * (1 << attempt.min(10)));
                    let wait = retry_after.unwrap_or(exp).min(self.inner.settings.max_backoff);
                    tokio::time::sleep(wait + jitter(wait / 4 + Duration::from_millis(1))).await;
                }
                other => return other,
            }
        }
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.inner.settings.creds)
            .field("client_auth", &self.inner.settings.auth)
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}
