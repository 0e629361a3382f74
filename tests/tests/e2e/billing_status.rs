//! `GET /api/billing/status` and `POST /api/billing/cancel` over a 30-day plan bought by card.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::json;
use std::time::Duration;
use tollgate_tests::events::WEBHOOK_SECRET;
use tollgate_tests::fake_stripe::FakeStripe;
use tollgate_tests::{TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_cancel_follow_the_subscription() {
    let stripe = FakeStripe::start().await;
    let env = vec![
        ("STRIPE_SECRET_KEY".to_owned(), stripe.secret_key.clone()),
        ("STRIPE_API_BASE".to_owned(), stripe.base_url.clone()),
    ];
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    stripe.deliver_to(&format!("{}/payment/webhook/stripe", app.base_url), WEBHOOK_SECRET);
    let token = app.jwt("status-user", "billing:read billing:write");

    let (status, body) = app.get("/api/billing/status", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"subscriptions": [], "poolPledges": [], "plan": null, "status": "inactive", "creditBalance": 0,
               "stripeCustomerId": null, "subscriptionExpiresAt": null, "legacySubscriptionKeys": []})
    );

    let (_, body) = app.post("/api/billing/checkout", &token, &json!({"planSlug": "pro", "method": "stripe"})).await;
    stripe.complete_session(body["sessionId"].as_str().expect("session")).await;
    app.wait_drained(Duration::from_secs(15)).await;
    let (_, body) = app.get("/api/billing/status", &token).await;
    let data = &body["data"];
    assert_eq!((data["status"].clone(), data["plan"].clone()), (json!("active"), json!("pro")));
    assert!(data["stripeCustomerId"].as_str().is_some_and(|c| c.starts_with("cus_")));
    assert_eq!(data["subscriptions"][0]["planSlug"], json!("pro"));
    assert_eq!(data["subscriptionExpiresAt"], data["subscriptions"][0]["currentPeriodEnd"]);
    let sub_id = data["subscriptions"][0]["id"].as_str().expect("id").to_owned();

    // Someone else cannot cancel it.
    let mallory = app.jwt("mallory", "billing:read billing:write");
    let (status, _) = app.post("/api/billing/cancel", &mallory, &json!({"subscriptionId": sub_id})).await;
    assert_eq!(status, 404);
    let reader = app.jwt("status-user", "billing:read");
    assert_eq!(app.post("/api/billing/cancel", &reader, &json!({})).await.0, 403, "needs billing:write");

    // The billing API: no body cancels the one 30-day subscription, which runs to its end.
    let res =
        app.http.post(format!("{}/api/billing/cancel", app.base_url)).bearer_auth(&token).send().await.expect("cancel");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["canceled"], json!(true));
    assert_eq!(body["expiresAt"], data["subscriptionExpiresAt"]);
    let (_, body) = app.get("/api/billing/status", &token).await;
    assert_eq!(body["data"]["subscriptions"][0]["cancelAtPeriodEnd"], json!(true));
    assert_eq!(body["data"]["status"], json!("active"), "still active until the period ends");

    // Past its end (before the hourly job runs): reads as expired.
    let id = uuid::Uuid::parse_str(&sub_id).expect("uuid");
    let sub = entities::subscriptions::Entity::find_by_id(id).one(&app.db.conn).await.expect("q").expect("sub");
    let lapsed = entities::subscriptions::ActiveModel {
        current_period_end: Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1))),
        ..sub.into()
    };
    lapsed.update(&app.db.conn).await.expect("lapse");
    let (_, body) = app.get("/api/billing/status", &token).await;
    assert_eq!((body["data"]["status"].clone(), body["data"]["plan"].clone()), (json!("expired"), json!(null)));
    assert_eq!(body["data"]["subscriptions"], json!([]));
    app.assert_ledger_invariants().await;
}
