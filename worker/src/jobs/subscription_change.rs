//! Changes a Stripe subscription for one request — plan (upgrade now with a prorated
//! invoice; downgrade at period end, as Lago does), cancel now or at period end, resume —
//! with the job key as the `Idempotency-Key`, then mirrors the result so the waiting
//! request answers with the new state.

use super::JobError;
use crate::runner::Ctx;
use billing::jobs::contracts::{ChangeOutcome, ChangeOutput};
use billing::stripe::subscription::Change;
use entities::BillingInterval;
use sea_orm::EntityTrait;
use std::collections::HashMap;
use stripe_billing::subscription::{
    CancelSubscription, ResumeSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionPaymentBehavior, UpdateSubscriptionProrationBehavior,
};
use stripe_client_core::StripeRequest;

pub async fn handle(
    ctx: &Ctx,
    job: &entities::jobs::Model,
    stripe_id: &str,
    change: Change,
) -> Result<ChangeOutput, JobError> {
    let client = ctx.stripe.as_ref().ok_or_else(|| JobError::Terminal("Stripe is not configured".into()))?;
    let strategy = crate::stripe_api::idempotent(&job.job_key)?;
    match change {
        Change::CancelAtPeriodEnd | Change::Resume => {
            let current =
                RetrieveSubscription::new(stripe_id).send(client).await.map_err(crate::stripe_api::classify)?;
            if change == Change::Resume && current.status.as_str() == "paused" {
                ResumeSubscription::new(stripe_id)
                    .customize()
                    .request_strategy(strategy)
                    .send(client)
                    .await
                    .map_err(crate::stripe_api::classify)?;
            } else {
                UpdateSubscription::new(stripe_id)
                    .cancel_at_period_end(change == Change::CancelAtPeriodEnd)
                    .customize()
                    .request_strategy(strategy)
                    .send(client)
                    .await
                    .map_err(crate::stripe_api::classify)?;
            }
        }
        Change::CancelNow => {
            let current =
                RetrieveSubscription::new(stripe_id).send(client).await.map_err(crate::stripe_api::classify)?;
            if current.status.as_str() == "canceled" {
                // Ended already (the customer, a refund and a dispute may all end it).
                let synced = crate::stripe_sync::refresh(&ctx.db, client, stripe_id).await?;
                return Ok(ChangeOutput { outcome: None, synced: format!("{synced:?}") });
            }
            CancelSubscription::new(stripe_id)
                .customize()
                .request_strategy(strategy)
                .send(client)
                .await
                .map_err(crate::stripe_api::classify)?;
        }
        Change::Plan { plan_id, upgrade } => {
            let current =
                RetrieveSubscription::new(stripe_id).send(client).await.map_err(crate::stripe_api::classify)?;
            let item =
                current.items.data.first().ok_or_else(|| JobError::Terminal("subscription has no item".into()))?;
            let interval = match item.price.recurring.as_ref().map(|r| r.interval.as_str()) {
                Some("year") => BillingInterval::Year,
                _ => BillingInterval::Month,
            };
            let plan = entities::plans::Entity::find_by_id(plan_id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| JobError::Terminal(format!("plan {plan_id} not found")))?;
            let price = crate::stripe_catalog::ensure_price(ctx, client, &plan, interval).await?;
            // The plan in force now (a downgrade that already took effect included).
            let old_plan =
                crate::stripe_sync::snapshot(&current).effective_plan().map(|p| p.to_string()).unwrap_or_default();
            let end = item.current_period_end;
            let items = vec![UpdateSubscriptionItems {
                id: Some(item.id.to_string()),
                price: Some(price),
                ..UpdateSubscriptionItems::new()
            }];
            let to_map = |m: [(&str, String); 3]| -> HashMap<String, String> {
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            };
            if upgrade {
                // An upgrade takes effect when paid: with `pending_if_incomplete` a declined
                // proration invoice leaves the old price in force (Stripe holds the change
                // as `pending_update` and drops it after 23 hours). Stripe takes no metadata
                // in such an update, so the plan is named in a second call, once paid.
                let updated = UpdateSubscription::new(stripe_id)
                    .items(items)
                    .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
                    .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
                    .customize()
                    .request_strategy(strategy)
                    .send(client)
                    .await
                    .map_err(crate::stripe_api::classify)?;
                if updated.pending_update.is_some() {
                    let synced = crate::stripe_sync::refresh(&ctx.db, client, stripe_id).await?;
                    return Ok(ChangeOutput {
                        outcome: Some(ChangeOutcome::PaymentFailed),
                        synced: format!("{synced:?}"),
                    });
                }
                let metadata = to_map([
                    ("plan_id", plan_id.to_string()),
                    ("pending_plan_id", String::new()),
                    ("pending_from", String::new()),
                ]);
                UpdateSubscription::new(stripe_id)
                    .metadata(metadata)
                    .customize()
                    .request_strategy(crate::stripe_api::idempotent(&format!("{}:plan", job.job_key))?)
                    .send(client)
                    .await
                    .map_err(crate::stripe_api::classify)?;
            } else {
                // Stripe bills the new price from the next period; our entitlements switch
                // when that period starts (`Snapshot::effective_plan`).
                let metadata = to_map([
                    ("plan_id", old_plan),
                    ("pending_plan_id", plan_id.to_string()),
                    ("pending_from", end.to_string()),
                ]);
                UpdateSubscription::new(stripe_id)
                    .items(items)
                    .proration_behavior(UpdateSubscriptionProrationBehavior::None)
                    .metadata(metadata)
                    .customize()
                    .request_strategy(strategy)
                    .send(client)
                    .await
                    .map_err(crate::stripe_api::classify)?;
            }
        }
    }
    let synced = crate::stripe_sync::refresh(&ctx.db, client, stripe_id).await?;
    Ok(ChangeOutput { outcome: None, synced: format!("{synced:?}") })
}
