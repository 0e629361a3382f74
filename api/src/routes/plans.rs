//! Plan listings: `GET /plans` (002, public; Stripe price ids stripped) and
//! `GET /subscription/plans` (003).

use crate::envelope::ok;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use billing::Micros;
use entities::PlanKind;
use serde_json::{Map, Value, json};

/// 002 counts credits in microcents: 1 cent = 10,000 micro-USD = 1,000,000 microcents.
pub fn microcents(m: i64) -> i64 {
    m.saturating_mul(100)
}

/// A plan as 002 shows it: prices in cents, credits in microcents, limits by key.
pub async fn plan_dto(state: &AppState, plan: &entities::plans::Model) -> Result<Value, ApiError> {
    let limits = billing::catalog::limits(&state.db, plan.id).await?;
    let limits: Map<String, Value> = limits
        .into_iter()
        .map(|l| {
            let mut v = json!({"value": l.value, "label": l.label});
            if !l.unit.is_empty() {
                v["unit"] = json!(l.unit);
            }
            (l.key, v)
        })
        .collect();
    Ok(json!({
        "id": plan.slug,
        "name": plan.name,
        "description": plan.description,
        "price_monthly": plan.price_monthly.map(|p| Micros::new(p).to_cents()),
        "price_yearly": plan.price_yearly.map(|p| Micros::new(p).to_cents()),
        "credits_monthly": microcents(plan.credits_per_period),
        "limits": limits,
        "self_serve": billing::catalog::self_serve(plan),
    }))
}

/// List plans (public).
#[utoipa::path(get, path = "/plans", responses((status = 200)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let plans = billing::catalog::plans_of_kind(&state.db, PlanKind::Recurring).await?;
    let mut out = Vec::with_capacity(plans.len());
    for p in &plans {
        out.push(plan_dto(&state, p).await?);
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// 003: subscription plans with integer credits.
#[utoipa::path(get, path = "/subscription/plans", responses((status = 200)))]
pub async fn list_in_credits(State(state): State<AppState>) -> Result<Response, ApiError> {
    let plans = billing::catalog::plans_of_kind(&state.db, PlanKind::Recurring).await?;
    let data: Vec<Value> = plans
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "slug": p.slug,
                "name": p.name,
                "description": p.description,
                "price_monthly": p.price_monthly.map(|m| Micros::new(m).to_cents()),
                "price_yearly": p.price_yearly.map(|m| Micros::new(m).to_cents()),
                "credits_included": Micros::new(p.credits_per_period).to_credits(),
                "features": p.features,
                "self_serve": billing::catalog::self_serve(p),
            })
        })
        .collect();
    Ok(ok(Value::Array(data)).into_response())
}
