//! Orders: what a customer asked to buy, and its completion when paid.

use crate::error::DomainError;
use crate::money::Micros;
use chrono::Utc;
use entities::orders::{self, Column, Entity as Orders};
use entities::{OrderKind, OrderStatus, PayMethod};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The smallest top-up (000: "min $10").
pub const MIN_TOPUP: Micros = Micros::new(10_000_000);

/// What an order is for; the rest of its row starts empty.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub account_id: Uuid,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub method: PayMethod,
    pub amount: Micros,
    pub plan_id: Option<Uuid>,
    pub details: serde_json::Value,
}

impl NewOrder {
    pub fn into_row(self) -> orders::ActiveModel {
        let now = Utc::now();
        let completed = self.status == OrderStatus::Completed;
        orders::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(self.account_id),
            kind: Set(self.kind),
            status: Set(self.status),
            method: Set(self.method),
            amount: Set(self.amount.get()),
            currency: Set("usd".into()),
            plan_id: Set(self.plan_id),
            pool_id: Set(None),
            coupon_id: Set(None),
            details: Set(self.details),
            provider_session_id: Set(None),
            checkout_url: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            completed_at: Set(completed.then_some(now)),
        }
    }
}

/// Records a pending credit top-up order.
pub async fn create_topup<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    amount: Micros,
    method: PayMethod,
) -> Result<orders::Model, DomainError> {
    if amount < MIN_TOPUP {
        return Err(DomainError::Invalid("amount must be at least 10 USD".into()));
    }
    let order = NewOrder {
        account_id,
        kind: OrderKind::Topup,
        status: OrderStatus::Pending,
        method,
        amount,
        plan_id: None,
        details: serde_json::json!({}),
    };
    Ok(Orders::insert(order.into_row()).exec_with_returning(db).await?)
}

/// Marks an order completed unless it already is; returns whether this call completed it.
pub async fn mark_completed<C: ConnectionTrait>(db: &C, order_id: Uuid) -> Result<bool, DomainError> {
    let now = Utc::now();
    let res = Orders::update_many()
        .col_expr(Column::Status, Expr::value(OrderStatus::Completed.as_str()))
        .col_expr(Column::CompletedAt, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(order_id))
        .filter(Column::Status.ne(OrderStatus::Completed))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records a pending USDC order (a top-up or a 30-day plan). For an account without a
/// bound wallet the amount gets a unique sub-cent suffix (1–9,999 micro-USD) so the chain
/// scan can tell whose transfer it is when nobody calls verify.
pub async fn create_usdc<C: ConnectionTrait>(
    db: &C,
    account: &entities::accounts::Model,
    kind: OrderKind,
    amount: Micros,
    plan_id: Option<Uuid>,
) -> Result<orders::Model, DomainError> {
    use rand::Rng;
    let mut amount = amount;
    let mut unique = false;
    if account.wallet_address.is_none() {
        for _ in 0..8 {
            let candidate = Micros::new(amount.get() + rand::rng().random_range(1..10_000));
            let taken = Orders::find()
                .filter(Column::Method.eq(PayMethod::Usdc))
                .filter(Column::Status.eq(OrderStatus::Pending))
                .filter(Column::Amount.eq(candidate.get()))
                .one(db)
                .await?
                .is_some();
            if !taken {
                amount = candidate;
                unique = true;
                break;
            }
        }
    }
    let row = NewOrder {
        account_id: account.id,
        kind,
        status: OrderStatus::Pending,
        method: PayMethod::Usdc,
        amount,
        plan_id,
        details: serde_json::json!({"uniqueAmount": unique}),
    }
    .into_row();
    Ok(Orders::insert(row).exec_with_returning(db).await?)
}

/// Marks an unpaid order expired (its checkout ran out); a paid one is left alone.
pub async fn mark_expired<C: ConnectionTrait>(db: &C, order_id: Uuid) -> Result<bool, DomainError> {
    let res = Orders::update_many()
        .col_expr(Column::Status, Expr::value(OrderStatus::Expired.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(order_id))
        .filter(Column::Status.is_in([OrderStatus::Pending, OrderStatus::AwaitingPayment]))
        .exec(db)
        .await?;
    let ended = res.rows_affected == 1;
    if ended {
        // Never paid: its coupon redemption goes back.
        crate::coupons::release(db, order_id).await?;
    }
    Ok(ended)
}

/// The account's orders, newest first; `None` for an order of another account.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    limit: u64,
    offset: u64,
) -> Result<Vec<orders::Model>, DomainError> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(Orders::find()
        .filter(Column::AccountId.eq(account_id))
        .order_by_desc(Column::CreatedAt)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?)
}

pub async fn find_for<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    order_id: Uuid,
) -> Result<Option<orders::Model>, DomainError> {
    Ok(Orders::find_by_id(order_id).filter(Column::AccountId.eq(account_id)).one(db).await?)
}

/// Marks an unpaid order failed (a declined card, a checkout that could not be created),
/// with the reason; its coupon redemption goes back.
pub async fn mark_failed<C: ConnectionTrait>(db: &C, order_id: Uuid, reason: &str) -> Result<(), DomainError> {
    let res = Orders::update_many()
        .col_expr(Column::Status, Expr::value(OrderStatus::Failed.as_str()))
        .col_expr(Column::LastError, Expr::value(Some(reason.to_owned())))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(order_id))
        .filter(Column::Status.is_in([OrderStatus::Pending, OrderStatus::AwaitingPayment]))
        .exec(db)
        .await?;
    if res.rows_affected == 1 {
        crate::coupons::release(db, order_id).await?;
    }
    Ok(())
}

/// Records the coupon an order redeemed.
pub async fn set_coupon<C: ConnectionTrait>(db: &C, order_id: Uuid, coupon_id: Uuid) -> Result<(), DomainError> {
    Orders::update_many()
        .col_expr(Column::CouponId, Expr::value(Some(coupon_id)))
        .filter(Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}
