//! The reconciliation report: what in our books does not add up. Every item is listed for
//! an operator; nothing here "fixes" anything. A ledger invariant violation is logged at
//! error level each time the report is made.

use crate::AccountId;
use crate::error::DomainError;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentItem {
    pub id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub account_id: AccountId,
    pub provider: String,
    pub provider_ref: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferItem {
    pub id: String,
    #[schema(value_type = Option<uuid::Uuid>)]
    pub account_id: Option<AccountId>,
    pub kind: String,
    pub reference: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedTransfer {
    pub tx_hash: String,
    pub log_index: i64,
    pub from_address: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    pub id: uuid::Uuid,
    pub job_key: String,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Money received that never became credits, revenue or a subscription.
    pub payments_without_credits: Vec<PaymentItem>,
    /// Top-up and plan transfers that no recorded payment explains.
    pub credits_without_payments: Vec<TransferItem>,
    pub unmatched_transfers: Vec<UnmatchedTransfer>,
    pub dead_jobs: Vec<DeadJob>,
    pub ledger_violations: Vec<String>,
    pub total: usize,
}

async fn rows<C: ConnectionTrait, T: FromQueryResult>(db: &C, sql: &str) -> Result<Vec<T>, DomainError> {
    let stmt = Statement::from_string(db.get_database_backend(), sql.to_owned());
    Ok(T::find_by_statement(stmt).all(db).await?)
}

/// Makes the report from the database as it is now.
pub async fn report<C: ConnectionTrait>(db: &C) -> Result<Report, DomainError> {
    let payments_without_credits: Vec<PaymentItem> = rows(
        db,
        "SELECT p.id, p.account_id, p.provider, p.provider_ref, p.amount FROM payments p \
         WHERE p.amount > 0 AND NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.reference = p.provider_ref) \
         ORDER BY p.created_at LIMIT 500",
    )
    .await?;
    let credits_without_payments: Vec<TransferItem> = rows(
        db,
        "SELECT t.id, t.account_id, t.kind, t.reference, t.amount FROM ledger_transfers t \
         WHERE t.kind IN ('topup', 'plan_payment') \
         AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.provider_ref = t.reference) \
         ORDER BY t.created_at LIMIT 500",
    )
    .await?;
    let unmatched_transfers: Vec<UnmatchedTransfer> = rows(
        db,
        "SELECT tx_hash, log_index, from_address, amount FROM usdc_transfers WHERE status = 'unmatched' \
         ORDER BY block_number LIMIT 500",
    )
    .await?;
    let dead_jobs: Vec<DeadJob> =
        rows(db, "SELECT id, job_key, last_error FROM jobs WHERE dead_at IS NOT NULL ORDER BY dead_at LIMIT 500")
            .await?;
    let ledger_violations: Vec<String> =
        crate::ledger::check_invariants(db).await?.into_iter().map(|v| format!("{v:?}")).collect();
    for v in &ledger_violations {
        tracing::error!(violation = %v, "ledger invariant violated");
        metrics::counter!("tollgate_ledger_invariant_violations_total").increment(1);
    }
    let total = payments_without_credits.len()
        + credits_without_payments.len()
        + unmatched_transfers.len()
        + dead_jobs.len()
        + ledger_violations.len();
    Ok(Report {
        payments_without_credits,
        credits_without_payments,
        unmatched_transfers,
        dead_jobs,
        ledger_violations,
        total,
    })
}

/// The last scheduled reconciliation run that finished: when, and what it found.
pub async fn last_run<C: ConnectionTrait>(
    db: &C,
) -> Result<Option<(Option<chrono::DateTime<chrono::Utc>>, Option<crate::jobs::contracts::ReconcileReport>)>, DomainError>
{
    let job = crate::jobs::outbox::last_done(db, entities::JobQueue::Reconcile, "reconcile:").await?;
    Ok(job.map(|j| (j.finished_at, j.result.and_then(|r| serde_json::from_value(r).ok()))))
}
