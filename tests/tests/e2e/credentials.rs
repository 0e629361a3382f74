//! Credentials other than a signed-in user's token: management keys (created, used,
//! listed, revoked, never wider than their creator) and API keys presented as bearers on the
//! subscription API (their own account, their own scopes, refused elsewhere).

use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::{TestApp, TestOptions, eventually};

const SERVICE: &str = "gateway-service-token-0123456789";

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, format!("{}{path}", app.base_url)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_management_key_is_created_used_listed_and_revoked() {
    let app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let owner = app.jwt("mk-owner", "billing:read billing:write");

    let (code, body) =
        app.post("/api/management-keys", &owner, &json!({"name": "deploy bot", "scopes": ["billing:read"]})).await;
    assert_eq!(code, 201, "{body}");
    let key = body["data"]["key"].as_str().expect("the secret, once").to_owned();
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("mk_"));
    assert_eq!(body["data"]["scopes"], json!(["billing:read"]));

    // The key acts for its account with its scopes: reads, but cannot write.
    assert_eq!(app.get("/credits/balance", &key).await.0, 200);
    assert_eq!(app.post("/checkin", &key, &json!({})).await.0, 403, "a read-only key cannot write");
    // A key cannot mint more keys, nor revoke any.
    assert_eq!(app.post("/api/management-keys", &key, &json!({"name": "child"})).await.0, 403);

    // Listed without the secret, with its last use.
    let (code, list) = app.get("/api/management-keys", &owner).await;
    assert_eq!(code, 200);
    let listed = &list["data"][0];
    assert_eq!(listed["id"], json!(id));
    assert!(listed.get("key").is_none(), "the secret is never shown again: {listed}");
    assert!(listed["lastUsedAt"].is_string(), "last use recorded: {listed}");
    // Only the hash is stored.
    let stored = entities::management_keys::Entity::find().all(&app.db.conn).await.expect("rows");
    assert!(stored.iter().all(|k| !k.key_hash.contains(&key[3..]) && k.key_hash.len() == 64));

    // Scopes are never wider than the creator's; unknown scopes are refused.
    let reader = app.jwt("mk-owner", "billing:read");
    assert_eq!(app.post("/api/management-keys", &reader, &json!({"name": "x"})).await.0, 403, "needs write");
    for (scopes, expected) in [(json!(["admin"]), 403), (json!(["billing:everything"]), 400), (json!([]), 400)] {
        let (code, body) = app.post("/api/management-keys", &owner, &json!({"name": "x", "scopes": scopes})).await;
        assert_eq!(code, expected, "{scopes}: {body}");
    }

    // Another account cannot see or revoke it.
    let other = app.jwt("mk-stranger", "billing:read billing:write");
    assert_eq!(app.get("/api/management-keys", &other).await.1["data"], json!([]));
    let path = format!("/api/management-keys/{id}");
    assert_eq!(call(&app, Method::DELETE, &path, &other, None).await.0, 404);
    assert_eq!(app.get("/credits/balance", &key).await.0, 200, "still live");

    // Revoked: refused from the next request on.
    let (code, body) = call(&app, Method::DELETE, &path, &owner, None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body["data"]["revokedAt"].is_string());
    assert_eq!(app.get("/credits/balance", &key).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_bearers_on_the_subscription_api_for_their_own_account_only() {
    let app = TestApp::with(TestOptions {
        env: vec![
            ("SERVICE_TOKEN".into(), SERVICE.into()),
            ("API_KEY_BEARER_PREFIX".into(), "inf_".into()),
            ("KEY_CACHE_TTL_MS".into(), "0".into()),
        ],
        ..Default::default()
    })
    .await;
    let alice = app.jwt("bearer-alice", "billing:read billing:write");
    let bob = app.jwt("bearer-bob", "billing:read billing:write");
    let (code, made) = app.post("/api/keys/credit", &alice, &json!({"name": "alice gateway"})).await;
    assert_eq!(code, 201, "{made}");
    let alice_key = made["data"]["key"].as_str().expect("key").to_owned();
    assert!(alice_key.starts_with("inf_cr_"), "minted under the configured prefix: {alice_key}");
    let (_, made) = app.post("/api/keys/credit", &bob, &json!({"scopes": ["billing:read", "billing:write"]})).await;
    let bob_key = made["data"]["key"].as_str().expect("key").to_owned();
    let bob_id = made["data"]["id"].as_str().expect("id").to_owned();
    let (code, body) = app.post("/api/keys/credit", &alice, &json!({"scopes": ["admin"]})).await;
    assert_eq!(code, 403, "a key never gets admin: {body}");

    // Bob's gateway reports storage for Bob's key.
    let now = chrono::Utc::now().to_rfc3339();
    let event =
        json!({"events": [{"id": "e-1", "key": bob_key, "metric": "storage_mb", "quantity": 700, "timestamp": now}]});
    let (code, body) = app.post("/api/v1/usage", SERVICE, &event).await;
    assert_eq!(code, 202, "{body}");
    let storage = |body: &Value| {
        body["entitlements"].as_array().and_then(|rows| rows.iter().find(|r| r["resource"] == "storage_mb")).cloned()
    };
    let bob_row = eventually(Duration::from_secs(20), "Bob's usage metered", || async {
        let (_, body) = app.get("/entitlements/usage", &bob_key).await;
        storage(&body).filter(|r| r["used"] == json!(700))
    })
    .await;
    assert_eq!(bob_row["near_limit"], json!(false), "700 of 1024 is under 80 %");

    // Alice's key reads Alice's account, whatever the request claims.
    let res = app
        .http
        .get(format!("{}/entitlements/usage?account_id={}&team_id={}", app.base_url, "bearer-bob", "bearer-bob"))
        .bearer_auth(&alice_key)
        .header("x-account-id", "bearer-bob")
        .header("x-team-id", "bearer-bob")
        .send()
        .await
        .expect("spoof");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(storage(&body).map(|r| r["used"].clone()), Some(json!(0)), "{body}");
    assert_eq!(app.get("/subscription", &alice_key).await, (200, Value::Null));

    // Its scopes bound it: Alice's read-only key cannot subscribe or cancel; Bob's may try.
    let (code, _) = app.post("/subscription", &alice_key, &json!({"plan_id": "plan_pro"})).await;
    assert_eq!(code, 403);
    assert_eq!(call(&app, Method::DELETE, "/subscription", &alice_key, None).await.0, 403);
    assert_ne!(call(&app, Method::DELETE, "/subscription", &bob_key, None).await.0, 403);

    // An API key is no credential on the other surfaces, and never an operator.
    assert_eq!(app.get("/credits/balance", &alice_key).await.0, 401);
    assert_eq!(app.get("/api/billing/credits", &alice_key).await.0, 401);
    assert_eq!(app.get("/admin/jobs/dead", &alice_key).await.0, 401);
    assert_eq!(app.get("/subscription", "inf_cr_made_up_key").await.0, 401);

    // Revoked: refused at once (no key cache here).
    assert_eq!(call(&app, Method::DELETE, &format!("/api/keys/{bob_id}"), &bob, None).await.0, 200);
    assert_eq!(app.get("/subscription", &bob_key).await.0, 401);
}
