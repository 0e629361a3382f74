//! Operators' job routes (admin scope): list dead jobs with their last error, requeue one
//! or all of them once the cause is fixed.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::routes::credits::{Envelope, ok};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use billing::jobs::outbox;
use serde_json::{Value, json};
use uuid::Uuid;

/// `GET /admin/jobs/dead`
#[utoipa::path(get, path = "/admin/jobs/dead", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn dead(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Admin)?;
    let jobs = outbox::dead(&state.db, 500).await?;
    Ok(ok(Value::Array(
        jobs.iter()
            .map(|j| {
                json!({"id": j.id, "queue": j.queue, "key": j.job_key, "attempts": j.attempts,
                       "lastError": j.last_error, "failedAt": j.finished_at})
            })
            .collect(),
    )))
}

/// `POST /admin/jobs/:id/requeue`
#[utoipa::path(post, path = "/admin/jobs/{id}/requeue", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn requeue(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Admin)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("dead job"))?;
    if !outbox::requeue(&state.db, id).await? {
        return Err(ApiError::not_found("dead job"));
    }
    Ok(ok(json!({"requeued": 1})))
}

/// `POST /admin/jobs/requeue-dead`
#[utoipa::path(post, path = "/admin/jobs/requeue-dead", security(("bearer" = [])), responses((status = 200)))]
pub async fn requeue_all(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Admin)?;
    let n = outbox::requeue_all_dead(&state.db).await?;
    Ok(ok(json!({"requeued": n})))
}

/// `GET /admin/queues`: each queue, paused or not, with its job counts.
#[utoipa::path(get, path = "/admin/queues", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn queues(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Admin)?;
    let states = billing::jobs::control::states(&state.db).await?;
    Ok(ok(serde_json::to_value(states).map_err(ApiError::internal)?))
}

async fn set_paused(
    state: &AppState,
    principal: &Principal,
    name: &str,
    pause: bool,
) -> Result<Json<Envelope<Value>>, ApiError> {
    principal.require(Scope::Admin)?;
    let queue = billing::jobs::control::parse_queue(name).ok_or_else(|| ApiError::not_found("queue"))?;
    if pause {
        billing::jobs::control::pause(&state.db, queue).await?;
    } else {
        billing::jobs::control::resume(&state.db, queue).await?;
    }
    Ok(ok(json!({"queue": queue, "paused": pause})))
}

/// `POST /admin/queues/:queue/pause`: its jobs wait in the outbox (within one relay pass).
#[utoipa::path(post, path = "/admin/queues/{queue}/pause", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    set_paused(&state, &principal, &queue, true).await
}

/// `POST /admin/queues/:queue/resume`
#[utoipa::path(post, path = "/admin/queues/{queue}/resume", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    set_paused(&state, &principal, &queue, false).await
}
