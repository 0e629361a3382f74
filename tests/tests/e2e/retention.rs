//! Retention: records past their window are pruned by the scheduled pass, records inside
//! it are kept (dedupe keeps working), and what must never go (dead jobs, unfinished inbox
//! events, the usage events a waiting batch may still need) stays.

use chrono::{DateTime, Duration as Days, Utc};
use entities::{IdempotencyStatus, JobQueue, JobStatus, StripeEventStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::time::Duration;
use tollgate_tests::{Backend, TestApp, TestOptions, eventually};
use uuid::Uuid;

/// A v7 id made at `t`, as the row would have had had it been written then.
fn id_at(t: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(t.timestamp_millis()).expect("after 1970");
    uuid::Builder::from_unix_timestamp_millis(ms, &rand::random()).into_uuid()
}

async fn job(app: &TestApp, key: &str, status: JobStatus, at: DateTime<Utc>) {
    entities::jobs::Entity::insert(entities::jobs::ActiveModel {
        id: Set(id_at(at)),
        queue: Set(JobQueue::Noop),
        job_key: Set(key.to_owned()),
        payload: Set(serde_json::json!({"type": "noop", "id": key})),
        status: Set(status),
        attempts: Set(1),
        max_attempts: Set(3),
        available_at: Set(at),
        last_error: Set((status == JobStatus::Dead).then(|| "boom".to_owned())),
        result: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        started_at: Set(Some(at)),
        finished_at: Set(Some(at)),
        dead_at: Set((status == JobStatus::Dead).then_some(at)),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("job");
}

async fn inbox(app: &TestApp, id: &str, status: StripeEventStatus, at: DateTime<Utc>) {
    entities::stripe_events::Entity::insert(entities::stripe_events::ActiveModel {
        id: Set(id.to_owned()),
        event_type: Set("customer.updated".into()),
        api_version: Set(None),
        created: Set(at.timestamp()),
        livemode: Set(false),
        payload: Set("{}".into()),
        status: Set(status),
        received_at: Set(at),
        processed_at: Set((status != StripeEventStatus::Received).then_some(at)),
        last_error: Set(None),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("inbox row");
}

async fn usage_event(app: &TestApp, event_id: &str, at: DateTime<Utc>) {
    entities::usage_events::Entity::insert(entities::usage_events::ActiveModel {
        id: Set(id_at(at)),
        account_id: Set(billing::AccountId::from(Uuid::from_u128(7))),
        event_id: Set(event_id.to_owned()),
        api_key_id: Set(Uuid::from_u128(8)),
        metric: Set("tokens".into()),
        quantity: Set(1),
        cost: Set(billing::Micros::new(1)),
        occurred_at: Set(at),
        batch_id: Set("b".into()),
        created_at: Set(at),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("usage event");
}

async fn idempotency_key(app: &TestApp, key: &str, created: DateTime<Utc>) {
    entities::idempotency_keys::Entity::insert(entities::idempotency_keys::ActiveModel {
        id: Set(id_at(created)),
        scope: Set("test".into()),
        key: Set(key.to_owned()),
        request_hash: Set("h".into()),
        status: Set(IdempotencyStatus::Completed),
        response_status: Set(Some(200)),
        response_body: Set(Some("{}".into())),
        created_at: Set(created),
        expires_at: Set(created + Days::hours(24)),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("idempotency key");
}

/// A webhook event and one delivery attempt of it, made at `at`.
async fn webhook_event(app: &TestApp, name: &str, at: DateTime<Utc>) -> String {
    let id = format!("msg_{}", id_at(at).simple());
    entities::webhook_events::Entity::insert(entities::webhook_events::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(billing::AccountId::generate()),
        event_type: Set("key.revoked".into()),
        fact_key: Set(format!("test:{name}")),
        payload: Set("{}".into()),
        created_at: Set(at),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("webhook event");
    entities::webhook_attempts::Entity::insert(entities::webhook_attempts::ActiveModel {
        id: Set(id_at(at)),
        endpoint_id: Set(uuid::Uuid::now_v7()),
        event_id: Set(id.clone()),
        status_code: Set(Some(200)),
        latency_ms: Set(3),
        response: Set(None),
        error: Set(None),
        created_at: Set(at),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("webhook attempt");
    id
}

async fn has_webhook_event(app: &TestApp, id: &str) -> (bool, bool) {
    let event = entities::webhook_events::Entity::find_by_id(id.to_owned()).one(&app.db.conn).await.expect("q");
    let attempts = entities::webhook_attempts::Entity::find()
        .filter(entities::webhook_attempts::Column::EventId.eq(id))
        .count(&app.db.conn)
        .await
        .expect("q");
    (event.is_some(), attempts > 0)
}

async fn has_job(app: &TestApp, key: &str) -> bool {
    app.job(key).await.is_some()
}

async fn has_inbox(app: &TestApp, id: &str) -> bool {
    entities::stripe_events::Entity::find_by_id(id.to_owned()).one(&app.db.conn).await.expect("q").is_some()
}

async fn has_usage_event(app: &TestApp, id: &str) -> bool {
    entities::usage_events::Entity::find()
        .filter(entities::usage_events::Column::EventId.eq(id))
        .count(&app.db.conn)
        .await
        .expect("q")
        > 0
}

async fn has_idempotency_key(app: &TestApp, key: &str) -> bool {
    entities::idempotency_keys::Entity::find()
        .filter(entities::idempotency_keys::Column::Key.eq(key))
        .count(&app.db.conn)
        .await
        .expect("q")
        > 0
}

/// Waits for a retention pass that started after the rows were written to finish.
async fn pass_done(app: &TestApp) {
    eventually(Duration::from_secs(30), "a retention pass", || async {
        let done = entities::jobs::Entity::find()
            .filter(entities::jobs::Column::JobKey.starts_with("retention:"))
            .filter(entities::jobs::Column::Status.eq(JobStatus::Done))
            .count(&app.db.conn)
            .await
            .expect("q");
        (done > 0).then_some(())
    })
    .await;
}

async fn prunes_what_is_past_its_window(backend: Backend) {
    let mut app = TestApp::with(TestOptions { backend, worker: false, ..Default::default() }).await;
    let now = Utc::now();
    let days = |n: i64| now - Days::days(n);

    // Jobs: 7 days by default. Dead jobs are kept for an operator whatever their age.
    job(&app, "old-done", JobStatus::Done, days(8)).await;
    job(&app, "old-dead", JobStatus::Dead, days(40)).await;
    job(&app, "recent-done", JobStatus::Done, days(6)).await;
    // The inbox: 30 days, and only for events that ended.
    inbox(&app, "evt_old_processed", StripeEventStatus::Processed, days(31)).await;
    inbox(&app, "evt_old_ignored", StripeEventStatus::Ignored, days(31)).await;
    inbox(&app, "evt_old_failed", StripeEventStatus::Failed, days(31)).await;
    inbox(&app, "evt_recent", StripeEventStatus::Processed, days(29)).await;
    // Usage events: the lateness window (3 days) plus one.
    usage_event(&app, "u-old", days(5)).await;
    usage_event(&app, "u-recent", days(3)).await;
    // Idempotency keys: 24 hours.
    idempotency_key(&app, "k-old", now - Days::hours(25)).await;
    idempotency_key(&app, "k-recent", now - Days::hours(23)).await;
    // Webhook events and their attempts: 30 days, as the inbox.
    let old_hook = webhook_event(&app, "old", days(31)).await;
    let recent_hook = webhook_event(&app, "recent", days(29)).await;

    app.start_worker(&[("RETENTION_INTERVAL_MS", "500")]).await;
    pass_done(&app).await;

    for (key, kept) in [("old-done", false), ("old-dead", true), ("recent-done", true)] {
        assert_eq!(has_job(&app, key).await, kept, "job {key}");
    }
    for (id, kept) in
        [("evt_old_processed", false), ("evt_old_ignored", false), ("evt_old_failed", true), ("evt_recent", true)]
    {
        assert_eq!(has_inbox(&app, id).await, kept, "inbox {id}");
    }
    for (id, kept) in [("u-old", false), ("u-recent", true)] {
        assert_eq!(has_usage_event(&app, id).await, kept, "usage event {id}");
    }
    for (key, kept) in [("k-old", false), ("k-recent", true)] {
        assert_eq!(has_idempotency_key(&app, key).await, kept, "idempotency key {key}");
    }
    assert_eq!(has_webhook_event(&app, &old_hook).await, (false, false), "an old webhook event and its attempt go");
    assert_eq!(has_webhook_event(&app, &recent_hook).await, (true, true), "a recent one stays");
    if backend == Backend::Postgres {
        // The space of what was deleted is made reusable by the pass itself, not left to
        // autovacuum's thresholds (that is what keeps the tables from growing).
        for table in ["jobs", "stripe_events", "usage_events", "idempotency_keys"] {
            eventually(Duration::from_secs(10), "the pruned table vacuumed", || async {
                (vacuums(&app, table).await > 0).then_some(())
            })
            .await;
        }
    }
}

/// How many times a table was vacuumed by hand (autovacuum counts apart).
async fn vacuums(app: &TestApp, table: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = $1";
    let row = app
        .db
        .conn
        .query_one_raw(Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, [table.into()]))
        .await
        .expect("stats")
        .expect("the table has stats");
    row.try_get::<i64>("", "vacuum_count").expect("vacuum_count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_what_is_past_its_window() {
    prunes_what_is_past_its_window(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_what_is_past_its_window_sqlite() {
    prunes_what_is_past_its_window(Backend::Sqlite).await;
}

/// A usage batch accepted long ago and still waiting to be metered may hold a copy of an
/// event already recorded: the event's row stays until the batch is metered, however old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_events_a_waiting_batch_may_need_are_kept() {
    let mut app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let now = Utc::now();
    let accepted = now - Days::days(9);
    entities::usage_batches::Entity::insert(entities::usage_batches::ActiveModel {
        id: Set(id_at(accepted)),
        events: Set("[]".into()),
        event_count: Set(0),
        created_at: Set(accepted),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("batch");
    // Recorded 8 days ago: past its own window (4 days), but the batch accepted 9 days ago
    // may carry an event stamped up to 3 days before that.
    usage_event(&app, "u-needed", now - Days::days(8)).await;
    usage_event(&app, "u-older-than-any-batch-needs", now - Days::days(13)).await;

    app.start_worker(&[("RETENTION_INTERVAL_MS", "500")]).await;
    pass_done(&app).await;
    assert!(has_usage_event(&app, "u-needed").await, "a waiting batch may still need it");
    assert!(!has_usage_event(&app, "u-older-than-any-batch-needs").await, "older than the batch's window");
}
