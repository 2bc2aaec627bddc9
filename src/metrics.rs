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
//! | `permiso_revocation_checks_total` | counter | `result` | `allowed`, `revoked`, `unavailable_allowed`, `unavailable_rejected` |
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
    use std::sync::Arc;
    use std::time::Duration;

    use metrics::{Label, SharedString, counter, gauge, histogram};

    use super::client_ids_included;

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

    pub(crate) fn request(
        outcome: &'static str,
        reason: &'static str,
        issuer: Option<&Arc<str>>,
        client: Option<&str>,
    ) {
        let mut labels = vec![
            Label::from_static_parts("outcome", outcome),
            Label::from_static_parts("reason", reason),
            Label::new("issuer", issuer_label(issuer)),
        ];
        client_label(&mut labels, client);
        counter!("permiso_requests_total", labels).increment(1);
    }

    pub(crate) fn denial(reason: &'static str, issuer: Option<&Arc<str>>, client: Option<&str>) {
        let mut labels =
            vec![Label::from_static_parts("reason", reason), Label::new("issuer", issuer_label(issuer))];
        client_label(&mut labels, client);
        counter!("permiso_denials_total", labels).increment(1);
    }

    pub(crate) fn verification(path: &'static str, took: Duration) {
        histogram!("permiso_verification_duration_seconds", "path" => path).record(took.as_secs_f64());
    }

    pub(crate) fn cache_lookup(hit: bool) {
        counter!("permiso_token_cache_lookups_total", "result" => if hit { "hit" } else { "miss" })
            .increment(1);
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
        counter!("permiso_revocation_checks_total", "result" => result).increment(1);
    }

    pub(crate) fn rate_limit(result: &'static str, store: &'static str, client: Option<&str>) {
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
    pub(crate) fn cache_lookup(_: bool) {}
    pub(crate) fn key_fetch(_: &Arc<str>, _: bool) {}
    pub(crate) fn key_set_age(_: &Arc<str>, _: u64) {}
    pub(crate) fn revocation(_: &'static str) {}
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn rate_limit(_: &'static str, _: &'static str, _: Option<&str>) {}
}

pub(crate) use on::*;

/// A start time for a duration metric: read only when metrics are compiled in.
#[derive(Clone, Copy)]
pub(crate) struct Timer(#[cfg(feature = "metrics")] std::time::Instant);

impl Timer {
    pub(crate) fn start() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }

    /// Records the time since start as a verification on `path`.
    pub(crate) fn verification(self, path: &'static str) {
        #[cfg(feature = "metrics")]
        verification(path, self.0.elapsed());
        #[cfg(not(feature = "metrics"))]
        let _ = path;
    }
}
