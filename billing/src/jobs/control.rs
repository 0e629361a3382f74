//! Pausing and resuming a queue. A paused queue's jobs stay in the outbox: workers do not
//! claim them, and give back those they had claimed but not started. Resuming also makes
//! any `dispatched` rows (a state older versions left) due at once.

use chrono::Utc;
use entities::JobQueue;
use entities::JobStatus;
use entities::jobs::{Column as JobCol, Entity as Jobs};
use entities::queue_controls::{self, Column, Entity as Controls};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::HashSet;

async fn set<C: ConnectionTrait>(db: &C, queue: JobQueue, paused: bool) -> Result<(), DbErr> {
    Controls::insert(queue_controls::ActiveModel {
        queue: Set(queue),
        paused: Set(paused),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(OnConflict::column(Column::Queue).update_columns([Column::Paused, Column::UpdatedAt]).to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn pause<C: ConnectionTrait>(db: &C, queue: JobQueue) -> Result<(), DbErr> {
    set(db, queue, true).await
}

pub async fn resume<C: ConnectionTrait>(db: &C, queue: JobQueue) -> Result<(), DbErr> {
    set(db, queue, false).await?;
    Jobs::update_many()
        .col_expr(JobCol::AvailableAt, Expr::value(Utc::now()))
        .filter(JobCol::Queue.eq(queue))
        .filter(JobCol::Status.eq(JobStatus::Dispatched))
        .exec(db)
        .await?;
    Ok(())
}

/// The queues paused now.
pub async fn paused<C: ConnectionTrait>(db: &C) -> Result<HashSet<JobQueue>, DbErr> {
    Ok(Controls::find().filter(Column::Paused.eq(true)).all(db).await?.into_iter().map(|c| c.queue).collect())
}

/// A queue's state for operators: paused or not, and how many jobs in each status.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueState {
    pub queue: JobQueue,
    pub paused: bool,
    pub pending: u64,
    pub dispatched: u64,
    pub running: u64,
    pub dead: u64,
    /// How long the oldest job due and not started has waited, in seconds (0: none waits).
    pub oldest_age_seconds: i64,
}

pub async fn states<C: ConnectionTrait>(db: &C) -> Result<Vec<QueueState>, DbErr> {
    use sea_orm::{Iterable, QuerySelect};
    // Unfinished jobs by status, and dead ones, each read off its own partial index.
    let mut counts: Vec<(JobQueue, JobStatus, i64)> = Jobs::find()
        .select_only()
        .column(JobCol::Queue)
        .column(JobCol::Status)
        .column_as(JobCol::Id.count(), "n")
        .filter(JobCol::FinishedAt.is_null())
        .group_by(JobCol::Queue)
        .group_by(JobCol::Status)
        .into_tuple()
        .all(db)
        .await?;
    let dead: Vec<(JobQueue, i64)> = Jobs::find()
        .select_only()
        .column(JobCol::Queue)
        .column_as(JobCol::Id.count(), "n")
        .filter(JobCol::DeadAt.is_not_null())
        .group_by(JobCol::Queue)
        .into_tuple()
        .all(db)
        .await?;
    counts.extend(dead.into_iter().map(|(q, n)| (q, JobStatus::Dead, n)));
    let paused = paused(db).await?;
    // The oldest due job per queue, read off the partial index of unfinished jobs.
    let now = chrono::Utc::now();
    let oldest: Vec<(JobQueue, Option<chrono::DateTime<chrono::Utc>>)> = Jobs::find()
        .select_only()
        .column(JobCol::Queue)
        .column_as(JobCol::AvailableAt.min(), "oldest")
        .filter(JobCol::FinishedAt.is_null())
        .filter(JobCol::Status.is_in([JobStatus::Pending, JobStatus::Dispatched]))
        .filter(JobCol::AvailableAt.lte(now))
        .group_by(JobCol::Queue)
        .into_tuple()
        .all(db)
        .await?;
    Ok(JobQueue::iter()
        .map(|queue| {
            let n = |status: JobStatus| {
                counts.iter().filter(|(q, s, _)| *q == queue && *s == status).map(|(_, _, n)| *n as u64).sum()
            };
            QueueState {
                queue,
                paused: paused.contains(&queue),
                pending: n(JobStatus::Pending),
                dispatched: n(JobStatus::Dispatched),
                running: n(JobStatus::Running),
                dead: n(JobStatus::Dead),
                oldest_age_seconds: oldest
                    .iter()
                    .find(|(q, _)| *q == queue)
                    .and_then(|(_, at)| *at)
                    .map_or(0, |at| (now - at).num_seconds().max(0)),
            }
        })
        .collect())
}

/// A queue by its name (`stripe_event`, `checkout`, …).
pub fn parse_queue(name: &str) -> Option<JobQueue> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}
