//! `charge.refunded`: money paid back to the customer leaves their credits again.
//!
//! The charge carries the cumulative `amount_refunded`; we apply only the part not applied
//! yet, so duplicated or reordered events (an older, smaller total arriving late) change
//! nothing. Credits are clawed back only as far as the balance goes — it never goes below
//! zero — and the part already spent is recorded as a shortfall for operators.

use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::{PaymentStatus, TransferKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct Charge {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    pub amount_refunded: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `clawed_back` left the credits; `shortfall` had been spent already.
    Refunded {
        clawed_back: Micros,
        shortfall: Micros,
    },
    /// Nothing new in this event.
    AlreadyApplied,
    NotOurs,
}

pub async fn apply<C: ConnectionTrait>(db: &C, charge: &Charge) -> Result<Outcome, DomainError> {
    let Some(intent) = &charge.payment_intent else { return Ok(Outcome::NotOurs) };
    let Some(payment) = super::payment::find(db, intent).await? else {
        return Ok(Outcome::NotOurs);
    };
    let total =
        Micros::from_cents(charge.amount_refunded).ok_or_else(|| DomainError::Invalid("refund out of range".into()))?;
    let already = Micros::new(payment.amount_refunded);
    if total <= already {
        return Ok(Outcome::AlreadyApplied);
    }
    // Claim the new part of the refund first, conditionally on what we read.
    let now = Utc::now();
    let status =
        if total >= Micros::new(payment.amount) { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
    let moved = Payments::update_many()
        .col_expr(PayCol::AmountRefunded, Expr::value(total.get()))
        .col_expr(PayCol::Status, Expr::value(status.as_str()))
        .col_expr(PayCol::UpdatedAt, Expr::value(now))
        .filter(PayCol::Id.eq(payment.id))
        .filter(PayCol::AmountRefunded.eq(already.get()))
        .exec(db)
        .await?;
    if moved.rows_affected == 0 {
        // Another refund event for this payment committed in between: run again on the
        // new state (a retryable error), which applies only what is still missing.
        return Err(DomainError::Internal(format!("payment {} refunded concurrently; retrying", payment.id)));
    }
    let delta = total.checked_sub(already).unwrap_or(Micros::ZERO);
    let clearing = ledger::system_account(db, SystemAccount::StripeClearing).await?;
    let order = match payment.order_id {
        Some(id) => entities::orders::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let is_topup = order.as_ref().is_some_and(|o| o.kind == entities::OrderKind::Topup);
    let (source, clawed_back) = if is_topup {
        let credits = ledger::customer_account(db, payment.account_id).await?;
        let balance = ledger::customer_balance(db, payment.account_id).await?;
        (credits, delta.min(balance))
    } else {
        (ledger::system_account(db, SystemAccount::Revenue).await?, delta)
    };
    if clawed_back.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: format!("refund:{}:{}", payment.id, total.get()),
                debit: source,
                credit: clearing,
                amount: clawed_back,
                kind: TransferKind::Refund,
                account_id: Some(payment.account_id),
                reference: charge.id.clone(),
                description: "Refund".into(),
            },
        )
        .await?;
    }
    let shortfall = delta.checked_sub(clawed_back).unwrap_or(Micros::ZERO);
    if shortfall.is_positive() {
        // Refunded money the customer had already spent: no credits left to take back.
        tracing::warn!(payment = %payment.id, shortfall = %shortfall, "refund exceeds the remaining credits");
        entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
            id: Set(Uuid::now_v7()),
            actor: Set("stripe".into()),
            action: Set("refund_shortfall".into()),
            target: Set(format!("payment:{}", payment.id)),
            details: Set(serde_json::json!({
                "accountId": payment.account_id, "charge": charge.id,
                "refunded": delta.get(), "clawedBack": clawed_back.get(), "shortfall": shortfall.get(),
            })),
            request_id: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(Outcome::Refunded { clawed_back, shortfall })
}
