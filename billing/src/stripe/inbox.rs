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
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TryInsertResult};
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

/// Stores the events and their jobs in one transaction and tells, per item (in order),
/// whether it was new. Redelivered events, in the inbox or repeated within the batch,
/// change nothing.
pub async fn store_many(
    db: &DatabaseConnection,
    items: &[Incoming],
    policy: &QueuePolicy,
) -> Result<Vec<Stored>, DomainError> {
    let now = Utc::now();
    let mut seen = HashSet::new();
    let firsts: Vec<&Incoming> = items.iter().filter(|i| seen.insert(i.head.id.as_str())).collect();
    let txn = crate::db::begin_write(db).await?;
    let inserted = insert_new(&txn, &firsts, now).await?;
    // A new event's job is new too; its key is derived from the event id.
    let new_events: Vec<&&Incoming> = firsts.iter().filter(|i| inserted.contains(&i.head.id)).collect();
    let jobs: Vec<StripeEvent> = new_events.iter().map(|i| StripeEvent { event_id: i.head.id.clone() }).collect();
    let ids = outbox::enqueue_many(&txn, &jobs, policy).await?;
    let job_of: std::collections::HashMap<&str, uuid::Uuid> =
        new_events.iter().map(|i| i.head.id.as_str()).zip(ids).collect();
    txn.commit().await?;
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

/// Inserts the events not in the inbox yet; returns the ids inserted. On Postgres the rows
/// go as one array per column, so one statement text serves a batch of any size (see
/// [`crate::db::one_of`]): ingestion's batches differ in size from one to the next.
async fn insert_new<C: sea_orm::ConnectionTrait>(
    db: &C,
    events: &[&Incoming],
    now: chrono::DateTime<Utc>,
) -> Result<HashSet<String>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    if backend != sea_orm::DatabaseBackend::Postgres {
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
        return Ok(
            match Events::insert_many(rows).on_conflict_do_nothing_on([Column::Id]).exec_with_returning_keys(db).await?
            {
                TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
                TryInsertResult::Conflicted | TryInsertResult::Empty => HashSet::new(),
            },
        );
    }
    let sql = "INSERT INTO stripe_events (id, event_type, api_version, created, livemode, payload, status, \
               received_at) \
               SELECT id, event_type, api_version, created, livemode, payload, $7, $8 \
               FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::text[]) \
               AS e(id, event_type, api_version, created, livemode, payload) \
               ON CONFLICT (id) DO NOTHING RETURNING id";
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
    ];
    let rows = db.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.iter().map(|r| r.try_get::<String>("", "id")).collect()
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
