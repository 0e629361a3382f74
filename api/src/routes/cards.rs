//! Saved cards and the customer portal (000, 002, 003): list and remove cards, save one
//! (SetupIntent or hosted page), open the Stripe customer portal. Every Stripe call runs in
//! the worker; these routes wait briefly for it, as checkouts do.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::credits::ok;
use crate::routes::topup::{Checkout, stripe_checkout};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::{JobPayload, JobQueue, PUSH_GRACE, outbox};
use entities::{JobStatus, PayMethod};
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /api/billing/payment-methods` (000): saved cards, default first.
#[utoipa::path(get, path = "/api/billing/payment-methods", security(("bearer" = [])), responses((status = 200)))]
pub async fn payment_methods(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let cards = billing::payment_methods::list(&state.db, principal.account_id).await?;
    let data: Vec<Value> = cards
        .iter()
        .map(|c| {
            json!({"id": c.id, "type": "card", "brand": c.brand, "last4": c.last4, "expMonth": c.exp_month,
                        "expYear": c.exp_year, "isDefault": c.is_default})
        })
        .collect();
    Ok(ok(Value::Array(data)).into_response())
}

async fn card_setup(state: &AppState, principal: &Principal, flow: &str) -> Result<Value, ApiError> {
    principal.require(Scope::Write)?;
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: entities::OrderKind::CardSetup,
        status: entities::OrderStatus::Pending,
        method: PayMethod::Stripe,
        amount: billing::Micros::ZERO,
        plan_id: None,
        details: json!({"flow": flow}),
    };
    match stripe_checkout(state, order).await? {
        Checkout::Ready(r) => Ok(r),
        Checkout::Pending { order_id } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_slow",
            format!("the payment provider is slow; retry (order {order_id})"),
        )),
    }
}

/// `POST /api/billing/setup-intent` (000): a SetupIntent's client secret for Stripe.js.
#[utoipa::path(post, path = "/api/billing/setup-intent", security(("bearer" = [])), responses((status = 200)))]
pub async fn setup_intent(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    let r = card_setup(&state, &principal, "setup_intent").await?;
    Ok(ok(json!({"clientSecret": r["clientSecret"]})).into_response())
}

/// `POST /api/billing/setup-checkout` (000): a Stripe-hosted page to add a card.
#[utoipa::path(post, path = "/api/billing/setup-checkout", security(("bearer" = [])), responses((status = 200)))]
pub async fn setup_checkout(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    let r = card_setup(&state, &principal, "setup_checkout").await?;
    Ok(ok(json!({"sessionUrl": r["sessionUrl"]})).into_response())
}

async fn portal_url(state: &AppState, principal: &Principal, return_url: Option<String>) -> Result<Value, ApiError> {
    principal.require(Scope::Write)?;
    if let Some(url) = &return_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::bad_request("invalid_request", "return_url must be an http(s) URL"));
    }
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: entities::OrderKind::Portal,
        status: entities::OrderStatus::Pending,
        method: PayMethod::Stripe,
        amount: billing::Micros::ZERO,
        plan_id: None,
        details: json!({"returnUrl": return_url}),
    };
    match stripe_checkout(state, order).await? {
        Checkout::Ready(r) => Ok(r["url"].clone()),
        Checkout::Pending { order_id } => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_slow",
            format!("the payment provider is slow; retry (order {order_id})"),
        )),
    }
}

/// `POST /api/billing/portal` (000): the Stripe customer portal.
#[utoipa::path(post, path = "/api/billing/portal", security(("bearer" = [])), responses((status = 200)))]
pub async fn portal(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    let url = portal_url(&state, &principal, None).await?;
    Ok(ok(json!({"url": url})).into_response())
}

#[derive(Deserialize, Default)]
pub struct PortalRequest {
    return_url: Option<String>,
}

/// `POST /subscription/portal {return_url}`: 002's bare `{url}` when the request says
/// `X-API-Version: 2`, 003's `{success, data: {url}}` otherwise.
#[utoipa::path(post, path = "/subscription/portal", security(("bearer" = [])), responses((status = 200)))]
pub async fn subscription_portal(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<PortalRequest>,
) -> Result<Response, ApiError> {
    // The subscription and credits APIs both send it; the subscription API requires it.
    let Some(return_url) = req.return_url else {
        return Err(ApiError::bad_request("invalid_request", "return_url: required"));
    };
    let url = portal_url(&state, &principal, Some(return_url)).await?;
    let v2 = headers.get("x-api-version").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == "2");
    Ok(if v2 { Json(json!({"url": url})).into_response() } else { ok(json!({"url": url})).into_response() })
}

/// `DELETE /api/billing/payment-methods/:id` (000): remove a saved card (another
/// account's card answers 404).
#[utoipa::path(delete, path = "/api/billing/payment-methods/{id}", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn delete_payment_method(
    State(state): State<AppState>,
    principal: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let cards = billing::payment_methods::list(&state.db, principal.account_id).await?;
    if !cards.iter().any(|c| c.id == id) {
        return Err(ApiError::not_found("payment method"));
    }
    let payload = JobPayload::DetachCard { payment_method_id: id.clone(), account_id: principal.account_id };
    let job = outbox::enqueue(&state.db, &payload, &state.settings.queue(JobQueue::Checkout), PUSH_GRACE).await?;
    if job.created {
        state.push_job(JobQueue::Checkout, job.job_id).await;
    }
    let job = outbox::wait_finished(&state.db, job.job_id, state.settings.checkout_wait)
        .await?
        .ok_or_else(|| ApiError::internal("detach job vanished"))?;
    match job.status {
        JobStatus::Done => Ok(ok(json!({"id": id, "deleted": true})).into_response()),
        JobStatus::Dead => {
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", "the card could not be removed"))
        }
        _ => Ok((StatusCode::ACCEPTED, Json(json!({"success": true, "data": {"id": id, "status": "pending"}})))
            .into_response()),
    }
}
