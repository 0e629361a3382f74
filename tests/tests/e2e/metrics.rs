//! Prometheus `/metrics` on the api and on a worker.

use std::time::Duration;
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::{TestApp, TestOptions};

const TOKEN: &str = "metrics-token-0123456789abcdef";

async fn scrape(app: &TestApp, url: &str) -> String {
    let res = app.http.get(url).bearer_auth(TOKEN).send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    res.text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_worker_serve_their_metrics() {
    let env = vec![("METRICS_TOKEN".to_owned(), TOKEN.to_owned())];
    let mut app = TestApp::with(TestOptions { worker: false, env, ..Default::default() }).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let addr = format!("127.0.0.1:{port}");
    app.start_worker(&[("METRICS_ADDR", &addr)]).await;
    let order = app.topup_order("metrics-user", 10).await;
    assert_eq!(app.deliver(&checkout_session_completed("evt_metrics_1", order.id, 1000)).await.status(), 200);
    assert_eq!(app.deliver(&checkout_session_completed("evt_metrics_1", order.id, 1000)).await.status(), 200);
    assert_eq!(app.post_webhook(b"{}".to_vec(), Some("t=1,v1=00".into())).await.status(), 400);
    app.wait_drained(Duration::from_secs(20)).await;

    let api = scrape(&app, &format!("{}/metrics", app.base_url)).await;
    for line in [
        "tollgate_webhooks_total{outcome=\"stored\"} 1",
        "tollgate_webhooks_total{outcome=\"duplicate\"} 1",
        "tollgate_webhooks_total{outcome=\"rejected\"} 1",
        "tollgate_ledger_balance_micros{kind=\"customer_credits\"} 10000000",
        "tollgate_dead_jobs 0",
        "tollgate_reconciliation_discrepancies 0",
    ] {
        assert!(api.lines().any(|l| l == line), "api metrics lack {line:?}:\n{api}");
    }
    let worker = tollgate_tests::eventually(Duration::from_secs(10), "the worker's metrics", || async {
        let text = app.http.get(format!("http://{addr}/metrics")).send().await.ok()?.text().await.ok()?;
        text.contains("tollgate_jobs_total{queue=\"stripe_event\",outcome=\"done\"} 1").then_some(text)
    })
    .await;
    assert!(worker.contains("tollgate_job_duration_seconds_count{queue=\"stripe_event\"} 1"), "{worker}");
    assert!(worker.contains("# TYPE tollgate_job_duration_seconds histogram"), "{worker}");
}

/// A scrape reads the unfinished and the dead jobs through their partial indexes, not the whole table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_gauges_read_only_unfinished_jobs() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let db = tollgate_tests::db::TestDb::postgres().await;
    let txn = db.conn.begin().await.expect("txn");
    // Tables this small are cheaper to scan; forbid that to see what the query can use.
    txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.expect("set");
    let plan = txn
        .query_all_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("EXPLAIN {}", platform::metrics::QUEUE_GAUGES_SQL),
        ))
        .await
        .expect("explain");
    let text: Vec<String> = plan.iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect();
    assert!(text.iter().any(|l| l.contains("jobs_open_idx")), "{text:#?}");
    assert!(text.iter().any(|l| l.contains("jobs_dead_idx")), "{text:#?}");
}
