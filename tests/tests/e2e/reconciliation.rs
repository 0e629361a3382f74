//! Reconciliation and the operator's toolbox: a Stripe event the webhook never delivered is
//! found and applied once; a planted discrepancy is reported (route and CLI); a subscription
//! whose local state lags behind Stripe's is listed and mirrored; a rolling restart during a
//! burst loses and doubles nothing.

use billing::Micros;
use chrono::Utc;
use entities::OrderStatus;
use futures::StreamExt;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::fake_stripe::app_with_fake_stripe;
use tollgate_tests::{TestApp, TestOptions};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_never_delivered_is_found_by_reconciliation_and_applied_once() {
    let (app, stripe) = app_with_fake_stripe().await;
    let user = app.jwt("recon-user", "billing:read billing:write");
    let admin = app.jwt("recon-admin", "admin");
    let account = billing::accounts::ensure(&app.db.conn, "recon-user").await.expect("account");
    let (status, res) = app.post("/api/billing/topup", &user, &json!({"amount": 30, "method": "stripe"})).await;
    assert_eq!(status, 200, "{res}");
    stripe.hold_deliveries();
    stripe.complete_session(res["data"]["sessionId"].as_str().expect("session")).await;
    let lost = stripe.lose_held();
    assert_eq!(lost.len(), 1, "the webhook never hears of the payment");
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(account.id).await, Micros::ZERO);

    assert_eq!(app.post("/admin/reconciliation/run", &user, &json!({})).await.0, 403, "admins only");
    for _ in 0..2 {
        let (status, run) = app.post("/admin/reconciliation/run", &admin, &json!({})).await;
        assert_eq!(status, 200, "{run}");
        app.wait_drained(WAIT).await;
    }
    assert_eq!(app.balance(account.id).await, Micros::from_usd(30).expect("30"), "applied once, by reconciliation");
    let stored = entities::stripe_events::Entity::find_by_id(lost[0]["id"].as_str().expect("id").to_owned())
        .one(&app.db.conn)
        .await
        .expect("query");
    assert_eq!(stored.map(|e| e.status), Some(entities::StripeEventStatus::Processed));
    let (_, report) = app.get("/admin/reconciliation", &admin).await;
    assert_eq!(report["data"]["total"], json!(0), "{report}");
    assert_eq!(report["data"]["lastRun"]["result"]["stripeEvents"]["missed"], json!([]), "the second run found none");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_discrepancy_appears_in_the_report_and_the_cli() {
    let (app, _stripe) = app_with_fake_stripe().await;
    let admin = app.jwt("report-admin", "admin");
    let user = app.jwt("report-user", "billing:read");
    let account = billing::accounts::ensure(&app.db.conn, "report-user").await.expect("account");
    let (_, clean) = app.get("/admin/reconciliation", &admin).await;
    assert_eq!(clean["data"]["total"], json!(0), "{clean}");

    // A payment row whose ledger transfer is missing.
    let now = Utc::now();
    entities::payments::Entity::insert(entities::payments::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        account_id: Set(account.id),
        order_id: Set(None),
        provider: Set(entities::PaymentProvider::Stripe),
        provider_ref: Set("pi_planted_without_transfer".into()),
        amount: Set(billing::Micros::new(25_000_000)),
        amount_refunded: Set(billing::Micros::ZERO),
        status: Set(entities::PaymentStatus::Succeeded),
        subscription_ref: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("plant");
    assert_eq!(app.get("/admin/reconciliation", &user).await.0, 403);
    let (status, report) = app.get("/admin/reconciliation", &admin).await;
    assert_eq!(status, 200);
    let found = &report["data"]["paymentsWithoutCredits"];
    assert_eq!(found[0]["providerRef"], json!("pi_planted_without_transfer"), "{report}");
    assert_eq!(report["data"]["total"], json!(1));

    let out = std::process::Command::new(tollgate_tests::bin_dir().join("tollgate-admin"))
        .arg("report")
        .env("DATABASE_URL", &app.db.url)
        .output()
        .expect("run tollgate-admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(cli["paymentsWithoutCredits"], *found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_lagging_behind_stripe_is_listed_and_mirrored() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("lag-team", "billing:read billing:write");
    let admin = app.jwt("lag-admin", "admin");
    let (_, res) = app.call(Method::POST, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_pro"}))).await;
    let url = res["url"].as_str().expect("url").to_owned();
    let session = stripe.sessions().into_iter().find(|s| s["url"] == json!(url)).expect("session");
    stripe.complete_session(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    // Our row drifts (an event lost, a bug): Stripe says active.
    entities::subscriptions::Entity::update_many()
        .col_expr(entities::subscriptions::Column::Status, Expr::value("past_due"))
        .exec(&app.db.conn)
        .await
        .expect("drift");
    let (status, run) = app.post("/admin/reconciliation/run", &admin, &json!({})).await;
    assert_eq!(status, 200, "{run}");
    let differing = &run["data"]["result"]["subscriptionsDiffering"];
    assert_eq!((differing[0]["before"].clone(), differing[0]["after"].clone()), (json!("past_due"), json!("active")));
    let (_, sub) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(sub["status"], json!("active"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_during_a_burst_loses_and_doubles_nothing() {
    const BURST: usize = 5_000;
    let mut app = TestApp::with(TestOptions {
        env: vec![("QUEUE_STRIPE_EVENT_CONCURRENCY".into(), "16".into())],
        ..Default::default()
    })
    .await;
    app.start_worker(&[]).await;
    let account = billing::accounts::ensure(&app.db.conn, "burst-user").await.expect("account");
    let orders = app.seed_topup_orders(account.id, BURST, 1_000_000).await;
    let deliveries = futures::stream::iter(orders.iter().enumerate())
        .map(|(i, id)| {
            let app = &app;
            async move { app.deliver(&checkout_session_completed(&format!("evt_burst_{i}"), *id, 100)).await.status() }
        })
        .buffer_unordered(32);
    let app_ref = &app;
    let restart = async move {
        // Once the burst is under way, SIGTERM the first worker, as a deploy would.
        tollgate_tests::eventually(WAIT, "the burst to be under way", || async {
            let done = count_done(app_ref).await;
            (done >= 200).then_some(())
        })
        .await;
        app_ref.terminate_worker(0);
    };
    let (statuses, ()) = tokio::join!(deliveries.collect::<Vec<_>>(), restart);
    assert!(statuses.iter().all(|s| s.is_success()), "every delivery stored");
    let exit = app.wait_worker_exit(0, Duration::from_secs(60)).await;
    assert!(exit.success(), "the terminated worker finished its jobs and exited cleanly: {exit}");
    app.start_worker(&[]).await; // its replacement
    app.wait_drained(Duration::from_secs(240)).await;
    assert_eq!(app.balance(account.id).await, Micros::new(BURST as i64 * 1_000_000), "each top-up credited once");
    let transfers = entities::ledger_transfers::Entity::find()
        .filter(entities::ledger_transfers::Column::AccountId.eq(account.id))
        .count(&app.db.conn)
        .await
        .expect("count");
    assert_eq!(transfers as usize, BURST);
    assert!(app.dead_jobs().await.is_empty());
    app.assert_ledger_invariants().await;
}

async fn count_done(app: &TestApp) -> u64 {
    entities::orders::Entity::find()
        .filter(entities::orders::Column::Status.eq(OrderStatus::Completed))
        .count(&app.db.conn)
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_holds_its_jobs_until_resumed() {
    let app = TestApp::spawn().await;
    let admin = app.jwt("queue-admin", "admin");
    let user = app.jwt("queue-user", "billing:read");
    let account = billing::accounts::ensure(&app.db.conn, "queue-user").await.expect("account");
    assert_eq!(app.post("/admin/queues/stripe_event/pause", &user, &json!({})).await.0, 403);
    assert_eq!(app.post("/admin/queues/nope/pause", &admin, &json!({})).await.0, 404);
    let (status, res) = app.post("/admin/queues/stripe_event/pause", &admin, &json!({})).await;
    assert_eq!((status, res["data"]["paused"].clone()), (200, json!(true)), "{res}");
    // Within one controls pass (`RELAY_INTERVAL_MS`, 100 ms in tests) every worker has seen it.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let order = app.seed_topup_orders(account.id, 1, 1_000_000).await[0];
    assert_eq!(app.deliver(&checkout_session_completed("evt_paused_1", order, 100)).await.status(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(app.balance(account.id).await, Micros::ZERO, "held while paused");
    let (_, queues) = app.get("/admin/queues", &admin).await;
    let stripe_queue =
        queues["data"].as_array().expect("queues").iter().find(|q| q["queue"] == json!("stripe_event")).cloned();
    let stripe_queue = stripe_queue.expect("the stripe_event queue");
    assert_eq!(stripe_queue["paused"], json!(true));
    assert_eq!(
        stripe_queue["pending"].as_u64().unwrap_or(0) + stripe_queue["dispatched"].as_u64().unwrap_or(0),
        1,
        "{queues}"
    );

    let out = std::process::Command::new(tollgate_tests::bin_dir().join("tollgate-admin"))
        .args(["resume", "stripe_event"])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .expect("run tollgate-admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(account.id).await, Micros::from_usd(1).expect("1"), "run once resumed");
}

/// More missed events than one run lists: the next runs resume below the last event read
/// (Stripe lists newest first) instead of moving the cursor past events never fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_longer_than_one_run_resumes_and_skips_nothing() {
    let (app, stripe) = tollgate_tests::fake_stripe::app_with_fake_stripe_and(&[("RECONCILE_MAX_EVENTS", "2")]).await;
    let user = app.jwt("walk-user", "billing:read billing:write");
    let admin = app.jwt("walk-admin", "admin");
    let account = billing::accounts::ensure(&app.db.conn, "walk-user").await.expect("account");
    stripe.hold_deliveries();
    for _ in 0..5 {
        let (status, res) = app.post("/api/billing/topup", &user, &json!({"amount": 10, "method": "stripe"})).await;
        assert_eq!(status, 200, "{res}");
        stripe.complete_session(res["data"]["sessionId"].as_str().expect("session")).await;
    }
    assert!(stripe.lose_held().len() >= 5, "the webhook never hears of the payments");
    app.wait_drained(WAIT).await;
    let fifty = Micros::from_usd(50).expect("50");
    for run in 0..6 {
        let (status, body) = app.post("/admin/reconciliation/run", &admin, &json!({})).await;
        assert_eq!(status, 200, "{body}");
        app.wait_drained(WAIT).await;
        if app.balance(account.id).await == fifty {
            assert!(run >= 2, "two events a run: at least three runs, not {}", run + 1);
            break;
        }
    }
    assert_eq!(app.balance(account.id).await, fifty, "every missed payment credited, once");
    app.assert_ledger_invariants().await;
}
