//! Retention: stored records that only serve a window are pruned once the window has
//! passed, in small batches, so that storage under steady load levels off. Ledger rows,
//! usage counters, orders, payments, applied effects, dead jobs and the audit log are kept.
//!
//! Each window is chosen so that the dedupe the rows carry stays correct inside it:
//! - **Done jobs** (`JOB_RETENTION`, 7 days): a job's key only dedupes its own enqueue; the
//!   facts behind it (an inbox row, an order, a usage batch id) dedupe for longer.
//! - **The Stripe inbox** (`INBOX_RETENTION`, 30 days): Stripe redelivers for 3 days and an
//!   operator may resend an event for 30; reconciliation walks back as far. Only events
//!   that ended (processed or ignored) go; a received or failed one waits for its job.
//!   Were an event to arrive again after its row went, it would run again and change
//!   nothing: every ledger effect is guarded by its own unique key (`applied_effects`).
//! - **Usage events** (`USAGE_EVENT_RETENTION`, the lateness window plus a day): they exist
//!   to dedupe event ids. Past the lateness window the api refuses a re-sent event anyway;
//!   and no event is dropped while a batch accepted within its window is still unmetered.
//! - **Idempotency keys**: past their 24 hours they no longer bind their key.
//! - **Webhook events and delivery attempts** (`INBOX_RETENTION`, 30 days): the window in which
//!   a customer may ask for an event again. A fact tells its event only when it is first
//!   applied, and facts are keyed in the books forever, so a pruned event is never told twice.
//!
//! Usage events and jobs are deleted by ranges of their UUIDv7 primary key (time-ordered),
//! so their writers pay for no further index; the inbox and the idempotency records are
//! read by a time index of their own. Usage events are not dropped by time partition: a
//! partitioned table cannot hold the unique (account, event id) index that dedupe relies
//! on unless the partition key joins it, and then an id re-sent on another day would
//! count again.

use chrono::{DateTime, Utc};
use entities::enums::{JobStatus, StripeEventStatus};
use entities::{idempotency_keys, jobs, stripe_events, usage_batches, usage_events, webhook_attempts, webhook_events};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long each kind of record is kept, and how many rows one delete takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub jobs: Duration,
    pub inbox: Duration,
    pub usage_events: Duration,
    /// The usage acceptance window: how late and how early an event may be stamped.
    pub usage_lateness: Duration,
    pub usage_early: Duration,
    /// Rows per delete statement: small enough that a delete never holds locks for long.
    pub batch: u64,
}

/// What one pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub jobs: u64,
    pub inbox: u64,
    pub usage_events: u64,
    pub idempotency_keys: u64,
    #[serde(default)]
    pub webhook_events: u64,
    #[serde(default)]
    pub webhook_attempts: u64,
    /// The pass ran out of time with rows still due; the next pass goes on.
    pub resumes_next_run: bool,
}

/// Deletes what is past its window, batch by batch, for at most `budget`.
pub async fn prune<C: ConnectionTrait>(
    db: &C,
    w: &Windows,
    now: DateTime<Utc>,
    budget: Duration,
) -> Result<Pruned, DbErr> {
    let deadline = Instant::now() + budget;
    let mut out = Pruned::default();
    let mut more = false;

    let cut = before(now, w.jobs);
    let sub = Query::select()
        .column(jobs::Column::Id)
        .from(jobs::Entity)
        .and_where(jobs::Column::Id.lt(v7_floor(cut)))
        .and_where(jobs::Column::Status.eq(JobStatus::Done))
        .and_where(jobs::Column::FinishedAt.lt(cut))
        .order_by(jobs::Column::Id, Order::Asc)
        .limit(w.batch)
        .to_owned();
    more |= drain(db, w.batch, deadline, &mut out.jobs, || {
        jobs::Entity::delete_many().filter(jobs::Column::Id.in_subquery(sub.clone()))
    })
    .await?;

    let cut = before(now, w.inbox);
    let sub = Query::select()
        .column(stripe_events::Column::Id)
        .from(stripe_events::Entity)
        .and_where(stripe_events::Column::ReceivedAt.lt(cut))
        .and_where(stripe_events::Column::Status.is_in([StripeEventStatus::Processed, StripeEventStatus::Ignored]))
        .order_by(stripe_events::Column::ReceivedAt, Order::Asc)
        .limit(w.batch)
        .to_owned();
    more |= drain(db, w.batch, deadline, &mut out.inbox, || {
        stripe_events::Entity::delete_many().filter(stripe_events::Column::Id.in_subquery(sub.clone()))
    })
    .await?;

    let cut = usage_event_cut(db, w, now).await?;
    let sub = id_range(usage_events::Entity, usage_events::Column::Id, v7_floor(cut), w.batch);
    more |= drain(db, w.batch, deadline, &mut out.usage_events, || {
        usage_events::Entity::delete_many().filter(usage_events::Column::Id.in_subquery(sub.clone()))
    })
    .await?;

    let sub = Query::select()
        .column(idempotency_keys::Column::Id)
        .from(idempotency_keys::Entity)
        .and_where(idempotency_keys::Column::ExpiresAt.lt(now))
        .order_by(idempotency_keys::Column::ExpiresAt, Order::Asc)
        .limit(w.batch)
        .to_owned();
    more |= drain(db, w.batch, deadline, &mut out.idempotency_keys, || {
        idempotency_keys::Entity::delete_many().filter(idempotency_keys::Column::Id.in_subquery(sub.clone()))
    })
    .await?;

    // Webhook events by their time-ordered ids (`msg_` and a UUIDv7 in hex), attempts by theirs.
    let cut = v7_floor(before(now, w.inbox));
    let sub = Query::select()
        .column(webhook_events::Column::Id)
        .from(webhook_events::Entity)
        .and_where(webhook_events::Column::Id.lt(format!("msg_{}", cut.simple())))
        .order_by(webhook_events::Column::Id, Order::Asc)
        .limit(w.batch)
        .to_owned();
    more |= drain(db, w.batch, deadline, &mut out.webhook_events, || {
        webhook_events::Entity::delete_many().filter(webhook_events::Column::Id.in_subquery(sub.clone()))
    })
    .await?;
    let sub = id_range(webhook_attempts::Entity, webhook_attempts::Column::Id, cut, w.batch);
    more |= drain(db, w.batch, deadline, &mut out.webhook_attempts, || {
        webhook_attempts::Entity::delete_many().filter(webhook_attempts::Column::Id.in_subquery(sub.clone()))
    })
    .await?;

    out.resumes_next_run = more;
    Ok(out)
}

/// Makes the space of the rows a pass deleted reusable at once (Postgres `VACUUM`), so that
/// new rows fill it and the tables stop growing once their windows have passed. Left to
/// autovacuum, a big table waits for a fifth of its rows to be dead before it is vacuumed,
/// and meanwhile grows by what it takes in. SQLite reuses freed pages by itself. Runs
/// outside any transaction (`VACUUM` cannot run inside one), table by table, only where
/// the pass deleted something.
pub async fn reclaim<C: ConnectionTrait>(db: &C, pruned: &Pruned) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let tables = [
        (pruned.jobs, "jobs"),
        (pruned.inbox, "stripe_events"),
        (pruned.usage_events, "usage_events"),
        (pruned.idempotency_keys, "idempotency_keys"),
        (pruned.webhook_events, "webhook_events"),
        (pruned.webhook_attempts, "webhook_attempts"),
    ];
    for (_, table) in tables.iter().filter(|(n, _)| *n > 0) {
        db.execute_unprepared(&format!("VACUUM {table}")).await?;
    }
    Ok(())
}

/// Usage events recorded before this instant may go. An event recorded (metered) at `t`
/// was stamped no later than `t + early`, so once `t + early` is past the lateness window
/// a re-sent copy is refused at the door. A batch still waiting to be metered may hold a
/// copy accepted within its window; while it waits, the cut stays behind what it may need.
async fn usage_event_cut<C: ConnectionTrait>(db: &C, w: &Windows, now: DateTime<Utc>) -> Result<DateTime<Utc>, DbErr> {
    let mut cut = before(now, w.usage_events);
    let oldest_pending = usage_batches::Entity::find()
        .select_only()
        .column(usage_batches::Column::CreatedAt)
        .order_by_asc(usage_batches::Column::Id)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(db)
        .await?;
    if let Some(accepted) = oldest_pending {
        cut = cut.min(before(accepted, w.usage_lateness));
    }
    Ok(before(cut, w.usage_early))
}

fn id_range<E: EntityTrait, C: ColumnTrait>(entity: E, id: C, below: Uuid, n: u64) -> SelectStatement {
    Query::select().column(id).from(entity).and_where(id.lt(below)).order_by(id, Order::Asc).limit(n).to_owned()
}

/// Runs one delete again while it fills whole batches and time is left; `true` when it
/// stopped for time with rows likely left.
async fn drain<C, E, F>(db: &C, batch: u64, deadline: Instant, count: &mut u64, delete: F) -> Result<bool, DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    F: Fn() -> sea_orm::DeleteMany<E>,
{
    loop {
        let n = delete().exec(db).await?.rows_affected;
        *count += n;
        if n < batch {
            return Ok(false);
        }
        if Instant::now() >= deadline {
            return Ok(true);
        }
        // Let the writers in between batches.
        tokio::task::yield_now().await;
    }
}

fn before(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| t.checked_sub_signed(d)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The smallest UUIDv7 of the millisecond `t`: every v7 id made before `t` sorts below it.
pub fn v7_floor(t: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &[0u8; 10]).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v7_floor_orders_ids_by_their_time() {
        let t = DateTime::parse_from_rfc3339("2026-11-28T00:00:00Z").expect("time").with_timezone(&Utc);
        let floor = v7_floor(t);
        let ms = |t: DateTime<Utc>| u64::try_from(t.timestamp_millis()).expect("after 1970");
        let earlier = uuid::Builder::from_unix_timestamp_millis(ms(t) - 1, &[0xff; 10]).into_uuid();
        let same = uuid::Builder::from_unix_timestamp_millis(ms(t), &[0; 10]).into_uuid();
        let later = uuid::Builder::from_unix_timestamp_millis(ms(t), &[1; 10]).into_uuid();
        assert!(earlier < floor);
        assert!(same >= floor);
        assert!(later > floor);
    }

    #[test]
    fn a_window_longer_than_time_itself_cuts_nothing() {
        let now = Utc::now();
        assert_eq!(before(now, Duration::from_secs(u64::MAX)), DateTime::<Utc>::MIN_UTC);
        assert_eq!(
            v7_floor(DateTime::<Utc>::MIN_UTC),
            uuid::Builder::from_unix_timestamp_millis(0, &[0; 10]).into_uuid()
        );
    }
}
