//! Every metric permiso records, in one place, through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`). permiso installs no recorder and no exporter: install the one
//! you use (`metrics-exporter-prometheus`, OpenTelemetry, statsd…) and the series appear.
//! Without a recorder each call is one atomic load.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `permiso_requests_total` | counter | `outcome`, `reason`, `issuer` (+ `client_id`) | every request through `AuthLayer`: `outcome` is `accepted`, `anonymous` (optional mode, no token) or `rejected`; `reason` is `none` or the rejection's [`AuthErrorKind::reason`] |
//! | `permiso_denials_total` | counter | `reason`, `issuer` (+ `client_id`) | refusals behind the layer: extractors, `RequireLayer`, request signatures, rate limits |
//! | `permiso_verification_duration_seconds` | histogram | `path` | time to verify one token: `cached` (a verified-token cache hit) or `cold` (every check, keys included) |
//! | `permiso_token_cache_lookups_total` | counter | `result` | verified-token cache `hit` / `miss`: the hit ratio is `hit / (hit + miss)` |
//! | `permiso_token_cache_entries` | gauge | | tokens in the verified-token cache (after each insert) |
//! | `permiso_key_fetches_total` | counter | `issuer`, `result` | key set fetches: `ok` or `error` |
//! | `permiso_key_set_age_seconds` | gauge | `issuer` | seconds since the keys in use were fetched (set at each fetch and each cold verification) |
//! | `permiso_revocation_checks_total` | counter | `result` | `allowed`, `revoked`, `expired` (past `exp`, in the leeway), `unavailable_allowed`, `unavailable_rejected` |
//! | `permiso_introspection_total` | counter | `result` | introspection (feature `introspection`): `hit` and `negative_hit` (answered from the answer cache), `active` and `inactive` (a call's answer), `error` (no usable answer: 503), `grace` (a known-active token accepted in the grace while the endpoint fails) |
//! | `permiso_rate_limit_decisions_total` | counter | `result`, `store` (+ `client_id`) | `allowed`, `limited`, `exempt`, `store_error_allowed`, `store_error_rejected`; `store` is `memory` or `redis` |
//!
//! Every label value comes from a short fixed list, or is a configured issuer (`issuer` is
//! `unknown` when the token named none of them or could not be read). No label ever carries a
//! token, a `jti`, a `kid` or any other value a caller chooses. The `client_id` label is
//! off by default; [`include_client_ids`] turns it on, and then it is only ever read from a
//! verified token.
//!
//! ```
//! permiso::metrics::include_client_ids(false); // the default
//! assert!(!permiso::metrics::client_ids_included());
//! ```
//!
//! [`AuthErrorKind::reason`]: crate::AuthErrorKind::reason

use std::sync::atomic::{AtomicBool, Ordering};

static CLIENT_IDS: AtomicBool = AtomicBool::new(false);

/// Adds a `client_id` label (from verified tokens only) to `permiso_requests_total`,
/// `permiso_denials_total` and `permiso_rate_limit_decisions_total`. Off by default: with
/// many clients it multiplies the series. Set it once at start-up, before serving.
pub fn include_client_ids(on: bool) {
    CLIENT_IDS.store(on, Ordering::Relaxed);
}

/// Whether [`include_client_ids`] is on.
pub fn client_ids_included() -> bool {
    CLIENT_IDS.load(Ordering::Relaxed)
}

#[cfg(feature = "metrics")]
mod on {
    use std::cell::RefCell;
    use std::sync::Arc;
    use std::time::Duration;

    use metrics::{Counter, Histogram, Label, SharedString, counter, gauge, histogram};

    use super::client_ids_included;

    /// The handles of the series every request touches, registered once per thread and
    /// recorder: a request then costs an atomic add per series, not a registry lookup. Series
    /// with a `client_id` label, and rare ones, go through the registry each time.
    struct Hot {
        /// The recorder these handles belong to (its address): a recorder installed later
        /// gets new handles.
        recorder: usize,
        hit: Counter,
        miss: Counter,
        cached: Histogram,
        cold: Histogram,
        /// `permiso_requests_total{outcome="accepted"}` per issuer label (a handful).
        accepted: Vec<(Arc<str>, Counter)>,
        /// `permiso_rate_limit_decisions_total{result="allowed"}` for `memory` and `redis`.
        #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
        limit_allowed: [Counter; 2],
        /// `permiso_revocation_checks_total{result="allowed"}`: every request, when revocation
        /// is on.
        revocation_allowed: Counter,
    }

    const MAX_HOT_ISSUERS: usize = 16;

    thread_local! {
        static HOT: RefCell<Option<Hot>> = const { RefCell::new(None) };
    }

    fn recorder_id() -> usize {
        metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
    }

    fn with_hot<T>(f: impl FnOnce(&mut Hot) -> T) -> T {
        let recorder = recorder_id();
        HOT.with_borrow_mut(|slot| {
            let hot = match slot {
                Some(hot) if hot.recorder == recorder => hot,
                _ => slot.insert(Hot {
                    recorder,
                    hit: counter!("permiso_token_cache_lookups_total", "result" => "hit"),
                    miss: counter!("permiso_token_cache_lookups_total", "result" => "miss"),
                    cached: histogram!("permiso_verification_duration_seconds", "path" => "cached"),
                    cold: histogram!("permiso_verification_duration_seconds", "path" => "cold"),
                    accepted: Vec::new(),
                    limit_allowed: [
                        counter!("permiso_rate_limit_decisions_total", "result" => "allowed", "store" => "memory"),
                        counter!("permiso_rate_limit_decisions_total", "result" => "allowed", "store" => "redis"),
                    ],
                    revocation_allowed: counter!("permiso_revocation_checks_total", "result" => "allowed"),
                }),
            };
            f(hot)
        })
    }

    fn issuer_label(issuer: Option<&Arc<str>>) -> SharedString {
        match issuer {
            Some(i) => SharedString::from_shared(Arc::clone(i)),
            None => SharedString::const_str("unknown"),
        }
    }

    fn client_label(labels: &mut Vec<Label>, client: Option<&str>) {
        if client_ids_included() {
            labels.push(Label::new("client_id", client.unwrap_or("unknown").to_owned()));
        }
    }

    fn requests_counter(
        outcome: &'static str,
        reason: &'static str,
        issuer: Option<&Arc<str>>,
        client: Option<&str>,
    ) -> Counter {
        let mut labels = vec![
            Label::from_static_parts("outcome", outcome),
            Label::from_static_parts("reason", reason),
            Label::new("issuer", issuer_label(issuer)),
        ];
        client_label(&mut labels, client);
        counter!("permiso_requests_total", labels)
    }

    pub(crate) fn request(
        outcome: &'static str,
        reason: &'static str,
        issuer: Option<&Arc<str>>,
        client: Option<&str>,
    ) {
        if outcome == "accepted"
            && !client_ids_included()
            && let Some(issuer) = issuer
        {
            let counted = with_hot(|hot| {
                if let Some((_, c)) = hot.accepted.iter().find(|(i, _)| Arc::ptr_eq(i, issuer)) {
                    c.increment(1);
                    return true;
                }
                if hot.accepted.len() < MAX_HOT_ISSUERS {
                    let c = requests_counter(outcome, reason, Some(issuer), None);
                    c.increment(1);
                    hot.accepted.push((Arc::clone(issuer), c));
                    return true;
                }
                false
            });
            if counted {
                return;
            }
        }
        requests_counter(outcome, reason, issuer, client).increment(1);
    }

    pub(crate) fn denial(reason: &'static str, issuer: Option<&Arc<str>>, client: Option<&str>) {
        let mut labels =
            vec![Label::from_static_parts("reason", reason), Label::new("issuer", issuer_label(issuer))];
        client_label(&mut labels, client);
        counter!("permiso_denials_total", labels).increment(1);
    }

    /// A verification in full (`cold`), after a cache miss when the cache is on.
    pub(crate) fn cold_verification(took: Duration, cache_on: bool) {
        let secs = took.as_secs_f64();
        with_hot(|hot| {
            if cache_on {
                hot.miss.increment(1);
            }
            hot.cold.record(secs);
        });
    }

    /// A verification answered by the cache.
    pub(crate) fn cached_verification(took: Duration) {
        let secs = took.as_secs_f64();
        with_hot(|hot| {
            hot.hit.increment(1);
            hot.cached.record(secs);
        });
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn cache_entries(entries: u64) {
        gauge!("permiso_token_cache_entries").set(entries as f64);
    }

    pub(crate) fn key_fetch(issuer: &Arc<str>, ok: bool) {
        counter!(
            "permiso_key_fetches_total",
            "issuer" => SharedString::from_shared(Arc::clone(issuer)),
            "result" => if ok { "ok" } else { "error" }
        )
        .increment(1);
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn key_set_age(issuer: &Arc<str>, secs: u64) {
        gauge!("permiso_key_set_age_seconds", "issuer" => SharedString::from_shared(Arc::clone(issuer)))
            .set(secs as f64);
    }

    pub(crate) fn revocation(result: &'static str) {
        if result == "allowed" {
            with_hot(|hot| hot.revocation_allowed.increment(1));
            return;
        }
        counter!("permiso_revocation_checks_total", "result" => result).increment(1);
    }

    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn introspection(result: &'static str) {
        counter!("permiso_introspection_total", "result" => result).increment(1);
    }

    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn rate_limit(result: &'static str, store: &'static str, client: Option<&str>) {
        if result == "allowed" && !client_ids_included() {
            let index = usize::from(store == "redis");
            with_hot(|hot| hot.limit_allowed[index].increment(1));
            return;
        }
        let mut labels =
            vec![Label::from_static_parts("result", result), Label::from_static_parts("store", store)];
        client_label(&mut labels, client);
        counter!("permiso_rate_limit_decisions_total", labels).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::missing_const_for_fn)]
mod on {
    use std::sync::Arc;

    pub(crate) fn request(_: &'static str, _: &'static str, _: Option<&Arc<str>>, _: Option<&str>) {}
    pub(crate) fn denial(_: &'static str, _: Option<&Arc<str>>, _: Option<&str>) {}
    pub(crate) fn key_fetch(_: &Arc<str>, _: bool) {}
    pub(crate) fn key_set_age(_: &Arc<str>, _: u64) {}
    pub(crate) fn revocation(_: &'static str) {}
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn introspection(_: &'static str) {}
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn rate_limit(_: &'static str, _: &'static str, _: Option<&str>) {}
}

pub(crate) use on::*;

/// A start time for a duration metric: read only when metrics are compiled in.
///
/// It reads the CPU's time-stamp counter through `quanta` (about 12 ns, where
/// `std::time::Instant` is a `clock_gettime` call of about 30): a cache hit reads it twice.
#[derive(Clone, Copy)]
pub(crate) struct Timer(#[cfg(feature = "metrics")] quanta::Instant);

impl Timer {
    pub(crate) fn start() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            quanta::Instant::now(),
        )
    }

    /// Calibrates the counter against the system clock now (under a millisecond, once per
    /// process) rather than in the first request's time.
    pub(crate) fn calibrate() {
        #[cfg(feature = "metrics")]
        let _ = quanta::Instant::now();
    }

    /// Records a verification in full since start (and the cache miss before it).
    pub(crate) fn cold(self, cache_on: bool) {
        #[cfg(feature = "metrics")]
        cold_verification(self.0.elapsed(), cache_on);
        #[cfg(not(feature = "metrics"))]
        let _ = cache_on;
    }

    /// Records a verification answered by the cache since start.
    pub(crate) fn cached(self) {
        #[cfg(feature = "metrics")]
        cached_verification(self.0.elapsed());
    }
}
