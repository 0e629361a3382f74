//! Saved cards, mirrored from Stripe's `payment_method.attached` / `.detached` events.
//! The first card saved is the default, the one `stripe_direct` top-ups charge.

use crate::AccountId;
use crate::error::DomainError;
use chrono::Utc;
use entities::accounts::{Column as AccCol, Entity as Accounts};
use entities::payment_methods::{self, Column, Entity as Methods};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

/// The fields of a Stripe PaymentMethod we keep.
#[derive(Debug, Deserialize)]
pub struct StripePaymentMethod {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub card: Option<Card>,
}

#[derive(Debug, Deserialize)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: i32,
    pub exp_year: i32,
}

/// Records an attached card for the account owning its Stripe customer. Returns false
/// when the customer is not one of ours.
pub async fn mirror_attached<C: ConnectionTrait>(db: &C, pm: &StripePaymentMethod) -> Result<bool, DomainError> {
    let Some(customer) = &pm.customer else { return Ok(false) };
    let Some(account) = Accounts::find().filter(AccCol::StripeCustomerId.eq(customer)).one(db).await? else {
        return Ok(false);
    };
    let Some(card) = &pm.card else { return Ok(false) };
    let has_default = Methods::find()
        .filter(Column::AccountId.eq(account.id))
        .filter(Column::DetachedAt.is_null())
        .filter(Column::IsDefault.eq(true))
        .count(db)
        .await?
        > 0;
    Methods::insert(payment_methods::ActiveModel {
        id: Set(pm.id.clone()),
        account_id: Set(account.id),
        brand: Set(card.brand.clone()),
        last4: Set(card.last4.clone()),
        exp_month: Set(card.exp_month),
        exp_year: Set(card.exp_year),
        is_default: Set(!has_default),
        created_at: Set(Utc::now()),
        detached_at: Set(None),
    })
    .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(true)
}

pub async fn mark_detached<C: ConnectionTrait>(db: &C, pm_id: &str) -> Result<(), DomainError> {
    Methods::update_many()
        .col_expr(Column::DetachedAt, Expr::value(Some(Utc::now())))
        .col_expr(Column::IsDefault, Expr::value(false))
        .filter(Column::Id.eq(pm_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The account's saved cards, default first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<Vec<payment_methods::Model>, DomainError> {
    Ok(Methods::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::DetachedAt.is_null())
        .order_by_desc(Column::IsDefault)
        .order_by_asc(Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn default_for<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<Option<payment_methods::Model>, DomainError> {
    Ok(list(db, account_id).await?.into_iter().next())
}
