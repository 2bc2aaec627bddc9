//! The verified-token cache: a second request with the same token costs a hash lookup.
//!
//! Only tokens that passed every check are stored, keyed by the whole token (compared in full
//! on every hit, so no other string can match an entry). Bounded by entries and by bytes
//! (counted as the entries really hold them); when a shard is full, expired entries go first,
//! then an arbitrary tenth of the shard.
//!
//! ## What a hit may skip, and what it must never skip
//!
//! A hit stands for the checks that depend on **the token alone** and cannot change while it
//! is cached: its structure, header, `alg`, signature, `iss`, `aud`, `typ`, the RFC 9068
//! claims, that any `cnf` is one permiso can check (`jkt`), and the issuer's decisions
//! (scopes, service token, trust). Tokens bound to a DPoP key are cached like any other.
//!
//! A hit is re-checked every time for what **time or the key set** can change: `exp`/`nbf`/
//! `iat` against the clock, and that the key which verified the token is still in its
//! issuer's usable set (`get_valid`'s `is_valid`, given by the verifier).
//!
//! A hit never stands for what **the request or shared state** decides, which therefore runs
//! after the cache, on hits and misses alike: whether the token's binding fits the scheme it
//! came with (a bound token as `Bearer` is refused; `DPoP` needs a bound token), revocation
//! (a token can be revoked while cached), the DPoP proof (each proof is for one request:
//! method, URL, `ath`, `iat`, a `jti` never seen before), request signatures, rate limits.
//! None of those may ever be stored here. Metrics and logs record; they decide nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::claims::Claims;
use crate::heap::{heap_block, heap_str};
use crate::keys::Key;

/// A token that passed every check, and what the cache needs to know of it.
pub(crate) struct Verified {
    pub(crate) claims: Arc<Claims>,
    /// The key that verified it.
    pub(crate) key: Key,
    /// The index of its issuer in the verifier.
    pub(crate) issuer: usize,
}

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
        // The token's last 32 bytes: a JWT's signature (an opaque token's random tail), which
        // tells tokens apart as well as the whole would at a tenth of the hashing. Only the
        // bucket depends on it: an entry is found only by the whole token, compared in full.
        let tail = &token.as_bytes()[token.len().saturating_sub(32)..];
        let hash = self.hasher.hash_one(tail);
        // Bits the maps use least: hashbrown takes the low bits for the bucket and the top
        // seven for its tags.
        (hash, &self.shards[(hash >> 28) as usize % SHARDS])
    }

    /// The claims of exactly this token if an entry holds it and `is_valid` still says yes;
    /// an entry that fails `is_valid` is dropped. Counts a hit or a miss.
    pub(crate) fn get_valid(
        &self,
        token: &str,
        is_valid: impl FnOnce(&Entry) -> bool,
    ) -> Option<Arc<Claims>> {
        let (hash, shard) = self.locate(token);
        // Judged under the read lock: a hit costs the claims' reference count, not the entry's.
        let found = {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            match shard.map.get(&hash).filter(|e| &*e.token == token) {
                Some(entry) if is_valid(entry) => Ok(Arc::clone(&entry.claims)),
                Some(_) => Err(true),
                None => Err(false),
            }
        };
        match found {
            Ok(claims) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(claims)
            }
            Err(stale) => {
                if stale {
                    self.remove(token);
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Drops the entry for this token (it expired, or its key is gone).
    fn remove(&self, token: &str) {
        let (hash, shard) = self.locate(token);
        let mut shard = shard.write().unwrap_or_else(|e| e.into_inner());
        if shard.map.get(&hash).is_some_and(|e| &*e.token == token)
            && let Some(old) = shard.map.remove(&hash)
        {
            shard.bytes -= old.bytes;
        }
    }

    /// Stores a verified token. `expired` tells which entries have expired, for eviction.
    pub(crate) fn insert(&self, token: &str, verified: &Verified, expired: impl Fn(&Claims) -> bool) {
        let claims = &verified.claims;
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
        let entry = Arc::new(Entry {
            token: token.into(),
            claims: Arc::clone(claims),
            key: verified.key.clone(),
            issuer: verified.issuer,
            bytes,
        });
        if let Some(old) = shard.map.insert(hash, entry) {
            shard.bytes -= old.bytes;
        }
        shard.bytes += bytes;
        drop(shard);
        #[cfg(feature = "metrics")]
        crate::metrics::cache_entries(self.stats().entries as u64);
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
