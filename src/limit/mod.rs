//! Per-client rate limits, a stage of [`AuthLayer`](crate::AuthLayer) (feature `rate-limit`).
//!
//! A [`RateLimitLayer`] given to the layer
//! ([`AuthLayerBuilder::rate_limits`](crate::AuthLayerBuilder::rate_limits)) counts each request
//! against the **verified** client (`client_id`, else `sub`, of the token the layer verified),
//! once every check before it passed (token, request signature), with GCRA: `per_minute`
//! requests a minute, evenly replenished, of which up to `burst` may come at once (by
//! default a whole minute's worth). A client over its limit gets 429 with `Retry-After`, the
//! IETF `RateLimit-Policy` / `RateLimit` fields (`"per-client";q=120;w=60` and
//! `"per-client";r=0;t=1`) and a JSON body `{"error": "rate_limited", …}`; allowed responses
//! carry the two `RateLimit` fields too, so well-behaved callers can pace themselves.
//!
//! Clients with an entry get their own limit; others get the default, if one is set (without
//! one they are not limited); exempt clients are never limited. Requests without a verified
//! token (an optional `AuthLayer`) are not counted. Clients are counted per issuer: named
//! limits and exemptions belong to the verifier's first issuer (the only one in a
//! single-issuer configuration), and a token of another issuer naming the same `client_id`
//! gets the default limit in a bucket of its own — never another issuer's exemption or
//! bucket.
//!
//! Two stores: in-process (the default: [`governor`](https://docs.rs/governor)'s GCRA, each
//! replica counting on its own) and Redis (feature `redis`: one atomic script per request on
//! key `permiso:rate_limit:<iss>:<client_id>`, so the whole fleet shares one count). Every Redis
//! call is bounded by a timeout (50 ms by default); when Redis cannot answer, requests are
//! allowed (the default) or refused with 503 ([`OnLimitStoreError`]), and Redis is left alone
//! for a second before it is asked again.
//!
//! ```
//! use axum::{Router, routing::get};
//! use permiso::limit::RateLimits;
//! use permiso::{AuthLayer, Issuer, Verifier};
//!
//! # let verifier = Verifier::builder(["a"]).issuer(Issuer::permiso("a", "0123456789abcdef0123456789abcdef")).build().unwrap();
//! let limits = RateLimits::new()
//!     .client("payment-service", 120) // its registered rate_limit_per_minute
//!     .default_per_minute(60)
//!     .exempt("billing-batch")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/api/v1/transactions", get(|| async { "[]" }))
//!     .layer(AuthLayer::builder(verifier).rate_limits(limits).build());
//! # let _ = app;
//! # Ok::<(), permiso::ConfigError>(())
//! ```
//!
//! Configuration from the environment or TOML: [`RateLimits::from_env`].

mod config;
mod memory;
mod policy;
#[cfg(feature = "redis")]
mod redis;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::AuthBody;
use crate::clock::Clock;
use crate::context::{AuthContext, Authenticated, RateLimitRan, RequestLine, missing_layer_response};
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use memory::{LimitClock, Memory};
use policy::{Decision, Policy};

/// The Redis key prefix of the fleet-wide store: `permiso:rate_limit:<iss>:<client_id>` (the
/// issuer with `:` and `%` percent-encoded).
pub const DEFAULT_RATE_LIMIT_KEY_PREFIX: &str = "permiso:rate_limit:";
/// How long one Redis call may take before the store counts as unavailable.
pub const DEFAULT_RATE_LIMIT_TIMEOUT: Duration = Duration::from_millis(50);

static POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
static STATE_HEADER: HeaderName = HeaderName::from_static("ratelimit");

/// What to do with a request when the shared (Redis) store cannot answer in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLimitStoreError {
    /// Let it through, unlimited (the default: a limiter outage must not take the service
    /// down). Logged at most once a second.
    #[default]
    Allow,
    /// Refuse it with 503 `temporarily_unavailable` and `Retry-After: 1`.
    Reject,
}

/// The settings of a [`RateLimitLayer`]; every one is checked at [`build`](Self::build).
///
/// ```
/// use permiso::limit::RateLimits;
///
/// let layer = RateLimits::new().client("payment-service", 120).burst(20).build().unwrap();
/// # let _ = layer;
/// ```
#[must_use]
pub struct RateLimits {
    clients: HashMap<String, u32>,
    default: Option<u32>,
    burst: Option<u32>,
    exempt: HashSet<String>,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "redis")]
    redis: Option<String>,
    #[cfg(feature = "redis")]
    key_prefix: Arc<str>,
    on_store_error: OnLimitStoreError,
    timeout: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimits {
    /// No limits yet: add clients, a default, or both.
    pub fn new() -> Self {
        Self {
            clients: HashMap::new(),
            default: None,
            burst: None,
            exempt: HashSet::new(),
            clock: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            key_prefix: DEFAULT_RATE_LIMIT_KEY_PREFIX.into(),
            on_store_error: OnLimitStoreError::Allow,
            timeout: DEFAULT_RATE_LIMIT_TIMEOUT,
        }
    }

    /// The limit of client `client_id`, in requests per minute (permiso's
    /// `rate_limit_per_minute`).
    pub fn client(mut self, client_id: impl Into<String>, per_minute: u32) -> Self {
        self.clients.insert(client_id.into(), per_minute);
        self
    }

    /// The limit of every client without its own entry (default: none, not limited).
    pub fn default_per_minute(mut self, per_minute: u32) -> Self {
        self.default = Some(per_minute);
        self
    }

    /// How many requests may come at once (default: each limit's own per-minute count, a
    /// whole minute's worth). One burst for every limit.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// A client that is never limited.
    pub fn exempt(mut self, client_id: impl Into<String>) -> Self {
        self.exempt.insert(client_id.into());
        self
    }

    /// The in-process store's clock (default: a monotonic clock). For tests: with a
    /// [`ManualClock`](crate::ManualClock), limits replenish only when it moves.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Counts in Redis, shared by every replica (feature `redis`): one server, a Cluster seed
    /// list, or `redis+cluster://…` (see [`RedisTarget`](crate::RedisTarget)).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// Another Redis key prefix (default [`DEFAULT_RATE_LIMIT_KEY_PREFIX`]).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn key_prefix(mut self, prefix: impl Into<Arc<str>>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// What happens when Redis cannot answer (default [`OnLimitStoreError::Allow`]).
    pub fn on_store_error(mut self, choice: OnLimitStoreError) -> Self {
        self.on_store_error = choice;
        self
    }

    /// How long one Redis call may take (default 50 ms; from 1 ms to 10 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and makes the layer. Nothing connects to Redis until the first
    /// request.
    ///
    /// # Errors
    ///
    /// No limit at all; a limit or burst of 0; a timeout out of range; a bad Redis URL.
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        let invalid = |m: String| ConfigError::new(ConfigErrorKind::Invalid, format!("rate limits: {m}"));
        if self.clients.is_empty() && self.default.is_none() {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "rate limits: give a default limit or at least one client's",
            ));
        }
        if let Some((id, _)) = self.clients.iter().find(|(_, n)| **n == 0) {
            return Err(
                invalid(format!("the limit of {id:?} is 0 requests a minute")).at("rate_limits.clients")
            );
        }
        if self.default == Some(0) {
            return Err(invalid("the default limit is 0 requests a minute".into()).at("rate_limits.default"));
        }
        if self.burst == Some(0) {
            return Err(invalid("the burst is 0".into()).at("rate_limits.burst"));
        }
        if self.timeout < Duration::from_millis(1) || self.timeout > Duration::from_secs(10) {
            return Err(invalid("the store timeout must be from 1 ms to 10 s".into())
                .at("rate_limits.redis_timeout_ms"));
        }
        let policy = |per_minute: u32| Policy { per_minute, burst: self.burst.unwrap_or(per_minute) };
        let clients: HashMap<String, Policy> =
            self.clients.iter().map(|(id, n)| (id.clone(), policy(*n))).collect();
        let default = self.default.map(policy);
        let clock = match self.clock {
            Some(c) => LimitClock::Given(c),
            None => LimitClock::Monotonic(Instant::now()),
        };
        #[cfg(feature = "redis")]
        let store = match &self.redis {
            Some(url) => Store::Redis(redis::RedisStore::new(
                crate::redis::RedisTarget::parse(url)
                    .map_err(|e| invalid(e.to_string()).at("rate_limits.redis_url"))?,
                Arc::clone(&self.key_prefix),
                self.timeout,
            )),
            None => Store::Memory(Memory::new(&clients, default, clock)),
        };
        #[cfg(not(feature = "redis"))]
        let store = Store::Memory(Memory::new(&clients, default, clock));
        let policy_header = |p: Policy| {
            HeaderValue::try_from(format!("\"per-client\";q={};w=60", p.per_minute))
                .unwrap_or_else(|_| HeaderValue::from_static("\"per-client\""))
        };
        Ok(RateLimitLayer {
            shared: Arc::new(Shared {
                clients: clients.into_iter().map(|(id, p)| (id, (p, policy_header(p)))).collect(),
                default: default.map(|p| (p, policy_header(p))),
                exempt: self.exempt.into_iter().collect(),
                store,
                on_store_error: self.on_store_error,
                last_log: crate::log::Every::second(),
            }),
        })
    }
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RateLimits");
        d.field("clients", &self.clients)
            .field("default_per_minute", &self.default)
            .field("burst", &self.burst)
            .field("exempt", &self.exempt);
        #[cfg(feature = "redis")]
        d.field("redis", &self.redis.as_deref().map(crate::redis::redact));
        d.field("on_store_error", &self.on_store_error).field("store_timeout", &self.timeout).finish()
    }
}

enum Store {
    Memory(Memory),
    #[cfg(feature = "redis")]
    Redis(redis::RedisStore),
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Self::Redis(_) => "redis",
        }
    }
}

/// Client ids are hashed on every request: a fast hasher, randomly seeded.
type Fast = foldhash::fast::RandomState;

struct Shared {
    clients: HashMap<String, (Policy, HeaderValue), Fast>,
    default: Option<(Policy, HeaderValue)>,
    exempt: HashSet<String, Fast>,
    store: Store,
    on_store_error: OnLimitStoreError,
    last_log: crate::log::Every,
}

impl Shared {
    /// The policy for `client`, if it is limited at all. Named limits and exemptions are the
    /// first issuer's (`own`): another issuer's token naming the same `client_id` gets the
    /// default, in a bucket of its own.
    fn policy(&self, client: &str, own: bool) -> Option<&(Policy, HeaderValue)> {
        if !own {
            return self.default.as_ref();
        }
        if self.exempt.contains(client) {
            return None;
        }
        self.clients.get(client).or(self.default.as_ref())
    }
}

/// The key a client is counted under: `<iss>:<client_id>`, with `%` and `:` of the issuer
/// percent-encoded so the first raw `:` ends it (`https%3A//auth.example.com:payment-service`).
fn counting_key(iss: &str, client: &str) -> String {
    let mut key = String::with_capacity(iss.len() + client.len() + 8);
    for c in iss.chars() {
        match c {
            '%' => key.push_str("%25"),
            ':' => key.push_str("%3A"),
            c => key.push(c),
        }
    }
    key.push(':');
    key.push_str(client);
    key
}

/// Limits each verified client's requests per minute; see the [module docs](self). Made by
/// [`RateLimits::build`] or [`RateLimits::from_env`] and given to the
/// [`AuthLayer`](crate::AuthLayer) with
/// [`AuthLayerBuilder::rate_limits`](crate::AuthLayerBuilder::rate_limits): the layer counts
/// a request only once its token and signature passed, and its `on_rejection` shapes the 429s.
///
/// It is also a tower layer of its own, for services written before the builder: stacked
/// inside the `AuthLayer`, and inside a hand-stacked
/// [`SignatureLayer`](crate::signing::SignatureLayer) (`.layer(limits).layer(signing)`); a
/// `SignatureLayer` behind it answers 500.
#[derive(Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        let mut d = f.debug_struct("RateLimitLayer");
        d.field("clients", &s.clients.len())
            .field("default", &s.default.as_ref().map(|(p, _)| p.per_minute))
            .field("exempt", &s.exempt.len())
            .field("store", &s.store.name());
        #[cfg(feature = "redis")]
        if let Store::Redis(store) = &s.store {
            d.field("key_prefix", &store.prefix());
        }
        d.field("on_store_error", &s.on_store_error).finish()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService { inner, layer: self.clone() }
    }
}

/// The service made by [`RateLimitLayer`] when it is stacked by hand.
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService").finish_non_exhaustive()
    }
}

/// Whole seconds, rounded up (a client told to wait 0 s would come straight back).
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The `RateLimit` field: `"per-client";r=<remaining>;t=<seconds>`, written without the
/// formatting machinery (it is on every allowed response).
fn state_header(remaining: u32, reset: Duration) -> HeaderValue {
    fn digits(out: &mut Vec<u8>, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&buf[i..]);
    }
    let mut v = Vec::with_capacity(48);
    v.extend_from_slice(b"\"per-client\";r=");
    digits(&mut v, u64::from(remaining));
    v.extend_from_slice(b";t=");
    digits(&mut v, ceil_secs(reset));
    HeaderValue::from_maybe_shared(Bytes::from(v))
        .unwrap_or_else(|_| HeaderValue::from_static("\"per-client\""))
}

/// The answer for one decision: headers for an allowed response, or the 429/503.
enum Verdict {
    Pass(Option<[HeaderValue; 2]>),
    Refuse(Response<Bytes>),
}

/// Who is counted: the verified issuer and the client id (or `sub`) the limit is keyed by.
struct Counted<'a> {
    issuer: &'a str,
    client: &'a str,
}

impl Counted<'_> {
    /// `err` with the issuer and client it refused, for its rejection event and metric.
    fn about(&self, err: AuthError) -> AuthError {
        err.about_issuer(&Arc::from(self.issuer)).about_client(Some(self.client))
    }
}

fn verdict(
    shared: &Shared,
    context: &AuthContext,
    who: Counted<'_>,
    line: RequestLine<'_>,
    policy_header: &HeaderValue,
    decision: Result<Decision, ()>,
) -> Verdict {
    let client = who.client;
    let store = shared.store.name();
    match decision {
        Ok(Decision::Allowed { remaining, reset }) => {
            crate::metrics::rate_limit("allowed", store, Some(client));
            Verdict::Pass(Some([policy_header.clone(), state_header(remaining, reset)]))
        }
        Ok(Decision::Unlimited) => {
            crate::metrics::rate_limit("exempt", store, Some(client));
            Verdict::Pass(None)
        }
        Ok(Decision::Limited { retry_after }) => {
            crate::metrics::rate_limit("limited", store, Some(client));
            let wait = ceil_secs(retry_after).max(1);
            let err = who.about(AuthError::new(AuthErrorKind::RateLimited).with_retry_after(wait));
            let mut res = context.render(&err, line);
            let headers = res.headers_mut();
            headers.insert(POLICY_HEADER.clone(), policy_header.clone());
            headers.insert(STATE_HEADER.clone(), state_header(0, retry_after));
            if !headers.contains_key(header::RETRY_AFTER) {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            Verdict::Refuse(res)
        }
        Err(()) => match shared.on_store_error {
            OnLimitStoreError::Allow => {
                crate::metrics::rate_limit("store_error_allowed", store, Some(client));
                if shared.last_log.due() {
                    crate::log::warn!(
                        "the rate-limit store cannot answer; letting requests through (on_store_error = allow)"
                    );
                }
                Verdict::Pass(None)
            }
            OnLimitStoreError::Reject => {
                crate::metrics::rate_limit("store_error_rejected", store, Some(client));
                if shared.last_log.due() {
                    crate::log::warn!(
                        "the rate-limit store cannot answer; refusing requests (on_store_error = reject)"
                    );
                }
                let err = who.about(AuthError::new(AuthErrorKind::RateLimitUnavailable).with_retry_after(1));
                Verdict::Refuse(context.render(&err, line))
            }
        },
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The headers of an allowed response (`RateLimit-Policy`, `RateLimit`), if it was counted.
pub(crate) type Allowed = Option<[HeaderValue; 2]>;

/// What the rate-limit stage decided for one request.
pub(crate) enum LimitStep {
    /// Go on; put these headers on the response.
    Pass(Allowed),
    /// Answer this (429, or 503 when the store cannot answer and the policy is `reject`).
    Refused(Response<Bytes>),
    /// Asking the shared store; then one of the two above.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Asking(BoxFuture<Result<Allowed, Response<Bytes>>>),
}

impl RateLimitLayer {
    /// Counts `req` against its verified client: the rate-limit stage of an `AuthLayer`, run
    /// after every check before it passed. Marks the request so that a `SignatureLayer`
    /// stacked behind it by hand refuses to run.
    pub(crate) fn check<B>(&self, req: &mut Request<B>) -> LimitStep {
        req.extensions_mut().insert(RateLimitRan);
        let Some(context) = req.extensions().get::<AuthContext>() else {
            return LimitStep::Refused(missing_layer_response(req.headers()));
        };
        let shared = &self.shared;
        let verified = req.extensions().get::<Authenticated>().map(Authenticated::claims);
        let Some((iss, client)) =
            verified.and_then(|c| Some((c.issuer(), c.client_id().or_else(|| c.subject())?)))
        else {
            // No verified client (an optional AuthLayer let an anonymous request through).
            return LimitStep::Pass(None);
        };
        let own = context.primary_issuer() == Some(iss);
        let Some((policy, policy_header)) = shared.policy(client, own) else {
            crate::metrics::rate_limit("exempt", shared.store.name(), Some(client));
            return LimitStep::Pass(None);
        };
        let key = counting_key(iss, client);
        match &shared.store {
            Store::Memory(memory) => {
                let decision = memory.check(own.then_some(client), &key, *policy);
                let who = Counted { issuer: iss, client };
                match verdict(shared, context, who, RequestLine::of(req), policy_header, Ok(decision)) {
                    Verdict::Pass(headers) => LimitStep::Pass(headers),
                    Verdict::Refuse(res) => LimitStep::Refused(res),
                }
            }
            #[cfg(feature = "redis")]
            Store::Redis(_) => {
                let (shared, context) = (Arc::clone(shared), context.clone());
                let (iss, client) = (iss.to_owned(), client.to_owned());
                let (policy, policy_header) = (*policy, policy_header.clone());
                let (method, uri) = (req.method().clone(), req.uri().clone());
                LimitStep::Asking(Box::pin(async move {
                    let Store::Redis(store) = &shared.store else { unreachable!("the store was Redis") };
                    let decision = store.check(&key, policy).await.map_err(|_| ());
                    let who = Counted { issuer: &iss, client: &client };
                    let line = RequestLine::new(&method, &uri);
                    match verdict(&shared, &context, who, line, &policy_header, decision) {
                        Verdict::Pass(headers) => Ok(headers),
                        Verdict::Refuse(res) => Err(res),
                    }
                }))
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimitService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = LimitFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.layer.check(&mut req) {
            LimitStep::Pass(headers) => LimitFuture::pass(self.inner.call(req), headers),
            LimitStep::Refused(res) => LimitFuture::refuse(res),
            LimitStep::Asking(ask) => {
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                LimitFuture::boxed(Box::pin(async move {
                    match ask.await {
                        Ok(headers) => {
                            let res = inner.call(req).await?;
                            Ok(with_headers(res.map(AuthBody::inner), headers))
                        }
                        Err(res) => Ok(res.map(AuthBody::rejection)),
                    }
                }))
            }
        }
    }
}

pub(crate) fn with_headers<B>(mut res: Response<B>, headers: Option<[HeaderValue; 2]>) -> Response<B> {
    if let Some([policy, state]) = headers {
        let map = res.headers_mut();
        // The handler's own fields, if it set any, are left alone.
        if !map.contains_key(&POLICY_HEADER) {
            map.insert(POLICY_HEADER.clone(), policy);
            map.insert(STATE_HEADER.clone(), state);
        }
    }
    res
}

pin_project! {
    /// The response future of [`RateLimitService`].
    pub struct LimitFuture<F, B, E> {
        #[pin]
        state: LimitState<F, B, E>,
    }
}

pin_project! {
    #[project = LimitProj]
    enum LimitState<F, B, E> {
        Refused { response: Option<Response<Bytes>> },
        Calling { #[pin] future: F, headers: Option<[HeaderValue; 2]> },
        Boxed { future: BoxFuture<Result<Response<AuthBody<B>>, E>> },
    }
}

impl<F, B, E> LimitFuture<F, B, E> {
    fn refuse(response: Response<Bytes>) -> Self {
        Self { state: LimitState::Refused { response: Some(response) } }
    }

    fn pass(future: F, headers: Option<[HeaderValue; 2]>) -> Self {
        Self { state: LimitState::Calling { future, headers } }
    }

    fn boxed(future: BoxFuture<Result<Response<AuthBody<B>>, E>>) -> Self {
        Self { state: LimitState::Boxed { future } }
    }
}

impl<F, B, E> Future for LimitFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<AuthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            LimitProj::Refused { response } => {
                let res = response.take().expect("permiso's LimitFuture was polled after it completed");
                Poll::Ready(Ok(res.map(AuthBody::rejection)))
            }
            LimitProj::Calling { future, headers } => {
                let res = std::task::ready!(future.poll(cx))?;
                Poll::Ready(Ok(with_headers(res.map(AuthBody::inner), headers.take())))
            }
            LimitProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for LimitFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitFuture").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_field_is_written_as_the_draft_says() {
        assert_eq!(state_header(0, Duration::from_millis(500)), "\"per-client\";r=0;t=1");
        assert_eq!(state_header(119, Duration::from_secs(0)), "\"per-client\";r=119;t=0");
        assert_eq!(state_header(u32::MAX, Duration::from_secs(60)), "\"per-client\";r=4294967295;t=60");
    }
}
