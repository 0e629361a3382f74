//! Nothing is lost and nothing doubles when a worker dies, a run is aborted, Redis goes
//! away, or Postgres does.

use billing::Micros;
use entities::JobStatus;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;
use std::time::Duration;
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::{TestApp, TestOptions, eventually};

/// Env for a worker that stalls inside the transaction, before commit, on its first attempt.
const STALL: &[(&str, &str)] = &[("TOLLGATE_FAILPOINT_STALL_MS", "60000"), ("TOLLGATE_FAILPOINT_STALL_ATTEMPTS", "1")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_job_runs_it_again_once() {
    let mut app = TestApp::with(TestOptions {
        worker: false,
        env: vec![("QUEUE_STRIPE_EVENT_TIMEOUT_MS".into(), "2000".into())],
        ..Default::default()
    })
    .await;
    let doomed = app.start_worker(STALL).await;
    let order = app.topup_order("crash-user", 20).await;
    let key = "stripe-event:evt_killed_mid_job";
    assert_eq!(app.deliver(&checkout_session_completed("evt_killed_mid_job", order.id, 2000)).await.status(), 200);

    // Wait until the doomed worker holds the job, then kill it (SIGKILL: no cleanup).
    eventually(Duration::from_secs(10), "the job to be claimed", || async {
        app.job(key).await.filter(|j| j.status == JobStatus::Running).map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.kill_worker(doomed).await;
    assert_eq!(app.balance(order.account_id).await, Micros::ZERO, "nothing committed by the killed run");

    // A healthy worker takes the job over once the dead run's lease (2 s + 1 s) expires.
    app.start_worker(&[]).await;
    app.wait_drained(Duration::from_secs(30)).await;
    let job = app.job(key).await.expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.attempts, 2, "the killed run and the one that finished");
    assert_eq!(app.balance(order.account_id).await, Micros::from_usd(20).expect("amount"));
    assert_eq!(entities::ledger_transfers::Entity::find().count(&app.db.conn).await.expect("count"), 1);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_aborted_before_commit_runs_again_once() {
    // The time limit (1 s) aborts the stalled first run mid-transaction; the retry succeeds.
    let mut app = TestApp::with(TestOptions {
        worker: false,
        env: vec![("QUEUE_STRIPE_EVENT_TIMEOUT_MS".into(), "1000".into())],
        ..Default::default()
    })
    .await;
    app.start_worker(STALL).await;
    let order = app.topup_order("abort-user", 15).await;
    assert_eq!(app.deliver(&checkout_session_completed("evt_aborted", order.id, 1500)).await.status(), 200);
    app.wait_drained(Duration::from_secs(30)).await;
    let job = app.job("stripe-event:evt_aborted").await.expect("job");
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 2));
    assert!(job.last_error.as_deref().is_some_and(|e| e.contains("timed out")), "{:?}", job.last_error);
    assert_eq!(app.balance(order.account_id).await, Micros::from_usd(15).expect("amount"));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_webhook_still_200_and_job_delivered_when_back() {
    let app = TestApp::with(TestOptions { redis_proxy: true, ..Default::default() }).await;
    let order = app.topup_order("redis-down-user", 30).await;
    let proxy = app.redis_proxy.as_ref().expect("proxy");
    proxy.down();

    let started = std::time::Instant::now();
    let res = app.deliver(&checkout_session_completed("evt_redis_down", order.id, 3000)).await;
    assert_eq!(res.status(), 200, "the inbox commit is what Stripe needs");
    println!("webhook answered in {:?} with Redis down", started.elapsed());
    let job = app.job("stripe-event:evt_redis_down").await.expect("job stored in the outbox");
    assert_ne!(job.status, JobStatus::Done);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.balance(order.account_id).await, Micros::ZERO, "nothing can run without Redis");

    proxy.up();
    app.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(app.balance(order.account_id).await, Micros::from_usd(30).expect("amount"));
    assert_eq!(app.job("stripe-event:evt_redis_down").await.expect("job").attempts, 1);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_is_503_and_acknowledges_nothing() {
    let app = TestApp::with(TestOptions { db_proxy: true, ..Default::default() }).await;
    let order = app.topup_order("pg-down-user", 12).await;
    let event = checkout_session_completed("evt_pg_down", order.id, 1200);
    let proxy = app.db_proxy.as_ref().expect("proxy");

    proxy.down();
    let res = app.deliver(&event).await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.expect("envelope");
    assert_eq!(body["success"], Value::Bool(false));
    assert_eq!(body["error"]["code"], Value::String("unavailable".into()));
    let res = app.http.get(format!("{}/ready", app.base_url)).send().await.expect("ready");
    assert_eq!(res.status(), 503);
    // The test's own connection bypasses the proxy: nothing was stored.
    assert_eq!(entities::stripe_events::Entity::find().count(&app.db.conn).await.expect("count"), 0);

    // Stripe retries; with the database back, the event lands once.
    proxy.up();
    let mut status = 0;
    for _ in 0..50 {
        status = app.deliver(&event).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);
    app.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(app.balance(order.account_id).await, Micros::from_usd(12).expect("amount"));
    app.assert_ledger_invariants().await;
}

/// Ingestion commits on connections it does not ping before each use (a round trip per
/// batch saved): when the database cut every connection and came back, the deliveries
/// that follow are each stored on their first try, none answered 503 for a dead
/// connection (the batch tries again on the api's pool, which checks its connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_after_the_database_cut_every_connection_are_stored_first_time() {
    let app = TestApp::with(TestOptions { db_proxy: true, ..Default::default() }).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        orders.push(app.topup_order(&format!("pg-cut-user-{i}"), 10).await);
    }
    // Warm the inbox's connections, then cut them all.
    let warm = checkout_session_completed("evt_pg_cut_warm", orders[0].id, 1000);
    assert_eq!(app.deliver(&warm).await.status(), 200);
    let proxy = app.db_proxy.as_ref().expect("proxy");
    proxy.down();
    proxy.up();
    for (i, order) in orders.iter().enumerate().skip(1) {
        let res = app.deliver(&checkout_session_completed(&format!("evt_pg_cut_{i}"), order.id, 1000)).await;
        assert_eq!(res.status(), 200, "delivery {i} after the cut");
    }
    app.wait_drained(Duration::from_secs(30)).await;
    for order in &orders {
        assert_eq!(app.balance(order.account_id).await, Micros::from_usd(10).expect("amount"));
    }
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_worker_starts_a_pushed_job_at_once() {
    let app = TestApp::spawn().await;
    let order = app.topup_order("latency-user", 10).await;
    // Let the worker go idle, blocked on its pop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.deliver(&checkout_session_completed("evt_latency", order.id, 1000)).await.status(), 200);
    app.wait_drained(Duration::from_secs(10)).await;
    let job = app.job("stripe-event:evt_latency").await.expect("job");
    let started = job.started_at.expect("started");
    let latency = (started - job.created_at).num_microseconds().unwrap_or(i64::MAX);
    println!("pickup latency: {:.1} ms (enqueue to claim)", latency as f64 / 1000.0);
    assert!(latency < 1_000_000, "an idle worker must not wait for a poll interval: {latency} µs");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_failure_is_dead_lettered_with_its_error_and_can_be_requeued() {
    let app = TestApp::spawn().await;
    let order = app.topup_order("dead-letter-user", 10).await;
    // Stripe says it was paid in euros: a rule violation that no retry can fix.
    let mut event = checkout_session_completed("evt_dead_letter", order.id, 1000);
    event["data"]["object"]["currency"] = serde_json::json!("eur");
    assert_eq!(app.deliver(&event).await.status(), 200);
    app.wait_drained(Duration::from_secs(10)).await;
    let job = app.job("stripe-event:evt_dead_letter").await.expect("job");
    assert_eq!((job.status, job.attempts), (JobStatus::Dead, 1), "terminal errors are not retried");
    assert!(job.last_error.as_deref().is_some_and(|e| e.contains("currency")), "{:?}", job.last_error);
    assert_eq!(app.dead_jobs().await.len(), 1);
    assert_eq!(app.balance(order.account_id).await, Micros::ZERO);

    // The operator fixes the cause (the order's currency) and requeues: a worker claims
    // it, it runs once more and succeeds.
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let fixed = entities::orders::ActiveModel { id: Set(order.id), currency: Set("eur".into()), ..Default::default() };
    fixed.update(&app.db.conn).await.expect("fix the order");
    let admin = app.jwt("ops", "admin");
    let (status, dead) = app.get("/admin/jobs/dead", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(dead["data"][0]["key"], serde_json::json!("stripe-event:evt_dead_letter"));
    assert!(dead["data"][0]["lastError"].as_str().is_some_and(|e| e.contains("currency")));
    assert_eq!(app.get("/admin/jobs/dead", &app.jwt("user", "billing:read billing:write")).await.0, 403);
    let (status, _) = app.post(&format!("/admin/jobs/{}/requeue", job.id), &admin, &serde_json::json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = app.post(&format!("/admin/jobs/{}/requeue", job.id), &admin, &serde_json::json!({})).await;
    assert_eq!(status, 404, "no longer dead");
    let (status, none) = app.post("/admin/jobs/requeue-dead", &admin, &serde_json::json!({})).await;
    assert_eq!((status, none["data"]["requeued"].clone()), (200, serde_json::json!(0)), "nothing else is dead");
    app.wait_drained(Duration::from_secs(15)).await;
    let job = app.job("stripe-event:evt_dead_letter").await.expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(app.balance(order.account_id).await, Micros::from_usd(10).expect("10"));
    app.assert_ledger_invariants().await;
}
