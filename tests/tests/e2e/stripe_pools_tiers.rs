//! Pool pledges (billing API), API-key tiers (key-tier API), coupons and disputes, against the fake Stripe.

use billing::Micros;
use reqwest::Method;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::fake_stripe::app_with_fake_stripe;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_pledge_from_subscribe_to_cancel() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("pool-user", "billing:read billing:write");
    let (status, pools) = app.get("/api/pools", &token).await;
    assert_eq!(status, 200);
    assert_eq!(pools["data"][0]["slug"], json!("kimi26"));
    assert_eq!(pools["data"][0]["pricePerBlockMonthly"], json!(39));
    let (status, pool) = app.get("/api/pools/kimi26", &token).await;
    assert_eq!((status, pool["data"]["blocks"][1]["name"].clone()), (200, json!("europe")));
    assert_eq!(app.get("/api/pools/nope", &token).await.0, 404);
    assert_eq!(app.get("/api/pools/kimi26/my-pledge", &token).await.1["data"], Value::Null);

    for bad in [
        json!({"blocks": [], "quantity": 1, "billingCycle": "month"}),
        json!({"blocks": ["mars"], "quantity": 1, "billingCycle": "month"}),
        json!({"blocks": ["europe", "europe"], "quantity": 1}),
        json!({"blocks": ["europe"], "quantity": 0}),
        json!({"blocks": ["europe"], "quantity": 1, "billingCycle": "week"}),
    ] {
        let (status, body) = app.post("/api/pools/kimi26/subscribe", &token, &bad).await;
        assert_eq!((status, body["success"].clone()), (400, json!(false)), "{bad} → {body}");
    }
    let (status, _) = app.post("/api/pools/nope/subscribe", &token, &json!({"blocks": ["asia"]})).await;
    assert_eq!(status, 404);
    let (status, body) =
        app.post("/api/pools/kimi26/subscribe", &token, &json!({"blocks": ["asia"], "coupon": "NOPE"})).await;
    assert_eq!(status, 400, "{body}");
    let pledges = entities::pool_pledges::Entity::find().all(&app.db.conn).await.expect("pledges");
    assert!(pledges.is_empty(), "refused subscribes leave no pledge: {pledges:?}");

    let body = json!({"blocks": ["europe", "asia"], "quantity": 1, "billingCycle": "month"});
    let (status, res) = app.post("/api/pools/kimi26/subscribe", &token, &body).await;
    assert_eq!(status, 200, "{res}");
    let session = stripe.session_of(res["data"]["sessionUrl"].as_str().expect("url"));
    assert_eq!((session["mode"].clone(), session["amount_total"].clone()), (json!("subscription"), json!(7800)));
    assert_eq!(app.get("/api/pools/kimi26/my-pledge", &token).await.1["data"], Value::Null, "unpaid");
    stripe.complete_session(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;

    let (_, mine) = app.get("/api/pools/kimi26/my-pledge", &token).await;
    let pledge = &mine["data"];
    assert_eq!((pledge["status"].clone(), pledge["hasKey"].clone()), (json!("pending_key"), json!(false)), "{mine}");
    assert_eq!(pledge["blocks"], json!(["europe", "asia"]));
    let (_, status) = app.get("/api/billing/status", &token).await;
    assert_eq!(status["data"]["poolPledges"][0]["poolSlug"], json!("kimi26"), "{status}");
    assert_eq!(status["data"]["status"], json!("active"));

    // Another account cannot cancel it; the owner can, at period end.
    let pledge_id = pledge["id"].as_str().expect("id").to_owned();
    let other = app.jwt("pool-other", "billing:read billing:write");
    let (status, _) = app.post("/api/billing/cancel", &other, &json!({"subscriptionId": pledge_id})).await;
    assert_eq!(status, 404);
    let (status, res) = app.post("/api/billing/cancel", &token, &json!({"subscriptionId": pledge_id})).await;
    assert_eq!((status, res["data"]["canceled"].clone()), (200, json!(true)), "{res}");
    app.wait_drained(WAIT).await;
    let (_, mine) = app.get("/api/pools/kimi26/my-pledge", &token).await;
    assert_eq!(mine["data"]["cancelAtPeriodEnd"], json!(true), "{mine}");

    // The bank says no at renewal: past due.
    let sub_id = stripe.subscriptions()[0]["id"].as_str().expect("sub").to_owned();
    stripe.api(Method::POST, &format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "false")]).await;
    stripe.fail_renewal(&sub_id).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.get("/api/pools/kimi26/my-pledge", &token).await.1["data"]["status"], json!("past_due"));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_tier_checkout_upgrades_then_downgrades_to_free() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("tier-user", "billing:read billing:write");
    let id = app.account_id("tier-user").await;
    let now = chrono::Utc::now();
    let key_id = uuid::Uuid::now_v7();
    entities::api_keys::Entity::insert(entities::api_keys::ActiveModel {
        id: Set(key_id),
        account_id: Set(id),
        kind: Set(entities::ApiKeyKind::Tier),
        tier: Set(Some(entities::KeyTier::Free)),
        subscription_id: Set(None),
        pledge_id: Set(None),
        name: Set("gateway".into()),
        prefix: Set("tg_live_abcd".into()),
        key_hash: Set(billing::accounts::hash_key("tg_live_test_key")),
        status: Set(entities::KeyStatus::Active),
        organization_name: Set(Some("Acme DeFi".into())),
        contact_email: Set(Some("dev@acme.com".into())),
        expires_at: Set(None),
        created_at: Set(now),
        revoked_at: Set(None),
        scopes: Set(billing::api_keys::DEFAULT_SCOPES.into()),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("key");
    let tier = || async {
        entities::api_keys::Entity::find_by_id(key_id).one(&app.db.conn).await.expect("key").expect("row").tier
    };

    let bad = json!({"planId": "platinum", "walletAddress": "0x123", "successUrl": "not a url", "cancelUrl": 7});
    let (status, res) = app.post("/api/v1/billing/checkout", &token, &bad).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["error"], json!("validation_error"), "the key-tier API's envelope: {res}");
    let fields: Vec<&String> = res["details"].as_object().expect("details").keys().collect();
    assert_eq!(fields, ["cancelUrl", "planId", "successUrl", "walletAddress"], "each bad field named");
    let (status, res) = app.post("/api/v1/billing/checkout", &token, &json!({})).await;
    assert_eq!((status, res["details"]["planId"].clone()), (400, json!("required")));

    let wallet = "0x1234567890abcdef1234567890abcdef12345678";
    let body =
        json!({"planId": "growth", "walletAddress": wallet, "successUrl": "https://your-app.com/billing/success"});
    let (status, res) = app.post("/api/v1/billing/checkout", &token, &body).await;
    assert_eq!(status, 200, "{res}");
    let session_id = res["sessionId"].as_str().expect("sessionId");
    assert!(res["url"].as_str().is_some_and(|u| u.contains(session_id)), "{res}");
    let session = stripe.session_of(res["url"].as_str().expect("url"));
    assert_eq!(session["amount_total"], json!(19900));
    // A typed address is recorded on the order, never bound: binding takes the wallet's signature.
    let bound = billing::accounts::ensure(&app.db.conn, "tier-user").await.expect("account").wallet_address;
    assert_eq!(bound, None);
    let order = {
        use sea_orm::EntityTrait;
        entities::orders::Entity::find().one(&app.db.conn).await.expect("q").expect("order")
    };
    assert_eq!(order.details["walletAddress"], json!(wallet));
    assert_eq!(tier().await, Some(entities::KeyTier::Free), "not before payment");

    stripe.complete_session(session_id).await;
    app.wait_drained(WAIT).await;
    assert_eq!(tier().await, Some(entities::KeyTier::Growth));

    // Canceled at Stripe (the Dashboard): customer.subscription.deleted → Free.
    let sub_id = stripe.subscriptions()[0]["id"].as_str().expect("sub").to_owned();
    stripe.api(Method::DELETE, &format!("/v1/subscriptions/{sub_id}"), &[]).await;
    app.wait_drained(WAIT).await;
    assert_eq!(tier().await, Some(entities::KeyTier::Free));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_apply_through_stripe_and_are_limited() {
    let (app, stripe) = app_with_fake_stripe().await;
    let admin = app.jwt("coupon-admin", "admin");
    let alice = app.jwt("coupon-alice", "billing:read billing:write");
    let bob = app.jwt("coupon-bob", "billing:read billing:write");
    let coupon = json!({"code": "LAUNCH50", "percentOff": 50, "maxRedemptions": 1});
    assert_eq!(app.post("/admin/billing/coupons", &alice, &coupon).await.0, 403, "admins only");
    assert_eq!(app.get("/admin/billing/coupons", &alice).await.0, 403);
    let (status, bad) = app.post("/admin/billing/coupons", &admin, &json!({"code": "X", "percentOff": 150})).await;
    assert_eq!((status, bad["success"].clone()), (400, json!(false)), "{bad}");
    let (status, res) = app.post("/admin/billing/coupons", &admin, &coupon).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(app.post("/admin/billing/coupons", &admin, &coupon).await.0, 409, "the code is taken");

    let with_coupon = json!({"plan_id": "plan_pro", "coupon": "LAUNCH50"});
    let (status, res) = app.call(Method::POST, "/subscription", Some(&alice), Some(&with_coupon)).await;
    assert_eq!(status, 200, "{res}");
    let session = stripe.session_of(res["url"].as_str().expect("url"));
    assert_eq!(session["amount_total"], json!(1000), "half of 20 USD, discounted by Stripe");
    assert_eq!(session["total_details"]["amount_discount"], json!(1000));

    let (status, res) = app.call(Method::POST, "/subscription", Some(&bob), Some(&with_coupon)).await;
    assert_eq!(status, 400, "fully redeemed: {res}");
    assert!(res["error"]["message"].as_str().is_some_and(|m| m.contains("redeemed")), "{res}");
    let (status, res) = app
        .call(Method::POST, "/subscription", Some(&bob), Some(&json!({"plan_id": "plan_pro", "coupon": "NOPE"})))
        .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(app.get("/orders", &bob).await.1["data"], json!([]), "a refused coupon records no order");

    // Alice's checkout expires unpaid: the redemption comes back, and Bob gets it.
    stripe.expire(session["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    let (status, res) = app.call(Method::POST, "/subscription", Some(&bob), Some(&with_coupon)).await;
    assert_eq!(status, 200, "{res}");
    stripe.complete_session(stripe.session_of(res["url"].as_str().expect("url"))["id"].as_str().expect("id")).await;
    app.wait_drained(WAIT).await;
    let (_, list) = app.get("/admin/billing/coupons", &admin).await;
    assert_eq!(list["data"][0]["timesRedeemed"], json!(1), "{list}");
    let sub = &stripe.subscriptions()[0];
    let first_invoice = stripe.invoices().into_iter().find(|i| i["id"] == sub["latest_invoice"]).expect("invoice");
    assert_eq!(first_invoice["amount_paid"], json!(1000));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_withdraws_credits_and_a_won_one_puts_them_back() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("dispute-user", "billing:read billing:write");
    let id = app.account_id("dispute-user").await;
    let mut sessions = Vec::new();
    for usd in [25, 40] {
        let (status, res) = app.post("/api/billing/topup", &token, &json!({"amount": usd, "method": "stripe"})).await;
        assert_eq!(status, 200, "{res}");
        let session_id = res["data"]["sessionId"].as_str().expect("id").to_owned();
        stripe.complete_session(&session_id).await;
        sessions.push(session_id);
    }
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(65).expect("65"));

    // Won: withdrawn then reinstated. The events arrive closed-first and twice each.
    stripe.hold_deliveries();
    let won = stripe.dispute(&sessions[0]).await;
    stripe.close_dispute(&won, true).await;
    let held = stripe.lose_held();
    for event in held.iter().rev().chain(held.iter()) {
        assert_eq!(app.deliver(event).await.status(), 200);
    }
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(65).expect("65"), "a won dispute nets to nothing");

    // Lost: the 40 USD stay withdrawn.
    let lost = stripe.dispute(&sessions[1]).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(25).expect("25"));
    stripe.close_dispute(&lost, false).await;
    app.wait_drained(WAIT).await;
    assert_eq!(app.balance(id).await, Micros::from_usd(25).expect("25"));
    app.assert_ledger_invariants().await;
}

/// Two tier subscriptions at once: the keys carry the higher tier, whichever was synced
/// last, and keep it when the lower one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_tiers_follow_the_highest_live_tier_subscription() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("two-tiers", "billing:read billing:write");
    let id = app.account_id("two-tiers").await;
    let (status, body) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Acme", "contactEmail": "a@acme.com", "tier": "Free"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let tiers = || async {
        use sea_orm::{ColumnTrait, QueryFilter};
        entities::api_keys::Entity::find()
            .filter(entities::api_keys::Column::AccountId.eq(id))
            .all(&app.db.conn)
            .await
            .expect("keys")
            .into_iter()
            .map(|k| k.tier)
            .collect::<Vec<_>>()
    };
    let mut subs = Vec::new();
    for plan in ["growth", "starter"] {
        let (status, res) = app.post("/api/v1/billing/checkout", &token, &json!({"planId": plan})).await;
        assert_eq!(status, 200, "{res}");
        let event = stripe.complete_session(res["sessionId"].as_str().expect("session")).await;
        app.wait_drained(WAIT).await;
        subs.push(event["data"]["object"]["subscription"].as_str().expect("subscription").to_owned());
    }
    assert_eq!(tiers().await, [Some(entities::KeyTier::Growth)], "Starter synced last does not lower Growth");
    stripe.api(Method::DELETE, &format!("/v1/subscriptions/{}", subs[1]), &[]).await;
    app.wait_drained(WAIT).await;
    assert_eq!(tiers().await, [Some(entities::KeyTier::Growth)], "the lower tier ending leaves Growth");
    stripe.api(Method::DELETE, &format!("/v1/subscriptions/{}", subs[0]), &[]).await;
    app.wait_drained(WAIT).await;
    assert_eq!(tiers().await, [Some(entities::KeyTier::Free)]);
}

/// One redemption per account by default (Stripe's "once per customer"), and an order that
/// can never be paid — its checkout job gave up — gives its redemption back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_are_once_per_account_and_released_when_the_checkout_dies() {
    let (app, stripe) = tollgate_tests::fake_stripe::app_with_fake_stripe_and(&[
        ("QUEUE_CHECKOUT_MAX_ATTEMPTS", "1"),
        ("CHECKOUT_WAIT_MS", "500"),
    ])
    .await;
    let admin = app.jwt("coupon-admin2", "admin");
    let alice = app.jwt("coupon-alice2", "billing:read billing:write");
    let bob = app.jwt("coupon-bob2", "billing:read billing:write");
    let (status, res) = app
        .post("/admin/billing/coupons", &admin, &json!({"code": "ONCE", "percentOff": 10, "maxRedemptions": 1}))
        .await;
    assert_eq!((status, res["data"]["maxRedemptionsPerAccount"].clone()), (201, json!(1)), "{res}");
    let with_coupon = json!({"plan_id": "plan_pro", "coupon": "ONCE"});

    // Stripe is down for good: the checkout job dies, the order fails, the coupon is free again.
    stripe.fail_next(100);
    let (status, res) = app.call(Method::POST, "/subscription", Some(&alice), Some(&with_coupon)).await;
    assert!(status >= 400 || status == 202, "{status} {res}");
    app.wait_drained(WAIT).await;
    assert_eq!(app.dead_jobs().await.len(), 1);
    // The worker fails the order (and gives the coupon back) right after the job dies.
    tollgate_tests::eventually(WAIT, "the order failed and its coupon given back", || async {
        let (_, orders) = app.get("/orders", &alice).await;
        let (_, list) = app.get("/admin/billing/coupons", &admin).await;
        (orders["data"][0]["status"] == json!("failed") && list["data"][0]["timesRedeemed"] == json!(0)).then_some(())
    })
    .await;
    stripe.fail_next(0);

    // Bob takes it; a second checkout of his with the same coupon is refused.
    let (status, res) = app.call(Method::POST, "/subscription", Some(&bob), Some(&with_coupon)).await;
    assert_eq!(status, 200, "{res}");
    let (status, res) = app
        .post("/admin/billing/coupons", &admin, &json!({"code": "MANY", "percentOff": 10, "maxRedemptions": 100}))
        .await;
    assert_eq!(status, 201, "{res}");
    let with_many = json!({"plan_id": "plan_team", "coupon": "MANY"});
    let (status, res) = app.call(Method::POST, "/subscription", Some(&alice), Some(&with_many)).await;
    assert_eq!(status, 200, "{res}");
    let (status, res) =
        app.post("/api/v1/billing/checkout", &alice, &json!({"planId": "growth", "coupon": "MANY"})).await;
    assert_eq!(status, 400, "once per account: {res}");
    assert!(res.to_string().contains("already used by this account"), "{res}");
}
