//! Applies one stored Stripe event. The inbox row holds the raw event; each type we act on
//! is applied in one database transaction with the event marked processed, so a retry
//! after a crash either finds the whole effect or none of it.
//!
//! Subscription events are not applied from their payload, which may be older than state
//! already applied: the subscription is re-fetched from Stripe and mirrored whole
//! (`stripe_sync`). Money events are keyed (order, invoice, dispute, cumulative refund), so
//! duplicates and reordering change nothing.

use super::JobError;
use crate::runner::Ctx;
use billing::stripe::checkout::{self, CheckoutSession, Outcome};
use billing::stripe::{inbox, topups};
use entities::StripeEventStatus;
use entities::stripe_events::Entity as Events;
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::{SemaphorePermit, oneshot};

#[derive(Deserialize)]
struct Event<T> {
    data: EventData<T>,
}

#[derive(Deserialize)]
struct EventData<T> {
    object: T,
}

/// Just the id of the event's object.
#[derive(Deserialize)]
struct Object {
    id: String,
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// How long a top-up's job steps aside when a batch holds its event: about a batch's
/// time, so it comes back once that batch has committed (and most often finds its event
/// applied).
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// The top-up batches this process runs at once: as many as the database's batch slots.
static TOPUP_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(topups::SLOTS);

/// This process's top-up runs waiting for a turn, by event id, each with the way to tell
/// it whether a batch applied its event. A batch gathers waiting events through their
/// waiting jobs, so it never finds these (their jobs are claimed): without this, each of a
/// worker's claimed top-ups would in the end lead a batch of its own.
static WAITING: Mutex<BTreeMap<String, oneshot::Sender<bool>>> = Mutex::new(BTreeMap::new());

fn waiting() -> std::sync::MutexGuard<'static, BTreeMap<String, oneshot::Sender<bool>>> {
    // Nothing panics while holding the lock; were it poisoned, the map is still whole.
    WAITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs adopted by a batch: told, when the batch is over, whether their events were
/// applied; on any way out that does not tell them (an error, a rollback), told not.
struct Adopted(Vec<(String, oneshot::Sender<bool>)>);

impl Adopted {
    /// Up to a batch's worth of the waiting runs.
    fn take() -> Self {
        let mut waiting = waiting();
        let mut taken = Vec::new();
        while taken.len() + 1 < topups::BATCH as usize {
            let Some(run) = waiting.pop_first() else { break };
            taken.push(run);
        }
        Adopted(taken)
    }

    fn ids(&self) -> Vec<String> {
        self.0.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Tells each run whether its event is among `applied` (committed).
    fn tell(mut self, applied: &std::collections::HashSet<String>) {
        for (id, run) in self.0.drain(..) {
            let _ = run.send(applied.contains(&id));
        }
    }
}

impl Drop for Adopted {
    fn drop(&mut self) {
        for (_, run) in self.0.drain(..) {
            let _ = run.send(false);
        }
    }
}

/// Waits for this process's turn to lead a top-up batch, unless a batch adopts the run
/// meanwhile and applies its event: then `None`, the run is over.
async fn turn_or_adopted(event_id: &str) -> Result<Option<SemaphorePermit<'static>>, JobError> {
    /// Takes the run off the waiting list however the wait ends (a run cancelled by its
    /// time limit must not be adopted after).
    struct Listed<'a>(&'a str);
    impl Drop for Listed<'_> {
        fn drop(&mut self) {
            waiting().remove(self.0);
        }
    }
    let (tx, mut adopted) = oneshot::channel();
    waiting().insert(event_id.to_owned(), tx);
    let _listed = Listed(event_id);
    let turn = tokio::select! {
        turn = TOPUP_TURNS.acquire() => turn.map_err(|e| JobError::Retryable(e.to_string()))?,
        applied = &mut adopted => {
            if applied == Ok(true) {
                return Ok(None);
            }
            // Adopted but not applied (the batch rolled back, or could not take it): no
            // longer adoptable, this run waits for a turn of its own.
            return TOPUP_TURNS.acquire().await.map(Some).map_err(|e| JobError::Retryable(e.to_string()));
        }
    };
    if waiting().remove(event_id).is_some() {
        return Ok(Some(turn));
    }
    // A batch adopted the run as the turn came: its outcome decides.
    drop(turn);
    if adopted.await == Ok(true) {
        return Ok(None);
    }
    TOPUP_TURNS.acquire().await.map(Some).map_err(|e| JobError::Retryable(e.to_string()))
}

fn parse<T: DeserializeOwned>(payload: &str, what: &str) -> Result<T, JobError> {
    serde_json::from_str::<Event<T>>(payload)
        .map(|e| e.data.object)
        .map_err(|e| JobError::Terminal(format!("unreadable {what}: {e}")))
}

fn status(ours: bool) -> StripeEventStatus {
    if ours { StripeEventStatus::Processed } else { StripeEventStatus::Ignored }
}

/// Marks the event and commits the transaction that applied it.
async fn finish(txn: DatabaseTransaction, event_id: &str, ours: bool) -> Result<(), JobError> {
    inbox::mark(&txn, event_id, status(ours), None).await?;
    txn.commit().await?;
    Ok(())
}

/// Re-fetches and mirrors a subscription; whether it is one of ours.
async fn refresh(ctx: &Ctx, stripe_id: &str) -> Result<bool, JobError> {
    let client = ctx.stripe.as_ref().ok_or_else(|| JobError::Terminal("Stripe is not configured".into()))?;
    let synced = crate::stripe_sync::refresh(&ctx.db, client, stripe_id).await?;
    Ok(synced != billing::stripe::subscription::Synced::NotOurs)
}

pub async fn handle(ctx: &Ctx, event_id: &str, attempt: i32) -> Result<(), JobError> {
    let Some(event) = Events::find_by_id(event_id.to_owned()).one(&ctx.db).await? else {
        return Err(JobError::Terminal(format!("event {event_id} is not in the inbox")));
    };
    if event.status == StripeEventStatus::Processed || event.status == StripeEventStatus::Ignored {
        return Ok(());
    }
    let payload = event.payload.as_str();
    match event.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let session: CheckoutSession = parse(payload, "checkout session")?;
            if session.mode.as_deref() == Some("subscription") {
                return subscription_checkout(ctx, event_id, &session).await;
            }
            // A paid top-up goes with the others waiting (`billing::stripe::topups`). Jobs
            // wait their turn here, in memory, rather than on a lock with a connection held:
            // a process runs at most the batches the database allows at once.
            // Another run of this process leading a batch may take this one's event along.
            let Some(_turn) = turn_or_adopted(event_id).await? else { return Ok(()) };
            let adopted = Adopted::take();
            let txn = billing::db::begin_write(&ctx.db).await?;
            match topups::apply_batch(&txn, event_id, &adopted.ids()).await? {
                topups::Own::AlreadyDone => return Ok(()),
                topups::Own::Applied { events, credited, adopted: applied } => {
                    crate::failpoint::stall_before_commit(attempt).await;
                    txn.commit().await?;
                    adopted.tell(&applied);
                    tracing::info!(event = event_id, events, credited, adopted = applied.len(), "paid top-ups applied");
                    return Ok(());
                }
                topups::Own::NotATopup => drop(txn),
                topups::Own::Busy => return Err(JobError::Deferred(BUSY_RETRY)),
            }
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = checkout::apply_paid(&txn, &session).await?;
            crate::failpoint::stall_before_commit(attempt).await;
            finish(txn, event_id, outcome != Outcome::NotOurs).await?;
            tracing::info!(event = event_id, ?outcome, "checkout session applied");
            Ok(())
        }
        "checkout.session.expired" | "checkout.session.async_payment_failed" => {
            let session: CheckoutSession = parse(payload, "checkout session")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let ours = match session.order_id() {
                // Either gives the order's coupon redemption back.
                Some(order_id) => {
                    if event.event_type.ends_with("expired") {
                        billing::orders::mark_expired(&txn, order_id).await?;
                    } else {
                        billing::orders::mark_failed(&txn, order_id, "the payment failed").await?;
                    }
                    true
                }
                None => false,
            };
            finish(txn, event_id, ours).await
        }
        "invoice.paid" => {
            let invoice: billing::stripe::invoice::Invoice = parse(payload, "invoice")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = billing::stripe::invoice::apply_paid(&txn, &invoice).await?;
            let ours = outcome != billing::stripe::invoice::Outcome::NotOurs;
            finish(txn, event_id, ours).await?;
            if let Some(sub) = invoice.subscription().filter(|_| ours) {
                refresh(ctx, sub).await?;
            }
            tracing::info!(event = event_id, ?outcome, "invoice applied");
            Ok(())
        }
        "invoice.payment_failed" => {
            let invoice: billing::stripe::invoice::Invoice = parse(payload, "invoice")?;
            let ours = match invoice.subscription() {
                Some(sub) => refresh(ctx, sub).await?,
                None => false,
            };
            inbox::mark(&ctx.db, event_id, status(ours), None).await?;
            Ok(())
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => {
            let sub: Object = parse(payload, "subscription")?;
            let ours = refresh(ctx, &sub.id).await?;
            inbox::mark(&ctx.db, event_id, status(ours), None).await?;
            Ok(())
        }
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let intent: PaymentIntent = parse(payload, "payment intent")?;
            let order_id = intent.metadata.get("order_id").and_then(|o| o.parse::<billing::OrderId>().ok());
            let txn = billing::db::begin_write(&ctx.db).await?;
            let ours = match order_id {
                Some(order_id) if event.event_type.ends_with("succeeded") => {
                    let outcome = checkout::apply_paid_order(
                        &txn,
                        entities::PaymentProvider::Stripe,
                        order_id,
                        &intent.id,
                        Some(intent.amount),
                        None,
                    )
                    .await?;
                    outcome != Outcome::NotOurs
                }
                Some(order_id) => {
                    billing::orders::mark_failed(&txn, order_id, "the payment failed").await?;
                    true
                }
                None => false,
            };
            finish(txn, event_id, ours).await
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let dispute: billing::stripe::dispute::Dispute = parse(payload, "dispute")?;
            let refs: Vec<&str> = dispute.payment_intent.as_deref().into_iter().collect();
            let invoice = invoice_of(ctx, &refs, dispute.payment_intent.as_deref()).await?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let closed = event.event_type.ends_with("closed");
            let outcome = billing::stripe::dispute::apply(&txn, &dispute, closed, invoice.as_deref()).await?;
            finish(txn, event_id, outcome != billing::stripe::dispute::Outcome::NotOurs).await?;
            tracing::info!(event = event_id, ?outcome, "dispute applied");
            Ok(())
        }
        "payment_method.attached" | "payment_method.detached" => {
            let pm: billing::payment_methods::StripePaymentMethod = parse(payload, "payment method")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let ours = if event.event_type == "payment_method.attached" {
                billing::payment_methods::mirror_attached(&txn, &pm).await?
            } else {
                billing::payment_methods::mark_detached(&txn, &pm.id).await?;
                true
            };
            finish(txn, event_id, ours).await
        }
        "charge.refunded" => {
            let charge: billing::stripe::refund::Charge = parse(payload, "charge")?;
            let invoice = invoice_of(ctx, &charge.references(None), charge.payment_intent.as_deref()).await?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = billing::stripe::refund::apply(&txn, &charge, invoice.as_deref()).await?;
            finish(txn, event_id, outcome != billing::stripe::refund::Outcome::NotOurs).await?;
            tracing::info!(event = event_id, ?outcome, "refund applied");
            Ok(())
        }
        // Unknown and not-yet-handled types are stored and acknowledged.
        other => {
            inbox::mark(&ctx.db, event_id, StripeEventStatus::Ignored, None).await?;
            tracing::debug!(event = event_id, event_type = other, "event stored, nothing to apply");
            Ok(())
        }
    }
}

/// For a refund or dispute whose references match no recorded payment: the invoice its
/// PaymentIntent paid, if Stripe knows one (subscription payments are recorded by invoice).
async fn invoice_of(ctx: &Ctx, references: &[&str], payment_intent: Option<&str>) -> Result<Option<String>, JobError> {
    if billing::stripe::payment::find_any(&ctx.db, entities::PaymentProvider::Stripe, references).await?.is_some() {
        return Ok(None);
    }
    match (payment_intent, ctx.stripe.as_ref()) {
        (Some(pi), Some(client)) => crate::stripe_sync::invoice_paid_by(client, pi).await,
        _ => Ok(None),
    }
}

/// A paid subscription-mode checkout: the order is complete and the subscription it
/// started is mirrored (the pledge, the plan, the key tier).
async fn subscription_checkout(ctx: &Ctx, event_id: &str, session: &CheckoutSession) -> Result<(), JobError> {
    let Some(order_id) = session.order_id() else {
        inbox::mark(&ctx.db, event_id, StripeEventStatus::Ignored, None).await?;
        return Ok(());
    };
    if session.payment_status.as_deref() == Some("paid") {
        billing::orders::mark_completed(&ctx.db, order_id).await?;
    }
    if let Some(sub) = &session.subscription {
        refresh(ctx, sub).await?;
    }
    inbox::mark(&ctx.db, event_id, StripeEventStatus::Processed, None).await?;
    Ok(())
}
