//! The in-process store: one GCRA state per client, kept by `governor`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock as GovernorClock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::policy::{Decision, Policy};
use crate::clock::Clock;

/// The limiter's time: monotonic in production; a given [`Clock`] in tests.
#[derive(Clone)]
pub(super) enum LimitClock {
    Monotonic(Instant),
    Given(Arc<dyn Clock>),
}

impl GovernorClock for LimitClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        match self {
            Self::Monotonic(start) => start.elapsed(),
            Self::Given(clock) => Duration::from_secs(clock.now_unix()),
        }
    }
}

type Direct = RateLimiter<NotKeyed, InMemoryState, LimitClock, StateInformationMiddleware>;
type Keyed = RateLimiter<String, DashMapStateStore<String>, LimitClock, StateInformationMiddleware>;

/// Clients remembered by the default limiter before idle ones are dropped.
const KEYED_SWEEP_ABOVE: usize = 10_000;

pub(super) struct Memory {
    clock: LimitClock,
    clients: HashMap<String, Direct, foldhash::fast::RandomState>,
    default: Option<Keyed>,
    checks: AtomicU64,
}

fn quota(policy: Policy) -> Quota {
    let per = NonZeroU32::new(policy.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(policy.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(Duration::from_secs(60) / per.get())
        .map_or(Quota::per_minute(per), |q| q.allow_burst(burst))
}

impl Memory {
    pub(super) fn new(clients: &HashMap<String, Policy>, default: Option<Policy>, clock: LimitClock) -> Self {
        let clients = clients
            .iter()
            .map(|(id, p)| {
                let limiter = RateLimiter::direct_with_clock(quota(*p), clock.clone())
                    .with_middleware::<StateInformationMiddleware>();
                (id.clone(), limiter)
            })
            .collect();
        let default = default.map(|p| {
            RateLimiter::<String, DashMapStateStore<String>, LimitClock, StateInformationMiddleware>::new(
                quota(p),
                DashMapStateStore::default(),
                clock.clone(),
            )
        });
        Self { clock, clients, default, checks: AtomicU64::new(0) }
    }

    /// One request under `policy`: of the first issuer's `named` client (its own limiter when
    /// it has one), or counted under `key` (issuer and client) by the default.
    /// `key` names the client in the default policy's keyed limiter (made only when asked: a
    /// named client has a limiter of its own).
    pub(super) fn check(
        &self,
        named: Option<&str>,
        key: impl FnOnce() -> String,
        policy: Policy,
    ) -> Decision {
        let outcome = match named.and_then(|client| self.clients.get(client)) {
            Some(limiter) => limiter.check(),
            None => match &self.default {
                Some(limiter) => {
                    // Idle clients of the default policy are forgotten now and then, so a
                    // long-lived process does not keep every client it ever saw.
                    if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095
                        && limiter.len() > KEYED_SWEEP_ABOVE
                    {
                        limiter.retain_recent();
                    }
                    limiter.check_key(&key())
                }
                None => return Decision::Unlimited,
            },
        };
        match outcome {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                let used = policy.burst.saturating_sub(remaining);
                let full_in = (Duration::from_secs(60) / policy.per_minute.max(1)) * used;
                Decision::Allowed { remaining, reset: full_in }
            }
            Err(not_until) => Decision::Limited { retry_after: not_until.wait_time_from(self.clock.now()) },
        }
    }
}
