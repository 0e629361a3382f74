//! The Redis side of the queue: wake-ups. Jobs live in the Postgres outbox and workers
//! claim them from there in batches (`worker::fetch`); after a producer commits a job it
//! pushes a message naming it onto its queue's list, and an idle worker blocked on that
//! list wakes and claims. The list is bounded (`JOB_REDIS_WINDOW`): a push past it is
//! dropped, which costs nothing, since a worker that is not idle is claiming anyway and an
//! idle one looks at the outbox every second.
//!
//! We do not use apalis-redis 1.0: it routes every push through a scheduled set whose
//! promotion script fails past ~8,000 due jobs, and an idle worker only notices new jobs
//! at its 30 s heartbeat.

use billing::jobs::JobMessage;
use entities::JobQueue;

pub fn queue_key(prefix: &str, queue: JobQueue) -> String {
    format!("{prefix}queue:{}", queue.as_str())
}

/// Pushes wake-ups for committed jobs.
#[derive(Clone)]
pub struct Dispatcher {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl Dispatcher {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Dispatcher { conn, prefix: prefix.into() }
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }
}

/// Pushes one wake-up while the list is below the window, atomically. Returns whether it
/// was pushed (a full list already holds wake-ups enough).
const BOUNDED_PUSH: &str = r"
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  return 1
end
return 0";

impl Dispatcher {
    /// Wakes an idle worker of `queue` for a job just committed.
    pub async fn wake(&self, queue: JobQueue, job_id: uuid::Uuid, window: usize) -> Result<bool, redis::RedisError> {
        let body = serde_json::to_string(&JobMessage { job_id }).unwrap_or_default();
        let mut conn = self.conn.clone();
        let pushed: i64 = redis::Script::new(BOUNDED_PUSH)
            .key(queue_key(&self.prefix, queue))
            .arg(body)
            .arg(window)
            .invoke_async(&mut conn)
            .await?;
        Ok(pushed == 1)
    }
}
