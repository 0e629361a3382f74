//! Stripe-backed subscriptions — recurring plans (subscription API), pool pledges (billing API) and API-key
//! tiers (key-tier API) — mirrored from Stripe's subscription object.
//!
//! Events may arrive late, twice or out of order, so no event's copy of the object is
//! trusted: the worker re-fetches the subscription from Stripe and [`sync`] writes that
//! state whole (under a per-subscription lock, see `lock`). Whatever the order, the
//! last sync writes Stripe's latest state. Which local row a subscription feeds is in the
//! metadata we set at checkout (`kind`, `account_id`, `plan_id` or `pledge_id`).

use crate::AccountId;
use crate::error::DomainError;
use chrono::{DateTime, Utc};
use entities::subscriptions::{self, Column, Entity as Subscriptions};
use entities::{BillingInterval, KeyTier, PlanKind, PledgeStatus, SubscriptionStatus};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Statement};
use std::collections::HashMap;
use uuid::Uuid;

/// What a Stripe subscription is for, from its metadata `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Recurring,
    Pool,
    KeyTier,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Recurring => "recurring",
            Purpose::Pool => "pool",
            Purpose::KeyTier => "key_tier",
        }
    }

    fn parse(s: &str) -> Option<Purpose> {
        match s {
            "recurring" => Some(Purpose::Recurring),
            "pool" => Some(Purpose::Pool),
            "key_tier" => Some(Purpose::KeyTier),
            _ => None,
        }
    }
}

/// The fields of a Stripe subscription we mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    /// Stripe's status string (`active`, `past_due`, `unpaid`, `incomplete_expired`, …).
    pub status: String,
    pub metadata: HashMap<String, String>,
    pub cancel_at_period_end: bool,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub trial_end: Option<i64>,
    pub interval: Option<BillingInterval>,
}

impl Snapshot {
    fn meta_uuid(&self, key: &str) -> Option<Uuid> {
        self.metadata.get(key).and_then(|v| Uuid::parse_str(v).ok())
    }

    pub fn purpose(&self) -> Option<Purpose> {
        self.metadata.get("kind").and_then(|k| Purpose::parse(k))
    }

    pub fn account_id(&self) -> Option<AccountId> {
        self.meta_uuid("account_id").map(AccountId::from)
    }

    /// The plan in force: a downgrade (`pending_plan_id`) takes effect once a period
    /// starting at or after `pending_from` has begun.
    pub fn effective_plan(&self) -> Option<Uuid> {
        let pending_due = match (self.meta_uuid("pending_plan_id"), self.metadata.get("pending_from")) {
            (Some(p), Some(from)) => {
                from.parse::<i64>().ok().filter(|f| self.current_period_start >= Some(*f)).map(|_| p)
            }
            _ => None,
        };
        pending_due.or_else(|| self.meta_uuid("plan_id"))
    }

    /// A downgrade waiting for the period to end.
    pub fn pending_plan(&self) -> Option<Uuid> {
        let pending = self.meta_uuid("pending_plan_id")?;
        (self.effective_plan() != Some(pending)).then_some(pending)
    }

    fn local_status(&self) -> SubscriptionStatus {
        match self.status.as_str() {
            "trialing" => SubscriptionStatus::Trialing,
            "active" => SubscriptionStatus::Active,
            "past_due" | "unpaid" => SubscriptionStatus::PastDue,
            "paused" => SubscriptionStatus::Paused,
            "incomplete" => SubscriptionStatus::Incomplete,
            _ => SubscriptionStatus::Canceled,
        }
    }
}

fn ts(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
}

/// Serialises syncs of one Stripe subscription across workers for the rest of the
/// transaction, so a sync that fetched older state cannot commit after a newer one.
/// Postgres only: SQLite (the single-node quick start) runs one writer at a time anyway.
pub async fn lock<C: ConnectionTrait>(db: &C, stripe_id: &str) -> Result<(), DomainError> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            [stripe_id.into()],
        ))
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Synced {
    Subscription {
        id: Uuid,
        status: SubscriptionStatus,
    },
    Pledge {
        id: Uuid,
        status: PledgeStatus,
    },
    /// Not a subscription this system started.
    NotOurs,
}

/// Writes Stripe's state of a subscription onto the local row it feeds. Run inside the
/// transaction that holds [`lock`].
pub async fn sync<C: ConnectionTrait>(db: &C, snap: &Snapshot) -> Result<Synced, DomainError> {
    let (Some(purpose), Some(account_id)) = (snap.purpose(), snap.account_id()) else {
        return Ok(Synced::NotOurs);
    };
    if purpose == Purpose::Pool {
        return sync_pledge(db, snap, account_id).await;
    }
    let Some(plan_id) = snap.effective_plan() else { return Ok(Synced::NotOurs) };
    let status = snap.local_status();
    let now = Utc::now();
    let before = Subscriptions::find().filter(Column::StripeSubscriptionId.eq(&snap.id)).one(db).await?;
    let kind = if purpose == Purpose::KeyTier { PlanKind::KeyTier } else { PlanKind::Recurring };
    let row = subscriptions::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        plan_id: Set(plan_id),
        kind: Set(kind),
        status: Set(status),
        interval: Set(snap.interval),
        stripe_subscription_id: Set(Some(snap.id.clone())),
        creem_subscription_id: Set(None),
        current_period_start: Set(ts(snap.current_period_start)),
        current_period_end: Set(ts(snap.current_period_end)),
        cancel_at_period_end: Set(snap.cancel_at_period_end),
        pending_plan_id: Set(snap.pending_plan()),
        provider_version: Set(0),
        order_id: Set(None),
        trial_end: Set(ts(snap.trial_end)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let row = write_mirror(db, row, Column::StripeSubscriptionId, &snap.id, "stripe", before.as_ref()).await?;
    if purpose == Purpose::KeyTier {
        apply_key_tier(db, account_id).await?;
    }
    Ok(Synced::Subscription { id: row.id, status })
}

/// Key tiers: the account's tier keys carry the highest tier among its live tier subscriptions
/// (Free when none is live) — never simply the one synced last, which may be a lower tier
/// ending while a higher one runs on.
async fn apply_key_tier<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<(), DomainError> {
    use entities::api_keys::{Column as K, Entity as Keys};
    let tier = crate::api_keys::entitled_tier(db, account_id).await?;
    Keys::update_many()
        .col_expr(K::Tier, Expr::value(Some(tier.as_str())))
        .filter(K::AccountId.eq(account_id))
        .filter(K::Kind.eq(entities::ApiKeyKind::Tier))
        .exec(db)
        .await?;
    Ok(())
}

/// The key tier a `tier-…` plan sells.
pub fn tier_of_slug(slug: &str) -> Option<KeyTier> {
    match slug {
        "tier-starter" => Some(KeyTier::Starter),
        "tier-growth" => Some(KeyTier::Growth),
        _ => None,
    }
}

async fn sync_pledge<C: ConnectionTrait>(
    db: &C,
    snap: &Snapshot,
    account_id: AccountId,
) -> Result<Synced, DomainError> {
    use entities::api_keys::{Column as K, Entity as Keys};
    use entities::pool_pledges::{Column as P, Entity as Pledges};
    use sea_orm::PaginatorTrait;
    let Some(pledge_id) = snap.meta_uuid("pledge_id") else { return Ok(Synced::NotOurs) };
    let Some(pledge) = Pledges::find_by_id(pledge_id).filter(P::AccountId.eq(account_id)).one(db).await? else {
        return Ok(Synced::NotOurs);
    };
    let has_key = Keys::find()
        .filter(K::PledgeId.eq(pledge_id))
        .filter(K::Status.ne(entities::KeyStatus::Revoked))
        .count(db)
        .await?
        > 0;
    let status = match snap.local_status() {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing if has_key => PledgeStatus::Active,
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => PledgeStatus::PendingKey,
        SubscriptionStatus::PastDue | SubscriptionStatus::Paused => PledgeStatus::PastDue,
        SubscriptionStatus::Incomplete => PledgeStatus::Pending,
        _ => PledgeStatus::Canceled,
    };
    // A pledge the expiry job already ended stays ended.
    if pledge.status == PledgeStatus::Expired {
        return Ok(Synced::Pledge { id: pledge_id, status: pledge.status });
    }
    Pledges::update_many()
        .col_expr(P::Status, Expr::value(status.as_str()))
        .col_expr(P::StripeSubscriptionId, Expr::value(Some(snap.id.clone())))
        .col_expr(P::CurrentPeriodEnd, Expr::value(ts(snap.current_period_end)))
        .col_expr(P::CancelAtPeriodEnd, Expr::value(snap.cancel_at_period_end))
        .col_expr(P::UpdatedAt, Expr::value(Utc::now()))
        .filter(P::Id.eq(pledge_id))
        .exec(db)
        .await?;
    Ok(Synced::Pledge { id: pledge_id, status })
}

/// Writes a provider's state onto the local mirror keyed by `key` (its provider id column,
/// holding `id`): inserted on first sight, otherwise updated whole with its version bumped.
/// A change of status or plan is audited and told to the account's webhooks. The mirror
/// as written.
pub(crate) async fn write_mirror<C: ConnectionTrait>(
    db: &C,
    row: subscriptions::ActiveModel,
    key: Column,
    id: &str,
    actor: &str,
    before: Option<&subscriptions::Model>,
) -> Result<subscriptions::Model, DomainError> {
    Subscriptions::insert(row)
        .on_conflict(
            OnConflict::column(key)
                .update_columns([
                    Column::PlanId,
                    Column::Status,
                    Column::Interval,
                    Column::CurrentPeriodStart,
                    Column::CurrentPeriodEnd,
                    Column::CancelAtPeriodEnd,
                    Column::PendingPlanId,
                    Column::TrialEnd,
                    Column::UpdatedAt,
                ])
                .value(Column::ProviderVersion, Expr::col((Subscriptions, Column::ProviderVersion)).add(1))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let row = Subscriptions::find().filter(key.eq(id)).one(db).await?.ok_or(DomainError::NotFound("subscription"))?;
    if before.is_none_or(|b| b.status != row.status || b.plan_id != row.plan_id) {
        audit(db, actor, &row, before).await?;
    }
    Ok(row)
}

/// Records a subscription's change of status or plan; `actor` is the provider that told us.
async fn audit<C: ConnectionTrait>(
    db: &C,
    actor: &str,
    row: &subscriptions::Model,
    before: Option<&subscriptions::Model>,
) -> Result<(), DomainError> {
    entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor: Set(actor.into()),
        action: Set("subscription_changed".into()),
        target: Set(format!("subscription:{}", row.id)),
        details: Set(serde_json::json!({
            "status": row.status, "planId": row.plan_id,
            "previousStatus": before.map(|b| b.status), "previousPlanId": before.map(|b| b.plan_id),
        })),
        request_id: Set(None),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    // The same change, told to the account's webhooks (keyed by the mirror's version, so a
    // change is told once).
    let kind = match (before, row.status) {
        (None, _) => crate::webhooks::EventType::SubscriptionCreated,
        (Some(_), SubscriptionStatus::Canceled) => crate::webhooks::EventType::SubscriptionCanceled,
        (Some(_), SubscriptionStatus::Expired) => crate::webhooks::EventType::SubscriptionExpired,
        (Some(_), _) => crate::webhooks::EventType::SubscriptionUpdated,
    };
    let plan = entities::plans::Entity::find_by_id(row.plan_id).one(db).await?.map(|p| p.slug);
    let fact = crate::webhooks::Fact {
        account_id: row.account_id,
        kind,
        key: format!("subscription:{}:{}", row.id, row.provider_version),
        data: serde_json::json!({
            "subscriptionId": row.id, "plan": plan, "status": row.status, "previousStatus": before.map(|b| b.status),
            "currentPeriodEnd": row.current_period_end, "cancelAtPeriodEnd": row.cancel_at_period_end,
            "provider": actor,
        }),
    };
    crate::webhooks::emit(db, fact).await
}

/// The account's recurring (subscription API) subscription that is not over, newest first.
pub async fn current_recurring<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<Option<subscriptions::Model>, DomainError> {
    use sea_orm::QueryOrder;
    Ok(Subscriptions::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(PlanKind::Recurring))
        .filter(Column::Status.is_in([
            SubscriptionStatus::Trialing,
            SubscriptionStatus::Active,
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Paused,
        ]))
        .order_by_desc(Column::CreatedAt)
        .one(db)
        .await?)
}

/// What a change request asks Stripe to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Switch plans: an upgrade now with a prorated invoice; a downgrade at period end.
    Plan {
        plan_id: Uuid,
        upgrade: bool,
    },
    CancelAtPeriodEnd,
    CancelNow,
    /// Undo a cancel-at-period-end, or resume a paused subscription.
    Resume,
}
