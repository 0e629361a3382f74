//! Reconciliation for operators (admin scope): the report of what does not add up, with the
//! last run's findings (missed Stripe events, subscriptions that lagged behind Stripe), and
//! a run on demand.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, accepted, ok};
use crate::error::ApiError;
use crate::jobs::Finished;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::jobs::contracts::{Reconcile, ReconcileReport};
use billing::reconcile::Report;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationReport {
    #[serde(flatten)]
    report: Report,
    /// The last finished scheduled run: when, and what it found.
    last_run: Option<LastRun>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LastRun {
    at: Option<DateTime<Utc>>,
    result: Option<ReconcileReport>,
}

/// A run on demand: its findings, or its job id while it is still running.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutcome {
    job_id: Uuid,
    /// Present once the run has finished: missed Stripe events, subscriptions that differed, discrepancies.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ReconcileReport>,
    /// `pending` while it is still running.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

/// How long a run on demand is waited for before answering 202.
const RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// `GET /admin/reconciliation`
#[utoipa::path(get, path = "/admin/reconciliation", security(("bearer" = [])), responses((status = 200, body = Envelope<ReconciliationReport>)))]
pub async fn report(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<ReconciliationReport>>, ApiError> {
    principal.require(Scope::Admin)?;
    let report = billing::reconcile::report(&state.db).await?;
    let last = billing::reconcile::last_run(&state.db).await?;
    let last_run = last.map(|(at, result)| LastRun { at, result });
    Ok(ok(ReconciliationReport { report, last_run }))
}

/// `POST /admin/reconciliation/run`: reconcile now; the run's findings.
#[utoipa::path(post, path = "/admin/reconciliation/run", security(("bearer" = [])), responses(
    (status = 200, description = "Finished: its findings", body = Envelope<RunOutcome>),
    (status = 202, description = "Still running after 20 s", body = Envelope<RunOutcome>),
    (status = 502, description = "The run failed")))]
pub async fn run(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Admin)?;
    let run = Reconcile { window: format!("manual:{}", uuid::Uuid::now_v7()) };
    let job = state.submit(&state.db, &run).await?;
    state.dispatch::<Reconcile>(job).await;
    Ok(match state.wait_for::<Reconcile>(job.job_id, RUN_WAIT).await? {
        Finished::Done(result) => {
            ok(RunOutcome { job_id: job.job_id, result: Some(result), status: None }).into_response()
        }
        Finished::Dead(error) => {
            return Err(ApiError::new(StatusCode::BAD_GATEWAY, "reconcile_failed", error.unwrap_or_default()));
        }
        Finished::Running(_) => {
            accepted(RunOutcome { job_id: job.job_id, result: None, status: Some("pending".to_owned()) })
                .into_response()
        }
    })
}
