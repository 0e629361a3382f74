//! Plan listings: `GET /plans` (subscription API, public; Stripe price ids stripped) and
//! `GET /subscription/plans` (credits API).

use crate::envelope::Envelope;
use crate::envelope::ok;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use entities::PlanKind;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The subscription API counts credits in microcents: 1 cent = 10,000 micro-USD = 1,000,000 microcents.
pub fn microcents(m: billing::Micros) -> i64 {
    m.get().saturating_mul(100)
}

/// A plan as the subscription API shows it: prices in cents, credits in microcents, limits
/// by key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// The plan's slug.
    #[schema(example = "pro")]
    id: String,
    name: String,
    description: String,
    price_monthly: Option<i64>,
    price_yearly: Option<i64>,
    credits_monthly: i64,
    limits: BTreeMap<String, PlanLimit>,
    self_serve: bool,
}

/// One limit: null `value` is unlimited, 0 not in the plan.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlanLimit {
    value: Option<i64>,
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

pub async fn plan_dto(state: &AppState, plan: &entities::plans::Model) -> Result<Plan, ApiError> {
    let limits = billing::catalog::limits(&state.db, plan.id).await?;
    Ok(Plan {
        id: plan.slug.clone(),
        name: plan.name.clone(),
        description: plan.description.clone(),
        price_monthly: plan.price_monthly.map(|p| p.to_cents()),
        price_yearly: plan.price_yearly.map(|p| p.to_cents()),
        credits_monthly: microcents(plan.credits_per_period),
        limits: limits
            .into_iter()
            .map(|l| {
                (l.key, PlanLimit { value: l.value, label: l.label, unit: (!l.unit.is_empty()).then_some(l.unit) })
            })
            .collect(),
        self_serve: billing::catalog::self_serve(plan),
    })
}

/// List plans (public).
#[utoipa::path(get, path = "/plans", responses((status = 200, body = Vec<Plan>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Plan>>, ApiError> {
    let plans = billing::catalog::plans_of_kind(&state.db, PlanKind::Recurring).await?;
    let mut out = Vec::with_capacity(plans.len());
    for p in &plans {
        out.push(plan_dto(&state, p).await?);
    }
    Ok(Json(out))
}

/// A plan as the credits API shows it: prices in cents, included credits in credits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreditPlan {
    id: Uuid,
    slug: String,
    name: String,
    description: String,
    price_monthly: Option<i64>,
    price_yearly: Option<i64>,
    credits_included: i64,
    #[schema(value_type = Vec<String>)]
    features: Value,
    self_serve: bool,
}

/// The credits API: subscription plans with integer credits.
#[utoipa::path(get, path = "/subscription/plans", responses((status = 200, body = Envelope<Vec<CreditPlan>>)))]
pub async fn list_in_credits(State(state): State<AppState>) -> Result<Json<Envelope<Vec<CreditPlan>>>, ApiError> {
    let plans = billing::catalog::plans_of_kind(&state.db, PlanKind::Recurring).await?;
    Ok(ok(plans
        .into_iter()
        .map(|p| CreditPlan {
            self_serve: billing::catalog::self_serve(&p),
            id: p.id,
            slug: p.slug,
            name: p.name,
            description: p.description,
            price_monthly: p.price_monthly.map(|m| m.to_cents()),
            price_yearly: p.price_yearly.map(|m| m.to_cents()),
            credits_included: p.credits_per_period.to_credits(),
            features: p.features,
        })
        .collect()))
}
