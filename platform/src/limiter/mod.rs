//! Key rate limits and monthly quotas, shared by every api process through Redis: a
//! sliding one-second log per key subject and a monthly counter, admitted atomically by one
//! script (exact mode, the default: [`exact`]); or admitted locally and synchronised to
//! Redis asynchronously ([`approximate`]); and fixed-window counters for other per-account
//! rates.

mod approximate;
mod exact;

use billing::DomainError;
use billing::verify::{Admission, Limits};
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
    admitter: Admitter,
}

/// What decides key admissions, by mode.
#[derive(Clone)]
enum Admitter {
    Exact(exact::Exact),
    Approximate(std::sync::Arc<approximate::Approximate>),
}

impl Limiter {
    /// Starts the mode's admitter: the exact mode's collector of script calls, or the
    /// approximate mode's sync loop (on the current tokio runtime).
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str, mode: VerifyMode) -> Limiter {
        let admitter = match mode {
            VerifyMode::Exact => Admitter::Exact(exact::Exact::start(conn.clone())),
            VerifyMode::Approximate { sync } => {
                Admitter::Approximate(approximate::Approximate::start(conn.clone(), prefix.to_owned(), sync))
            }
        };
        Limiter { conn, prefix: prefix.to_owned(), admitter }
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
        match &self.admitter {
            Admitter::Approximate(a) => a.admit(subject, limits, cost, now).await,
            Admitter::Exact(e) => {
                let quota_key = self.quota_key(subject, &billing::usage::period_of(now));
                e.admit(format!("{}rate:{subject}", self.prefix), quota_key, limits, cost).await
            }
        }
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
