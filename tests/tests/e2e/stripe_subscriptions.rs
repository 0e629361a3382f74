//! Recurring plans (subscription API and credits API) through Stripe subscriptions, against the fake Stripe: a whole
//! life, plan changes, and the same events delivered shuffled and duplicated.

use billing::Micros;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::TestApp;
use tollgate_tests::fake_stripe::{FakeStripe, app_with_fake_stripe};

const WAIT: Duration = Duration::from_secs(20);

/// The session a checkout URL points at.
/// Subscribes `token`'s team to `plan` and pays; returns the Stripe subscription id.
async fn subscribe_and_pay(app: &TestApp, stripe: &FakeStripe, token: &str, plan: &str) -> String {
    let (status, body) = app.call(Method::POST, "/subscription", Some(token), Some(&json!({"plan_id": plan}))).await;
    assert_eq!(status, 200, "{body}");
    let session = stripe.session_of(body["url"].as_str().expect("url"));
    assert_eq!(session["mode"], json!("subscription"));
    let event = stripe.complete_session(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    event["data"]["object"]["subscription"].as_str().expect("a subscription").to_owned()
}

async fn subscription(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.call(Method::GET, "/subscription", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_public_without_provider_ids() {
    let (app, _stripe) = app_with_fake_stripe().await;
    {
        use entities::plans::Column;
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entities::plans::Entity::update_many()
            .col_expr(Column::StripePriceMonthly, Expr::value(Some("price_known_to_stripe_only")))
            .filter(Column::Slug.eq("plan_pro"))
            .exec(&app.db.conn)
            .await
            .expect("price id");
    }
    let (status, plans) = app.call(Method::GET, "/plans", None, None).await;
    assert_eq!(status, 200);
    let plans = plans.as_array().expect("array");
    let slugs: Vec<&str> = plans.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(slugs, ["starter", "plan_pro", "plan_team", "plan_enterprise"]);
    let pro = &plans[1];
    assert_eq!((pro["price_monthly"].clone(), pro["price_yearly"].clone()), (json!(2000), json!(20000)));
    assert_eq!(pro["credits_monthly"], json!(1_000_000_000), "10 USD of credits in microcents");
    assert_eq!(pro["self_serve"], json!(true));
    assert_eq!(plans[0]["self_serve"], json!(false), "Starter is not subscribable");
    assert_eq!(plans[3]["price_monthly"], Value::Null);
    assert_eq!(pro["limits"]["retention_days"], json!({"value": 30, "label": "data retention", "unit": "days"}));
    assert!(!plans.iter().any(|p| p.to_string().contains("price_known")), "no Stripe price ids");

    let (status, body) = app.call(Method::GET, "/subscription/plans", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][1]["credits_included"], json!(1000), "the credits API counts credits");
    assert_eq!(body["data"][1]["price_monthly"], json!(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_lives_its_whole_life() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-life", "billing:read billing:write");
    let id = app.account_id("team-life").await;
    assert_eq!(subscription(&app, &token).await, Value::Null, "Starter: no paid subscription");

    let sub_id = subscribe_and_pay(&app, &stripe, &token, "plan_pro").await;
    let sub = subscription(&app, &token).await;
    assert_eq!((sub["status"].clone(), sub["plan_id"].clone()), (json!("active"), json!("plan_pro")), "{sub}");
    assert_eq!(sub["interval"], json!("monthly"));
    assert!(sub.as_object().is_some_and(|o| o.contains_key("trial_end")), "the subscription names trial_end: {sub}");
    assert_eq!(sub["credits_per_period"], json!(1_000_000_000));
    assert!(sub.get("stripe_subscription_id").is_none(), "Stripe ids are omitted");
    let ten = Micros::from_usd(10).expect("10");
    assert_eq!(app.balance(id).await, ten, "the first period's credits");
    let (status, body) =
        app.call(Method::POST, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (409, json!("already_subscribed")), "{body}");

    // A renewal is paid; the same invoice.paid delivered again grants nothing more.
    stripe.renew(&sub_id).await;
    app.wait_drained(WAIT).await;
    let renewal = stripe.events().into_iter().rev().find(|e| e["type"] == json!("invoice.paid")).expect("event");
    app.deliver(&renewal).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(20).expect("20"), "granted once per paid period");

    // The next renewal fails: past due; the customer pays: active, credited.
    let invoice = stripe.fail_renewal(&sub_id).await;
    app.wait_drained(WAIT).await;
    assert_eq!(subscription(&app, &token).await["status"], json!("past_due"));
    assert_eq!(app.balance(id).await, Micros::from_usd(20).expect("20"), "nothing for an unpaid invoice");
    stripe.pay_invoice(&invoice).await;
    app.wait_drained(WAIT).await;
    assert_eq!(subscription(&app, &token).await["status"], json!("active"));
    assert_eq!(app.balance(id).await, Micros::from_usd(30).expect("30"));

    // Cancel at period end (the default), resume, then cancel now.
    let (status, sub) = app.call(Method::DELETE, "/subscription", Some(&token), None).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!((sub["cancel_at_period_end"].clone(), sub["status"].clone()), (json!(true), json!("active")));
    assert_eq!(stripe.subscription(&sub_id).expect("at stripe")["cancel_at_period_end"], json!(true));
    let (status, sub) = app.call(Method::POST, "/subscription/resume", Some(&token), None).await;
    assert_eq!((status, sub["cancel_at_period_end"].clone()), (200, json!(false)), "{sub}");
    let (status, body) = app.call(Method::POST, "/subscription/resume", Some(&token), None).await;
    assert_eq!(status, 400, "nothing to resume: {body}");
    let (status, sub) =
        app.call(Method::DELETE, "/subscription", Some(&token), Some(&json!({"at_period_end": false}))).await;
    assert_eq!((status, sub["status"].clone()), (200, json!("canceled")), "{sub}");
    app.wait_drained(WAIT).await;
    assert_eq!(stripe.subscription(&sub_id).expect("at stripe")["status"], json!("canceled"));
    assert_eq!(subscription(&app, &token).await, Value::Null);
    app.assert_ledger_invariants().await;
}

/// The same life, driven at Stripe (renewals, a failure, a portal cancel), whose events
/// are delivered either as they happen or held and then delivered three times each in a
/// random order. Both end in the same state.
async fn scripted_life(held: bool) -> Value {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-script", "billing:read billing:write");
    let id = app.account_id("team-script").await;
    let (status, body) =
        app.call(Method::POST, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_pro"}))).await;
    assert_eq!(status, 200, "{body}");
    let session = stripe.session_of(body["url"].as_str().expect("url"));
    if held {
        stripe.hold_deliveries();
    }
    let completed = stripe.complete_session(session["id"].as_str().expect("id")).await;
    let sub_id = completed["data"]["object"]["subscription"].as_str().expect("sub").to_owned();
    stripe.renew(&sub_id).await;
    let invoice = stripe.fail_renewal(&sub_id).await;
    stripe.pay_invoice(&invoice).await;
    stripe.api(Method::POST, &format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    stripe.renew(&sub_id).await; // the period ends: deleted
    if held {
        let delivered = stripe.release(3, true).await;
        assert!(delivered >= 30, "{delivered} deliveries");
    }
    app.wait_drained(WAIT).await;
    let row = billing::subscriptions::current(&app.db.conn, id).await.expect("subs");
    assert!(row.is_empty(), "nothing live at the end: {row:?}");
    let local = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entities::subscriptions::Entity::find()
            .filter(entities::subscriptions::Column::AccountId.eq(id))
            .all(&app.db.conn)
            .await
            .expect("rows")
    };
    let payments = {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entities::payments::Entity::find()
            .filter(entities::payments::Column::AccountId.eq(id))
            .count(&app.db.conn)
            .await
            .expect("payments")
    };
    app.assert_ledger_invariants().await;
    json!({
        "rows": local.len(),
        "status": local.first().map(|s| s.status),
        "cancelAtPeriodEnd": local.first().map(|s| s.cancel_at_period_end),
        "balance": app.balance(id).await.get(),
        "payments": payments,
        "dead": app.dead_jobs().await.len(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_and_duplicated_events_reach_the_same_end_state() {
    let direct = scripted_life(false).await;
    let shuffled = scripted_life(true).await;
    assert_eq!(
        direct,
        json!({"rows": 1, "status": "canceled", "cancelAtPeriodEnd": true, "balance": 30_000_000, "payments": 3, "dead": 0})
    );
    assert_eq!(shuffled, direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_apply_now_and_downgrades_at_period_end() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-change", "billing:read billing:write");
    let id = app.account_id("team-change").await;
    let sub_id = subscribe_and_pay(&app, &stripe, &token, "plan_pro").await;

    let (status, sub) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!((sub["plan_id"].clone(), sub["pending_plan_id"].clone()), (json!("plan_team"), Value::Null));
    let proration = stripe.invoices().into_iter().find(|i| i["billing_reason"] == json!("subscription_update"));
    let proration = proration.expect("a prorated invoice for the upgrade");
    assert!(proration["amount_paid"].as_i64().is_some_and(|a| a > 0 && a <= 8000), "{}", proration["amount_paid"]);
    let (status, body) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!(status, 400, "same plan: {body}");

    let (status, sub) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_pro"}))).await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!((sub["plan_id"].clone(), sub["pending_plan_id"].clone()), (json!("plan_team"), json!("plan_pro")));
    let proration_count =
        stripe.invoices().iter().filter(|i| i["billing_reason"] == json!("subscription_update")).count();
    assert_eq!(proration_count, 1, "a downgrade bills nothing now");

    app.wait_drained(WAIT).await;
    let before = app.balance(id).await;
    stripe.renew(&sub_id).await;
    app.wait_drained(WAIT).await;
    let sub = subscription(&app, &token).await;
    assert_eq!((sub["plan_id"].clone(), sub["pending_plan_id"].clone()), (json!("plan_pro"), Value::Null), "{sub}");
    let granted = app.balance(id).await.checked_sub(before).expect("more");
    assert_eq!(granted, Micros::from_usd(10).expect("10"), "the new period is Pro's");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_requests_are_validated_and_scoped() {
    let (app, _stripe) = app_with_fake_stripe().await;
    let writer = app.jwt("team-valid", "billing:read billing:write");
    let reader = app.jwt("team-reader", "billing:read");
    let cases = [
        (json!({}), "plan_id: required"),
        (json!({"plan_id": "starter"}), "cannot be subscribed"),
        (json!({"plan_id": "plan_nope"}), "no plan"),
        (json!({"plan_id": "plan_pro", "interval": "weekly"}), "interval"),
        (json!({"plan_id": "plan_pro", "success_url": "javascript:alert(1)"}), "success_url"),
    ];
    for (body, expected) in cases {
        let (status, res) = app.call(Method::POST, "/subscription", Some(&writer), Some(&body)).await;
        assert_eq!(status, 400, "{body} → {res}");
        assert_eq!(res["error"]["type"], json!("invalid_request"), "the subscription API's envelope: {res}");
        assert!(res["error"]["message"].as_str().is_some_and(|m| m.contains(expected)), "{res}");
    }
    let (status, res) =
        app.call(Method::POST, "/subscription", Some(&reader), Some(&json!({"plan_id": "plan_pro"}))).await;
    assert_eq!(status, 403, "no billing:write: {res}");
    let (status, _) = app.call(Method::GET, "/subscription", None, None).await;
    assert_eq!(status, 401);
    for (method, path) in [(Method::PUT, "/subscription"), (Method::DELETE, "/subscription")] {
        let (status, res) = app.call(method, path, Some(&writer), Some(&json!({"plan_id": "plan_team"}))).await;
        assert_eq!(status, 404, "no subscription to change: {res}");
    }
    let (status, _) = app.call(Method::POST, "/subscription/resume", Some(&writer), None).await;
    assert_eq!(status, 404);

    // The credits API's create-session: its own envelope.
    let cases = [
        (json!({"type": "subscription", "plan_id": "plan_pro"}), "channel"),
        (json!({"channel": "creem", "type": "subscription", "plan_id": "plan_pro"}), "creem_product_id"),
        (json!({"channel": "stripe", "type": "gift"}), "type"),
        (json!({"channel": "stripe", "type": "credits", "amount": 5}), "amount"),
    ];
    for (body, expected) in cases {
        let (status, res) = app.call(Method::POST, "/payment/create-session", Some(&writer), Some(&body)).await;
        assert_eq!((status, res["success"].clone()), (400, json!(false)), "{body} → {res}");
        assert!(res["error"]["message"].as_str().is_some_and(|m| m.contains(expected)), "{res}");
    }
    assert!(app.dead_jobs().await.is_empty());
    let orders = app.get("/orders", &writer).await.1;
    assert_eq!(orders["data"], json!([]), "refused requests record nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_session_starts_a_subscription_or_a_credit_purchase() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-credits-session", "billing:read billing:write");
    let body = json!({"channel": "stripe", "type": "subscription", "plan_id": "plan_team", "interval": "yearly",
        "success_url": "https://example.com/dashboard/subscription?success=true",
        "cancel_url": "https://example.com/dashboard/subscription"});
    let (status, res) = app.call(Method::POST, "/payment/create-session", Some(&token), Some(&body)).await;
    assert_eq!((status, res["success"].clone()), (200, json!(true)), "{res}");
    let session = stripe.session_of(res["data"]["url"].as_str().expect("url"));
    assert_eq!(session["amount_total"], json!(100_000), "Team yearly is 1,000 USD");
    assert_eq!(session["success_url"], json!("https://example.com/dashboard/subscription?success=true"));
    stripe.complete_session(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    let sub = subscription(&app, &token).await;
    assert_eq!((sub["plan_id"].clone(), sub["interval"].clone()), (json!("plan_team"), json!("yearly")), "{sub}");

    let body = json!({"channel": "stripe", "type": "credits", "amount": 1500});
    let (status, res) = app.call(Method::POST, "/payment/create-session", Some(&token), Some(&body)).await;
    assert_eq!(status, 200, "{res}");
    let session = stripe.session_of(res["data"]["url"].as_str().expect("url"));
    assert_eq!((session["mode"].clone(), session["amount_total"].clone()), (json!("payment"), json!(1500)));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_subscription_resumes() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-pause", "billing:read billing:write");
    let sub_id = subscribe_and_pay(&app, &stripe, &token, "plan_pro").await;
    stripe.pause(&sub_id).await;
    app.wait_drained(WAIT).await;
    assert_eq!(subscription(&app, &token).await["status"], json!("paused"));
    let (status, sub) = app.call(Method::POST, "/subscription/resume", Some(&token), None).await;
    assert_eq!((status, sub["status"].clone()), (200, json!("active")), "{sub}");
    assert_eq!(stripe.subscription(&sub_id).expect("at stripe")["status"], json!("active"));
    let resumed = stripe.events().iter().any(|e| e["type"] == json!("customer.subscription.resumed"));
    assert!(resumed, "Stripe announced the resume");
    app.wait_drained(WAIT).await;
    assert_eq!(subscription(&app, &token).await["status"], json!("active"));
    app.assert_ledger_invariants().await;
}

/// An upgrade takes effect when paid: with the prorated invoice declined, the caller gets a
/// 402 and the old plan stays in force, at Stripe and here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_whose_invoice_is_declined_leaves_the_old_plan() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("team-declined", "billing:read billing:write");
    let sub_id = subscribe_and_pay(&app, &stripe, &token, "plan_pro").await;
    stripe.decline_invoices(true);
    let (status, body) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!((status, body["error"]["type"].clone()), (402, json!("payment_failed")), "{body}");
    app.wait_drained(WAIT).await;
    let sub = subscription(&app, &token).await;
    assert_eq!((sub["plan_id"].clone(), sub["status"].clone()), (json!("plan_pro"), json!("active")), "{sub}");
    let at_stripe = stripe.subscription(&sub_id).expect("at stripe");
    assert_eq!(at_stripe["items"]["data"][0]["price"]["unit_amount"], json!(2000), "Stripe kept the old price");
    assert_eq!(at_stripe["status"], json!("active"));

    // Paid this time: the upgrade applies.
    stripe.decline_invoices(false);
    let (status, sub) =
        app.call(Method::PUT, "/subscription", Some(&token), Some(&json!({"plan_id": "plan_team"}))).await;
    assert_eq!((status, sub["plan_id"].clone()), (200, json!("plan_team")), "{sub}");
    app.assert_ledger_invariants().await;
}
