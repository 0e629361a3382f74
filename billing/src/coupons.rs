//! Coupons: created by admins, accepted at subscription checkouts and applied by Stripe.
//!
//! A redemption is counted when the checkout is recorded — a conditional increment that
//! refuses past `max_redemptions`, in the order's transaction — so two customers racing
//! for the last redemption cannot both get it. One account redeems a coupon at most
//! `max_per_account` times (1 unless the admin says otherwise), counted after the increment
//! has locked the coupon's row, so an account racing itself is refused too. An order that
//! ends unpaid — its checkout expired, its payment failed, or its checkout job gave up —
//! gives its redemption back.

use crate::error::DomainError;
use crate::{AccountId, OrderId};
use chrono::{DateTime, Utc};
use entities::coupon_redemptions::{self, Column as RedCol, Entity as Redemptions};
use entities::coupons::{self, Column, Entity as Coupons};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewCoupon {
    pub code: String,
    pub percent_off: Option<i32>,
    /// Micro-USD.
    pub amount_off: Option<i64>,
    pub max_redemptions: Option<i32>,
    /// Most redemptions per account; `None` means the default, one.
    pub max_per_account: Option<i32>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Checks and stores a coupon; a code already taken is a conflict.
pub async fn create<C: ConnectionTrait>(db: &C, c: NewCoupon) -> Result<coupons::Model, DomainError> {
    let code_ok = (3..=64).contains(&c.code.len())
        && c.code.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    let mut errors = Vec::new();
    if !code_ok {
        errors.push("code: 3–64 letters, digits, '-' or '_'");
    }
    match (c.percent_off, c.amount_off) {
        (Some(p), None) if (1..=100).contains(&p) => {}
        (None, Some(a)) if a > 0 && a % crate::money::MICROS_PER_CENT == 0 => {}
        _ => errors.push("exactly one of percentOff (1–100) or amountOff (> 0, whole cents)"),
    }
    if c.max_redemptions.is_some_and(|m| m < 1) {
        errors.push("maxRedemptions: at least 1");
    }
    if c.max_per_account.is_some_and(|m| m < 1) {
        errors.push("maxRedemptionsPerAccount: at least 1");
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors.join("; ")));
    }
    if Coupons::find().filter(Column::Code.eq(&c.code)).one(db).await?.is_some() {
        return Err(DomainError::Conflict(format!("coupon {} exists", c.code)));
    }
    let now = Utc::now();
    Ok(Coupons::insert(coupons::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(c.code),
        percent_off: Set(c.percent_off),
        amount_off: Set(c.amount_off.map(crate::Micros::new)),
        max_redemptions: Set(c.max_redemptions),
        times_redeemed: Set(0),
        max_per_account: Set(Some(c.max_per_account.unwrap_or(1))),
        stripe_coupon_id: Set(None),
        expires_at: Set(c.expires_at),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_with_returning(db)
    .await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<coupons::Model>, DomainError> {
    Ok(Coupons::find().order_by_desc(Column::CreatedAt).all(db).await?)
}

/// Counts one redemption of `code` for an order, or says why it cannot be used.
pub async fn redeem<C: ConnectionTrait>(
    db: &C,
    code: &str,
    account_id: AccountId,
    order_id: OrderId,
) -> Result<coupons::Model, DomainError> {
    let now = Utc::now();
    let Some(coupon) = Coupons::find().filter(Column::Code.eq(code)).one(db).await? else {
        return Err(DomainError::Invalid(format!("coupon: {code:?} is not a valid coupon")));
    };
    let taken = Coupons::update_many()
        .col_expr(Column::TimesRedeemed, Expr::col(Column::TimesRedeemed).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(coupon.id))
        .filter(Column::IsActive.eq(true))
        .filter(Condition::any().add(Column::ExpiresAt.is_null()).add(Column::ExpiresAt.gt(now)))
        .filter(
            Condition::any()
                .add(Column::MaxRedemptions.is_null())
                .add(Expr::col(Column::TimesRedeemed).lt(Expr::col(Column::MaxRedemptions))),
        )
        .exec(db)
        .await?;
    if taken.rows_affected == 0 {
        return Err(DomainError::Invalid(format!("coupon: {code:?} has expired or is fully redeemed")));
    }
    // The increment holds the coupon's row lock until the caller commits: a concurrent
    // redemption of the same coupon waits here and then counts ours.
    if let Some(limit) = coupon.max_per_account {
        use sea_orm::PaginatorTrait;
        let mine = Redemptions::find()
            .filter(RedCol::CouponId.eq(coupon.id))
            .filter(RedCol::AccountId.eq(account_id))
            .count(db)
            .await?;
        if mine >= u64::try_from(limit).unwrap_or(0) {
            return Err(DomainError::Invalid(format!("coupon: {code:?} was already used by this account")));
        }
    }
    Redemptions::insert(coupon_redemptions::ActiveModel {
        id: Set(Uuid::now_v7()),
        coupon_id: Set(coupon.id),
        account_id: Set(account_id),
        order_id: Set(order_id),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(coupon)
}

/// Gives back the redemption of an order that was never paid.
pub async fn release<C: ConnectionTrait>(db: &C, order_id: OrderId) -> Result<(), DomainError> {
    let Some(r) = Redemptions::find().filter(RedCol::OrderId.eq(order_id)).one(db).await? else { return Ok(()) };
    let deleted = Redemptions::delete_many().filter(RedCol::Id.eq(r.id)).exec(db).await?;
    if deleted.rows_affected == 1 {
        Coupons::update_many()
            .col_expr(Column::TimesRedeemed, Expr::col(Column::TimesRedeemed).sub(1))
            .filter(Column::Id.eq(r.coupon_id))
            .filter(Column::TimesRedeemed.gt(0))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Records the coupon's id at Stripe once it is created there.
pub async fn set_stripe_id<C: ConnectionTrait>(db: &C, coupon_id: Uuid, stripe_id: &str) -> Result<(), DomainError> {
    Coupons::update_many()
        .col_expr(Column::StripeCouponId, Expr::value(Some(stripe_id.to_owned())))
        .filter(Column::Id.eq(coupon_id))
        .exec(db)
        .await?;
    Ok(())
}
