//! [`RateLimitLayer`]: the rate-limit stage's check, and the service it makes when stacked
//! by hand.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::memory::Memory;
use super::policy::{Decision, OnLimitStoreError, Policy};
#[cfg(feature = "redis")]
use super::redis;
use crate::body::AuthBody;
use crate::context::{AuthContext, Authenticated, RequestLine, missing_layer_response};
use crate::error::{AuthError, AuthErrorKind};
use crate::signing::Known;

static POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
static STATE_HEADER: HeaderName = HeaderName::from_static("ratelimit");

pub(super) enum Store {
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

pub(super) struct Shared {
    pub(super) clients: HashMap<String, (Policy, HeaderValue), Fast>,
    pub(super) default: Option<(Policy, HeaderValue)>,
    pub(super) exempt: HashSet<String, Fast>,
    pub(super) store: Store,
    pub(super) on_store_error: OnLimitStoreError,
    pub(super) last_log: crate::log::Every,
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

/// Limits each verified client's requests per minute; see the [module docs](super). Made by
/// [`RateLimits::build`](super::RateLimits::build) or [`RateLimits::from_env`](super::RateLimits::from_env) and given to the
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
    pub(super) shared: Arc<Shared>,
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
    /// Writes `n` in decimal at `out[at..]`; answers where it ended.
    fn digits(out: &mut [u8; 64], at: usize, mut n: u64) -> usize {
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
        let len = buf.len() - i;
        out[at..at + len].copy_from_slice(&buf[i..]);
        at + len
    }
    // Built on the stack, copied once into the value: 15 + 10 + 3 + 20 bytes at most.
    const PREFIX: &[u8] = b"\"per-client\";r=";
    let mut v = [0u8; 64];
    v[..PREFIX.len()].copy_from_slice(PREFIX);
    let at = digits(&mut v, PREFIX.len(), u64::from(remaining));
    v[at..at + 3].copy_from_slice(b";t=");
    let end = digits(&mut v, at + 3, ceil_secs(reset));
    HeaderValue::from_bytes(&v[..end]).unwrap_or_else(|_| HeaderValue::from_static("\"per-client\""))
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
    /// after every check before it passed. `known` is what the layer knows of the request
    /// (`None`: the context and claims are read from the extensions).
    pub(crate) fn check<B>(&self, req: &Request<B>, known: Option<Known<'_>>) -> LimitStep {
        let (context, verified) = match known {
            Some(Known { context, claims }) => (context, claims),
            None => match req.extensions().get::<AuthContext>() {
                Some(context) => {
                    (context, req.extensions().get::<Authenticated>().map(Authenticated::claims))
                }
                None => return LimitStep::Refused(missing_layer_response(req.headers())),
            },
        };
        let shared = &self.shared;
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
        match &shared.store {
            Store::Memory(memory) => {
                let decision = memory.check(own.then_some(client), || counting_key(iss, client), *policy);
                let who = Counted { issuer: iss, client };
                match verdict(shared, context, who, RequestLine::of(req), policy_header, Ok(decision)) {
                    Verdict::Pass(headers) => LimitStep::Pass(headers),
                    Verdict::Refuse(res) => LimitStep::Refused(res),
                }
            }
            #[cfg(feature = "redis")]
            Store::Redis(_) => {
                let key = counting_key(iss, client);
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
        // A `SignatureLayer` stacked behind this one refuses to run (see `AuthContext`).
        if let Some(context) = req.extensions_mut().get_mut::<AuthContext>() {
            context.mark_rate_limited();
        }
        match self.layer.check(&req, None) {
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
        if let header::Entry::Vacant(slot) = map.entry(&POLICY_HEADER) {
            slot.insert(policy);
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
