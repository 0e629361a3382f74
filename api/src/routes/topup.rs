//! `POST /api/billing/topup` (billing API): credits by card (Stripe Checkout) or USDC.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, accepted, ok, pending_order};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::usdc;
use crate::services::checkout::{Checkout, stripe_checkout};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::contracts::{ChargeOutcome, CheckoutOutput};
use billing::orders::OrderDetails;
use entities::PayMethod;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

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
    Pending(crate::envelope::PendingOrder),
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
                details: OrderDetails::default(),
            };
            match stripe_checkout(&state, order).await? {
                Checkout::Ready(r) => {
                    Ok(ok(CheckoutSession { session_url: r.url(), session_id: r.session_id() }).into_response())
                }
                Checkout::Pending { order_id } => Ok(pending_order(order_id)),
            }
        }
        "stripe_direct" => direct_charge(&state, &principal, amount).await,
        other => Err(ApiError::bad_request(
            "invalid_request",
            format!("method: {other:?} is not stripe, stripe_direct or usdc"),
        )),
    }
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
        details: OrderDetails { payment_method: Some(card.id), ..OrderDetails::default() },
    };
    match stripe_checkout(state, order).await? {
        Checkout::Pending { order_id } => Ok(pending_order(order_id)),
        Checkout::Ready(CheckoutOutput::Charge { outcome: ChargeOutcome::Succeeded, payment_intent, .. }) => {
            let balance = billing::ledger::customer_balance(&state.db, principal.account_id).await?;
            Ok(ok(Charged {
                status: "succeeded",
                credited: Some(amount.usd_json()),
                credit_balance: Some(balance.usd_json()),
                payment_intent,
            })
            .into_response())
        }
        Checkout::Ready(CheckoutOutput::Charge { outcome: ChargeOutcome::Declined, message, .. }) => {
            Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "card_declined",
                message.unwrap_or_else(|| "your card was declined".to_owned()),
            ))
        }
        Checkout::Ready(CheckoutOutput::Charge { payment_intent, .. }) => {
            Ok(accepted(Charged { status: "pending", credited: None, credit_balance: None, payment_intent })
                .into_response())
        }
        Checkout::Ready(other) => Err(ApiError::internal(format!("a charge answered {other:?}"))),
    }
}
