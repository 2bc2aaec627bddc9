//! A named service to call, found through `{NAME}_SERVICE_URL` as permiso's Python client factory
//! finds it, with tokens on every request.

use std::fmt;

use reqwest::Method;
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};

use super::credentials::env_prefix;
use super::middleware::BearerMiddleware;
use super::source::TokenSource;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::fetch::{self, HttpPolicy, check_url};
use crate::signing::{Signer, SigningMiddleware};

/// An authenticated client for one service: its base URL joined with each path, a token
/// from a [`TokenSource`] on every request (refetched once on a 401, see
/// [`BearerMiddleware`]). Redirects are not followed, as permiso's Python `httpx` clients do not.
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
/// assert_eq!(users.url("/api/v1/users/123").unwrap(), "http://127.0.0.1:8002/api/v1/users/123");
/// // A path may not climb out of the base URL, in any spelling.
/// assert!(users.url("/api/v1/%2E%2E/%2e%2e/billing").is_err());
/// let request = users.get("/api/v1/users/123"); // send().await it
/// # let _ = request;
/// # Ok::<(), permiso::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RemoteService {
    base: String,
    http: ClientWithMiddleware,
    /// What `http` was built from, to rebuild it with a signer.
    client: reqwest::Client,
    source: TokenSource,
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
        let prefix = env_prefix(name);
        let var = format!("{prefix}_SERVICE_URL");
        let url = get(&var)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ConfigError::new(ConfigErrorKind::Missing, format!("{var} is required")))?;
        let service = Self::with_policy(url.trim(), source, HttpPolicy::HttpsOrLoopback, &var)?;
        let signed_var = format!("{prefix}_SERVICE_SIGNED");
        match get(&signed_var).map(|v| crate::vars::parse_bool(&signed_var, &v)).transpose()? {
            Some(true) => {
                let signer = Signer::new(service.source.credentials());
                Ok(service.signing(signer))
            }
            _ => Ok(service),
        }
    }

    fn with_policy(
        base: &str,
        source: TokenSource,
        policy: HttpPolicy,
        what: &str,
    ) -> Result<Self, ConfigError> {
        check_url(base, policy)
            .map_err(|why| ConfigError::new(ConfigErrorKind::Invalid, format!("{what} {why}")))?;
        let builder = source.client_certificate().map(|identity| identity.apply(fetch::builder()));
        let client = fetch::client(builder)
            .map_err(|_| ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built"))?;
        let base = base.trim_end_matches('/').to_owned();
        let http = Self::chain(&base, &client, &source, None);
        Ok(Self { base, http, client, source })
    }

    fn chain(
        base: &str,
        client: &reqwest::Client,
        source: &TokenSource,
        signer: Option<Signer>,
    ) -> ClientWithMiddleware {
        let chain = reqwest_middleware::ClientBuilder::new(client.clone())
            .with(StayUnder { base: format!("{base}/") })
            .with(BearerMiddleware::new(source.clone()));
        // After the bearer middleware, so a retry after a 401 is signed anew.
        match signer {
            Some(signer) => chain.with(SigningMiddleware::new(signer)).build(),
            None => chain.build(),
        }
    }

    /// Signs every request with `signer` (`X-Timestamp`, `X-Signature`, as permiso's Python
    /// `RequestSigner` does), for a service that checks request signatures
    /// (`PERMISO_SIGNATURES` there). [`from_env`](Self::from_env) does it with the token
    /// source's own client secret when `{NAME}_SERVICE_SIGNED=true`.
    ///
    /// ```
    /// use permiso::client::{RemoteService, ServiceCredentials, TokenEndpoint, TokenSource};
    /// use permiso::signing::Signer;
    ///
    /// let creds = ServiceCredentials::new(
    ///     "payment-service",
    ///     "payment-service-secret",
    ///     TokenEndpoint::Permiso("http://127.0.0.1:8000/api/v1".into()),
    /// );
    /// let signer = Signer::new(&creds);
    /// let users = RemoteService::new("http://127.0.0.1:8002", TokenSource::new(creds)?)?.signing(signer);
    /// let request = users.post("/api/v1/users").header("content-type", "application/json").body(r#"{"name": "Ada"}"#);
    /// # let _ = request;
    /// # Ok::<(), permiso::ConfigError>(())
    /// ```
    #[must_use]
    pub fn signing(mut self, signer: Signer) -> Self {
        self.http = Self::chain(&self.base, &self.client, &self.source, Some(signer));
        self
    }

    /// `path` joined to the base URL (one `/` between them).
    ///
    /// # Errors
    ///
    /// The path has a `.` or `..` segment in any spelling (`%2E%2E`, `.%2e`…), or the joined
    /// URL does not stay under the base URL: the caller's token must never reach a sibling
    /// service behind the same gateway.
    pub fn url(&self, path: &str) -> Result<String, PathError> {
        let joined = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let path_only = path.split(['?', '#']).next().unwrap_or(path);
        if path_only
            .split('/')
            .any(|s| matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | ".."))
        {
            return Err(PathError { why: "it has a dot segment" });
        }
        let parsed =
            reqwest::Url::parse(&joined).map_err(|_| PathError { why: "the joined URL is not a URL" })?;
        if !parsed.as_str().starts_with(&format!("{}/", self.base)) {
            return Err(PathError { why: "the joined URL leaves the base URL" });
        }
        Ok(joined)
    }

    /// A request with `method` to `path`. A path [`url`](Self::url) refuses is never sent:
    /// the request fails with [`PathError`] as its middleware error.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        match self.url(path) {
            Ok(url) => self.http.request(method, url),
            Err(refused) => self.http.request(method, format!("{}/", self.base)).with_extension(refused),
        }
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

/// A path that [`RemoteService`] will not join to its base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    why: &'static str,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the path is refused: {}", self.why)
    }
}

impl std::error::Error for PathError {}

/// Refuses a request whose path [`RemoteService::url`] refused, or whose URL left the base.
struct StayUnder {
    base: String,
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for StayUnder {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if let Some(refused) = extensions.get::<PathError>() {
            return Err(reqwest_middleware::Error::middleware(refused.clone()));
        }
        if !req.url().as_str().starts_with(&self.base) {
            return Err(reqwest_middleware::Error::middleware(PathError {
                why: "the joined URL leaves the base URL",
            }));
        }
        next.run(req, extensions).await
    }
}

impl fmt::Debug for RemoteService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteService").field("base", &self.base).finish_non_exhaustive()
    }
}
