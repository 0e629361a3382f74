//! Health, readiness, request ids, the OpenAPI document, authentication, error envelopes
//! and `Idempotency-Key`.

use chrono::Utc;
use entities::IdempotencyStatus;
use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tollgate_tests::{TestApp, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_request_id_and_openapi() {
    let app = TestApp::spawn().await;
    let res = app.http.get(format!("{}/health", app.base_url)).send().await.expect("health");
    assert_eq!(res.status(), 200);
    let generated = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert!(generated.is_some_and(|id| uuid::Uuid::parse_str(&id).is_ok()), "a request id is generated");

    let res = app
        .http
        .get(format!("{}/ready", app.base_url))
        .header("x-request-id", "req-from-client-123")
        .send()
        .await
        .expect("ready");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("req-from-client-123"));
    assert_eq!(res.json::<Value>().await.expect("json"), json!({"status": "ready", "database": "ok", "redis": "ok"}));

    let doc: Value =
        app.http.get(format!("{}/openapi.json", app.base_url)).send().await.expect("doc").json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    for path in ["/payment/webhook/stripe", "/api/billing/credits", "/credits/balance", "/checkin"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    // The interactive page is served from the binary: nothing loads from the internet.
    let page = app.http.get(format!("{}/docs", app.base_url)).send().await.expect("docs").text().await.expect("text");
    assert!(page.contains("swagger-ui") && !page.contains("https://"), "{page}");
    let init = app.http.get(format!("{}/docs/swagger-initializer.js", app.base_url)).send().await.expect("init");
    assert!(init.text().await.expect("text").contains("/openapi.json"));
    let bundle = app.http.get(format!("{}/docs/swagger-ui-bundle.js", app.base_url)).send().await.expect("bundle");
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.expect("bytes").len() > 100_000, "the bundle is embedded");

    let res = app.http.get(format!("{}/no/such/route", app.base_url)).send().await.expect("404");
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.expect("json")["error"]["code"], json!("not_found"));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_by_jwt_and_management_key() {
    let app = TestApp::spawn().await;
    let url = format!("{}/credits/balance", app.base_url);

    let res = app.http.get(&url).send().await.expect("anonymous");
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.expect("json"),
        json!({"success": false, "error": {"code": "unauthorized", "message": "missing or invalid credentials"}})
    );

    let forged = {
        let good = app.jwt("mallory", "admin");
        let (rest, _) = good.rsplit_once('.').expect("jwt");
        format!("{rest}.AAAA")
    };
    assert_eq!(app.get("/credits/balance", &forged).await.0, 401, "bad signature");
    assert_eq!(app.get("/credits/balance", "mk_not_a_key").await.0, 401, "unknown management key");

    let (status, body) = app.get("/credits/balance", &app.jwt("alice", "billing:read")).await;
    assert_eq!((status, body["data"]["balance"].clone()), (200, json!(0)));

    // A read-only token cannot write.
    let res = app
        .http
        .post(format!("{}/checkin", app.base_url))
        .bearer_auth(app.jwt("alice", "billing:read"))
        .send()
        .await
        .expect("checkin");
    assert_eq!(res.status(), 403);

    let account = billing::accounts::ensure(&app.db.conn, "bob").await.expect("account");
    let (_, key) = billing::management_keys::create(&app.db.conn, account.id, "ci", "billing:read billing:write")
        .await
        .expect("key");
    assert!(key.starts_with("mk_") && key.len() > 60);
    let (status, _) = app.get("/credits/balance", &key).await;
    assert_eq!(status, 200);
    // Only the hash is stored.
    let stored = entities::management_keys::Entity::find().all(&app.db.conn).await.expect("keys");
    assert!(stored.iter().all(|k| k.key_hash != key && !k.key_hash.contains(&key[3..])));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkin_once_a_day_and_idempotency_keys() {
    let app = TestApp::spawn().await;
    let token = app.jwt("carol", "billing:read billing:write");
    let post = |key: Option<&str>, body: &str| {
        let mut req = app
            .http
            .post(format!("{}/checkin", app.base_url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send()
    };

    let first = post(Some("k-1"), "{}").await.expect("first");
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body: Value = first.json().await.expect("json");
    assert_eq!(first_body["data"]["credits"], json!(10));
    assert_eq!(first_body["data"]["balance"], json!(10));

    // The same key and body: the first response, replayed, and nothing granted again.
    let replay = post(Some("k-1"), "{}").await.expect("replay");
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replay.json::<Value>().await.expect("json"), first_body);

    // The same key with another body.
    let other = post(Some("k-1"), r#"{"x":1}"#).await.expect("other");
    assert_eq!(other.status(), 422);
    assert_eq!(other.json::<Value>().await.expect("json")["error"]["code"], json!("idempotency_key_reused"));

    // A second check-in the same day, without a key: refused, nothing granted.
    let again = post(None, "{}").await.expect("again");
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.expect("json")["error"]["code"], json!("already_checked_in"));
    // Its error is replayed too when it had a key.
    let keyed_again = post(Some("k-2"), "{}").await.expect("keyed");
    assert_eq!(keyed_again.status(), 409);
    let replayed = post(Some("k-2"), "{}").await.expect("replayed");
    assert_eq!(replayed.status(), 409);
    assert_eq!(replayed.json::<Value>().await.expect("json")["error"]["code"], json!("already_checked_in"));

    // A key whose first request is still running: 409.
    let account = billing::accounts::ensure(&app.db.conn, "carol").await.expect("account");
    entities::idempotency_keys::Entity::insert(entities::idempotency_keys::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        scope: Set(account.id.to_string()),
        // Records are found by the SHA-256 of the client's key, never the key itself.
        key: Set(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"k-running"))),
        request_hash: Set("whatever".into()),
        status: Set(IdempotencyStatus::InFlight),
        response_status: Set(None),
        response_body: Set(None),
        created_at: Set(Utc::now()),
        expires_at: Set(Utc::now() + chrono::Duration::hours(24)),
    })
    .exec(&app.db.conn)
    .await
    .expect("insert in-flight key");
    let res = post(Some("k-running"), "{}").await.expect("in flight");
    assert_eq!(res.status(), 409);
    assert_eq!(res.json::<Value>().await.expect("json")["error"]["code"], json!("idempotency_key_in_use"));

    let (_, balance) = app.get("/credits/balance", &token).await;
    assert_eq!(balance["data"]["balance"], json!(10), "granted exactly once");
    assert_eq!(entities::checkins::Entity::find().count(&app.db.conn).await.expect("count"), 1);
    app.assert_ledger_invariants().await;
}

/// The billing API's retired routes answer as documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_routes_answer_as_documented() {
    let app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let res = app.http.get(format!("{}/api/plans", app.base_url)).send().await.expect("plans");
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.expect("json"), json!({"success": true, "data": []}));
    let token = app.jwt("retired", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/subscribe", &token, &json!({"planSlug": "pro"})).await;
    assert_eq!((status, body["success"].clone()), (410, json!(false)), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("/api/pools/")), "{body}");
}
