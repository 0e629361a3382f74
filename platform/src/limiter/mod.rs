//! Key rate limits and monthly quotas, shared by every api process through Redis: a
//! sliding one-second log per key subject and a monthly counter, admitted atomically by one
//! script (exact mode, the default); or admitted locally and synchronised to Redis
//! asynchronously ([`approximate`]); and fixed-window counters for other per-account rates.

mod approximate;

use billing::DomainError;
use billing::verify::{Admission, Limits, Reason};
use chrono::{DateTime, Utc};

/// How keys are admitted (`VERIFY_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// One Redis script per verification: no key is ever admitted past its limits.
    Exact,
    /// Local counters, sent to Redis every `sync`: no Redis round trip per verification,
    /// over-admission bounded by what the other processes admit in one interval.
    Approximate { sync: std::time::Duration },
}

/// Redis failed: a transient error (the request may be retried).
fn unavailable(e: redis::RedisError) -> DomainError {
    DomainError::Unavailable(format!("redis: {e}"))
}

/// The rate limit is a sliding log over the last second (a sorted set of admitted request
/// times, from Redis's clock so every api process agrees): no burst at a window's edge, so
/// any 5 s see at most 5 × the limit. The quota is a monthly counter. Nothing is recorded
/// for a refused request.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local count = 0
local reset = now
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  count = redis.call('ZCARD', KEYS[1])
  if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    reset = tonumber(oldest[2]) + window
  end
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if limit > 0 and count >= limit then return {0, 1, limit, 0, reset, used} end
if quota >= 0 and used + cost > quota then return {0, 2, limit, limit - count, reset, used} end
if limit > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[6])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  count = count + 1
end
if cost > 0 then
  used = redis.call('INCRBY', KEYS[2], cost)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
end
return {1, 0, limit, limit - count, reset, used}";

/// A subject's monthly quota counter: one key, whichever mode admits against it.
fn quota_key(prefix: &str, subject: &str, period: &str) -> String {
    format!("{prefix}quota:{subject}:{period}")
}

/// The rate window: one second.
const WINDOW_MS: i64 = 1_000;
/// How long a month's quota counter outlives its month (for the usage read after it).
const QUOTA_TTL_SECS: i64 = 40 * 86_400;

#[derive(Clone)]
pub struct Limiter {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    approximate: Option<std::sync::Arc<approximate::Approximate>>,
}

impl Limiter {
    /// In approximate mode this starts the sync loop (on the current tokio runtime).
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str, mode: VerifyMode) -> Limiter {
        let approximate = match mode {
            VerifyMode::Exact => None,
            VerifyMode::Approximate { sync } => {
                Some(approximate::Approximate::start(conn.clone(), prefix.to_owned(), sync))
            }
        };
        Limiter { conn, prefix: prefix.to_owned(), script: redis::Script::new(ADMIT), approximate }
    }

    fn quota_key(&self, subject: &str, period: &str) -> String {
        quota_key(&self.prefix, subject, period)
    }

    /// Admits one request costing `cost` against the counters of `subject`
    /// ([`KeyInfo::counter_subject`]), or says which refused.
    pub async fn admit(
        &self,
        subject: &str,
        limits: Limits,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Admission, DomainError> {
        if let Some(a) = &self.approximate {
            return a.admit(subject, limits, cost, now).await;
        }
        let period = billing::usage::period_of(now);
        let quota = limits.monthly.map(|q| q as i64).unwrap_or(-1);
        let mut conn = self.conn.clone();
        let (allowed, code, limit, remaining, reset, used): (i64, i64, i64, i64, i64, i64) = self
            .script
            .key(format!("{}rate:{subject}", self.prefix))
            .key(self.quota_key(subject, &period))
            .arg(limits.per_second.unwrap_or(0))
            .arg(WINDOW_MS)
            .arg(quota)
            .arg(cost)
            .arg(QUOTA_TTL_SECS)
            // A unique member for the log; from the thread's CSPRNG, no syscall.
            .arg(format!("{:032x}", rand::random::<u128>()))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(Admission {
            allowed: allowed == 1,
            reason: match code {
                1 => Some(Reason::RateLimited),
                2 => Some(Reason::QuotaExceeded),
                _ => None,
            },
            rate_limit: u32::try_from(limit).unwrap_or(0),
            rate_remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
            rate_reset_ms: reset,
            used: u64::try_from(used.max(0)).unwrap_or(0),
        })
    }

    /// A fixed-window counter for request rates that are not a key's (verification
    /// requests per account): whether one more is allowed in the current window.
    pub async fn allow_in_window(&self, subject: &str, limit: u32, window_secs: u64) -> Result<bool, DomainError> {
        let now = Utc::now().timestamp() as u64;
        let key = format!("{}window:{subject}:{}", self.prefix, now / window_secs.max(1));
        let mut conn = self.conn.clone();
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, window_secs as i64 + 1)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(count <= u64::from(limit))
    }

    /// This month's admitted cost for a subject (`queriesThisMonth` of the key-tier API).
    pub async fn used(&self, subject: &str, now: DateTime<Utc>) -> Result<u64, DomainError> {
        use redis::AsyncCommands;
        let mut conn = self.conn.clone();
        let used: Option<u64> =
            conn.get(self.quota_key(subject, &billing::usage::period_of(now))).await.map_err(unavailable)?;
        Ok(used.unwrap_or(0))
    }
}
