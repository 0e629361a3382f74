//! Gauges: readings of a current level (`concurrent_tasks`, `team_seats`) reported as
//! `kind: gauge` usage events. Unlike counted usage they are not summed: the latest reading
//! per account and metric is kept, and plan limits of that resource are checked against it.
//!
//! A reading is applied when it is taken later than the one held (by timestamp, then event
//! id): the gateway may send readings twice or out of order and the latest one stands.
//! Readings are written by the api as they arrive, not through a metering job: applying one
//! again changes nothing, so they need no exactly-once machinery.

use crate::AccountId;
use crate::error::DomainError;
use chrono::{DateTime, Utc};
use entities::usage_gauges::{self, Column, Entity as Gauges};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

/// One reading of a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub account_id: AccountId,
    pub metric: String,
    pub value: i64,
    pub at: DateTime<Utc>,
    pub event_id: String,
}

impl Reading {
    fn order(&self) -> (DateTime<Utc>, &str) {
        (self.at, &self.event_id)
    }
}

/// Applies readings in one statement: per account and metric the latest of them, and only
/// where it is later than the reading held.
pub async fn apply<C: ConnectionTrait>(db: &C, readings: Vec<Reading>) -> Result<(), DomainError> {
    // One row per key in a statement (Postgres refuses to update a row twice in one upsert).
    let mut latest: HashMap<(AccountId, String), Reading> = HashMap::new();
    for r in readings {
        match latest.get(&(r.account_id, r.metric.clone())) {
            Some(held) if held.order() >= r.order() => {}
            _ => {
                latest.insert((r.account_id, r.metric.clone()), r);
            }
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = latest.into_values().map(|r| usage_gauges::ActiveModel {
        account_id: Set(r.account_id),
        metric: Set(r.metric),
        value: Set(r.value),
        observed_at: Set(r.at),
        event_id: Set(r.event_id),
        updated_at: Set(now),
    });
    Gauges::insert_many(rows)
        .on_conflict(
            OnConflict::columns([Column::AccountId, Column::Metric])
                .update_columns([Column::Value, Column::ObservedAt, Column::EventId, Column::UpdatedAt])
                .action_and_where(Expr::cust(
                    "(excluded.observed_at, excluded.event_id) > (usage_gauges.observed_at, usage_gauges.event_id)",
                ))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The account's current levels, by metric.
pub async fn levels<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<HashMap<String, i64>, DomainError> {
    let rows = Gauges::find().filter(Column::AccountId.eq(account_id)).all(db).await?;
    Ok(rows.into_iter().map(|g| (g.metric, g.value)).collect())
}

/// The account's current level of one metric, if it was ever reported.
pub async fn level<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    metric: &str,
) -> Result<Option<i64>, DomainError> {
    Ok(Gauges::find_by_id((account_id, metric.to_owned())).one(db).await?.map(|g| g.value))
}
