//! 002's entitlements: `GET /entitlements` (the limits of the plan in force) and
//! `GET /entitlements/usage` (the same rows with this month's usage against them). A team
//! without a paid subscription gets Starter's.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::entitlements::{Entitlement, Entitlements};
use serde_json::{Value, json};

fn row(e: &Entitlement) -> Value {
    let mut v = json!({
        "resource": e.resource,
        "label": e.label,
        "unit": if e.unit.is_empty() { Value::Null } else { json!(e.unit) },
        "limit": e.limit,
        // A zero cap means the feature is not part of the plan (403 feature_not_available).
        "enabled": e.limit != Some(0),
    });
    if let Some(used) = e.used {
        v["used"] = json!(used);
        v["remaining"] = json!(e.remaining());
        v["at_limit"] = json!(e.limit.is_some_and(|l| used >= l));
    }
    v
}

fn body(ent: &Entitlements) -> Value {
    json!({
        "plan_id": ent.plan.slug,
        "plan_name": ent.plan.name,
        "period": ent.period,
        "resets_at": ent.resets_at,
        "entitlements": ent.rows.iter().map(row).collect::<Vec<_>>(),
    })
}

async fn load(state: &AppState, principal: &Principal, with_usage: bool) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let ent =
        billing::entitlements::for_account(&state.db, principal.account_id, with_usage, chrono::Utc::now()).await?;
    Ok(Json(body(&ent)))
}

/// The limits of the team's plan (Starter without a subscription), without usage.
#[utoipa::path(get, path = "/entitlements", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    load(&state, &principal, false).await
}

/// The same limits with this month's usage, what is left, and whether the cap is reached.
#[utoipa::path(get, path = "/entitlements/usage", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn usage(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    load(&state, &principal, true).await
}
