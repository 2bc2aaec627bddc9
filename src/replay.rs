//! Remembers what was seen once (request signatures, and later DPoP proof `jti`s) for as long
//! as it could be replayed: in memory, bounded, or shared by every replica in Redis with
//! `SET NX EX` (feature `redis`).

use std::collections::HashMap;
use std::sync::Mutex;

/// At most this many remembered values in memory; past it the expired go first, then an
/// arbitrary tenth (a replay of one of those would then pass: size the window to the load).
const MAX_ENTRIES: usize = 1_000_000;

pub(crate) struct ReplayGuard {
    /// A 128-bit digest of each value, to the unix second it is remembered until: 32 bytes an
    /// entry, whatever the value's length.
    seen: Mutex<HashMap<u128, u64>>,
    #[cfg(feature = "redis")]
    redis: Option<(crate::redis::Redis, String, std::time::Duration)>,
}

impl ReplayGuard {
    /// In this process only.
    pub(crate) fn memory() -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            #[cfg(feature = "redis")]
            redis: None,
        }
    }

    /// Shared through Redis: keys `{prefix}{value}`; each call bounded by `timeout`, and a
    /// Redis that cannot answer falls back to this process's memory (logged).
    #[cfg(feature = "redis")]
    pub(crate) fn redis(target: crate::RedisTarget, prefix: String, timeout: std::time::Duration) -> Self {
        Self {
            seen: Mutex::new(HashMap::new()),
            redis: Some((crate::redis::Redis::new(target), prefix, timeout)),
        }
    }

    /// Shared through the Redis at `url` (feature `redis`), with keys `{prefix}{value}` and
    /// each call bounded by 100 ms; in this process's memory without a URL.
    #[cfg(feature = "redis")]
    pub(crate) fn for_setting(url: Option<&str>, prefix: &str) -> Result<Self, crate::error::ConfigError> {
        match url {
            Some(u) => Ok(Self::redis(
                crate::RedisTarget::parse(u)?,
                prefix.to_owned(),
                std::time::Duration::from_millis(100),
            )),
            None => Ok(Self::memory()),
        }
    }

    /// Whether `value` is seen for the first time; it is then remembered until `until`
    /// (unix seconds; `now` is the caller's clock).
    pub(crate) async fn first_use(&self, value: &str, now: u64, until: u64) -> bool {
        #[cfg(feature = "redis")]
        if let Some((redis, prefix, timeout)) = &self.redis {
            let ttl = until.saturating_sub(now).max(1);
            let cmd = ::redis::cmd("SET")
                .arg(format!("{prefix}{value}"))
                .arg("1")
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .clone();
            match redis.query::<Option<String>>(&cmd, *timeout).await {
                Ok(set) => return set.is_some(),
                Err(_e) => {
                    crate::log::warn!(error = %_e, "the replay store in Redis cannot answer; checking this process's memory")
                }
            }
        }
        self.first_use_in_memory(value, now, until)
    }

    fn first_use_in_memory(&self, value: &str, now: u64, until: u64) -> bool {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
        let key = u128::from_le_bytes(digest.as_ref()[..16].try_into().unwrap_or_default());
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(&key).is_some_and(|&u| u >= now) {
            return false;
        }
        if seen.len() >= MAX_ENTRIES {
            seen.retain(|_, u| *u >= now);
            if seen.len() >= MAX_ENTRIES {
                let drop: Vec<u128> = seen.keys().take(seen.len() / 10 + 1).copied().collect();
                for k in drop {
                    seen.remove(&k);
                }
            }
        }
        seen.insert(key, until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_new_once_until_it_expires() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let guard = ReplayGuard::memory();
        rt.block_on(async {
            assert!(guard.first_use("a", 100, 160).await);
            assert!(!guard.first_use("a", 150, 210).await);
            assert!(guard.first_use("b", 150, 210).await);
            // Past its time it may be used again (the window refuses it by then anyway).
            assert!(guard.first_use("a", 161, 221).await);
        });
    }
}
