//! The outbox's own rules, against the real databases: what a claim may change (and what
//! a mark may change in the Stripe inbox), how a lease runs out, and how a job steps
//! aside. (The workers' side of the same, under load and through crashes, is in
//! `worker_backlog` and `worker_resilience`.)

use billing::jobs::contracts::Noop;
use billing::jobs::{Job, QueuePolicy, outbox};
use chrono::Utc;
use entities::JobStatus;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use std::time::Duration;
use tollgate_tests::db::TestDb;

async fn enqueue(db: &TestDb, id: &str) -> uuid::Uuid {
    let job = Noop { id: id.into() };
    outbox::enqueue(&db.conn, &job, &QueuePolicy::default_for(Noop::QUEUE)).await.expect("enqueue").job_id
}

/// The indexes of `table`: (name, definition).
async fn indexes(db: &TestDb, table: &str) -> Vec<(String, String)> {
    let sql = format!("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{table}'");
    let rows = db.conn.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.expect("indexes");
    rows.iter().map(|r| (r.try_get_by_index(0).expect("name"), r.try_get_by_index(1).expect("definition"))).collect()
}

/// The storage options of `table`, as Postgres lists them.
async fn options(db: &TestDb, table: &str) -> Option<String> {
    let sql = format!("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = '{table}'");
    let row = db.conn.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.expect("options");
    row.and_then(|r| r.try_get_by_index::<String>(0).ok())
}

/// A claim rewrites a job in place only while no index names a column it changes: then
/// Postgres writes no index entry for it (a heap-only update). This guards that rule
/// against the next index someone adds, and checks that the claim still reads its due
/// jobs off the partial index of unfinished ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_index_on_jobs_names_a_column_a_claim_changes() {
    let db = TestDb::postgres().await;
    let defs = indexes(&db, "jobs").await;
    for (name, def) in &defs {
        for column in ["status", "attempts", "started_at", "updated_at"] {
            assert!(!def.contains(column), "{name} names {column}, which a claim changes: {def}");
        }
    }
    assert!(defs.iter().any(|(n, _)| n == "jobs_open_idx"), "{defs:#?}");
    assert!(defs.iter().any(|(n, _)| n == "jobs_dead_idx"), "{defs:#?}");
    assert_eq!(options(&db, "jobs").await.as_deref(), Some("fillfactor=40"), "room on each page for a claimed version");
}

/// The same rule for the Stripe inbox: marking an event applied (a top-up batch marks a
/// thousand at once) is an update in place, payload left where it is, only while no index
/// names what a mark changes; and the table leaves room on each page for the marked
/// versions of the events on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_index_on_the_inbox_names_a_column_a_mark_changes() {
    let db = TestDb::postgres().await;
    let defs = indexes(&db, "stripe_events").await;
    for (name, def) in &defs {
        for column in ["status", "processed_at", "last_error"] {
            assert!(!def.contains(column), "{name} names {column}, which a mark changes: {def}");
        }
    }
    assert!(defs.iter().any(|(n, _)| n == "stripe_events_received_at_idx"), "retention reads by arrival: {defs:#?}");
    assert_eq!(options(&db, "stripe_events").await.as_deref(), Some("fillfactor=50"), "room for marked versions");
}

/// A running job keeps its due time; its lease runs from `started_at`. Until the lease
/// ends no other claim takes it, after that the next claim does, with one more attempt.
async fn a_lease_runs_from_the_claim(db: TestDb) {
    let id = enqueue(&db, "lease").await;
    let before = outbox::find(&db.conn, id).await.expect("read").expect("job");
    let lease = Duration::from_millis(400);
    let first = outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim");
    assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!((first[0].status, first[0].attempts), (JobStatus::Running, 1));
    assert_eq!(first[0].available_at, before.available_at, "a claim leaves the due time alone");
    assert!(outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim").is_empty(), "leased");
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let again = outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim");
    assert_eq!(again.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(id, 2)], "taken over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_runs_from_the_claim_postgres() {
    a_lease_runs_from_the_claim(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_runs_from_the_claim_sqlite() {
    a_lease_runs_from_the_claim(TestDb::sqlite().await).await;
}

/// A deferred job goes back unspent and is not claimed before its time; a dead one is
/// marked `dead_at`, listed, and requeued with the mark cleared.
async fn deferred_and_dead_jobs(db: TestDb) {
    let policy = QueuePolicy::default_for(Noop::QUEUE);
    let deferred = enqueue(&db, "deferred").await;
    let doomed = enqueue(&db, "doomed").await;
    let lease = Duration::from_secs(60);
    let claimed = outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    let at = Utc::now() + chrono::Duration::milliseconds(500);
    assert!(outbox::defer(&db.conn, deferred, at).await.expect("defer"));
    let row = outbox::find(&db.conn, deferred).await.expect("read").expect("job");
    assert_eq!((row.status, row.attempts), (JobStatus::Pending, 0), "back unspent");
    let doomed_row = claimed.iter().find(|j| j.id == doomed).expect("claimed");
    let failure = outbox::fail(&db.conn, doomed_row, "no such thing", false, &policy).await.expect("fail");
    assert_eq!(failure, outbox::Failure::Dead);
    assert!(outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim").is_empty(), "not yet due");
    let dead = outbox::dead(&db.conn, 10).await.expect("dead");
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), vec![doomed]);
    assert!(dead[0].dead_at.is_some() && dead[0].finished_at.is_some());
    assert_eq!(outbox::unfinished(&db.conn).await.expect("count"), 1, "the deferred job only");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let due = outbox::claim_batch(&db.conn, Noop::QUEUE, 10, lease).await.expect("claim");
    assert_eq!(due.iter().map(|j| (j.id, j.attempts)).collect::<Vec<_>>(), vec![(deferred, 1)]);
    assert!(outbox::requeue(&db.conn, doomed).await.expect("requeue"));
    let back = outbox::find(&db.conn, doomed).await.expect("read").expect("job");
    assert_eq!((back.status, back.dead_at, back.finished_at), (JobStatus::Pending, None, None));
    assert!(outbox::dead(&db.conn, 10).await.expect("dead").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_and_dead_jobs_postgres() {
    deferred_and_dead_jobs(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_and_dead_jobs_sqlite() {
    deferred_and_dead_jobs(TestDb::sqlite().await).await;
}
