//! Operators' job routes (admin scope): list dead jobs with their last error, requeue one
//! or all of them once the cause is fixed.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use billing::jobs::control::QueueState;
use billing::jobs::outbox;
use chrono::{DateTime, Utc};
use entities::JobQueue;
use serde::Serialize;
use uuid::Uuid;

/// A job that used up its retries.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    id: Uuid,
    queue: JobQueue,
    /// The job's deterministic key (what it is about, e.g. `checkout:<order>`).
    key: String,
    attempts: i32,
    last_error: Option<String>,
    failed_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Requeued {
    /// How many dead jobs were put back in their queue.
    requeued: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Paused {
    queue: JobQueue,
    paused: bool,
}

/// `GET /admin/jobs/dead`
#[utoipa::path(get, path = "/admin/jobs/dead", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<DeadJob>>)))]
pub async fn dead(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<DeadJob>>>, ApiError> {
    principal.require(Scope::Admin)?;
    let jobs = outbox::dead(&state.db, 500).await?;
    Ok(ok(jobs
        .into_iter()
        .map(|j| DeadJob {
            id: j.id,
            queue: j.queue,
            key: j.job_key,
            attempts: j.attempts,
            last_error: j.last_error,
            failed_at: j.finished_at,
        })
        .collect()))
}

/// `POST /admin/jobs/:id/requeue`
#[utoipa::path(post, path = "/admin/jobs/{id}/requeue", security(("bearer" = [])), params(("id" = String, Path, description = "The dead job's id")),
    responses((status = 200, body = Envelope<Requeued>), (status = 404, description = "No dead job with this id")))]
pub async fn requeue(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Requeued>>, ApiError> {
    principal.require(Scope::Admin)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("dead job"))?;
    if !outbox::requeue(&state.db, id).await? {
        return Err(ApiError::not_found("dead job"));
    }
    Ok(ok(Requeued { requeued: 1 }))
}

/// `POST /admin/jobs/requeue-dead`
#[utoipa::path(post, path = "/admin/jobs/requeue-dead", security(("bearer" = [])), responses((status = 200, body = Envelope<Requeued>)))]
pub async fn requeue_all(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Requeued>>, ApiError> {
    principal.require(Scope::Admin)?;
    let n = outbox::requeue_all_dead(&state.db).await?;
    Ok(ok(Requeued { requeued: n }))
}

/// `GET /admin/queues`: each queue, paused or not, with its job counts.
#[utoipa::path(get, path = "/admin/queues", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<QueueState>>)))]
pub async fn queues(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<Vec<QueueState>>>, ApiError> {
    principal.require(Scope::Admin)?;
    Ok(ok(billing::jobs::control::states(&state.db).await?))
}

async fn set_paused(
    state: &AppState,
    principal: &Principal,
    name: &str,
    pause: bool,
) -> Result<Json<Envelope<Paused>>, ApiError> {
    principal.require(Scope::Admin)?;
    let queue = billing::jobs::control::parse_queue(name).ok_or_else(|| ApiError::not_found("queue"))?;
    if pause {
        billing::jobs::control::pause(&state.db, queue).await?;
    } else {
        billing::jobs::control::resume(&state.db, queue).await?;
    }
    Ok(ok(Paused { queue, paused: pause }))
}

/// `POST /admin/queues/:queue/pause`: its jobs wait in the outbox (within `RELAY_INTERVAL_MS` on every worker).
#[utoipa::path(post, path = "/admin/queues/{queue}/pause", security(("bearer" = [])), params(("queue" = JobQueue, Path, description = "The queue")),
    responses((status = 200, body = Envelope<Paused>), (status = 404, description = "No such queue")))]
pub async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> Result<Json<Envelope<Paused>>, ApiError> {
    set_paused(&state, &principal, &queue, true).await
}

/// `POST /admin/queues/:queue/resume`
#[utoipa::path(post, path = "/admin/queues/{queue}/resume", security(("bearer" = [])), params(("queue" = JobQueue, Path, description = "The queue")),
    responses((status = 200, body = Envelope<Paused>), (status = 404, description = "No such queue")))]
pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(queue): Path<String>,
) -> Result<Json<Envelope<Paused>>, ApiError> {
    set_paused(&state, &principal, &queue, false).await
}
