//! USDC on Base: starting a payment (a pending order with a unique amount to send) and
//! verifying a transfer by its hash in the worker.

use crate::error::ApiError;
use crate::jobs::Finished;
use crate::state::AppState;
use axum::http::StatusCode;
use billing::AccountId;
use billing::Micros;
use billing::chain::TxHash;
use billing::jobs::Job;
use billing::jobs::contracts::UsdcVerify;
use billing::jobs::outbox;
use billing::usdc::{Purpose, UsdcResult};
use entities::OrderKind;
use sea_orm::EntityTrait;
use uuid::Uuid;

/// Where USDC is paid; 503 when USDC payments are not configured.
pub fn payment_address(state: &AppState) -> Result<String, ApiError> {
    let address = state.settings.payment_address.as_str();
    if address.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "usdc_not_configured",
            "USDC payments are not configured",
        ));
    }
    Ok(address.to_owned())
}

/// The caller's account row.
pub async fn account(state: &AppState, account_id: AccountId) -> Result<entities::accounts::Model, ApiError> {
    entities::accounts::Entity::find_by_id(account_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

/// A USDC payment started: where to send it, and the order it pays.
pub struct Started {
    pub address: String,
    pub order: entities::orders::Model,
}

/// Records a pending USDC order of `amount` (made unique to this order) for an account.
pub async fn start(
    state: &AppState,
    account_id: AccountId,
    kind: OrderKind,
    amount: Micros,
    plan_id: Option<Uuid>,
) -> Result<Started, ApiError> {
    let address = payment_address(state)?;
    let account = account(state, account_id).await?;
    let order = billing::orders::create_usdc(&state.db, &account, kind, amount, plan_id).await?;
    Ok(Started { address, order })
}

/// The outcome of submitting a verification.
pub enum Verification {
    Done(UsdcResult),
    Pending(Uuid),
}

/// Verifies a transfer for an account: at most `VERIFY_RATE_PER_MINUTE` asks a minute
/// (each may cost RPC calls), one job per transfer and purpose, a short wait for it.
pub async fn verify(
    state: &AppState,
    account_id: AccountId,
    tx: TxHash,
    purpose: Purpose,
    log_index: Option<i64>,
) -> Result<Verification, ApiError> {
    payment_address(state)?;
    // Each request may cost RPC calls: bounded per account.
    let per_minute = state.settings.verify_rate_per_minute;
    let subject = format!("verify:{account_id}");
    if !state.limiter.allow_in_window(&subject, per_minute, 60).await? {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("at most {per_minute} verification requests a minute"),
        ));
    }
    let job = UsdcVerify { chain_id: state.settings.chain_id, tx_hash: tx, account_id, purpose, log_index };
    let enqueued = state.submit(&state.db, &job).await?;
    // Asked again after it gave up (an RPC outage outlasting its retries): it runs again,
    // with no admin needed; a verification that answered keeps its answer. One waiting
    // for its retry is hurried.
    let revived = !enqueued.created && outbox::requeue(&state.db, enqueued.job_id).await?;
    if enqueued.created || revived || outbox::hurry(&state.db, enqueued.job_id).await? {
        state.wake_worker(UsdcVerify::QUEUE, enqueued.job_id).await;
    }
    match state.wait_for::<UsdcVerify>(enqueued.job_id, state.settings.checkout_wait).await? {
        Finished::Done(result) => Ok(Verification::Done(result)),
        Finished::Dead(error) => {
            tracing::warn!(job = %enqueued.job_id, ?error, "verification gave up");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "verification_unavailable",
                "the transfer could not be verified now; ask again later",
            ))
        }
        Finished::Running(id) => Ok(Verification::Pending(id)),
    }
}
