//! `charge.refunded`: money paid back to the customer takes back what it bought.
//!
//! The charge carries the cumulative `amount_refunded`; we apply only the part not applied
//! yet, so duplicated or reordered events (an older, smaller total arriving late) change
//! nothing. A refund is matched to its payment by the charge's PaymentIntent, or, for a
//! subscription invoice, by the invoice (the worker resolves which invoice a PaymentIntent
//! paid). What is taken back, and when access ends, is `reversal`'s rule: revenue and
//! credits in proportion, never below zero (the rest a recorded shortfall), access only
//! on a full refund.

use super::reversal::{self, Bought, Take};
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::{PaymentProvider, PaymentStatus, TransferKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Charge {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Present in API versions before 2025-03-31; later ones name only the PaymentIntent.
    #[serde(default)]
    pub invoice: Option<String>,
    pub amount_refunded: i64,
}

impl Charge {
    /// What the charge's payment may be recorded under; `invoice` is the one the worker
    /// resolved for the PaymentIntent, if any.
    pub fn references<'a>(&'a self, invoice: Option<&'a str>) -> Vec<&'a str> {
        [self.payment_intent.as_deref(), self.invoice.as_deref(), invoice].into_iter().flatten().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `clawed_back` credits left the customer; `shortfall` had been spent already;
    /// `revenue` was reversed; `ended` when the payment was wholly refunded and its access ended.
    Refunded {
        clawed_back: Micros,
        shortfall: Micros,
        revenue: Micros,
        ended: bool,
    },
    /// Nothing new in this event.
    AlreadyApplied,
    NotOurs,
}

pub async fn apply<C: ConnectionTrait>(db: &C, charge: &Charge, invoice: Option<&str>) -> Result<Outcome, DomainError> {
    let refs = charge.references(invoice);
    let Some(payment) = super::payment::find_any(db, PaymentProvider::Stripe, &refs).await? else {
        return Ok(Outcome::NotOurs);
    };
    let total =
        Micros::from_cents(charge.amount_refunded).ok_or_else(|| DomainError::Invalid("refund out of range".into()))?;
    refund_to(db, &payment, total, &charge.id).await
}

/// Applies a refund of `payment` that brings what was refunded of it, in all, to `total`
/// (any provider: its clearing account gets the money back). Only the part beyond what was
/// applied before moves anything, so totals delivered twice or out of order change nothing.
/// `reference` is the provider's refund (or charge) id.
pub async fn refund_to<C: ConnectionTrait>(
    db: &C,
    payment: &entities::payments::Model,
    total: Micros,
    reference: &str,
) -> Result<Outcome, DomainError> {
    let clearing = SystemAccount::clearing(payment.provider);
    let already = payment.amount_refunded;
    if total <= already {
        return Ok(Outcome::AlreadyApplied);
    }
    // Claim the new part of the refund first, conditionally on what we read.
    let now = Utc::now();
    let paid = payment.amount;
    let whole = total >= paid;
    let status = if whole { PaymentStatus::Refunded } else { PaymentStatus::PartiallyRefunded };
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
    let bought = reversal::bought(db, payment).await?;
    let target = format!("payment:{}", payment.id);
    let take = |want: Micros, to: SystemAccount, key: String, description: &'static str| Take {
        account_id: payment.account_id,
        want,
        to,
        key,
        kind: TransferKind::Refund,
        reference,
        description,
        shortfall_action: "refund_shortfall",
        target: target.clone(),
    };
    let (mut clawed_back, mut shortfall, mut revenue) = (Micros::ZERO, Micros::ZERO, Micros::ZERO);
    match &bought {
        Bought::Credits => {
            let key = format!("refund:{}:{}", payment.id, total.get());
            (clawed_back, shortfall) = reversal::take_credits(db, take(delta, clearing, key, "Refund")).await?;
        }
        Bought::FlatPlan { .. } | Bought::Period { .. } => {
            revenue = delta;
            ledger::post(
                db,
                TransferRequest {
                    id: format!("refund:{}:{}", payment.id, total.get()),
                    debit: ledger::system_account(db, SystemAccount::Revenue).await?,
                    credit: ledger::system_account(db, clearing).await?,
                    amount: delta,
                    kind: TransferKind::Refund,
                    account_id: Some(payment.account_id),
                    reference: reference.to_owned(),
                    description: "Refund".into(),
                },
            )
            .await?;
            if let Bought::Period { granted, .. } = &bought {
                // The credits the period granted, in the refunded proportion (cumulative,
                // so the parts of several partial refunds add up to the whole).
                let want = reversal::share(*granted, total, paid)
                    .checked_sub(reversal::share(*granted, already, paid))
                    .unwrap_or(Micros::ZERO);
                if want.is_positive() {
                    let key = format!("refund-credits:{}:{}", payment.id, total.get());
                    (clawed_back, shortfall) = reversal::take_credits(
                        db,
                        take(want, SystemAccount::Grants, key, "Refund: period credits withdrawn"),
                    )
                    .await?;
                }
            }
        }
    }
    if whole {
        reversal::end_access(db, payment, &bought, "refunded").await?;
    }
    let fact = crate::webhooks::Fact {
        account_id: payment.account_id,
        kind: crate::webhooks::EventType::PaymentRefunded,
        key: format!("refund:{}:{}", payment.id, total.get()),
        data: serde_json::json!({"provider": payment.provider, "reference": payment.provider_ref,
            "refunded": delta.to_cents(), "amountRefunded": total.to_cents(), "amount": paid.to_cents(), "full": whole}),
    };
    crate::webhooks::emit(db, fact).await?;
    Ok(Outcome::Refunded { clawed_back, shortfall, revenue, ended: whole })
}
