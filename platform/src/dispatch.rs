//! The Redis side of the queue: one list per queue, used as an apalis backend.
//!
//! We do not use apalis-redis 1.0: it routes every push through a scheduled set whose
//! promotion script fails past ~8,000 due jobs, and an idle worker only notices new jobs
//! at its 30 s heartbeat. This backend is a plain list per queue: producers `RPUSH`,
//! workers `BLPOP` (so an idle worker wakes at once), and messages carry only the outbox
//! id. Acknowledgement, retries and redelivery live in the database outbox, so a message
//! lost in Redis (or with a dying worker) is pushed again by the relay.

use apalis::prelude::{BackendBuilder, BoxDynError, CustomBackend, Task};
use billing::jobs::JobMessage;
use entities::JobQueue;
use futures::stream::BoxStream;
use futures::{Sink, StreamExt};
use redis::AsyncCommands;
use std::pin::Pin;
use std::time::Duration;

pub type TaskStream = BoxStream<'static, Result<Option<Task<JobMessage>>, BoxDynError>>;
pub type TaskSinkBox = Pin<Box<dyn Sink<Task<JobMessage>, Error = BoxDynError> + Send>>;
/// The apalis backend of one queue.
pub type QueueBackend = CustomBackend<JobMessage, QueueDb, TaskStream, TaskSinkBox, ()>;

/// Where a queue lives in Redis.
#[derive(Debug, Clone)]
pub struct QueueDb {
    /// Opens each fetcher's own connection.
    pub client: redis::Client,
    /// Shared, multiplexed: what producers push on.
    pub conn: redis::aio::ConnectionManager,
    pub key: String,
    /// Most messages the list may hold; a push past it is left to the relay.
    pub window: usize,
}

/// Pushes only while the list is below the window, atomically. Returns the new length,
/// or 0 when the list was full (the job then waits in the outbox for the relay).
const BOUNDED_PUSH: &str = r"
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[2]) then
  return redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 0";

/// Connection settings for the fetchers' blocking pops: the response timeout must
/// outlast the pop's own wait.
fn pop_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(POP_WAIT + Duration::from_secs(2)))
}

pub fn queue_key(prefix: &str, queue: JobQueue) -> String {
    format!("{prefix}queue:{}", queue.as_str())
}

/// How long one `BLPOP` waits before the fetcher yields "nothing yet" to apalis.
const POP_WAIT: Duration = Duration::from_secs(1);

fn fetcher(db: &QueueDb) -> TaskStream {
    let db = db.clone();
    // The stream only ever yields tasks: apalis's `CustomBackend` reads "nothing now"
    // (`Ok(None)`) as the end of the stream and stops the worker, and an error as a
    // backend failure. So waiting, reconnecting and skipping bad messages happen here.
    futures::stream::unfold((db, None::<redis::aio::MultiplexedConnection>), |(db, mut conn)| async move {
        loop {
            let mut c = match conn.take() {
                Some(c) => c,
                // Each fetcher gets its own connection: BLPOP blocks the connection it runs on.
                None => match db.client.get_multiplexed_async_connection_with_config(&pop_config()).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot connect to Redis; retrying");
                        tokio::time::sleep(POP_WAIT).await;
                        continue;
                    }
                },
            };
            let popped: Result<Option<(String, String)>, _> = c.blpop(&db.key, POP_WAIT.as_secs_f64()).await;
            match popped {
                Ok(None) => conn = Some(c),
                Ok(Some((_, body))) => match serde_json::from_str::<JobMessage>(&body) {
                    Ok(msg) => return Some((Ok(Some(Task::new(msg))), (db, Some(c)))),
                    Err(e) => {
                        // Not a job of ours; drop it. Our jobs are safe in the outbox anyway.
                        tracing::warn!(error = %e, "dropping malformed queue message");
                        conn = Some(c);
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "Redis pop failed; reconnecting");
                    tokio::time::sleep(POP_WAIT).await;
                }
            }
        }
    })
    .boxed()
}

fn sinker(db: &QueueDb) -> TaskSinkBox {
    let db = db.clone();
    Box::pin(futures::sink::unfold(db, |db, task: Task<JobMessage>| async move {
        let body = serde_json::to_string(&task.args)?;
        let mut conn = db.conn.clone();
        let _: i64 =
            redis::Script::new(BOUNDED_PUSH).key(&db.key).arg(body).arg(db.window).invoke_async(&mut conn).await?;
        Ok::<_, BoxDynError>(db)
    }))
}

/// The apalis backend for `queue`: a worker fetches from it, a producer pushes to it.
pub fn backend(
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    prefix: &str,
    queue: JobQueue,
    window: usize,
) -> Result<QueueBackend, BoxDynError> {
    let db = QueueDb { client, conn, key: queue_key(prefix, queue), window };
    Ok(BackendBuilder::new()
        .database(db)
        .fetcher(|db: &mut QueueDb, _: &(), _| fetcher(db))
        .sink(|db: &mut QueueDb, _: &()| sinker(db))
        .build()?)
}

/// Pushes without apalis's sink, for the relay's batches: one `RPUSH` for many ids.
#[derive(Clone)]
pub struct Dispatcher {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl Dispatcher {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: impl Into<String>) -> Self {
        Dispatcher { conn, prefix: prefix.into() }
    }

    pub fn connection(&self) -> redis::aio::ConnectionManager {
        self.conn.clone()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn push(&self, queue: JobQueue, messages: &[JobMessage]) -> Result<(), redis::RedisError> {
        if messages.is_empty() {
            return Ok(());
        }
        let bodies: Vec<String> = messages.iter().filter_map(|m| serde_json::to_string(m).ok()).collect();
        let mut conn = self.conn.clone();
        let _: i64 = conn.rpush(queue_key(&self.prefix, queue), bodies).await?;
        Ok(())
    }

    /// Jobs waiting in Redis for `queue`.
    pub async fn depth(&self, queue: JobQueue) -> Result<usize, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.llen(queue_key(&self.prefix, queue)).await
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }
}

/// Pushes as many of the messages as the window leaves room for, atomically; the rest
/// wait in the outbox for the relay. Returns how many were pushed.
const BOUNDED_PUSH_MANY: &str = r"
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[1])
local n = 0
for i = 2, #ARGV do
  if n >= room then break end
  redis.call('RPUSH', KEYS[1], ARGV[i])
  n = n + 1
end
return n";

impl Dispatcher {
    pub async fn push_bounded(
        &self,
        queue: JobQueue,
        messages: &[JobMessage],
        window: usize,
    ) -> Result<usize, redis::RedisError> {
        if messages.is_empty() {
            return Ok(0);
        }
        let script = redis::Script::new(BOUNDED_PUSH_MANY);
        let mut invocation = script.prepare_invoke();
        invocation.key(queue_key(&self.prefix, queue)).arg(window);
        for m in messages {
            if let Ok(body) = serde_json::to_string(m) {
                invocation.arg(body);
            }
        }
        let mut conn = self.conn.clone();
        invocation.invoke_async(&mut conn).await
    }
}
