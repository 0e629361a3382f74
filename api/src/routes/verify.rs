//! `POST /api/v1/keys/verify` (service token): the gateway asks whether a key may make one
//! more request costing `cost` (default 1). Always 200 for a well-formed question; the
//! answer says `valid` or why not, with the counters and, for a refusal a plan resolves,
//! the 402/403 error (002's shape) the gateway can hand to its client.

use crate::auth::Service;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::verify::{KeyRef, Reason};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
pub struct VerifyRequest {
    key: String,
    #[serde(default)]
    cost: Option<u64>,
    #[serde(default)]
    metric: Option<String>,
}

/// The largest cost one request may carry.
const MAX_COST: u64 = 1_000_000_000;

pub async fn verify(
    State(state): State<AppState>,
    _: Service,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<Value>, ApiError> {
    let cost = req.cost.unwrap_or(1);
    if cost > MAX_COST || req.key.len() > 200 || req.metric.as_ref().is_some_and(|m| m.len() > 64) {
        return Err(ApiError::bad_request("validation_error", "key ≤ 200 chars, cost ≤ 1e9, metric ≤ 64 chars"));
    }
    let now = chrono::Utc::now();
    let hash = billing::accounts::hash_key(&req.key);
    let Some(info) = state.keys.get(&state.db, KeyRef::Hash(&hash)).await? else {
        return Ok(Json(json!({"valid": false, "reason": Reason::NotFound})));
    };
    let limits = info.limits();
    let mut body = json!({
        "keyId": info.key.id, "accountId": info.key.account_id, "kind": info.key.kind, "tier": info.tier(),
        "metric": req.metric,
        "credits": if info.key.kind == entities::ApiKeyKind::Credit { json!({"remaining": info.credits.get()}) } else { Value::Null },
    });
    let (reason, used) = match info.check(now) {
        Err(reason) => (Some(reason), state.limiter.used(info.key.id, now).await?),
        Ok(()) => {
            let a = state.limiter.admit(info.key.id, limits, cost, now).await?;
            body["ratelimit"] = json!({"limit": a.rate_limit, "remaining": a.rate_remaining, "reset": a.rate_reset_ms});
            (a.reason, a.used)
        }
    };
    body["valid"] = json!(reason.is_none());
    body["reason"] = json!(reason);
    body["usage"] = json!({
        "used": used, "limit": limits.monthly,
        "remaining": limits.monthly.map(|l| l.saturating_sub(used)),
        "reset": billing::usage::next_period_start(now),
    });
    if let Some(reason) = reason
        && let Some(e) = billing::upgrade::explain(&state.db, &info, reason, used).await?
    {
        body["error"] = json!({"status": e.status, "code": e.code, "message": e.message, "metadata": e.metadata});
    }
    Ok(Json(body))
}
