//! The subscription API's entitlements: `GET /entitlements` (the limits of the plan in force) and
//! `GET /entitlements/usage` (the same rows with this month's usage against them). A team
//! without a paid subscription gets Starter's.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::entitlements::{Entitlement, Entitlements};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The limits in force: the plan, the month they count in, and a row per limit.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntitlementSet {
    #[schema(example = "pro")]
    plan_id: String,
    plan_name: String,
    /// `YYYY-MM`, UTC.
    period: String,
    resets_at: DateTime<Utc>,
    entitlements: Vec<EntitlementRow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EntitlementRow {
    #[schema(example = "concurrent_tasks")]
    resource: String,
    label: String,
    unit: Option<String>,
    /// Null: unlimited. 0: the feature is not part of the plan.
    limit: Option<i64>,
    /// A zero cap means the feature is not part of the plan (403 feature_not_available).
    enabled: bool,
    /// With usage only: this month's.
    #[serde(skip_serializing_if = "Option::is_none")]
    used: Option<i64>,
    /// With usage only; null when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable)]
    remaining: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_limit: Option<bool>,
    /// With usage only: 80 % of the cap or more is used (the settings page's warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    near_limit: Option<bool>,
}

impl From<&Entitlement> for EntitlementRow {
    fn from(e: &Entitlement) -> Self {
        EntitlementRow {
            resource: e.resource.clone(),
            label: e.label.clone(),
            unit: (!e.unit.is_empty()).then(|| e.unit.clone()),
            limit: e.limit,
            enabled: e.limit != Some(0),
            used: e.used,
            remaining: e.used.map(|_| e.remaining()),
            at_limit: e.used.map(|used| e.limit.is_some_and(|l| used >= l)),
            near_limit: e.used.map(|_| e.near_limit()),
        }
    }
}

impl From<Entitlements> for EntitlementSet {
    fn from(ent: Entitlements) -> Self {
        EntitlementSet {
            entitlements: ent.rows.iter().map(EntitlementRow::from).collect(),
            plan_id: ent.plan.slug,
            plan_name: ent.plan.name,
            period: ent.period,
            resets_at: ent.resets_at,
        }
    }
}

async fn load(state: &AppState, principal: &Principal, with_usage: bool) -> Result<Json<EntitlementSet>, ApiError> {
    principal.require(Scope::Read)?;
    let ent =
        billing::entitlements::for_account(&state.db, principal.account_id, with_usage, chrono::Utc::now()).await?;
    Ok(Json(ent.into()))
}

/// The limits of the team's plan (Starter without a subscription), without usage.
#[utoipa::path(get, path = "/entitlements", security(("bearer" = [])), responses((status = 200, body = EntitlementSet)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<EntitlementSet>, ApiError> {
    load(&state, &principal, false).await
}

/// The same limits with this month's usage, what is left, and whether the cap is reached.
#[utoipa::path(get, path = "/entitlements/usage", security(("bearer" = [])), responses((status = 200, body = EntitlementSet)))]
pub async fn usage(State(state): State<AppState>, principal: Principal) -> Result<Json<EntitlementSet>, ApiError> {
    load(&state, &principal, true).await
}
