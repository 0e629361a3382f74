//! Verifies a USDC transfer for an account: the receipt from the configured chain, status
//! success, a `Transfer` log of the configured USDC contract to the payment address, enough
//! confirmations, the sender binding; then claims and applies it (see `billing::usdc`).
//! Not found or not yet confirmed: retried with backoff until the deadline.

use super::JobError;
use crate::chain::Receipt;
use crate::runner::Ctx;
use billing::chain::TxHash;
use billing::usdc::{Purpose, RejectCode, UsdcResult};
use chrono::Utc;
use entities::jobs;
use sea_orm::EntityTrait;
use serde_json::Value;
use uuid::Uuid;

fn done(result: UsdcResult) -> Result<Value, JobError> {
    serde_json::to_value(result).map_err(|e| JobError::Terminal(e.to_string()))
}

pub async fn handle(
    ctx: &Ctx,
    job: &jobs::Model,
    chain_id: u64,
    tx: &TxHash,
    account_id: Uuid,
    purpose: &Purpose,
) -> Result<Value, JobError> {
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
    let transfer = match account.wallet_address.as_deref() {
        None => transfers.into_iter().next(),
        Some(wallet) => transfers.into_iter().find(|t| t.from.as_str() == wallet),
    };
    let Some(transfer) = transfer else {
        return done(UsdcResult::rejected(
            RejectCode::WrongSender,
            "the transfer was not sent from the wallet bound to this account",
        ));
    };
    let result = billing::usdc::apply(&ctx.db, &transfer, account_id, purpose).await?;
    tracing::info!(tx = %tx, block, confirmations, ?result, "usdc transfer verified");
    done(result)
}
