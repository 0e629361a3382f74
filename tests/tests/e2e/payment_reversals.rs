//! Refunds and chargebacks take back what a payment bought: credits (never below zero, the
//! rest a recorded shortfall), revenue, and — when the whole payment is reversed — the
//! access it paid for. Against the fake Stripe, which names only the PaymentIntent on a
//! charge, as Stripe's API has since 2025-03-31.

use billing::Micros;
use entities::{KeyStatus, LedgerAccountKind, SubscriptionStatus};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::TestApp;
use tollgate_tests::fake_stripe::{FakeStripe, app_with_fake_stripe};

const WAIT: Duration = Duration::from_secs(20);

async fn revenue(app: &TestApp) -> i64 {
    entities::ledger_accounts::Entity::find()
        .filter(entities::ledger_accounts::Column::Kind.eq(LedgerAccountKind::Revenue))
        .all(&app.db.conn)
        .await
        .expect("revenue")
        .iter()
        .map(|a| a.balance.get())
        .sum()
}

/// Subscribes to Pro (20 USD a month, 10 USD of credits a period) and pays; the Stripe
/// subscription and its first invoice.
async fn subscribe_pro(app: &TestApp, stripe: &FakeStripe, token: &str) -> (String, String) {
    let (status, body) =
        app.call(Method::POST, "/subscription", Some(token), Some(&json!({"plan_id": "plan_pro"}))).await;
    assert_eq!(status, 200, "{body}");
    let session = stripe.sessions().into_iter().find(|s| s["url"] == body["url"]).expect("session");
    let event = stripe.complete_session(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    let sub = event["data"]["object"]["subscription"].as_str().expect("subscription").to_owned();
    let invoice = stripe
        .invoices()
        .into_iter()
        .find(|i| i["parent"]["subscription_details"]["subscription"] == json!(sub))
        .expect("the first invoice");
    (sub, invoice["id"].as_str().expect("id").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_refund_takes_back_the_period_credits_and_revenue_and_a_full_one_ends_the_subscription() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("refund-invoice", "billing:read billing:write");
    let id = app.account_id("refund-invoice").await;
    let (sub, invoice) = subscribe_pro(&app, &stripe, &token).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(10).expect("10"), "the period's credits");
    assert_eq!(revenue(&app).await, 20_000_000, "20 USD earned");

    // Half the invoice is refunded: half the period's credits and half the revenue go back.
    stripe.refund_invoice(&invoice, 1000).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(5).expect("5"));
    assert_eq!(revenue(&app).await, 10_000_000);
    let (_, body) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(body["status"], json!("active"), "a partial refund keeps the period: {body}");

    // The rest: every credit the period granted is gone, and so is the subscription.
    stripe.refund_invoice(&invoice, 1000).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::ZERO);
    assert_eq!(revenue(&app).await, 0);
    tollgate_tests::eventually(WAIT, "the subscription canceled at Stripe", || async {
        (stripe.subscription(&sub)?["status"] == json!("canceled")).then_some(())
    })
    .await;
    app.wait_drained(WAIT).await;
    let (_, body) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(body, Value::Null, "no paid subscription after a full refund");
    let payment = entities::payments::Entity::find().one(&app.db.conn).await.expect("q").expect("payment");
    assert_eq!(payment.status, entities::PaymentStatus::Refunded);
    assert!(app.dead_jobs().await.is_empty(), "{:?}", app.dead_jobs().await);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_dispute_withdraws_revenue_and_credits_and_a_lost_one_ends_the_subscription() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("dispute-invoice", "billing:read billing:write");
    let id = app.account_id("dispute-invoice").await;
    let (sub, invoice) = subscribe_pro(&app, &stripe, &token).await;

    let dispute = stripe.dispute_invoice(&invoice).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::ZERO, "the period's credits are withdrawn with the money");
    assert_eq!(revenue(&app).await, 0);
    stripe.close_dispute(&dispute, false).await;
    app.wait_drained(WAIT).await;
    tollgate_tests::eventually(WAIT, "the subscription canceled at Stripe", || async {
        (stripe.subscription(&sub)?["status"] == json!("canceled")).then_some(())
    })
    .await;
    app.wait_drained(WAIT).await;
    let (_, body) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(body, Value::Null, "{body}");
    app.assert_ledger_invariants().await;
}

/// A 30-day plan by card, with a key drawing on it; returns the Checkout session and key.
async fn thirty_day_plan_with_key(app: &TestApp, stripe: &FakeStripe, token: &str) -> (String, String) {
    let (status, body) =
        app.post("/api/billing/checkout", token, &json!({"planSlug": "pro", "method": "stripe"})).await;
    assert_eq!(status, 200, "{body}");
    let session = body["sessionId"].as_str().expect("session").to_owned();
    stripe.complete_session(&session).await;
    app.wait_drained(WAIT).await;
    let sub = entities::subscriptions::Entity::find().one(&app.db.conn).await.expect("q").expect("subscription");
    let (status, key) = app.post("/api/keys/subscription", token, &json!({"subscriptionId": sub.id})).await;
    assert_eq!(status, 201, "{key}");
    let key_id = key["data"]["id"].as_str().expect("key id").to_owned();
    let (_, status) = app.get("/api/billing/status", token).await;
    let keys = &status["data"]["subscriptions"][0]["keys"];
    assert_eq!(
        (keys[0]["id"].clone(), keys[0]["isActive"].clone()),
        (json!(key_id), json!(true)),
        "each subscription lists its keys: {status}"
    );
    (session, key_id)
}

async fn assert_plan_ended(app: &TestApp, token: &str, key_id: &str) {
    let sub = entities::subscriptions::Entity::find().one(&app.db.conn).await.expect("q").expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    let key = entities::api_keys::Entity::find_by_id(uuid::Uuid::parse_str(key_id).expect("uuid"))
        .one(&app.db.conn)
        .await
        .expect("q")
        .expect("key");
    assert_eq!(key.status, KeyStatus::Revoked, "the plan's key stops working");
    let (_, status) = app.get("/api/billing/status", token).await;
    assert_eq!(status["data"]["plan"], Value::Null, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_thirty_day_plan_ends_with_its_keys_but_a_partial_refund_keeps_it() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("refund-plan", "billing:read billing:write");
    let (session, key_id) = thirty_day_plan_with_key(&app, &stripe, &token).await;
    assert_eq!(revenue(&app).await, 60_000_000);
    let (_, history) = app.get("/api/billing/transactions", &token).await;
    let paid = history["data"].as_array().expect("list").iter().find(|l| l["category"] == json!("payment")).cloned();
    assert_eq!(paid.map(|l| l["amount"].clone()), Some(json!(60)), "the billing history lists payments too: {history}");

    stripe.refund(&session, 1000).await;
    app.wait_drained(WAIT).await;
    let sub = entities::subscriptions::Entity::find().one(&app.db.conn).await.expect("q").expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Active, "a partial refund keeps the plan");
    assert_eq!(revenue(&app).await, 50_000_000);

    let last = stripe.refund(&session, 5000).await;
    app.wait_drained(WAIT).await;
    assert_plan_ended(&app, &token, &key_id).await;
    assert_eq!(revenue(&app).await, 0);
    // Delivered again: nothing more.
    app.deliver(&last).await;
    app.wait_drained(WAIT).await;
    assert_eq!(revenue(&app).await, 0);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_dispute_of_a_thirty_day_plan_ends_it_and_its_keys() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("dispute-plan", "billing:read billing:write");
    let (session, key_id) = thirty_day_plan_with_key(&app, &stripe, &token).await;
    let dispute = stripe.dispute(&session).await;
    app.wait_drained(WAIT).await;
    assert_eq!(revenue(&app).await, 0, "the disputed money is held");
    let sub = entities::subscriptions::Entity::find().one(&app.db.conn).await.expect("q").expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Active, "open disputes keep access until decided");
    stripe.close_dispute(&dispute, false).await;
    app.wait_drained(WAIT).await;
    assert_plan_ended(&app, &token, &key_id).await;
    app.assert_ledger_invariants().await;
}

/// A clawback reads the balance under a row lock: metering debiting the same account at
/// the same moment waits for it instead of making either fail, and nothing dead-letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clawback_racing_usage_debits_never_dead_letters() {
    let (mut app, stripe) = app_with_fake_stripe().await;
    app.start_worker(&[]).await;
    let token = app.jwt("race-refund", "billing:read billing:write");
    let id = app.account_id("race-refund").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (_, body) = app.post("/api/billing/topup", &token, &json!({"amount": 10, "method": "stripe"})).await;
        let session = body["data"]["sessionId"].as_str().expect("session").to_owned();
        stripe.complete_session(&session).await;
        sessions.push(session);
    }
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(30).expect("30"));
    // Usage spends while all three payments are refunded.
    let spend = async {
        for i in 0..40 {
            let txn = sea_orm::TransactionTrait::begin(&app.db.conn).await.expect("txn");
            let balance = app.balance(id).await;
            let debit = billing::ledger::customer_account(&txn, id).await.expect("credits");
            let credit =
                billing::ledger::system_account(&txn, billing::ledger::SystemAccount::Usage).await.expect("usage");
            let amount = Micros::new(500_000).min(balance);
            if amount.is_positive() {
                // A refused debit (the refund got there first) rolls back, as metering's does.
                let posted = billing::ledger::post(
                    &txn,
                    billing::ledger::TransferRequest {
                        id: format!("usage:race:{i}"),
                        debit,
                        credit,
                        amount,
                        kind: entities::TransferKind::Usage,
                        account_id: Some(id),
                        reference: "race".into(),
                        description: "usage".into(),
                    },
                )
                .await;
                if posted.is_err() {
                    continue;
                }
            }
            let _ = txn.commit().await;
        }
    };
    let refund = async {
        for s in &sessions {
            stripe.refund(s, 1000).await;
        }
    };
    tokio::join!(spend, refund);
    app.wait_drained(WAIT).await;
    assert!(app.dead_jobs().await.is_empty(), "{:?}", app.dead_jobs().await);
    assert_eq!(app.balance(id).await, Micros::ZERO, "all refunded or spent, never below zero");
    app.assert_ledger_invariants().await;
}
