//! `POST /api/v1/keys/verify` (service token): the gateway asks whether a key may make one
//! more request costing `cost` (default 1). Always 200 for a well-formed question; the
//! answer says `valid` or why not, with the counters and, for a refusal a plan resolves,
//! the 402/403 error (002's shape) the gateway can hand to its client.
//!
//! The hot path: the answer is a typed struct serialised once, no intermediate JSON tree.

use crate::auth::Service;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use billing::verify::{KeyRef, Reason};
use chrono::{DateTime, Utc};
use entities::{ApiKeyKind, KeyTier};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

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

#[derive(Serialize)]
struct RateLimit {
    limit: u32,
    remaining: u32,
    /// Unix milliseconds.
    reset: i64,
}

#[derive(Serialize)]
struct Usage {
    used: u64,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: DateTime<Utc>,
}

#[derive(Serialize)]
struct Credits {
    /// Micro-USD.
    remaining: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Verdict<'a> {
    valid: bool,
    reason: Option<Reason>,
    key_id: Uuid,
    account_id: Uuid,
    kind: ApiKeyKind,
    tier: KeyTier,
    metric: Option<&'a str>,
    credits: Option<Credits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratelimit: Option<RateLimit>,
    usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

pub async fn verify(
    State(state): State<AppState>,
    _: Service,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let cost = req.cost.unwrap_or(1);
    if cost > MAX_COST || req.key.len() > 200 || req.metric.as_ref().is_some_and(|m| m.len() > 64) {
        return Err(ApiError::bad_request("validation_error", "key ≤ 200 chars, cost ≤ 1e9, metric ≤ 64 chars"));
    }
    let now = Utc::now();
    let hash = billing::accounts::hash_key(&req.key);
    let Some(info) = state.keys.get(&state.db, KeyRef::Hash(&hash)).await? else {
        return Ok(Json(json!({"valid": false, "reason": Reason::NotFound})).into_response());
    };
    let limits = info.limits();
    let (reason, used, ratelimit) = match info.check(now) {
        Err(reason) => (Some(reason), state.limiter.used(&info.counter_subject(), now).await?, None),
        Ok(()) => {
            let a = state.limiter.admit(&info.counter_subject(), limits, cost, now).await?;
            let rate = RateLimit { limit: a.rate_limit, remaining: a.rate_remaining, reset: a.rate_reset_ms };
            (a.reason, a.used, Some(rate))
        }
    };
    let error = match reason {
        Some(reason) => billing::upgrade::explain(&state.db, &info, reason, used)
            .await?
            .map(|e| json!({"status": e.status, "code": e.code, "message": e.message, "metadata": e.metadata})),
        None => None,
    };
    let verdict = Verdict {
        valid: reason.is_none(),
        reason,
        key_id: info.key.id,
        account_id: info.key.account_id,
        kind: info.key.kind,
        tier: info.tier(),
        metric: req.metric.as_deref(),
        credits: (info.key.kind == ApiKeyKind::Credit).then(|| Credits { remaining: info.credits.get() }),
        ratelimit,
        usage: Usage {
            used,
            limit: limits.monthly,
            remaining: limits.monthly.map(|l| l.saturating_sub(used)),
            reset: billing::usage::next_period_start(now),
        },
        error,
    };
    Ok(Json(verdict).into_response())
}
