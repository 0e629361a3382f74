//! Creem events in the provider inbox (the table Stripe's events use), stored once under
//! `creem:<event id>` with their job, in one transaction; a redelivery changes nothing.

use super::events::EventHead;
use crate::error::DomainError;
use crate::jobs::contracts::CreemEvent;
use crate::jobs::{QueuePolicy, outbox};
use chrono::Utc;
use entities::StripeEventStatus;
use entities::stripe_events::{self, Column, Entity as Events};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

/// The inbox key of a Creem event.
pub fn inbox_id(event_id: &str) -> String {
    format!("creem:{event_id}")
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// False for a redelivery of an event already in the inbox.
    pub new_event: bool,
    /// The job of a new event, to wake a worker for after commit.
    pub new_job: Option<Uuid>,
}

/// Stores a verified delivery and its job.
pub async fn store(
    db: &DatabaseConnection,
    head: &EventHead,
    raw: String,
    policy: &QueuePolicy,
) -> Result<Stored, DomainError> {
    let id = inbox_id(&head.id);
    let txn = crate::db::begin_write(db).await?;
    let inserted = Events::insert(stripe_events::ActiveModel {
        id: Set(id.clone()),
        event_type: Set(head.event_type.clone()),
        api_version: Set(None),
        created: Set(head.created_at / 1000),
        livemode: Set(!raw.contains(r#""mode":"test""#)),
        payload: Set(raw),
        status: Set(StripeEventStatus::Received),
        received_at: Set(Utc::now()),
        processed_at: Set(None),
        last_error: Set(None),
    })
    .on_conflict_do_nothing_on([Column::Id])
    .exec_without_returning(&txn)
    .await?;
    if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        txn.rollback().await?;
        return Ok(Stored { new_event: false, new_job: None });
    }
    let job = outbox::enqueue(&txn, &CreemEvent { event_id: head.id.clone() }, policy).await?;
    txn.commit().await?;
    Ok(Stored { new_event: true, new_job: job.created.then_some(job.job_id) })
}
