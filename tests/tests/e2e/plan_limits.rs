//! Plan limits enforced at verification: a `metric` that names a limit of the account's
//! plan is checked against this month's reported use — 402 `limit_exceeded` past the cap,
//! 403 `feature_not_available` where the plan has none — each naming the cheapest plan that
//! lets the request through; and `near_limit` on the usage page from 80 %.

use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::{Backend, TestApp, TestOptions, eventually};

const SERVICE: &str = "gateway-service-token-0123456789";

async fn verify(app: &TestApp, body: Value) -> Value {
    let (status, res) = app.post("/api/v1/keys/verify", SERVICE, &body).await;
    assert_eq!(status, 200, "{res}");
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_limit_refuses_with_the_plan_that_resolves_it() {
    let app = TestApp::with(TestOptions {
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("KEY_CACHE_TTL_MS".into(), "0".into())],
        ..Default::default()
    })
    .await;
    // A team without a subscription runs on Starter: storage 1,024 MB, no triggers.
    let token = app.jwt("limits-team", "billing:read billing:write");
    let (code, made) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Limits Inc", "contactEmail": "ops@limits.example"}),
        )
        .await;
    assert_eq!(code, 201, "{made}");
    let key = made["apiKey"].as_str().expect("key").to_owned();

    // Triggers are not part of Starter: 403, Pro (the cheapest plan with triggers) recommended.
    let refused = verify(&app, json!({"key": key, "metric": "triggers"})).await;
    assert_eq!((refused["valid"].clone(), refused["reason"].clone()), (json!(false), json!("feature_not_available")));
    let error = &refused["error"];
    assert_eq!(
        (error["status"].clone(), error["code"].clone()),
        (json!(403), json!("feature_not_available")),
        "{refused}"
    );
    assert_eq!(error["metadata"]["resource"], json!("triggers"));
    assert_eq!(error["metadata"]["recommended"]["id"], json!("plan_pro"), "{refused}");

    // The gateway reports 1,000 MB of storage this month.
    let now = chrono::Utc::now().to_rfc3339();
    let usage =
        json!({"events": [{"id": "s-1", "key": key, "metric": "storage_mb", "quantity": 1000, "timestamp": now}]});
    assert_eq!(app.post("/api/v1/usage", SERVICE, &usage).await.0, 202);
    let rows = eventually(Duration::from_secs(20), "storage metered", || async {
        let (_, body) = app.get("/entitlements/usage", &token).await;
        let rows = body["entitlements"].as_array().cloned().unwrap_or_default();
        rows.iter().any(|r| r["resource"] == "storage_mb" && r["used"] == json!(1000)).then_some(rows)
    })
    .await;
    let storage = rows.iter().find(|r| r["resource"] == "storage_mb").expect("storage row");
    assert_eq!((storage["near_limit"].clone(), storage["at_limit"].clone()), (json!(true), json!(false)), "{storage}");
    let seats = rows.iter().find(|r| r["resource"] == "team_seats").expect("seats row");
    assert_eq!(seats["near_limit"], json!(false));

    // 24 MB more fits; 100 MB more does not: 402 with what is used and the plan that fits.
    let before = verify(&app, json!({"key": key})).await["usage"]["used"].clone();
    let fits = verify(&app, json!({"key": key, "metric": "storage_mb", "cost": 24})).await;
    assert_eq!(fits["valid"], json!(true), "{fits}");
    let over = verify(&app, json!({"key": key, "metric": "storage_mb", "cost": 100})).await;
    assert_eq!((over["valid"].clone(), over["reason"].clone()), (json!(false), json!("limit_exceeded")), "{over}");
    let meta = &over["error"]["metadata"];
    assert_eq!(over["error"]["status"], json!(402));
    assert_eq!((meta["limit"].clone(), meta["used"].clone()), (json!(1024), json!(1000)), "{over}");
    assert_eq!(meta["recommended"]["id"], json!("plan_pro"));
    // Past Team's 100 GB only Enterprise fits, sold by contact.
    let huge = verify(&app, json!({"key": key, "metric": "storage_mb", "cost": 500_000})).await;
    let recommended = &huge["error"]["metadata"]["recommended"];
    assert_eq!((recommended["id"].clone(), recommended["contact"].clone()), (json!("plan_enterprise"), json!("sales")));

    // A refusal by the plan is charged to none of the key's counters.
    let after = verify(&app, json!({"key": key})).await["usage"]["used"].clone();
    let counted = |v: &Value| v.as_u64().expect("used");
    // What was charged since: the 24 that fit and this verify's 1; none of the refused costs.
    assert_eq!(counted(&after), counted(&before) + 24 + 1);
    // A metric that is no plan limit is only echoed.
    let tokens = verify(&app, json!({"key": key, "metric": "tokens", "cost": 5})).await;
    assert_eq!((tokens["valid"].clone(), tokens["metric"].clone()), (json!(true), json!("tokens")));
}

/// Gauges: a level reported with `kind: gauge` is its latest reading — duplicates and late
/// arrivals do not move it, nothing is summed — and plan limits of that resource are
/// checked against it.
async fn a_gauge_limit_is_checked_against_the_latest_reading(backend: Backend) {
    let app = TestApp::with(TestOptions {
        backend,
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("KEY_CACHE_TTL_MS".into(), "0".into())],
        ..Default::default()
    })
    .await;
    let token = app.jwt("gauge-team", "billing:read billing:write");
    let (_, made) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Gauge Inc", "contactEmail": "ops@gauge.example"}),
        )
        .await;
    let key = made["apiKey"].as_str().expect("key").to_owned();
    let at = |secs_ago: i64| (chrono::Utc::now() - chrono::Duration::seconds(secs_ago)).to_rfc3339();
    let reading = |id: &str, value: i64, when: String| json!({"id": id, "key": key, "metric": "concurrent_tasks", "quantity": value, "timestamp": when, "kind": "gauge"});
    // Two tasks running now; an older reading arrives late and a duplicate arrives twice.
    let (t1, t2, t0) = (at(10), at(5), at(20));
    let batch = json!({"events": [reading("g-1", 1, t1), reading("g-2", 2, t2.clone()), reading("g-0", 0, t0)]});
    let (code, body) = app.post("/api/v1/usage", SERVICE, &batch).await;
    assert_eq!((code, body["accepted"].clone(), body["batchId"].clone()), (202, json!(3), Value::Null), "{body}");
    let again = json!({"events": [reading("g-2", 2, t2)]});
    assert_eq!(app.post("/api/v1/usage", SERVICE, &again).await.0, 202);
    let stale = json!({"events": [reading("g-old", 0, at(30))]});
    assert_eq!(app.post("/api/v1/usage", SERVICE, &stale).await.0, 202, "accepted, but older than the reading held");
    // A gauge carries no cost.
    let costed = json!({"events": [{"id": "g-c", "key": key, "metric": "concurrent_tasks", "quantity": 1,
                                    "cost": 5, "timestamp": at(1), "kind": "gauge"}]});
    let (_, body) = app.post("/api/v1/usage", SERVICE, &costed).await;
    assert_eq!(body["rejected"], json!([{"id": "g-c", "reason": "invalid"}]), "{body}");

    let (_, usage) = app.get("/entitlements/usage", &token).await;
    let row =
        usage["entitlements"].as_array().and_then(|r| r.iter().find(|r| r["resource"] == "concurrent_tasks")).cloned();
    let row = row.expect("concurrent_tasks row");
    assert_eq!(
        (row["used"].clone(), row["at_limit"].clone()),
        (json!(2), json!(true)),
        "the latest reading, not a sum: {row}"
    );

    // Starter runs 2 tasks at once: a third is refused, Pro (10) recommended.
    let third = verify(&app, json!({"key": key, "metric": "concurrent_tasks", "cost": 1})).await;
    assert_eq!(third["reason"], json!("limit_exceeded"), "{third}");
    let meta = &third["error"]["metadata"];
    assert_eq!((meta["used"].clone(), meta["limit"].clone()), (json!(2), json!(2)));
    assert_eq!(meta["recommended"]["id"], json!("plan_pro"));
    // One task ends: the next reading lets a new one start.
    let batch = json!({"events": [reading("g-3", 1, at(0))]});
    assert_eq!(app.post("/api/v1/usage", SERVICE, &batch).await.0, 202);
    let next = verify(&app, json!({"key": key, "metric": "concurrent_tasks", "cost": 1})).await;
    assert_eq!(next["valid"], json!(true), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gauge_limit_is_checked_against_the_latest_reading_postgres() {
    a_gauge_limit_is_checked_against_the_latest_reading(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gauge_limit_is_checked_against_the_latest_reading_sqlite() {
    a_gauge_limit_is_checked_against_the_latest_reading(Backend::Sqlite).await;
}
