//! Usage metering: events from the gateway, counted once per account and event id, into
//! per-key, per-metric, per-month counters, with their cost debited from credits.
//!
//! The api checks each event (its key, its time against the lateness window) and records
//! the accepted ones as one batch row plus one metering job, in one transaction. The
//! worker meters a batch in one transaction: the events it has not seen (a unique key on
//! account and event id), the counters, one ledger debit per key, then the batch row is
//! deleted. A retried job or a batch sent twice counts nothing twice.
//!
//! Periods are calendar months in UTC (`2026-11`): an event at 23:59:59.999 on the 31st
//! counts in its month, one at 00:00 on the 1st in the next, whenever it arrives.

use crate::error::DomainError;
use crate::jobs::{JobPayload, QueuePolicy, outbox};
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use entities::TransferKind;
use entities::usage_batches::{self, Entity as Batches};
use entities::usage_counters::{self, Column as CounterCol, Entity as Counters};
use entities::usage_events::{self, Column as EventCol, Entity as Events};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, QueryTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// Longest event id and metric name accepted.
pub const MAX_EVENT_ID: usize = 255;
pub const MAX_METRIC: usize = 64;
/// Most events in one `POST /api/v1/usage`.
pub const MAX_BATCH: usize = 5_000;
/// Rows per INSERT statement: under SQLite's and Postgres's bind-parameter limits.
const INSERT_CHUNK: usize = 1_000;

/// The calendar month (UTC) an instant belongs to, `YYYY-MM`.
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The first instant of the month after `t`'s: when its quotas reset.
pub fn next_period_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(t)
}

/// How far from "now" an event's timestamp may be. A late event inside the window counts
/// in its own period; outside it, it is rejected (`too_late`) and the caller must settle it
/// otherwise. Future timestamps get a small allowance for clock skew (`in_future`).
#[derive(Debug, Clone, Copy)]
pub struct LatenessWindow {
    pub late: Duration,
    pub early: Duration,
}

/// Why one event of a batch was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub account_id: Uuid,
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
    push_grace: Duration,
) -> Result<(Uuid, Uuid), DomainError> {
    let batch_id = Uuid::now_v7();
    let json = serde_json::to_string(events).map_err(|e| DomainError::Internal(e.to_string()))?;
    let txn = db.begin().await?;
    Batches::insert(usage_batches::ActiveModel {
        id: Set(batch_id),
        events: Set(json),
        event_count: Set(i32::try_from(events.len()).unwrap_or(i32::MAX)),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&txn)
    .await?;
    let job =
        outbox::enqueue(&txn, &JobPayload::UsageBatch { batch_id: batch_id.to_string() }, policy, push_grace).await?;
    txn.commit().await?;
    Ok((batch_id, job.job_id))
}

/// What metering one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metered {
    /// Events counted for the first time.
    pub counted: usize,
    /// Events already counted (a retried batch, a duplicate id).
    pub duplicates: usize,
    /// Micro-USD debited from credits.
    pub debited: i64,
    /// Micro-USD of cost the balance could not cover (usage already happened).
    pub uncovered: i64,
}

/// Meters one batch in one transaction. A batch already metered (its row gone) is a no-op.
pub async fn meter_batch(db: &DatabaseConnection, batch_id: Uuid) -> Result<Metered, DomainError> {
    let txn = db.begin().await?;
    let Some(batch) = Batches::find_by_id(batch_id).one(&txn).await? else {
        return Ok(Metered::default());
    };
    let events: Vec<UsageEvent> =
        serde_json::from_str(&batch.events).map_err(|e| DomainError::Internal(format!("batch {batch_id}: {e}")))?;
    let total = events.len();
    let fresh = insert_new_events(&txn, &events, batch_id).await?;
    let mut metered = Metered { counted: fresh.len(), duplicates: total - fresh.len(), ..Metered::default() };

    // Counters: one upsert per key, metric and month, in a fixed order (no deadlocks).
    let mut counters: BTreeMap<(Uuid, String, String), (Uuid, i64, i64)> = BTreeMap::new();
    let mut costs: BTreeMap<(Uuid, Uuid), (i64, usize)> = BTreeMap::new();
    for e in &fresh {
        let c = counters.entry((e.key_id, e.metric.clone(), period_of(e.at))).or_insert((e.account_id, 0, 0));
        c.1 = c.1.saturating_add(e.quantity);
        c.2 = c.2.saturating_add(e.cost);
        if e.cost > 0 {
            let k = costs.entry((e.account_id, e.key_id)).or_insert((0, 0));
            k.0 = k.0.saturating_add(e.cost);
            k.1 += 1;
        }
    }
    upsert_counters(&txn, &counters).await?;

    let (debited, uncovered) = debit(&txn, batch_id, &costs).await?;
    metered.debited = debited;
    metered.uncovered = uncovered;
    Batches::delete_by_id(batch_id).exec(&txn).await?;
    txn.commit().await?;
    Ok(metered)
}

/// One debit per account and key, keyed by the batch: traceable to the batch's events
/// (`usage_events.batch_id`) and never posted twice. The balances are read under a lock and
/// every debit posted in a fixed number of statements (`ledger::batch`). Usage that already
/// happened is taken up to the balance; what the balance could not cover is noted on the
/// debit. Returns what was debited and what was not covered, in micro-USD.
async fn debit<C: ConnectionTrait>(
    db: &C,
    batch_id: Uuid,
    costs: &BTreeMap<(Uuid, Uuid), (i64, usize)>,
) -> Result<(i64, i64), DomainError> {
    if costs.is_empty() {
        return Ok((0, 0));
    }
    let mut owners: Vec<Uuid> = costs.keys().map(|(account, _)| *account).collect();
    owners.dedup();
    let mut balances: HashMap<Uuid, (Uuid, i64)> = ledger::batch::lock_customer_accounts(db, &owners)
        .await?
        .into_iter()
        .filter_map(|a| a.account_id.map(|owner| (owner, (a.id, a.balance))))
        .collect();
    let usage = ledger::system_account(db, SystemAccount::Usage).await?;
    let (mut transfers, mut uncovered, mut exhausted) = (Vec::new(), 0, Vec::new());
    for ((account_id, key_id), (cost, n)) in costs {
        let Some((ledger_id, balance)) = balances.get_mut(account_id) else {
            // Never credited: nothing to take.
            uncovered += cost;
            exhausted.push(*account_id);
            continue;
        };
        let charge = Ord::min(*cost, Ord::max(*balance, 0));
        *balance -= charge;
        let short = cost - charge;
        uncovered += short;
        if charge == 0 {
            exhausted.push(*account_id);
            continue;
        }
        let mut description = format!("API usage: {n} events on key {key_id}");
        if short > 0 {
            description.push_str(&format!(" ({short} micro-USD not covered by credits)"));
        }
        transfers.push(TransferRequest {
            id: format!("usage:{batch_id}:{key_id}"),
            debit: *ledger_id,
            credit: usage,
            amount: Micros::new(charge),
            kind: TransferKind::Usage,
            account_id: Some(*account_id),
            reference: batch_id.to_string(),
            description,
        });
    }
    let posted = ledger::batch::post_many(db, &transfers).await?;
    let debited = transfers.iter().filter(|t| posted.contains(&t.id)).map(|t| t.amount.get()).sum();
    // Nothing to take: the balance is already zero, so the account's credit keys stop.
    exhausted.dedup();
    for account_id in exhausted {
        crate::api_keys::sync_credit_keys(db, account_id).await?;
    }
    Ok((debited, uncovered))
}

/// Inserts the batch's events, skipping ids the account already has; returns those new.
async fn insert_new_events<C: ConnectionTrait>(
    db: &C,
    events: &[UsageEvent],
    batch_id: Uuid,
) -> Result<Vec<UsageEvent>, DomainError> {
    // The same id twice in one batch: the first one counts.
    let mut seen = HashSet::new();
    let unique: Vec<&UsageEvent> = events.iter().filter(|e| seen.insert((e.account_id, &e.event_id))).collect();
    let now = Utc::now();
    let batch = batch_id.to_string();
    let mut inserted: HashSet<(Uuid, String)> = HashSet::new();
    for chunk in unique.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|e| usage_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(e.account_id),
            event_id: Set(e.event_id.clone()),
            api_key_id: Set(e.key_id),
            metric: Set(e.metric.clone()),
            quantity: Set(e.quantity),
            cost: Set(e.cost),
            occurred_at: Set(e.at),
            batch_id: Set(batch.clone()),
            created_at: Set(now),
        });
        let mut stmt = Events::insert_many(rows)
            .on_conflict(OnConflict::columns([EventCol::AccountId, EventCol::EventId]).do_nothing().to_owned())
            .into_query();
        stmt.returning(Query::returning().columns([EventCol::AccountId, EventCol::EventId]));
        let built = db.get_database_backend().build(&stmt);
        for row in db.query_all_raw(built).await? {
            let account: Uuid = row.try_get("", "account_id")?;
            let id: String = row.try_get("", "event_id")?;
            inserted.insert((account, id));
        }
    }
    Ok(unique.into_iter().filter(|e| inserted.contains(&(e.account_id, e.event_id.clone()))).cloned().collect())
}

async fn upsert_counters<C: ConnectionTrait>(
    db: &C,
    counters: &BTreeMap<(Uuid, String, String), (Uuid, i64, i64)>,
) -> Result<(), DomainError> {
    if counters.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<usage_counters::ActiveModel> = counters
        .iter()
        .map(|((key, metric, period), (account, quantity, cost))| usage_counters::ActiveModel {
            id: Set(Uuid::now_v7()),
            api_key_id: Set(*key),
            account_id: Set(*account),
            metric: Set(metric.clone()),
            period: Set(period.clone()),
            quantity: Set(*quantity),
            cost: Set(*cost),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        Counters::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([CounterCol::ApiKeyId, CounterCol::Metric, CounterCol::Period])
                    .value(
                        CounterCol::Quantity,
                        Expr::col((Counters, CounterCol::Quantity)).add(Expr::cust("excluded.quantity")),
                    )
                    .value(CounterCol::Cost, Expr::col((Counters, CounterCol::Cost)).add(Expr::cust("excluded.cost")))
                    .update_column(CounterCol::UpdatedAt)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Sum of an account's counters for one metric and month (every key).
pub async fn account_total<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
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
    account_id: Uuid,
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
