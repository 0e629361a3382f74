//! The Stripe event inbox: the raw event stored once per event id, with its job, in one
//! transaction. Events arrive in batches ([`store_many`]): the api gathers concurrent
//! deliveries and commits them together, so the database does one commit for many
//! webhooks rather than one each.

use crate::error::DomainError;
use crate::jobs::QueuePolicy;
use crate::jobs::contracts::StripeEvent;
use crate::jobs::outbox;
use chrono::Utc;
use entities::StripeEventStatus;
use entities::stripe_events::{self, Column, Entity as Events};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, TryInsertResult,
};
use serde::Deserialize;
use std::collections::HashSet;
use uuid::Uuid;

/// The few fields we read at the door; the rest is kept raw for the worker.
#[derive(Debug, Clone, Deserialize)]
pub struct EventHead {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub livemode: bool,
}

impl EventHead {
    pub fn parse(raw: &[u8]) -> Result<EventHead, DomainError> {
        let head: EventHead =
            serde_json::from_slice(raw).map_err(|e| DomainError::Invalid(format!("malformed event: {e}")))?;
        if !head.id.starts_with("evt_") || head.id.len() > 255 || head.event_type.is_empty() {
            return Err(DomainError::Invalid("malformed event: bad id or type".into()));
        }
        Ok(head)
    }
}

/// One verified delivery: its head and the raw body, checked to be UTF-8 JSON.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub head: EventHead,
    pub raw: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// False for a redelivery of an event already in the inbox.
    pub new_event: bool,
    /// The job created for a new event, to push after commit.
    pub new_job: Option<Uuid>,
}

/// Stores the events and their jobs atomically and tells, per item (in order), whether it
/// was new. Redelivered events, in the inbox or repeated within the batch, change nothing.
/// On Postgres it is one statement, committed on its own: a transaction around two
/// inserts cost four round trips, each a wait the whole batch of requests shared.
pub async fn store_many(
    db: &DatabaseConnection,
    items: &[Incoming],
    policy: &QueuePolicy,
) -> Result<Vec<Stored>, DomainError> {
    let now = Utc::now();
    let mut seen = HashSet::new();
    let firsts: Vec<&Incoming> = items.iter().filter(|i| seen.insert(i.head.id.as_str())).collect();
    // A new event's job is new too; its key is derived from the event id.
    let jobs: Vec<StripeEvent> = firsts.iter().map(|i| StripeEvent { event_id: i.head.id.clone() }).collect();
    let job_ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
    let inserted = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        insert_new_with_jobs(db, &firsts, &jobs, &job_ids, policy, now).await?
    } else {
        let txn = crate::db::begin_write(db).await?;
        let inserted = insert_new(&txn, &firsts, now).await?;
        let (new_jobs, new_ids): (Vec<StripeEvent>, Vec<Uuid>) = jobs
            .iter()
            .zip(&job_ids)
            .filter(|(j, _)| inserted.contains(&j.event_id))
            .map(|(j, id)| (j.clone(), *id))
            .unzip();
        outbox::enqueue_many_with_ids(&txn, &new_jobs, &new_ids, policy).await?;
        txn.commit().await?;
        inserted
    };
    let job_of: std::collections::HashMap<&str, Uuid> =
        firsts.iter().map(|i| i.head.id.as_str()).zip(job_ids.iter().copied()).collect();
    let mut answered = HashSet::new();
    Ok(items
        .iter()
        .map(|i| {
            let first_in_batch = answered.insert(i.head.id.as_str());
            let new_event = first_in_batch && inserted.contains(&i.head.id);
            Stored { new_event, new_job: if new_event { job_of.get(i.head.id.as_str()).copied() } else { None } }
        })
        .collect())
}

/// Postgres: the events not in the inbox yet and, for each of those, its job, in one
/// statement (a data-modifying `WITH`: all of it commits or none); returns the event ids
/// inserted. Every column goes as one array, so one statement text serves a batch of any
/// size (see [`crate::db::one_of`]).
async fn insert_new_with_jobs(
    db: &DatabaseConnection,
    events: &[&Incoming],
    jobs: &[StripeEvent],
    job_ids: &[Uuid],
    policy: &QueuePolicy,
    now: chrono::DateTime<Utc>,
) -> Result<HashSet<String>, DomainError> {
    use crate::jobs::Job;
    let sql = format!(
        "WITH new_events AS (\
           INSERT INTO stripe_events (id, event_type, api_version, created, livemode, payload, status, received_at) \
           SELECT id, event_type, api_version, created, livemode, payload, $7, $8 \
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::text[]) \
           AS e(id, event_type, api_version, created, livemode, payload) \
           ON CONFLICT (id) DO NOTHING RETURNING id), \
         new_jobs AS ({}) \
         SELECT id FROM new_events",
        outbox::insert_jobs_sql(
            "SELECT j.id, $9::text, j.job_key, j.payload, $10::text, $11::int4, $8::timestamptz \
             FROM unnest($12::uuid[], $13::text[], $14::text[], $1::text[]) AS j(id, job_key, payload, event_id) \
             JOIN new_events n ON n.id = j.event_id"
        )
    );
    let payloads = jobs
        .iter()
        .map(|j| j.payload().map(|p| p.to_string()))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let values: Vec<sea_orm::Value> = vec![
        events.iter().map(|i| i.head.id.clone()).collect::<Vec<_>>().into(),
        events.iter().map(|i| i.head.event_type.clone()).collect::<Vec<_>>().into(),
        sea_orm::Value::Array(
            sea_orm::sea_query::ArrayType::String,
            Some(Box::new(events.iter().map(|i| sea_orm::Value::from(i.head.api_version.clone())).collect())),
        ),
        events.iter().map(|i| i.head.created).collect::<Vec<_>>().into(),
        events.iter().map(|i| i.head.livemode).collect::<Vec<_>>().into(),
        events.iter().map(|i| i.raw.clone()).collect::<Vec<_>>().into(),
        StripeEventStatus::Received.as_str().into(),
        now.into(),
        StripeEvent::QUEUE.as_str().into(),
        entities::JobStatus::Pending.as_str().into(),
        policy.max_attempts.into(),
        job_ids.to_vec().into(),
        jobs.iter().map(Job::key).collect::<Vec<_>>().into(),
        payloads.into(),
    ];
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(sea_orm::DatabaseBackend::Postgres, sql, values))
        .await?;
    Ok(rows.iter().map(|r| r.try_get::<String>("", "id")).collect::<Result<_, _>>()?)
}

/// SQLite: inserts the events not in the inbox yet, in the caller's transaction; returns
/// the ids inserted.
async fn insert_new<C: sea_orm::ConnectionTrait>(
    db: &C,
    events: &[&Incoming],
    now: chrono::DateTime<Utc>,
) -> Result<HashSet<String>, sea_orm::DbErr> {
    let rows = events.iter().map(|i| stripe_events::ActiveModel {
        id: Set(i.head.id.clone()),
        event_type: Set(i.head.event_type.clone()),
        api_version: Set(i.head.api_version.clone()),
        created: Set(i.head.created),
        livemode: Set(i.head.livemode),
        payload: Set(i.raw.clone()),
        status: Set(StripeEventStatus::Received),
        received_at: Set(now),
        processed_at: Set(None),
        last_error: Set(None),
    });
    Ok(match Events::insert_many(rows).on_conflict_do_nothing_on([Column::Id]).exec_with_returning_keys(db).await? {
        TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
        TryInsertResult::Conflicted | TryInsertResult::Empty => HashSet::new(),
    })
}

/// Records what became of an event.
pub async fn mark<C: sea_orm::ConnectionTrait>(
    db: &C,
    event_id: &str,
    status: StripeEventStatus,
    error: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::sea_query::Expr;
    Events::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::ProcessedAt, Expr::value(Some(Utc::now())))
        .col_expr(Column::LastError, Expr::value(error))
        .filter(Column::Id.eq(event_id))
        .exec(db)
        .await?;
    Ok(())
}
