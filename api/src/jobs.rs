//! Submitting a job from a request and waiting briefly for it: the one path every route
//! takes. The job is recorded in the outbox (in the caller's transaction when the intent it
//! serves is written there too), pushed once committed, and its typed result read back.

use crate::error::ApiError;
use crate::state::AppState;
use billing::jobs::Job;
use billing::jobs::outbox::{self, Enqueued};
use entities::JobStatus;
use sea_orm::ConnectionTrait;
use std::time::Duration;
use uuid::Uuid;

/// What became of a job after the wait.
#[derive(Debug)]
pub enum Finished<T> {
    Done(T),
    /// It used up its retries; its last error (for the log, never for the client).
    Dead(Option<String>),
    /// Still queued or running: the client polls.
    Running(Uuid),
}

impl AppState {
    /// Records `job` on `db` (the caller commits it). The push waits for [`AppState::dispatch`].
    pub async fn submit<J: Job, C: ConnectionTrait>(&self, db: &C, job: &J) -> Result<Enqueued, ApiError> {
        Ok(outbox::enqueue(db, job, &self.settings.queue(J::QUEUE)).await?)
    }

    /// Pushes a committed job if it is new (a job that existed is queued or done already).
    pub async fn dispatch<J: Job>(&self, enqueued: Enqueued) {
        if enqueued.created {
            self.wake_worker(J::QUEUE, enqueued.job_id).await;
        }
    }

    /// Waits up to `wait` for a job to finish, and reads its typed result.
    pub async fn wait_for<J: Job>(&self, job_id: Uuid, wait: Duration) -> Result<Finished<J::Output>, ApiError> {
        let job = outbox::wait_finished(&self.db, job_id, wait)
            .await?
            .ok_or_else(|| ApiError::internal(format!("{} job vanished", J::NAME)))?;
        Ok(match job.status {
            JobStatus::Done => {
                let stored = job.result.unwrap_or(serde_json::Value::Null);
                let output = serde_json::from_value(stored)
                    .map_err(|e| ApiError::internal(format!("unreadable {} result: {e}", J::NAME)))?;
                Finished::Done(output)
            }
            JobStatus::Dead => Finished::Dead(job.last_error),
            _ => Finished::Running(job.id),
        })
    }

    /// [`AppState::submit`] on its own, [`AppState::dispatch`], then [`AppState::wait_for`].
    pub async fn submit_and_wait<J: Job>(&self, job: &J, wait: Duration) -> Result<Finished<J::Output>, ApiError> {
        let enqueued = self.submit(&self.db, job).await?;
        self.dispatch::<J>(enqueued).await;
        self.wait_for::<J>(enqueued.job_id, wait).await
    }
}
