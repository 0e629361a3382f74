//! `charge.dispute.created` / `.closed`: a disputed payment's money is held by the bank.
//!
//! On creation the disputed amount leaves the customer's credits (as far as the balance
//! goes, never below zero; the rest is recorded as a shortfall) or, for a plan payment,
//! revenue. A dispute closed as `won` puts back exactly what was taken. Both transfers are
//! keyed by the dispute id, and `closed` first applies `created` itself, so the two events
//! in either order, or repeated, end the same way.

use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::ledger_transfers::Entity as Transfers;
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::{PaymentStatus, TransferKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
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
    /// Lost, or nothing new.
    Unchanged,
    NotOurs,
}

fn withdrawn_key(id: &str) -> String {
    format!("dispute:{id}:withdrawn")
}

pub async fn apply<C: ConnectionTrait>(db: &C, d: &Dispute, closed: bool) -> Result<Outcome, DomainError> {
    let Some(intent) = &d.payment_intent else { return Ok(Outcome::NotOurs) };
    let Some(payment) = super::payment::find(db, intent).await? else {
        return Ok(Outcome::NotOurs);
    };
    let withdrawn = withdraw(db, d, &payment).await?;
    if !closed {
        return Ok(withdrawn);
    }
    if d.status != "won" {
        return Ok(Outcome::Unchanged);
    }
    let Some(taken) = Transfers::find_by_id(withdrawn_key(&d.id)).one(db).await? else {
        return Ok(Outcome::Unchanged);
    };
    let back_to = if taken.account_id == Some(payment.account_id)
        && taken.debit_account_id == ledger::customer_account(db, payment.account_id).await?
    {
        ledger::customer_account(db, payment.account_id).await?
    } else {
        taken.debit_account_id
    };
    let posted = ledger::post(
        db,
        TransferRequest {
            id: format!("dispute:{}:reinstated", d.id),
            debit: ledger::system_account(db, SystemAccount::StripeClearing).await?,
            credit: back_to,
            amount: Micros::new(taken.amount),
            kind: TransferKind::Dispute,
            account_id: Some(payment.account_id),
            reference: d.id.clone(),
            description: "Dispute won: funds reinstated".into(),
        },
    )
    .await?;
    set_status(db, payment.id, PaymentStatus::Succeeded).await?;
    Ok(match posted {
        ledger::Posted::New(t) => Outcome::Reinstated { returned: Micros::new(t.amount) },
        ledger::Posted::Existing(_) => Outcome::Unchanged,
    })
}

async fn withdraw<C: ConnectionTrait>(
    db: &C,
    d: &Dispute,
    payment: &entities::payments::Model,
) -> Result<Outcome, DomainError> {
    if Transfers::find_by_id(withdrawn_key(&d.id)).one(db).await?.is_some() {
        return Ok(Outcome::Unchanged);
    }
    let amount = Micros::from_cents(d.amount).ok_or_else(|| DomainError::Invalid("amount out of range".into()))?;
    let order = match payment.order_id {
        Some(id) => entities::orders::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let is_topup = order.as_ref().is_some_and(|o| o.kind == entities::OrderKind::Topup);
    let (source, taken) = if is_topup {
        let balance = ledger::customer_balance(db, payment.account_id).await?;
        (ledger::customer_account(db, payment.account_id).await?, amount.min(balance))
    } else {
        (ledger::system_account(db, SystemAccount::Revenue).await?, amount)
    };
    if taken.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: withdrawn_key(&d.id),
                debit: source,
                credit: ledger::system_account(db, SystemAccount::StripeClearing).await?,
                amount: taken,
                kind: TransferKind::Dispute,
                account_id: Some(payment.account_id),
                reference: d.id.clone(),
                description: "Payment disputed: funds withdrawn".into(),
            },
        )
        .await?;
    }
    set_status(db, payment.id, PaymentStatus::Disputed).await?;
    let shortfall = amount.checked_sub(taken).unwrap_or(Micros::ZERO);
    if shortfall.is_positive() {
        entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
            id: Set(Uuid::now_v7()),
            actor: Set("stripe".into()),
            action: Set("dispute_shortfall".into()),
            target: Set(format!("payment:{}", payment.id)),
            details: Set(serde_json::json!({"dispute": d.id, "taken": taken.get(), "shortfall": shortfall.get()})),
            request_id: Set(None),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(db)
        .await?;
    }
    Ok(Outcome::Withdrawn { taken, shortfall })
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
