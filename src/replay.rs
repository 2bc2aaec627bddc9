//! Remembers what was seen once (request signatures, DPoP proof `jti`s) for as long as it
//! could be replayed: always in this process's memory, and with Redis also shared by every
//! replica (`SET NX EX`, feature `redis`).
//!
//! What the memory relies on:
//! - an entry is forgotten only once its time is over (each shard is swept once a second, on
//!   its first check in that second); when the memory is full of live entries a new
//!   value is refused (`Full`, answered 503), never let in by forgetting an old one;
//! - one client (the caller partitions by its own notion: issuer and client id for
//!   signatures, the proof key for DPoP) holds at most a share of the memory, so one client's
//!   traffic cannot push the rest out or fill it for everyone;
//! - with Redis, this replica's memory is asked first and written first, so a value this
//!   replica saw is refused here even while Redis is down; what Redis cannot answer is
//!   decided by [`OnStoreError`](crate::OnStoreError) (default: refuse with 503).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "redis")]
use crate::on_error::OnStoreError;

/// At most this many remembered values in memory, all clients together.
const MAX_ENTRIES: usize = 1_000_000;
/// At most this many remembered values for one client (a quarter of the memory).
const MAX_PER_CLIENT: usize = MAX_ENTRIES / 4;
/// Locks the memory is split under (by each entry's digest).
const SHARDS: usize = 16;

/// A value to remember, as the memory tells one from another.
#[derive(Clone, Copy)]
pub(crate) enum Seen<'a> {
    /// A request signature that verified: its HMAC tag, which nobody can choose without the
    /// client's secret, so its own bits serve as the digest (mixed with the partition's); and
    /// the signature as sent (hex, either case), which a shared store keys in lowercase.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // The hex is for Redis alone.
    Mac { tag: &'a [u8; 32], hex: &'a str },
    /// Any other value (a DPoP proof's `jti`, chosen by whoever made the proof): hashed with
    /// this process's random key, and keyed as it is in a shared store.
    Text(&'a str),
}

/// What a value's first-use check says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FirstUse {
    /// Not seen before; now remembered.
    New,
    /// Seen before, within its time.
    Replayed,
    /// The memory (or this client's share of it) is full of live entries: refuse rather
    /// than forget one.
    Full,
    /// The shared store could not answer and its failure mode is `reject`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unavailable,
}

/// Sixteen bytes an entry: a 64-bit digest of (partition, value) (see [`Seen`]), the unix
/// second it is remembered until, and its partition's 32-bit hash. Two live values share a
/// digest with odds of about one in 10¹³ at a million entries, and then the later one is
/// refused as a replay: never a replay let in.
#[derive(Default)]
struct Shard {
    /// Digest → (unix second it is remembered until, partition).
    seen: HashMap<u64, (u32, u32), foldhash::fast::FixedState>,
    /// The second this shard was last swept in: every entry here is remembered until it or
    /// later.
    swept: u32,
    /// Live entries per partition, in this shard.
    per_partition: HashMap<u32, usize, foldhash::fast::FixedState>,
}

impl Shard {
    /// Forgets every entry whose time is over (`until < now`), once per second: one pass over
    /// the table in place, instead of a lookup to remove each entry and a list of each
    /// second's entries kept beside the table.
    fn evict(&mut self, now: u32, total: &AtomicUsize) {
        if now <= self.swept {
            return;
        }
        self.swept = now;
        let Self { seen, per_partition, .. } = self;
        let before = seen.len();
        seen.retain(|_, &mut (until, partition)| {
            let live = until >= now;
            if !live && let Some(n) = per_partition.get_mut(&partition) {
                *n -= 1;
            }
            live
        });
        if seen.len() < before {
            total.fetch_sub(before - seen.len(), Ordering::Relaxed);
            per_partition.retain(|_, n| *n > 0);
        }
    }
}

/// The memory part, sharded by each entry's digest: one busy client's values spread over
/// every shard, so two cores checking two of its requests rarely meet on one lock.
///
/// A partition's share is kept per shard (`max_per_partition / shards` in each): digests are
/// uniform, so a client reaches its share at about `max_per_partition` entries in all (for
/// the default quarter of a million, within a fraction of a percent), without a count that
/// every request of the client would have to lock.
struct Memory {
    shards: Box<[Mutex<Shard>]>,
    total: AtomicUsize,
    max_entries: usize,
    max_per_partition_per_shard: usize,
    hasher: foldhash::fast::RandomState,
    digests: foldhash::quality::RandomState,
}

impl Memory {
    fn new(max_entries: usize, max_per_partition: usize, shards: usize) -> Self {
        Self {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            total: AtomicUsize::new(0),
            max_entries,
            max_per_partition_per_shard: max_per_partition.div_ceil(shards),
            hasher: foldhash::fast::RandomState::default(),
            digests: foldhash::quality::RandomState::default(),
        }
    }

    /// `partition` is the caller's parts of it (issuer and client id; a proof key), kept
    /// apart from each other and from the value (each hashed with its length).
    fn first_use(&self, partition: &[&str], value: Seen<'_>, now: u64, until: u64) -> FirstUse {
        // Unix seconds fit 32 bits until 2106.
        let (now, until) = (u32::try_from(now).unwrap_or(u32::MAX), u32::try_from(until).unwrap_or(u32::MAX));
        let partition_hash = self.hasher.hash_one(partition);
        #[allow(clippy::cast_possible_truncation)] // A share's key: 32 bits tell a process's clients apart.
        let part = partition_hash as u32;
        // Nobody outside can aim two values at one digest: a tag is the client's secret's
        // HMAC, and the partition's hash and a text's digest are keyed with this process's
        // random seed. (A collision would refuse the later value, never let a replay in.)
        let digest = match value {
            Seen::Mac { tag, .. } => {
                let mut head = [0u8; 8];
                head.copy_from_slice(&tag[..8]);
                u64::from_le_bytes(head) ^ partition_hash
            }
            Seen::Text(text) => self.digests.hash_one((partition, text)),
        };
        let shard = &self.shards[(digest >> 40) as usize % self.shards.len()];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        shard.evict(now, &self.total);
        let Shard { seen, per_partition, .. } = &mut *shard;
        // One probe of each table: the digest's, then the partition's.
        let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(digest) else {
            return FirstUse::Replayed;
        };
        if self.total.load(Ordering::Relaxed) >= self.max_entries {
            return FirstUse::Full;
        }
        let held = per_partition.entry(part).or_insert(0);
        if *held >= self.max_per_partition_per_shard {
            if *held == 0 {
                per_partition.remove(&part);
            }
            return FirstUse::Full;
        }
        *held += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        slot.insert((until, part));
        FirstUse::New
    }

    /// How many values are remembered here.
    #[cfg(feature = "redis")]
    fn len(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

pub(crate) struct ReplayGuard {
    memory: Memory,
    #[cfg(feature = "redis")]
    redis: Option<Shared>,
}

#[cfg(feature = "redis")]
struct Shared {
    redis: crate::redis::Redis,
    prefix: String,
    timeout: std::time::Duration,
    on_error: OnStoreError,
    log_gate: crate::log::Every,
}

impl FirstUse {
    /// `Ok` for a new value; else the refusal, `replayed` for a replay.
    pub(crate) fn check(self, replayed: crate::error::AuthErrorKind) -> Result<(), crate::error::AuthError> {
        use crate::error::{AuthError, AuthErrorKind};
        match self {
            Self::New => Ok(()),
            Self::Replayed => Err(AuthError::new(replayed)),
            Self::Unavailable => {
                Err(AuthError::new(AuthErrorKind::ReplayStoreUnavailable).with_retry_after(1))
            }
            Self::Full => Err(AuthError::new(AuthErrorKind::ReplayStoreUnavailable)
                .with_description("too many recent requests to remember; try again shortly")
                .with_retry_after(1)),
        }
    }
}

impl ReplayGuard {
    /// In this process only.
    pub(crate) fn memory() -> Self {
        Self::with_limits(MAX_ENTRIES, MAX_PER_CLIENT, SHARDS)
    }

    fn with_limits(max_entries: usize, max_per_partition: usize, shards: usize) -> Self {
        Self {
            memory: Memory::new(max_entries, max_per_partition, shards),
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// Shared through the Redis at `url` (feature `redis`), with keys `{prefix}{value}` (as
    /// before: the value already names its client), each
    /// call bounded by 100 ms, and `on_error` when Redis cannot answer; in this process's
    /// memory only without a URL.
    #[cfg(feature = "redis")]
    pub(crate) fn for_setting(
        url: Option<&str>,
        prefix: &str,
        on_error: OnStoreError,
    ) -> Result<Self, crate::error::ConfigError> {
        let mut guard = Self::memory();
        if let Some(u) = url {
            guard.redis = Some(Shared {
                redis: crate::redis::Redis::shared(crate::redis::RedisTarget::parse(u)?),
                prefix: prefix.to_owned(),
                timeout: std::time::Duration::from_millis(100),
                on_error,
                log_gate: crate::log::Every::second(),
            });
        }
        Ok(guard)
    }

    /// Whether `value` of `partition` is seen for the first time; it is then remembered until
    /// `until` (unix seconds; `now` is the caller's clock). This replica's memory is asked
    /// and written first; then the shared store, when there is one.
    #[cfg_attr(not(feature = "redis"), allow(clippy::unused_async))]
    pub(crate) async fn first_use(
        &self,
        partition: &[&str],
        value: Seen<'_>,
        now: u64,
        until: u64,
    ) -> FirstUse {
        let local = self.memory.first_use(partition, value, now, until);
        if local != FirstUse::New {
            return local;
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.redis {
            return shared.first_use(value, now, until, &self.memory).await;
        }
        FirstUse::New
    }

    /// Whether a shared store is asked after this replica's memory (then only
    /// [`first_use`](Self::first_use) answers; without one, [`first_use_here`](Self::first_use_here)
    /// gives the same answer without a future).
    pub(crate) fn is_shared(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.redis.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// [`first_use`](Self::first_use) in this replica's memory alone: the whole answer when
    /// [`is_shared`](Self::is_shared) is false.
    pub(crate) fn first_use_here(
        &self,
        partition: &[&str],
        value: Seen<'_>,
        now: u64,
        until: u64,
    ) -> FirstUse {
        self.memory.first_use(partition, value, now, until)
    }
}

#[cfg(feature = "redis")]
impl Shared {
    async fn first_use(&self, value: Seen<'_>, now: u64, until: u64, memory: &Memory) -> FirstUse {
        let ttl = until.saturating_sub(now).max(1);
        // What permiso's Python services write: the signature in lowercase hex, the jti as sent.
        let key = match value {
            Seen::Mac { hex, .. } => format!("{}{}", self.prefix, hex.to_ascii_lowercase()),
            Seen::Text(text) => format!("{}{text}", self.prefix),
        };
        let cmd = ::redis::cmd("SET").arg(key).arg("1").arg("NX").arg("EX").arg(ttl).clone();
        match self.redis.query::<Option<String>>(&cmd, self.timeout).await {
            Ok(Some(_)) => FirstUse::New,
            Ok(None) => FirstUse::Replayed,
            Err(_e) => {
                if self.log_gate.due() {
                    crate::log::warn!(
                        error = %_e,
                        on_error = self.on_error.as_str(),
                        remembered_here = memory.len(),
                        "the replay store in Redis cannot answer; this replica's memory still refuses what it saw"
                    );
                }
                match self.on_error {
                    OnStoreError::Reject => FirstUse::Unavailable,
                    OnStoreError::Allow => FirstUse::New,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn a_value_is_new_once_until_it_expires() {
        let guard = ReplayGuard::memory();
        block_on(async {
            assert_eq!(guard.first_use(&["c"], Seen::Text("a"), 100, 160).await, FirstUse::New);
            assert_eq!(guard.first_use(&["c"], Seen::Text("a"), 150, 210).await, FirstUse::Replayed);
            assert_eq!(guard.first_use(&["c"], Seen::Text("b"), 150, 210).await, FirstUse::New);
            // Another partition's value of the same bytes is another value.
            assert_eq!(guard.first_use(&["d"], Seen::Text("a"), 150, 210).await, FirstUse::New);
            // Past its time it may be used again (the window refuses it by then anyway).
            assert_eq!(guard.first_use(&["c"], Seen::Text("a"), 161, 221).await, FirstUse::New);
        });
    }

    #[test]
    fn a_full_memory_refuses_instead_of_forgetting_a_live_entry() {
        let guard = ReplayGuard::with_limits(100, 60, 1);
        block_on(async {
            assert_eq!(
                guard.first_use(&["victim"], Seen::Text("used-signature"), 1000, 1300).await,
                FirstUse::New
            );
            // Another client fills its share, then the rest of the memory is left alone.
            for i in 0..59 {
                assert_eq!(
                    guard.first_use(&["noisy"], Seen::Text(&format!("v{i}")), 1000, 1300).await,
                    FirstUse::New
                );
            }
            assert_eq!(guard.first_use(&["noisy"], Seen::Text("v59"), 1000, 1300).await, FirstUse::New);
            assert_eq!(guard.first_use(&["noisy"], Seen::Text("v60"), 1000, 1300).await, FirstUse::Full);
            for i in 0..39 {
                assert_eq!(
                    guard.first_use(&[&format!("c{i}")], Seen::Text("x"), 1000, 1300).await,
                    FirstUse::New
                );
            }
            assert_eq!(guard.first_use(&["another"], Seen::Text("x"), 1000, 1300).await, FirstUse::Full);
            // The victim's signature is still remembered after all that.
            assert_eq!(
                guard.first_use(&["victim"], Seen::Text("used-signature"), 1200, 1500).await,
                FirstUse::Replayed
            );
            // Once the entries' time is over they go, and there is room again.
            assert_eq!(guard.first_use(&["noisy"], Seen::Text("v60"), 1301, 1600).await, FirstUse::New);
            assert_eq!(
                guard.first_use(&["victim"], Seen::Text("used-signature"), 1301, 1600).await,
                FirstUse::New
            );
        });
    }

    #[test]
    fn a_sweep_forgets_only_what_is_over_and_frees_its_clients_share() {
        let guard = ReplayGuard::with_limits(100, 2, 1);
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("short"), 1000, 1001), FirstUse::New);
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("long"), 1000, 1300), FirstUse::New);
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("third"), 1000, 1300), FirstUse::Full);
        // Swept at 1002: "short" is over, "long" is not.
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("third"), 1002, 1300), FirstUse::New);
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("long"), 1002, 1300), FirstUse::Replayed);
        // A clock that steps back sees every live entry still there.
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("long"), 990, 1300), FirstUse::Replayed);
        assert_eq!(guard.first_use_here(&["c"], Seen::Text("third"), 990, 1300), FirstUse::Replayed);
    }

    #[test]
    fn a_signatures_tag_is_remembered_under_its_partition() {
        let guard = ReplayGuard::memory();
        let (a, b) = ([7u8; 32], [8u8; 32]);
        let mac = |tag| Seen::Mac { tag, hex: "" };
        assert_eq!(guard.first_use_here(&["iss", "c"], mac(&a), 100, 160), FirstUse::New);
        assert_eq!(guard.first_use_here(&["iss", "c"], mac(&a), 100, 160), FirstUse::Replayed);
        assert_eq!(guard.first_use_here(&["iss", "c"], mac(&b), 100, 160), FirstUse::New);
        // Two clients sharing a secret may send one tag: each is its own first use.
        assert_eq!(guard.first_use_here(&["iss", "d"], mac(&a), 100, 160), FirstUse::New);
        assert_eq!(guard.first_use_here(&["other", "c"], mac(&a), 100, 160), FirstUse::New);
        assert_eq!(guard.first_use_here(&["iss", "d"], mac(&a), 100, 160), FirstUse::Replayed);
    }

    #[test]
    fn a_partition_of_several_parts_is_not_another_spelling_of_one() {
        let guard = ReplayGuard::memory();
        assert_eq!(guard.first_use_here(&["ab", "c"], Seen::Text("v"), 100, 160), FirstUse::New);
        assert_eq!(guard.first_use_here(&["a", "bc"], Seen::Text("v"), 100, 160), FirstUse::New);
        assert_eq!(guard.first_use_here(&["ab", "c"], Seen::Text("v"), 100, 160), FirstUse::Replayed);
    }

    #[test]
    fn one_clients_share_holds_across_shards() {
        // 16 shards, a share of 1,600: 100 in each shard.
        let guard = ReplayGuard::with_limits(100_000, 1_600, 16);
        assert_eq!(guard.first_use_here(&["victim"], Seen::Text("used"), 1000, 1300), FirstUse::New);
        let mut admitted = 0;
        for i in 0..5_000 {
            if guard.first_use_here(&["noisy"], Seen::Text(&format!("v{i}")), 1000, 1300) == FirstUse::New {
                admitted += 1;
            }
        }
        // Never more than its share; refused only once some shard holds its part of it.
        assert!(admitted <= 1_600, "{admitted}");
        assert!(admitted > 1_400, "{admitted}");
        assert_eq!(guard.first_use_here(&["victim"], Seen::Text("used"), 1000, 1300), FirstUse::Replayed);
        assert_eq!(guard.first_use_here(&["quiet"], Seen::Text("x"), 1000, 1300), FirstUse::New);
    }
}
