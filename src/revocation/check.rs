//! The revocation check a verifier runs on every request: local answers first, then one
//! shared, bounded request to the list.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::policy::{OnRevocationError, Revocation, RevocationList, RevocationStats};
use crate::claims::Claims;
use crate::error::{AuthError, AuthErrorKind};

const SHARDS: usize = 16;
/// At most this many local answers are kept (a few MiB at most).
const MAX_ENTRIES: usize = 100_000;

/// A local answer about one `jti`.
#[derive(Clone, Copy)]
enum Entry {
    /// Not revoked when last asked; reusable until this instant (ms since the checker
    /// started).
    NotRevoked { until_ms: u64 },
    /// Revoked; kept until the token's `exp` plus the verifier's leeway, as long as the
    /// verifier would otherwise accept the token.
    Revoked { until: i64 },
}

/// What the local answers say about a request.
pub(crate) enum Local {
    /// Not revoked, answered locally.
    Allowed,
    /// Refused: revoked, or no `jti`.
    Refused(AuthError),
    /// The list must be asked.
    Ask,
}

/// One lookup's outcome, shared by every check of that `jti` waiting on it.
#[derive(Clone, Copy)]
enum Answer {
    NotRevoked,
    Revoked,
    Failed,
}

type Shard = RwLock<HashMap<Box<str>, Entry, foldhash::fast::RandomState>>;
type InFlight = Mutex<HashMap<Box<str>, Arc<tokio::sync::OnceCell<Answer>>>>;

/// Removes a check's in-flight entry when the check ends, however it ends.
struct Leave<'a> {
    inflight: &'a InFlight,
    jti: &'a str,
    cell: &'a Arc<tokio::sync::OnceCell<Answer>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if inflight.get(self.jti).is_some_and(|c| Arc::ptr_eq(c, self.cell)) {
            inflight.remove(self.jti);
        }
    }
}

pub(crate) struct Checker {
    list: Arc<dyn RevocationList>,
    /// The verifier's leeway on `exp`, in seconds.
    leeway: i64,
    staleness_ms: u64,
    timeout: Duration,
    on_error: OnRevocationError,
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
    inflight: InFlight,
    started: Instant,
    checks: AtomicU64,
    local: AtomicU64,
    lookups: AtomicU64,
    revoked: AtomicU64,
    errors: AtomicU64,
    allowed_on_error: AtomicU64,
    /// When a failure was last logged (ms since start): an outage logs once a second, not
    /// once a request.
    log_gate: crate::log::Every,
}

fn expired_unverifiable() -> AuthError {
    AuthError::new(AuthErrorKind::Expired)
        .with_description("the token has expired and its revocation can no longer be checked")
}

fn no_jti() -> AuthError {
    AuthError::new(AuthErrorKind::InvalidClaim)
        .with_description("the token has no jti, so it cannot be checked for revocation")
}

/// How much longer than its own timeout a self-bounded list is waited for.
const SELF_BOUNDED_SLACK: Duration = Duration::from_millis(20);

impl Checker {
    pub(crate) fn new(config: Revocation, leeway_secs: u64) -> Self {
        Self {
            list: config.list,
            leeway: i64::try_from(leeway_secs).unwrap_or(i64::MAX),
            staleness_ms: u64::try_from(config.max_staleness.as_millis()).unwrap_or(u64::MAX),
            // A list that bounds its own calls (Redis) gets a little longer here, so that its
            // own timeout is the one that fires.
            timeout: if config.list_timeout_ms.is_some() {
                config.timeout + SELF_BOUNDED_SLACK
            } else {
                config.timeout
            },
            on_error: config.on_error,
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            inflight: Mutex::new(HashMap::new()),
            started: Instant::now(),
            checks: AtomicU64::new(0),
            local: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            revoked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            allowed_on_error: AtomicU64::new(0),
            log_gate: crate::log::Every::second(),
        }
    }

    /// Whether a failure may be logged now (at most once a second).
    fn may_log(&self) -> bool {
        self.log_gate.due()
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn shard(&self, jti: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(jti) >> 32) as usize % SHARDS]
    }

    /// The answer for `claims` without waiting, if a local entry gives one. Counts the check.
    pub(crate) fn check_local(&self, claims: &Claims, now_unix: i64) -> Local {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let Some(jti) = claims.jwt_id() else {
            return Local::Refused(no_jti());
        };
        let entry = self.shard(jti).read().unwrap_or_else(|e| e.into_inner()).get(jti).copied();
        match entry {
            Some(Entry::Revoked { until }) if now_unix <= until => {
                self.revoked.fetch_add(1, Ordering::Relaxed);
                crate::metrics::revocation("revoked");
                Local::Refused(AuthError::new(AuthErrorKind::Revoked))
            }
            // Past `exp` the issuer's revocation key may be gone (permiso's expires at `exp`):
            // "not revoked" can no longer be told from "revoked and forgotten", so a token in
            // the leeway after its `exp` is never let through while revocation is on.
            _ if now_unix >= claims.expires_at() => {
                crate::metrics::revocation("expired");
                Local::Refused(expired_unverifiable())
            }
            Some(Entry::NotRevoked { until_ms }) if self.now_ms() < until_ms => {
                self.local.fetch_add(1, Ordering::Relaxed);
                crate::metrics::revocation("allowed");
                Local::Allowed
            }
            _ => Local::Ask,
        }
    }

    /// Asks the list about `claims` (after [`check_local`](Self::check_local) said `Ask`):
    /// one shared request per `jti`, bounded by the timeout, the answer kept locally.
    pub(crate) async fn ask(&self, claims: &Claims) -> Result<(), AuthError> {
        let Some(jti) = claims.jwt_id() else {
            return Err(no_jti());
        };
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            match inflight.get(jti) {
                // A lookup in flight: share it.
                Some(cell) if !cell.initialized() => Arc::clone(cell),
                // None, or an answered one left behind: a new lookup.
                _ => Arc::clone(inflight.entry(jti.into()).insert_entry(Arc::default()).get()),
            }
        };
        // Whatever happens to this check (answered, or dropped mid-way), its entry goes, so an
        // answer is never shared past its lookup.
        let _leave = Leave { inflight: &self.inflight, jti, cell: &cell };
        let answer = *cell.get_or_init(|| self.lookup(jti, claims.expires_at())).await;
        match answer {
            Answer::NotRevoked => {
                crate::metrics::revocation("allowed");
                Ok(())
            }
            Answer::Revoked => {
                self.revoked.fetch_add(1, Ordering::Relaxed);
                crate::metrics::revocation("revoked");
                Err(AuthError::new(AuthErrorKind::Revoked))
            }
            Answer::Failed => match self.on_error {
                OnRevocationError::Reject => {
                    crate::metrics::revocation("unavailable_rejected");
                    Err(AuthError::new(AuthErrorKind::RevocationUnavailable).with_retry_after(1))
                }
                OnRevocationError::Allow => {
                    let _allowed = self.allowed_on_error.fetch_add(1, Ordering::Relaxed) + 1;
                    crate::metrics::revocation("unavailable_allowed");
                    if self.may_log() {
                        crate::log::warn!(
                            allowed_so_far = _allowed,
                            "the revocation list cannot answer; letting requests through (on_error = allow)"
                        );
                    }
                    Ok(())
                }
            },
        }
    }

    /// One request to the list; the answer is stored before it is shared.
    async fn lookup(&self, jti: &str, exp: i64) -> Answer {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let answer = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::time::timeout(self.timeout, self.list.is_revoked(jti)).await
        } else {
            // No tokio timer to bound it with (another executor, or none): the list's own
            // future is awaited as it is. Redis always runs in tokio, bounded.
            Ok(self.list.is_revoked(jti).await)
        };
        match answer {
            Ok(Ok(false)) => {
                if self.staleness_ms > 0 {
                    let until_ms = self.now_ms().saturating_add(self.staleness_ms);
                    self.store(jti, Entry::NotRevoked { until_ms });
                }
                Answer::NotRevoked
            }
            Ok(Ok(true)) => {
                self.store(jti, Entry::Revoked { until: exp.saturating_add(self.leeway) });
                Answer::Revoked
            }
            Ok(Err(_e)) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if self.may_log() {
                    crate::log::warn!(error = %_e, "revocation lookup failed");
                }
                Answer::Failed
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if self.may_log() {
                    crate::log::warn!(
                        timeout_ms = self.timeout.as_millis() as u64,
                        "revocation lookup timed out"
                    );
                }
                Answer::Failed
            }
        }
    }

    fn store(&self, jti: &str, entry: Entry) {
        let mut shard = self.shard(jti).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(jti) {
            let now_ms = self.now_ms();
            // Stale "not revoked" answers go first; revoked ones only when still full.
            shard.retain(|_, e| match e {
                Entry::NotRevoked { until_ms } => *until_ms > now_ms,
                Entry::Revoked { .. } => true,
            });
            if shard.len() >= MAX_ENTRIES / SHARDS {
                let drop: Vec<Box<str>> = shard.keys().take(shard.len() / 10 + 1).cloned().collect();
                for k in drop {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(jti.into(), entry);
    }

    pub(crate) fn stats(&self) -> RevocationStats {
        RevocationStats {
            checks: self.checks.load(Ordering::Relaxed),
            local: self.local.load(Ordering::Relaxed),
            lookups: self.lookups.load(Ordering::Relaxed),
            revoked: self.revoked.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            allowed_on_error: self.allowed_on_error.load(Ordering::Relaxed),
        }
    }
}
