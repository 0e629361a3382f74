//! `POST /api/v1/usage` (service token): a batch of usage events from the gateway, checked
//! here and recorded as one batch and one metering job; `GET /api/v1/billing/usage` (key-tier API,
//! `X-API-Key`): the key's queries this month against its tier's limit.

use crate::auth::Service;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use billing::usage::{LatenessWindow, MAX_BATCH, MAX_EVENT_ID, MAX_METRIC, Rejection, UsageEvent};
use billing::verify::KeyRef;
use chrono::{DateTime, Utc};
use entities::JobQueue;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// A full batch of 5,000 events fits.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Clock skew allowed for events stamped in the future.
const EARLY: Duration = Duration::from_secs(300);

/// One usage event: by `key` or by `keyId`, exactly one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The gateway's id for the event: a replay of the same id counts once.
    #[schema(min_length = 1, max_length = 128)]
    id: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_id: Option<Uuid>,
    metric: String,
    quantity: i64,
    /// Micro-USD to debit from the account's credits.
    #[serde(default)]
    cost: Option<i64>,
    timestamp: DateTime<Utc>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Batch {
    #[schema(min_items = 1, max_items = 5000)]
    events: Vec<Event>,
}

/// What was recorded: the batch (absent when nothing was accepted) and each refused event.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    batch_id: Option<Uuid>,
    accepted: usize,
    rejected: Vec<Refused>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Refused {
    id: String,
    reason: Rejection,
}

/// A key's queries this month against its tier's monthly limit (null: unlimited).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyUsage {
    queries_this_month: u64,
    monthly_limit: Option<u64>,
    remaining: Option<u64>,
}

fn well_formed(e: &Event) -> bool {
    !e.id.is_empty()
        && e.id.len() <= MAX_EVENT_ID
        && !e.metric.is_empty()
        && e.metric.len() <= MAX_METRIC
        && e.metric.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
        && e.quantity >= 0
        && e.cost.unwrap_or(0) >= 0
        && (e.key.is_some() != e.key_id.is_some())
}

/// Record a batch of usage events (1–5,000); metering applies them exactly once.
#[utoipa::path(post, path = "/api/v1/usage", security(("bearer" = [])), request_body = Batch,
    responses((status = 202, description = "Recorded; metered by the worker", body = Recorded),
        (status = 401, description = "Not the service token")))]
pub async fn ingest(
    State(state): State<AppState>,
    _: Service,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<(StatusCode, Json<Recorded>), ApiError> {
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH {
        return Err(ApiError::bad_request("validation_error", format!("events: 1–{MAX_BATCH} per batch")));
    }
    let now = Utc::now();
    let window = LatenessWindow { late: state.settings.usage_lateness, early: EARLY };
    let mut accepted = Vec::with_capacity(batch.events.len());
    let mut rejected = Vec::new();
    for e in batch.events {
        if !well_formed(&e) {
            rejected.push(Refused { id: e.id, reason: Rejection::Invalid });
            continue;
        }
        if let Err(r) = window.check(now, e.timestamp) {
            rejected.push(Refused { id: e.id, reason: r });
            continue;
        }
        let hash;
        let by = match (&e.key, e.key_id) {
            (Some(k), _) => {
                hash = billing::accounts::hash_key(k);
                KeyRef::Hash(&hash)
            }
            (None, Some(id)) => KeyRef::Id(id),
            (None, None) => continue,
        };
        // Usage of a key revoked since still happened: it counts. Unknown keys do not.
        let Some(info) = state.keys.get(&state.db, by).await? else {
            rejected.push(Refused { id: e.id, reason: Rejection::UnknownKey });
            continue;
        };
        accepted.push(UsageEvent {
            event_id: e.id,
            account_id: info.key.account_id,
            key_id: info.key.id,
            metric: e.metric,
            quantity: e.quantity,
            cost: e.cost.unwrap_or(0),
            at: e.timestamp,
        });
    }
    let mut batch_id = None;
    if !accepted.is_empty() {
        let queue = JobQueue::UsageMetering;
        let (id, job) =
            billing::usage::record_batch(&state.db, &accepted, &state.settings.queue(queue), billing::jobs::PUSH_GRACE)
                .await?;
        state.push_job(queue, job).await;
        batch_id = Some(id);
    }
    Ok((StatusCode::ACCEPTED, Json(Recorded { batch_id, accepted: accepted.len(), rejected })))
}

/// The key-tier API: the queries this month of the calling key's account (all its tier keys
/// share one quota), by `X-API-Key`; limits null for Enterprise.
#[utoipa::path(get, path = "/api/v1/billing/usage", params(("X-API-Key" = String, Header, description = "The API key")),
    responses((status = 200, description = "This month's usage", body = KeyUsage),
        (status = 401, description = "No key, or an unknown or revoked one")))]
pub async fn key_usage(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<KeyUsage>, ApiError> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).ok_or_else(ApiError::unauthorized)?;
    let hash = billing::accounts::hash_key(key.trim());
    let info = state.keys.get(&state.db, KeyRef::Hash(&hash)).await?.ok_or_else(ApiError::unauthorized)?;
    if info.key.status == entities::KeyStatus::Revoked {
        return Err(ApiError::unauthorized());
    }
    let used = state.limiter.used(&info.counter_subject(), Utc::now()).await?;
    let limit = info.limits().monthly;
    Ok(Json(KeyUsage {
        queries_this_month: used,
        monthly_limit: limit,
        remaining: limit.map(|l| l.saturating_sub(used)),
    }))
}
