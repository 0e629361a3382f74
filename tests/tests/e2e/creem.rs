//! Creem, the second card provider, against the project's fake Creem: a credit purchase, a
//! subscription's whole life (active → paid → canceled → expired), refunds and disputes,
//! each event delivered duplicated and out of order; and the webhook's refusals.

use billing::Micros;
use entities::{LedgerAccountKind, PaymentProvider, StripeEventStatus, SubscriptionStatus};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::fake_creem::{self, FakeCreem};
use tollgate_tests::{TestApp, TestOptions, eventually};

const WAIT: Duration = Duration::from_secs(30);
const TOPUP_PRODUCT: &str = "prod_credit_dollar";
const PRO_PRODUCT: &str = "prod_pro_monthly";

async fn setup() -> (TestApp, FakeCreem) {
    let creem = FakeCreem::start().await;
    creem.one_time_product(TOPUP_PRODUCT, 100);
    creem.monthly_product(PRO_PRODUCT, "Pro", 2000);
    let mut env = creem.env(Some(TOPUP_PRODUCT));
    // The account's own webhook receiver is on 127.0.0.1.
    env.push(("WEBHOOK_ALLOW_PRIVATE_TARGETS".into(), "true".into()));
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    creem.deliver_to(&webhook(&app));
    (app, creem)
}

fn webhook(app: &TestApp) -> String {
    format!("{}/payment/webhook/creem", app.base_url)
}

/// Each event three times, the whole list shuffled (a fixed, thorough order).
fn duplicated_and_shuffled(events: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = events.iter().rev().cloned().collect();
    out.extend(events.iter().cloned());
    out.extend(events.iter().rev().cloned());
    let middle = out.len() / 2;
    out.swap(0, middle);
    out
}

async fn deliver(app: &TestApp, events: &[Value]) {
    let statuses = FakeCreem::deliver(&webhook(app), events).await;
    assert!(statuses.iter().all(|s| *s == 200), "every delivery stored: {statuses:?}");
    app.wait_drained(WAIT).await;
    assert!(app.dead_jobs().await.is_empty(), "no dead job: {:?}", app.dead_jobs().await);
    app.assert_ledger_invariants().await;
}

async fn balance_of(app: &TestApp, kind: LedgerAccountKind) -> i64 {
    entities::ledger_accounts::Entity::find()
        .filter(entities::ledger_accounts::Column::Kind.eq(kind))
        .all(&app.db.conn)
        .await
        .expect("accounts")
        .iter()
        .map(|a| a.balance.get())
        .sum()
}

fn usd(n: i64) -> Micros {
    Micros::from_usd(n).expect("usd")
}

/// Opens a Creem checkout through the credits API; the fake's checkout behind its URL.
async fn open_checkout(app: &TestApp, creem: &FakeCreem, token: &str, body: Value) -> Value {
    let (status, res) = app.post("/payment/create-session", token, &body).await;
    assert_eq!(status, 200, "{res}");
    let id = res["data"]["session_id"].as_str().expect("session id");
    assert!(res["data"]["url"].as_str().is_some_and(|u| u.starts_with(&creem.base_url)), "{res}");
    creem.checkout(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creem_credits_are_credited_once_and_refunds_and_disputes_take_them_back() {
    let (app, creem) = setup().await;
    let token = app.jwt("creem-buyer", "billing:read billing:write");
    let account = app.account_id("creem-buyer").await;
    let checkout =
        open_checkout(&app, &creem, &token, json!({"channel": "creem", "type": "credits", "amount": 2500})).await;
    assert_eq!((checkout["product"].clone(), checkout["units"].clone()), (json!(TOPUP_PRODUCT), json!(25)));
    let order_id = checkout["metadata"]["order_id"].as_str().expect("order id").to_owned();
    assert_eq!(checkout["request_id"], json!(order_id), "the request id is our order: a retry gets the same checkout");
    assert_eq!(app.balance(account).await, Micros::ZERO, "nothing before payment");

    let events = creem.pay(checkout["id"].as_str().expect("id"));
    deliver(&app, &duplicated_and_shuffled(&events)).await;
    assert_eq!(app.balance(account).await, usd(25), "credited once");
    assert_eq!(balance_of(&app, LedgerAccountKind::CreemClearing).await, -25_000_000, "owed by Creem");
    assert_eq!(balance_of(&app, LedgerAccountKind::StripeClearing).await, 0, "nothing through Stripe");
    let (_, order) = app.get(&format!("/orders/{order_id}"), &token).await;
    assert_eq!(order["data"]["status"], json!("completed"), "{order}");
    let payments = entities::payments::Entity::find()
        .filter(entities::payments::Column::AccountId.eq(account))
        .all(&app.db.conn)
        .await
        .expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!((payments[0].provider, payments[0].amount), (PaymentProvider::Creem, usd(25)));
    let transaction = creem.checkout(checkout["id"].as_str().expect("id"))["order"]["transaction"]
        .as_str()
        .expect("transaction")
        .to_owned();
    assert_eq!(payments[0].provider_ref, transaction);

    // A 10 USD refund, delivered twice, takes 10 USD of credits back once.
    let refund = creem.refund(&transaction, 1000);
    deliver(&app, &[refund.clone(), refund]).await;
    assert_eq!(app.balance(account).await, usd(15));
    assert_eq!(balance_of(&app, LedgerAccountKind::CreemClearing).await, -15_000_000);
    // A second, different refund of 5 USD adds up.
    deliver(&app, &[creem.refund(&transaction, 500)]).await;
    assert_eq!(app.balance(account).await, usd(10));
    // A chargeback of the rest withdraws it, once.
    let dispute = creem.dispute(&transaction, 1000);
    deliver(&app, &[dispute.clone(), dispute]).await;
    assert_eq!(app.balance(account).await, Micros::ZERO);
    assert_eq!(balance_of(&app, LedgerAccountKind::CreemClearing).await, 0, "every dollar given back");
}

/// Puts Pro on sale through Creem (admin), subscribes `token`'s account and pays, the
/// events duplicated and shuffled; the Creem subscription and its first transaction.
async fn subscribe_pro(app: &TestApp, creem: &FakeCreem, token: &str) -> (String, String) {
    let admin = app.jwt("creem-admin", "admin");
    let (status, plan) = app
        .call(
            Method::PUT,
            "/admin/billing/plans/plan_pro",
            Some(&admin),
            Some(&json!({"creem_product_id": PRO_PRODUCT})),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["data"]["creem_product_id"], json!(PRO_PRODUCT));
    let body = json!({"channel": "creem", "type": "subscription", "plan_id": "plan_pro"});
    let checkout = open_checkout(app, creem, token, body).await;
    assert_eq!(checkout["product"], json!(PRO_PRODUCT));
    let events = creem.pay(checkout["id"].as_str().expect("id"));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["eventType"].as_str()).collect();
    assert_eq!(kinds, ["checkout.completed", "subscription.active", "subscription.paid"]);
    // The payment and the subscription's news first, the checkout last.
    deliver(app, &duplicated_and_shuffled(&events)).await;
    let sub = events[2]["object"].clone();
    (sub["id"].as_str().expect("sub").to_owned(), sub["last_transaction_id"].as_str().expect("tran").to_owned())
}

async fn mirror(app: &TestApp, creem_id: &str) -> entities::subscriptions::Model {
    entities::subscriptions::Entity::find()
        .filter(entities::subscriptions::Column::CreemSubscriptionId.eq(creem_id))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("the mirror")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creem_subscription_lives_active_paid_canceled_expired() {
    let (app, creem) = setup().await;
    let token = app.jwt("creem-team", "billing:read billing:write");
    let account = app.account_id("creem-team").await;
    // The team's app hears what happens to its subscription.
    app.give_key_tier("creem-team", "tier-starter").await;
    let hook = tollgate_tests::receiver::Receiver::start().await;
    let (status, endpoint) =
        app.call(Method::POST, "/api/v1/webhooks", Some(&token), Some(&json!({"url": hook.url}))).await;
    assert_eq!(status, 201, "{endpoint}");
    let (sub_id, _) = subscribe_pro(&app, &creem, &token).await;
    let (status, sub) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!((sub["status"].clone(), sub["plan_id"].clone()), (json!("active"), json!("plan_pro")), "{sub}");
    assert_eq!(sub["interval"], json!("monthly"));
    assert_eq!(app.balance(account).await, usd(10), "the first period's credits, once");
    assert_eq!(balance_of(&app, LedgerAccountKind::Revenue).await, 20_000_000, "20 USD earned");

    // A renewal, delivered twice: the next period's credits once.
    let renewal = creem.renew(&sub_id);
    deliver(&app, &[renewal.clone(), renewal]).await;
    assert_eq!(app.balance(account).await, usd(20));
    assert_eq!(balance_of(&app, LedgerAccountKind::Revenue).await, 40_000_000);

    // The portal of a Creem subscription is Creem's.
    let (status, portal) = app
        .call(
            Method::POST,
            "/subscription/portal",
            Some(&token),
            Some(&json!({"return_url": "https://app.example/settings"})),
        )
        .await;
    assert_eq!(status, 200, "{portal}");
    assert!(
        portal["url"].as_str().is_some_and(|u| u.starts_with(&format!("{}/portal/cust_", creem.base_url))),
        "{portal}"
    );
    // Plan changes happen in Creem's portal.
    let (status, body) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (409, json!("managed_by_provider")), "{body}");

    // Canceled at Creem: no paid subscription any more; an old event after it changes nothing.
    let canceled = creem.cancel(&sub_id);
    deliver(&app, &[canceled]).await;
    assert_eq!(mirror(&app, &sub_id).await.status, SubscriptionStatus::Canceled);
    let (_, sub) = app.call(Method::GET, "/subscription", Some(&token), None).await;
    assert_eq!(sub, Value::Null, "{sub}");
    deliver(&app, &[fake_creem::event("subscription.active", creem.subscription(&sub_id))]).await;
    assert_eq!(mirror(&app, &sub_id).await.status, SubscriptionStatus::Canceled, "Creem's state, not the event's");

    // Its period runs out.
    deliver(&app, &[creem.expire(&sub_id)]).await;
    assert_eq!(mirror(&app, &sub_id).await.status, SubscriptionStatus::Expired);
    assert_eq!(app.balance(account).await, usd(20), "credits granted stay");

    // Each change told once, whatever the provider's duplicates.
    let told = eventually(WAIT, "the subscription's events", || async {
        let got: Vec<String> =
            hook.received().iter().filter_map(|r| r.json()["type"].as_str().map(str::to_owned)).collect();
        got.iter().any(|t| t == "subscription.expired").then_some(got)
    })
    .await;
    let count = |t: &str| told.iter().filter(|x| *x == t).count();
    assert_eq!(count("subscription.created"), 1, "{told:?}");
    assert_eq!(count("subscription.canceled"), 1, "{told:?}");
    assert_eq!(count("subscription.expired"), 1, "{told:?}");
    assert_eq!(count("payment.succeeded"), 2, "two periods paid: {told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wholly_refunded_creem_period_takes_back_its_credits_and_ends_the_subscription_at_creem() {
    let (app, creem) = setup().await;
    let token = app.jwt("creem-refunded", "billing:read billing:write");
    let account = app.account_id("creem-refunded").await;
    let (sub_id, transaction) = subscribe_pro(&app, &creem, &token).await;
    assert_eq!(app.balance(account).await, usd(10));

    deliver(&app, &[creem.refund(&transaction, 2000)]).await;
    assert_eq!(app.balance(account).await, Micros::ZERO, "the period's credits taken back");
    assert_eq!(balance_of(&app, LedgerAccountKind::Revenue).await, 0, "the revenue reversed");
    // The refund canceled the subscription at Creem, whose event ended the mirror.
    eventually(WAIT, "the subscription to end", || async {
        let ended = creem.subscription(&sub_id)["status"] == json!("canceled")
            && mirror(&app, &sub_id).await.status == SubscriptionStatus::Canceled;
        ended.then_some(())
    })
    .await;
    assert!(creem.requests().contains(&format!("POST /v1/subscriptions/{sub_id}/cancel")));
    app.wait_drained(WAIT).await;
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creem_webhooks_and_checkouts_refuse_what_they_cannot_trust() {
    let (app, creem) = setup().await;
    let token = app.jwt("creem-mallory", "billing:read billing:write");
    let account = app.account_id("creem-mallory").await;
    let url = webhook(&app);
    let event = fake_creem::event("checkout.completed", json!({"id": "ch_x"}));
    let body = serde_json::to_vec(&event).expect("json");
    let good = billing::creem::signature::sign(&body, fake_creem::WEBHOOK_SECRET);
    let post = |body: Vec<u8>, sig: Option<String>| {
        let mut req = app.http.post(&url).header("content-type", "application/json").body(body);
        if let Some(s) = sig {
            req = req.header("creem-signature", s);
        }
        async move {
            let res = req.send().await.expect("post");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let stale = serde_json::to_vec(&json!({"id": "evt_old", "eventType": "checkout.completed",
        "created_at": chrono::Utc::now().timestamp_millis() - 40 * 86_400_000_i64, "object": {}}))
    .expect("json");
    let stale_sig = billing::creem::signature::sign(&stale, fake_creem::WEBHOOK_SECRET);
    for (what, body, sig, code) in [
        ("no signature", body.clone(), None, "invalid_signature"),
        (
            "another secret",
            body.clone(),
            Some(billing::creem::signature::sign(&body, "whsec_other")),
            "invalid_signature",
        ),
        ("a tampered body", tampered, Some(good.clone()), "invalid_signature"),
        ("not hex", body.clone(), Some("zz".into()), "invalid_signature"),
        ("older than the inbox keeps", stale, Some(stale_sig), "stale_event"),
    ] {
        let (status, res) = post(body, sig).await;
        assert_eq!((status, res["error"]["code"].clone()), (400, json!(code)), "{what}: {res}");
    }
    let stored = entities::stripe_events::Entity::find()
        .filter(entities::stripe_events::Column::Id.starts_with("creem:"))
        .all(&app.db.conn)
        .await
        .expect("inbox");
    assert!(stored.is_empty(), "nothing refused was stored");

    // A signed checkout that is not the one we opened for the order pays nothing.
    let checkout =
        open_checkout(&app, &creem, &token, json!({"channel": "creem", "type": "credits", "amount": 5000})).await;
    let mut paid = creem.pay(checkout["id"].as_str().expect("id")).remove(0);
    paid["object"]["id"] = json!("ch_a_payment_link_of_the_same_product");
    let event_id = paid["id"].as_str().expect("id").to_owned();
    deliver(&app, &[paid]).await;
    assert_eq!(app.balance(account).await, Micros::ZERO);
    let row = entities::stripe_events::Entity::find_by_id(format!("creem:{event_id}"))
        .one(&app.db.conn)
        .await
        .expect("inbox")
        .expect("stored");
    assert_eq!(row.status, StripeEventStatus::Ignored);

    // What Creem cannot sell is refused before any order is made.
    for (body, field) in [
        (json!({"channel": "creem", "type": "subscription", "plan_id": "plan_team"}), "creem_product_id"),
        (json!({"channel": "creem", "type": "credits", "amount": 1050}), "amount"),
        (json!({"channel": "paypal", "type": "credits", "amount": 1000}), "channel"),
    ] {
        let (status, res) = app.post("/payment/create-session", &token, &body).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert!(res["error"]["message"].as_str().is_some_and(|m| m.contains(field)), "{body}: {res}");
    }
    let admin = app.jwt("creem-admin-2", "admin");
    let (status, res) = app
        .call(
            Method::PUT,
            "/admin/billing/plans/plan_team",
            Some(&admin),
            Some(&json!({"creem_product_id": "not a product"})),
        )
        .await;
    assert_eq!(status, 400, "{res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_creem_configured_its_channel_and_webhook_are_unavailable() {
    let app = TestApp::spawn().await;
    let token = app.jwt("no-creem", "billing:read billing:write");
    let (status, res) = app
        .post("/payment/create-session", &token, &json!({"channel": "creem", "type": "credits", "amount": 1000}))
        .await;
    assert_eq!((status, res["error"]["code"].clone()), (501, json!("method_unavailable")), "{res}");
    let statuses = FakeCreem::deliver(&webhook(&app), &[fake_creem::event("checkout.completed", json!({}))]).await;
    assert_eq!(statuses, [400], "never accepted unverified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_creem_delivery_is_caught_up_by_reconciliation() {
    let (app, creem) = setup().await;
    let token = app.jwt("creem-missed", "billing:read billing:write");
    let (sub_id, _) = subscribe_pro(&app, &creem, &token).await;
    // Creem cancels; its event never arrives.
    let _lost = creem.cancel(&sub_id);
    assert_eq!(mirror(&app, &sub_id).await.status, SubscriptionStatus::Active);
    let admin = app.jwt("creem-ops", "admin");
    let (status, run) = app.post("/admin/reconciliation/run", &admin, &json!({})).await;
    assert_eq!(status, 200, "{run}");
    let differing = &run["data"]["result"]["creemSubscriptionsDiffering"];
    assert_eq!(differing[0]["creemSubscription"], json!(sub_id), "{run}");
    assert_eq!((differing[0]["before"].clone(), differing[0]["after"].clone()), (json!("active"), json!("canceled")));
    assert_eq!(mirror(&app, &sub_id).await.status, SubscriptionStatus::Canceled);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_creem_api_is_retried_into_one_checkout() {
    let (app, creem) = setup().await;
    creem.fail_next(2);
    let token = app.jwt("creem-retry", "billing:read billing:write");
    let body = json!({"channel": "creem", "type": "credits", "amount": 1000});
    let (status, res) = app.post("/payment/create-session", &token, &body).await;
    assert!(status == 200 || status == 202, "{status} {res}");
    app.wait_drained(WAIT).await;
    assert_eq!(creem.checkouts().len(), 1, "one checkout despite the failures");
    let asks = creem.requests().iter().filter(|r| *r == "POST /v1/checkouts").count();
    assert_eq!(asks, 3, "two failures, then the checkout");
    let order_id = creem.checkouts()[0]["request_id"].as_str().expect("request id").to_owned();
    let (_, order) = app.get(&format!("/orders/{order_id}"), &token).await;
    assert_eq!(order["data"]["status"], json!("awaiting_payment"), "{order}");
}
