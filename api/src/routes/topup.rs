//! `POST /api/billing/topup` (000): credits by card (Stripe Checkout) or USDC.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, accepted, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::usdc;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::{JobPayload, JobQueue, PUSH_GRACE, outbox};
use entities::{JobStatus, PayMethod};
use sea_orm::{EntityTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopupRequest {
    /// USD, at least 10: a number or a decimal string (whole cents for a card).
    #[schema(value_type = f64, example = 25)]
    amount: Value,
    /// `stripe` (Checkout), `stripe_direct` (the saved card, now) or `usdc`.
    #[schema(example = "stripe")]
    method: String,
}

/// A Stripe Checkout to open.
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSession {
    session_url: Option<String>,
    session_id: Option<String>,
}

/// Stripe is slow: the order to poll (`GET /orders/{id}`).
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PendingOrder {
    order_id: uuid::Uuid,
    #[schema(example = "pending")]
    status: &'static str,
}

/// The saved card was charged.
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Charged {
    /// `succeeded`, or `pending` while the payment is processing.
    #[schema(example = "succeeded")]
    status: &'static str,
    /// USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    credited: Option<Box<RawValue>>,
    /// USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    credit_balance: Option<Box<RawValue>>,
    payment_intent: Option<String>,
}

/// What a top-up answers: a Checkout, a charge, a USDC payment to make, or an order to poll.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TopupStarted {
    Checkout(CheckoutSession),
    Charged(Charged),
    Usdc(usdc::UsdcPayment),
    Pending(PendingOrder),
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Top up credits.
#[utoipa::path(post, path = "/api/billing/topup", security(("bearer" = [])), request_body = TopupRequest,
    responses((status = 200, description = "A Checkout, a charge, or the USDC payment to make", body = Envelope<TopupStarted>),
    (status = 202, description = "Stripe is slow: poll the order, or the charge is processing", body = Envelope<TopupStarted>),
    (status = 402, description = "No saved card, or it was declined (`stripe_direct`)"),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe or the chain is not configured")))]
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
    // A card is charged in whole cents: a finer amount would credit more than it charges.
    if matches!(req.method.as_str(), "stripe" | "stripe_direct") && !amount.is_whole_cents() {
        return Err(ApiError::bad_request("invalid_request", "amount: a card top-up is a whole number of cents"));
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
                Checkout::Ready(r) => {
                    Ok(ok(CheckoutSession { session_url: text(&r["sessionUrl"]), session_id: text(&r["sessionId"]) })
                        .into_response())
                }
                Checkout::Pending { order_id } => Ok(pending(order_id)),
            }
        }
        "stripe_direct" => direct_charge(&state, &principal, amount).await,
        other => Err(ApiError::bad_request(
            "invalid_request",
            format!("method: {other:?} is not stripe, stripe_direct or usdc"),
        )),
    }
}

/// What became of a checkout request after the short wait.
pub enum Checkout {
    /// The job's result: `{sessionId, sessionUrl}` for Checkout, `{outcome, …}` for a direct charge.
    Ready(Value),
    Pending {
        order_id: uuid::Uuid,
    },
}

/// What some orders carry beyond [`billing::orders::NewOrder`].
#[derive(Debug, Default)]
pub struct OrderExtras {
    pub pool_id: Option<uuid::Uuid>,
    /// A coupon code, redeemed in the order's transaction (a refusal changes nothing).
    pub coupon: Option<String>,
}

/// Records the order and its checkout job together, then waits briefly for the worker to
/// create the Stripe session: the session if it is quick, the order id to poll if not.
pub async fn stripe_checkout(state: &AppState, order: billing::orders::NewOrder) -> Result<Checkout, ApiError> {
    stripe_checkout_with(state, order, OrderExtras::default()).await
}

pub async fn stripe_checkout_with(
    state: &AppState,
    order: billing::orders::NewOrder,
    extras: OrderExtras,
) -> Result<Checkout, ApiError> {
    use sea_orm::ActiveValue::Set;
    if state.settings.stripe_secret_key.is_empty() {
        return Err(usdc::stripe_unavailable());
    }
    let policy = state.settings.queue(JobQueue::Checkout);
    let txn = state.db.begin().await?;
    let mut row = order.into_row();
    row.pool_id = Set(extras.pool_id);
    let order = entities::orders::Entity::insert(row).exec_with_returning(&txn).await?;
    if let Some(code) = &extras.coupon {
        let coupon = billing::coupons::redeem(&txn, code, order.account_id, order.id).await?;
        billing::orders::set_coupon(&txn, order.id, coupon.id).await?;
    }
    let job = outbox::enqueue(&txn, &JobPayload::Checkout { order_id: order.id }, &policy, PUSH_GRACE).await?;
    txn.commit().await?;
    state.push_job(JobQueue::Checkout, job.job_id).await;
    let job = outbox::wait_finished(&state.db, job.job_id, state.settings.checkout_wait)
        .await?
        .ok_or_else(|| ApiError::internal("checkout job vanished"))?;
    match job.status {
        JobStatus::Done => Ok(Checkout::Ready(job.result.unwrap_or_default())),
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
    accepted(PendingOrder { order_id, status: "pending" }).into_response()
}

/// `stripe_direct`: charge the saved default card now. No card, or a decline: 402.
async fn direct_charge(state: &AppState, principal: &Principal, amount: billing::Micros) -> Result<Response, ApiError> {
    let Some(card) = billing::payment_methods::default_for(&state.db, principal.account_id).await? else {
        return Err(ApiError::new(StatusCode::PAYMENT_REQUIRED, "no_payment_method", "no saved card: add one first"));
    };
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: entities::OrderKind::Topup,
        status: entities::OrderStatus::Pending,
        method: PayMethod::StripeDirect,
        amount,
        plan_id: None,
        details: json!({"paymentMethod": card.id}),
    };
    match stripe_checkout(state, order).await? {
        Checkout::Pending { order_id } => Ok(pending(order_id)),
        Checkout::Ready(r) if r["outcome"] == json!("succeeded") => {
            let balance = billing::ledger::customer_balance(&state.db, principal.account_id).await?;
            Ok(ok(Charged {
                status: "succeeded",
                credited: Some(amount.usd_json()),
                credit_balance: Some(balance.usd_json()),
                payment_intent: text(&r["paymentIntent"]),
            })
            .into_response())
        }
        Checkout::Ready(r) if r["outcome"] == json!("declined") => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "card_declined",
            r["message"].as_str().unwrap_or("your card was declined").to_owned(),
        )),
        Checkout::Ready(r) => Ok(accepted(Charged {
            status: "pending",
            credited: None,
            credit_balance: None,
            payment_intent: text(&r["paymentIntent"]),
        })
        .into_response()),
    }
}
