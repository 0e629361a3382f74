//! The double-entry ledger.
//!
//! Every movement of money is a transfer from a debit account to a credit account, with an
//! id that is its idempotency key: posting the same id again changes nothing and returns
//! the first transfer. A transfer and both balance updates happen in the caller's
//! transaction. Customer credit accounts never go below zero; system accounts (Stripe
//! clearing, USDC clearing, grants, ...) may, since they mirror money held elsewhere.
//!
//! Invariants, checked by [`check_invariants`]: the balances sum to zero, and each balance
//! equals the credits minus the debits of its transfers.

use crate::AccountId;
use crate::error::DomainError;
use crate::money::Micros;
use chrono::Utc;
use entities::ledger_accounts::{self, Column as AccCol, Entity as Accounts};
use entities::ledger_transfers::{self, Column as TrCol, Entity as Transfers};
use entities::{LedgerAccountKind, TransferKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

pub mod batch;

/// The system accounts, one of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemAccount {
    Revenue,
    StripeClearing,
    UsdcClearing,
    Grants,
    Refunds,
    Usage,
    CreemClearing,
}

impl SystemAccount {
    fn kind(self) -> LedgerAccountKind {
        match self {
            SystemAccount::Revenue => LedgerAccountKind::Revenue,
            SystemAccount::StripeClearing => LedgerAccountKind::StripeClearing,
            SystemAccount::UsdcClearing => LedgerAccountKind::UsdcClearing,
            SystemAccount::Grants => LedgerAccountKind::Grants,
            SystemAccount::Refunds => LedgerAccountKind::Refunds,
            SystemAccount::Usage => LedgerAccountKind::Usage,
            SystemAccount::CreemClearing => LedgerAccountKind::CreemClearing,
        }
    }

    /// Where a card provider's money is held between its payment and its payout: what a
    /// payment of that provider credits from, and what its reversal gives back to.
    pub fn clearing(provider: entities::PaymentProvider) -> SystemAccount {
        match provider {
            entities::PaymentProvider::Creem => SystemAccount::CreemClearing,
            entities::PaymentProvider::Usdc => SystemAccount::UsdcClearing,
            entities::PaymentProvider::Stripe | entities::PaymentProvider::Manual => SystemAccount::StripeClearing,
        }
    }
}

/// The code of a customer's credit account.
pub fn customer_code(account_id: AccountId) -> String {
    format!("credits:{account_id}")
}

/// Finds or creates a ledger account by its unique code; safe under concurrency.
async fn ensure<C: ConnectionTrait>(
    db: &C,
    code: String,
    kind: LedgerAccountKind,
    account_id: Option<AccountId>,
    allow_negative: bool,
) -> Result<ledger_accounts::Model, DbErr> {
    if let Some(found) = Accounts::find().filter(AccCol::Code.eq(&code)).one(db).await? {
        return Ok(found);
    }
    let now = Utc::now();
    Accounts::insert(ledger_accounts::ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(code.clone()),
        kind: Set(kind),
        account_id: Set(account_id),
        balance: Set(Micros::ZERO),
        allow_negative: Set(allow_negative),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([AccCol::Code])
    .exec_without_returning(db)
    .await?;
    Accounts::find().filter(AccCol::Code.eq(&code)).one(db).await?.ok_or_else(|| DbErr::RecordNotFound(code))
}

pub async fn system_account<C: ConnectionTrait>(db: &C, which: SystemAccount) -> Result<Uuid, DbErr> {
    let kind = which.kind();
    Ok(ensure(db, format!("system:{}", kind.as_str()), kind, None, true).await?.id)
}

/// The customer's credit account (created on first use, at zero).
pub async fn customer_account<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<Uuid, DbErr> {
    Ok(ensure(db, customer_code(account_id), LedgerAccountKind::CustomerCredits, Some(account_id), false).await?.id)
}

/// The customer's credit balance; zero when the account never had credits.
pub async fn customer_balance<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<Micros, DbErr> {
    let found = Accounts::find().filter(AccCol::Code.eq(customer_code(account_id))).one(db).await?;
    Ok(found.map_or(Micros::ZERO, |a| a.balance))
}

/// Everything ever credited to the customer by a kind of transfer (e.g. all top-ups).
pub async fn customer_credited<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    kinds: &[TransferKind],
) -> Result<Micros, DbErr> {
    let Some(acc) = Accounts::find().filter(AccCol::Code.eq(customer_code(account_id))).one(db).await? else {
        return Ok(Micros::ZERO);
    };
    let total: Option<i64> = Transfers::find()
        .select_only()
        .column_as(Expr::col(TrCol::Amount).sum().cast_as("bigint"), "total")
        .filter(TrCol::CreditAccountId.eq(acc.id))
        .filter(TrCol::Kind.is_in(kinds.iter().copied()))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    Ok(Micros::new(total.unwrap_or(0)))
}

#[derive(Debug, Clone)]
pub struct TransferRequest {
    /// The idempotency key: the same key always means the same transfer.
    pub id: String,
    pub debit: Uuid,
    pub credit: Uuid,
    pub amount: Micros,
    pub kind: TransferKind,
    /// The customer the transfer concerns, for their history.
    pub account_id: Option<AccountId>,
    pub reference: String,
    pub description: String,
}

impl TransferRequest {
    /// The transfer's row, stamped `now`.
    fn row(&self, now: chrono::DateTime<Utc>) -> ledger_transfers::ActiveModel {
        ledger_transfers::ActiveModel {
            id: Set(self.id.clone()),
            debit_account_id: Set(self.debit),
            credit_account_id: Set(self.credit),
            amount: Set(self.amount),
            kind: Set(self.kind),
            account_id: Set(self.account_id),
            reference: Set(self.reference.clone()),
            description: Set(self.description.clone()),
            created_at: Set(now),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    New(ledger_transfers::Model),
    /// The key was posted before; nothing changed.
    Existing(ledger_transfers::Model),
}

impl Posted {
    pub fn transfer(&self) -> &ledger_transfers::Model {
        match self {
            Posted::New(t) | Posted::Existing(t) => t,
        }
    }
}

/// Posts a transfer on `db`, which must be a transaction: the insert and both balance
/// updates must commit or roll back together. Fails with `InsufficientFunds` when the
/// debit would take a non-negative account below zero (the caller's transaction must
/// then roll back, which it does by being dropped).
pub async fn post<C: ConnectionTrait>(db: &C, req: TransferRequest) -> Result<Posted, DomainError> {
    if !req.amount.is_positive() {
        return Err(DomainError::Invalid("a transfer amount must be positive".into()));
    }
    if req.debit == req.credit {
        return Err(DomainError::Invalid("a transfer needs two different accounts".into()));
    }
    let now = Utc::now();
    let inserted =
        Transfers::insert(req.row(now)).on_conflict_do_nothing_on([TrCol::Id]).exec_without_returning(db).await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        let existing = Transfers::find_by_id(req.id.clone())
            .one(db)
            .await?
            .ok_or_else(|| DomainError::Internal(format!("transfer {} vanished", req.id)))?;
        if existing.amount != req.amount
            || existing.debit_account_id != req.debit
            || existing.credit_account_id != req.credit
        {
            return Err(DomainError::KeyReuse(req.id));
        }
        return Ok(Posted::Existing(existing));
    }
    // Lock the two balances in a fixed order so concurrent transfers between the same
    // accounts cannot deadlock.
    let mut moves = [(req.debit, -req.amount.get()), (req.credit, req.amount.get())];
    moves.sort_by_key(|(id, _)| *id);
    for (id, delta) in moves {
        let mut update = Accounts::update_many()
            .col_expr(AccCol::Balance, Expr::col(AccCol::Balance).add(delta))
            .col_expr(AccCol::UpdatedAt, Expr::value(now))
            .filter(AccCol::Id.eq(id));
        if delta < 0 {
            update = update.filter(AccCol::AllowNegative.eq(true).or(AccCol::Balance.gte(-delta)));
        }
        let Some(after) = update.exec_with_returning(db).await?.into_iter().next() else {
            return Err(if delta < 0 {
                DomainError::InsufficientFunds
            } else {
                DomainError::NotFound("ledger account")
            });
        };
        // A customer's balance reaching zero, or leaving it: their credit keys follow.
        let crossed = (delta < 0 && after.balance.get() == 0) || (delta > 0 && after.balance.get() - delta <= 0);
        if after.kind == LedgerAccountKind::CustomerCredits
            && crossed
            && let Some(account) = after.account_id
        {
            crate::api_keys::sync_credit_keys(db, account).await?;
        }
    }
    let created = Transfers::find_by_id(req.id.clone())
        .one(db)
        .await?
        .ok_or_else(|| DomainError::Internal(format!("transfer {} vanished", req.id)))?;
    Ok(Posted::New(created))
}

/// A broken invariant: never "fixed" automatically, only reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    BalancesDoNotSumToZero { sum: i64 },
    BalanceDiffersFromTransfers { code: String, balance: i64, from_transfers: i64 },
    NegativeCustomerBalance { code: String, balance: i64 },
}

/// One account beside what its transfers add up to, read together.
#[derive(Debug, FromQueryResult)]
struct Checked {
    code: String,
    balance: i64,
    allow_negative: bool,
    from_transfers: i64,
}

/// Checks the ledger's invariants over every account. Balances and transfer sums are read
/// by one statement, so one snapshot: read apart, a transfer committed between the two
/// reads would show as a difference that is not there.
pub async fn check_invariants<C: ConnectionTrait>(db: &C) -> Result<Vec<Violation>, DbErr> {
    let sql = "WITH moves AS ( \
                 SELECT credit_account_id AS account, amount AS delta FROM ledger_transfers \
                 UNION ALL SELECT debit_account_id, -amount FROM ledger_transfers), \
               totals AS (SELECT account, CAST(SUM(delta) AS BIGINT) AS total FROM moves GROUP BY account) \
               SELECT a.code, a.balance, a.allow_negative, CAST(COALESCE(t.total, 0) AS BIGINT) AS from_transfers \
               FROM ledger_accounts a LEFT JOIN totals t ON t.account = a.id";
    let accounts =
        Checked::find_by_statement(sea_orm::Statement::from_string(db.get_database_backend(), sql)).all(db).await?;
    let mut violations = Vec::new();
    let sum: i64 = accounts.iter().map(|a| a.balance).sum();
    if sum != 0 {
        violations.push(Violation::BalancesDoNotSumToZero { sum });
    }
    for acc in &accounts {
        if acc.from_transfers != acc.balance {
            violations.push(Violation::BalanceDiffersFromTransfers {
                code: acc.code.clone(),
                balance: acc.balance,
                from_transfers: acc.from_transfers,
            });
        }
        if !acc.allow_negative && acc.balance < 0 {
            violations.push(Violation::NegativeCustomerBalance { code: acc.code.clone(), balance: acc.balance });
        }
    }
    Ok(violations)
}

/// One line of a customer's credit history: a transfer into (positive) or out of
/// (negative) their credit account.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    pub transfer: ledger_transfers::Model,
    /// For a line of the customer's credits: signed from the customer's side. For a payment
    /// that bought something other than credits (a plan, a period) or gave it back: the
    /// amount, positive.
    pub signed: Micros,
    /// Whether the line moved the customer's credits (else it is a payment).
    pub credits: bool,
}

/// The customer's credit history, newest first.
pub async fn customer_history<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    limit: u64,
    offset: u64,
) -> Result<Vec<HistoryLine>, DbErr> {
    history(db, account_id, limit, offset, false).await
}

/// The customer's payments and credit movements, newest first: every transfer that moved
/// their credits or concerns them (a plan paid, a subscription invoice, a refund).
pub async fn account_history<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    limit: u64,
    offset: u64,
) -> Result<Vec<HistoryLine>, DbErr> {
    history(db, account_id, limit, offset, true).await
}

async fn history<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    limit: u64,
    offset: u64,
    payments: bool,
) -> Result<Vec<HistoryLine>, DbErr> {
    use sea_orm::QueryOrder;
    let acc = Accounts::find().filter(AccCol::Code.eq(customer_code(account_id))).one(db).await?;
    let acc_id = acc.map(|a| a.id);
    let mut which = sea_orm::Condition::any();
    if let Some(id) = acc_id {
        which = which.add(TrCol::CreditAccountId.eq(id)).add(TrCol::DebitAccountId.eq(id));
    }
    if payments {
        which = which.add(TrCol::AccountId.eq(account_id));
    } else if acc_id.is_none() {
        return Ok(Vec::new());
    }
    let rows = Transfers::find()
        .filter(which)
        .order_by_desc(TrCol::CreatedAt)
        .order_by_desc(TrCol::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|t| {
            let (signed, credits) = match acc_id {
                Some(id) if t.credit_account_id == id => (t.amount.get(), true),
                Some(id) if t.debit_account_id == id => (-t.amount.get(), true),
                _ => (t.amount.get(), false),
            };
            HistoryLine { signed: Micros::new(signed), credits, transfer: t }
        })
        .collect())
}
