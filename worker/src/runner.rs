//! Runs one claimed job: the handler under the queue's time limit, then the outcome (done,
//! handed to the batched completer; retry after a backoff; or dead with its last error).

use crate::complete::Completer;
use crate::fetch::Claims;
use crate::jobs::{self, JobError};
use apalis::prelude::{BoxDynError, Data};
use billing::jobs::JobQueue;
use billing::jobs::outbox::{self, Failure};
use entities::jobs as job_rows;
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
    /// The Creem client, when `CREEM_API_KEY` is set.
    pub creem: Option<crate::creem_api::CreemClient>,
    /// Queues an operator paused, as the controls loop last read them.
    pub paused: Arc<std::sync::RwLock<std::collections::HashSet<JobQueue>>>,
    /// Where successful runs are recorded, in batches.
    pub completer: Completer,
}

impl Ctx {
    pub fn is_paused(&self, queue: JobQueue) -> bool {
        self.paused.read().is_ok_and(|p| p.contains(&queue))
    }
}

/// One queue's worker: the shared context plus the queue it serves and its claims.
pub struct QueueCtx {
    pub ctx: Arc<Ctx>,
    pub queue: JobQueue,
    pub claims: Claims,
}

/// The apalis handler of every queue: the job arrives claimed (see [`crate::fetch`]).
/// Errors are recorded in the outbox, not returned: retries are durable (the row comes back
/// after its backoff, whichever process runs it), so apalis only sees an error when the
/// outbox itself cannot be written.
pub async fn run(job: job_rows::Model, qctx: Data<Arc<QueueCtx>>) -> Result<(), BoxDynError> {
    let result = run_claimed(&job, &qctx).await;
    qctx.claims.finished();
    result
}

async fn run_claimed(job: &job_rows::Model, qctx: &QueueCtx) -> Result<(), BoxDynError> {
    let ctx = &qctx.ctx;
    let queue = qctx.queue;
    let policy = ctx.settings.queue(queue);
    if ctx.is_paused(queue) {
        // Paused since it was claimed: back to the outbox until the queue is resumed.
        outbox::release(&ctx.db, &[job.id]).await?;
        return Ok(());
    }
    let span =
        tracing::info_span!("job", id = %job.id, key = %job.job_key, queue = queue.as_str(), attempt = job.attempts);
    async move {
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(policy.timeout, jobs::handle(ctx, job)).await {
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
                ctx.completer.done(job.id, result);
                platform::metrics::inc("tollgate_jobs_total", &[("queue", queue.as_str()), ("outcome", "done")]);
                tracing::debug!("job done");
            }
            Err(JobError::Deferred(after)) => {
                let at = chrono::Utc::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::zero());
                outbox::defer(&ctx.db, job.id, at).await?;
                platform::metrics::inc("tollgate_jobs_total", &[("queue", queue.as_str()), ("outcome", "deferred")]);
                tracing::debug!(?after, "job deferred");
            }
            Err(JobError::Retryable(message)) => failed(ctx, job, queue, &message, true).await?,
            Err(JobError::Terminal(message)) => failed(ctx, job, queue, &message, false).await?,
        }
        Ok(())
    }
    .instrument(span)
    .await
}

/// Records a failed run: a retry after its backoff, or dead with its last error.
async fn failed(
    ctx: &Ctx,
    job: &job_rows::Model,
    queue: JobQueue,
    message: &str,
    retryable: bool,
) -> Result<(), BoxDynError> {
    let policy = ctx.settings.queue(queue);
    match outbox::fail(&ctx.db, job, message, retryable, &policy).await? {
        Failure::RetryAt(at) => {
            platform::metrics::inc("tollgate_jobs_total", &[("queue", queue.as_str()), ("outcome", "retry")]);
            tracing::warn!(error = %message, retry_at = %at, "job failed; will retry")
        }
        Failure::Dead => {
            platform::metrics::inc("tollgate_jobs_total", &[("queue", queue.as_str()), ("outcome", "dead")]);
            tracing::error!(error = %message, "job dead-lettered");
            jobs::on_dead(ctx, job, message).await?;
        }
    }
    Ok(())
}
