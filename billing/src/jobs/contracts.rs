//! Job payloads, queue names, deterministic keys and per-queue policies.

use crate::chain::TxHash;
use crate::usdc::Purpose;
use entities::JobQueue;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// What travels through Redis: only the outbox row's id. The payload stays in the
/// database, so a message can be duplicated or lost without consequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Uuid,
}

/// Every kind of job. The variant decides the queue; its fields decide the key, which is
/// unique in the outbox, so producing the same job twice yields one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobPayload {
    /// Apply one stored Stripe event.
    StripeEvent { event_id: String },
    /// Create the provider side of an order (a Stripe checkout session, a portal URL).
    Checkout { order_id: Uuid },
    /// Change a Stripe subscription (plan, cancel, resume) for one request, then mirror it.
    SubscriptionChange {
        request_id: Uuid,
        account_id: Uuid,
        stripe_subscription_id: String,
        change: crate::stripe::subscription::Change,
    },
    /// Detach a saved card at Stripe.
    DetachCard { payment_method_id: String, account_id: Uuid },
    /// Verify a USDC transfer on chain for an account, for a top-up or a plan. `log_index`
    /// picks one of several transfers to us in one transaction (a batched payout).
    UsdcVerify {
        chain_id: u64,
        tx_hash: TxHash,
        account_id: Uuid,
        purpose: Purpose,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_index: Option<i64>,
    },
    /// Scan the chain for USDC transfers to the payment address; one per tick.
    ChainScan { tick: String },
    /// Meter one batch of usage events.
    UsageBatch { batch_id: String },
    /// Expire subscriptions whose period ended; one per hour tick.
    Expiry { tick: String },
    /// Reconcile with Stripe and the chain over one window.
    Reconcile { window: String },
}

impl JobPayload {
    pub fn queue(&self) -> JobQueue {
        match self {
            JobPayload::StripeEvent { .. } => JobQueue::StripeEvent,
            JobPayload::Checkout { .. } | JobPayload::DetachCard { .. } | JobPayload::SubscriptionChange { .. } => {
                JobQueue::Checkout
            }
            JobPayload::UsdcVerify { .. } => JobQueue::UsdcVerify,
            JobPayload::UsageBatch { .. } => JobQueue::UsageMetering,
            JobPayload::Expiry { .. } => JobQueue::Expiry,
            JobPayload::Reconcile { .. } | JobPayload::ChainScan { .. } => JobQueue::Reconcile,
        }
    }

    /// The deterministic key: unique in the outbox, and the `Idempotency-Key` of any
    /// provider call the job makes.
    pub fn key(&self) -> String {
        match self {
            JobPayload::StripeEvent { event_id } => format!("stripe-event:{event_id}"),
            JobPayload::Checkout { order_id } => format!("checkout:{order_id}"),
            JobPayload::DetachCard { payment_method_id, .. } => format!("detach:{payment_method_id}"),
            JobPayload::SubscriptionChange { request_id, .. } => format!("subscription-change:{request_id}"),
            JobPayload::UsdcVerify { chain_id, tx_hash, account_id, purpose, log_index } => {
                let log = log_index.map(|i| format!(":log{i}")).unwrap_or_default();
                format!("usdc:{chain_id}:{tx_hash}:{account_id}:{}{log}", purpose.key())
            }
            JobPayload::ChainScan { tick } => format!("chain-scan:{tick}"),
            JobPayload::UsageBatch { batch_id } => format!("usage:{batch_id}"),
            JobPayload::Expiry { tick } => format!("expiry:{tick}"),
            JobPayload::Reconcile { window } => format!("reconcile:{window}"),
        }
    }
}

/// How one queue runs: concurrency per worker process, time limit per run, attempts before
/// the job is dead-lettered, and the base of the exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_attempts: i32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl QueuePolicy {
    pub fn default_for(queue: JobQueue) -> QueuePolicy {
        let (concurrency, timeout_s, max_attempts) = match queue {
            JobQueue::StripeEvent => (16, 30, 10),
            JobQueue::Checkout => (16, 30, 5),
            JobQueue::UsdcVerify => (8, 60, 20),
            JobQueue::UsageMetering => (4, 60, 10),
            JobQueue::Expiry => (1, 300, 10),
            JobQueue::Reconcile => (1, 600, 5),
        };
        QueuePolicy {
            concurrency,
            timeout: Duration::from_secs(timeout_s),
            max_attempts,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(600),
        }
    }

    /// Exponential backoff with full jitter: a random delay in `[base·2^(n-1) / 2, base·2^(n-1)]`,
    /// capped, so retries of many failed jobs spread out instead of arriving together.
    pub fn backoff(&self, attempt: i32, jitter: f64) -> Duration {
        let exp = attempt.clamp(1, 30) as u32 - 1;
        let ceiling = self.base_backoff.saturating_mul(2u32.saturating_pow(exp)).min(self.max_backoff);
        let jitter = jitter.clamp(0.0, 1.0);
        ceiling.mul_f64(0.5 + jitter / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_queues_fixed() {
        let p = JobPayload::StripeEvent { event_id: "evt_1".into() };
        assert_eq!(p.key(), "stripe-event:evt_1");
        assert_eq!(p.queue(), JobQueue::StripeEvent);
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(serde_json::from_value::<JobPayload>(json).expect("round trip"), p);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = QueuePolicy::default_for(JobQueue::StripeEvent);
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(2000));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(600));
    }
}
