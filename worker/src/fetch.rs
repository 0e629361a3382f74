//! Where a queue's workers get their jobs: claimed from the Postgres outbox in batches, one
//! round trip for many jobs, and handed to apalis one at a time from a small local queue.
//! Redis only carries wake-ups: a producer pushes one after it commits a job, and an idle
//! fetcher blocks on it, so a new job starts at once without polling. An idle fetcher also
//! looks at the outbox every [`IDLE_POLL`], which is when retries whose backoff ended and
//! runs whose worker died (lease expired) come back.
//!
//! The local queue holds at most one concurrency's worth of claimed jobs beyond those
//! running, and the claim's lease covers waiting there plus the run (two time limits and
//! the margin), so a job is never claimed twice while its runner lives. Jobs still in the
//! local queue when the worker stops are released at once (`release`), not left to their
//! lease.

use crate::runner::Ctx;
use apalis::prelude::{BackendBuilder, BoxDynError, CustomBackend, Task};
use billing::jobs::JobQueue;
use billing::jobs::outbox;
use entities::jobs;
use futures::stream::BoxStream;
use futures::{Sink, SinkExt, StreamExt};
use redis::AsyncCommands;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long an idle fetcher waits for a wake-up before it looks at the outbox anyway.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

pub type TaskStream = BoxStream<'static, Result<Option<Task<jobs::Model>>, BoxDynError>>;
pub type TaskSinkBox = Pin<Box<dyn Sink<Task<jobs::Model>, Error = BoxDynError> + Send>>;
/// The apalis backend of one queue.
pub type QueueBackend = CustomBackend<jobs::Model, Claims, TaskStream, TaskSinkBox, ()>;

/// One queue's claimed jobs in this process: those waiting in the local queue, and how
/// many are running.
#[derive(Clone)]
pub struct Claims {
    pub queue: JobQueue,
    ctx: Arc<Ctx>,
    redis: redis::Client,
    wake_key: String,
    waiting: Arc<Mutex<VecDeque<jobs::Model>>>,
    running: Arc<AtomicUsize>,
    /// A claim under way. Claims run as their own tasks, never inside the stream: apalis
    /// drops the stream when the worker stops, and a claim dropped mid-flight may still
    /// commit, leaving rows claimed that nobody would run or release.
    claiming: Arc<AtomicBool>,
    claimed: Arc<Notify>,
    /// How many jobs the last claim took.
    last_claimed: Arc<AtomicUsize>,
}

impl Claims {
    pub fn new(ctx: Arc<Ctx>, redis: redis::Client, prefix: &str, queue: JobQueue) -> Claims {
        Claims {
            queue,
            ctx,
            redis,
            wake_key: platform::dispatch::queue_key(prefix, queue),
            waiting: Arc::default(),
            running: Arc::default(),
            claiming: Arc::default(),
            claimed: Arc::default(),
            last_claimed: Arc::default(),
        }
    }

    /// A run ended (whatever its outcome): room for one more.
    pub fn finished(&self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }

    fn next_waiting(&self) -> Option<jobs::Model> {
        let (job, left) = {
            let mut waiting = self.waiting.lock().ok()?;
            let job = waiting.pop_front()?;
            (job, waiting.len())
        };
        self.running.fetch_add(1, Ordering::AcqRel);
        // Running low: claim the next batch now, in the background, so the runners do not
        // wait on the claim's round trip when the local queue empties.
        if left <= self.ctx.settings.queue(self.queue).concurrency / 2 {
            self.claim_in_background();
        }
        Some(job)
    }

    fn claim_in_background(&self) {
        if self.claiming.swap(true, Ordering::AcqRel) {
            return;
        }
        let claims = self.clone();
        tokio::spawn(async move {
            let n = match claims.claim().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(queue = claims.queue.as_str(), error = %e, "claim failed");
                    0
                }
            };
            claims.last_claimed.store(n, Ordering::Release);
            claims.claiming.store(false, Ordering::Release);
            claims.claimed.notify_one();
        });
    }

    /// How many more jobs to claim now: one concurrency's worth beyond those running.
    fn room(&self) -> u64 {
        let concurrency = self.ctx.settings.queue(self.queue).concurrency;
        let waiting = self.waiting.lock().map_or(usize::MAX, |w| w.len());
        (2 * concurrency).saturating_sub(self.running.load(Ordering::Acquire)).saturating_sub(waiting) as u64
    }

    async fn claim(&self) -> Result<usize, sea_orm::DbErr> {
        let room = self.room();
        if room == 0 {
            return Ok(0);
        }
        let policy = self.ctx.settings.queue(self.queue);
        let lease = policy.timeout * 2 + self.ctx.settings.lease_margin;
        let claimed = outbox::claim_batch(&self.ctx.db, self.queue, room, lease).await?;
        let n = claimed.len();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.extend(claimed);
        }
        Ok(n)
    }

    /// Gives the jobs still waiting here back to the outbox (the worker is stopping, or
    /// the queue was paused).
    pub async fn release(&self) -> Result<u64, sea_orm::DbErr> {
        // A claim still under way lands in the local queue first.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.claiming.load(Ordering::Acquire) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ids: Vec<uuid::Uuid> = match self.waiting.lock() {
            Ok(mut waiting) => waiting.drain(..).map(|j| j.id).collect(),
            Err(_) => return Ok(0),
        };
        outbox::release(&self.ctx.db, &ids).await
    }
}

/// Waits for a wake-up on `conn`, up to [`IDLE_POLL`]; on one, clears the other wake-ups
/// (the claim that follows sees every job committed before them).
async fn wait_for_wake(claims: &Claims, conn: &mut Option<redis::aio::MultiplexedConnection>) {
    let mut c = match conn.take() {
        Some(c) => c,
        // Its own connection: BLPOP blocks the connection it runs on.
        None => match claims.redis.get_multiplexed_async_connection_with_config(&pop_config()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect to Redis; polling the outbox");
                tokio::time::sleep(IDLE_POLL).await;
                return;
            }
        },
    };
    let popped: Result<Option<(String, String)>, _> = c.blpop(&claims.wake_key, IDLE_POLL.as_secs_f64()).await;
    match popped {
        Ok(Some(_)) => {
            let _: Result<i64, _> = c.del(&claims.wake_key).await;
            *conn = Some(c);
        }
        Ok(None) => *conn = Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "Redis wait failed; reconnecting");
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}

fn pop_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(IDLE_POLL + Duration::from_secs(2)))
}

fn fetcher(claims: &Claims) -> TaskStream {
    let claims = claims.clone();
    // The stream only ever yields tasks: apalis's `CustomBackend` reads "nothing now"
    // (`Ok(None)`) as the end of the stream and stops the worker, and an error as a
    // backend failure. So waiting, retrying and reconnecting happen here. apalis polls it
    // only when the queue has a free slot.
    futures::stream::unfold((claims, None), |(claims, mut conn)| async move {
        loop {
            if let Some(job) = claims.next_waiting() {
                return Some((Ok(Some(Task::new(job))), (claims, conn)));
            }
            if claims.ctx.is_paused(claims.queue) {
                tokio::time::sleep(IDLE_POLL / 4).await;
                continue;
            }
            let claimed = claims.claimed.notified();
            claims.claim_in_background();
            // The claim's jobs, or its empty answer (bounded, should the claim hang).
            let _ = tokio::time::timeout(IDLE_POLL, claimed).await;
            let idle = !claims.claiming.load(Ordering::Acquire)
                && claims.last_claimed.load(Ordering::Acquire) == 0
                && claims.waiting.lock().is_ok_and(|w| w.is_empty());
            if idle {
                wait_for_wake(&claims, &mut conn).await;
            }
        }
    })
    .boxed()
}

/// Nothing is pushed through apalis: producers commit to the outbox and wake workers with
/// `platform::dispatch::Dispatcher`.
fn sinker() -> TaskSinkBox {
    Box::pin(futures::sink::drain().sink_map_err(|e: std::convert::Infallible| -> BoxDynError { match e {} }))
}

/// The apalis backend for one queue.
pub fn backend(claims: Claims) -> Result<QueueBackend, BoxDynError> {
    Ok(BackendBuilder::new()
        .database(claims)
        .fetcher(|claims: &mut Claims, _: &(), _| fetcher(claims))
        .sink(|_: &mut Claims, _: &()| sinker())
        .build()?)
}
