//! The verified-token cache: a second request with the same token costs a hash lookup.
//!
//! Only tokens that passed every check are stored, keyed by the whole token (compared in full
//! on every hit, so no other string can match an entry). On every hit the verifier re-checks
//! `exp` and `nbf` against its clock and that the key which verified the token is still in
//! its issuer's key set; an entry that fails is dropped and the token verified afresh.
//! Bounded by entries and by bytes; when a shard is full, expired entries go first, then an
//! arbitrary tenth of the shard.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::claims::{Claims, heap_block, heap_str};
use crate::keys::Key;

const SHARDS: usize = 16;

/// Default bounds: enough for every service token of a large fleet, a few MiB at most.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 10_000;
pub(crate) const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The hit/miss counters of a verifier's token cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications that ran in full (cache empty for that token, or the entry was stale).
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
    /// Approximate bytes held now.
    pub bytes: usize,
}

pub(crate) struct Entry {
    token: Box<str>,
    pub(crate) claims: Arc<Claims>,
    /// The key that verified the token; the entry is void once its issuer drops that key.
    pub(crate) key: Key,
    pub(crate) issuer: usize,
    bytes: usize,
}

/// Entries are keyed by the token's 64-bit hash, computed once; the token itself is kept in
/// the entry and compared in full.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Arc<Entry>, BuildHasherDefault<PassThrough>>,
    bytes: usize,
}

pub(crate) struct TokenCache {
    shards: Box<[RwLock<Shard>]>,
    /// Seeded per cache. Only verified tokens are stored, so an attacker cannot choose keys
    /// to collide; a fast hash is safe here and takes ~70 ns off every hit.
    hasher: foldhash::fast::RandomState,
    max_entries: usize,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TokenCache {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            max_entries: max_entries.div_ceil(SHARDS).max(1),
            max_bytes: max_bytes.div_ceil(SHARDS).max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn locate(&self, token: &str) -> (u64, &RwLock<Shard>) {
        let hash = self.hasher.hash_one(token);
        // Bits the maps use least: hashbrown takes the low bits for the bucket and the top
        // seven for its tags.
        (hash, &self.shards[(hash >> 28) as usize % SHARDS])
    }

    /// The entry for exactly this token, if any.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<Entry>> {
        let (hash, shard) = self.locate(token);
        let shard = shard.read().unwrap_or_else(|e| e.into_inner());
        shard.map.get(&hash).filter(|e| &*e.token == token).cloned()
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the entry for this token (it expired, or its key is gone).
    pub(crate) fn remove(&self, token: &str) {
        let (hash, shard) = self.locate(token);
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        if shard.map.get(&hash).is_some_and(|e| &*e.token == token)
            && let Some(old) = shard.map.remove(&hash)
        {
            shard.bytes -= old.bytes;
        }
    }

    /// Stores a verified token. `exp_of` tells which entries have expired, for eviction.
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: Arc<Claims>,
        key: Key,
        issuer: usize,
        expired: impl Fn(&Claims) -> bool,
    ) {
        // What the entry really holds: its block, the token's copy, the claims' every
        // allocation, and its slot in the shard's map.
        let bytes = heap_block(std::mem::size_of::<Entry>())
            + heap_str(token.len())
            + heap_block(2 * std::mem::size_of::<usize>() + std::mem::size_of::<Claims>())
            + claims.heap_bytes()
            + 2 * std::mem::size_of::<(u64, Arc<Entry>)>();
        if bytes > self.max_bytes {
            return;
        }
        let (hash, shard) = self.locate(token);
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        if shard.map.len() >= self.max_entries || shard.bytes + bytes > self.max_bytes {
            let Shard { map, bytes: held } = &mut *shard;
            map.retain(|_, e| {
                let keep = !expired(&e.claims);
                if !keep {
                    *held -= e.bytes;
                }
                keep
            });
            // Still full: drop an arbitrary tenth (hash order is random).
            if map.len() >= self.max_entries || *held + bytes > self.max_bytes {
                let drop: Vec<u64> = map.keys().take(map.len() / 10 + 1).copied().collect();
                for h in drop {
                    if let Some(old) = map.remove(&h) {
                        *held -= old.bytes;
                    }
                }
            }
        }
        let entry = Arc::new(Entry { token: token.into(), claims, key, issuer, bytes });
        if let Some(old) = shard.map.insert(hash, entry) {
            shard.bytes -= old.bytes;
        }
        shard.bytes += bytes;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0, 0);
        for shard in &*self.shards {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            entries += shard.map.len();
            bytes += shard.bytes;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}
