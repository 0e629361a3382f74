//! `POST /api/billing/topup` (000): credits by card (Stripe Checkout) or USDC.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::credits::ok;
use crate::routes::usdc;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::Micros;
use billing::jobs::{JobPayload, JobQueue, PUSH_GRACE, outbox};
use entities::{JobStatus, PayMethod};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopupRequest {
    amount: Value,
    method: String,
}

/// Top up credits.
#[utoipa::path(post, path = "/api/billing/topup", security(("bearer" = [])), responses((status = 200), (status = 202)))]
pub async fn topup(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<TopupRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let amount = usdc::usd_amount(&req.amount, "amount")?;
    if amount < billing::orders::MIN_TOPUP {
        return Err(ApiError::bad_request("invalid_request", "amount: the minimum top-up is 10 USD"));
    }
    match req.method.as_str() {
        "usdc" => usdc::start_topup(&state, &principal, amount).await,
        "stripe" => stripe_checkout(&state, &principal, amount).await,
        // Charging the saved card off-session comes with saved cards (issue 3).
        "stripe_direct" => Err(usdc::stripe_unavailable()),
        other => Err(ApiError::bad_request(
            "invalid_request",
            format!("method: {other:?} is not stripe, stripe_direct or usdc"),
        )),
    }
}

/// Records the order and its checkout job together, then waits briefly for the worker to
/// create the Stripe session: the session URL if it is quick, 202 with the order id if not.
async fn stripe_checkout(state: &AppState, principal: &Principal, amount: Micros) -> Result<Response, ApiError> {
    if state.settings.stripe_secret_key.is_empty() {
        return Err(usdc::stripe_unavailable());
    }
    let policy = state.settings.queue(JobQueue::Checkout);
    let txn = state.db.begin().await?;
    let order = billing::orders::create_topup(&txn, principal.account_id, amount, PayMethod::Stripe).await?;
    let job = outbox::enqueue(&txn, &JobPayload::Checkout { order_id: order.id }, &policy, PUSH_GRACE).await?;
    txn.commit().await?;
    state.push_job(JobQueue::Checkout, job.job_id).await;
    let job = outbox::wait_finished(&state.db, job.job_id, state.settings.checkout_wait)
        .await?
        .ok_or_else(|| ApiError::internal("checkout job vanished"))?;
    match job.status {
        JobStatus::Done => {
            let result = job.result.unwrap_or_default();
            Ok(ok(json!({"sessionUrl": result["sessionUrl"], "sessionId": result["sessionId"]})).into_response())
        }
        JobStatus::Dead => {
            tracing::warn!(order = %order.id, error = ?job.last_error, "checkout failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "checkout_failed",
                "the payment provider could not start a checkout",
            ))
        }
        _ => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"success": true, "data": {"orderId": order.id, "status": "pending"}})),
        )
            .into_response()),
    }
}
