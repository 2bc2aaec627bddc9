//! The fleet-wide store: the same GCRA in Redis, one atomic script per request.
//!
//! Key `<prefix><client_id>` (prefix `permiso:rate_limit:` by default) holds the client's
//! theoretical arrival time in microseconds of Redis's own clock (`TIME`, so replicas' clocks
//! never disagree), with a TTL until it no longer matters.

use std::sync::Arc;
use std::time::Duration;

use super::policy::{Decision, Policy};
use crate::redis::{Redis, RedisFailure, RedisTarget};

/// KEYS[1] = the client's key; ARGV[1] = microseconds between requests; ARGV[2] = burst.
/// Answers {1, remaining, µs until the burst is whole again} or {0, µs to wait}.
const SCRIPT: &str = r"
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local limit = emission * burst
local new_tat = tat + emission
local ahead = new_tat - now
if ahead > limit then
  return {0, ahead - limit}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor(ahead / 1000) + 1)
return {1, math.floor((limit - ahead) / emission), ahead}
";

pub(super) struct RedisStore {
    redis: Redis,
    prefix: Arc<str>,
    timeout: Duration,
    sha: String,
}

impl RedisStore {
    /// The key prefix counts are kept under.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn new(target: RedisTarget, prefix: Arc<str>, timeout: Duration) -> Self {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, SCRIPT.as_bytes());
        let sha = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self { redis: Redis::shared(target), prefix, timeout, sha }
    }

    /// One request of `client` under `policy`, all within the timeout (each Redis call gets
    /// what is left of it, so that the shared handle's breaker sees a Redis that does not
    /// answer). While Redis is known to be down, this fails at once.
    pub(super) async fn check(&self, client: &str, policy: Policy) -> Result<Decision, RedisFailure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        self.run(client, policy, deadline).await
    }

    async fn run(
        &self,
        client: &str,
        policy: Policy,
        deadline: tokio::time::Instant,
    ) -> Result<Decision, RedisFailure> {
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut key = String::with_capacity(self.prefix.len() + client.len());
        key.push_str(&self.prefix);
        key.push_str(client);
        let emission = 60_000_000 / u64::from(policy.per_minute.max(1));
        let mut by_sha = redis::cmd("EVALSHA");
        by_sha.arg(&self.sha).arg(1).arg(&key).arg(emission).arg(policy.burst);
        let reply: Vec<i64> = match self.redis.query(&by_sha, left()).await {
            Err(RedisFailure::NoScript) => {
                let mut by_text = redis::cmd("EVAL");
                by_text.arg(SCRIPT).arg(1).arg(&key).arg(emission).arg(policy.burst);
                self.redis.query(&by_text, left()).await?
            }
            other => other?,
        };
        let micros = |v: Option<&i64>| Duration::from_micros(v.copied().unwrap_or(0).max(0).unsigned_abs());
        match reply.first() {
            Some(1) => Ok(Decision::Allowed {
                remaining: u32::try_from(reply.get(1).copied().unwrap_or(0).max(0)).unwrap_or(u32::MAX),
                reset: micros(reply.get(2)),
            }),
            Some(0) => Ok(Decision::Limited { retry_after: micros(reply.get(1)) }),
            _ => Err(RedisFailure::Failed("unexpected rate-limit script reply".into())),
        }
    }
}
