//! Admin coupons (credits API): `GET/POST /admin/billing/coupons`.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, created, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    id: uuid::Uuid,
    code: String,
    percent_off: Option<i32>,
    /// USD.
    #[schema(value_type = Option<f64>)]
    amount_off: Option<Box<RawValue>>,
    max_redemptions: Option<i32>,
    max_redemptions_per_account: Option<i32>,
    times_redeemed: i32,
    expires_at: Option<DateTime<Utc>>,
    is_active: bool,
    created_at: DateTime<Utc>,
}

impl From<entities::coupons::Model> for Coupon {
    fn from(c: entities::coupons::Model) -> Self {
        Coupon {
            id: c.id,
            code: c.code,
            percent_off: c.percent_off,
            amount_off: c.amount_off.map(|a| a.usd_json()),
            max_redemptions: c.max_redemptions,
            max_redemptions_per_account: c.max_per_account,
            times_redeemed: c.times_redeemed,
            expires_at: c.expires_at,
            is_active: c.is_active,
            created_at: c.created_at,
        }
    }
}

/// List coupons with their redemption counts.
#[utoipa::path(get, path = "/admin/billing/coupons", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<Coupon>>)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<Coupon>>>, ApiError> {
    principal.require(Scope::Admin)?;
    let coupons = billing::coupons::list(&state.db).await?;
    Ok(ok(coupons.into_iter().map(Coupon::from).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCoupon {
    #[schema(example = "LAUNCH20")]
    code: String,
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    percent_off: Option<i32>,
    /// USD, a number or a decimal string.
    #[schema(value_type = Option<f64>)]
    amount_off: Option<Value>,
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    max_redemptions: Option<i32>,
    /// Default 1.
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    max_redemptions_per_account: Option<i32>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Create a coupon: `percentOff` (1–100) or `amountOff` (USD), optional limit and expiry.
#[utoipa::path(post, path = "/admin/billing/coupons", security(("bearer" = [])), request_body = CreateCoupon,
    responses((status = 201, body = Envelope<Coupon>), (status = 409, description = "The code exists")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateCoupon>,
) -> Result<(StatusCode, Json<Envelope<Coupon>>), ApiError> {
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
    Ok(created(Coupon::from(coupon)))
}
