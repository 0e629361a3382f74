//! One job kind, one place. A kind is a struct implementing [`Job`]: its stored name, its
//! queue, its deterministic key, its typed payload (the struct) and its typed result. The
//! queue's [`QueuePolicy`] (concurrency, time limit, attempts, backoff) applies to it. The
//! worker registers each kind's handler in one match (`worker/src/jobs/mod.rs`).

use crate::chain::TxHash;
use crate::usdc::{Purpose, UsdcResult};
use crate::{AccountId, OrderId};
use entities::JobQueue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// What travels through Redis: only the outbox row's id. The payload stays in the
/// database, so a message can be duplicated or lost without consequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Uuid,
}

/// A kind of job. Its fields are its payload, stored in the outbox as
/// `{"type": NAME, ...fields}`; producing the same key twice yields one row.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stored name (the payload's `type`), which the worker's registry matches on.
    const NAME: &'static str;
    /// The queue it runs on, whose policy it follows.
    const QUEUE: JobQueue;
    /// What a finished run answers, stored with the job for whoever waits on it.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The deterministic key: unique in the outbox, and the `Idempotency-Key` of any
    /// provider call the job makes.
    fn key(&self) -> String;

    /// The stored payload.
    fn payload(&self) -> Result<Value, serde_json::Error> {
        let mut v = serde_json::to_value(self)?;
        if let Value::Object(fields) = &mut v {
            fields.insert("type".to_owned(), Value::String(Self::NAME.to_owned()));
        }
        Ok(v)
    }

    /// Reads a stored payload back (its `type` is not a field and is ignored).
    fn from_payload(payload: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(payload)
    }
}

/// The kind a stored payload names.
pub fn kind_of(payload: &Value) -> Option<&str> {
    payload.get("type")?.as_str()
}

/// Apply one stored Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeEvent {
    pub event_id: String,
}

impl Job for StripeEvent {
    const NAME: &'static str = "stripe_event";
    const QUEUE: JobQueue = JobQueue::StripeEvent;
    type Output = ();
    fn key(&self) -> String {
        format!("stripe-event:{}", self.event_id)
    }
}

/// Create the provider side of an order (a Stripe checkout session, a portal URL, a
/// SetupIntent, a charge of the saved card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub order_id: OrderId,
}

impl Job for Checkout {
    const NAME: &'static str = "checkout";
    const QUEUE: JobQueue = JobQueue::Checkout;
    type Output = CheckoutOutput;
    fn key(&self) -> String {
        format!("checkout:{}", self.order_id)
    }
}

/// What a checkout job made, by the order's kind. (Untagged: the stored results of
/// earlier versions read as the same variants.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckoutOutput {
    /// A charge of the saved card (`stripe_direct`).
    Charge {
        outcome: ChargeOutcome,
        #[serde(rename = "paymentIntent", default, skip_serializing_if = "Option::is_none")]
        payment_intent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A SetupIntent for Stripe.js.
    SetupIntent {
        #[serde(rename = "clientSecret")]
        client_secret: Option<String>,
        #[serde(rename = "setupIntent")]
        setup_intent: String,
    },
    /// A hosted Checkout page.
    Session {
        #[serde(rename = "sessionId")]
        session_id: String,
        #[serde(rename = "sessionUrl")]
        session_url: Option<String>,
    },
    /// A customer portal link.
    Portal { url: String },
}

impl CheckoutOutput {
    /// A hosted Checkout's session id.
    pub fn session_id(&self) -> Option<String> {
        match self {
            CheckoutOutput::Session { session_id, .. } => Some(session_id.clone()),
            _ => None,
        }
    }

    /// The page to send the customer to: a Checkout's or the portal's.
    pub fn url(&self) -> Option<String> {
        match self {
            CheckoutOutput::Session { session_url, .. } => session_url.clone(),
            CheckoutOutput::Portal { url } => Some(url.clone()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeOutcome {
    Succeeded,
    Pending,
    Declined,
}

/// Change a Stripe subscription (plan, cancel, resume) for one request, then mirror it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionChange {
    pub request_id: Uuid,
    pub account_id: AccountId,
    pub stripe_subscription_id: String,
    pub change: crate::stripe::subscription::Change,
}

impl Job for SubscriptionChange {
    const NAME: &'static str = "subscription_change";
    const QUEUE: JobQueue = JobQueue::Checkout;
    type Output = ChangeOutput;
    fn key(&self) -> String {
        format!("subscription-change:{}", self.request_id)
    }
}

/// Cancel a Creem subscription, now (its payment was wholly refunded or lost in a
/// dispute, or the customer asked) or at its period's end, then mirror it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreemCancel {
    pub request_id: Uuid,
    pub creem_subscription_id: String,
    #[serde(default)]
    pub at_period_end: bool,
}

impl Job for CreemCancel {
    const NAME: &'static str = "creem_cancel";
    const QUEUE: JobQueue = JobQueue::Checkout;
    type Output = ();
    fn key(&self) -> String {
        format!("creem-cancel:{}", self.request_id)
    }
}

/// Apply one stored Creem event (the inbox row `creem:<event id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreemEvent {
    pub event_id: String,
}

impl Job for CreemEvent {
    const NAME: &'static str = "creem_event";
    const QUEUE: JobQueue = JobQueue::CreemEvent;
    type Output = ();
    fn key(&self) -> String {
        format!("creem-event:{}", self.event_id)
    }
}

/// Deliver one webhook event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub endpoint_id: Uuid,
    /// A redelivery asked for by hand is a job of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<Uuid>,
}

impl Job for WebhookDelivery {
    const NAME: &'static str = "webhook_delivery";
    const QUEUE: JobQueue = JobQueue::WebhookDelivery;
    type Output = DeliveryOutcome;
    fn key(&self) -> String {
        match self.manual {
            Some(request) => format!("webhook:{}:{}:manual:{request}", self.event_id, self.endpoint_id),
            None => format!("webhook:{}:{}", self.event_id, self.endpoint_id),
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOutcome {
    /// The endpoint's 2xx status; none when it was not sent (the endpoint is disabled or gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A change applied, or an upgrade whose prorated invoice was declined (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ChangeOutcome>,
    /// How the mirrored subscription was synced.
    pub synced: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOutcome {
    PaymentFailed,
}

/// Detach a saved card at Stripe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachCard {
    pub payment_method_id: String,
    pub account_id: AccountId,
}

impl Job for DetachCard {
    const NAME: &'static str = "detach_card";
    const QUEUE: JobQueue = JobQueue::Checkout;
    type Output = Detached;
    fn key(&self) -> String {
        format!("detach:{}", self.payment_method_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detached {
    /// False when the card was not the account's (nothing was done).
    pub detached: bool,
}

/// Verify a USDC transfer on chain for an account, for a top-up or a plan. `log_index`
/// picks one of several transfers to us in one transaction (a batched payout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsdcVerify {
    pub chain_id: u64,
    pub tx_hash: TxHash,
    pub account_id: AccountId,
    pub purpose: Purpose,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
}

impl Job for UsdcVerify {
    const NAME: &'static str = "usdc_verify";
    const QUEUE: JobQueue = JobQueue::UsdcVerify;
    type Output = UsdcResult;
    fn key(&self) -> String {
        let log = self.log_index.map(|i| format!(":log{i}")).unwrap_or_default();
        format!("usdc:{}:{}:{}:{}{log}", self.chain_id, self.tx_hash, self.account_id, self.purpose.key())
    }
}

/// Scan the chain for USDC transfers to the payment address; one per tick. Its result is a
/// report for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainScan {
    pub tick: String,
}

impl Job for ChainScan {
    const NAME: &'static str = "chain_scan";
    const QUEUE: JobQueue = JobQueue::Reconcile;
    type Output = ScanReport;
    fn key(&self) -> String {
        format!("chain-scan:{}", self.tick)
    }
}

/// What one chain scan read and matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// Why nothing was scanned (USDC payments are not configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The chain's head, and the newest block with enough confirmations that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_to: Option<u64>,
    /// Transfers to us seen, and how many of them paid a waiting order.
    #[serde(default)]
    pub seen: u64,
    #[serde(default)]
    pub matched: u64,
}

/// Meter one batch of usage events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBatch {
    pub batch_id: String,
}

impl Job for UsageBatch {
    const NAME: &'static str = "usage_batch";
    const QUEUE: JobQueue = JobQueue::UsageMetering;
    type Output = crate::usage::Metered;
    fn key(&self) -> String {
        format!("usage:{}", self.batch_id)
    }
}

/// Expire subscriptions whose period ended; one per hour tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiry {
    pub tick: String,
}

impl Job for Expiry {
    const NAME: &'static str = "expiry";
    const QUEUE: JobQueue = JobQueue::Expiry;
    type Output = crate::subscriptions::Expired;
    fn key(&self) -> String {
        format!("expiry:{}", self.tick)
    }
}

/// Prune what is past its retention window (`crate::retention`); one per tick. It runs on
/// the expiry queue: both act on records whose time ran out, one at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub tick: String,
}

impl Job for Retention {
    const NAME: &'static str = "retention";
    const QUEUE: JobQueue = JobQueue::Expiry;
    type Output = crate::retention::Pruned;
    fn key(&self) -> String {
        format!("retention:{}", self.tick)
    }
}

/// Reconcile with Stripe and the chain over one window. Its result is a report for
/// operators (and the discrepancies gauge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconcile {
    pub window: String,
}

impl Job for Reconcile {
    const NAME: &'static str = "reconcile";
    const QUEUE: JobQueue = JobQueue::Reconcile;
    type Output = ReconcileReport;
    fn key(&self) -> String {
        format!("reconcile:{}", self.window)
    }
}

/// What a reconciliation run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// The walk through Stripe's event list (with Stripe configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_events: Option<CatchUp>,
    /// Subscriptions whose local state was not Stripe's, now refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriptions_differing: Option<Vec<Differing>>,
    /// Creem subscriptions whose local state was not Creem's, now refreshed (with Creem
    /// configured): a missed or failed delivery is caught up here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creem_subscriptions_differing: Option<Vec<CreemDiffering>>,
    /// Items in the reconciliation report, and ledger invariant violations among them.
    pub discrepancies: usize,
    pub ledger_violations: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatchUp {
    /// Events listed in this run.
    pub listed: usize,
    /// Events the webhook never delivered, now enqueued: their ids.
    pub missed: Vec<String>,
    /// The walk was cut at its page limit and goes on next run.
    pub resumes_next_run: bool,
}

/// A job that does nothing: the spine's own cost (claim, run, complete), for the queue
/// benchmark and for an operator probing the worker end to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noop {
    pub id: String,
}

impl Job for Noop {
    const NAME: &'static str = "noop";
    const QUEUE: JobQueue = JobQueue::Noop;
    type Output = ();
    fn key(&self) -> String {
        format!("noop:{}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Differing {
    pub stripe_subscription: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreemDiffering {
    pub creem_subscription: String,
    pub before: String,
    pub after: String,
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
            JobQueue::CreemEvent => (8, 30, 10),
            JobQueue::WebhookDelivery => (16, 30, 40),
            JobQueue::Checkout => (16, 30, 5),
            JobQueue::UsdcVerify => (8, 60, 20),
            JobQueue::UsageMetering => (4, 60, 10),
            JobQueue::Expiry => (1, 300, 10),
            JobQueue::Reconcile => (1, 600, 5),
            JobQueue::Noop => (32, 10, 3),
        };
        // A customer's endpoint may be down for hours: deliveries back off from 30 s to 6 h,
        // about three days over their attempts (Svix's and Stripe's windows).
        let (base_backoff, max_backoff) = match queue {
            JobQueue::WebhookDelivery => (Duration::from_secs(30), Duration::from_secs(6 * 3600)),
            _ => (Duration::from_millis(500), Duration::from_secs(600)),
        };
        QueuePolicy { concurrency, timeout: Duration::from_secs(timeout_s), max_attempts, base_backoff, max_backoff }
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
    fn keys_are_deterministic_and_payloads_round_trip() {
        let job = StripeEvent { event_id: "evt_1".into() };
        assert_eq!(job.key(), "stripe-event:evt_1");
        let stored = job.payload().expect("serializes");
        // The stored form of earlier versions: a `type` tag beside the fields.
        assert_eq!(stored, serde_json::json!({"type": "stripe_event", "event_id": "evt_1"}));
        assert_eq!(kind_of(&stored), Some(StripeEvent::NAME));
        assert_eq!(StripeEvent::from_payload(&stored).expect("round trip"), job);
    }

    #[test]
    fn checkout_results_of_every_shape_read_back() {
        for (stored, want) in [
            (
                serde_json::json!({"sessionId": "cs_1", "sessionUrl": "https://x"}),
                CheckoutOutput::Session { session_id: "cs_1".into(), session_url: Some("https://x".into()) },
            ),
            (serde_json::json!({"url": "https://p"}), CheckoutOutput::Portal { url: "https://p".into() }),
            (
                serde_json::json!({"outcome": "declined", "code": null, "message": "no"}),
                CheckoutOutput::Charge {
                    outcome: ChargeOutcome::Declined,
                    payment_intent: None,
                    code: None,
                    message: Some("no".into()),
                },
            ),
            (
                serde_json::json!({"clientSecret": "s", "setupIntent": "seti_1"}),
                CheckoutOutput::SetupIntent { client_secret: Some("s".into()), setup_intent: "seti_1".into() },
            ),
        ] {
            assert_eq!(serde_json::from_value::<CheckoutOutput>(stored).expect("reads"), want);
        }
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
