//! Orders: what a customer asked to buy, and its completion when paid.

use crate::error::DomainError;
use crate::money::Micros;
use crate::{AccountId, OrderId};
use chrono::Utc;
use entities::orders::{self, Column, Entity as Orders};
use entities::{BillingInterval, OrderKind, OrderStatus, PayMethod};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The smallest top-up (billing API: "min $10").
pub const MIN_TOPUP: Micros = Micros::new(10_000_000);

/// What an order carries beyond its columns, stored in `orders.details`. Each field
/// belongs to some kinds of order (named on it); absent fields are not stored, so the JSON
/// of rows written before this type reads back the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetails {
    /// Stripe Checkout orders: where Checkout sends the customer after paying (default
    /// `CHECKOUT_SUCCESS_URL`) or after giving up (default `CHECKOUT_CANCEL_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// Portal orders: where the portal sends the customer back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// Card-setup orders: a SetupIntent for Stripe.js, or a hosted setup page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<CardFlow>,
    /// Recurring, pool and tier orders: the billing interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<BillingInterval>,
    /// Direct charges: the saved card to charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Pool orders: the pledge being paid, and the line item's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pledge_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tier orders: the payer the customer stated (recorded, never bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_address: Option<String>,
    /// USDC orders: whether the amount was made unique to tell this order's transfer apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_amount: Option<bool>,
    /// USDC orders made when a transfer arrived with none waiting: the transfer's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardFlow {
    SetupIntent,
    SetupCheckout,
}

impl OrderDetails {
    /// An order's details. A row that does not read (written by hand, say) reads as none.
    pub fn of(order: &orders::Model) -> OrderDetails {
        serde_json::from_value(order.details.clone()).unwrap_or_else(|e| {
            tracing::warn!(order = %order.id, error = %e, "unreadable order details");
            OrderDetails::default()
        })
    }
}

/// What an order is for; the rest of its row starts empty.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub account_id: AccountId,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub method: PayMethod,
    pub amount: Micros,
    pub plan_id: Option<Uuid>,
    pub details: OrderDetails,
}

impl NewOrder {
    pub fn into_row(self) -> orders::ActiveModel {
        let now = Utc::now();
        let completed = self.status == OrderStatus::Completed;
        orders::ActiveModel {
            id: Set(OrderId::generate()),
            account_id: Set(self.account_id),
            kind: Set(self.kind),
            status: Set(self.status),
            method: Set(self.method),
            amount: Set(self.amount),
            currency: Set("usd".into()),
            plan_id: Set(self.plan_id),
            pool_id: Set(None),
            coupon_id: Set(None),
            // A struct of strings, ids and enums always serializes.
            details: Set(serde_json::to_value(&self.details).unwrap_or_default()),
            provider_session_id: Set(None),
            checkout_url: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            completed_at: Set(completed.then_some(now)),
        }
    }
}

/// Records an order on `db` (the caller's transaction), in a pool when it pays a pledge,
/// redeeming a coupon code for it: a coupon that cannot be redeemed refuses the order, and
/// the caller's rollback leaves nothing.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    order: NewOrder,
    pool_id: Option<Uuid>,
    coupon: Option<&str>,
) -> Result<orders::Model, DomainError> {
    let mut row = order.into_row();
    row.pool_id = Set(pool_id);
    let order = Orders::insert(row).exec_with_returning(db).await?;
    if let Some(code) = coupon {
        let coupon = crate::coupons::redeem(db, code, order.account_id, order.id).await?;
        set_coupon(db, order.id, coupon.id).await?;
    }
    Ok(order)
}

/// Records a pending credit top-up order.
pub async fn create_topup<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
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
        details: OrderDetails::default(),
    };
    Ok(Orders::insert(order.into_row()).exec_with_returning(db).await?)
}

/// The provider opened the order's hosted checkout: its id and page are remembered on the
/// order, which now awaits payment (a later, concurrent answer changes nothing).
pub async fn awaiting_payment<C: ConnectionTrait>(
    db: &C,
    order_id: OrderId,
    session_id: &str,
    url: &str,
) -> Result<(), DomainError> {
    Orders::update_many()
        .col_expr(Column::ProviderSessionId, Expr::value(Some(session_id.to_owned())))
        .col_expr(Column::CheckoutUrl, Expr::value(Some(url.to_owned())))
        .col_expr(Column::Status, Expr::value(OrderStatus::AwaitingPayment.as_str()))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(order_id))
        .filter(Column::Status.eq(OrderStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks an order completed unless it already is; returns whether this call completed it.
pub async fn mark_completed<C: ConnectionTrait>(db: &C, order_id: OrderId) -> Result<bool, DomainError> {
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
        details: OrderDetails { unique_amount: Some(unique), ..OrderDetails::default() },
    }
    .into_row();
    Ok(Orders::insert(row).exec_with_returning(db).await?)
}

/// Marks an unpaid order expired (its checkout ran out); a paid one is left alone.
pub async fn mark_expired<C: ConnectionTrait>(db: &C, order_id: OrderId) -> Result<bool, DomainError> {
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
    account_id: AccountId,
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
    account_id: AccountId,
    order_id: OrderId,
) -> Result<Option<orders::Model>, DomainError> {
    Ok(Orders::find_by_id(order_id).filter(Column::AccountId.eq(account_id)).one(db).await?)
}

/// Marks an unpaid order failed (a declined card, a checkout that could not be created),
/// with the reason; its coupon redemption goes back.
pub async fn mark_failed<C: ConnectionTrait>(db: &C, order_id: OrderId, reason: &str) -> Result<(), DomainError> {
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
pub async fn set_coupon<C: ConnectionTrait>(db: &C, order_id: OrderId, coupon_id: Uuid) -> Result<(), DomainError> {
    Orders::update_many()
        .col_expr(Column::CouponId, Expr::value(Some(coupon_id)))
        .filter(Column::Id.eq(order_id))
        .exec(db)
        .await?;
    Ok(())
}
