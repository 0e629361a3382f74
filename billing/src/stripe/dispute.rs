//! `charge.dispute.created` / `.closed`: a disputed payment's money is held by the bank.
//!
//! On creation the disputed amount is withdrawn: from the customer's credits for a top-up
//! (as far as the balance goes, read under a row lock, never below zero; the rest a
//! recorded shortfall), from revenue for a plan or a subscription period — together with
//! the period credits it granted, in the disputed proportion. A dispute closed as `won`
//! puts back exactly what was taken; closed as `lost`, the payment is gone for good and the
//! access it bought ends (`reversal::end_access`). Every effect is keyed by the dispute id,
//! and `closed` first applies `created` itself, so the two events in either order, or
//! repeated, end the same way.

use super::reversal::{self, Bought, Take};
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::ledger_transfers::Entity as Transfers;
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::{PaymentProvider, PaymentStatus, TransferKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub payment_intent: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Withdrawn {
        taken: Micros,
        shortfall: Micros,
    },
    Reinstated {
        returned: Micros,
    },
    /// Lost: the access the payment bought has ended.
    Lost,
    /// Nothing new.
    Unchanged,
    NotOurs,
}

fn withdrawn_key(id: &str) -> String {
    format!("dispute:{id}:withdrawn")
}

fn credits_key(id: &str) -> String {
    format!("dispute:{id}:credits")
}

/// `invoice` is the invoice the worker resolved for the dispute's PaymentIntent, if any.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    d: &Dispute,
    closed: bool,
    invoice: Option<&str>,
) -> Result<Outcome, DomainError> {
    let refs: Vec<&str> = [d.payment_intent.as_deref(), invoice].into_iter().flatten().collect();
    let Some(payment) = super::payment::find_any(db, PaymentProvider::Stripe, &refs).await? else {
        return Ok(Outcome::NotOurs);
    };
    apply_to(db, &payment, d, closed).await
}

/// Applies a dispute of `payment`, of any provider: the money comes out of (and, if won,
/// goes back into) that provider's clearing account.
pub async fn apply_to<C: ConnectionTrait>(
    db: &C,
    payment: &entities::payments::Model,
    d: &Dispute,
    closed: bool,
) -> Result<Outcome, DomainError> {
    let bought = reversal::bought(db, payment).await?;
    let withdrawn = withdraw(db, d, payment, &bought).await?;
    if !closed {
        return Ok(withdrawn);
    }
    match d.status.as_str() {
        "won" => reinstate(db, d, payment).await,
        "lost" => {
            if reversal::first_time(db, &format!("dispute:{}:lost", d.id)).await? {
                reversal::end_access(db, payment, &bought, "dispute_lost").await?;
                return Ok(Outcome::Lost);
            }
            Ok(Outcome::Unchanged)
        }
        _ => Ok(Outcome::Unchanged),
    }
}

async fn withdraw<C: ConnectionTrait>(
    db: &C,
    d: &Dispute,
    payment: &entities::payments::Model,
    bought: &Bought,
) -> Result<Outcome, DomainError> {
    if !reversal::first_time(db, &withdrawn_key(&d.id)).await? {
        return Ok(Outcome::Unchanged);
    }
    let amount = Micros::from_cents(d.amount).ok_or_else(|| DomainError::Invalid("amount out of range".into()))?;
    let take = |want: Micros, to: SystemAccount, key: String, description: &'static str| Take {
        account_id: payment.account_id,
        want,
        to,
        key,
        kind: TransferKind::Dispute,
        reference: &d.id,
        description,
        shortfall_action: "dispute_shortfall",
        target: format!("payment:{}", payment.id),
    };
    let (taken, shortfall) = match bought {
        Bought::Credits => {
            let t = take(
                amount,
                SystemAccount::clearing(payment.provider),
                withdrawn_key(&d.id),
                "Payment disputed: funds withdrawn",
            );
            reversal::take_credits(db, t).await?
        }
        Bought::FlatPlan { .. } | Bought::Period { .. } => {
            ledger::post(
                db,
                TransferRequest {
                    id: withdrawn_key(&d.id),
                    debit: ledger::system_account(db, SystemAccount::Revenue).await?,
                    credit: ledger::system_account(db, SystemAccount::clearing(payment.provider)).await?,
                    amount,
                    kind: TransferKind::Dispute,
                    account_id: Some(payment.account_id),
                    reference: d.id.clone(),
                    description: "Payment disputed: funds withdrawn".into(),
                },
            )
            .await?;
            if let Bought::Period { granted, .. } = bought {
                let want = reversal::share(*granted, amount, payment.amount);
                if want.is_positive() {
                    let t = take(
                        want,
                        SystemAccount::Grants,
                        credits_key(&d.id),
                        "Payment disputed: period credits withdrawn",
                    );
                    reversal::take_credits(db, t).await?;
                }
            }
            (amount, Micros::ZERO)
        }
    };
    set_status(db, payment.id, PaymentStatus::Disputed).await?;
    Ok(Outcome::Withdrawn { taken, shortfall })
}

/// Puts back exactly what the dispute took: the funds and any period credits.
async fn reinstate<C: ConnectionTrait>(
    db: &C,
    d: &Dispute,
    payment: &entities::payments::Model,
) -> Result<Outcome, DomainError> {
    let mut returned = Micros::ZERO;
    for (taken_key, back_key, description) in [
        (withdrawn_key(&d.id), format!("dispute:{}:reinstated", d.id), "Dispute won: funds reinstated"),
        (credits_key(&d.id), format!("dispute:{}:credits-reinstated", d.id), "Dispute won: credits reinstated"),
    ] {
        let Some(taken) = Transfers::find_by_id(taken_key).one(db).await? else { continue };
        let posted = ledger::post(
            db,
            TransferRequest {
                id: back_key,
                debit: taken.credit_account_id,
                credit: taken.debit_account_id,
                amount: taken.amount,
                kind: TransferKind::Dispute,
                account_id: Some(payment.account_id),
                reference: d.id.clone(),
                description: description.into(),
            },
        )
        .await?;
        if let ledger::Posted::New(t) = posted {
            returned = returned.checked_add(t.amount).unwrap_or(returned);
        }
    }
    set_status(db, payment.id, PaymentStatus::Succeeded).await?;
    crate::api_keys::sync_credit_keys(db, payment.account_id).await?;
    Ok(if returned.is_positive() { Outcome::Reinstated { returned } } else { Outcome::Unchanged })
}

async fn set_status<C: ConnectionTrait>(db: &C, payment_id: Uuid, status: PaymentStatus) -> Result<(), DomainError> {
    Payments::update_many()
        .col_expr(PayCol::Status, Expr::value(status.as_str()))
        .col_expr(PayCol::UpdatedAt, Expr::value(Utc::now()))
        .filter(PayCol::Id.eq(payment_id))
        .exec(db)
        .await?;
    Ok(())
}
