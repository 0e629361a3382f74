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
use billing::usage::gauges::Reading;
use billing::usage::{LatenessWindow, MAX_BATCH, MAX_EVENT_ID, MAX_METRIC, Rejection, UsageEvent, UsageKind};
use billing::verify::KeyRef;
use chrono::{DateTime, Utc};
use entities::JobQueue;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A full batch of 5,000 events fits.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// One usage event: by `key` or by `keyId`, exactly one (an event with neither or both is
/// refused on its own, reason `invalid`). An event that breaks this schema refuses the whole
/// batch with 400: that is a bug in the gateway, not a fact about usage.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The gateway's id for the event: a replay of the same id counts once.
    #[schema(min_length = 1, max_length = 255)]
    id: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    key_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.:-]+$")]
    metric: String,
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "crate::extract::integer")]
    quantity: i64,
    /// Micro-USD to debit from the account's credits.
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    #[schema(minimum = 0)]
    cost: Option<i64>,
    timestamp: DateTime<Utc>,
    /// `counter` (default): `quantity` is used, summed per month. `gauge`: `quantity` is the
    /// resource's current level (`concurrent_tasks`, `team_seats`); the latest reading
    /// stands and plan limits are checked against it. A gauge carries no cost (one with a
    /// cost is refused, reason `invalid`).
    #[serde(default)]
    kind: UsageKind,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Batch {
    #[schema(min_items = 1, max_items = 5000)]
    events: Vec<Event>,
}

/// What was recorded: the batch of counted events (absent when none was accepted), how many
/// events were accepted (gauge readings included, applied at once), and each refused event.
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

/// What the schema documents about an event, checked as documented; `Err` names the field.
fn conforms(e: &Event) -> Result<(), &'static str> {
    // Lengths in characters, as JSON Schema counts them.
    let id = e.id.chars().count();
    if id == 0 || id > MAX_EVENT_ID {
        return Err("id: 1 to 255 characters");
    }
    let metric_ok = !e.metric.is_empty()
        && e.metric.len() <= MAX_METRIC
        && e.metric.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if !metric_ok {
        return Err("metric: 1 to 64 of A-Z a-z 0-9 _ . : -");
    }
    if e.quantity < 0 || e.cost.unwrap_or(0) < 0 {
        return Err("quantity and cost: not negative");
    }
    Ok(())
}

/// Record a batch of usage events (1–5,000); metering applies them exactly once.
#[utoipa::path(post, path = "/api/v1/usage", security(("bearer" = [])), request_body = Batch,
    responses((status = 202, description = "Recorded; metered by the worker", body = Recorded),
        (status = 400, description = "An event breaks the schema (the message names it); nothing recorded"),
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
    let window = LatenessWindow { late: state.settings.usage_lateness, early: billing::usage::EARLY_ALLOWANCE };
    let mut accepted = Vec::with_capacity(batch.events.len());
    let mut readings = Vec::new();
    let mut rejected = Vec::new();
    if let Some((i, why)) = batch.events.iter().enumerate().find_map(|(i, e)| conforms(e).err().map(|w| (i, w))) {
        return Err(ApiError::bad_request("validation_error", format!("events[{i}].{why}")));
    }
    for e in batch.events {
        let costed_gauge = e.kind == UsageKind::Gauge && e.cost.is_some_and(|c| c > 0);
        if e.key.is_some() == e.key_id.is_some() || costed_gauge {
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
        if e.kind == UsageKind::Gauge {
            readings.push(Reading {
                account_id: info.key.account_id,
                metric: e.metric,
                value: e.quantity,
                at: e.timestamp,
                event_id: e.id,
            });
            continue;
        }
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
    let gauge_readings = readings.len();
    billing::usage::gauges::apply(&state.db, readings).await?;
    let mut batch_id = None;
    if !accepted.is_empty() {
        let queue = JobQueue::UsageMetering;
        let (id, job) = billing::usage::record_batch(&state.db, &accepted, &state.settings.queue(queue)).await?;
        state.wake_worker(queue, job).await;
        batch_id = Some(id);
    }
    Ok((StatusCode::ACCEPTED, Json(Recorded { batch_id, accepted: accepted.len() + gauge_readings, rejected })))
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
