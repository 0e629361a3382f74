//! Time-block pools (billing API "Unlimited Subscriptions"): reserve 1–3 daily 8-hour UTC blocks
//! (`asia` 00–08, `europe` 08–16, `americas` 16–24) of a pool for unlimited usage in those
//! hours, billed monthly or yearly through a Stripe subscription.

use crate::AccountId;
use crate::error::DomainError;
use crate::money::Micros;
use chrono::Utc;
use entities::pool_pledges::{self, Column as P, Entity as Pledges};
use entities::pools::{self, Column, Entity as Pools};
use entities::{BillingInterval, PledgeStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// The blocks of a day, with their UTC hours.
pub const BLOCKS: [(&str, u32, u32); 3] = [("asia", 0, 8), ("europe", 8, 16), ("americas", 16, 24)];

/// The most seats of one pool a pledge may take.
pub const MAX_QUANTITY: i32 = 10;

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<pools::Model>, DomainError> {
    Ok(Pools::find().filter(Column::IsActive.eq(true)).order_by_asc(Column::Slug).all(db).await?)
}

/// A pool by slug or id.
pub async fn find<C: ConnectionTrait>(db: &C, reference: &str) -> Result<Option<pools::Model>, DomainError> {
    let q = Pools::find().filter(Column::IsActive.eq(true));
    Ok(match Uuid::parse_str(reference) {
        Ok(id) => q.filter(Column::Id.eq(id)).one(db).await?,
        Err(_) => q.filter(Column::Slug.eq(reference)).one(db).await?,
    })
}

/// Checks a subscribe request; every problem is named at once.
pub fn validate(blocks: &[String], quantity: i64) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    let known = |b: &String| BLOCKS.iter().any(|(n, _, _)| n == b);
    let mut unique = blocks.to_vec();
    unique.sort();
    unique.dedup();
    if blocks.is_empty() || blocks.len() > 3 || unique.len() != blocks.len() || !blocks.iter().all(known) {
        errors.push("blocks: 1–3 distinct blocks of asia, europe, americas".to_owned());
    }
    if !(1..=i64::from(MAX_QUANTITY)).contains(&quantity) {
        errors.push(format!("quantity: 1–{MAX_QUANTITY}"));
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors.join("; "))) }
}

/// What one period of a pledge costs.
pub fn price(pool: &pools::Model, blocks: usize, quantity: i32, cycle: BillingInterval) -> Micros {
    let per_block = match cycle {
        BillingInterval::Month => pool.price_per_block_monthly,
        BillingInterval::Year => pool.price_per_block_yearly,
    };
    Micros::new(per_block.get() * blocks as i64 * i64::from(quantity))
}

/// How long an unpaid pledge holds its seats: Stripe's Checkout Session lifetime.
pub const PENDING_HOLD_HOURS: i64 = 24;

/// Seats taken in each block of a pool: by pledges paid for and still running, and by
/// pledges whose checkout may still be paid.
async fn seats_taken<C: ConnectionTrait>(
    db: &C,
    pool_id: Uuid,
    now: chrono::DateTime<Utc>,
) -> Result<std::collections::HashMap<String, i64>, DomainError> {
    let pledges = Pledges::find()
        .filter(P::PoolId.eq(pool_id))
        .filter(P::Status.is_in([
            PledgeStatus::Pending,
            PledgeStatus::PendingKey,
            PledgeStatus::Active,
            PledgeStatus::PastDue,
            PledgeStatus::Canceled,
        ]))
        .all(db)
        .await?;
    let mut taken = std::collections::HashMap::new();
    for p in pledges {
        let holds = match p.status {
            PledgeStatus::Pending => p.created_at > now - chrono::Duration::hours(PENDING_HOLD_HOURS),
            // Canceled at period end: it runs until then.
            PledgeStatus::Canceled => p.current_period_end.is_some_and(|end| end > now),
            _ => true,
        };
        if !holds {
            continue;
        }
        let blocks: Vec<String> = serde_json::from_value(p.blocks.clone()).unwrap_or_default();
        for b in blocks {
            *taken.entry(b).or_insert(0) += i64::from(p.quantity);
        }
    }
    Ok(taken)
}

/// Records a pledge waiting for its first payment, if the pool has the seats: every
/// requested block keeps `taken + quantity <= capacity`. The pool's row is locked while
/// counting (Postgres), so two customers cannot both take the last seat.
pub async fn create_pledge(
    db: &sea_orm::DatabaseConnection,
    pool: &pools::Model,
    account_id: AccountId,
    blocks: &[String],
    quantity: i32,
    cycle: BillingInterval,
) -> Result<pool_pledges::Model, DomainError> {
    use sea_orm::QuerySelect;
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let lock = Pools::find_by_id(pool.id).select_only().column(Column::Id);
    crate::db::for_update(&txn, lock).into_tuple::<Uuid>().one(&txn).await?;
    let taken = seats_taken(&txn, pool.id, now).await?;
    let full: Vec<&str> = blocks
        .iter()
        .filter(|b| taken.get(*b).copied().unwrap_or(0) + i64::from(quantity) > i64::from(pool.capacity))
        .map(String::as_str)
        .collect();
    if !full.is_empty() {
        return Err(DomainError::LimitReached {
            code: "pool_full",
            message: format!("{}: not enough seats left in {} for {quantity}", pool.name, full.join(", ")),
        });
    }
    let pledge = Pledges::insert(pool_pledges::ActiveModel {
        id: Set(Uuid::now_v7()),
        pool_id: Set(pool.id),
        account_id: Set(account_id),
        blocks: Set(serde_json::json!(blocks)),
        quantity: Set(quantity),
        billing_cycle: Set(cycle),
        status: Set(PledgeStatus::Pending),
        stripe_subscription_id: Set(None),
        current_period_end: Set(None),
        cancel_at_period_end: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(pledge)
}

/// The account's pledges that were paid for (not pending, not expired), newest first.
pub async fn pledges_of<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    pool_id: Option<Uuid>,
) -> Result<Vec<pool_pledges::Model>, DomainError> {
    let mut q = Pledges::find().filter(P::AccountId.eq(account_id)).filter(P::Status.is_in([
        PledgeStatus::Active,
        PledgeStatus::PendingKey,
        PledgeStatus::PastDue,
        PledgeStatus::Canceled,
    ]));
    if let Some(pool) = pool_id {
        q = q.filter(P::PoolId.eq(pool));
    }
    Ok(q.order_by_desc(P::CreatedAt).all(db).await?)
}

/// Whether a pledge has a key that is not revoked.
pub async fn has_key<C: ConnectionTrait>(db: &C, pledge_id: Uuid) -> Result<bool, DomainError> {
    use entities::api_keys::{Column as K, Entity as Keys};
    use sea_orm::PaginatorTrait;
    Ok(Keys::find()
        .filter(K::PledgeId.eq(pledge_id))
        .filter(K::Status.ne(entities::KeyStatus::Revoked))
        .count(db)
        .await?
        > 0)
}

/// One of the account's pledges (another account's id finds nothing).
pub async fn pledge_of<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
) -> Result<Option<pool_pledges::Model>, DomainError> {
    Ok(Pledges::find_by_id(id).filter(P::AccountId.eq(account_id)).one(db).await?)
}

/// Removes a pledge whose checkout never started (nothing was paid for it).
pub async fn discard_pledge<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<(), DomainError> {
    Pledges::delete_by_id(id).exec(db).await?;
    Ok(())
}
