//! Applies one stored Creem event (inbox row `creem:<event id>`). As with Stripe's, each is
//! applied in one transaction with the event marked, and no event's copy of a subscription
//! is trusted for its state: the subscription is fetched from Creem and mirrored whole
//! ([`refresh`]). Money is taken from the event itself (the transaction it names), keyed so
//! duplicates and reordering change nothing.

use super::JobError;
use crate::creem_api::CreemClient;
use crate::runner::Ctx;
use billing::creem::effects::{self, CheckoutOutcome};
use billing::creem::events::{Checkout, Dispute, Event, Refund, Subscription};
use billing::creem::subscription::{self as mirror, Synced};
use billing::stripe::inbox;
use billing::{AccountId, DomainError};
use entities::stripe_events::Entity as Events;
use entities::{StripeEventStatus, SubscriptionStatus};
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde::de::DeserializeOwned;

fn parse<T: DeserializeOwned>(payload: &str, what: &str) -> Result<T, JobError> {
    serde_json::from_str::<Event<T>>(payload)
        .map(|e| e.object)
        .map_err(|e| JobError::Terminal(format!("unreadable Creem {what}: {e}")))
}

fn status(ours: bool) -> StripeEventStatus {
    if ours { StripeEventStatus::Processed } else { StripeEventStatus::Ignored }
}

async fn finish(txn: DatabaseTransaction, inbox_id: &str, ours: bool) -> Result<(), JobError> {
    inbox::mark(&txn, inbox_id, status(ours), None).await?;
    txn.commit().await?;
    Ok(())
}

fn client(ctx: &Ctx) -> Result<&CreemClient, JobError> {
    ctx.creem.as_ref().ok_or_else(|| JobError::Terminal("Creem is not configured".into()))
}

pub async fn handle(ctx: &Ctx, event_id: &str) -> Result<(), JobError> {
    let inbox_id = billing::creem::inbox::inbox_id(event_id);
    let Some(event) = Events::find_by_id(inbox_id.clone()).one(&ctx.db).await? else {
        return Err(JobError::Terminal(format!("Creem event {event_id} is not in the inbox")));
    };
    if matches!(event.status, StripeEventStatus::Processed | StripeEventStatus::Ignored) {
        return Ok(());
    }
    let payload = event.payload.as_str();
    let kind = event.event_type.as_str();
    match kind {
        "checkout.completed" => {
            let checkout: Checkout = parse(payload, "checkout")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = effects::apply_checkout(&txn, &checkout).await?;
            tracing::info!(event = event_id, ?outcome, "Creem checkout applied");
            match outcome {
                CheckoutOutcome::Paid(paid) => {
                    finish(txn, &inbox_id, paid != billing::stripe::checkout::Outcome::NotOurs).await
                }
                CheckoutOutcome::Subscribed { account_id, subscription, .. } => {
                    txn.commit().await?;
                    refresh(ctx, &subscription, None, Some(account_id)).await?;
                    inbox::mark(&ctx.db, &inbox_id, StripeEventStatus::Processed, None).await?;
                    Ok(())
                }
                CheckoutOutcome::Unpaid | CheckoutOutcome::NotOurs => finish(txn, &inbox_id, false).await,
            }
        }
        "subscription.active"
        | "subscription.trialing"
        | "subscription.update"
        | "subscription.paid"
        | "subscription.canceled"
        | "subscription.scheduled_cancel"
        | "subscription.past_due"
        | "subscription.unpaid"
        | "subscription.paused"
        | "subscription.expired" => {
            let told: Subscription = parse(payload, "subscription")?;
            let expired = kind == "subscription.expired";
            let txn = billing::db::begin_write(&ctx.db).await?;
            let Some((account_id, fresh)) = mirror_in(ctx, &txn, &told.id, expired, None).await? else {
                return finish(txn, &inbox_id, false).await;
            };
            if kind == "subscription.paid" {
                let product = fresh.product.as_ref().or(told.product.as_ref()).map(|p| p.id().to_owned());
                let plan = match product {
                    Some(p) => billing::catalog::plan_by_creem_product(&txn, &p).await?.map(|(plan, _)| plan),
                    None => None,
                };
                let plan = plan.ok_or_else(|| JobError::Terminal("the paid subscription sells no plan".into()))?;
                // The payment this event reports, not the subscription's latest one.
                let outcome = effects::apply_period_paid(&txn, &told, account_id, &plan).await?;
                tracing::info!(event = event_id, ?outcome, "Creem period payment applied");
            }
            finish(txn, &inbox_id, true).await
        }
        "refund.created" => {
            let refund: Refund = parse(payload, "refund")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = effects::apply_refund(&txn, &refund).await?;
            tracing::info!(event = event_id, ?outcome, "Creem refund applied");
            finish(txn, &inbox_id, outcome != billing::stripe::refund::Outcome::NotOurs).await
        }
        "dispute.created" => {
            let dispute: Dispute = parse(payload, "dispute")?;
            let txn = billing::db::begin_write(&ctx.db).await?;
            let outcome = effects::apply_dispute(&txn, &dispute).await?;
            tracing::info!(event = event_id, ?outcome, "Creem dispute applied");
            finish(txn, &inbox_id, outcome != billing::stripe::dispute::Outcome::NotOurs).await
        }
        other => {
            inbox::mark(&ctx.db, &inbox_id, StripeEventStatus::Ignored, None).await?;
            tracing::debug!(event = event_id, event_type = other, "Creem event stored, nothing to apply");
            Ok(())
        }
    }
}

/// Fetches a Creem subscription and mirrors it in `txn`, under the subscription's lock:
/// its owner and Creem's state of it, or `None` when it is not ours. `expired`: the event
/// says the paid period is over, which Creem's object (still `active` while it retries the
/// charge) does not; it counts only when the fetched period has indeed ended, so an expiry
/// applied after a later renewal changes nothing.
async fn mirror_in(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    id: &str,
    expired: bool,
    owner: Option<AccountId>,
) -> Result<Option<(AccountId, Subscription)>, JobError> {
    billing::stripe::subscription::lock(txn, id).await?;
    let fresh = client(ctx)?.subscription(id).await?;
    let ended = fresh.current_period_end_date.is_none_or(|end| end <= chrono::Utc::now());
    let status = (expired && ended).then_some(SubscriptionStatus::Expired);
    match mirror::sync(txn, &fresh, status, owner).await? {
        Synced::Subscription { account_id, .. } => Ok(Some((account_id, fresh))),
        Synced::NotOurs => Ok(None),
        // Its checkout's event comes first in time but may be applied later: wait for it.
        Synced::Unclaimed => Err(JobError::from(DomainError::Internal(format!(
            "Creem subscription {id} is not claimed by a checkout yet; retrying"
        )))),
    }
}

/// Fetches and mirrors a Creem subscription in a transaction of its own.
pub async fn refresh(ctx: &Ctx, id: &str, expired: Option<bool>, owner: Option<AccountId>) -> Result<bool, JobError> {
    let txn = billing::db::begin_write(&ctx.db).await?;
    let mirrored = mirror_in(ctx, &txn, id, expired.unwrap_or(false), owner).await?;
    txn.commit().await?;
    Ok(mirrored.is_some())
}

/// Cancels a Creem subscription (now or at its period's end) and mirrors the result.
pub async fn cancel(ctx: &Ctx, id: &str, at_period_end: bool) -> Result<(), JobError> {
    client(ctx)?.cancel(id, at_period_end).await?;
    refresh(ctx, id, None, None).await?;
    Ok(())
}
