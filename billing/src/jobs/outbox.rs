//! The job outbox: enqueue in the producer's transaction, claim due jobs in batches, record
//! outcomes (successes in batches too).

use super::contracts::{Job, QueuePolicy};
use chrono::{DateTime, Utc};
use entities::jobs::{self, Column, Entity as Jobs};
use entities::{JobQueue, JobStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub job_id: Uuid,
    /// False when a job with the same key already existed: nothing new was enqueued.
    pub created: bool,
}

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A new outbox row for `job`, due at once.
pub fn new_row<J: Job>(job: &J, policy: &QueuePolicy) -> Result<jobs::ActiveModel, DbErr> {
    let now = Utc::now();
    Ok(jobs::ActiveModel {
        id: Set(Uuid::now_v7()),
        queue: Set(J::QUEUE),
        job_key: Set(job.key()),
        payload: Set(job.payload().map_err(|e| DbErr::Custom(e.to_string()))?),
        status: Set(JobStatus::Pending),
        attempts: Set(0),
        max_attempts: Set(policy.max_attempts),
        available_at: Set(now),
        last_error: Set(None),
        result: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        dead_at: Set(None),
    })
}

/// Writes the job's outbox row on `db`, which should be the transaction of the intent the
/// job serves; it is due at once, and the producer wakes a worker once it commits.
pub async fn enqueue<C: ConnectionTrait, J: Job>(db: &C, job: &J, policy: &QueuePolicy) -> Result<Enqueued, DbErr> {
    let id = Uuid::now_v7();
    let row = jobs::ActiveModel { id: Set(id), ..new_row(job, policy)? };
    let inserted = Jobs::insert(row).on_conflict_do_nothing_on([Column::JobKey]).exec_without_returning(db).await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Enqueued { job_id: id, created: true });
    }
    let existing = Jobs::find()
        .filter(Column::JobKey.eq(job.key()))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("job after key conflict".into()))?;
    Ok(Enqueued { job_id: existing.id, created: false })
}

/// Writes the outbox rows of many new jobs of one kind on `db`, the producers'
/// transaction, each due at once; a job whose key exists already is left as it was.
/// Returns the id given to each job, in order (for a job that existed, not its row's).
/// On Postgres the rows go as one array per column, so one statement text serves a batch
/// of any size (see [`crate::db::one_of`]).
pub async fn enqueue_many<C: ConnectionTrait, J: Job>(
    db: &C,
    jobs: &[J],
    policy: &QueuePolicy,
) -> Result<Vec<Uuid>, DbErr> {
    let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
    enqueue_many_with_ids(db, jobs, &ids, policy).await?;
    Ok(ids)
}

/// As [`enqueue_many`], each job with the id given beside it (`ids`, in order).
pub async fn enqueue_many_with_ids<C: ConnectionTrait, J: Job>(
    db: &C,
    jobs: &[J],
    ids: &[Uuid],
    policy: &QueuePolicy,
) -> Result<(), DbErr> {
    if jobs.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        let rows = jobs
            .iter()
            .zip(ids)
            .map(|(j, id)| Ok(jobs::ActiveModel { id: Set(*id), ..new_row(j, policy)? }))
            .collect::<Result<Vec<_>, DbErr>>()?;
        Jobs::insert_many(rows).on_conflict_do_nothing_on([Column::JobKey]).exec_without_returning(db).await?;
        return Ok(());
    }
    let keys: Vec<String> = jobs.iter().map(Job::key).collect();
    let payloads = jobs
        .iter()
        .map(|j| j.payload().map(|p| p.to_string()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let sql = insert_jobs_sql(
        "SELECT id, $4::text, job_key, payload, $5::text, $6::int4, $7::timestamptz \
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS j(id, job_key, payload)",
    );
    let values: Vec<sea_orm::Value> = vec![
        ids.to_vec().into(),
        keys.into(),
        payloads.into(),
        J::QUEUE.as_str().into(),
        JobStatus::Pending.as_str().into(),
        policy.max_attempts.into(),
        Utc::now().into(),
    ];
    db.execute_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// Postgres: the statement that writes new jobs, due at once, from `rows`, a query giving
/// (id, queue, job key, payload as JSON text, status, max attempts, now) for each; a job
/// whose key exists already is left as it was. Shared by [`enqueue_many_with_ids`] and
/// the inbox, which writes its events and their jobs in one statement.
pub fn insert_jobs_sql(rows: &str) -> String {
    format!(
        "INSERT INTO jobs (id, queue, job_key, payload, status, attempts, max_attempts, available_at, created_at, \
         updated_at) \
         SELECT id, queue, job_key, payload::jsonb, status, 0, max_attempts, at, at, at \
         FROM ({rows}) AS r(id, queue, job_key, payload, status, max_attempts, at) \
         ON CONFLICT (job_key) DO NOTHING"
    )
}

/// Claims up to `limit` due jobs of `queue` in one round trip: new ones, retries whose
/// backoff ended, and runs whose lease expired (their worker died; a run itself is bounded
/// by its time limit). Each claimed row is `running` from now, with one more attempt; its
/// lease runs `lease` from `started_at`. On Postgres `FOR UPDATE SKIP LOCKED` lets workers
/// claim side by side, each row once.
///
/// A claim changes no indexed column (a running job keeps its due time): on Postgres it is
/// a heap-only update that writes no index entry (`jobs_open_idx`, see its migration). The
/// price is that a claim reads past the queue's running jobs, which stay at the front of
/// the index: at most a few claims' worth, all on pages just written.
pub async fn claim_batch(
    db: &sea_orm::DatabaseConnection,
    queue: JobQueue,
    limit: u64,
    lease: Duration,
) -> Result<Vec<jobs::Model>, DbErr> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let stale = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let backend = db.get_database_backend();
    // Due: not finished, due by now, and not running under a live lease. `pending` (new,
    // or a retry whose backoff ended) and `dispatched` (a state older versions left) are
    // claimable; `running` only once its lease has expired. One range over the partial
    // index of unfinished jobs by (queue, available_at), read in order: no scan, no sort.
    let due = "queue = {q} AND finished_at IS NULL AND available_at <= {now} \
               AND (status <> 'running' OR started_at IS NULL OR started_at <= {stale})";
    let (sql, values): (String, Vec<sea_orm::Value>) = match backend {
        DatabaseBackend::Postgres => (
            format!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = $2, started_at = $2 \
                 WHERE id IN (SELECT id FROM jobs WHERE {} ORDER BY available_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING *",
                due.replace("{q}", "$1").replace("{now}", "$2").replace("{stale}", "$3")
            ),
            vec![queue.as_str().into(), now.into(), stale.into(), (limit as i64).into()],
        ),
        // SQLite runs one writer at a time: the subquery and the update cannot interleave.
        _ => (
            format!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?, started_at = ? \
                 WHERE id IN (SELECT id FROM jobs WHERE {} ORDER BY available_at LIMIT ?) RETURNING *",
                due.replace("{q}", "?").replace("{now}", "?").replace("{stale}", "?")
            ),
            vec![now.into(), now.into(), queue.as_str().into(), now.into(), stale.into(), (limit as i64).into()],
        ),
    };
    Jobs::find().from_raw_sql(sea_orm::Statement::from_sql_and_values(backend, sql, values)).all(db).await
}

/// Gives claimed jobs that never started back to the outbox, their attempt not spent.
/// They keep their due time, so they are next in line again (and the update stays in
/// place: no index names what it changes).
pub async fn release<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<u64, DbErr> {
    give_back(db, ids, None).await
}

/// Running jobs back to pending with their attempt not spent, due again at `at` if given
/// (else where they stood in line).
async fn give_back<C: ConnectionTrait>(db: &C, ids: &[Uuid], at: Option<DateTime<Utc>>) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut update = Jobs::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(crate::db::one_of(db.get_database_backend(), Column::Id, ids.to_vec()))
        .filter(Column::Status.eq(JobStatus::Running));
    if let Some(at) = at {
        update = update.col_expr(Column::AvailableAt, Expr::value(at));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Gives a running job back to the outbox, its attempt not spent, due at `at`: it stepped
/// aside while another job does its work (and may end it meanwhile, as pending).
pub async fn defer<C: ConnectionTrait>(db: &C, job_id: Uuid, at: DateTime<Utc>) -> Result<bool, DbErr> {
    Ok(give_back(db, &[job_id], Some(at)).await? == 1)
}

/// Ends, as done, the waiting jobs `ids` whose work the caller's transaction `db` has just
/// done itself (a batch that applied their events beside its own, having taken their rows
/// with `FOR UPDATE SKIP LOCKED`): in that same transaction, so they end exactly when their
/// work commits, and no worker claims, runs and completes them only to find nothing left
/// to do. A job claimed meanwhile is left to its run. Returns how many were ended.
pub async fn settle_done_by_others<C: ConnectionTrait>(db: &C, ids: &[Uuid]) -> Result<u64, DbErr> {
    let mut settled = 0;
    let now = Utc::now();
    for chunk in ids.chunks(1_000) {
        let res = Jobs::update_many()
            .col_expr(Column::Status, Expr::value(JobStatus::Done.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(crate::db::one_of(db.get_database_backend(), Column::Id, chunk.to_vec()))
            .filter(Column::Status.is_in([JobStatus::Pending.as_str(), "dispatched"]))
            .exec(db)
            .await?;
        settled += res.rows_affected;
    }
    Ok(settled)
}

/// Records many finished runs: those without a result in one statement, each result
/// beside its job. One round trip for a batch of no-result jobs, which most are.
pub async fn complete_many<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    done: &[(Uuid, Option<serde_json::Value>)],
) -> Result<(), DbErr> {
    let bare: Vec<Uuid> = done.iter().filter(|(_, r)| r.is_none()).map(|(id, _)| *id).collect();
    let with_result: Vec<&(Uuid, Option<serde_json::Value>)> = done.iter().filter(|(_, r)| r.is_some()).collect();
    if !bare.is_empty() {
        let now = Utc::now();
        Jobs::update_many()
            .col_expr(Column::Status, Expr::value(JobStatus::Done.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(crate::db::one_of(db.get_database_backend(), Column::Id, bare))
            .exec(db)
            .await?;
    }
    for (id, result) in with_result {
        complete(db, *id, result.clone()).await?;
    }
    Ok(())
}

/// Records a finished run and its result (what a caller waiting on the job reads).
pub async fn complete<C: ConnectionTrait>(
    db: &C,
    job_id: Uuid,
    result: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    Jobs::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Done.as_str()))
        .col_expr(Column::Result, Expr::value(result))
        .col_expr(Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(job_id))
        .exec(db)
        .await?;
    Ok(())
}

/// What became of a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    RetryAt(DateTime<Utc>),
    Dead,
}

/// Records a failed run: back to pending after a backoff with jitter when the error is
/// retryable and attempts remain, otherwise dead-lettered with its last error.
pub async fn fail<C: ConnectionTrait>(
    db: &C,
    job: &jobs::Model,
    error: &str,
    retryable: bool,
    policy: &QueuePolicy,
) -> Result<Failure, DbErr> {
    let now = Utc::now();
    let error: String = error.chars().take(2000).collect();
    let outcome = if retryable && job.attempts < job.max_attempts {
        let jitter = rand::random::<f64>();
        Failure::RetryAt(after(now, policy.backoff(job.attempts, jitter)))
    } else {
        Failure::Dead
    };
    let mut update = Jobs::update_many()
        .col_expr(Column::LastError, Expr::value(Some(error)))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(job.id));
    update = match outcome {
        Failure::RetryAt(at) => update
            .col_expr(Column::Status, Expr::value(JobStatus::Pending.as_str()))
            .col_expr(Column::AvailableAt, Expr::value(at)),
        Failure::Dead => update
            .col_expr(Column::Status, Expr::value(JobStatus::Dead.as_str()))
            .col_expr(Column::FinishedAt, Expr::value(Some(now)))
            .col_expr(Column::DeadAt, Expr::value(Some(now))),
    };
    update.exec(db).await?;
    Ok(outcome)
}

/// Puts a dead job back in line with a fresh attempt budget.
pub async fn requeue<C: ConnectionTrait>(db: &C, job_id: Uuid) -> Result<bool, DbErr> {
    Ok(requeue_dead_where(db, Column::Id.eq(job_id)).await? == 1)
}

/// Puts every dead job back in line; returns how many.
pub async fn requeue_all_dead<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    requeue_dead_where(db, sea_orm::sea_query::SimpleExpr::Constant(true.into())).await
}

async fn requeue_dead_where<C: ConnectionTrait>(db: &C, which: sea_orm::sea_query::SimpleExpr) -> Result<u64, DbErr> {
    let now = Utc::now();
    let res = Jobs::update_many()
        .col_expr(Column::Status, Expr::value(JobStatus::Pending.as_str()))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::AvailableAt, Expr::value(now))
        .col_expr(Column::FinishedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(Column::DeadAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(which)
        .filter(Column::DeadAt.is_not_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

pub async fn dead<C: ConnectionTrait>(db: &C, limit: u64) -> Result<Vec<jobs::Model>, DbErr> {
    Jobs::find().filter(Column::DeadAt.is_not_null()).order_by(Column::DeadAt, Order::Desc).limit(limit).all(db).await
}

/// Jobs not yet done or dead: zero means every queue is drained.
pub async fn unfinished<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    Jobs::find().filter(Column::FinishedAt.is_null()).count(db).await
}

pub async fn find<C: ConnectionTrait>(db: &C, job_id: Uuid) -> Result<Option<jobs::Model>, DbErr> {
    Jobs::find_by_id(job_id).one(db).await
}

/// Waits up to `timeout` for a job to finish (done or dead), polling the outbox. Returns
/// the row as last seen, finished or not: callers answer 202 when it is not.
pub async fn wait_finished<C: ConnectionTrait>(
    db: &C,
    job_id: Uuid,
    timeout: Duration,
) -> Result<Option<jobs::Model>, DbErr> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = find(db, job_id).await?;
        let finished = job.as_ref().is_none_or(|j| matches!(j.status, JobStatus::Done | JobStatus::Dead));
        if finished || tokio::time::Instant::now() >= deadline {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Brings a job waiting out a retry backoff forward to now: a caller asking again (a
/// client re-verifying a transfer after more blocks) should not wait for the backoff.
pub async fn hurry<C: ConnectionTrait>(db: &C, job_id: Uuid) -> Result<bool, DbErr> {
    let now = Utc::now();
    let res = Jobs::update_many()
        .col_expr(Column::AvailableAt, Expr::value(now))
        .filter(Column::Id.eq(job_id))
        .filter(Column::Status.eq(JobStatus::Pending))
        .filter(Column::Attempts.gt(0))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The newest finished job of `queue` whose key starts with `prefix` (the last scheduled
/// run of a periodic job).
pub async fn last_done<C: ConnectionTrait>(
    db: &C,
    queue: JobQueue,
    prefix: &str,
) -> Result<Option<jobs::Model>, DbErr> {
    Jobs::find()
        .filter(Column::Queue.eq(queue))
        .filter(Column::JobKey.starts_with(prefix))
        .filter(Column::Status.eq(JobStatus::Done))
        .order_by(Column::FinishedAt, Order::Desc)
        .one(db)
        .await
}
