//! A large backlog waits in the database, Redis holds only the window, and a worker that
//! starts later processes all of it, once each, and stays alive.

use billing::jobs::JobQueue;
use entities::{JobStatus, StripeEventStatus};
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::time::{Duration, Instant};
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::{TestApp, TestOptions};

const JOBS: usize = 20_000;
const WINDOW: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_jobs_queued_without_a_worker_all_run_once() {
    let mut app = TestApp::with(TestOptions {
        worker: false,
        env: vec![
            ("JOB_REDIS_WINDOW".into(), WINDOW.to_string()),
            ("QUEUE_STRIPE_EVENT_CONCURRENCY".into(), "32".into()),
        ],
        ..Default::default()
    })
    .await;
    let account = billing::accounts::ensure(&app.db.conn, "backlog-user").await.expect("account");

    // 20,000 ten-dollar top-up orders, inserted in bulk.
    let orders = app.seed_topup_orders(account.id, JOBS, 10_000_000).await;

    // Deliver one event per order while no worker runs.
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(orders.iter().enumerate())
        .map(|(i, id)| {
            let app = &app;
            async move {
                app.deliver(&checkout_session_completed(&format!("evt_backlog_{i}"), *id, 1000)).await.status().as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "every delivery stored");
    println!("delivered {JOBS} webhooks in {:?}", started.elapsed());

    let depth = app.redis_depth(JobQueue::StripeEvent).await;
    assert!(depth <= WINDOW, "Redis holds at most the window: {depth}");
    let pending = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(JobQueue::StripeEvent))
        .filter(entities::jobs::Column::Status.ne(JobStatus::Done))
        .count(&app.db.conn)
        .await
        .expect("count");
    assert_eq!(pending as usize, JOBS, "the backlog waits in the database");

    let worker = app.start_worker(&[]).await;
    let started = Instant::now();
    let mut max_depth = depth;
    loop {
        assert!(app.worker_alive(worker), "the worker must stay alive through the backlog");
        max_depth = max_depth.max(app.redis_depth(JobQueue::StripeEvent).await);
        if billing::jobs::outbox::unfinished(&app.db.conn).await.expect("unfinished") == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "backlog not drained in 10 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    println!(
        "worker drained {JOBS} jobs in {elapsed:?} ({:.0} jobs/s); Redis depth never above {max_depth}",
        JOBS as f64 / elapsed.as_secs_f64()
    );
    assert!(max_depth <= WINDOW + 32, "Redis stayed bounded: {max_depth}");
    assert!(app.worker_alive(worker));

    let db = &app.db.conn;
    let done = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(JobQueue::StripeEvent))
        .filter(entities::jobs::Column::Status.eq(JobStatus::Done))
        .count(db)
        .await
        .expect("count");
    assert_eq!(done as usize, JOBS);
    let processed = entities::stripe_events::Entity::find()
        .filter(entities::stripe_events::Column::Status.eq(StripeEventStatus::Processed))
        .count(db)
        .await
        .expect("count");
    assert_eq!(processed as usize, JOBS);
    assert_eq!(
        entities::ledger_transfers::Entity::find().count(db).await.expect("count") as usize,
        JOBS,
        "one transfer each"
    );
    assert_eq!(app.balance(account.id).await.get(), JOBS as i64 * 10_000_000);
    assert!(app.dead_jobs().await.is_empty());
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_job_in_flight_then_exits() {
    let mut app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let worker = app.start_worker(&[("TOLLGATE_FAILPOINT_STALL_MS", "1500")]).await;
    let order = app.topup_order("sigterm-user", 40).await;
    assert_eq!(app.deliver(&checkout_session_completed("evt_sigterm", order.id, 4000)).await.status(), 200);
    tollgate_tests::eventually(Duration::from_secs(10), "the job to start", || async {
        app.job("stripe-event:evt_sigterm").await.filter(|j| j.status == JobStatus::Running).map(|_| ())
    })
    .await;
    app.terminate_worker(worker);
    let status = app.wait_worker_exit(worker, Duration::from_secs(20)).await;
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    let job = app.job("stripe-event:evt_sigterm").await.expect("job");
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 1), "finished in flight, not abandoned");
    assert_eq!(app.balance(order.account_id).await.get(), 40_000_000);

    // A job arriving after the worker stopped waits for the next one.
    let order2 = app.topup_order("sigterm-user", 10).await;
    assert_eq!(app.deliver(&checkout_session_completed("evt_after_stop", order2.id, 1000)).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(app.job("stripe-event:evt_after_stop").await.expect("job").status, JobStatus::Done);
    app.start_worker(&[]).await;
    app.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(app.balance(order.account_id).await.get(), 50_000_000);
    app.assert_ledger_invariants().await;
}

/// Jobs a worker claimed but never started go back to the outbox when it stops, their
/// attempt not spent, instead of waiting out their lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_gives_back_claimed_jobs_that_never_started() {
    let mut app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        let order = app.topup_order("release-user", 10).await;
        let event = checkout_session_completed(&format!("evt_release_{i}"), order.id, 1000);
        assert_eq!(app.deliver(&event).await.status(), 200);
        orders.push(order);
    }
    // One at a time, each stalling: the first claim takes two (one running, one waiting).
    let worker =
        app.start_worker(&[("TOLLGATE_FAILPOINT_STALL_MS", "1500"), ("QUEUE_STRIPE_EVENT_CONCURRENCY", "1")]).await;
    tollgate_tests::eventually(Duration::from_secs(10), "a job to start", || async {
        let running = entities::jobs::Entity::find()
            .filter(entities::jobs::Column::Status.eq(JobStatus::Running))
            .count(&app.db.conn)
            .await
            .expect("count");
        (running == 2).then_some(())
    })
    .await;
    app.terminate_worker(worker);
    let status = app.wait_worker_exit(worker, Duration::from_secs(20)).await;
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    let (mut ran, mut given_back) = (0, 0);
    for i in 0..3 {
        let job = app.job(&format!("stripe-event:evt_release_{i}")).await.expect("job");
        match (job.status, job.attempts) {
            (JobStatus::Done, 1) => ran += 1,
            (JobStatus::Pending, 0) => given_back += 1,
            // Never claimed, its event credited by the running job's batch: ended with it.
            (JobStatus::Done, 0) => {}
            other => panic!("job {i}: {other:?}: neither run, given back unspent, nor ended by the batch"),
        }
    }
    assert_eq!(ran, 1, "only the running job finished");
    assert_eq!(given_back, 1, "the claimed job that never started was given back unspent");
    app.start_worker(&[]).await;
    app.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(app.balance(orders[0].account_id).await.get(), 30_000_000);
    app.assert_ledger_invariants().await;
}
