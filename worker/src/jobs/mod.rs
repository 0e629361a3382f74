//! The one place every job kind is registered: a payload goes to its module's handler.

pub mod chain_scan;
pub mod checkout;
pub mod expiry;
pub mod reconcile;
pub mod stripe_event;
pub mod subscription_change;
pub mod usage_batch;
pub mod usdc_verify;

use crate::runner::Ctx;
use billing::DomainError;
use billing::jobs::JobPayload;
use entities::jobs;
use serde_json::Value;

/// How a run failed: retry later, or give up and dead-letter the job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Terminal(String),
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

/// Runs a job; `Ok(Some(result))` is stored for whoever waits on the job.
pub async fn handle(ctx: &Ctx, job: &jobs::Model, payload: JobPayload) -> Result<Option<Value>, JobError> {
    match payload {
        JobPayload::StripeEvent { event_id } => stripe_event::handle(ctx, &event_id, job.attempts).await.map(|()| None),
        JobPayload::UsdcVerify { chain_id, tx_hash, account_id, purpose, log_index } => {
            let which = usdc_verify::Which { account_id, purpose: &purpose, log_index };
            usdc_verify::handle(ctx, job, chain_id, &tx_hash, which).await.map(Some)
        }
        JobPayload::ChainScan { .. } => chain_scan::handle(ctx).await.map(Some),
        JobPayload::Checkout { order_id } => checkout::handle(ctx, job, order_id).await.map(Some),
        JobPayload::SubscriptionChange { stripe_subscription_id, change, .. } => {
            subscription_change::handle(ctx, job, &stripe_subscription_id, change).await.map(Some)
        }
        JobPayload::DetachCard { payment_method_id, account_id } => {
            checkout::detach_card(ctx, job, &payment_method_id, account_id).await.map(Some)
        }
        JobPayload::Expiry { .. } => expiry::handle(ctx).await.map(Some),
        JobPayload::Reconcile { .. } => reconcile::handle(ctx).await.map(Some),
        JobPayload::UsageBatch { batch_id } => usage_batch::handle(ctx, &batch_id).await.map(Some),
    }
}
