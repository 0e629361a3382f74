//! The chain scan: reads USDC `Transfer` logs to the payment address from the stored
//! block cursor in bounded ranges, records each transfer and advances the cursor in one
//! transaction (a restart resumes from the cursor; a re-read range changes nothing, since
//! transfers are unique by chain, hash and log index), then credits the pending orders the
//! unmatched transfers belong to. What matches nothing stays listed for admins.

use super::JobError;
use crate::runner::Ctx;
use billing::jobs::contracts::ScanReport;
use billing::usdc::{self, SeenTransfer};
use chrono::Utc;
use entities::UsdcTransferStatus;
use entities::chain_cursors::{self, Entity as Cursors};
use entities::usdc_transfers::{Column as UCol, Entity as Transfers};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// Most unmatched transfers one scan tries to match.
const MATCH_BATCH: u64 = 500;
/// How many scans try to match one transfer before it is left to admins (listed, and
/// still claimable by a verification of its hash). Newest first: a payment is tried in
/// the scans right after it confirms, however many old transfers nobody expects lie about.
const MATCH_ATTEMPTS: i32 = 3;

pub async fn handle(ctx: &Ctx) -> Result<ScanReport, JobError> {
    let Some(client) = ctx.chain.as_ref() else {
        return Ok(ScanReport { skipped: Some("usdc not configured".into()), ..ScanReport::default() });
    };
    client.check_chain().await?.map_err(JobError::Terminal)?;
    let head = client.head().await?;
    // The newest block with enough confirmations.
    let Some(safe) = (head + 1).checked_sub(ctx.settings.usdc_confirmations.max(1)) else {
        return Ok(ScanReport { head: Some(head), ..ScanReport::default() });
    };
    let cursor_id = client.cursor_id();
    let cursor = Cursors::find_by_id(cursor_id.clone()).one(&ctx.db).await?;
    let mut from = match cursor {
        Some(c) => c.block_number as u64 + 1,
        None => ctx.settings.chain_scan_from_block,
    };
    let mut seen = 0usize;
    while from <= safe {
        let to = (from + ctx.settings.chain_scan_range - 1).min(safe);
        let transfers = client.transfers(from, to).await?;
        let txn = billing::db::begin_write(&ctx.db).await?;
        for t in &transfers {
            usdc::record_seen(&txn, t, ctx.settings.usdc_dust_below).await?;
        }
        Cursors::insert(chain_cursors::ActiveModel {
            id: Set(cursor_id.clone()),
            block_number: Set(to as i64),
            position: Set(None),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(chain_cursors::Column::Id)
                .update_columns([chain_cursors::Column::BlockNumber, chain_cursors::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        crate::failpoint::stall_after_scan_range().await;
        seen += transfers.len();
        from = to + 1;
    }

    let unmatched = Transfers::find()
        .filter(UCol::Status.eq(UsdcTransferStatus::Unmatched))
        .filter(UCol::ChainId.eq(client.chain_id() as i64))
        .filter(UCol::MatchAttempts.lt(MATCH_ATTEMPTS))
        .order_by_desc(UCol::BlockNumber)
        .limit(MATCH_BATCH)
        .all(&ctx.db)
        .await?;
    let tried: Vec<uuid::Uuid> = unmatched.iter().map(|r| r.id).collect();
    Transfers::update_many()
        .col_expr(UCol::MatchAttempts, sea_orm::sea_query::ExprTrait::add(Expr::col(UCol::MatchAttempts), 1))
        .filter(UCol::Id.is_in(tried))
        .exec(&ctx.db)
        .await?;
    let mut credited = 0usize;
    // Matched oldest first, as the orders they pay were made.
    for row in unmatched.into_iter().rev() {
        let (Some(tx_hash), Some(from), Some(to)) = (
            billing::chain::TxHash::parse(&row.tx_hash),
            billing::chain::Address::parse(&row.from_address),
            billing::chain::Address::parse(&row.to_address),
        ) else {
            continue;
        };
        let t = SeenTransfer {
            chain_id: row.chain_id,
            tx_hash,
            log_index: row.log_index,
            from,
            to,
            amount: row.amount,
            block_number: row.block_number,
        };
        if let Some((account_id, purpose)) = usdc::match_pending(&ctx.db, &t).await? {
            let result = usdc::apply(&ctx.db, &t, account_id, &purpose).await?;
            tracing::info!(tx = %t.tx_hash, %account_id, ?result, "chain scan matched a transfer");
            credited += 1;
        }
    }
    Ok(ScanReport {
        skipped: None,
        head: Some(head),
        scanned_to: Some(safe),
        seen: seen as u64,
        matched: credited as u64,
    })
}
