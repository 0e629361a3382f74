//! Changes a Stripe subscription for one request — plan (upgrade now with a prorated
//! invoice; downgrade at period end, as Lago does), cancel now or at period end, resume —
//! with the job key as the `Idempotency-Key`, then mirrors the result so the waiting
//! request answers with the new state.

use super::JobError;
use crate::runner::Ctx;
use billing::stripe::subscription::Change;
use entities::BillingInterval;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::collections::HashMap;
use stripe_billing::subscription::{
    CancelSubscription, ResumeSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};
use stripe_client_core::StripeRequest;

pub async fn handle(
    ctx: &Ctx,
    job: &entities::jobs::Model,
    stripe_id: &str,
    change: Change,
) -> Result<Value, JobError> {
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
            let (behavior, metadata) = if upgrade {
                let m = [
                    ("plan_id", plan_id.to_string()),
                    ("pending_plan_id", String::new()),
                    ("pending_from", String::new()),
                ];
                (UpdateSubscriptionProrationBehavior::AlwaysInvoice, m)
            } else {
                // Stripe bills the new price from the next period; our entitlements switch
                // when that period starts (`Snapshot::effective_plan`).
                let m = [
                    ("plan_id", old_plan),
                    ("pending_plan_id", plan_id.to_string()),
                    ("pending_from", end.to_string()),
                ];
                (UpdateSubscriptionProrationBehavior::None, m)
            };
            let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let items = vec![UpdateSubscriptionItems {
                id: Some(item.id.to_string()),
                price: Some(price),
                ..UpdateSubscriptionItems::new()
            }];
            UpdateSubscription::new(stripe_id)
                .items(items)
                .proration_behavior(behavior)
                .metadata(metadata)
                .customize()
                .request_strategy(strategy)
                .send(client)
                .await
                .map_err(crate::stripe_api::classify)?;
        }
    }
    let synced = crate::stripe_sync::refresh(&ctx.db, client, stripe_id).await?;
    Ok(json!({"synced": format!("{synced:?}")}))
}
