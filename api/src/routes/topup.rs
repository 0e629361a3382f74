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
use billing::jobs::{JobPayload, JobQueue, PUSH_GRACE, outbox};
use entities::{JobStatus, PayMethod};
use sea_orm::{EntityTrait, TransactionTrait};
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
        "stripe" => {
            let order = billing::orders::NewOrder {
                account_id: principal.account_id,
                kind: entities::OrderKind::Topup,
                status: entities::OrderStatus::Pending,
                method: PayMethod::Stripe,
                amount,
                plan_id: None,
                details: json!({}),
            };
            match stripe_checkout(&state, order).await? {
                Checkout::Ready { session_id, session_url } => {
                    Ok(ok(json!({"sessionUrl": session_url, "sessionId": session_id})).into_response())
                }
                Checkout::Pending { order_id } => Ok(pending(order_id)),
            }
        }
        // Charging the saved card off-session comes with saved cards (issue 3).
        "stripe_direct" => Err(usdc::stripe_unavailable()),
        other => Err(ApiError::bad_request(
            "invalid_request",
            format!("method: {other:?} is not stripe, stripe_direct or usdc"),
        )),
    }
}

/// What became of a checkout request after the short wait.
pub enum Checkout {
    Ready { session_id: Value, session_url: Value },
    Pending { order_id: uuid::Uuid },
}

/// Records the order and its checkout job together, then waits briefly for the worker to
/// create the Stripe session: the session if it is quick, the order id to poll if not.
pub async fn stripe_checkout(state: &AppState, order: billing::orders::NewOrder) -> Result<Checkout, ApiError> {
    if state.settings.stripe_secret_key.is_empty() {
        return Err(usdc::stripe_unavailable());
    }
    let policy = state.settings.queue(JobQueue::Checkout);
    let txn = state.db.begin().await?;
    let order = entities::orders::Entity::insert(order.into_row()).exec_with_returning(&txn).await?;
    let job = outbox::enqueue(&txn, &JobPayload::Checkout { order_id: order.id }, &policy, PUSH_GRACE).await?;
    txn.commit().await?;
    state.push_job(JobQueue::Checkout, job.job_id).await;
    let job = outbox::wait_finished(&state.db, job.job_id, state.settings.checkout_wait)
        .await?
        .ok_or_else(|| ApiError::internal("checkout job vanished"))?;
    match job.status {
        JobStatus::Done => {
            let result = job.result.unwrap_or_default();
            Ok(Checkout::Ready { session_id: result["sessionId"].clone(), session_url: result["sessionUrl"].clone() })
        }
        JobStatus::Dead => {
            tracing::warn!(order = %order.id, error = ?job.last_error, "checkout failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "checkout_failed",
                "the payment provider could not start a checkout",
            ))
        }
        _ => Ok(Checkout::Pending { order_id: order.id }),
    }
}

/// 202 with the order to poll (`GET /orders/:id`).
pub fn pending(order_id: uuid::Uuid) -> Response {
    (StatusCode::ACCEPTED, Json(json!({"success": true, "data": {"orderId": order_id, "status": "pending"}})))
        .into_response()
}
