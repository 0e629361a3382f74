//! Card payments as we record them: one `payments` row per provider payment (a Stripe
//! PaymentIntent or invoice, a Creem transaction), unique by provider and reference.

use crate::error::DomainError;
use crate::money::Micros;
use crate::{AccountId, OrderId};
use chrono::Utc;
use entities::payments::{self, Column as PayCol, Entity as Payments};
use entities::{PaymentProvider, PaymentStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Records a succeeded payment; false when `reference` was recorded before.
/// `subscription_ref` is the provider subscription a period payment paid for.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    provider: PaymentProvider,
    account_id: AccountId,
    order_id: Option<OrderId>,
    reference: &str,
    amount: Micros,
    subscription_ref: Option<&str>,
) -> Result<bool, DomainError> {
    let row = succeeded_row(provider, account_id, order_id, reference, amount, Utc::now());
    let inserted =
        Payments::insert(payments::ActiveModel { subscription_ref: Set(subscription_ref.map(str::to_owned)), ..row })
            .on_conflict_do_nothing_on([PayCol::Provider, PayCol::ProviderRef])
            .exec_without_returning(db)
            .await?;
    let new = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
    if new {
        crate::webhooks::emit(db, succeeded(provider, account_id, order_id, reference, amount)).await?;
    }
    Ok(new)
}

/// The row of a succeeded payment recorded `now` (no subscription): the one shape every
/// provider's payment is stored in, unique by provider and reference.
pub fn succeeded_row(
    provider: PaymentProvider,
    account_id: AccountId,
    order_id: Option<OrderId>,
    reference: &str,
    amount: Micros,
    now: chrono::DateTime<Utc>,
) -> payments::ActiveModel {
    payments::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        order_id: Set(order_id),
        provider: Set(provider),
        provider_ref: Set(reference.to_owned()),
        amount: Set(amount),
        amount_refunded: Set(Micros::ZERO),
        status: Set(PaymentStatus::Succeeded),
        subscription_ref: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// The `payment.succeeded` fact of a payment, told to the account's webhooks.
pub fn succeeded(
    provider: PaymentProvider,
    account_id: AccountId,
    order_id: Option<OrderId>,
    reference: &str,
    amount: Micros,
) -> crate::webhooks::Fact {
    crate::webhooks::Fact {
        account_id,
        kind: crate::webhooks::EventType::PaymentSucceeded,
        key: format!("payment:{}:{reference}", provider.as_str()),
        data: serde_json::json!({"provider": provider, "reference": reference, "orderId": order_id,
                                 "amount": amount.to_cents(), "currency": "usd"}),
    }
}

/// The payment the first of `references` that is known stands for (a charge names its
/// PaymentIntent; an invoice payment is recorded by the invoice).
pub async fn find_any<C: ConnectionTrait>(
    db: &C,
    provider: PaymentProvider,
    references: &[&str],
) -> Result<Option<payments::Model>, DomainError> {
    for r in references {
        if let Some(p) = find(db, provider, r).await? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The payment a provider's reference (a Stripe PaymentIntent or invoice, a Creem
/// transaction) stands for.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    provider: PaymentProvider,
    reference: &str,
) -> Result<Option<payments::Model>, DomainError> {
    Ok(Payments::find().filter(PayCol::Provider.eq(provider)).filter(PayCol::ProviderRef.eq(reference)).one(db).await?)
}
