//! Admin coupons (003): `GET/POST /admin/billing/coupons`.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::credits::ok;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

fn coupon_json(c: &entities::coupons::Model) -> Value {
    json!({
        "id": c.id, "code": c.code, "percentOff": c.percent_off,
        "amountOff": c.amount_off.map(|a| billing::Micros::new(a).usd_json()),
        "maxRedemptions": c.max_redemptions, "maxRedemptionsPerAccount": c.max_per_account,
        "timesRedeemed": c.times_redeemed,
        "expiresAt": c.expires_at, "isActive": c.is_active, "createdAt": c.created_at,
    })
}

/// List coupons with their redemption counts.
#[utoipa::path(get, path = "/admin/billing/coupons", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let coupons = billing::coupons::list(&state.db).await?;
    Ok(ok(coupons.iter().map(coupon_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCoupon {
    code: String,
    percent_off: Option<i32>,
    /// USD.
    amount_off: Option<Value>,
    max_redemptions: Option<i32>,
    /// Default 1.
    max_redemptions_per_account: Option<i32>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Create a coupon: `percentOff` (1–100) or `amountOff` (USD), optional limit and expiry.
#[utoipa::path(post, path = "/admin/billing/coupons", security(("bearer" = [])), responses((status = 201), (status = 400), (status = 403), (status = 409)))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateCoupon>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let amount_off = match &req.amount_off {
        None | Some(Value::Null) => None,
        Some(v) => Some(crate::routes::usdc::usd_amount(v, "amountOff")?.get()),
    };
    let coupon = billing::coupons::create(
        &state.db,
        billing::coupons::NewCoupon {
            code: req.code,
            percent_off: req.percent_off,
            amount_off,
            max_redemptions: req.max_redemptions,
            max_per_account: req.max_redemptions_per_account,
            expires_at: req.expires_at,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, ok(coupon_json(&coupon))).into_response())
}
