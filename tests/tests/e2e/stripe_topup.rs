//! Card top-ups through Stripe Checkout, against the project's fake Stripe.

use billing::Micros;
use entities::JobStatus;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::events::WEBHOOK_SECRET;
use tollgate_tests::fake_stripe::FakeStripe;
use tollgate_tests::{TestApp, TestOptions, eventually};

async fn setup(secret: Option<&str>) -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start().await;
    let env = vec![
        ("STRIPE_SECRET_KEY".to_owned(), secret.unwrap_or(&stripe.secret_key).to_owned()),
        ("STRIPE_API_BASE".to_owned(), stripe.base_url.clone()),
    ];
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    stripe.deliver_to(&format!("{}/payment/webhook/stripe", app.base_url), WEBHOOK_SECRET);
    (app, stripe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_topup_from_checkout_to_credits() {
    let (app, stripe) = setup(None).await;
    let token = app.jwt("card-user", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 25, "method": "stripe"})).await;
    assert_eq!(status, 200, "{body}");
    let session_id = body["data"]["sessionId"].as_str().expect("session id").to_owned();
    let url = body["data"]["sessionUrl"].as_str().expect("session url");
    assert!(session_id.starts_with("cs_test_") && url.contains(&session_id), "{body}");

    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["amount_total"], json!(2500));
    assert_eq!(sessions[0]["currency"], json!("usd"));
    assert_eq!(sessions[0]["mode"], json!("payment"));
    let account = billing::accounts::ensure(&app.db.conn, "card-user").await.expect("account");
    assert_eq!(account.stripe_customer_id.as_ref().map(|c| json!(c)), Some(sessions[0]["customer"].clone()));
    assert_eq!(app.balance(account.id).await, Micros::ZERO, "nothing before payment");

    // The customer pays; Stripe delivers the event, twice for good measure.
    let event = stripe.complete_session(&session_id).await;
    assert_eq!(app.deliver(&event).await.status(), 200);
    app.wait_drained(Duration::from_secs(15)).await;
    assert_eq!(app.balance(account.id).await, Micros::from_usd(25).expect("25"));

    // A second top-up reuses the Stripe customer.
    let (status, _) = app.post("/api/billing/topup", &token, &json!({"amount": 10, "method": "stripe"})).await;
    assert_eq!(status, 200);
    let customers = stripe.requests().iter().filter(|(r, _)| r == "POST /v1/customers").count();
    assert_eq!(customers, 1, "one Stripe customer per account");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_errors_are_retried_with_the_same_idempotency_key() {
    let (app, stripe) = setup(None).await;
    let token = app.jwt("card-retry", "billing:read billing:write");
    stripe.fail_next(3);
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 30, "method": "stripe"})).await;
    assert!(status == 200 || status == 202, "{status} {body}");
    app.wait_drained(Duration::from_secs(30)).await;
    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1, "one session despite the failures");
    let order_id = sessions[0]["metadata"]["order_id"].as_str().expect("order id").to_owned();
    let keys: Vec<Option<String>> =
        stripe.requests().into_iter().filter(|(r, _)| r == "POST /v1/checkout/sessions").map(|(_, k)| k).collect();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.as_deref() == Some(format!("checkout:{order_id}").as_str())), "{keys:?}");
    let job = app.job(&format!("checkout:{order_id}")).await.expect("job");
    assert_eq!(job.status, JobStatus::Done);
    assert!(job.attempts > 1, "it was retried: {}", job.attempts);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkout_is_a_clear_error_and_credits_nothing() {
    // Stripe refuses the key (401): terminal, no retry, the caller gets 502.
    let (app, stripe) = setup(Some("sk_live_not_accepted")).await;
    let token = app.jwt("card-refused", "billing:read billing:write");
    let (status, body) = eventually(Duration::from_secs(20), "the checkout to fail", || async {
        let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 12, "method": "stripe"})).await;
        (status != 202).then_some((status, body))
    })
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], json!("checkout_failed"));
    assert!(stripe.sessions().is_empty());
    assert!(!app.dead_jobs().await.is_empty());
    let account = billing::accounts::ensure(&app.db.conn, "card-refused").await.expect("account");
    assert_eq!(app.balance(account.id).await, Micros::ZERO);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_history_are_the_callers_own() {
    let (app, stripe) = setup(None).await;
    let alice = app.jwt("alice-orders", "billing:read billing:write");
    let (_, body) = app.post("/api/billing/topup", &alice, &json!({"amount": 25, "method": "stripe"})).await;
    let paid = body["data"]["sessionId"].as_str().expect("session").to_owned();
    stripe.complete_session(&paid).await;
    let (_, body) = app.post("/api/billing/topup", &alice, &json!({"amount": 40, "method": "stripe"})).await;
    let abandoned = body["data"]["sessionId"].as_str().expect("session").to_owned();
    stripe.expire(&abandoned).await;
    app.wait_drained(Duration::from_secs(15)).await;
    assert_eq!(app.post("/checkin", &alice, &json!({})).await.0, 200);

    let (status, orders) = app.get("/orders", &alice).await;
    assert_eq!(status, 200);
    let orders = orders["data"].as_array().expect("list").clone();
    assert_eq!(orders.len(), 2);
    assert_eq!((orders[0]["status"].clone(), orders[0]["amount"].clone()), (json!("expired"), json!(4000)));
    assert_eq!((orders[1]["status"].clone(), orders[1]["type"].clone()), (json!("completed"), json!("topup")));
    let id = orders[1]["id"].as_str().expect("id");
    let (status, one) = app.get(&format!("/orders/{id}"), &alice).await;
    assert_eq!((status, one["data"]["id"].clone()), (200, json!(id)));

    let (status, history) = app.get("/credits/transactions?limit=10", &alice).await;
    assert_eq!(status, 200);
    let lines: Vec<(Value, Value)> =
        history["data"].as_array().expect("list").iter().map(|l| (l["type"].clone(), l["amount"].clone())).collect();
    assert_eq!(lines, vec![(json!("checkin"), json!(10)), (json!("topup"), json!(2500))]);
    let (_, history) = app.get("/api/billing/transactions", &alice).await;
    assert_eq!(history["data"][1]["amount"], json!(25));

    // Another account sees none of it.
    let bob = app.jwt("bob-orders", "billing:read billing:write");
    let (status, body) = app.get(&format!("/orders/{id}"), &bob).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("not_found")));
    assert_eq!(app.get("/orders/not-a-uuid", &bob).await.0, 404);
    let (_, list) = app.get("/orders", &bob).await;
    assert_eq!(list["data"], json!([]));
    let (_, history) = app.get("/credits/transactions", &bob).await;
    assert_eq!(history["data"], json!([]));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_day_plan_by_card_activates_once() {
    let (app, stripe) = setup(None).await;
    let token = app.jwt("card-plan", "billing:read billing:write");
    let (status, body) =
        app.post("/api/billing/checkout", &token, &json!({"planSlug": "pro", "method": "stripe"})).await;
    assert_eq!(status, 200, "{body}");
    let session_id = body["sessionId"].as_str().expect("the plan checkout's bare shape").to_owned();
    assert!(body["sessionUrl"].as_str().is_some_and(|u| u.contains(&session_id)));
    assert_eq!(stripe.sessions()[0]["amount_total"], json!(6000));

    let event = stripe.complete_session(&session_id).await;
    assert_eq!(app.deliver(&event).await.status(), 200, "a duplicate delivery");
    app.wait_drained(Duration::from_secs(15)).await;
    let subs = entities::subscriptions::Entity::find().all(&app.db.conn).await.expect("subs");
    assert_eq!(subs.len(), 1, "one subscription for one payment");
    assert_eq!(subs[0].status, entities::SubscriptionStatus::Active);
    let days = (subs[0].current_period_end.expect("end") - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} h");
    let account = billing::accounts::ensure(&app.db.conn, "card-plan").await.expect("account");
    assert_eq!(app.balance(account.id).await, Micros::ZERO, "a plan is not credits");
    let (_, orders) = app.get("/orders", &token).await;
    assert_eq!(
        (orders["data"][0]["type"].clone(), orders["data"][0]["status"].clone()),
        (json!("plan_checkout"), json!("completed"))
    );
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_after_the_credits_were_spent_stops_at_zero_and_records_the_shortfall() {
    let (app, stripe) = setup(None).await;
    let token = app.jwt("refund-user", "billing:read billing:write");
    let (_, body) = app.post("/api/billing/topup", &token, &json!({"amount": 25, "method": "stripe"})).await;
    let session = body["data"]["sessionId"].as_str().expect("session").to_owned();
    stripe.complete_session(&session).await;
    app.wait_drained(Duration::from_secs(15)).await;
    let account = billing::accounts::ensure(&app.db.conn, "refund-user").await.expect("account");

    // The customer spends 20 of the 25.
    let txn = sea_orm::TransactionTrait::begin(&app.db.conn).await.expect("txn");
    let debit = billing::ledger::customer_account(&txn, account.id).await.expect("credits");
    let credit = billing::ledger::system_account(&txn, billing::ledger::SystemAccount::Usage).await.expect("usage");
    billing::ledger::post(
        &txn,
        billing::ledger::TransferRequest {
            id: "usage:test-spend".into(),
            debit,
            credit,
            amount: Micros::from_usd(20).expect("20"),
            kind: entities::TransferKind::Usage,
            account_id: Some(account.id),
            reference: "test".into(),
            description: "AI chat completion".into(),
        },
    )
    .await
    .expect("spend");
    txn.commit().await.expect("commit");

    // A partial refund of 3: taken back in full. Then the rest (22): only 2 are left.
    let partial = stripe.refund(&session, 300).await;
    let full = stripe.refund(&session, 2200).await;
    // Delivered again, and the older one last: nothing changes.
    assert_eq!(app.deliver(&full).await.status(), 200);
    assert_eq!(app.deliver(&partial).await.status(), 200);
    app.wait_drained(Duration::from_secs(15)).await;
    assert_eq!(app.balance(account.id).await, Micros::ZERO, "never below zero");
    let shortfalls = entities::audit_log::Entity::find().all(&app.db.conn).await.expect("audit");
    assert_eq!(shortfalls.len(), 1, "{shortfalls:?}");
    assert_eq!(shortfalls[0].action, "refund_shortfall");
    assert_eq!(shortfalls[0].details["shortfall"], json!(20_000_000));
    let payment = entities::payments::Entity::find().one(&app.db.conn).await.expect("q").expect("payment");
    assert_eq!(
        (payment.amount_refunded, payment.status),
        (billing::Micros::new(25_000_000), entities::PaymentStatus::Refunded)
    );
    let (_, history) = app.get("/credits/transactions", &token).await;
    let refunds: i64 = history["data"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|l| l["type"] == json!("refund"))
        .map(|l| l["amount"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(refunds, -500, "3 + 2 dollars taken back");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_card_topups_charge_now_or_answer_402() {
    let (app, stripe) = setup(None).await;
    // A first card top-up through Checkout makes the Stripe customer.
    let token = app.jwt("saved-card", "billing:read billing:write");
    let (_, body) = app.post("/api/billing/topup", &token, &json!({"amount": 10, "method": "stripe"})).await;
    stripe.complete_session(body["data"]["sessionId"].as_str().expect("session")).await;
    app.wait_drained(Duration::from_secs(15)).await;
    let account = billing::accounts::ensure(&app.db.conn, "saved-card").await.expect("account");

    // No card yet: 402, no order charged.
    let (status, body) =
        app.post("/api/billing/topup", &token, &json!({"amount": 15, "method": "stripe_direct"})).await;
    assert_eq!((status, body["error"]["code"].clone()), (402, json!("no_payment_method")), "{body}");

    let card = stripe.attach_card(account.stripe_customer_id.as_deref().expect("customer"), "4242", false).await;
    app.wait_drained(Duration::from_secs(15)).await;
    let (status, cards) = app.get("/api/billing/payment-methods", &token).await;
    assert_eq!(status, 200);
    assert_eq!(cards["data"][0]["id"], json!(card));
    assert_eq!((cards["data"][0]["last4"].clone(), cards["data"][0]["brand"].clone()), (json!("4242"), json!("visa")));

    let (status, body) =
        app.post("/api/billing/topup", &token, &json!({"amount": 15, "method": "stripe_direct"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["data"]["status"].clone(), body["data"]["creditBalance"].clone()),
        (json!("succeeded"), json!(25))
    );
    assert_eq!(app.balance(account.id).await, Micros::from_usd(25).expect("25"));
    // Stripe also announces the charge (payment_intent.succeeded): it credits nothing more.
    eventually(Duration::from_secs(15), "payment_intent.succeeded processed", || async {
        use sea_orm::{ColumnTrait, QueryFilter};
        let processed = entities::stripe_events::Entity::find()
            .filter(entities::stripe_events::Column::EventType.eq("payment_intent.succeeded"))
            .filter(entities::stripe_events::Column::Status.eq(entities::StripeEventStatus::Processed))
            .one(&app.db.conn)
            .await
            .ok()
            .flatten();
        processed.map(|_| ())
    })
    .await;
    assert_eq!(app.balance(account.id).await, Micros::from_usd(25).expect("25"));

    // Another customer whose card declines: 402, nothing credited.
    let other = app.jwt("declined-card", "billing:read billing:write");
    let (_, body) = app.post("/api/billing/topup", &other, &json!({"amount": 10, "method": "stripe"})).await;
    let session = body["data"]["sessionId"].as_str().expect("session").to_owned();
    let other_account = billing::accounts::ensure(&app.db.conn, "declined-card").await.expect("account");
    stripe.attach_card(other_account.stripe_customer_id.as_deref().expect("customer"), "0002", true).await;
    app.wait_drained(Duration::from_secs(15)).await;
    let (status, body) =
        app.post("/api/billing/topup", &other, &json!({"amount": 20, "method": "stripe_direct"})).await;
    assert_eq!((status, body["error"]["code"].clone()), (402, json!("card_declined")), "{body}");
    assert_eq!(app.balance(other_account.id).await, Micros::ZERO, "{session} was never paid");
    let (_, cards) = app.get("/api/billing/payment-methods", &token).await;
    assert_eq!(cards["data"].as_array().map(Vec::len), Some(1), "each account sees its own cards");

    // Removing a card: not someone else's; then the owner's, after which there is none to charge.
    let delete = |who: &str, id: &str| {
        app.http.delete(format!("{}/api/billing/payment-methods/{id}", app.base_url)).bearer_auth(who.to_owned()).send()
    };
    assert_eq!(delete(&other, &card).await.expect("delete").status(), 404);
    let res = delete(&token, &card).await.expect("delete");
    assert_eq!(res.status(), 200);
    let (_, cards) = app.get("/api/billing/payment-methods", &token).await;
    assert_eq!(cards["data"], json!([]));
    let (status, _) = app.post("/api/billing/topup", &token, &json!({"amount": 15, "method": "stripe_direct"})).await;
    assert_eq!(status, 402);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_a_card_by_setup_intent_or_hosted_page() {
    let (app, stripe) = setup(None).await;
    let token = app.jwt("card-saver", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/setup-intent", &token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["clientSecret"].as_str().is_some_and(|s| s.starts_with("seti_") && s.contains("_secret_")),
        "{body}"
    );
    let (status, body) = app.post("/api/billing/setup-checkout", &token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["sessionUrl"].as_str().is_some_and(|u| u.contains("/pay/cs_test_")), "{body}");
    let sessions = stripe.sessions();
    assert_eq!((sessions.len(), sessions[0]["mode"].clone()), (1, json!("setup")));
    let customers = stripe.requests().iter().filter(|(r, _)| r == "POST /v1/customers").count();
    assert_eq!(customers, 1, "one Stripe customer for both");
    let reader = app.jwt("card-saver", "billing:read");
    assert_eq!(app.post("/api/billing/setup-intent", &reader, &json!({})).await.0, 403);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_portal_in_each_surface_shape() {
    let (app, _stripe) = setup(None).await;
    let token = app.jwt("portal-user", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/portal", &token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["url"].as_str().is_some_and(|u| u.contains("/portal/bps_test_")),
        "the billing API's envelope: {body}"
    );

    let (status, body) = app
        .post("/subscription/portal", &token, &json!({"return_url": "https://example.com/dashboard/subscription"}))
        .await;
    assert_eq!(status, 200);
    assert!(body["data"]["url"].is_string(), "the credits API's envelope without a version header: {body}");
    let res = app
        .http
        .post(format!("{}/subscription/portal", app.base_url))
        .bearer_auth(&token)
        .header("x-api-version", "2")
        .json(&json!({"return_url": "https://example.com/back"}))
        .send()
        .await
        .expect("portal");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert!(
        body["url"].is_string() && body.get("success").is_none(),
        "the subscription API's bare shape with X-API-Version 2: {body}"
    );
    let (status, _) = app.post("/subscription/portal", &token, &json!({"return_url": "javascript:alert(1)"})).await;
    assert_eq!(status, 400);
    let (status, body) = app.post("/subscription/portal", &token, &json!({})).await;
    assert_eq!(status, 400, "return_url is required: {body}");
    app.assert_ledger_invariants().await;
}
