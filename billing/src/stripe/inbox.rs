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
use entities::jobs::{Column as JobCol, Entity as Jobs};
use entities::stripe_events::{self, Column, Entity as Events};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait, TryInsertResult,
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
    let txn = db.begin().await?;
    let rows = firsts.iter().map(|i| stripe_events::ActiveModel {
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
    let inserted: HashSet<String> =
        match Events::insert_many(rows).on_conflict_do_nothing_on([Column::Id]).exec_with_returning_keys(&txn).await? {
            TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
            TryInsertResult::Conflicted | TryInsertResult::Empty => HashSet::new(),
        };
    // A new event's job is new too; its key is derived from the event id.
    let mut job_of = std::collections::HashMap::new();
    let mut job_rows = Vec::new();
    for i in firsts.iter().filter(|i| inserted.contains(&i.head.id)) {
        let row = outbox::new_row(&StripeEvent { event_id: i.head.id.clone() }, policy)?;
        if let sea_orm::ActiveValue::Set(id) = row.id {
            job_of.insert(i.head.id.clone(), id);
        }
        job_rows.push(row);
    }
    if !job_rows.is_empty() {
        Jobs::insert_many(job_rows).on_conflict_do_nothing_on([JobCol::JobKey]).exec_without_returning(&txn).await?;
    }
    txn.commit().await?;
    let mut answered = HashSet::new();
    Ok(items
        .iter()
        .map(|i| {
            let first_in_batch = answered.insert(i.head.id.as_str());
            let new_event = first_in_batch && inserted.contains(&i.head.id);
            Stored { new_event, new_job: if new_event { job_of.get(&i.head.id).copied() } else { None } }
        })
        .collect())
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
