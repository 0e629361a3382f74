//! Credit administration (credits API admin): every customer's credit history in one list, and
//! manual adjustments.
//!
//! A manual adjustment is one ledger transfer between the grants account and the
//! customer's credits, keyed by the caller's idempotency key, with its audit row in the
//! same transaction. Sending the same key again returns the first adjustment and changes
//! nothing; the same key with another amount is refused. A debit larger than the balance
//! is refused whole: a balance never goes negative.

use crate::AccountId;
use crate::error::DomainError;
use crate::ledger::{self, Posted, SystemAccount, TransferRequest};
use crate::money::{MICROS_PER_CREDIT, Micros};
use chrono::Utc;
use entities::ledger_accounts::{Column as AccCol, Entity as Accounts};
use entities::ledger_transfers::{self, Column as TrCol, Entity as Transfers};
use entities::{LedgerAccountKind, TransferKind};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// The largest adjustment one request may make, in credits (100,000 USD).
pub const MAX_CREDITS: i64 = 10_000_000;

#[derive(Debug, Clone)]
pub struct Adjustment {
    pub account_id: AccountId,
    /// Signed credits: positive adds, negative takes away.
    pub credits: i64,
    pub reason: String,
    /// The caller's idempotency key.
    pub key: String,
    /// Who asked (the admin's subject), for the audit log.
    pub actor: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjusted {
    pub transfer: ledger_transfers::Model,
    /// Signed, as asked.
    pub credits: i64,
    pub balance: Micros,
    /// `false` when the key had been used before and nothing changed.
    pub new: bool,
}

/// Applies one manual adjustment, once per key.
pub async fn adjust(db: &DatabaseConnection, a: Adjustment) -> Result<Adjusted, DomainError> {
    if a.credits == 0 || a.credits.abs() > MAX_CREDITS {
        return Err(DomainError::Invalid(format!("amount: a non-zero number of credits within ±{MAX_CREDITS}")));
    }
    let amount = Micros::new(a.credits.abs() * MICROS_PER_CREDIT);
    let txn = crate::db::begin_write(db).await?;
    let grants = ledger::system_account(&txn, SystemAccount::Grants).await?;
    let customer = ledger::customer_account(&txn, a.account_id).await?;
    let (debit, credit) = if a.credits > 0 { (grants, customer) } else { (customer, grants) };
    let posted = ledger::post(
        &txn,
        TransferRequest {
            id: format!("manual:{}", a.key),
            debit,
            credit,
            amount,
            kind: TransferKind::Manual,
            account_id: Some(a.account_id),
            reference: a.key.clone(),
            description: a.reason.clone(),
        },
    )
    .await?;
    let new = matches!(posted, Posted::New(_));
    if new {
        entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
            id: Set(Uuid::now_v7()),
            actor: Set(a.actor.clone()),
            action: Set("credits_manual_adjustment".into()),
            target: Set(a.account_id.to_string()),
            details: Set(
                serde_json::json!({"credits": a.credits, "reason": a.reason, "transfer": posted.transfer().id}),
            ),
            request_id: Set(a.request_id.clone()),
            created_at: Set(Utc::now()),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    let balance = ledger::customer_balance(&txn, a.account_id).await?;
    txn.commit().await?;
    let transfer = posted.transfer().clone();
    let credits =
        if transfer.credit_account_id == customer { 1 } else { -1 } * transfer.amount.get() / MICROS_PER_CREDIT;
    Ok(Adjusted { transfer, credits, balance, new })
}

/// One line of the admin's history: a transfer that concerns a customer, signed from the
/// customer's side.
#[derive(Debug, Clone)]
pub struct AdminLine {
    pub transfer: ledger_transfers::Model,
    pub account_id: AccountId,
    pub signed: Micros,
}

/// Every customer's credit movements, newest first; optionally one account's or one kind's.
pub async fn transactions(
    db: &DatabaseConnection,
    account: Option<AccountId>,
    kind: Option<TransferKind>,
    limit: u64,
    offset: u64,
) -> Result<Vec<AdminLine>, DomainError> {
    // Transfers into or out of a customer's credits; a plan paid straight to revenue names
    // the customer but moves no credits.
    let credits = Query::select()
        .column(AccCol::Id)
        .from(Accounts)
        .and_where(AccCol::Kind.eq(LedgerAccountKind::CustomerCredits))
        .to_owned();
    let mut q = Transfers::find().filter(TrCol::AccountId.is_not_null()).filter(
        Condition::any()
            .add(TrCol::DebitAccountId.in_subquery(credits.clone()))
            .add(TrCol::CreditAccountId.in_subquery(credits)),
    );
    if let Some(a) = account {
        q = q.filter(TrCol::AccountId.eq(a));
    }
    if let Some(k) = kind {
        q = q.filter(TrCol::Kind.eq(k));
    }
    let rows = q.order_by_desc(TrCol::CreatedAt).order_by_desc(TrCol::Id).limit(limit).offset(offset).all(db).await?;
    // The customers' credit accounts, to sign each line from their side.
    let codes: Vec<String> = rows.iter().filter_map(|t| t.account_id).map(ledger::customer_code).collect();
    let ledger_ids: HashMap<AccountId, Uuid> = Accounts::find()
        .filter(AccCol::Code.is_in(codes))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|acc| acc.account_id.map(|owner| (owner, acc.id)))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|t| {
            let account_id = t.account_id?;
            let mine = ledger_ids.get(&account_id).copied();
            let signed = if Some(t.credit_account_id) == mine {
                t.amount.get()
            } else if Some(t.debit_account_id) == mine {
                -t.amount.get()
            } else {
                return None;
            };
            Some(AdminLine { signed: Micros::new(signed), account_id, transfer: t })
        })
        .collect())
}
