//! API keys: the key-tier API's tier keys with their validation, the billing API's credit and subscription keys,
//! listing, rotation and revocation; keys shown once and stored only as hashes.

use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::TestApp;
use tollgate_tests::fake_stripe::app_with_fake_stripe;

async fn stored_keys(app: &TestApp) -> Vec<entities::api_keys::Model> {
    entities::api_keys::Entity::find().all(&app.db.conn).await.expect("keys")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_keys_are_validated_created_once_and_stored_as_hashes() {
    let app = TestApp::spawn().await;
    let token = app.jwt("keys-tier", "billing:read billing:write");
    let bad = json!({"organizationName": "A", "contactEmail": "not-an-email", "tier": "Platinum"});
    let (status, res) = app.post("/api/v1/billing/api-keys", &token, &bad).await;
    assert_eq!((status, res["error"].clone()), (400, json!("validation_error")), "{res}");
    let fields: Vec<&String> = res["details"].as_object().expect("details").keys().collect();
    assert_eq!(fields, ["contactEmail", "organizationName", "tier"]);
    let long = format!("{}@acme.com", "a".repeat(320));
    let (status, res) =
        app.post("/api/v1/billing/api-keys", &token, &json!({"organizationName": "Acme", "contactEmail": long})).await;
    assert_eq!((status, res["details"]["contactEmail"].is_string()), (400, true), "{res}");
    assert!(stored_keys(&app).await.is_empty(), "refusals create nothing");

    let body = json!({"organizationName": "Acme DeFi", "contactEmail": "dev@acme.com"});
    let (status, res) = app.post("/api/v1/billing/api-keys", &token, &body).await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(
        (res["tier"].clone(), res["rateLimit"].clone(), res["monthlyQueryLimit"].clone()),
        (json!("Free"), json!(10), json!(100))
    );
    assert_eq!(res["note"], json!("API key created. Use X-API-Key header to authenticate requests."));
    let key = res["apiKey"].as_str().expect("the key, once").to_owned();
    assert!(key.starts_with("tg_tier_") && key.len() == "tg_tier_".len() + 64, "{key}");
    let rows = stored_keys(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].key_hash, billing::accounts::hash_key(&key));
    assert!(!format!("{:?}", rows[0]).contains(&key[10..]), "the key itself is not stored");

    let (status, res) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Acme", "contactEmail": "dev@acme.com", "tier": "Growth"}),
        )
        .await;
    assert_eq!((status, res["error"].clone()), (403, json!("feature_not_available")), "{res}");
    assert_eq!(res["details"]["planId"], json!("growth"), "names the plan that resolves it");
    let (_, list) = app.get("/api/keys", &token).await;
    assert!(!list.to_string().contains(&key), "listing never shows a secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_and_subscription_keys_rotate_and_revoke() {
    let (app, stripe) = app_with_fake_stripe().await;
    let token = app.jwt("keys-billing", "billing:read billing:write");
    let other = app.jwt("keys-other", "billing:read billing:write");
    let (status, res) = app.post("/api/keys/credit", &token, &json!({"name": "laptop"})).await;
    assert_eq!(status, 201, "{res}");
    let credit_id = res["data"]["id"].as_str().expect("id").to_owned();
    assert!(res["data"]["key"].as_str().is_some_and(|k| k.starts_with("tg_cr_")));
    let (_, credits) = app.get("/api/billing/credits", &token).await;
    assert_eq!(
        (credits["data"]["hasCreditKey"].clone(), credits["data"]["creditKeyCount"].clone()),
        (json!(true), json!(1))
    );

    // A pool pledge, paid: its key makes it active.
    let (_, res) = app.post("/api/pools/kimi26/subscribe", &token, &json!({"blocks": ["asia"]})).await;
    stripe.complete_session(res["data"]["sessionId"].as_str().expect("session")).await;
    app.wait_drained(Duration::from_secs(20)).await;
    let (_, pledge) = app.get("/api/pools/kimi26/my-pledge", &token).await;
    let pledge_id = pledge["data"]["id"].as_str().expect("pledge").to_owned();
    assert_eq!(pledge["data"]["status"], json!("pending_key"));
    let (status, _) = app.post("/api/keys/subscription", &other, &json!({"subscriptionId": pledge_id})).await;
    assert_eq!(status, 404, "another account's pledge");
    let (status, res) = app.post("/api/keys/subscription", &token, &json!({})).await;
    assert_eq!((status, res["success"].clone()), (400, json!(false)));
    let (status, res) = app.post("/api/keys/subscription", &token, &json!({"subscriptionId": pledge_id})).await;
    assert_eq!(status, 201, "{res}");
    assert!(res["data"]["key"].as_str().is_some_and(|k| k.starts_with("tg_pool_")));
    let (_, pledge) = app.get("/api/pools/kimi26/my-pledge", &token).await;
    assert_eq!((pledge["data"]["status"].clone(), pledge["data"]["hasKey"].clone()), (json!("active"), json!(true)));

    // Rotation: a new secret, the same key; another account cannot touch it.
    let before = stored_keys(&app).await.into_iter().find(|k| k.id.to_string() == credit_id).expect("row").key_hash;
    let rotate = format!("/api/keys/{credit_id}/rotate");
    assert_eq!(app.post(&rotate, &other, &json!({})).await.0, 404);
    let (status, res) = app.post(&rotate, &token, &json!({})).await;
    assert_eq!((status, res["data"]["id"].clone()), (200, json!(credit_id)), "{res}");
    let new_key = res["data"]["key"].as_str().expect("new key");
    let after = stored_keys(&app).await.into_iter().find(|k| k.id.to_string() == credit_id).expect("row").key_hash;
    assert_ne!(before, after);
    assert_eq!(after, billing::accounts::hash_key(new_key));

    let path = format!("/api/keys/{credit_id}");
    assert_eq!(app.call(Method::DELETE, &path, Some(&other), None).await.0, 404);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.0, 200);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.0, 404, "already revoked");
    let (_, list) = app.get("/api/keys", &token).await;
    let statuses: Vec<Value> = list["data"].as_array().expect("keys").iter().map(|k| k["status"].clone()).collect();
    assert_eq!(statuses, [json!("active"), json!("revoked")], "newest first: the pool key, the revoked credit key");
    app.assert_ledger_invariants().await;
}
