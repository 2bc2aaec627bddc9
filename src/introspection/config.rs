//! An issuer's introspection as configured: the endpoint, how to authenticate to it, and
//! the cache's bounds; checked when the verifier is built (`judge.rs`).

use std::fmt;
use std::time::Duration;

use crate::client::{ClientSecret, TokenSource};

/// Default lifetime of an active answer in the cache.
pub const DEFAULT_CACHE_MAX: Duration = Duration::from_secs(60);
/// Default lifetime of an inactive answer in the cache.
pub const DEFAULT_NEGATIVE_CACHE: Duration = Duration::from_secs(10);
/// Default time one introspection call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound of the answer cache, in entries.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// Default bound of the answer cache, in bytes.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Default bound of calls in flight to the endpoint at once.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 64;

/// The request shape the endpoint expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntrospectionStyle {
    /// RFC 7662: a form body `token=…&token_type_hint=access_token`.
    Rfc7662,
    /// The permiso auth server's `POST /api/v1/auth/introspect`: a JSON body `{"token": …}`,
    /// authenticated with the resource server's own service token.
    Permiso,
}

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone)]
pub(crate) enum EndpointAuth {
    /// Not given yet: `build` refuses it (RFC 7662 §2.1 requires authorization).
    Unset,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: ClientSecret },
    /// `client_id` and `client_secret` as form fields.
    Post { client_id: String, secret: ClientSecret },
    /// The resource server's own access token.
    Bearer(TokenSource),
}

impl fmt::Debug for EndpointAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => f.write_str("unset"),
            Self::Basic { client_id, .. } => write!(f, "client_secret_basic({client_id})"),
            Self::Post { client_id, .. } => write!(f, "client_secret_post({client_id})"),
            Self::Bearer(_) => f.write_str("bearer"),
        }
    }
}

/// An issuer's introspection endpoint and how its answers are cached. Given to
/// [`Issuer::introspected`](crate::Issuer::introspected),
/// [`Issuer::permiso_introspected`](crate::Issuer::permiso_introspected) or
/// [`Issuer::introspection`](crate::Issuer::introspection); checked when the verifier is
/// built.
///
/// ```
/// use std::time::Duration;
/// use permiso::introspection::Introspection;
///
/// let introspection = Introspection::rfc7662("https://idp.example/oauth2/introspect")
///     .client_secret_post("payments-api", "its-secret")
///     .cache_max(Duration::from_secs(120))
///     .negative_cache(Duration::from_secs(5))
///     .grace(Duration::from_secs(30))
///     .timeout(Duration::from_millis(500))
///     .cache_limits(50_000, 16 * 1024 * 1024);
/// assert!(!format!("{introspection:?}").contains("its-secret"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct Introspection {
    pub(crate) url: String,
    pub(crate) style: IntrospectionStyle,
    pub(crate) auth: EndpointAuth,
    pub(crate) cache_max: Duration,
    pub(crate) negative_cache: Duration,
    pub(crate) grace: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: usize,
    pub(crate) max_concurrent_calls: usize,
    pub(crate) allow_http: bool,
}

impl Introspection {
    fn new(url: impl Into<String>, style: IntrospectionStyle, auth: EndpointAuth) -> Self {
        Self {
            url: url.into(),
            style,
            auth,
            cache_max: DEFAULT_CACHE_MAX,
            negative_cache: DEFAULT_NEGATIVE_CACHE,
            grace: Duration::ZERO,
            timeout: DEFAULT_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            allow_http: false,
        }
    }

    /// An RFC 7662 endpoint. Say how to authenticate to it with
    /// [`client_secret_basic`](Self::client_secret_basic),
    /// [`client_secret_post`](Self::client_secret_post) or [`bearer`](Self::bearer).
    pub fn rfc7662(url: impl Into<String>) -> Self {
        Self::new(url, IntrospectionStyle::Rfc7662, EndpointAuth::Unset)
    }

    /// The permiso auth server's `POST {AUTH_SERVICE_URL}/auth/introspect`, with `own`
    /// supplying the resource server's own service token as bearer.
    pub fn permiso(url: impl Into<String>, own: TokenSource) -> Self {
        Self::new(url, IntrospectionStyle::Permiso, EndpointAuth::Bearer(own))
    }

    /// Authenticates with HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1).
    pub fn client_secret_basic(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth = EndpointAuth::Basic { client_id: client_id.into(), secret: ClientSecret::new(secret) };
        self
    }

    /// Authenticates with `client_id` and `client_secret` form fields (`client_secret_post`).
    pub fn client_secret_post(mut self, client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth = EndpointAuth::Post { client_id: client_id.into(), secret: ClientSecret::new(secret) };
        self
    }

    /// Authenticates with the resource server's own access token from `own`, refreshed once
    /// when the endpoint answers 401.
    pub fn bearer(mut self, own: TokenSource) -> Self {
        self.auth = EndpointAuth::Bearer(own);
        self
    }

    /// The longest an active answer is trusted without asking again (default 60 s, at most
    /// one hour); never past the token's `exp`. A token revoked at the issuer is refused at
    /// the latest this long after.
    pub fn cache_max(mut self, max: Duration) -> Self {
        self.cache_max = max;
        self
    }

    /// How long an inactive answer is kept (default 10 s, at most 5 minutes; zero: not kept).
    pub fn negative_cache(mut self, ttl: Duration) -> Self {
        self.negative_cache = ttl;
        self
    }

    /// While the endpoint cannot answer, a token whose active answer left the cache less than
    /// this long ago is still accepted (until its `exp`); default zero (off), at most one
    /// hour. Each use is counted in [`IntrospectionStats::grace_uses`](super::IntrospectionStats::grace_uses).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The longest one introspection call may take, waiting for a free call slot included
    /// (default 2 s, between 10 ms and 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bounds the answer cache: at most `max_entries` answers and about `max_bytes` bytes
    /// (defaults 100,000 and 32 MiB).
    pub fn cache_limits(mut self, max_entries: usize, max_bytes: usize) -> Self {
        self.max_entries = max_entries;
        self.max_bytes = max_bytes;
        self
    }

    /// At most this many calls in flight to the endpoint at once (default 64); more wait for
    /// a slot within the [timeout](Self::timeout).
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.max_concurrent_calls = calls;
        self
    }

    /// Allows a plain `http://` endpoint beyond loopback. The token and the client secret
    /// then cross the network in clear text: development networks only.
    pub fn dangerous_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// The request shape.
    pub fn style(&self) -> IntrospectionStyle {
        self.style
    }
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("url", &self.url)
            .field("style", &self.style)
            .field("auth", &self.auth)
            .field("cache_max", &self.cache_max)
            .field("negative_cache", &self.negative_cache)
            .field("grace", &self.grace)
            .field("timeout", &self.timeout)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}
