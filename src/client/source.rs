//! Client-credentials tokens, fetched once and reused until shortly before they expire.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;

use super::credentials::{ClientAuth, ServiceCredentials, TokenEndpoint};
use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::keys::jwks::{check_url, discovery_urls, jitter};

const DEFAULT_MARGIN: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_ATTEMPTS: u32 = 3;
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
const DEFAULT_LIFETIME: u64 = 300;
const MAX_BODY: usize = 64 * 1024;

/// An access token. `Debug` never shows it; [`secret`](Self::secret) does.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: Arc<str>,
    expires_at: u64,
    scope: Option<Arc<str>>,
}

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
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What kind of failure a [`TokenError`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// `invalid_client`: unknown client or wrong secret.
    InvalidClient,
    /// `invalid_scope`: none of the requested scopes may be granted.
    InvalidScope,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_request` (permiso's `validation_error` too).
    InvalidRequest,
    /// permiso's `client_disabled`.
    ClientDisabled,
    /// Another error code from the server.
    Other(String),
    /// The endpoint could not be reached, or kept answering 5xx/429, after the retries.
    Unavailable,
    /// The answer was not an RFC 6749 token response.
    MalformedResponse,
    /// Discovery failed or the endpoint URL is not acceptable.
    Endpoint,
}

/// Why no token could be had. Keeps the server's `error_description`; never holds the secret.
#[derive(Clone, Debug)]
pub struct TokenError {
    kind: TokenErrorKind,
    status: Option<u16>,
    description: Option<String>,
}

impl TokenError {
    fn new(kind: TokenErrorKind) -> Self {
        Self { kind, status: None, description: None }
    }

    fn with(mut self, status: Option<u16>, description: Option<String>) -> Self {
        self.status = status;
        self.description = description;
        self
    }

    /// The kind.
    pub fn kind(&self) -> &TokenErrorKind {
        &self.kind
    }

    /// The HTTP status of the token endpoint's answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's `error_description`, or what went wrong.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub(crate) fn malformed_token() -> Self {
        Self::new(TokenErrorKind::MalformedResponse)
            .with(None, Some("the access token cannot be sent in a header".into()))
    }

    fn retryable(&self) -> bool {
        self.kind == TokenErrorKind::Unavailable
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match &self.kind {
            TokenErrorKind::InvalidClient => "invalid_client",
            TokenErrorKind::InvalidScope => "invalid_scope",
            TokenErrorKind::InvalidGrant => "invalid_grant",
            TokenErrorKind::UnauthorizedClient => "unauthorized_client",
            TokenErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            TokenErrorKind::InvalidRequest => "invalid_request",
            TokenErrorKind::ClientDisabled => "client_disabled",
            TokenErrorKind::Other(code) => code,
            TokenErrorKind::Unavailable => "the token endpoint is unavailable",
            TokenErrorKind::MalformedResponse => "the token endpoint's answer is not a token response",
            TokenErrorKind::Endpoint => "the token endpoint cannot be used",
        };
        write!(f, "{code}")?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TokenError {}

struct Cached {
    token: AccessToken,
    refresh_at: u64,
}

struct State {
    cached: Option<Cached>,
    /// Incremented by every fetch, so callers that waited for one use its result.
    generation: u64,
    last_error: Option<TokenError>,
}

/// What a [`TokenSourceBuilder`] configures, kept as is by the source.
struct Settings {
    creds: ServiceCredentials,
    auth: ClientAuth,
    resource: Option<String>,
    margin: Duration,
    timeout: Duration,
    attempts: u32,
    max_backoff: Duration,
    allow_http: bool,
    clock: Arc<dyn Clock>,
}

struct Inner {
    settings: Settings,
    http: reqwest::Client,
    endpoint: tokio::sync::OnceCell<Url>,
    state: RwLock<State>,
    fetch_lock: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
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
    inner: Arc<Inner>,
}

/// Configures a [`TokenSource`].
#[must_use]
pub struct TokenSourceBuilder {
    settings: Settings,
    http: Option<reqwest::Client>,
}

impl TokenSourceBuilder {
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

    /// Your own `reqwest::Client` for token requests.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
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
        self.settings.allow_http = true;
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
        if st.creds.client_id().is_empty() || st.creds.client_secret().expose().is_empty() {
            return bad("the client id and secret must not be empty".into());
        }
        let url = match st.creds.endpoint() {
            TokenEndpoint::Url(u) | TokenEndpoint::Discovery(u) | TokenEndpoint::Permiso(u) => u,
        };
        if let Err(why) = check_url(url, st.allow_http) {
            return bad(format!("the token endpoint {why}"));
        }
        if st.attempts == 0 || st.timeout.is_zero() {
            return bad("max_attempts and the timeout must be positive".into());
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("permiso/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|_| {
                    ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built")
                })?,
        };
        Ok(TokenSource {
            inner: Arc::new(Inner {
                settings: self.settings,
                http,
                endpoint: tokio::sync::OnceCell::new(),
                state: RwLock::new(State { cached: None, generation: 0, last_error: None }),
                fetch_lock: tokio::sync::Mutex::new(()),
                fetches: AtomicU64::new(0),
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

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: Option<String>,
    error_description: Option<serde_json::Value>,
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
                allow_http: false,
                clock: Arc::new(SystemClock),
            },
            http: None,
        }
    }

    /// How many token requests this source has sent.
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// A token valid for at least the refresh margin: the cached one, or a fresh one.
    ///
    /// # Errors
    ///
    /// The token endpoint refused (typed by its `error` code) or could not be reached after
    /// the retries, and no cached token is still valid.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let now = self.inner.settings.clock.now_unix();
        let seen = {
            let s = self.read();
            if let Some(c) = s.cached.as_ref().filter(|c| now < c.refresh_at) {
                return Ok(c.token.clone());
            }
            s.generation
        };
        let _guard = self.inner.fetch_lock.lock().await;
        {
            let s = self.read();
            if s.generation != seen {
                // Someone fetched while we waited: use what they got.
                let now = self.inner.settings.clock.now_unix();
                if let Some(c) = s.cached.as_ref().filter(|c| now < c.token.expires_at) {
                    return Ok(c.token.clone());
                }
                if let Some(e) = &s.last_error {
                    return Err(e.clone());
                }
            }
        }
        let result = self.fetch_with_retries().await;
        let now = self.inner.settings.clock.now_unix();
        let mut s = self.write();
        s.generation += 1;
        match result {
            Ok(token) => {
                let lifetime = token.expires_at.saturating_sub(now);
                let margin = self.inner.settings.margin.as_secs().min(lifetime / 2);
                s.cached = Some(Cached { refresh_at: token.expires_at - margin, token: token.clone() });
                s.last_error = None;
                Ok(token)
            }
            Err(e) => {
                s.last_error = Some(e.clone());
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

    /// Drops `token` from the cache if it is the cached one (after a 401 from a target), so
    /// the next [`token`](Self::token) fetches a new one.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut s = self.write();
        if s.cached.as_ref().is_some_and(|c| c.token == *token) {
            s.cached = None;
        }
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

    async fn endpoint(&self) -> Result<&Url, TokenError> {
        self.inner
            .endpoint
            .get_or_try_init(|| async {
                let err = |d: &str| TokenError::new(TokenErrorKind::Endpoint).with(None, Some(d.to_owned()));
                match self.inner.settings.creds.endpoint() {
                    TokenEndpoint::Url(u) => Url::parse(u).map_err(|_| err("invalid URL")),
                    TokenEndpoint::Permiso(base) => {
                        Url::parse(&format!("{}/auth/service-token", base.trim_end_matches('/')))
                            .map_err(|_| err("invalid AUTH_SERVICE_URL"))
                    }
                    TokenEndpoint::Discovery(issuer) => self.discover(issuer).await,
                }
            })
            .await
    }

    async fn discover(&self, issuer: &str) -> Result<Url, TokenError> {
        let err = |d: &str| TokenError::new(TokenErrorKind::Endpoint).with(None, Some(d.to_owned()));
        let base = Url::parse(issuer).map_err(|_| err("invalid issuer URL"))?;
        for url in discovery_urls(&base) {
            let res = self
                .inner
                .http
                .get(url)
                .timeout(self.inner.settings.timeout)
                .send()
                .await
                .map_err(|_| TokenError::new(TokenErrorKind::Unavailable))?;
            if res.status() == reqwest::StatusCode::NOT_FOUND {
                continue;
            }
            if !res.status().is_success() {
                return Err(TokenError::new(TokenErrorKind::Unavailable)
                    .with(Some(res.status().as_u16()), Some("discovery failed".into())));
            }
            #[derive(Deserialize)]
            struct Meta {
                issuer: Option<String>,
                token_endpoint: Option<String>,
            }
            let body = read_capped(res).await?;
            let meta: Meta =
                serde_json::from_slice(&body).map_err(|_| err("the discovery document is malformed"))?;
            if meta.issuer.as_deref() != Some(issuer) {
                return Err(err("the discovery document names another issuer"));
            }
            let endpoint =
                meta.token_endpoint.ok_or_else(|| err("the discovery document has no token_endpoint"))?;
            return check_url(&endpoint, self.inner.settings.allow_http)
                .map_err(|_| err("the token_endpoint is not acceptable"));
        }
        Err(err("no discovery document"))
    }

    /// One token request. Also returns the `Retry-After` of a 503/429.
    async fn fetch_once(&self) -> (Result<AccessToken, TokenError>, Option<Duration>) {
        let url = match self.endpoint().await {
            Ok(u) => u.clone(),
            Err(e) => return (Err(e), None),
        };
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let creds = &self.inner.settings.creds;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        let scope = creds.scopes().join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(r) = &self.inner.settings.resource {
            form.push(("resource", r));
        }
        let mut req =
            self.inner.http.post(url).header(ACCEPT, "application/json").timeout(self.inner.settings.timeout);
        match self.inner.settings.auth {
            ClientAuth::SecretPost => {
                form.push(("client_id", creds.client_id()));
                form.push(("client_secret", creds.client_secret().expose()));
            }
            ClientAuth::SecretBasic => {
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(creds.client_id()), enc(creds.client_secret().expose()));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                req = req.header(AUTHORIZATION, format!("Basic {basic}"));
            }
        }
        let res = match req.form(&form).send().await {
            Ok(r) => r,
            Err(_) => return (Err(TokenError::new(TokenErrorKind::Unavailable)), None),
        };
        let status = res.status();
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match read_capped(res).await {
            Ok(b) => b,
            Err(e) => return (Err(e.with(Some(status.as_u16()), None)), retry_after),
        };
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let e = TokenError::new(TokenErrorKind::Unavailable).with(Some(status.as_u16()), None);
            return (Err(e), retry_after);
        }
        if !status.is_success() {
            return (Err(parse_error(status.as_u16(), &body)), None);
        }
        (self.parse_token(&body), None)
    }

    fn parse_token(&self, body: &[u8]) -> Result<AccessToken, TokenError> {
        let malformed =
            |d: &str| TokenError::new(TokenErrorKind::MalformedResponse).with(Some(200), Some(d.into()));
        let res: TokenResponse =
            serde_json::from_slice(body).map_err(|_| malformed("not a JSON token response"))?;
        if res.access_token.is_empty() {
            return Err(malformed("empty access_token"));
        }
        if res.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err(malformed("token_type is not Bearer"));
        }
        let expires_in = match res.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .or_else(|| jwt_lifetime(&res.access_token, self.inner.settings.clock.now_unix()))
        .unwrap_or(DEFAULT_LIFETIME);
        Ok(AccessToken {
            expires_at: self.inner.settings.clock.now_unix().saturating_add(expires_in),
            token: res.access_token.into(),
            scope: res.scope.map(Into::into),
        })
    }
}

async fn read_capped(mut res: reqwest::Response) -> Result<Vec<u8>, TokenError> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|_| TokenError::new(TokenErrorKind::Unavailable))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(TokenError::new(TokenErrorKind::MalformedResponse)
                .with(None, Some("the response is too large".into())));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// RFC 6749 §5.2 errors (and permiso's `validation_error`/`client_disabled`).
fn parse_error(status: u16, body: &[u8]) -> TokenError {
    let parsed: Option<ErrorResponse> = serde_json::from_slice(body).ok();
    let (code, description) = match parsed {
        Some(e) => (
            e.error,
            e.error_description.map(|d| match d {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
        ),
        None => (None, None),
    };
    let kind = match code.as_deref() {
        Some("invalid_client") => TokenErrorKind::InvalidClient,
        Some("invalid_scope") => TokenErrorKind::InvalidScope,
        Some("invalid_grant") => TokenErrorKind::InvalidGrant,
        Some("unauthorized_client") => TokenErrorKind::UnauthorizedClient,
        Some("unsupported_grant_type") => TokenErrorKind::UnsupportedGrantType,
        Some("invalid_request" | "validation_error") => TokenErrorKind::InvalidRequest,
        Some("client_disabled") => TokenErrorKind::ClientDisabled,
        Some(other) => TokenErrorKind::Other(other.to_owned()),
        None if status == 401 => TokenErrorKind::InvalidClient,
        None => TokenErrorKind::MalformedResponse,
    };
    // Keep descriptions short: they are for logs and errors, not a place to store a page.
    let description = description.map(|d| d.chars().take(300).collect());
    TokenError::new(kind).with(Some(status), description)
}

/// The lifetime left on a JWT access token, read (unverified) from its `exp`, when the
/// response had no `expires_in`.
fn jwt_lifetime(token: &str, now: u64) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let json = crate::token::b64url(payload.as_bytes())?;
    let exp = serde_json::from_slice::<serde_json::Value>(&json).ok()?.get("exp")?.as_u64()?;
    exp.checked_sub(now)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_typed_and_keep_the_description() {
        let e = parse_error(
            401,
            br#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#,
        );
        assert_eq!(e.kind(), &TokenErrorKind::InvalidClient);
        assert_eq!(e.description(), Some("Invalid client credentials"));
        assert_eq!(e.to_string(), "invalid_client: Invalid client credentials");
        let e = parse_error(422, br#"{"error":"validation_error","error_description":[{"loc":["body"]}]}"#);
        assert_eq!(e.kind(), &TokenErrorKind::InvalidRequest);
        assert_eq!(
            parse_error(403, br#"{"error":"client_disabled"}"#).kind(),
            &TokenErrorKind::ClientDisabled
        );
        assert_eq!(
            parse_error(400, br#"{"error":"slow_down"}"#).kind(),
            &TokenErrorKind::Other("slow_down".into())
        );
        assert_eq!(parse_error(400, b"<html>").kind(), &TokenErrorKind::MalformedResponse);
    }

    #[test]
    fn jwt_lifetime_reads_exp() {
        let payload = crate::token::tests::b64(br#"{"exp":1100}"#);
        assert_eq!(jwt_lifetime(&format!("h.{payload}.s"), 1000), Some(100));
        assert_eq!(jwt_lifetime("opaque-token", 1000), None);
    }
}
