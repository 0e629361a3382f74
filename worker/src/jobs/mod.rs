//! Every job kind's handler, registered in one place ([`registry!`]'s list).

pub mod chain_scan;
pub mod checkout;
pub mod creem_checkout;
pub mod creem_event;
pub mod expiry;
pub mod reconcile;
pub mod stripe_event;
pub mod subscription_change;
pub mod usage_batch;
pub mod usdc_verify;
pub mod webhook_delivery;

use crate::runner::Ctx;
use billing::DomainError;
use billing::jobs::Job;
use billing::jobs::contracts::{self as kinds, kind_of};
use entities::jobs;
use serde_json::Value;

/// How a run failed: retry later, or give up and dead-letter the job; or why it stepped
/// aside.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Terminal(String),
    /// Not a failure: the job's work is in other hands for now (a batch holds it). Back to
    /// the outbox, the attempt not spent, due again after this long.
    #[error("deferred for {0:?}")]
    Deferred(std::time::Duration),
}

impl From<DomainError> for JobError {
    fn from(e: DomainError) -> Self {
        if e.is_retryable() { JobError::Retryable(e.to_string()) } else { JobError::Terminal(e.to_string()) }
    }
}

impl From<sea_orm::DbErr> for JobError {
    fn from(e: sea_orm::DbErr) -> Self {
        JobError::Retryable(e.to_string())
    }
}

impl From<crate::chain::RpcError> for JobError {
    fn from(e: crate::chain::RpcError) -> Self {
        JobError::Retryable(e.to_string())
    }
}

/// A job kind the worker can run: its handler, and what to undo when its last attempt
/// fails.
pub trait Run: Job {
    fn run(self, ctx: &Ctx, job: &jobs::Model) -> impl Future<Output = Result<Self::Output, JobError>> + Send;

    /// After the last attempt failed. Nothing by default.
    fn on_dead(&self, _ctx: &Ctx, _error: &str) -> impl Future<Output = Result<(), DomainError>> + Send {
        async { Ok(()) }
    }
}

/// The one place every job kind is registered: a stored job goes to its kind's handler.
macro_rules! registry {
    ($($kind:ty),* $(,)?) => {
        /// Runs a stored job; `Ok(Some(result))` is stored for whoever waits on it.
        pub async fn handle(ctx: &Ctx, job: &jobs::Model) -> Result<Option<Value>, JobError> {
            match kind_of(&job.payload) {
                $(Some(<$kind>::NAME) => run_stored::<$kind>(ctx, job).await,)*
                other => Err(JobError::Terminal(format!("unknown job kind {other:?}"))),
            }
        }

        /// What a dead job's kind undoes.
        pub async fn on_dead(ctx: &Ctx, job: &jobs::Model, error: &str) -> Result<(), DomainError> {
            match kind_of(&job.payload) {
                $(Some(<$kind>::NAME) => match <$kind>::from_payload(&job.payload) {
                    Ok(payload) => payload.on_dead(ctx, error).await,
                    Err(_) => Ok(()),
                },)*
                _ => Ok(()),
            }
        }
    };
}

registry!(
    kinds::StripeEvent,
    kinds::CreemEvent,
    kinds::CreemCancel,
    kinds::WebhookDelivery,
    kinds::Checkout,
    kinds::SubscriptionChange,
    kinds::DetachCard,
    kinds::UsdcVerify,
    kinds::ChainScan,
    kinds::UsageBatch,
    kinds::Expiry,
    kinds::Retention,
    kinds::Reconcile,
    kinds::Noop,
);

async fn run_stored<J: Run>(ctx: &Ctx, job: &jobs::Model) -> Result<Option<Value>, JobError> {
    let payload = J::from_payload(&job.payload).map_err(|e| JobError::Terminal(format!("unreadable payload: {e}")))?;
    let output = payload.run(ctx, job).await?;
    let stored = serde_json::to_value(output).map_err(|e| JobError::Terminal(format!("unstorable result: {e}")))?;
    Ok((!stored.is_null()).then_some(stored))
}

impl Run for kinds::StripeEvent {
    async fn run(self, ctx: &Ctx, job: &jobs::Model) -> Result<(), JobError> {
        stripe_event::handle(ctx, &self.event_id, job.attempts).await
    }
}

impl Run for kinds::CreemEvent {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<(), JobError> {
        creem_event::handle(ctx, &self.event_id).await
    }
}

impl Run for kinds::CreemCancel {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<(), JobError> {
        creem_event::cancel(ctx, &self.creem_subscription_id, self.at_period_end).await
    }
}

impl Run for kinds::WebhookDelivery {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<kinds::DeliveryOutcome, JobError> {
        webhook_delivery::handle(ctx, &self).await
    }
}

impl Run for kinds::Checkout {
    async fn run(self, ctx: &Ctx, job: &jobs::Model) -> Result<kinds::CheckoutOutput, JobError> {
        checkout::handle(ctx, job, self.order_id).await
    }

    /// A checkout that could not be created leaves an order nobody can pay: it fails, and
    /// gives its coupon redemption back, in one transaction.
    async fn on_dead(&self, ctx: &Ctx, error: &str) -> Result<(), DomainError> {
        let reason = format!("the checkout could not be created: {error}");
        let txn = billing::db::begin_write(&ctx.db).await?;
        billing::orders::mark_failed(&txn, self.order_id, &reason).await?;
        Ok(txn.commit().await?)
    }
}

impl Run for kinds::SubscriptionChange {
    async fn run(self, ctx: &Ctx, job: &jobs::Model) -> Result<kinds::ChangeOutput, JobError> {
        subscription_change::handle(ctx, job, &self.stripe_subscription_id, self.change).await
    }
}

impl Run for kinds::DetachCard {
    async fn run(self, ctx: &Ctx, job: &jobs::Model) -> Result<kinds::Detached, JobError> {
        checkout::detach_card(ctx, job, &self.payment_method_id, self.account_id).await
    }
}

impl Run for kinds::UsdcVerify {
    async fn run(self, ctx: &Ctx, job: &jobs::Model) -> Result<billing::usdc::UsdcResult, JobError> {
        let which =
            usdc_verify::Which { account_id: self.account_id, purpose: &self.purpose, log_index: self.log_index };
        usdc_verify::handle(ctx, job, self.chain_id, &self.tx_hash, which).await
    }
}

impl Run for kinds::ChainScan {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<kinds::ScanReport, JobError> {
        chain_scan::handle(ctx).await
    }
}

impl Run for kinds::UsageBatch {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<billing::usage::Metered, JobError> {
        usage_batch::handle(ctx, &self.batch_id).await
    }
}

impl Run for kinds::Expiry {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<billing::subscriptions::Expired, JobError> {
        expiry::handle(ctx).await
    }
}

impl Run for kinds::Retention {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<billing::retention::Pruned, JobError> {
        // Half the queue's time limit: a pass that stops for time goes on at the next tick.
        let budget = ctx.settings.queue(entities::JobQueue::Expiry).timeout / 2;
        let pruned = billing::retention::prune(&ctx.db, &ctx.settings.retention, chrono::Utc::now(), budget).await?;
        billing::retention::reclaim(&ctx.db, &pruned).await?;
        tracing::info!(?pruned, "retention pass");
        Ok(pruned)
    }
}

impl Run for kinds::Reconcile {
    async fn run(self, ctx: &Ctx, _: &jobs::Model) -> Result<kinds::ReconcileReport, JobError> {
        reconcile::handle(ctx).await
    }
}

impl Run for kinds::Noop {
    async fn run(self, _: &Ctx, _: &jobs::Model) -> Result<(), JobError> {
        Ok(())
    }
}
