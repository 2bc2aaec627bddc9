//! The answer cache: answers keyed by the SHA-256 of their token (never the token), each
//! kept for its own lifetime, bounded in entries and bytes; and the calls in flight, so that
//! concurrent requests with one new token share one call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::claims::Claims;
use crate::error::AuthError;

/// The SHA-256 of a token.
pub(super) type Digest = [u8; 32];

pub(super) fn digest(token: &str) -> Digest {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What the cache knows of a token. Times are the verifier's clock, in Unix seconds.
#[derive(Clone)]
pub(super) enum Entry {
    /// Active: trusted until `fresh_until`; kept (for the grace) until `keep_until`.
    Active { claims: Arc<Claims>, fresh_until: i64, keep_until: i64 },
    /// Inactive, or active with claims refused here (another issuer, a refresh token…):
    /// answered with `err` until `until`.
    Refused { err: AuthError, until: i64 },
}

/// The outcome of one call, shared by every request that waited for it.
#[derive(Clone)]
pub(super) enum Outcome {
    Active(Arc<Claims>),
    Refused(AuthError),
    /// The endpoint could not answer.
    Failed,
}

#[derive(Clone)]
struct Stored {
    entry: Entry,
    /// How long the cache keeps it (wall time).
    ttl: Duration,
    weight: u32,
}

struct ByEntry;

impl moka::Expiry<Digest, Stored> for ByEntry {
    fn expire_after_create(&self, _: &Digest, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &Digest,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A call in flight for one token: the first request runs it, the others wait for it.
pub(super) type Flight = Arc<tokio::sync::OnceCell<Outcome>>;

pub(super) struct AnswerCache {
    entries: moka::sync::Cache<Digest, Stored>,
    /// Every entry weighs at least this, so that `max_bytes` also bounds the entries.
    min_weight: usize,
    flights: Mutex<HashMap<Digest, Flight>>,
}

impl AnswerCache {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes as u64)
            .weigher(|_: &Digest, v: &Stored| v.weight)
            .expire_after(ByEntry)
            .build();
        Self { entries, min_weight: max_bytes / max_entries.max(1), flights: Mutex::new(HashMap::new()) }
    }

    pub(super) fn get(&self, key: &Digest) -> Option<Entry> {
        self.entries.get(key).map(|s| s.entry)
    }

    /// Keeps `entry` until `until` (the verifier's clock, `now` being its present).
    pub(super) fn insert(&self, key: Digest, entry: Entry, now: i64, until: i64) {
        let Ok(secs) = u64::try_from(until.saturating_sub(now)) else { return };
        if secs == 0 {
            return;
        }
        let bytes = match &entry {
            Entry::Active { claims, .. } => claims.heap_bytes() + std::mem::size_of::<Claims>() + 160,
            Entry::Refused { .. } => 160,
        };
        let weight = u32::try_from(bytes.max(self.min_weight)).unwrap_or(u32::MAX);
        self.entries.insert(key, Stored { entry, ttl: Duration::from_secs(secs), weight });
    }

    pub(super) fn entries(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The call in flight for `key`, joined or started; `None` when `landed` (asked under the
    /// same lock as the flights) finds that a call for it already landed in the cache.
    pub(super) fn flight<T>(&self, key: Digest, landed: impl FnOnce() -> Option<T>) -> Result<Flight, T> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = landed() {
            return Err(done);
        }
        Ok(Arc::clone(flights.entry(key).or_default()))
    }

    /// Forgets `flight` once it is over (whoever gets here first).
    pub(super) fn land(&self, key: &Digest, flight: &Flight) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(key);
        }
    }
}
