//! Subscriptions. A 30-day flat plan is a one-time purchase: active for 30 days from
//! payment, no renewal; each purchase is its own subscription (with its own key pool).

use crate::error::DomainError;
use chrono::{DateTime, Duration, Utc};
use entities::subscriptions::{self, Entity as Subscriptions};
use entities::{PlanKind, SubscriptionStatus};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

/// How long a 30-day plan lasts.
pub const FLAT_PERIOD_DAYS: i64 = 30;

/// Starts a paid 30-day subscription now; returns when it ends. Runs in the payment's
/// transaction.
pub async fn activate_flat<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    plan: &entities::plans::Model,
) -> Result<DateTime<Utc>, DomainError> {
    let now = Utc::now();
    let expires_at = now + Duration::days(FLAT_PERIOD_DAYS);
    Subscriptions::insert(subscriptions::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        plan_id: Set(plan.id),
        kind: Set(PlanKind::Flat30d),
        status: Set(SubscriptionStatus::Active),
        interval: Set(None),
        stripe_subscription_id: Set(None),
        current_period_start: Set(Some(now)),
        current_period_end: Set(Some(expires_at)),
        cancel_at_period_end: Set(true),
        pending_plan_id: Set(None),
        provider_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(expires_at)
}
