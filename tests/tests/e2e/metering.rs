//! The gateway's hot path: key verification (exact quota under concurrency,
//! reasons, 402 metadata) and usage metering (duplicates, retried batches, the lateness
//! window, counters and ledger agreeing with the events sent, credit keys following the
//! balance).

use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::{TestApp, TestOptions};

const SERVICE: &str = "gateway-service-token-0123456789";

async fn app() -> TestApp {
    TestApp::with(TestOptions {
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("KEY_CACHE_TTL_MS".into(), "0".into())],
        ..TestOptions::default()
    })
    .await
}

async fn verify(app: &TestApp, key: &str, cost: u64) -> Value {
    let (status, res) = app.post("/api/v1/keys/verify", SERVICE, &json!({"key": key, "cost": cost})).await;
    assert_eq!(status, 200, "{res}");
    res
}

/// A key of a paid tier, made as the key-tier API checkout would leave it.
async fn tier_key(app: &TestApp, subject: &str, tier: entities::KeyTier) -> String {
    let account = billing::accounts::ensure(&app.db.conn, subject).await.expect("account");
    let new = billing::api_keys::NewKey {
        account_id: account.id,
        kind: entities::ApiKeyKind::Tier,
        name: "gateway".into(),
        tier: Some(tier),
        subscription_id: None,
        pledge_id: None,
        organization_name: Some("Acme".into()),
        contact_email: Some("dev@acme.com".into()),
        scopes: billing::api_keys::DEFAULT_SCOPES.into(),
        brand: None,
    };
    billing::api_keys::create(&app.db.conn, new).await.expect("key").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_verifies_against_ten_remaining_pass_exactly_ten() {
    let app = app().await;
    let key = tier_key(&app, "quota-user", entities::KeyTier::Starter).await;
    let (status, _) = app.post("/api/v1/keys/verify", "wrong-token-wrong-token-wrong", &json!({"key": key})).await;
    assert_eq!(status, 401, "the gateway's token is required");

    let first = verify(&app, &key, 9_990).await;
    assert_eq!((first["valid"].clone(), first["usage"]["remaining"].clone()), (json!(true), json!(10)), "{first}");
    assert_eq!((first["tier"].clone(), first["ratelimit"]["limit"].clone()), (json!("starter"), json!(100)));
    // A fresh second, so the 100 below stay inside Starter's 100 requests per second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let calls = (0..100).map(|_| verify(&app, &key, 1));
    let answers = futures::future::join_all(calls).await;
    let passed = answers.iter().filter(|a| a["valid"] == json!(true)).count();
    let refused: Vec<&Value> = answers.iter().filter(|a| a["valid"] == json!(false)).collect();
    assert_eq!(passed, 10, "exactly the remaining quota passes");
    assert!(refused.iter().all(|a| a["reason"] == json!("quota_exceeded")), "{:?}", refused.first());
    let e = &refused[0]["error"];
    assert_eq!((e["status"].clone(), e["code"].clone()), (json!(402), json!("limit_exceeded")), "{e}");
    assert_eq!(e["metadata"]["recommended"]["plan"]["id"], json!("tier-growth"), "the cheapest tier above: {e}");

    let res = app
        .http
        .get(format!("{}/api/v1/billing/usage", app.base_url))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("usage");
    let usage: Value = res.json().await.expect("json");
    assert_eq!(usage, json!({"queriesThisMonth": 10_000, "monthlyLimit": 10_000, "remaining": 0}));
    let unknown = verify(&app, "tg_tier_0000", 1).await;
    assert_eq!((unknown["valid"].clone(), unknown["reason"].clone()), (json!(false), json!("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_free_tier_rate_limit_refuses_the_eleventh_request_in_a_second() {
    let app = app().await;
    let key = tier_key(&app, "rate-user", entities::KeyTier::Free).await;
    let answers = futures::future::join_all((0..15).map(|_| verify(&app, &key, 0))).await;
    let passed = answers.iter().filter(|a| a["valid"] == json!(true)).count();
    let limited = answers.iter().filter(|a| a["reason"] == json!("rate_limited")).count();
    assert_eq!((passed, limited), (10, 5), "10 per second, the rest rate limited");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(verify(&app, &key, 0).await["valid"], json!(true), "the window slides on");
}

async fn send(app: &TestApp, events: &Value) -> Value {
    let (status, res) = app.post("/api/v1/usage", SERVICE, &json!({"events": events})).await;
    assert_eq!(status, 202, "{res}");
    res
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_once_debits_credits_and_credit_keys_follow_the_balance() {
    let app = app().await;
    let token = app.jwt("meter-user", "billing:read billing:write");
    // 10 USD of credits, paid by card.
    let order = app.topup_order("meter-user", 10).await;
    app.deliver(&checkout_session_completed("evt_meter_topup", order.id, 1_000)).await;
    app.wait_drained(Duration::from_secs(20)).await;
    let (status, res) = app.post("/api/keys/credit", &token, &json!({"name": "agent"})).await;
    assert_eq!(status, 201, "{res}");
    let key = res["data"]["key"].as_str().expect("key").to_owned();
    let key_id = res["data"]["id"].as_str().expect("id").to_owned();
    let ok = verify(&app, &key, 1).await;
    assert_eq!((ok["valid"].clone(), ok["credits"]["remaining"].clone()), (json!(true), json!(10_000_000)), "{ok}");

    let now = chrono::Utc::now();
    let ts = |ago_secs: i64| (now - chrono::Duration::seconds(ago_secs)).to_rfc3339();
    let ev = |id: &str, cost: i64, at: String| json!({"id": id, "key": key, "metric": "tokens", "quantity": 100, "cost": cost, "timestamp": at});
    // Two batches: a duplicate inside the first, the second a retry of the first plus one
    // new event, one late event inside the window and one outside it.
    let first = json!([ev("e1", 2_500_000, ts(5)), ev("e2", 2_500_000, ts(4)), ev("e1", 2_500_000, ts(5))]);
    let res = send(&app, &first).await;
    assert_eq!(res["accepted"], json!(3));
    let mut second = first.as_array().expect("array").clone();
    second.push(ev("e3", 2_500_000, ts(3_600)));
    second.push(ev("e-too-late", 2_500_000, ts(4 * 86_400)));
    second.push(json!({"id": "e-unknown", "key": "tg_cr_nope", "metric": "tokens", "quantity": 1, "timestamp": ts(1)}));
    let res = send(&app, &json!(second)).await;
    let reasons: Vec<(Value, Value)> =
        res["rejected"].as_array().expect("rejected").iter().map(|r| (r["id"].clone(), r["reason"].clone())).collect();
    assert_eq!(reasons, [(json!("e-too-late"), json!("too_late")), (json!("e-unknown"), json!("unknown_key"))]);
    app.wait_drained(Duration::from_secs(20)).await;

    // Counted: e1, e2, e3 once each.
    let counters = billing::usage::key_counters(&app.db.conn, key_id.parse().expect("uuid")).await.expect("counters");
    let total: (i64, i64) = counters.iter().fold((0, 0), |(q, c), r| (q + r.quantity, c + r.cost.get()));
    assert_eq!(total, (300, 7_500_000), "{counters:?}");
    let account = billing::accounts::ensure(&app.db.conn, "meter-user").await.expect("account");
    assert_eq!(app.balance(account.id).await.get(), 2_500_000, "10 USD less 7.50");
    let (_, history) = app.get("/credits/transactions", &token).await;
    let usage: Vec<&Value> =
        history["data"].as_array().expect("data").iter().filter(|t| t["type"] == json!("ai_usage")).collect();
    assert_eq!(usage.len(), 2, "one debit per batch and key: {history}");

    // The last quarter, then more than is left: the key stops at zero.
    send(&app, &json!([ev("e4", 2_500_000, ts(1)), ev("e5", 900_000, ts(1))])).await;
    app.wait_drained(Duration::from_secs(20)).await;
    assert_eq!(app.balance(account.id).await.get(), 0);
    let refused = verify(&app, &key, 1).await;
    assert_eq!(refused["reason"], json!("no_credits"), "{refused}");
    assert_eq!(refused["error"]["metadata"]["recommended"]["id"], json!("plan_pro"), "{refused}");

    // A top-up turns it back on.
    let order = app.topup_order("meter-user", 20).await;
    app.deliver(&checkout_session_completed("evt_meter_topup2", order.id, 2_000)).await;
    app.wait_drained(Duration::from_secs(20)).await;
    let again = verify(&app, &key, 1).await;
    assert_eq!((again["valid"].clone(), again["credits"]["remaining"].clone()), (json!(true), json!(20_000_000)));

    // Revoked keys stop at once (this api's cache is off).
    app.call(reqwest::Method::DELETE, &format!("/api/keys/{key_id}"), Some(&token), None).await;
    assert_eq!(verify(&app, &key, 1).await["reason"], json!("revoked"));
    assert!(app.dead_jobs().await.is_empty());
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_count_in_their_own_month_across_the_rollover() {
    // A window wide enough to reach back past the turn of a month.
    let app = TestApp::with(TestOptions {
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("USAGE_LATENESS_SECS".into(), "7776000".into())],
        ..TestOptions::default()
    })
    .await;
    let key = tier_key(&app, "rollover-user", entities::KeyTier::Free).await;
    let ev = |id: &str, at: &str| json!({"id": id, "key": key, "metric": "queries", "quantity": 1, "timestamp": at});
    let res = send(
        &app,
        &json!([
            ev("before", "2026-10-31T23:59:59.999Z"),
            ev("at", "2026-11-01T00:00:00Z"),
            ev("after", "2026-11-01T00:00:00.001Z")
        ]),
    )
    .await;
    assert_eq!(res["accepted"], json!(3), "{res}");
    app.wait_drained(Duration::from_secs(20)).await;
    let account = billing::accounts::ensure(&app.db.conn, "rollover-user").await.expect("account");
    let oct = billing::usage::account_total(&app.db.conn, account.id, "queries", "2026-10").await.expect("oct");
    let nov = billing::usage::account_total(&app.db.conn, account.id, "queries", "2026-11").await.expect("nov");
    assert_eq!((oct, nov), (1, 2));
}

/// The quick start's SQLite meters the same way: one debit per key, the counters, and a
/// retried batch counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metering_on_sqlite_debits_once() {
    let app = TestApp::with(TestOptions {
        backend: tollgate_tests::Backend::Sqlite,
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into())],
        ..TestOptions::default()
    })
    .await;
    let user = app.jwt("lite-user", "billing:write");
    assert_eq!(app.post("/checkin", &user, &json!({})).await.0, 200, "10 credits = 100,000 micro-USD");
    let key = tier_key(&app, "lite-user", entities::KeyTier::Free).await;
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("lite-{i}"), "key": key, "metric": "tokens", "quantity": 2, "cost": 30_000, "timestamp": now}))
        .collect();
    send(&app, &json!(events)).await;
    send(&app, &json!(events)).await;
    app.wait_drained(Duration::from_secs(20)).await;
    let account = billing::accounts::ensure(&app.db.conn, "lite-user").await.expect("account");
    assert_eq!(
        app.balance(account.id).await.get(),
        0,
        "150,000 asked, 100,000 there: all of it taken, never below zero"
    );
    let (_, history) = app.get("/credits/transactions", &user).await;
    let usage: Vec<&Value> =
        history["data"].as_array().expect("data").iter().filter(|t| t["type"] == json!("ai_usage")).collect();
    assert_eq!(usage.len(), 1, "one debit for the key: {history}");
    assert_eq!(usage[0]["amount"], json!(-10));
    let total = billing::usage::account_total(
        &app.db.conn,
        account.id,
        "tokens",
        &billing::usage::period_of(chrono::Utc::now()),
    )
    .await
    .expect("total");
    assert_eq!(total, 10, "five events of 2, counted once");
    app.assert_ledger_invariants().await;
}

/// A backlog of batches, overlapping ids between neighbours, metered by two workers that
/// each take several batches per transaction: every event counts once, the counters and the
/// ledger agree with the events sent, and every batch was metered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_metered_in_merged_transactions_exactly_once() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let mut app = TestApp::with(TestOptions {
        worker: false,
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into())],
        ..TestOptions::default()
    })
    .await;
    let mut keys = Vec::new();
    for user in ["merge-a", "merge-b", "merge-c"] {
        assert_eq!(app.post("/checkin", &app.jwt(user, "billing:write"), &json!({})).await.0, 200);
        keys.push(tier_key(&app, user, entities::KeyTier::Growth).await);
        keys.push(tier_key(&app, user, entities::KeyTier::Growth).await);
    }
    let now = chrono::Utc::now().to_rfc3339();
    let mut unique = std::collections::HashSet::new();
    for b in 0..20 {
        // 40 new events, and 10 of the previous batch's again.
        let ids =
            (0..40).map(|j| format!("b{b}-e{j}")).chain((0..10).filter(|_| b > 0).map(|j| format!("b{}-e{j}", b - 1)));
        let events: Vec<Value> = ids
            .map(|id| {
                let n: usize = id.bytes().map(usize::from).sum();
                let key = &keys[n % keys.len()];
                unique.insert((key.clone(), id.clone()));
                json!({"id": id, "key": key, "metric": "tokens", "quantity": 1, "cost": 100, "timestamp": now})
            })
            .collect();
        send(&app, &json!(events)).await;
    }
    // An id is unique per account: the same id on two keys of one account counts once.
    let per_account: std::collections::HashSet<(usize, String)> =
        unique.iter().map(|(k, id)| (keys.iter().position(|x| x == k).unwrap_or(0) / 2, id.clone())).collect();
    let expected = per_account.len() as i64;

    app.start_worker(&[("QUEUE_USAGE_METERING_CONCURRENCY", "2")]).await;
    app.start_worker(&[("QUEUE_USAGE_METERING_CONCURRENCY", "2")]).await;
    app.wait_drained(Duration::from_secs(30)).await;

    let db = &app.db.conn;
    assert_eq!(entities::usage_batches::Entity::find().count(db).await.expect("batches"), 0, "every batch metered");
    assert_eq!(entities::usage_events::Entity::find().count(db).await.expect("events") as i64, expected);
    let counters = entities::usage_counters::Entity::find().all(db).await.expect("counters");
    assert_eq!(counters.iter().map(|c| c.quantity).sum::<i64>(), expected, "counters agree with the events");
    let debits = entities::ledger_transfers::Entity::find()
        .filter(entities::ledger_transfers::Column::Kind.eq(entities::TransferKind::Usage))
        .all(db)
        .await
        .expect("debits");
    assert_eq!(debits.iter().map(|t| t.amount.get()).sum::<i64>(), expected * 100, "the ledger agrees with the events");
    let jobs = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(entities::JobQueue::UsageMetering))
        .all(db)
        .await
        .expect("jobs");
    let merged: Vec<u64> = jobs.iter().filter_map(|j| j.result.as_ref()?["batches"].as_u64()).collect();
    assert_eq!(merged.iter().sum::<u64>(), 20, "each batch metered once: {merged:?}");
    assert!(merged.iter().any(|n| *n > 1), "a backlog is metered several batches at a time: {merged:?}");
    assert!(app.dead_jobs().await.is_empty());
    app.assert_ledger_invariants().await;
}

/// The usage batch's schema is enforced as documented: an event that breaks it refuses the
/// whole batch (400, nothing recorded); an event that fits the schema but names neither key
/// nor key id is refused on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_breaks_the_schema_records_nothing() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = app().await;
    let key = tier_key(&app, "schema-user", entities::KeyTier::Starter).await;
    let now = chrono::Utc::now().to_rfc3339();
    let good = json!({"id": "ok-1", "key": key, "metric": "requests", "quantity": 1, "timestamp": now});
    for (bad, field) in [
        (json!({"id": "x".repeat(256), "key": key, "metric": "requests", "quantity": 1, "timestamp": now}), "id"),
        (json!({"id": "neg", "key": key, "metric": "requests", "quantity": -1, "timestamp": now}), "quantity"),
        (json!({"id": "metric", "key": key, "metric": "has space", "quantity": 1, "timestamp": now}), "metric"),
        (json!({"id": "kid", "keyId": "", "metric": "requests", "quantity": 1, "timestamp": now}), "keyId"),
    ] {
        let (status, res) = app.post("/api/v1/usage", SERVICE, &json!({"events": [good, bad]})).await;
        assert_eq!(status, 400, "{field}: {res}");
    }
    let stored = entities::usage_batches::Entity::find().count(&app.db.conn).await.expect("count");
    assert_eq!(stored, 0, "a refused batch records nothing");

    let neither = json!({"id": "no-key", "metric": "requests", "quantity": 1, "timestamp": now});
    let (status, res) = app.post("/api/v1/usage", SERVICE, &json!({"events": [good, neither]})).await;
    assert_eq!(status, 202, "{res}");
    assert_eq!(res["accepted"], json!(1), "{res}");
    assert_eq!(res["rejected"], json!([{"id": "no-key", "reason": "invalid"}]), "{res}");
}
