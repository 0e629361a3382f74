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
use std::time::Duration;

pub fn queue_key(prefix: &str, queue: JobQueue) -> String {
    format!("{prefix}queue:{}", queue.as_str())
}

/// Pushes wake-ups for committed jobs.
#[derive(Clone)]
pub struct Dispatcher {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    /// Most wake-ups one queue's list holds (`JOB_REDIS_WINDOW`).
    window: usize,
}

/// A wake-up slower than this is abandoned rather than delaying its caller: the job is
/// committed, and an idle worker looks at the outbox every second anyway.
const WAKE_TIMEOUT: Duration = Duration::from_millis(500);

impl Dispatcher {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: impl Into<String>, window: usize) -> Self {
        Dispatcher { conn, prefix: prefix.into(), window }
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }
}

/// Pushes one wake-up while the list is below the window, atomically (a full list already
/// holds wake-ups enough).
const BOUNDED_PUSH: &str = r"
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  return 1
end
return 0";

impl Dispatcher {
    /// Wakes an idle worker of `queue` for a job just committed: the one wake-up path of
    /// the api, the webhook inbox and the benchmarks. A failed wake-up is only logged.
    pub async fn wake(&self, queue: JobQueue, job_id: uuid::Uuid) {
        let body = serde_json::to_string(&JobMessage { job_id }).unwrap_or_default();
        let mut conn = self.conn.clone();
        let script = redis::Script::new(BOUNDED_PUSH);
        let mut invocation = script.key(queue_key(&self.prefix, queue));
        invocation.arg(body).arg(self.window);
        match tokio::time::timeout(WAKE_TIMEOUT, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(queue = queue.as_str(), %job_id, error = %e, "wake-up failed"),
            Err(_) => tracing::warn!(queue = queue.as_str(), %job_id, "wake-up timed out"),
        }
    }
}
