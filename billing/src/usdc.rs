//! USDC on Base: claiming a transfer once and turning it into credits or a 30-day plan.
//!
//! `(chain_id, tx_hash, log_index)` is unique in `usdc_transfers`; the claim, the ledger
//! transfer, the payment and the order or subscription commit in one transaction, so a
//! transfer is credited once, to one account, whatever verifies or scans it and however
//! often.

use crate::chain::{Address, TxHash};
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use crate::{AccountId, OrderId};
use chrono::{DateTime, Utc};
use entities::orders::{self, Column as OrderCol, Entity as Orders};
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::subscriptions::Entity as Subscriptions;
use entities::usdc_transfers::{self, Column as UCol, Entity as Transfers};
use entities::{OrderKind, OrderStatus, PayMethod, PaymentProvider, PlanKind, TransferKind, UsdcTransferStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Order, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a verified transfer pays for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Credits; `declared` is what the customer said they sent (must not exceed it).
    Topup { declared: Micros },
    /// A 30-day plan by slug.
    Plan { slug: String },
}

impl Purpose {
    /// A short, stable text for job keys.
    pub fn key(&self) -> String {
        match self {
            Purpose::Topup { declared } => format!("topup:{}", declared.get()),
            Purpose::Plan { slug } => format!("plan:{slug}"),
        }
    }
}

/// Why a transfer was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    TransactionNotFound,
    TransactionReverted,
    /// Still short of the required confirmations when the verification deadline passed.
    NotConfirmed,
    /// No transfer of the configured USDC contract to the payment address in the transaction.
    NoUsdcTransfer,
    AmountTooSmall,
    /// The declared amount is more than the transfer carried.
    AmountMismatch,
    /// The account's bound wallet did not send it.
    WrongSender,
    /// Another account claimed it first.
    AlreadyClaimed,
    UnknownPlan,
}

/// The outcome of a verification, stored as the job's result and read by the api.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UsdcResult {
    Credited { amount: Micros, tx_hash: TxHash },
    Activated { plan_slug: String, expires_at: DateTime<Utc>, amount: Micros },
    Rejected { code: RejectCode, message: String },
}

impl UsdcResult {
    pub fn rejected(code: RejectCode, message: impl Into<String>) -> Self {
        UsdcResult::Rejected { code, message: message.into() }
    }
}

/// A USDC `Transfer` log to our payment address, read from the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenTransfer {
    pub chain_id: i64,
    pub tx_hash: TxHash,
    pub log_index: i64,
    pub from: Address,
    pub to: Address,
    pub amount: Micros,
    pub block_number: i64,
}

impl SeenTransfer {
    /// The condition selecting this transfer's row: chain, hash and log index.
    fn key(&self) -> sea_orm::Condition {
        sea_orm::Condition::all()
            .add(UCol::ChainId.eq(self.chain_id))
            .add(UCol::TxHash.eq(self.tx_hash.as_str()))
            .add(UCol::LogIndex.eq(self.log_index))
    }

    fn reference(&self) -> String {
        format!("usdc:{}:{}:{}", self.chain_id, self.tx_hash, self.log_index)
    }
}

/// Records a transfer the scan saw, unclaimed; nothing if it is already known. One below
/// `dust_below` is recorded as dust: listed for admins, never matched to an order.
pub async fn record_seen<C: ConnectionTrait>(db: &C, t: &SeenTransfer, dust_below: Micros) -> Result<(), DomainError> {
    let now = Utc::now();
    let status = if t.amount < dust_below { UsdcTransferStatus::Dust } else { UsdcTransferStatus::Unmatched };
    Transfers::insert(usdc_transfers::ActiveModel {
        id: Set(Uuid::now_v7()),
        chain_id: Set(t.chain_id),
        tx_hash: Set(t.tx_hash.to_string()),
        log_index: Set(t.log_index),
        account_id: Set(None),
        order_id: Set(None),
        from_address: Set(t.from.to_string()),
        to_address: Set(t.to.to_string()),
        amount: Set(t.amount),
        block_number: Set(t.block_number),
        status: Set(status),
        match_attempts: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([UCol::ChainId, UCol::TxHash, UCol::LogIndex])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Whether some account has claimed `t`.
pub async fn is_claimed<C: ConnectionTrait>(db: &C, t: &SeenTransfer) -> Result<bool, DomainError> {
    Ok(Transfers::find().filter(t.key()).filter(UCol::AccountId.is_not_null()).one(db).await?.is_some())
}

/// Claims `t` for `account_id`. Returns `Ok(true)` if this account holds the claim now
/// (claimed here or before), `Ok(false)` if another account holds it.
async fn claim<C: ConnectionTrait>(
    db: &C,
    t: &SeenTransfer,
    account_id: AccountId,
) -> Result<(bool, bool), DomainError> {
    // A verification names its transfer: never dust to it (the amount rules decide).
    record_seen(db, t, Micros::ZERO).await?;
    let now = Utc::now();
    let taken = Transfers::update_many()
        .col_expr(UCol::AccountId, Expr::value(Some(account_id)))
        .col_expr(UCol::Status, Expr::value(UsdcTransferStatus::Credited.as_str()))
        .col_expr(UCol::UpdatedAt, Expr::value(now))
        .filter(t.key())
        .filter(UCol::AccountId.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1;
    if taken {
        return Ok((true, true));
    }
    let row = Transfers::find().filter(t.key()).one(db).await?.ok_or(DomainError::NotFound("usdc transfer"))?;
    Ok((row.account_id == Some(account_id), false))
}

async fn oldest_pending_order<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    kind: OrderKind,
    plan_id: Option<Uuid>,
) -> Result<Option<orders::Model>, DomainError> {
    let mut q = Orders::find()
        .filter(OrderCol::AccountId.eq(account_id))
        .filter(OrderCol::Kind.eq(kind))
        .filter(OrderCol::Method.eq(PayMethod::Usdc))
        .filter(OrderCol::Status.eq(OrderStatus::Pending));
    if let Some(plan_id) = plan_id {
        q = q.filter(OrderCol::PlanId.eq(plan_id));
    }
    Ok(q.order_by(OrderCol::CreatedAt, Order::Asc).one(db).await?)
}

/// Completes the account's pending USDC order of this kind, or records a completed one,
/// so every payment has its order in the history.
async fn complete_order<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    kind: OrderKind,
    plan_id: Option<Uuid>,
    amount: Micros,
    reference: &str,
) -> Result<OrderId, DomainError> {
    if let Some(order) = oldest_pending_order(db, account_id, kind, plan_id).await? {
        crate::orders::mark_completed(db, order.id).await?;
        return Ok(order.id);
    }
    let row = crate::orders::NewOrder {
        account_id,
        kind,
        status: OrderStatus::Completed,
        method: PayMethod::Usdc,
        amount,
        plan_id,
        details: crate::orders::OrderDetails { reference: Some(reference.to_owned()), ..Default::default() },
    }
    .into_row();
    let id = OrderId::generate();
    Orders::insert(orders::ActiveModel { id: Set(id), ..row }).exec_without_returning(db).await?;
    Ok(id)
}

/// Applies a verified transfer for an account: claim it, then credit or activate. The
/// caller has checked the chain (receipt, confirmations, contract, recipient) and the
/// sender binding; the amount rules are checked here, before anything is claimed, so a
/// refused transfer stays unclaimed.
pub async fn apply(
    db: &DatabaseConnection,
    t: &SeenTransfer,
    account_id: AccountId,
    purpose: &Purpose,
) -> Result<UsdcResult, DomainError> {
    let plan = match purpose {
        Purpose::Topup { declared } => {
            if *declared > t.amount {
                return Ok(UsdcResult::rejected(
                    RejectCode::AmountMismatch,
                    format!("the transfer carried {} USDC, less than the {} declared", t.amount, declared),
                ));
            }
            if t.amount < crate::orders::MIN_TOPUP {
                return Ok(UsdcResult::rejected(RejectCode::AmountTooSmall, "a top-up is at least 10 USDC"));
            }
            None
        }
        Purpose::Plan { slug } => {
            let Some(plan) = crate::catalog::plan_by_slug(db, slug).await?.filter(|p| p.kind == PlanKind::Flat30d)
            else {
                return Ok(UsdcResult::rejected(RejectCode::UnknownPlan, format!("no 30-day plan {slug:?}")));
            };
            let price = plan.price_monthly.unwrap_or(Micros::ZERO);
            if t.amount < price {
                return Ok(UsdcResult::rejected(
                    RejectCode::AmountTooSmall,
                    format!("the plan costs {price} USDC; the transfer carried {}", t.amount),
                ));
            }
            Some(plan)
        }
    };

    let txn = crate::db::begin_write(db).await?;
    let (mine, fresh) = claim(&txn, t, account_id).await?;
    if !mine {
        return Ok(UsdcResult::rejected(RejectCode::AlreadyClaimed, "this transfer was claimed by another account"));
    }
    if !fresh {
        // Claimed by this account before: answer as the first time did.
        txn.commit().await?;
        return previous_result(db, t, account_id, plan.as_ref()).await;
    }
    let reference = t.reference();
    let now = Utc::now();
    let kind = if plan.is_some() { OrderKind::PlanCheckout } else { OrderKind::Topup };
    let order_id = complete_order(&txn, account_id, kind, plan.as_ref().map(|p| p.id), t.amount, &reference).await?;
    Transfers::update_many().col_expr(UCol::OrderId, Expr::value(Some(order_id))).filter(t.key()).exec(&txn).await?;
    Payments::insert(crate::stripe::payment::succeeded_row(
        PaymentProvider::Usdc,
        account_id,
        Some(order_id),
        &reference,
        t.amount,
        now,
    ))
    .on_conflict_do_nothing_on([PayCol::Provider, PayCol::ProviderRef])
    .exec_without_returning(&txn)
    .await?;
    // One transfer out of USDC clearing: into the customer's credits for a top-up, into
    // revenue for a plan.
    let debit = ledger::system_account(&txn, SystemAccount::UsdcClearing).await?;
    let (credit, kind, description) = match &plan {
        None => {
            (ledger::customer_account(&txn, account_id).await?, TransferKind::Topup, "Credit top-up (USDC)".to_owned())
        }
        Some(p) => (
            ledger::system_account(&txn, SystemAccount::Revenue).await?,
            TransferKind::PlanPayment,
            format!("{} plan, 30 days (USDC)", p.name),
        ),
    };
    let transfer = TransferRequest {
        id: reference.clone(),
        debit,
        credit,
        amount: t.amount,
        kind,
        account_id: Some(account_id),
        // The same form as the payment's reference, so reconciliation pairs them.
        reference: reference.clone(),
        description,
    };
    ledger::post(&txn, transfer).await?;
    let result = match plan {
        None => UsdcResult::Credited { amount: t.amount, tx_hash: t.tx_hash.clone() },
        Some(plan) => {
            let expires_at = crate::subscriptions::activate_flat(&txn, account_id, &plan, order_id).await?;
            UsdcResult::Activated { plan_slug: plan.slug, expires_at, amount: t.amount }
        }
    };
    txn.commit().await?;
    Ok(result)
}

/// The result a transfer claimed earlier by this account produced.
async fn previous_result(
    db: &DatabaseConnection,
    t: &SeenTransfer,
    account_id: AccountId,
    plan: Option<&entities::plans::Model>,
) -> Result<UsdcResult, DomainError> {
    let Some(plan) = plan else {
        return Ok(UsdcResult::Credited { amount: t.amount, tx_hash: t.tx_hash.clone() });
    };
    let row = Transfers::find().filter(t.key()).one(db).await?;
    let order = match row.and_then(|r| r.order_id) {
        Some(id) => Orders::find_by_id(id).one(db).await?,
        None => None,
    };
    let sub = Subscriptions::find()
        .filter(entities::subscriptions::Column::AccountId.eq(account_id))
        .filter(entities::subscriptions::Column::PlanId.eq(plan.id))
        .order_by(entities::subscriptions::Column::CreatedAt, Order::Desc)
        .one(db)
        .await?;
    match (order, sub.and_then(|s| s.current_period_end)) {
        (Some(o), Some(end)) if o.kind == OrderKind::PlanCheckout => {
            Ok(UsdcResult::Activated { plan_slug: plan.slug.clone(), expires_at: end, amount: t.amount })
        }
        // Claimed earlier for a top-up: the transfer is spent.
        _ => Ok(UsdcResult::rejected(RejectCode::AlreadyClaimed, "this transfer was already used by this account")),
    }
}

/// For the chain scan: the account and purpose a transfer nobody verified belongs to —
/// the pending USDC order of the account whose bound wallet sent it, or the pending order
/// that was assigned exactly this (unique) amount.
pub async fn match_pending<C: ConnectionTrait>(
    db: &C,
    t: &SeenTransfer,
) -> Result<Option<(AccountId, Purpose)>, DomainError> {
    let by_wallet = entities::accounts::Entity::find()
        .filter(entities::accounts::Column::WalletAddress.eq(t.from.as_str()))
        .one(db)
        .await?;
    let pending = Orders::find()
        .filter(OrderCol::Method.eq(PayMethod::Usdc))
        .filter(OrderCol::Status.eq(OrderStatus::Pending))
        .order_by(OrderCol::CreatedAt, Order::Asc);
    let order = match by_wallet {
        Some(account) => {
            pending
                .filter(OrderCol::AccountId.eq(account.id))
                .filter(OrderCol::Amount.lte(t.amount.get()))
                .one(db)
                .await?
        }
        None => {
            let exact = pending.filter(OrderCol::Amount.eq(t.amount.get())).all(db).await?;
            let unique: Vec<_> =
                exact.into_iter().filter(|o| crate::orders::OrderDetails::of(o).unique_amount == Some(true)).collect();
            if unique.len() == 1 { unique.into_iter().next() } else { None }
        }
    };
    let Some(order) = order else { return Ok(None) };
    let purpose = match order.kind {
        OrderKind::Topup => Purpose::Topup { declared: order.amount },
        OrderKind::PlanCheckout => {
            let Some(plan_id) = order.plan_id else { return Ok(None) };
            let Some(plan) = entities::plans::Entity::find_by_id(plan_id).one(db).await? else { return Ok(None) };
            Purpose::Plan { slug: plan.slug }
        }
        _ => return Ok(None),
    };
    Ok(Some((order.account_id, purpose)))
}

/// Transfers to us the scan saw that no order or verification claimed (dust included),
/// oldest first.
pub async fn unmatched<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<usdc_transfers::Model>, DomainError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    Ok(Transfers::find()
        .filter(UCol::Status.is_in([UsdcTransferStatus::Unmatched, UsdcTransferStatus::Dust]))
        .order_by_asc(UCol::BlockNumber)
        .limit(limit)
        .all(db)
        .await?)
}
