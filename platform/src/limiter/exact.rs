//! Exact key limits (the default): every admission is decided by Redis, atomically, so no
//! key is ever admitted past its limits however many api processes share it. The
//! admissions waiting in one process go to Redis together, as one script call that decides
//! them one after the other (group commit, as webhook ingestion does): under load a call
//! carries whatever arrived while the previous ones were answered, so Redis parses,
//! dispatches and answers one command for many verifications, and the api writes and reads
//! its socket once for them. Under light load a call carries one admission and costs what
//! it always did. The script is what a single admission's was, in a loop, so the answer a
//! request gets is the one it would get alone at that point in Redis's order.

use super::{QUOTA_TTL_SECS, WINDOW_MS};
use billing::DomainError;
use billing::verify::{Admission, Limits, Reason};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The rate limit is a sliding log over the last second (a sorted set of admitted request
/// times, from Redis's clock so every api process agrees): no burst at a window's edge, so
/// any 5 s see at most 5 × the limit. The quota is a monthly counter. Nothing is recorded
/// for a refused request. KEYS are (rate log, quota counter) per admission; ARGV is the
/// window and the quota's TTL, then (limit, quota, cost, log member) per admission. The
/// answer is six integers per admission: allowed, refusal code, limit, remaining, reset, used.
const ADMIT_MANY: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
-- Numbers given to redis.call are formatted (and parsed back) on every call: once here.
local now_s = string.format('%d', now)
local cutoff_s = string.format('%d', now - window)
local life_s = string.format('%d', window * 2)
local out = {}
for i = 1, #KEYS / 2 do
  local rate_key, quota_key = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 2 + (i - 1) * 4
  local limit = tonumber(ARGV[a + 1])
  local quota = tonumber(ARGV[a + 2])
  local cost = tonumber(ARGV[a + 3])
  local count = 0
  local reset = now
  if limit > 0 then
    redis.call('ZREMRANGEBYSCORE', rate_key, '-inf', cutoff_s)
    count = redis.call('ZCARD', rate_key)
    if count >= limit then
      local oldest = redis.call('ZRANGE', rate_key, 0, 0, 'WITHSCORES')
      reset = tonumber(oldest[2]) + window
    end
  end
  local o = #out
  if limit > 0 and count >= limit then
    local used = tonumber(redis.call('GET', quota_key) or '0')
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5], out[o + 6] = 0, 1, limit, 0, reset, used
  else
    -- The cost is added first and taken back if it passes the quota: one call for the
    -- common case, an admission, instead of a read and then a write.
    local used, over
    if cost > 0 then
      used = redis.call('INCRBY', quota_key, cost)
      over = quota >= 0 and used > quota
      if over and used == cost then
        redis.call('DEL', quota_key)
      elseif over then
        redis.call('DECRBY', quota_key, cost)
      elseif used == cost then
        -- A counter is created by its first increment: it is given its lifetime then.
        redis.call('EXPIRE', quota_key, ttl)
      end
      if over then used = used - cost end
    else
      used = tonumber(redis.call('GET', quota_key) or '0')
      over = quota >= 0 and used > quota
    end
    if over then
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5], out[o + 6] = 0, 2, limit, limit - count, reset, used
    else
      if limit > 0 then
        redis.call('ZADD', rate_key, now_s, ARGV[a + 4])
        redis.call('PEXPIRE', rate_key, life_s)
        count = count + 1
      end
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5], out[o + 6] = 1, 0, limit, limit - count, reset, used
    end
  end
end
return out";

/// Most admissions one script call decides: a call holds Redis for its whole length, so
/// this bounds how long one call can delay every other client.
const MAX_BATCH: usize = 64;
/// Calls in flight at once on the shared connection. Two keep Redis busy while a batch
/// gathers, without splitting the load into many small calls.
const PARALLEL_CALLS: usize = 2;

/// One admission waiting for its call.
struct Pending {
    rate_key: String,
    quota_key: String,
    limits: Limits,
    cost: u64,
    reply: oneshot::Sender<Result<Admission, String>>,
}

#[derive(Clone)]
pub(super) struct Exact {
    tx: mpsc::Sender<Pending>,
}

impl Exact {
    /// Starts the collector (on the current tokio runtime); it ends when the last handle is
    /// dropped.
    pub(super) fn start(conn: redis::aio::ConnectionManager) -> Exact {
        let (tx, mut rx) = mpsc::channel::<Pending>(MAX_BATCH * PARALLEL_CALLS * 16);
        let script = Arc::new(redis::Script::new(ADMIT_MANY));
        tokio::spawn(async move {
            let calls = Arc::new(Semaphore::new(PARALLEL_CALLS));
            while let Some(first) = rx.recv().await {
                // Waiting for a free call is what lets a batch grow under load.
                let Ok(permit) = calls.clone().acquire_owned().await else { return };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (conn, script) = (conn.clone(), script.clone());
                tokio::spawn(async move {
                    decide(conn, &script, batch).await;
                    drop(permit);
                });
            }
        });
        Exact { tx }
    }

    pub(super) async fn admit(
        &self,
        rate_key: String,
        quota_key: String,
        limits: Limits,
        cost: u64,
    ) -> Result<Admission, DomainError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { rate_key, quota_key, limits, cost, reply };
        let closed = || DomainError::Unavailable("redis: the limiter stopped".to_owned());
        self.tx.send(pending).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?.map_err(DomainError::Unavailable)
    }
}

/// One script call for `batch`; each admission gets its own answer, or the call's error.
async fn decide(mut conn: redis::aio::ConnectionManager, script: &redis::Script, batch: Vec<Pending>) {
    let mut call = script.prepare_invoke();
    call.arg(WINDOW_MS).arg(QUOTA_TTL_SECS);
    for p in &batch {
        call.key(&p.rate_key).key(&p.quota_key);
        call.arg(p.limits.per_second.unwrap_or(0))
            .arg(p.limits.monthly.map(|q| q as i64).unwrap_or(-1))
            .arg(p.cost)
            // A unique member for the log; from the thread's CSPRNG, no syscall.
            .arg(format!("{:032x}", rand::random::<u128>()));
    }
    let answer: Result<Vec<i64>, _> = call.invoke_async(&mut conn).await;
    match answer {
        Ok(values) if values.len() == batch.len() * 6 => {
            for (p, v) in batch.into_iter().zip(values.chunks_exact(6)) {
                let _ = p.reply.send(Ok(admission(v)));
            }
        }
        Ok(values) => {
            let e = format!("redis: the limiter answered {} values for {} admissions", values.len(), batch.len());
            for p in batch {
                let _ = p.reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            let e = format!("redis: {e}");
            for p in batch {
                let _ = p.reply.send(Err(e.clone()));
            }
        }
    }
}

/// One admission's six integers, as the script answers them.
fn admission(v: &[i64]) -> Admission {
    let (allowed, code, limit, remaining, reset, used) = (v[0], v[1], v[2], v[3], v[4], v[5]);
    Admission {
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
    }
}
