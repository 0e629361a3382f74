//! Creem subscriptions mirrored onto the shared `subscriptions` table (kind `recurring`,
//! keyed by `creem_subscription_id`). As with Stripe, no event's copy is trusted: the worker
//! fetches the subscription from Creem and [`sync`] writes that state whole, under a lock
//! per subscription, so events in any order end in Creem's latest state. The plan is the one
//! whose Creem product the subscription sells; the account is the one the mirror already
//! belongs to, else the one of the verified checkout that started it, else the one our
//! checkout's metadata names (`account_id`). Its keys follow its
//! status at verification, as a Stripe subscription's do.

use super::events::Subscription;
use crate::AccountId;
use crate::error::DomainError;
use chrono::Utc;
use entities::subscriptions::{self, Column, Entity as Subscriptions};
use entities::{PlanKind, SubscriptionStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// How a Creem status reads here, and whether the subscription ends at its period's end.
pub fn local_status(creem_status: &str) -> (SubscriptionStatus, bool) {
    match creem_status {
        "active" => (SubscriptionStatus::Active, false),
        // Creem's cancel at period end: live until then.
        "scheduled_cancel" => (SubscriptionStatus::Active, true),
        "trialing" => (SubscriptionStatus::Trialing, false),
        "past_due" | "unpaid" => (SubscriptionStatus::PastDue, false),
        "paused" => (SubscriptionStatus::Paused, false),
        "incomplete" | "pending" => (SubscriptionStatus::Incomplete, false),
        "expired" => (SubscriptionStatus::Expired, false),
        _ => (SubscriptionStatus::Canceled, false),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    Subscription {
        id: Uuid,
        account_id: AccountId,
        status: SubscriptionStatus,
    },
    /// Not a subscription this system sold (no plan sells its product).
    NotOurs,
    /// A product of ours, but no account known yet: its checkout's event has not been
    /// applied. The event is applied again later, by then it is.
    Unclaimed,
}

/// Writes Creem's state of `sub` onto its mirror. `status` overrides Creem's status where
/// an event says more than the object (`subscription.expired` keeps the object `active`
/// while Creem retries; the event means the paid period is over). Run in a transaction
/// after [`crate::stripe::subscription::lock`] on the subscription id.
/// `owner` is the account of the verified checkout that started it, when the caller has it.
pub async fn sync<C: ConnectionTrait>(
    db: &C,
    sub: &Subscription,
    status: Option<SubscriptionStatus>,
    owner: Option<AccountId>,
) -> Result<Synced, DomainError> {
    let Some(product) = sub.product.as_ref().map(|p| p.id().to_owned()) else { return Ok(Synced::NotOurs) };
    let Some((plan, interval)) = crate::catalog::plan_by_creem_product(db, &product).await? else {
        return Ok(Synced::NotOurs);
    };
    let before = Subscriptions::find().filter(Column::CreemSubscriptionId.eq(&sub.id)).one(db).await?;
    let from_metadata = sub.meta("account_id").and_then(|a| a.parse::<AccountId>().ok());
    let account_id = match (&before, owner, from_metadata) {
        (Some(b), _, _) => b.account_id,
        (None, Some(owner), _) => owner,
        (None, None, Some(a)) if entities::accounts::Entity::find_by_id(a).one(db).await?.is_some() => a,
        _ => return Ok(Synced::Unclaimed),
    };
    let (creem_status, cancel_at_period_end) = local_status(&sub.status);
    let status = status.unwrap_or(creem_status);
    let now = Utc::now();
    let row = subscriptions::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        plan_id: Set(plan.id),
        kind: Set(PlanKind::Recurring),
        status: Set(status),
        interval: Set(Some(interval)),
        stripe_subscription_id: Set(None),
        creem_subscription_id: Set(Some(sub.id.clone())),
        current_period_start: Set(sub.current_period_start_date),
        current_period_end: Set(sub.current_period_end_date),
        cancel_at_period_end: Set(cancel_at_period_end),
        pending_plan_id: Set(None),
        provider_version: Set(0),
        order_id: Set(None),
        trial_end: Set((status == SubscriptionStatus::Trialing).then_some(sub.current_period_end_date).flatten()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let row = crate::stripe::subscription::write_mirror(
        db,
        row,
        Column::CreemSubscriptionId,
        &sub.id,
        "creem",
        before.as_ref(),
    )
    .await?;
    Ok(Synced::Subscription { id: row.id, account_id, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creem_statuses_map_to_ours() {
        assert_eq!(local_status("active"), (SubscriptionStatus::Active, false));
        assert_eq!(local_status("scheduled_cancel"), (SubscriptionStatus::Active, true));
        assert_eq!(local_status("unpaid"), (SubscriptionStatus::PastDue, false));
        assert_eq!(local_status("canceled"), (SubscriptionStatus::Canceled, false));
        assert_eq!(local_status("something_new"), (SubscriptionStatus::Canceled, false));
    }
}
