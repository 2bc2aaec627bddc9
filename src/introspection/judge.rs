//! The introspection check: an issuer's endpoint, its answer cache, the calls in flight and
//! their counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::answer::claims_of;
use super::cache::{AnswerCache, Digest, Entry, Flight, Outcome, digest};
use super::config::{EndpointAuth, Introspection, IntrospectionStyle};
use super::endpoint::{Answer, CallError, Endpoint};
use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use crate::fetch::{FetchError, HttpPolicy, check_url};
use crate::log::Every;

const MAX_CACHE: Duration = Duration::from_secs(3600);
const MAX_NEGATIVE: Duration = Duration::from_secs(300);
const MIN_TIMEOUT: Duration = Duration::from_millis(10);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// An introspecting issuer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls made to the endpoint (each shared by every request that waited for it).
    pub calls: u64,
    /// Requests answered by a cached active answer.
    pub hits: u64,
    /// Requests answered by a cached inactive (or refused) answer.
    pub negative_hits: u64,
    /// Calls that got no usable answer (unreachable, slow, an error status, not RFC 7662).
    pub failures: u64,
    /// Requests accepted on an active answer past its cache lifetime, within the grace,
    /// because the endpoint could not answer.
    pub grace_uses: u64,
    /// Answers held now.
    pub entries: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    hits: AtomicU64,
    negative_hits: AtomicU64,
    failures: AtomicU64,
    grace_uses: AtomicU64,
}

/// An issuer's introspection, running.
pub(crate) struct Introspector {
    iss: Arc<str>,
    endpoint: Endpoint,
    cache: AnswerCache,
    cache_max: i64,
    negative: i64,
    grace: i64,
    timeout: Duration,
    slots: tokio::sync::Semaphore,
    counters: Counters,
    outage: Every,
}

/// Forgets a flight when dropped.
struct Landing<'a> {
    cache: &'a AnswerCache,
    key: Digest,
    flight: &'a Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.cache.land(&self.key, self.flight);
    }
}

/// The checks of a fresh active answer's claims that do not change while it is cached
/// (given by the verifier: refresh tokens, bindings, the issuer's rules).
pub(crate) type Finish<'a> = &'a (dyn Fn(Claims) -> Result<Arc<Claims>, AuthError> + Send + Sync);

impl Introspector {
    /// Checks `introspection` for the issuer `iss`: the one place its values are bounded.
    pub(crate) fn new(introspection: Introspection, iss: &str) -> Result<Self, ConfigError> {
        let invalid = |what: String| ConfigError::new(ConfigErrorKind::Invalid, what);
        let policy =
            if introspection.allow_http { HttpPolicy::AllowHttp } else { HttpPolicy::HttpsOrLoopback };
        let url = check_url(&introspection.url, policy)
            .map_err(|why| invalid(format!("the introspection url {why}")).at("introspection.url"))?;
        if matches!(introspection.auth, EndpointAuth::Unset) {
            return Err(ConfigError::new(
                ConfigErrorKind::Missing,
                "introspection needs client credentials (client_id and client_secret) or a bearer token source",
            )
            .at("introspection.client_id"));
        }
        if introspection.style == IntrospectionStyle::Permiso
            && !matches!(introspection.auth, EndpointAuth::Bearer(_))
        {
            return Err(invalid(
                "permiso's introspection endpoint takes a bearer token, not client_secret_basic or client_secret_post"
                    .into(),
            )
            .at("introspection.auth"));
        }
        if introspection.cache_max.is_zero() || introspection.cache_max > MAX_CACHE {
            return Err(invalid("cache_max must be between 1 second and 1 hour".into())
                .at("introspection.cache_max_secs"));
        }
        if introspection.negative_cache > MAX_NEGATIVE {
            return Err(invalid("negative_cache must be at most 5 minutes".into())
                .at("introspection.negative_cache_secs"));
        }
        if introspection.grace > MAX_CACHE {
            return Err(invalid("grace must be at most 1 hour".into()).at("introspection.grace_secs"));
        }
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&introspection.timeout) {
            return Err(
                invalid("timeout must be between 10 ms and 60 s".into()).at("introspection.timeout_ms")
            );
        }
        if introspection.max_entries == 0 {
            return Err(invalid("the cache needs room for 1 entry at least".into())
                .at("introspection.cache_max_entries"));
        }
        if introspection.max_bytes < 64 * 1024 {
            return Err(invalid("the cache needs 64 KiB at least".into()).at("introspection.cache_max_bytes"));
        }
        if introspection.max_concurrent_calls == 0 {
            return Err(invalid("max_concurrent_calls must be at least 1".into())
                .at("introspection.max_concurrent_calls"));
        }
        let http = crate::fetch::client(None)
            .map_err(|_| ConfigError::new(ConfigErrorKind::Invalid, "the HTTP client could not be built"))?;
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            iss: iss.into(),
            endpoint: Endpoint { url, style: introspection.style, auth: introspection.auth, http },
            cache: AnswerCache::new(introspection.max_entries, introspection.max_bytes),
            cache_max: secs(introspection.cache_max),
            negative: secs(introspection.negative_cache),
            grace: secs(introspection.grace),
            timeout: introspection.timeout,
            slots: tokio::sync::Semaphore::new(introspection.max_concurrent_calls),
            counters: Counters::default(),
            outage: Every::second(),
        })
    }

    /// The cached answer for `token`, without waiting: `None` when the endpoint must be
    /// asked.
    pub(crate) fn cached(&self, token: &str, now: i64) -> Option<Result<Arc<Claims>, AuthError>> {
        self.cached_by(&digest(token), now)
    }

    fn cached_by(&self, key: &Digest, now: i64) -> Option<Result<Arc<Claims>, AuthError>> {
        match self.cache.get(key)? {
            Entry::Active { claims, fresh_until, .. } if now < fresh_until => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                crate::metrics::introspection("hit");
                Some(Ok(claims))
            }
            Entry::Refused { err, until } if now < until => {
                self.counters.negative_hits.fetch_add(1, Ordering::Relaxed);
                crate::metrics::introspection("negative_hit");
                Some(Err(err))
            }
            _ => None,
        }
    }

    /// Asks the endpoint about `token` (one call for all the requests that ask at once),
    /// caches the answer, and gives it. `now` reads the verifier's clock.
    pub(crate) async fn judge(
        &self,
        token: &str,
        now: &(dyn Fn() -> i64 + Send + Sync),
        finish: Finish<'_>,
    ) -> Result<Arc<Claims>, AuthError> {
        let key = digest(token);
        let flight: Flight = match self.cache.flight(key, || self.cached_by(&key, now())) {
            Ok(flight) => flight,
            Err(done) => return done,
        };
        // Forgotten when this request is done or dropped (a caller that disconnects must
        // not leave its flight behind): later requests then start their own.
        let landing = Landing { cache: &self.cache, key, flight: &flight };
        let outcome = flight.get_or_init(|| self.call(token, key, now, finish)).await.clone();
        drop(landing);
        match outcome {
            Outcome::Active(claims) => Ok(claims),
            Outcome::Refused(err) => Err(err),
            Outcome::Failed => self
                .grace(&key, now())
                .ok_or_else(|| AuthError::new(AuthErrorKind::IntrospectionUnavailable).with_retry_after(1)),
        }
    }

    /// A known-active answer past its cache lifetime, within the grace and the token's `exp`.
    fn grace(&self, key: &Digest, now: i64) -> Option<Arc<Claims>> {
        match self.cache.get(key)? {
            Entry::Active { claims, keep_until, .. } if now < keep_until && now < claims.expires_at() => {
                self.counters.grace_uses.fetch_add(1, Ordering::Relaxed);
                crate::metrics::introspection("grace");
                Some(claims)
            }
            _ => None,
        }
    }

    async fn call(
        &self,
        token: &str,
        key: Digest,
        now: &(dyn Fn() -> i64 + Send + Sync),
        finish: Finish<'_>,
    ) -> Outcome {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let asked = tokio::time::timeout(self.timeout, async {
            let _slot = self.slots.acquire().await.map_err(|_| CallError::Fetch(FetchError::Unreachable))?;
            self.endpoint.ask(token, self.timeout).await
        })
        .await;
        let t = now();
        let answer = match asked {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => return self.failed(Some(err)),
            Err(_) => return self.failed(None),
        };
        let claims = match answer {
            Answer::Inactive => {
                crate::metrics::introspection("inactive");
                Err(AuthError::new(AuthErrorKind::Inactive))
            }
            Answer::Active(map) => {
                crate::metrics::introspection("active");
                claims_of(map, token, &self.iss, t, self.cache_max).and_then(finish)
            }
        };
        match claims {
            Ok(claims) => {
                let fresh_until = t.saturating_add(self.cache_max).min(claims.expires_at());
                let keep_until = fresh_until.saturating_add(self.grace).min(claims.expires_at());
                let entry = Entry::Active { claims: Arc::clone(&claims), fresh_until, keep_until };
                self.cache.insert(key, entry, t, keep_until.max(fresh_until));
                Outcome::Active(claims)
            }
            Err(err) => {
                let until = t.saturating_add(self.negative);
                self.cache.insert(key, Entry::Refused { err: err.clone(), until }, t, until);
                Outcome::Refused(err)
            }
        }
    }

    fn failed(&self, why: Option<CallError>) -> Outcome {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        crate::metrics::introspection("error");
        if self.outage.due() {
            let why = match why {
                None => "no answer within the timeout".to_owned(),
                Some(CallError::OwnToken) => "the resource server's own token could not be had".to_owned(),
                Some(CallError::Fetch(e)) => format!("{e:?}"),
            };
            crate::log::warn!(issuer = %self.iss, why = %why, "introspection endpoint failed; answering 503");
            let _ = why;
        }
        Outcome::Failed
    }

    pub(crate) fn stats(&self) -> IntrospectionStats {
        let c = &self.counters;
        IntrospectionStats {
            calls: c.calls.load(Ordering::Relaxed),
            hits: c.hits.load(Ordering::Relaxed),
            negative_hits: c.negative_hits.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            grace_uses: c.grace_uses.load(Ordering::Relaxed),
            entries: self.cache.entries(),
        }
    }

    /// The endpoint's URL and style, for `Debug`.
    pub(crate) fn describe(&self) -> (&str, &'static str) {
        let style = match self.endpoint.style {
            IntrospectionStyle::Rfc7662 => "rfc7662",
            IntrospectionStyle::Permiso => "permiso",
        };
        (self.endpoint.url.as_str(), style)
    }
}
