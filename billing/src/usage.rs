//! Usage metering: events from the gateway, counted once per account and event id, into
//! per-key, per-metric, per-month counters, with their cost debited from credits.
//!
//! The api checks each event (its key, its time against the lateness window) and records
//! the accepted ones as one batch row plus one metering job, in one transaction. The
//! worker meters batches in [`meter`].
//!
//! Periods are calendar months in UTC (`2026-11`): an event at 23:59:59.999 on the 31st
//! counts in its month, one at 00:00 on the 1st in the next, whenever it arrives.

use crate::AccountId;
use crate::error::DomainError;
use crate::jobs::{QueuePolicy, contracts::UsageBatch, outbox};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use entities::usage_batches::{self, Entity as Batches};
use entities::usage_counters::{self, Column as CounterCol, Entity as Counters};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub mod gauges;
mod meter;
mod stored;
pub use meter::{Metered, meter_batch};

/// Longest event id and metric name accepted.
pub const MAX_EVENT_ID: usize = 255;
pub const MAX_METRIC: usize = 64;
/// Most events in one `POST /api/v1/usage`.
pub const MAX_BATCH: usize = 5_000;

/// The calendar month (UTC) an instant belongs to, `YYYY-MM`.
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The first instant of the month after `t`'s: when its quotas reset.
pub fn next_period_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(t)
}

/// Clock skew allowed for events stamped in the future.
pub const EARLY_ALLOWANCE: std::time::Duration = std::time::Duration::from_secs(300);

/// How far from "now" an event's timestamp may be. A late event inside the window counts
/// in its own period; outside it, it is rejected (`too_late`) and the caller must settle it
/// otherwise. Future timestamps get a small allowance for clock skew (`in_future`).
#[derive(Debug, Clone, Copy)]
pub struct LatenessWindow {
    pub late: Duration,
    pub early: Duration,
}

/// What a usage event reports: an amount used (`counter`, the default: summed per month and
/// metered into credits), or the current level of a resource (`gauge`: the last reading
/// stands, e.g. `concurrent_tasks`, `team_seats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    #[default]
    Counter,
    Gauge,
}

/// Why one event of a batch was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    UnknownKey,
    TooLate,
    InFuture,
    Invalid,
}

impl LatenessWindow {
    pub fn check(&self, now: DateTime<Utc>, at: DateTime<Utc>) -> Result<(), Rejection> {
        let late = chrono::Duration::from_std(self.late).unwrap_or(chrono::Duration::MAX);
        let early = chrono::Duration::from_std(self.early).unwrap_or(chrono::Duration::MAX);
        if at < now - late {
            Err(Rejection::TooLate)
        } else if at > now + early {
            Err(Rejection::InFuture)
        } else {
            Ok(())
        }
    }
}

/// One accepted event, as stored in its batch. Short names: a batch holds thousands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    #[serde(rename = "e")]
    pub event_id: String,
    #[serde(rename = "a")]
    pub account_id: AccountId,
    #[serde(rename = "k")]
    pub key_id: Uuid,
    #[serde(rename = "m")]
    pub metric: String,
    #[serde(rename = "q")]
    pub quantity: i64,
    /// Micro-USD debited from the account's credits.
    #[serde(rename = "c")]
    pub cost: i64,
    #[serde(rename = "t")]
    pub at: DateTime<Utc>,
}

/// Records accepted events as one batch and its metering job, in one transaction.
/// Returns the batch id and the job id (for the caller to push to Redis).
pub async fn record_batch(
    db: &DatabaseConnection,
    events: &[UsageEvent],
    policy: &QueuePolicy,
) -> Result<(Uuid, Uuid), DomainError> {
    let batch_id = Uuid::now_v7();
    let json = stored::encode(events).map_err(|e| DomainError::Internal(e.to_string()))?;
    let txn = crate::db::begin_write(db).await?;
    Batches::insert(usage_batches::ActiveModel {
        id: Set(batch_id),
        events: Set(json),
        event_count: Set(i32::try_from(events.len()).unwrap_or(i32::MAX)),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&txn)
    .await?;
    let job = outbox::enqueue(&txn, &UsageBatch { batch_id: batch_id.to_string() }, policy).await?;
    txn.commit().await?;
    Ok((batch_id, job.job_id))
}

/// Sum of an account's counters for one metric and month (every key).
pub async fn account_total<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    metric: &str,
    period: &str,
) -> Result<i64, DomainError> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let total: Option<i64> = Counters::find()
        .select_only()
        .column_as(Expr::col(CounterCol::Quantity).sum().cast_as("bigint"), "total")
        .filter(CounterCol::AccountId.eq(account_id))
        .filter(CounterCol::Metric.eq(metric))
        .filter(CounterCol::Period.eq(period))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    Ok(total.unwrap_or(0))
}

/// An account's counters for one month, summed by metric over every key.
pub async fn account_totals<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    period: &str,
) -> Result<std::collections::HashMap<String, i64>, DomainError> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let rows: Vec<(String, Option<i64>)> = Counters::find()
        .select_only()
        .column(CounterCol::Metric)
        .column_as(Expr::col(CounterCol::Quantity).sum().cast_as("bigint"), "total")
        .filter(CounterCol::AccountId.eq(account_id))
        .filter(CounterCol::Period.eq(period))
        .group_by(CounterCol::Metric)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|(m, t)| (m, t.unwrap_or(0))).collect())
}

/// A key's counters, every metric and month.
pub async fn key_counters<C: ConnectionTrait>(db: &C, key_id: Uuid) -> Result<Vec<usage_counters::Model>, DomainError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(Counters::find().filter(CounterCol::ApiKeyId.eq(key_id)).all(db).await?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RFC 3339 instant, for tests.
    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn months_turn_at_midnight_utc_on_the_first() {
        assert_eq!(period_of(at("2026-10-31T23:59:59.999Z")), "2026-10");
        assert_eq!(period_of(at("2026-11-01T00:00:00Z")), "2026-11");
        // 23:30 on the 31st in New York is already November in UTC.
        assert_eq!(period_of(at("2026-10-31T23:30:00-04:00")), "2026-11");
        assert_eq!(next_period_start(at("2026-12-15T10:00:00Z")), at("2027-01-01T00:00:00Z"));
        assert_eq!(next_period_start(at("2026-10-31T23:59:59Z")), at("2026-11-01T00:00:00Z"));
    }

    #[test]
    fn the_window_takes_late_events_inside_it_only() {
        let w = LatenessWindow { late: Duration::from_secs(3600), early: Duration::from_secs(300) };
        let now = at("2026-11-01T00:30:00Z");
        assert_eq!(w.check(now, at("2026-10-31T23:30:00Z")), Ok(()));
        assert_eq!(w.check(now, at("2026-10-31T23:29:59Z")), Err(Rejection::TooLate));
        assert_eq!(w.check(now, at("2026-11-01T00:35:00Z")), Ok(()));
        assert_eq!(w.check(now, at("2026-11-01T00:35:01Z")), Err(Rejection::InFuture));
    }
}
