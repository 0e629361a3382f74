//! The Stripe event inbox: the raw event stored once per event id, with its job.

use crate::error::DomainError;
use crate::jobs::outbox::{self, Enqueued};
use crate::jobs::{JobPayload, QueuePolicy};
use chrono::Utc;
use entities::StripeEventStatus;
use entities::stripe_events::{self, Column, Entity as Events};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, TransactionTrait};
use serde::Deserialize;
use std::time::Duration;

/// The few fields we read at the door; the rest is kept raw for the worker.
#[derive(Debug, Deserialize)]
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

#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub job: Enqueued,
    /// False for a redelivery of an event already in the inbox.
    pub new_event: bool,
}

/// Stores the event and its job in one transaction. A redelivered event changes nothing.
pub async fn store(
    db: &DatabaseConnection,
    head: &EventHead,
    raw: &[u8],
    policy: &QueuePolicy,
    push_grace: Duration,
) -> Result<Stored, DomainError> {
    let payload = std::str::from_utf8(raw).map_err(|_| DomainError::Invalid("event is not UTF-8".into()))?;
    let txn = db.begin().await?;
    let inserted = Events::insert(stripe_events::ActiveModel {
        id: Set(head.id.clone()),
        event_type: Set(head.event_type.clone()),
        api_version: Set(head.api_version.clone()),
        created: Set(head.created),
        livemode: Set(head.livemode),
        payload: Set(payload.to_owned()),
        status: Set(StripeEventStatus::Received),
        received_at: Set(Utc::now()),
        processed_at: Set(None),
        last_error: Set(None),
    })
    .on_conflict_do_nothing_on([Column::Id])
    .exec_without_returning(&txn)
    .await?;
    let new_event = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
    let job = outbox::enqueue(&txn, &JobPayload::StripeEvent { event_id: head.id.clone() }, policy, push_grace).await?;
    txn.commit().await?;
    Ok(Stored { job, new_event })
}

/// Records what became of an event.
pub async fn mark<C: sea_orm::ConnectionTrait>(
    db: &C,
    event_id: &str,
    status: StripeEventStatus,
    error: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::QueryFilter;
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
