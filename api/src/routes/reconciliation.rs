//! Reconciliation for operators (admin scope): the report of what does not add up, with the
//! last run's findings (missed Stripe events, subscriptions that lagged behind Stripe), and
//! a run on demand.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::routes::credits::ok;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::{JobPayload, JobQueue, outbox};
use entities::JobStatus;
use entities::jobs::{Column, Entity as Jobs};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

/// How long a run on demand is waited for before answering 202.
const RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// `GET /admin/reconciliation`
#[utoipa::path(get, path = "/admin/reconciliation", security(("bearer" = [])), responses((status = 200), (status = 403)))]
pub async fn report(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let report = billing::reconcile::report(&state.db).await?;
    let last = Jobs::find()
        .filter(Column::Queue.eq(JobQueue::Reconcile))
        .filter(Column::JobKey.starts_with("reconcile:"))
        .filter(Column::Status.eq(JobStatus::Done))
        .order_by_desc(Column::FinishedAt)
        .one(&state.db)
        .await?;
    let mut body = serde_json::to_value(report).map_err(ApiError::internal)?;
    body["lastRun"] = json!(last.map(|j| json!({"at": j.finished_at, "result": j.result})));
    Ok(ok(body).into_response())
}

/// `POST /admin/reconciliation/run`: reconcile now; the run's findings.
#[utoipa::path(post, path = "/admin/reconciliation/run", security(("bearer" = [])), responses((status = 200), (status = 202), (status = 403)))]
pub async fn run(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let payload = JobPayload::Reconcile { window: format!("manual:{}", uuid::Uuid::now_v7()) };
    let job =
        outbox::enqueue(&state.db, &payload, &state.settings.queue(JobQueue::Reconcile), billing::jobs::PUSH_GRACE)
            .await?;
    state.push_job(JobQueue::Reconcile, job.job_id).await;
    let done = outbox::wait_finished(&state.db, job.job_id, RUN_WAIT).await?;
    Ok(match done {
        Some(j) if j.status == JobStatus::Done => ok(json!({"jobId": j.id, "result": j.result})).into_response(),
        Some(j) if j.status == JobStatus::Dead => {
            return Err(ApiError::new(StatusCode::BAD_GATEWAY, "reconcile_failed", j.last_error.unwrap_or_default()));
        }
        _ => (StatusCode::ACCEPTED, ok(json!({"jobId": job.job_id, "status": "pending"}))).into_response(),
    })
}
