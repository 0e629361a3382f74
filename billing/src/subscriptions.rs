//! Subscriptions. A 30-day flat plan is a one-time purchase: active for 30 days from
//! payment, no renewal; each purchase is its own subscription (with its own key pool).

use crate::error::DomainError;
use crate::{AccountId, OrderId};
use chrono::{DateTime, Duration, Utc};
use entities::subscriptions::{self, Entity as Subscriptions};
use entities::{PlanKind, SubscriptionStatus};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

/// How long past its period end a live pool pledge waits for its renewal before it expires
/// (Stripe retries a failed renewal charge for days).
pub const PLEDGE_RENEWAL_GRACE_DAYS: i64 = 3;

/// How long a 30-day plan lasts.
pub const FLAT_PERIOD_DAYS: i64 = 30;

/// Starts a paid 30-day subscription now, bought by `order_id`; returns when it ends. Runs
/// in the payment's transaction.
pub async fn activate_flat<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    plan: &entities::plans::Model,
    order_id: OrderId,
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
        creem_subscription_id: Set(None),
        current_period_start: Set(Some(now)),
        current_period_end: Set(Some(expires_at)),
        cancel_at_period_end: Set(true),
        pending_plan_id: Set(None),
        provider_version: Set(0),
        order_id: Set(Some(order_id)),
        trial_end: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(expires_at)
}

/// The account's subscriptions that are not over, with their plans, newest first.
pub async fn current<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<Vec<(subscriptions::Model, Option<entities::plans::Model>)>, DomainError> {
    use entities::subscriptions::Column;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let subs = Subscriptions::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Status.is_in([
            SubscriptionStatus::Active,
            SubscriptionStatus::Trialing,
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Paused,
        ]))
        .order_by_desc(Column::CreatedAt)
        .all(db)
        .await?;
    let plan_ids: Vec<Uuid> = subs.iter().map(|s| s.plan_id).collect();
    let plans = entities::plans::Entity::find().filter(entities::plans::Column::Id.is_in(plan_ids)).all(db).await?;
    Ok(subs
        .into_iter()
        .map(|s| {
            let plan = plans.iter().find(|p| p.id == s.plan_id).cloned();
            (s, plan)
        })
        .collect())
}

/// Whether a subscription still gives access at `now`: active, and for a 30-day plan,
/// inside its period (an active one past its end is expired, whether or not the hourly
/// expiry job has marked it yet).
pub fn is_live(sub: &subscriptions::Model, now: DateTime<Utc>) -> bool {
    matches!(sub.status, SubscriptionStatus::Active | SubscriptionStatus::Trialing)
        && sub.current_period_end.is_none_or(|end| end > now)
}

/// Cancels one of the account's subscriptions at the end of its period; `None` when the
/// account has no such subscription (another account's id included).
pub async fn cancel_at_period_end<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    subscription_id: Uuid,
) -> Result<Option<subscriptions::Model>, DomainError> {
    use entities::subscriptions::Column;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let res = Subscriptions::update_many()
        .col_expr(Column::CancelAtPeriodEnd, Expr::value(true))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(subscription_id))
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Subscriptions::find_by_id(subscription_id).one(db).await?)
}

/// What one expiry run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Expired {
    pub subscriptions: Vec<Uuid>,
    pub pledges: Vec<Uuid>,
    pub keys_revoked: u64,
}

/// Expires 30-day subscriptions and pool pledges whose period ended before `now` and
/// revokes their keys, in one transaction. Credit keys belong to no subscription and are
/// untouched. Conditional updates make a second run (another worker, the next tick) a
/// no-op for what is already expired.
pub async fn expire_due(db: &sea_orm::DatabaseConnection, now: DateTime<Utc>) -> Result<Expired, DomainError> {
    use entities::api_keys::{Column as KeyCol, Entity as ApiKeys};
    use entities::pool_pledges::{Column as PledgeCol, Entity as Pledges};
    use entities::subscriptions::Column;
    use entities::{KeyStatus, PledgeStatus};
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};

    let txn = crate::db::begin_write(db).await?;
    let live = [SubscriptionStatus::Active, SubscriptionStatus::Trialing, SubscriptionStatus::PastDue];
    let subs: Vec<Uuid> = Subscriptions::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Kind.eq(PlanKind::Flat30d))
        .filter(Column::Status.is_in(live))
        .filter(Column::CurrentPeriodEnd.lt(now))
        .into_tuple()
        .all(&txn)
        .await?;
    let pledge_live = [PledgeStatus::Active, PledgeStatus::PendingKey, PledgeStatus::PastDue, PledgeStatus::Canceled];
    let pledges: Vec<Uuid> = Pledges::find()
        .select_only()
        .column(PledgeCol::Id)
        .filter(PledgeCol::Status.is_in(pledge_live))
        .filter(PledgeCol::CurrentPeriodEnd.lt(now))
        // A pledge is a Stripe subscription: at its period end Stripe renews it and the
        // events follow, so only one whose subscription ended (canceled) expires at once;
        // a live one expires only if no renewal arrived within the grace.
        .filter(
            PledgeCol::Status
                .eq(PledgeStatus::Canceled)
                .or(PledgeCol::CurrentPeriodEnd.lt(now - Duration::days(PLEDGE_RENEWAL_GRACE_DAYS))),
        )
        .into_tuple()
        .all(&txn)
        .await?;
    let mut done = Expired::default();
    if !subs.is_empty() {
        // Only rows still live move: a concurrent run that got here first leaves nothing.
        let moved = Subscriptions::update_many()
            .col_expr(Column::Status, Expr::value(SubscriptionStatus::Expired.as_str()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.is_in(subs.clone()))
            .filter(Column::Status.is_in(live))
            .exec(&txn)
            .await?;
        if moved.rows_affected > 0 {
            done.subscriptions = subs;
        }
    }
    if !pledges.is_empty() {
        let moved = Pledges::update_many()
            .col_expr(PledgeCol::Status, Expr::value(PledgeStatus::Expired.as_str()))
            .col_expr(PledgeCol::UpdatedAt, Expr::value(now))
            .filter(PledgeCol::Id.is_in(pledges.clone()))
            .filter(PledgeCol::Status.is_in(pledge_live))
            .exec(&txn)
            .await?;
        if moved.rows_affected > 0 {
            done.pledges = pledges;
        }
    }
    if !done.subscriptions.is_empty() || !done.pledges.is_empty() {
        let revoked = ApiKeys::update_many()
            .col_expr(KeyCol::Status, Expr::value(KeyStatus::Revoked.as_str()))
            .col_expr(KeyCol::RevokedAt, Expr::value(Some(now)))
            .filter(
                KeyCol::SubscriptionId
                    .is_in(done.subscriptions.clone())
                    .or(KeyCol::PledgeId.is_in(done.pledges.clone())),
            )
            .filter(KeyCol::Status.ne(KeyStatus::Revoked))
            .exec(&txn)
            .await?;
        done.keys_revoked = revoked.rows_affected;
        for (kind, id) in
            done.subscriptions.iter().map(|id| ("subscription", id)).chain(done.pledges.iter().map(|id| ("pledge", id)))
        {
            entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
                id: Set(Uuid::now_v7()),
                actor: Set("expiry".into()),
                action: Set(format!("{kind}_expired")),
                target: Set(format!("{kind}:{id}")),
                details: Set(serde_json::json!({})),
                request_id: Set(None),
                created_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        // Told to the accounts' webhooks with the expiry, in its transaction.
        let expired = Subscriptions::find().filter(Column::Id.is_in(done.subscriptions.clone())).all(&txn).await?;
        let facts = expired.into_iter().map(|s| crate::webhooks::Fact {
            account_id: s.account_id,
            kind: crate::webhooks::EventType::SubscriptionExpired,
            key: format!("subscription:{}:expired", s.id),
            data: serde_json::json!({"subscriptionId": s.id, "status": s.status, "currentPeriodEnd": s.current_period_end,
                                     "provider": "tollgate"}),
        });
        crate::webhooks::emit_many(&txn, facts.collect()).await?;
    }
    txn.commit().await?;
    Ok(done)
}

/// Ends now the 30-day subscription `order_id` bought, and revokes its keys: the payment
/// was wholly refunded or lost in a dispute. How many subscriptions ended (0 when already
/// over, so a repeated event changes nothing).
pub async fn end_bought_by<C: ConnectionTrait>(db: &C, order_id: OrderId) -> Result<u64, DomainError> {
    use entities::api_keys::{Column as KeyCol, Entity as ApiKeys};
    use entities::subscriptions::Column;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let now = Utc::now();
    let ids: Vec<Uuid> = Subscriptions::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::OrderId.eq(order_id))
        .filter(Column::Status.ne(SubscriptionStatus::Canceled))
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let ended = Subscriptions::update_many()
        .col_expr(Column::Status, Expr::value(SubscriptionStatus::Canceled.as_str()))
        .col_expr(Column::CurrentPeriodEnd, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.is_in(ids.clone()))
        .filter(Column::Status.ne(SubscriptionStatus::Canceled))
        .exec(db)
        .await?
        .rows_affected;
    ApiKeys::update_many()
        .col_expr(KeyCol::Status, Expr::value(entities::KeyStatus::Revoked.as_str()))
        .col_expr(KeyCol::RevokedAt, Expr::value(Some(now)))
        .filter(KeyCol::SubscriptionId.is_in(ids))
        .filter(KeyCol::Status.ne(entities::KeyStatus::Revoked))
        .exec(db)
        .await?;
    Ok(ended)
}

/// A subscription by id.
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<subscriptions::Model>, DomainError> {
    Ok(Subscriptions::find_by_id(id).one(db).await?)
}

/// Where one of the account's pledges or subscriptions is billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// Not the account's, or not known.
    Unknown,
    /// Ours alone (a 30-day plan): no Stripe subscription.
    Local,
    /// Billed by this Stripe subscription.
    Stripe(String),
    /// Billed by this Creem subscription.
    Creem(String),
    /// A pledge never paid: nothing at Stripe to end.
    Unpaid,
}

/// What backs the account's pledge or subscription `id`, and when its period ends.
pub async fn backing<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
) -> Result<(Backing, Option<DateTime<Utc>>), DomainError> {
    use entities::pool_pledges::{Column as P, Entity as Pledges};
    use sea_orm::{ColumnTrait, QueryFilter};
    if let Some(p) = Pledges::find_by_id(id).filter(P::AccountId.eq(account_id)).one(db).await? {
        let backing = p.stripe_subscription_id.map_or(Backing::Unpaid, Backing::Stripe);
        return Ok((backing, p.current_period_end));
    }
    let sub = Subscriptions::find_by_id(id).filter(subscriptions::Column::AccountId.eq(account_id)).one(db).await?;
    Ok(match sub {
        None => (Backing::Unknown, None),
        Some(s) => {
            let backing = match (s.stripe_subscription_id, s.creem_subscription_id) {
                (Some(stripe), _) => Backing::Stripe(stripe),
                (None, Some(creem)) => Backing::Creem(creem),
                (None, None) => Backing::Local,
            };
            (backing, s.current_period_end)
        }
    })
}
