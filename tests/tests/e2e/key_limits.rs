//! Creating keys never buys quota or capacity: counters are per account (tier, credit),
//! subscription or pledge, an account holds a bounded number of keys, a pledge one key per
//! seat, and a pool's blocks are never sold past their capacity.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::TestApp;
use tollgate_tests::fake_stripe::FakeStripe;

const SERVICE: &str = "gateway-service-token-0123456789";

async fn setup(extra: &[(&str, &str)]) -> (TestApp, FakeStripe) {
    let mut env = vec![("SERVICE_TOKEN", SERVICE)];
    env.extend_from_slice(extra);
    tollgate_tests::fake_stripe::app_with_fake_stripe_and(&env).await
}

async fn verify(app: &TestApp, key: &str, cost: u64) -> Value {
    let res = app
        .http
        .post(format!("{}/api/v1/keys/verify", app.base_url))
        .bearer_auth(SERVICE)
        .json(&json!({"key": key, "cost": cost}))
        .send()
        .await
        .expect("verify");
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

async fn free_key(app: &TestApp, token: &str) -> (u16, Value) {
    app.post(
        "/api/v1/billing/api-keys",
        token,
        &json!({"organizationName": "Acme", "contactEmail": "dev@acme.com", "tier": "Free"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_free_keys_share_one_monthly_quota() {
    let (app, _stripe) = setup(&[]).await;
    let token = app.jwt("many-free-keys", "billing:read billing:write");
    let mut keys = Vec::new();
    for _ in 0..3 {
        let (status, body) = free_key(&app, &token).await;
        assert_eq!(status, 201, "{body}");
        keys.push(body["apiKey"].as_str().expect("key").to_owned());
    }
    // Free: 100 a month, for the account, whatever key asks.
    let first = verify(&app, &keys[0], 100).await;
    assert_eq!(first["valid"], json!(true), "{first}");
    for key in &keys {
        let v = verify(&app, key, 1).await;
        assert_eq!((v["valid"].clone(), v["reason"].clone()), (json!(false), json!("quota_exceeded")), "{v}");
    }
    let usage = app
        .http
        .get(format!("{}/api/v1/billing/usage", app.base_url))
        .header("x-api-key", &keys[2])
        .send()
        .await
        .expect("usage");
    let usage: Value = usage.json().await.expect("json");
    assert_eq!(usage["queriesThisMonth"], json!(100), "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_holds_a_bounded_number_of_keys() {
    let (app, _stripe) = setup(&[("MAX_KEYS_PER_ACCOUNT", "3")]).await;
    let token = app.jwt("key-hoarder", "billing:read billing:write");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = app.post("/api/keys/credit", &token, &json!({})).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["data"]["id"].as_str().expect("id").to_owned());
    }
    let (status, body) = app.post("/api/keys/credit", &token, &json!({})).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("key_limit_reached")), "{body}");
    let (status, body) = free_key(&app, &token).await;
    assert_eq!(status, 409, "every kind counts: {body}");
    let (status, _) = app.call(Method::DELETE, &format!("/api/keys/{}", ids[0]), Some(&token), None).await;
    assert_eq!(status, 200);
    let (status, body) = app.post("/api/keys/credit", &token, &json!({})).await;
    assert_eq!(status, 201, "a revoked key frees its place: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pledge_has_one_key_per_seat_and_a_pool_is_never_oversold() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let (app, stripe) = setup(&[]).await;
    entities::pools::Entity::update_many()
        .col_expr(entities::pools::Column::Capacity, Expr::value(2))
        .filter(entities::pools::Column::Slug.eq("kimi26"))
        .exec(&app.db.conn)
        .await
        .expect("capacity");
    let alice = app.jwt("pool-alice", "billing:read billing:write");
    let bob = app.jwt("pool-bob", "billing:read billing:write");
    let (status, res) =
        app.post("/api/pools/kimi26/subscribe", &alice, &json!({"blocks": ["asia", "europe"], "quantity": 2})).await;
    assert_eq!(status, 200, "{res}");
    // Europe is full, even before Alice has paid (her checkout holds the seats).
    let (status, body) = app.post("/api/pools/kimi26/subscribe", &bob, &json!({"blocks": ["europe"]})).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("pool_full")), "{body}");
    let (status, body) = app.post("/api/pools/kimi26/subscribe", &bob, &json!({"blocks": ["americas"]})).await;
    assert_eq!(status, 200, "{body}");

    stripe.complete_session(res["data"]["sessionId"].as_str().expect("session")).await;
    app.wait_drained(Duration::from_secs(20)).await;
    let (_, pledge) = app.get("/api/pools/kimi26/my-pledge", &alice).await;
    let pledge_id = pledge["data"]["id"].as_str().expect("pledge").to_owned();
    for _ in 0..2 {
        let (status, body) = app.post("/api/keys/subscription", &alice, &json!({"subscriptionId": pledge_id})).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = app.post("/api/keys/subscription", &alice, &json!({"subscriptionId": pledge_id})).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("pledge_keys_exhausted")), "{body}");
}
