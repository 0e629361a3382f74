//! Runs one job: claim its outbox row, run the handler under the queue's time limit, and
//! record the outcome (done, retry after a backoff, or dead with its last error).

use crate::jobs::{self, JobError};
use apalis::prelude::{BoxDynError, Data};
use billing::jobs::outbox::{self, Failure};
use billing::jobs::{JobMessage, JobQueue};
use platform::config::Settings;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tracing::Instrument;

/// What every handler can reach.
pub struct Ctx {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    /// The chain client, when USDC payments are configured.
    pub chain: Option<crate::chain::ChainClient>,
    /// The Stripe client, when `STRIPE_SECRET_KEY` is set.
    pub stripe: Option<stripe::Client>,
    /// Queues an operator paused, as the relay last read them.
    pub paused: Arc<std::sync::RwLock<std::collections::HashSet<JobQueue>>>,
}

impl Ctx {
    pub fn is_paused(&self, queue: JobQueue) -> bool {
        self.paused.read().is_ok_and(|p| p.contains(&queue))
    }
}

/// One queue's worker: the shared context plus the queue it serves.
pub struct QueueCtx {
    pub ctx: Arc<Ctx>,
    pub queue: JobQueue,
}

/// The apalis handler of every queue. Errors are recorded in the outbox, not returned:
/// retries are durable (the row comes back after its backoff, whichever process runs it),
/// so apalis only sees an error when the outbox itself cannot be written.
pub async fn run(msg: JobMessage, qctx: Data<Arc<QueueCtx>>) -> Result<(), BoxDynError> {
    let ctx = &qctx.ctx;
    let queue = qctx.queue;
    let policy = ctx.settings.queue(queue);
    if ctx.is_paused(queue) {
        // Left unclaimed: the relay pushes it again once the queue is resumed.
        return Ok(());
    }
    let Some(job) = outbox::claim(&ctx.db, msg.job_id, policy.timeout + ctx.settings.lease_margin).await? else {
        // Done, dead, or running elsewhere: a duplicate message.
        return Ok(());
    };
    let span =
        tracing::info_span!("job", id = %job.id, key = %job.job_key, queue = queue.as_str(), attempt = job.attempts);
    async move {
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(policy.timeout, jobs::handle(ctx, &job)).await {
            Ok(r) => r,
            Err(_) => Err(JobError::Retryable(format!("timed out after {:?}", policy.timeout))),
        };
        platform::metrics::observe(
            "tollgate_job_duration_seconds",
            &[("queue", queue.as_str())],
            started.elapsed().as_secs_f64(),
        );
        match result {
            Ok(result) => {
                outbox::complete(&ctx.db, job.id, result).await?;
                platform::metrics::inc("tollgate_jobs_total", &[("queue", queue.as_str()), ("outcome", "done")]);
                tracing::debug!("job done");
            }
            Err(err) => {
                let (retryable, message) = match &err {
                    JobError::Retryable(m) => (true, m),
                    JobError::Terminal(m) => (false, m),
                };
                match outbox::fail(&ctx.db, &job, message, retryable, &policy).await? {
                    Failure::RetryAt(at) => {
                        platform::metrics::inc(
                            "tollgate_jobs_total",
                            &[("queue", queue.as_str()), ("outcome", "retry")],
                        );
                        tracing::warn!(error = %message, retry_at = %at, "job failed; will retry")
                    }
                    Failure::Dead => {
                        platform::metrics::inc(
                            "tollgate_jobs_total",
                            &[("queue", queue.as_str()), ("outcome", "dead")],
                        );
                        tracing::error!(error = %message, "job dead-lettered");
                        jobs::on_dead(ctx, &job, message).await?;
                    }
                }
            }
        }
        Ok(())
    }
    .instrument(span)
    .await
}
