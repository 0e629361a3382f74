//! The key-tier API: `POST /api/v1/billing/checkout {planId, walletAddress?, successUrl?, cancelUrl?}` —
//! a Stripe Checkout upgrading the caller's API keys to Starter or Growth. Paid, it raises
//! the keys' tier; `customer.subscription.deleted` brings them back to Free.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::services::checkout::{Checkout, OrderExtras, stripe_checkout_with};
use crate::state::AppState;
use crate::validate::Fields;
use crate::validate::{MAX_URL, valid_url};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::orders::OrderDetails;
use entities::{BillingInterval, OrderKind, PayMethod};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierCheckoutRequest {
    /// `starter` or `growth`.
    #[schema(value_type = String, example = "starter")]
    plan_id: Option<Value>,
    /// Recorded as the stated payer; never binds a wallet.
    #[schema(value_type = Option<String>, example = "0x52908400098527886E0F7030069857D2E4169EE7")]
    wallet_address: Option<Value>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    success_url: Option<Value>,
    #[schema(value_type = Option<String>, max_length = 2000)]
    cancel_url: Option<Value>,
    coupon: Option<String>,
}

/// A Stripe Checkout to open.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierSession {
    session_id: Option<String>,
    url: Option<String>,
}

/// Stripe is slow: the order to poll.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierPending {
    #[schema(value_type = uuid::Uuid)]
    order_id: billing::OrderId,
    #[schema(example = "pending")]
    status: &'static str,
}

/// Validates per the key-tier API's table; every bad field is named in `details`.
fn validate(req: &TierCheckoutRequest) -> Result<(&'static str, Option<billing::chain::Address>), ApiError> {
    let mut f = Fields::default();
    let plan =
        f.required("planId", req.plan_id.as_ref(), |p| p == "starter" || p == "growth", "must be starter or growth");
    let wallet = f
        .optional(
            "walletAddress",
            req.wallet_address.as_ref(),
            |w| billing::chain::Address::parse(w).is_some(),
            "must be a valid Ethereum address (0x and 40 hex digits)",
        )
        .and_then(billing::chain::Address::parse);
    let url_rule = format!("must be a valid URL of at most {MAX_URL} characters");
    f.optional("successUrl", req.success_url.as_ref(), valid_url, &url_rule);
    f.optional("cancelUrl", req.cancel_url.as_ref(), valid_url, &url_rule);
    f.finish()?;
    let slug = if plan == Some("growth") { "tier-growth" } else { "tier-starter" };
    Ok((slug, wallet))
}

/// Create a Stripe Checkout Session to upgrade the API key tier.
#[utoipa::path(post, path = "/api/v1/billing/checkout", security(("bearer" = [])), request_body = TierCheckoutRequest,
    responses((status = 200, body = TierSession), (status = 202, description = "Stripe is slow: poll the order", body = TierPending),
    (status = 502, description = "Stripe refused the checkout"), (status = 503, description = "Stripe is not configured")))]
pub async fn checkout(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<TierCheckoutRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let (slug, wallet) = validate(&req)?;
    let plan = billing::catalog::plan_by_slug(&state.db, slug)
        .await?
        .ok_or_else(|| ApiError::internal(format!("catalog lacks {slug}")))?;
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: OrderKind::KeyTier,
        status: entities::OrderStatus::Pending,
        method: PayMethod::Stripe,
        amount: plan.price_monthly.unwrap_or(billing::Micros::ZERO),
        plan_id: Some(plan.id),
        // `walletAddress` is recorded as the customer's stated payer, never bound: a binding
        // decides whose USDC is whose, so it takes the wallet's signature
        // (`POST /api/billing/wallet/challenge`, then `PUT /api/billing/wallet`).
        details: OrderDetails {
            interval: Some(BillingInterval::Month),
            success_url: req.success_url.as_ref().and_then(Value::as_str).map(str::to_owned),
            cancel_url: req.cancel_url.as_ref().and_then(Value::as_str).map(str::to_owned),
            wallet_address: wallet.map(|w| w.to_string()),
            ..OrderDetails::default()
        },
    };
    let extras = OrderExtras { pool_id: None, coupon: req.coupon.clone() };
    Ok(match stripe_checkout_with(&state, order, extras).await? {
        Checkout::Ready(r) => Json(TierSession { session_id: r.session_id(), url: r.url() }).into_response(),
        Checkout::Pending { order_id } => {
            (StatusCode::ACCEPTED, Json(TierPending { order_id, status: "pending" })).into_response()
        }
    })
}
