//! Verifies a USDC transfer for an account: the receipt from the configured chain, status
//! success, a `Transfer` log of the configured USDC contract to the payment address, enough
//! confirmations, the sender binding; then claims and applies it (see `billing::usdc`).
//! Not found or not yet confirmed: retried with backoff until the deadline.

use super::JobError;
use crate::chain::Receipt;
use crate::runner::Ctx;
use billing::AccountId;
use billing::chain::TxHash;
use billing::usdc::{Purpose, RejectCode, UsdcResult};
use chrono::Utc;
use entities::jobs;
use sea_orm::EntityTrait;

fn done(result: UsdcResult) -> Result<UsdcResult, JobError> {
    Ok(result)
}

/// What a verification is for: whose, what, and which transfer of the transaction.
pub struct Which<'a> {
    pub account_id: AccountId,
    pub purpose: &'a Purpose,
    pub log_index: Option<i64>,
}

pub async fn handle(
    ctx: &Ctx,
    job: &jobs::Model,
    chain_id: u64,
    tx: &TxHash,
    which: Which<'_>,
) -> Result<UsdcResult, JobError> {
    let Which { account_id, purpose, log_index } = which;
    let client = ctx.chain.as_ref().ok_or_else(|| JobError::Terminal("USDC payments are not configured".into()))?;
    if chain_id != client.chain_id() {
        return Err(JobError::Terminal(format!("job for chain {chain_id}, configured {}", client.chain_id())));
    }
    client.check_chain().await?.map_err(JobError::Terminal)?;
    let past_deadline = Utc::now() - job.created_at
        > chrono::Duration::from_std(ctx.settings.usdc_pending_deadline).unwrap_or(chrono::Duration::MAX);

    let (block, transfers) = match client.receipt(tx).await? {
        Receipt::NotFound if past_deadline => {
            return done(UsdcResult::rejected(
                RejectCode::TransactionNotFound,
                format!("transaction {tx} was not found on chain"),
            ));
        }
        Receipt::NotFound => return Err(JobError::Retryable(format!("transaction {tx} not found yet"))),
        Receipt::Reverted => {
            return done(UsdcResult::rejected(RejectCode::TransactionReverted, "the transaction reverted"));
        }
        Receipt::Mined { block, transfers } => (block, transfers),
    };
    if transfers.is_empty() {
        return done(UsdcResult::rejected(
            RejectCode::NoUsdcTransfer,
            "the transaction holds no USDC transfer to the payment address",
        ));
    }
    let head = client.head().await?;
    let confirmations = head.saturating_sub(block) + 1;
    let required = ctx.settings.usdc_confirmations;
    if confirmations < required {
        if past_deadline {
            return done(UsdcResult::rejected(
                RejectCode::NotConfirmed,
                format!("{confirmations} of {required} confirmations"),
            ));
        }
        return Err(JobError::Retryable(format!("pending: {confirmations} of {required} confirmations")));
    }

    let account = entities::accounts::Entity::find_by_id(account_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| JobError::Terminal(format!("account {account_id} not found")))?;
    let mut candidates: Vec<_> = transfers.into_iter().filter(|t| log_index.is_none_or(|i| t.log_index == i)).collect();
    if candidates.is_empty() {
        return done(UsdcResult::rejected(RejectCode::NoUsdcTransfer, "no USDC transfer to us at that logIndex"));
    }
    if let Some(wallet) = account.wallet_address.as_deref() {
        candidates.retain(|t| t.from.as_str() == wallet);
    }
    let Some(transfer) = pick(ctx, candidates, purpose).await? else {
        return done(UsdcResult::rejected(
            RejectCode::WrongSender,
            "the transfer was not sent from the wallet bound to this account",
        ));
    };
    let result = billing::usdc::apply(&ctx.db, &transfer, account_id, purpose).await?;
    tracing::info!(tx = %tx, block, confirmations, ?result, "usdc transfer verified");
    done(result)
}

/// Of several transfers to us in one transaction (a batched payout), the one this
/// verification is for: the first nobody claimed yet whose amount fits the purpose (for a
/// top-up, the declared amount exactly if one carries it); else the first, whose claim
/// then answers as it did before.
async fn pick(
    ctx: &Ctx,
    candidates: Vec<billing::usdc::SeenTransfer>,
    purpose: &Purpose,
) -> Result<Option<billing::usdc::SeenTransfer>, JobError> {
    if candidates.len() <= 1 {
        return Ok(candidates.into_iter().next());
    }
    let mut open = Vec::new();
    for t in &candidates {
        if !billing::usdc::is_claimed(&ctx.db, t).await? {
            open.push(t.clone());
        }
    }
    let exact = match purpose {
        Purpose::Topup { declared } => open.iter().find(|t| t.amount == *declared).cloned(),
        Purpose::Plan { .. } => None,
    };
    let fits = match purpose {
        Purpose::Topup { declared } => open.iter().find(|t| t.amount >= *declared).cloned(),
        Purpose::Plan { .. } => open.first().cloned(),
    };
    Ok(exact.or(fits).or_else(|| candidates.into_iter().next()))
}
