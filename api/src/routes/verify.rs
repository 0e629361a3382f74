//! `POST /api/v1/keys/verify` (service token): the gateway asks whether a key may make one
//! more request costing `cost` (default 1). Always 200 for a well-formed question; the
//! answer says `valid` or why not, with the counters and, for a refusal a plan resolves,
//! the 402/403 error (subscription API's shape) the gateway can hand to its client.
//!
//! The hot path: the answer is a typed struct serialised once, no intermediate JSON tree.

use crate::auth::Service;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::AccountId;
use billing::entitlements::LimitCheck;
use billing::verify::{KeyRef, Reason};
use chrono::{DateTime, Utc};
use entities::{ApiKeyKind, KeyTier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    /// The API key the gateway's client presented.
    #[schema(example = "tg_live_…", max_length = 200)]
    key: String,
    /// What this request costs against the key's quota (default 1).
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(maximum = 1_000_000_000, minimum = 0)]
    cost: Option<u64>,
    /// The metric being spent, echoed back. When it names a limit of the account's plan
    /// (`storage_mb`, `triggers`, …), this month's reported use plus `cost` is checked
    /// against it: `limit_exceeded` (402) or `feature_not_available` (403, a limit of 0).
    #[serde(default)]
    #[schema(max_length = 64)]
    metric: Option<String>,
}

/// The largest cost one request may carry.
const MAX_COST: u64 = 1_000_000_000;

#[derive(Serialize, utoipa::ToSchema)]
struct RateLimit {
    limit: u32,
    remaining: u32,
    /// Unix milliseconds.
    reset: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Usage {
    used: u64,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Credits {
    /// Micro-USD.
    remaining: i64,
}

/// The answer to a well-formed question. A key not found has only `valid` and `reason`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    valid: bool,
    reason: Option<Reason>,
    key_id: Uuid,
    #[schema(value_type = uuid::Uuid)]
    account_id: AccountId,
    kind: ApiKeyKind,
    tier: KeyTier,
    metric: Option<String>,
    credits: Option<Credits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratelimit: Option<RateLimit>,
    usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Refusal>,
}

/// Not found: the only fields known.
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
pub struct Unknown {
    valid: bool,
    reason: Reason,
}

/// For a refusal a plan resolves: the 402/403 error the gateway can hand to its client.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Refusal {
    status: u16,
    code: String,
    message: String,
    metadata: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VerifyResponse {
    Known(Box<Verdict>),
    Unknown(Unknown),
}

/// The plan's verdict on spending `cost` of `metric`, when the metric is one of its limits
/// and the request would pass it: the reason and the error to hand on.
async fn plan_limit(
    state: &AppState,
    info: &billing::verify::KeyInfo,
    metric: &str,
    cost: u64,
    now: DateTime<Utc>,
) -> Result<Option<(Reason, billing::upgrade::LimitError)>, ApiError> {
    let cost = i64::try_from(cost).unwrap_or(i64::MAX);
    let (plan, check) = billing::entitlements::check_limit(&state.db, info.key.account_id, metric, cost, now).await?;
    let reason = match check {
        LimitCheck::Exceeded { .. } => Reason::LimitExceeded,
        LimitCheck::NotInPlan { .. } => Reason::FeatureNotAvailable,
        LimitCheck::Unlimited | LimitCheck::Within { .. } => return Ok(None),
    };
    let error = billing::upgrade::explain_plan_limit(&state.db, &plan, metric, &check, cost).await?;
    Ok(error.map(|e| (reason, e)))
}

/// Whether a key may make one more request: always 200 for a well-formed question.
#[utoipa::path(post, path = "/api/v1/keys/verify", security(("bearer" = [])), request_body = VerifyRequest,
    responses((status = 200, description = "The verdict", body = VerifyResponse),
        (status = 401, description = "Not the service token")))]
pub async fn verify(
    State(state): State<AppState>,
    _: Service,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let cost = req.cost.unwrap_or(1);
    if cost > MAX_COST || req.key.len() > 200 || req.metric.as_ref().is_some_and(|m| m.len() > 64) {
        return Err(ApiError::bad_request("validation_error", "key ≤ 200 chars, cost ≤ 1e9, metric ≤ 64 chars"));
    }
    let now = Utc::now();
    let hash = billing::accounts::hash_key(&req.key);
    let Some(info) = state.keys.get(&state.db, KeyRef::Hash(&hash)).await? else {
        return Ok(Json(VerifyResponse::Unknown(Unknown { valid: false, reason: Reason::NotFound })));
    };
    let limits = info.limits();
    // A metric that names a limit of the account's plan is checked before the key's own
    // counters, so a refused request is charged to none of them.
    let checked = info.check(now);
    let plan_refusal = match req.metric.as_deref() {
        Some(metric) if checked.is_ok() => plan_limit(&state, &info, metric, cost, now).await?,
        _ => None,
    };
    let (reason, used, ratelimit) = match checked {
        Err(reason) => (Some(reason), state.limiter.used(&info.counter_subject(), now).await?, None),
        Ok(()) if plan_refusal.is_some() => {
            let reason = plan_refusal.as_ref().map(|(r, _)| *r);
            (reason, state.limiter.used(&info.counter_subject(), now).await?, None)
        }
        Ok(()) => {
            let a = state.limiter.admit(&info.counter_subject(), limits, cost, now).await?;
            // Crossing 80 % or 100 % of the monthly quota is told to the account's webhooks
            // (rare: the write happens only at the crossing, once a month per counter).
            // A refusal by the quota carries the 100 % fact each time: told once, written once.
            let facts = state.told.untold(billing::verify::quota_facts(&info, limits.monthly, cost, &a, now));
            if !facts.is_empty() {
                let keys: Vec<String> = facts.iter().map(|f| f.key.clone()).collect();
                let txn = billing::db::begin_write(&state.db).await?;
                billing::webhooks::emit_many(&txn, facts).await?;
                txn.commit().await?;
                state.told.remember(keys.iter().map(String::as_str));
            }
            let rate = RateLimit { limit: a.rate_limit, remaining: a.rate_remaining, reset: a.rate_reset_ms };
            (a.reason, a.used, Some(rate))
        }
    };
    let error = match (reason, plan_refusal) {
        (_, Some((_, e))) => Some(e),
        (Some(reason), None) => {
            let plans = match billing::upgrade::catalog_needed(&info, reason) {
                Some(kind) => state.plans.of_kind(&state.db, kind).await?,
                None => Default::default(),
            };
            billing::upgrade::explain(&info, reason, used, &plans)
        }
        (None, None) => None,
    }
    .map(|e| Refusal { status: e.status, code: e.code.to_owned(), message: e.message, metadata: e.metadata });
    let verdict = Verdict {
        valid: reason.is_none(),
        reason,
        key_id: info.key.id,
        account_id: info.key.account_id,
        kind: info.key.kind,
        tier: info.tier(),
        metric: req.metric,
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
    Ok(Json(VerifyResponse::Known(Box::new(verdict))))
}
