//! A named service to call, found through `{NAME}_SERVICE_URL` as the seed's client factory
//! finds it, with tokens on every request.

use std::fmt;

use reqwest::Method;
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};

use super::credentials::env_prefix;
use super::{BearerMiddleware, TokenSource};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{self, HttpPolicy, check_url};

/// An authenticated client for one service: its base URL joined with each path, a token
/// from a [`TokenSource`] on every request (refetched once on a 401, see
/// [`BearerMiddleware`]). Redirects are not followed, as the seed's `httpx` clients do not.
///
/// ```
/// use permiso::client::{RemoteService, TokenSource};
///
/// let vars = [
///     ("AUTH_SERVICE_URL", "http://127.0.0.1:8000/api/v1"),
///     ("PAYMENT_CLIENT_ID", "payment-service"),
///     ("PAYMENT_CLIENT_SECRET", "s3cr3t"),
///     ("USER_SERVICE_URL", "http://127.0.0.1:8002/"),
/// ];
/// let source = TokenSource::from_env_vars("payment", vars)?;
/// let users = RemoteService::from_env_vars("user", source, vars)?;
/// assert_eq!(users.url("/api/v1/users/123"), "http://127.0.0.1:8002/api/v1/users/123");
/// let request = users.get("/api/v1/users/123"); // send().await it
/// # let _ = request;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RemoteService {
    base: String,
    http: ClientWithMiddleware,
}

impl RemoteService {
    /// The service at `base_url` (HTTPS, or HTTP to loopback; see
    /// [`dangerous_http`](Self::dangerous_http) otherwise).
    ///
    /// # Errors
    ///
    /// `base_url` is not an acceptable URL.
    pub fn new(base_url: &str, source: TokenSource) -> Result<Self, ConfigError> {
        Self::with_policy(base_url, source, HttpPolicy::HttpsOrLoopback, "the service URL")
    }

    /// As [`new`](Self::new), allowing plain HTTP to any host: bearer tokens then cross the
    /// network in clear. For development networks only.
    ///
    /// # Errors
    ///
    /// `base_url` is not a URL.
    pub fn dangerous_http(base_url: &str, source: TokenSource) -> Result<Self, ConfigError> {
        Self::with_policy(base_url, source, HttpPolicy::AllowHttp, "the service URL")
    }

    /// The service `name` from `{NAME}_SERVICE_URL` (`"user"` → `USER_SERVICE_URL`).
    ///
    /// # Errors
    ///
    /// The variable is missing or not an acceptable URL; the message names it.
    pub fn from_env(name: &str, source: TokenSource) -> Result<Self, ConfigError> {
        Self::from_lookup(name, source, &|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over the given variables.
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_vars<I, K, V>(name: &str, source: TokenSource, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_lookup(name, source, &crate::vars::lookup(vars))
    }

    fn from_lookup(
        name: &str,
        source: TokenSource,
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = format!("{}_SERVICE_URL", env_prefix(name));
        let url = get(&var)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ConfigError::new(ConfigErrorKind::Missing, format!("{var} is required")))?;
        Self::with_policy(url.trim(), source, HttpPolicy::HttpsOrLoopback, &var)
    }

    fn with_policy(
        base: &str,
        source: TokenSource,
        policy: HttpPolicy,
        what: &str,
    ) -> Result<Self, ConfigError> {
        check_url(base, policy)
            .map_err(|why| ConfigError::new(ConfigErrorKind::Invalid, format!("{what} {why}")))?;
        let client = fetch::client(None)
            .map_err(|_| ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built"))?;
        let http = reqwest_middleware::ClientBuilder::new(client).with(BearerMiddleware::new(source)).build();
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// `path` joined to the base URL (one `/` between them).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// A request with `method` to `path`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// `PATCH path`.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// The underlying client (tokens included), for anything else.
    pub fn http(&self) -> &ClientWithMiddleware {
        &self.http
    }
}

impl fmt::Debug for RemoteService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteService").field("base", &self.base).finish_non_exhaustive()
    }
}
