//! Applies one stored Stripe event. The inbox row holds the raw event; each type we act on
//! is applied in one database transaction with the event marked processed, so a retry
//! after a crash either finds the whole effect or none of it.

use super::JobError;
use crate::runner::Ctx;
use billing::stripe::checkout::{self, CheckoutSession, Outcome};
use billing::stripe::inbox;
use entities::StripeEventStatus;
use entities::stripe_events::Entity as Events;
use sea_orm::{EntityTrait, TransactionTrait};
use serde::Deserialize;

#[derive(Deserialize)]
struct Event<T> {
    data: EventData<T>,
}

#[derive(Deserialize)]
struct EventData<T> {
    object: T,
}

pub async fn handle(ctx: &Ctx, event_id: &str, attempt: i32) -> Result<(), JobError> {
    let Some(event) = Events::find_by_id(event_id.to_owned()).one(&ctx.db).await? else {
        return Err(JobError::Terminal(format!("event {event_id} is not in the inbox")));
    };
    if event.status == StripeEventStatus::Processed || event.status == StripeEventStatus::Ignored {
        return Ok(());
    }
    match event.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let parsed: Event<CheckoutSession> = serde_json::from_str(&event.payload)
                .map_err(|e| JobError::Terminal(format!("unreadable checkout session: {e}")))?;
            let txn = ctx.db.begin().await?;
            let outcome = checkout::apply_paid(&txn, &parsed.data.object).await?;
            let status = match outcome {
                Outcome::NotOurs => StripeEventStatus::Ignored,
                _ => StripeEventStatus::Processed,
            };
            inbox::mark(&txn, event_id, status, None).await?;
            crate::failpoint::stall_before_commit(attempt).await;
            txn.commit().await?;
            tracing::info!(event = event_id, ?outcome, "checkout session applied");
            Ok(())
        }
        "checkout.session.expired" => {
            let parsed: Event<CheckoutSession> = serde_json::from_str(&event.payload)
                .map_err(|e| JobError::Terminal(format!("unreadable checkout session: {e}")))?;
            let txn = ctx.db.begin().await?;
            let status = match parsed.data.object.order_id() {
                Some(order_id) => {
                    billing::orders::mark_expired(&txn, order_id).await?;
                    StripeEventStatus::Processed
                }
                None => StripeEventStatus::Ignored,
            };
            inbox::mark(&txn, event_id, status, None).await?;
            txn.commit().await?;
            Ok(())
        }
        "payment_method.attached" | "payment_method.detached" => {
            let parsed: Event<billing::payment_methods::StripePaymentMethod> = serde_json::from_str(&event.payload)
                .map_err(|e| JobError::Terminal(format!("unreadable payment method: {e}")))?;
            let pm = &parsed.data.object;
            let txn = ctx.db.begin().await?;
            let ours = if event.event_type == "payment_method.attached" {
                billing::payment_methods::mirror_attached(&txn, pm).await?
            } else {
                billing::payment_methods::mark_detached(&txn, &pm.id).await?;
                true
            };
            let status = if ours { StripeEventStatus::Processed } else { StripeEventStatus::Ignored };
            inbox::mark(&txn, event_id, status, None).await?;
            txn.commit().await?;
            Ok(())
        }
        "charge.refunded" => {
            let parsed: Event<billing::stripe::refund::Charge> = serde_json::from_str(&event.payload)
                .map_err(|e| JobError::Terminal(format!("unreadable charge: {e}")))?;
            let txn = ctx.db.begin().await?;
            let outcome = billing::stripe::refund::apply(&txn, &parsed.data.object).await?;
            let status = match outcome {
                billing::stripe::refund::Outcome::NotOurs => StripeEventStatus::Ignored,
                _ => StripeEventStatus::Processed,
            };
            inbox::mark(&txn, event_id, status, None).await?;
            txn.commit().await?;
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
